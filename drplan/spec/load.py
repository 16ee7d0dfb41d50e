"""TOML -> JSON Schema -> semantic checks -> Spec. Every error names the file, the TOML path and the fix."""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from drplan.azure.auth import key_problem
from drplan.errors import SpecError, shorten
from drplan.families import FAMILIES, family_of
from drplan.fsutil import MAX_SPEC_BYTES, read_limited
from drplan.schemas import first_error, json_path, validator
from drplan.spec.model import (
    API_VERSIONS,
    AssetKind,
    ControlPlaneConfig,
    Encryption,
    Family,
    LanguageTraining,
    Move,
    Resource,
    Rule,
    Spec,
    StateConfig,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib



def load_spec(path: str | os.PathLike[str], *, check_env: bool = True) -> Spec:
    """Load and validate a spec. ``check_env`` also requires every ``key_env`` to be set (plan/apply need keys)."""
    p = Path(path)
    try:
        raw = read_limited(p, MAX_SPEC_BYTES)
    except FileNotFoundError:
        raise SpecError(f"{p}: file not found") from None
    except OSError as exc:
        raise SpecError(f"{shorten(str(p))}: cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise SpecError(f"{p}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{p}: invalid TOML: {shorten(str(exc))}") from None
    except RecursionError:
        raise SpecError(f"{p}: invalid TOML: arrays or tables nested too deeply to be a DR spec") from None
    try:
        return build_spec(data, path=p, digest="sha256:" + hashlib.sha256(raw).hexdigest(), check_env=check_env)
    except RecursionError:
        raise SpecError(f"{p}: a value is nested too deeply to be part of a DR spec") from None


def _schema_errors(name: str, data: dict[str, Any]) -> list[str]:
    if first_error("drspec.schema.json", data) is None:
        return []
    out = []
    for err in sorted(validator("drspec.schema.json").iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        where = shorten(json_path(err.absolute_path))
        if err.validator == "additionalProperties":
            extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
            allowed = ", ".join(sorted(err.schema.get("properties", {})))
            msg = f"unknown key(s) {shorten(', '.join(map(repr, extra)))}; allowed: {allowed}"
        elif err.validator == "required":
            msg = err.message.replace(" is a required property", " is required")
        elif err.validator == "enum":
            msg = f"{shorten(repr(err.instance))} is not one of: {', '.join(map(str, err.validator_value))}"
        elif err.validator == "pattern":
            msg = f"{shorten(repr(err.instance))} does not match the expected form {err.validator_value}"
        else:  # jsonschema quotes the whole value: a 10 MB string is shown as its first 200 characters
            msg = err.message.replace(repr(err.instance), shorten(repr(err.instance)))
        out.append(f"{name}: {where}: {msg}")
    return out


def build_spec(data: dict[str, Any], *, path: Path, digest: str, check_env: bool = True) -> Spec:
    name = str(path)
    errors = _schema_errors(name, data)
    if errors:
        raise SpecError("\n".join(errors))

    errors = []
    resources = {rname: _resource(f"{name}: resources.{rname}", rname, r, errors, check_env)
                 for rname, r in data["resources"].items()}
    # One multi-service (Azure AI services / Foundry) account may host several families, each its own resource in
    # the spec; two resources of the same family on one account would copy onto themselves.
    seen_ids: dict[tuple[str, str], str] = {}
    for rid_name, res in resources.items():
        key = (res.resource_id.lower(), res.protocol)
        if key in seen_ids:
            errors.append(
                f"{name}: resources.{rid_name}.resource_id: same ARM id as resources.{seen_ids[key]}; "
                "each resource of a family must be a different account"
            )
        seen_ids[key] = rid_name

    cp = data.get("control_plane", {})
    for rname, res in resources.items():  # an omitted endpoint/region can only come from the control plane
        off = "control_plane = false on the resource" if not res.control_plane else (
            "[control_plane] enabled = false" if cp.get("enabled") is False else "")
        for field_name in ("endpoint", "region"):
            if off and not getattr(res, field_name):
                errors.append(f"{name}: resources.{rname}.{field_name}: required with {off} (it is otherwise read from "
                              "Resource Manager)")
    token_env = cp.get("token_env")
    if check_env and token_env and not os.environ.get(token_env):
        errors.append(f"{name}: control_plane.token_env: environment variable {token_env} is not set; export a "
                      "bearer token for the management scope in it (az account get-access-token), or remove "
                      "token_env to use DefaultAzureCredential")

    rules: list[Rule] = []
    rule_names: dict[str, int] = {}
    for i, r in enumerate(data["replicate"]):
        where = f"{name}: replicate[{i}]"
        if r["name"] in rule_names:
            errors.append(f"{where}.name: rule name {r['name']!r} is already used by replicate[{rule_names[r['name']]}]")
        rule_names[r["name"]] = i
        errors.extend(_rule_errors(where, r, resources, check_env))
        rules.append(_rule(r))
    moves = tuple(Move(m["from"], m["to"], i) for i, m in enumerate(data.get("moved", [])))
    errors.extend(_moved_errors(name, moves, rules))
    state = _state_config(data.get("state", {}), path=path, errors=errors, check_env=check_env)
    if errors:
        raise SpecError("\n".join(dict.fromkeys(errors)))

    defaults = data.get("defaults", {})
    return Spec(
        path=path,
        digest=digest,
        state=state,
        resources=resources,
        rules=tuple(rules),
        parallelism=defaults.get("parallelism", 10),
        per_endpoint_parallelism=defaults.get("per_endpoint_parallelism", 8),
        expiry_warning_days=data.get("lifecycle", {}).get("expiry_warning_days", 30),
        moves=moves,
        control_plane=ControlPlaneConfig(enabled=cp.get("enabled", True),
                                         management_url=cp["management_url"].rstrip("/") if "management_url" in cp
                                         else None,
                                         token_env=cp.get("token_env")),
    )


def _resource(where: str, rname: str, r: dict[str, Any], errors: list[str], check_env: bool) -> Resource:
    """One ``[resources.NAME]`` table; its errors go to ``errors``."""
    family = Family(r["family"])
    if r["api_version"] not in API_VERSIONS[family]:
        errors.append(
            f"{where}.api_version: {r['api_version']!r} is not supported for {family.value}; "
            f"use one of: {', '.join(API_VERSIONS[family])}"
        )
    auth = r.get("auth", "key")
    if auth == "key" and not r.get("key_env"):
        errors.append(f"{where}: key_env is required (the env var holding the resource key), or set auth = "
                      "\"entra\" to use an Entra ID token")
    elif auth == "entra" and r.get("key_env"):
        errors.append(f"{where}.key_env: auth = \"entra\" uses an Entra ID token, not a key; remove key_env")
    elif auth == "key" and check_env and not os.environ.get(r["key_env"], "").strip():
        errors.append(
            f"{where}.key_env: environment variable {r['key_env']} is not set; export the resource key in it"
        )
    elif auth == "key" and check_env and (problem := key_problem(os.environ[r["key_env"]])):
        errors.append(f"{where}.key_env: the key in environment variable {r['key_env']} {problem}")
    if isinstance(r.get("endpoint"), str) and (problem := endpoint_problem(r["endpoint"])):
        errors.append(f"{where}.endpoint: {shorten(r['endpoint'])} {problem}")
    res = Resource(
        name=rname,
        family=family,
        endpoint=r.get("endpoint", "").rstrip("/"),  # "" : read from the control plane (issue 15)
        region=r.get("region", ""),
        resource_id=r["resource_id"],
        api_version=r["api_version"],
        key_env=r.get("key_env", ""),
        auth=auth,
        encryption=Encryption(r.get("encryption", Encryption.MICROSOFT_MANAGED.value)),
        encryption_spec=Encryption(r["encryption"]) if "encryption" in r else None,
        control_plane=r.get("control_plane", True),
    )
    owners = [f for f in FAMILIES.values() if "copy_flow" in f.resource_options]
    if family_of(res) in owners:  # "grant" unless the resource says otherwise
        return replace(res, copy_flow=r.get("copy_flow", "grant"))
    if "copy_flow" in r:
        errors.append(f"{where}.copy_flow: only {' / '.join(f.title for f in owners)} resources choose a copy "
                      "flow; remove it")
    return res


def _rule_errors(where: str, r: dict[str, Any], resources: dict[str, Resource], check_env: bool) -> list[str]:
    """A rule's references (source, targets), its selectors and options, and its family's own checks."""
    errors: list[str] = []
    known = ", ".join(sorted(resources))
    src = resources.get(r["source"])
    if src is None:
        errors.append(f"{where}.source: unknown resource {r['source']!r}; defined resources: {known}")
    else:
        errors.extend(_selector_errors(where, r, src))
    for j, t in enumerate(r["targets"]):
        tgt = resources.get(t)
        if tgt is None:
            errors.append(f"{where}.targets[{j}]: unknown resource {t!r}; defined resources: {known}")
        elif t == r["source"]:
            errors.append(f"{where}.targets[{j}]: {t!r} is the rule's source; a rule cannot copy a resource onto itself")
        elif src is not None and src.protocol != tgt.protocol:  # family-neutral: same protocol on both ends
            errors.append(
                f"{where}.targets[{j}]: cannot copy from {src.name!r} ({src.family.value} {src.api_version}) to "
                f"{tgt.name!r} ({tgt.family.value} {tgt.api_version}); {_PROTOCOL_HINT}"
            )
    if src is not None:  # the family's own rules (copy flows, classifier versions, deployments, ...)
        same = [resources[t] for t in r["targets"] if t in resources and t != r["source"]
                and resources[t].protocol == src.protocol]  # family-neutral
        errors.extend(family_of(src).rule_errors(where, r, src, same, check_env=check_env))
    renamed = list(r.get("rename", {}).values())
    if len(set(renamed)) != len(renamed):
        errors.append(f"{where}.rename: two assets are renamed to the same id")
    return errors


def _rule(r: dict[str, Any]) -> Rule:
    return Rule(
        name=r["name"],
        source=r["source"],
        targets=tuple(r["targets"]),
        models=tuple(r.get("models", ())),
        classifiers=tuple(r.get("classifiers", ())),
        exclude=tuple(r.get("exclude", ())),
        rename=dict(r.get("rename", {})),
        allow_encryption_downgrade=bool(r.get("allow_encryption_downgrade", False)),
        prune=bool(r.get("prune", False)),
        analyzers=tuple(r.get("analyzers", ())),
        deployments={t: dict(roles) for t, roles in r.get("deployments", {}).items()},
        encryption_key_env=r.get("encryption_key_env"),
        decryption_key_env=r.get("decryption_key_env") or r.get("encryption_key_env"),
        projects=tuple(r.get("projects", ())),
        train=LanguageTraining(r["train"]["model_label"], r["train"]["training_config_version"],
                               r["train"].get("deployment")) if "train" in r else None,
        expiry_warning_days=r.get("expiry_warning_days"),
    )


_MOVE_FORMS = ("a rule name (old-rule), a rule and target resource (old-rule/old-target), or an address "
               "rule/target-resource/kind/id")


def _moved_errors(name: str, moves: tuple[Move, ...], rules: list[Rule]) -> list[str]:
    """``[[moved]]`` blocks: each side one of the three forms, both at one level (an address keeps its kind and id);
    no two blocks from or to one place, no chain or cycle; ``to`` a rule (and target) of the spec, ``from`` no longer
    one. Whether ``from`` still has records is the planner's business (none: the block does nothing)."""
    errors: list[str] = []
    kind_names = {k.value for k in AssetKind}
    formed: list[Move] = []
    for m in moves:
        where = f"{name}: moved[{m.index}]"
        bad = False
        for side, value in (("from", m.from_), ("to", m.to)):
            parts = value.split("/")
            if len(parts) not in (1, 2, 4) or not all(parts) or (len(parts) >= 4 and parts[2] not in kind_names):
                errors.append(f"{where}.{side}: {shorten(repr(value))} is not {_MOVE_FORMS}"
                              + (f" (kinds: {', '.join(sorted(kind_names))})" if len(parts) >= 4 else ""))
                bad = True
        if bad:
            continue
        f_parts, t_parts = m.from_.split("/"), m.to.split("/")
        if min(len(f_parts), 4) != min(len(t_parts), 4):
            errors.append(f"{where}: from {m.from_!r} and to {m.to!r} are not the same form; move a rule to a rule, a "
                          "rule/target to a rule/target, or an address to an address")
        elif m.from_ == m.to:
            errors.append(f"{where}: from and to are both {m.from_!r}; remove the block")
        elif len(f_parts) >= 4 and f_parts[2:] != t_parts[2:]:
            errors.append(f"{where}.to: only the rule and the target resource of an address can change (the kind and "
                          f"id name the copy itself: {'/'.join(f_parts[2:])})")
        else:
            formed.append(m)

    tangled: set[int] = set()  # blocks already reported: duplicates, chains, cycles
    seen_from: dict[str, Move] = {}
    seen_to: dict[str, Move] = {}
    froms = {m.from_: m for m in formed}
    for m in formed:
        where = f"{name}: moved[{m.index}]"
        if m.from_ in seen_from:
            errors.append(f"{where}.from: {m.from_!r} is already moved by moved[{seen_from[m.from_].index}]; keep one "
                          "of the two blocks")
            tangled.add(m.index)
        seen_from.setdefault(m.from_, m)
        if m.to in seen_to:
            errors.append(f"{where}.to: {m.to!r} is already the destination of moved[{seen_to[m.to].index}]; two "
                          "moves cannot land in one place")
            tangled.add(m.index)
        seen_to.setdefault(m.to, m)
        nxt = next((n for n in formed if n is not m and (n.from_ == m.to or n.from_.startswith(m.to + "/"))), None)
        if nxt is None:
            continue
        tangled.add(m.index)
        walk, hops = nxt, [m.index, nxt.index]
        while walk.to in froms and walk.to != m.from_ and len(hops) <= len(formed):
            walk = froms[walk.to]
            hops.append(walk.index)
        if walk.to == m.from_:
            errors.append(f"{where}: moved blocks {', '.join(f'moved[{i}]' for i in hops)} form a cycle "
                          f"({m.from_!r} -> {m.to!r} -> ... -> {m.from_!r}); a record moves once: remove them and "
                          "write the one move you mean")
        else:
            errors.append(f"{where}.to: {m.to!r} is moved on by moved[{nxt.index}] (from {nxt.from_!r}); moves are not "
                          f"chained: write one block from {m.from_!r} straight to where its records should end up")

    by_name = {r.name: r for r in rules}
    index = {r.name: i for i, r in enumerate(rules)}
    for m in formed:
        if m.index in tangled:
            continue
        where = f"{name}: moved[{m.index}]"
        f_parts, t_parts = m.from_.split("/"), m.to.split("/")
        rule = by_name.get(t_parts[0])
        if rule is None:
            errors.append(f"{where}.to: unknown rule {t_parts[0]!r}; a moved block moves records to a rule of the spec "
                          f"(rules: {', '.join(sorted(by_name)) or 'none'})")
        elif len(t_parts) >= 2 and t_parts[1] not in rule.targets:
            errors.append(f"{where}.to: {t_parts[1]!r} is not a target of rule {rule.name!r} (its targets: "
                          f"{', '.join(rule.targets)})")
        old = by_name.get(f_parts[0])
        if len(f_parts) == 1 and old is not None:
            errors.append(f"{where}.from: rule {m.from_!r} is still in the spec (replicate[{index[m.from_]}]); a "
                          "moved block takes the records of a rule that was renamed or removed: rename the rule, or "
                          "remove the block")
        elif len(f_parts) == 2 and old is not None and f_parts[1] in old.targets:
            errors.append(f"{where}.from: {m.from_!r} is still a target of rule {old.name!r} "
                          f"(replicate[{index[old.name]}]); a moved block takes the records of a target resource that "
                          "was renamed or removed from the rule")
    return errors


_PROTOCOL_HINT = ("resources copy only within one protocol: Document Intelligence v4 / Form Recognizer v3, Form "
                  "Recognizer v2.x (its own model store), Content Understanding, or Language")

def _selector_errors(where: str, r: dict[str, Any], src: Resource) -> list[str]:
    """Selectors and options that do not fit the source's family, and a rule that selects nothing."""
    family = family_of(src)
    allowed = family.selectors
    out = []
    for key in sorted({k for f in FAMILIES.values() for k in f.selectors}):
        if r.get(key) and key not in allowed and not (key == "classifiers" and "models" in allowed):
            out.append(f"{where}.{key}: the source {src.name!r} is {family.title}, which selects with "
                       f"{' / '.join(allowed)}; use that instead")
    for f in FAMILIES.values():
        for key in f.options:
            if r.get(key) and key not in family.options:  # truthy: the schema fills in defaults (false)
                owners = [g.title for g in FAMILIES.values() if key in g.options]
                out.append(f"{where}.{key}: only for {' / '.join(owners)} rules; remove it")
    if not any(r.get(k) for k in allowed):
        out.append(f"{where}: selects nothing; add {' and/or '.join(f'{k} = [...]' for k in allowed)} (ids or globs)")
    return list(dict.fromkeys(out))


_BLOB_KEYS = ("account_url", "container", "blob", "connection_string_env", "account_key_env", "lease_seconds")


def _state_config(st: dict[str, Any], *, path: Path, errors: list[str], check_env: bool) -> StateConfig:
    """The [state] section's cross-field rules (the schema checks each key and azureblob's required ones)."""
    where = f"{path}: state"
    backend = st.get("backend", "local")
    if backend == "local":
        errors.extend(f"{where}.{k}: only for backend = \"azureblob\"; a local state is named by path"
                      for k in _BLOB_KEYS if k in st)
        state_path = Path(st.get("path", "drplan.state.json"))
        if not state_path.is_absolute():
            state_path = (path.parent / state_path).resolve()
        return StateConfig(backend="local", path=state_path)
    if "path" in st:
        errors.append(f"{where}.path: only for backend = \"local\"; an azureblob state is named by account_url, "
                      "container and blob")
    if st.get("connection_string_env") and st.get("account_key_env"):
        errors.append(f"{where}: set connection_string_env or account_key_env, not both (or neither, for Entra ID)")
    for key in ("connection_string_env", "account_key_env"):
        env = st.get(key)
        if check_env and env and not os.environ.get(env):
            errors.append(f"{where}.{key}: environment variable {env} is not set; export the storage credential in it")
    return StateConfig(
        backend=backend,
        account_url=st["account_url"].rstrip("/"),
        container=st["container"],
        blob=st["blob"],
        connection_string_env=st.get("connection_string_env"),
        account_key_env=st.get("account_key_env"),
        lease_seconds=st.get("lease_seconds", 60),
    )


#: ``DRPLAN_ALLOW_HTTP=1`` accepts plain-http endpoints on any host: for an emulator in another container or an
#: in-process test harness. Never for a real resource: the key would cross the network in clear text.
ALLOW_HTTP_ENV = "DRPLAN_ALLOW_HTTP"
#: Hosts an endpoint may reach over plain http: this machine only (the bundled emulator). A key sent over http to any
#: other host crosses the network in clear text.
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def endpoint_problem(endpoint: str) -> str | None:
    """Why ``endpoint`` cannot be a resource's endpoint (None: it can): whitespace or a control character anywhere (an
    endpoint pasted with its newline), not an absolute https URL, or http to anything but this machine, a query, a
    fragment or user info."""
    import ipaddress
    from urllib.parse import urlsplit

    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in endpoint):
        return ("holds whitespace or a control character (a newline or space copied with it?); write the URL "
                "alone, e.g. https://NAME.cognitiveservices.azure.com")
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        return "is not a valid URL (a malformed host or port); e.g. https://NAME.cognitiveservices.azure.com"
    if parts.scheme not in ("https", "http") or not host:
        return "is not an https:// URL with a host; e.g. https://NAME.cognitiveservices.azure.com"
    if parts.query or parts.fragment or "@" in parts.netloc:
        return "must not hold a query, a fragment or user info; write the resource's base URL only"
    if parts.scheme == "http" and os.environ.get(ALLOW_HTTP_ENV) != "1":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host.lower() in _LOOPBACK_NAMES
        if not loopback:
            return ("is http://, which would send the key in clear text; use https:// (plain http is accepted only "
                    f"for this machine, e.g. the emulator at http://127.0.0.1:PORT, or with {ALLOW_HTTP_ENV}=1 for an "
                    "emulator elsewhere)")
    return None
