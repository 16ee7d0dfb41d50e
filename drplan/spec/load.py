"""TOML -> JSON Schema -> semantic checks -> Spec. Every error names the file, the TOML path and the fix."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any

from drplan.errors import SpecError
from drplan.schemas import first_error, json_path, validator
from drplan.spec.model import (
    API_VERSIONS,
    CLASSIFIER_COPY_VERSIONS,
    Encryption,
    Family,
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
        raw = p.read_bytes()
    except FileNotFoundError:
        raise SpecError(f"{p}: file not found") from None
    except OSError as exc:
        raise SpecError(f"{p}: cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise SpecError(f"{p}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{p}: invalid TOML: {exc}") from None
    return build_spec(data, path=p, digest="sha256:" + hashlib.sha256(raw).hexdigest(), check_env=check_env)


def _schema_errors(name: str, data: dict[str, Any]) -> list[str]:
    if first_error("drspec.schema.json", data) is None:
        return []
    out = []
    for err in sorted(validator("drspec.schema.json").iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        where = json_path(err.absolute_path)
        if err.validator == "additionalProperties":
            extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
            allowed = ", ".join(sorted(err.schema.get("properties", {})))
            msg = f"unknown key(s) {', '.join(map(repr, extra))}; allowed: {allowed}"
        elif err.validator == "required":
            msg = err.message.replace(" is a required property", " is required")
        elif err.validator == "enum":
            msg = f"{err.instance!r} is not one of: {', '.join(map(str, err.validator_value))}"
        elif err.validator == "pattern":
            msg = f"{err.instance!r} does not match the expected form {err.validator_value}"
        else:
            msg = err.message
        out.append(f"{name}: {where}: {msg}")
    return out


def build_spec(data: dict[str, Any], *, path: Path, digest: str, check_env: bool = True) -> Spec:
    name = str(path)
    errors = _schema_errors(name, data)
    if errors:
        raise SpecError("\n".join(errors))

    errors = []
    resources: dict[str, Resource] = {}
    for rname, r in data["resources"].items():
        family = Family(r["family"])
        where = f"{name}: resources.{rname}"
        if r["api_version"] not in API_VERSIONS[family]:
            errors.append(
                f"{where}.api_version: {r['api_version']!r} is not supported for {family.value}; "
                f"use one of: {', '.join(API_VERSIONS[family])}"
            )
        if check_env and not os.environ.get(r["key_env"]):
            errors.append(
                f"{where}.key_env: environment variable {r['key_env']} is not set; export the resource key in it"
            )
        resources[rname] = Resource(
            name=rname,
            family=family,
            endpoint=r["endpoint"].rstrip("/"),
            region=r["region"],
            resource_id=r["resource_id"],
            api_version=r["api_version"],
            key_env=r["key_env"],
            encryption=Encryption(r.get("encryption", Encryption.MICROSOFT_MANAGED.value)),
        )

    seen_ids: dict[str, str] = {}
    for rid_name, res in resources.items():
        key = res.resource_id.lower()
        if key in seen_ids:
            errors.append(
                f"{name}: resources.{rid_name}.resource_id: same ARM id as resources.{seen_ids[key]}; "
                "each resource must be a different account"
            )
        seen_ids[key] = rid_name

    rules: list[Rule] = []
    rule_names: dict[str, int] = {}
    for i, r in enumerate(data["replicate"]):
        where = f"{name}: replicate[{i}]"
        if r["name"] in rule_names:
            errors.append(f"{where}.name: rule name {r['name']!r} is already used by replicate[{rule_names[r['name']]}]")
        rule_names[r["name"]] = i
        known = ", ".join(sorted(resources))
        src = resources.get(r["source"])
        if src is None:
            errors.append(f"{where}.source: unknown resource {r['source']!r}; defined resources: {known}")
        if src is not None and src.protocol == "fr-v2" and r.get("rename"):
            errors.append(f"{where}.rename: Form Recognizer v2.x copies get ids chosen by the target service; "
                          "rename is not possible, remove it")
        if src is not None and src.protocol == "fr-v2" and r.get("classifiers"):
            errors.append(f"{where}.classifiers: Form Recognizer v2.x has no classifiers; remove classifiers from "
                          "this rule")
        if not r.get("models") and not r.get("classifiers"):
            errors.append(f"{where}: selects nothing; add models = [...] and/or classifiers = [...] (ids or globs)")
        for j, t in enumerate(r["targets"]):
            tgt = resources.get(t)
            if tgt is None:
                errors.append(f"{where}.targets[{j}]: unknown resource {t!r}; defined resources: {known}")
                continue
            if t == r["source"]:
                errors.append(f"{where}.targets[{j}]: {t!r} is the rule's source; a rule cannot copy a resource onto itself")
                continue
            if src is not None and src.protocol != tgt.protocol:
                errors.append(
                    f"{where}.targets[{j}]: cannot copy from {src.name!r} ({src.family.value} {src.api_version}) to "
                    f"{tgt.name!r} ({tgt.family.value} {tgt.api_version}); Form Recognizer v2.x models live in their "
                    "own store with their own copy protocol: source and targets must both be v2.x or both v3/v4"
                )
            if r.get("classifiers") and not (src is not None and src.protocol == "fr-v2"):
                for role, res in (("source", src), (f"targets[{j}]", tgt)):
                    if res is not None and res.api_version not in CLASSIFIER_COPY_VERSIONS:
                        errors.append(
                            f"{where}.classifiers: classifier copy needs api_version 2024-11-30 on every resource, "
                            f"but the {role} {res.name!r} uses {res.api_version}; set resources.{res.name}.api_version "
                            "= \"2024-11-30\" or remove classifiers from this rule"
                        )
        rename = r.get("rename", {})
        targets_of_rename = list(rename.values())
        if len(set(targets_of_rename)) != len(targets_of_rename):
            errors.append(f"{where}.rename: two assets are renamed to the same id")
        rules.append(
            Rule(
                name=r["name"],
                source=r["source"],
                targets=tuple(r["targets"]),
                models=tuple(r.get("models", ())),
                classifiers=tuple(r.get("classifiers", ())),
                exclude=tuple(r.get("exclude", ())),
                rename=dict(rename),
                allow_encryption_downgrade=bool(r.get("allow_encryption_downgrade", False)),
                prune=bool(r.get("prune", False)),
            )
        )
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
    )


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
