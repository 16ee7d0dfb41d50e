"""What each resource's facts are and where they came from (issue 15), for the human and Markdown renderers: read
live from Resource Manager (and when), or taken from the spec (unverified). From the plan's public JSON blocks
(``resources.*.facts`` / ``control_plane``); a plan made before 1.2 has none and shows nothing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Display order of the facts; any other fact follows in name order.
ORDER = ("endpoint", "region", "encryption", "kind", "sku", "public_network_access", "deployments")


def _value(name: str, fact: Mapping[str, Any]) -> str:
    value = fact.get("value")
    if name == "deployments" and isinstance(value, list):
        return ", ".join(f"{d.get('name')} ({d.get('model')} {d.get('version')}".rstrip() + ")" for d in value) \
            or "none"
    if name == "encryption" and fact.get("key_source"):
        return f"{value} (keySource {fact['key_source']}" + (", key vault key set" if fact.get("key_vault_key")
                                                              else "") + ")"
    return str(value)


def _source(fact: Mapping[str, Any]) -> str:
    origin = fact.get("from")
    if origin == "live":
        return f"live {fact.get('read_at', '')}".rstrip()
    return "spec, unverified" if origin == "spec" else "default, unverified"


def fact_summaries(resources: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One line per resource: its facts, each followed by its provenance unless all share one (then it ends the
    line). For the human plan, where nine resources must not take sixty lines."""
    out = []
    for name in sorted(resources):
        facts = resources[name].get("facts")
        if not facts:
            continue
        cp = resources[name].get("control_plane") or {}
        keys = [k for k in ORDER if k in facts] + sorted(k for k in facts if k not in ORDER)
        sources = {_source(facts[k]) for k in keys}
        if len(sources) == 1:
            body = "; ".join(f"{k} {_value(k, facts[k])}" for k in keys) + f" [{sources.pop()}]"
        else:
            body = "; ".join(f"{k} {_value(k, facts[k])} [{_source(facts[k])}]" for k in keys)
        if not cp.get("read", True):
            body += f" (control plane not read: {cp.get('reason', '?')})"
        out.append(f"{name}: {body}")
    return out


def fact_lines(resources: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, list[str]]]:
    """Per resource with facts: its name (and whether the control plane was read) and one line per fact."""
    out: list[tuple[str, list[str]]] = []
    for name in sorted(resources):
        facts = resources[name].get("facts")
        if not facts:
            continue
        cp = resources[name].get("control_plane") or {}
        head = name + ("" if cp.get("read", True) else f" (control plane not read: {cp.get('reason', '?')})")
        keys = [k for k in ORDER if k in facts] + sorted(k for k in facts if k not in ORDER)
        out.append((head, [f"{k}: {_value(k, facts[k])} [{_source(facts[k])}]" for k in keys]))
    return out
