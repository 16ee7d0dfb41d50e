"""``drplan output``: the failover map (issue 16), the feel of ``terraform output -json``. From the state (what was
copied, the ids the targets minted) and the spec (endpoints, regions, how each resource authenticates), for every
protected asset: the primary and each secondary with the ids an application calls there. Never a key: only the name
of the environment variable that holds it, or the auth mode.

Formats: ``json`` (``schemas/output.schema.json``; stable order; ``format_version`` bumps when a reader could
misread a newer map), ``env`` (variables an application can load, named below), ``markdown`` (a runbook table).
The family says which ids an application names (``Family.failover_ids``); this module never branches on a family.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from drplan import __version__
from drplan.errors import DrplanError
from drplan.families import family_of_kind
from drplan.schemas import json_path, validator
from drplan.spec.model import Spec
from drplan.state.model import State

#: Bump when a field changes meaning or goes away (adding fields does not bump it).
OUTPUT_FORMAT_VERSION = 1


def _where(spec: Spec, name: str, record: Mapping[str, Any], side: str) -> dict[str, Any]:
    res = spec.resources.get(name)
    if res is None:  # the spec no longer names the resource: what the state knows
        return {"resource": name, "region": "", "endpoint": "", "resource_id": record.get(f"{side}_resource_id", ""),
                "credential": {"mode": "unknown"}}
    public = res.public()
    credential = ({"mode": "entra"} if public.get("auth") == "entra" else {"mode": "key", "key_env": public["key_env"]})
    return {"resource": name, "region": res.region, "endpoint": res.endpoint.rstrip("/"),
            "resource_id": res.resource_id, "api_version": res.api_version, "credential": credential}


def failover_map(spec: Spec, state: State, *, rules: Sequence[str] = (), targets: Sequence[str] = (),
                 regions: Sequence[str] = ()) -> dict[str, Any]:
    """The map as a JSON-ready dict. ``rules``/``targets`` (resource names or globs)/``regions`` narrow it; an
    asset is listed when at least one of its secondaries matches."""
    rule_names = {r.name for r in spec.rules}
    groups: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for address in sorted(state.resources):
        rec = state.resources[address]
        if rec.get("rule") not in rule_names or (rules and not any(fnmatch.fnmatchcase(rec["rule"], g) for g in rules)):
            continue
        primary_ids, secondary_ids = family_of_kind(rec["kind"]).failover_ids(rec)
        if not secondary_ids:
            continue  # not something an application calls (a CU /defaults key)
        secondary = {**_where(spec, rec["target_resource"], rec, "target"), "address": address, "ids": secondary_ids,
                     "copied_at": rec.get("copied_at"), "source_fingerprint": rec.get("source_fingerprint")}
        if targets and not any(fnmatch.fnmatchcase(rec["target_resource"], g) for g in targets):
            continue
        if regions and secondary["region"] not in regions:
            continue
        key = (rec["rule"], rec["kind"], rec["source_resource"], rec["source_id"])
        group = groups.setdefault(key, {
            "name": f"{rec['rule']}/{rec['source_id']}", "rule": rec["rule"], "kind": rec["kind"],
            "primary": {**_where(spec, rec["source_resource"], rec, "source"), "ids": primary_ids},
            "secondaries": []})
        group["secondaries"].append(secondary)
    if (regions or targets) and not groups:
        known = sorted({spec.resources[r["target_resource"]].region for r in state.resources.values()
                        if r.get("target_resource") in spec.resources and r.get("rule") in rule_names})
        raise DrplanError(f"no copy matches --target {' '.join(targets) or '*'} --region {' '.join(regions) or '*'}; "
                          f"the state records copies in: {', '.join(known) or 'no region (run drplan apply first)'}")
    assets = sorted(groups.values(), key=lambda g: (g["name"], g["kind"]))
    for g in assets:
        g["secondaries"].sort(key=lambda s: (s["region"], s["resource"]))
    fmap = {"format_version": OUTPUT_FORMAT_VERSION, "drplan_version": __version__, "spec": str(spec.path),
            "state": {"lineage": state.lineage, "serial": state.serial}, "assets": assets}
    # The map is a contract with applications (schemas/output.schema.json): never hand out one that breaks it.
    errors = sorted(validator("output.schema.json").iter_errors(fmap), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise DrplanError(f"internal error: the failover map does not match schemas/output.schema.json at "
                          f"{json_path(errors[0].absolute_path)}: {errors[0].message}")
    return fmap


def render_json(fmap: Mapping[str, Any]) -> str:
    return json.dumps(fmap, indent=2, sort_keys=True) + "\n"


def env_prefix(name: str) -> str:
    """``finance/invoice-2024`` -> ``DRPLAN_FINANCE_INVOICE_2024``."""
    return "DRPLAN_" + re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_")


def render_env(fmap: Mapping[str, Any]) -> str:
    """``KEY=value`` lines (quoted for a POSIX shell): per asset ``<P>_PRIMARY_*`` and ``<P>_SECONDARY_<n>_*``
    with ``ENDPOINT``, ``REGION``, ``RESOURCE``, ``KEY_ENV`` (the variable holding that resource's key, or
    ``AUTH=entra``) and one variable per id (``MODEL_ID``, ``ANALYZER_ID``, ``PROJECT_NAME``, ``DEPLOYMENT_NAME``),
    where ``<P>`` is ``DRPLAN_<RULE>_<SOURCE_ID>`` upper-cased, other characters as ``_``."""
    lines = [f"# drplan failover map: state lineage {fmap['state']['lineage']} serial {fmap['state']['serial']}"]
    for asset in fmap["assets"]:
        prefix = env_prefix(asset["name"])
        lines.append(f"# {asset['name']} ({asset['kind']})")
        sides = [("PRIMARY", asset["primary"])] + [(f"SECONDARY_{i}", s) for i, s in enumerate(asset["secondaries"], 1)]
        for role, side in sides:
            values = {"RESOURCE": side["resource"], "REGION": side["region"], "ENDPOINT": side["endpoint"]}
            cred = side["credential"]
            if cred.get("key_env"):
                values["KEY_ENV"] = cred["key_env"]
            else:
                values["AUTH"] = cred["mode"]
            values.update({k.upper(): v for k, v in side["ids"].items()})
            for k, v in values.items():
                lines.append(f"{prefix}_{role}_{k}={shlex.quote(str(v))}")
        lines.append(f"{prefix}_SECONDARIES={len(asset['secondaries'])}")
    return "\n".join(lines) + "\n"


def render_markdown(fmap: Mapping[str, Any]) -> str:
    out = [f"## Failover map ({len(fmap['assets'])} asset(s))", "",
           "| asset | role | resource | region | endpoint | ids | credential | copied at |",
           "|---|---|---|---|---|---|---|---|"]

    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|")

    for asset in fmap["assets"]:
        sides = [("primary", asset["primary"])] + [("secondary", s) for s in asset["secondaries"]]
        for role, side in sides:
            ids = ", ".join(f"{k}=`{v}`" for k, v in side["ids"].items())
            cred = side["credential"]
            credential = f"key in `${cred['key_env']}`" if cred.get("key_env") else cred["mode"]
            out.append(f"| {cell(asset['name'])} ({asset['kind']}) | {role} | {cell(side['resource'])} | "
                       f"{side['region']} | {cell(side['endpoint'])} | {cell(ids)} | {credential} | "
                       f"{side.get('copied_at') or ''} |")
    return "\n".join(out) + "\n"
