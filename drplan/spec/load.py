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
    LanguageTraining,
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
        auth = r.get("auth", "key")
        if auth == "key" and not r.get("key_env"):
            errors.append(f"{where}: key_env is required (the env var holding the resource key), or set auth = "
                          "\"entra\" to use an Entra ID token")
        elif auth == "entra" and r.get("key_env"):
            errors.append(f"{where}.key_env: auth = \"entra\" uses an Entra ID token, not a key; remove key_env")
        elif auth == "key" and check_env and not os.environ.get(r["key_env"]):
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
            key_env=r.get("key_env", ""),
            auth=auth,
            encryption=Encryption(r.get("encryption", Encryption.MICROSOFT_MANAGED.value)),
            copy_flow=r.get("copy_flow", "grant"),
        )
        if "copy_flow" in r and family is not Family.CONTENT_UNDERSTANDING:
            errors.append(f"{where}.copy_flow: only content-understanding resources choose a copy flow; remove it")

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
        if src is not None:
            errors.extend(_selector_errors(where, r, src))
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
                    f"{tgt.name!r} ({tgt.family.value} {tgt.api_version}); {_PROTOCOL_HINT}"
                )
            elif src is not None and src.protocol == "cu" and src.copy_flow != tgt.copy_flow:
                errors.append(
                    f"{where}.targets[{j}]: {src.name!r} uses copy_flow = {src.copy_flow!r} but {tgt.name!r} uses "
                    f"{tgt.copy_flow!r}; a rule's source and targets must use the same Content Understanding copy flow"
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
                analyzers=tuple(r.get("analyzers", ())),
                deployments={t: dict(roles) for t, roles in r.get("deployments", {}).items()},
                encryption_key_env=r.get("encryption_key_env"),
                decryption_key_env=r.get("decryption_key_env") or r.get("encryption_key_env"),
                projects=tuple(r.get("projects", ())),
                train=LanguageTraining(r["train"]["model_label"], r["train"]["training_config_version"],
                                       r["train"].get("deployment")) if "train" in r else None,
            )
        )
        if src is not None and src.protocol == "cu":
            for t in r.get("deployments", {}):
                if t not in r["targets"]:
                    errors.append(f"{where}.deployments.{t}: {t!r} is not one of this rule's targets "
                                  f"({', '.join(r['targets'])}); overrides are per target")
            token = src.copy_flow == "token"
            for key in ("encryption_key_env", "decryption_key_env"):
                env = r.get(key)
                if env and not token:
                    errors.append(f"{where}.{key}: only the token copy flow encrypts its token; {src.name!r} uses "
                                  "copy_flow = \"grant\" (remove the key, or set copy_flow = \"token\")")
                elif env and check_env and not os.environ.get(env):
                    errors.append(f"{where}.{key}: environment variable {env} is not set; export the key in it")
            if r.get("decryption_key_env") and not r.get("encryption_key_env"):
                errors.append(f"{where}.decryption_key_env: set encryption_key_env too (the source encrypts the token "
                              "with it)")
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


_PROTOCOL_HINT = ("resources copy only within one protocol: Document Intelligence v4 / Form Recognizer v3, Form "
                  "Recognizer v2.x (its own model store), Content Understanding, or Language")

#: Which selector keys each copy protocol understands (the others are errors, so a typo cannot select nothing).
_SELECTORS: dict[str, tuple[str, ...]] = {
    "di": ("models", "classifiers"),
    "fr-v2": ("models",),
    "cu": ("analyzers",),
    "language": ("projects",),
}
_PROTOCOL_NAMES = {"di": "Document Intelligence / Form Recognizer v3", "fr-v2": "Form Recognizer v2.x",
                   "cu": "Content Understanding", "language": "Language"}
_OPTIONS: dict[str, tuple[str, ...]] = {
    "deployments": ("cu",), "encryption_key_env": ("cu",), "decryption_key_env": ("cu",), "train": ("language",),
    "allow_encryption_downgrade": ("di", "fr-v2"),
}


def _selector_errors(where: str, r: dict[str, Any], src: Resource) -> list[str]:
    """Selectors and options that do not fit the source's protocol, and a rule that selects nothing."""
    proto = src.protocol
    allowed = _SELECTORS[proto]
    out = []
    for key in ("models", "classifiers", "analyzers", "projects"):
        if r.get(key) and key not in allowed:
            if proto == "fr-v2" and key == "classifiers":
                out.append(f"{where}.classifiers: Form Recognizer v2.x has no classifiers; remove classifiers from "
                           "this rule")
            else:
                out.append(f"{where}.{key}: the source {src.name!r} is {_PROTOCOL_NAMES[proto]}, which selects "
                           f"with {' / '.join(allowed)}; use that instead")
    for key, protos in _OPTIONS.items():
        if r.get(key) and proto not in protos:  # truthy: the schema fills in defaults (false)
            out.append(f"{where}.{key}: only for {' / '.join(_PROTOCOL_NAMES[p] for p in protos)} rules; remove it")
    if proto == "fr-v2" and r.get("rename"):
        out.append(f"{where}.rename: Form Recognizer v2.x copies get ids chosen by the target service; "
                   "rename is not possible, remove it")
    if not any(r.get(k) for k in allowed):
        out.append(f"{where}: selects nothing; add {' and/or '.join(f'{k} = [...]' for k in allowed)} (ids or globs)")
    return out


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
