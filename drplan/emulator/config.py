"""Emulator configuration: the TOML file described in ``drplan/emulator/README.md``.

``load_config`` reads the file with :mod:`tomllib` and returns the dataclasses of ``config_base``. Every validation
error is a :class:`ConfigError` whose message names the file and the TOML path of the offending key, e.g.
``emulator.toml: accounts.src.models[0].model_id: must match ^[a-zA-Z0-9][a-zA-Z0-9._~-]{1,63}$``.

This module parses the shared keys (``seed``, ``[settings]``, ``[faults]``, an account's region, key, ARM id,
encryption, model limit, port...) and hands each family's keys to its service module (``parse_account`` of
``services/<family>.py``), which also parses the admin API's seed bodies with the same code. :data:`ROUTES` (the
route names the ``routes`` fault filter accepts) is the families' route names put together.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path
from typing import Any

from .arm import ROUTE_NAMES as ARM_ROUTE_NAMES
from .arm import parse_management
from .config_base import (
    FAULT_KEYS,
    SETTING_KEYS,
    AccountConfig,
    ConfigError,
    Ctx,
    EmulatorConfig,
    Faults,
    Settings,
    apply_settings,
    parse_timestamp,
)
from .services import analyze, content_understanding, document_intelligence, form_recognizer_v2, language

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - pyproject pulls in tomli for 3.10
    import tomli as tomllib

__all__ = [  # the shared config types are re-exported: ``config`` is where users of the emulator find them
    "FAULT_KEYS",
    "ROUTES",
    "SETTING_KEYS",
    "AccountConfig",
    "ConfigError",
    "EmulatorConfig",
    "Faults",
    "Settings",
    "apply_faults",
    "apply_settings",
    "load_config",
    "parse_config",
    "parse_timestamp",
    "validate_faults",
]

#: Account names appear in admin URLs (``/_emulator/accounts/{name}/...``), so keep them to URL-safe characters.
ACCOUNT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
REGION_RE = re.compile(r"^[a-z0-9]{1,24}$")
ENCRYPTION_MODES = ("microsoft-managed", "customer-managed")

#: Route names used by the request log, the counters and the ``routes`` fault filter: each family's, then
#: ``unknown`` (a path no family resolves).
ROUTES = (
    *document_intelligence.ROUTE_NAMES,
    *form_recognizer_v2.ROUTE_NAMES,  # Form Recognizer v2.1 / v2.0 (path-versioned, contracts §4)
    *content_understanding.ROUTE_NAMES,  # Azure AI Content Understanding (contracts §5)
    *language.ROUTE_NAMES,  # Azure AI Language authoring (contracts §6)
    *analyze.ROUTE_NAMES,  # every family's analyze endpoints, for drills (issue 16)
    *ARM_ROUTE_NAMES,  # the management API (issue 15)
    "unknown",
)

#: The keys of ``[accounts.NAME]``, in the order the "unknown key" error lists them: the shared ones and each
#: family's (``ACCOUNT_KEYS`` of its service module).
#: Account keys only the management API (``arm.py``) reads.
MANAGEMENT_ACCOUNT_KEYS = ("kind", "sku", "public_network_access", "arm_readable")
ACCOUNT_KEYS = (
    "region",
    "key",
    "resource_id",
    "encryption",
    "model_limit",
    "faults",
    *document_intelligence.ACCOUNT_KEYS,
    *form_recognizer_v2.ACCOUNT_KEYS,
    *language.ACCOUNT_KEYS,
    "copy_keeps_created",
    "port",
    *content_understanding.ACCOUNT_KEYS,
    *MANAGEMENT_ACCOUNT_KEYS,
)

DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
DEFAULT_RESOURCE_GROUP = "drplan-emulator"


def default_resource_id(account_name: str) -> str:
    """The ARM id an account gets when the config does not give one."""
    return (
        f"/subscriptions/{DEFAULT_SUBSCRIPTION}/resourceGroups/{DEFAULT_RESOURCE_GROUP}"
        f"/providers/Microsoft.CognitiveServices/accounts/{account_name}"
    )


def load_config(path: str | Path) -> EmulatorConfig:
    """Read and validate an emulator config file; raise :class:`ConfigError` naming the key on any problem."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the emulator config: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_config(data, source=str(path))


def parse_config(data: dict[str, Any], source: str = "<config>") -> EmulatorConfig:
    """Validate an already-parsed TOML document (see :func:`load_config`)."""
    ctx = Ctx(source)
    ctx.check_keys("", data, ("seed", "settings", "faults", "accounts", "management"))
    management = parse_management(ctx, ctx.table("management", data.get("management", {})))
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ctx.error("seed", "must be an integer")
    settings = apply_settings(Settings(), ctx.table("settings", data.get("settings", {})), ctx=ctx, where="settings")
    faults = apply_faults(Faults(), ctx.table("faults", data.get("faults", {})), ctx=ctx, where="faults")
    accounts_raw = ctx.table("accounts", data.get("accounts", {}))
    if not accounts_raw:
        raise ctx.error("accounts", "at least one [accounts.NAME] table is required")
    accounts: dict[str, AccountConfig] = {}
    seen_ids: dict[str, str] = {}
    for name, acc_raw in accounts_raw.items():
        acc = _parse_account(ctx, name, ctx.table(f"accounts.{name}", acc_raw))
        other = seen_ids.get(acc.resource_id.lower())
        if other is not None:
            raise ctx.error(f"accounts.{name}.resource_id", f"same resource id as account {other!r}")
        seen_ids[acc.resource_id.lower()] = name
        if acc.port:
            same_port = next((n for n, a in accounts.items() if a.port == acc.port), None)
            if same_port is not None:
                raise ctx.error(f"accounts.{name}.port", f"same port as account {same_port!r} (each account has an origin of its own)")
        accounts[name] = acc
    return EmulatorConfig(seed=seed, settings=settings, faults=faults, accounts=accounts, source=source,
                          management=management)


def apply_faults(base: Faults, values: dict[str, Any], *, ctx: Ctx | None = None, where: str = "faults") -> Faults:
    """Return a copy of ``base`` with ``values`` applied (validated; unknown keys rejected)."""
    ctx = ctx or Ctx("faults")
    validate_faults(values, ctx=ctx, where=where)
    out = dataclasses.replace(base)
    for key, value in values.items():
        if key == "routes":
            value = tuple(value)
        elif key != "slow":
            value = float(value)
        setattr(out, key, value)
    return out


def validate_faults(values: dict[str, Any], *, ctx: Ctx | None = None, where: str = "faults") -> None:
    """Check a (partial) table of fault keys."""
    ctx = ctx or Ctx("faults")
    ctx.check_keys(where, values, FAULT_KEYS)
    for key, value in values.items():
        path = f"{where}.{key}"
        if key == "slow":
            if not isinstance(value, bool):
                raise ctx.error(path, "must be true or false")
        elif key == "routes":
            if not isinstance(value, (list, tuple)) or not all(isinstance(r, str) for r in value):
                raise ctx.error(path, "must be a list of route names")
            unknown = [r for r in value if r not in ROUTES]
            if unknown:
                raise ctx.error(path, f"unknown route {unknown[0]!r}; known: {', '.join(ROUTES)}")
        elif key.endswith(("_rate", "_share")):
            number = ctx.number(path, value, minimum=0.0)
            if number > 1.0:
                raise ctx.error(path, "must be a probability between 0 and 1")
        else:
            ctx.number(path, value, minimum=0.0)


def _parse_account(ctx: Ctx, name: str, raw: dict[str, Any]) -> AccountConfig:
    where = f"accounts.{name}"
    if not ACCOUNT_NAME_RE.match(name):
        raise ctx.error(where, "account names must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ (they are admin URL path segments)")
    ctx.check_keys(where, raw, ACCOUNT_KEYS)
    for required in ("region", "key"):
        if required not in raw:
            raise ctx.error(f"{where}.{required}", "is required")
    region = ctx.string(f"{where}.region", raw["region"])
    if not REGION_RE.match(region):
        raise ctx.error(f"{where}.region", "must be a lowercase Azure region name such as 'eastus'")
    key = ctx.string(f"{where}.key", raw["key"])
    if not key:
        raise ctx.error(f"{where}.key", "must not be empty")
    resource_id = ctx.string(f"{where}.resource_id", raw.get("resource_id", default_resource_id(name)))
    if not resource_id.lower().startswith("/subscriptions/"):
        raise ctx.error(f"{where}.resource_id", "must be an ARM id starting with /subscriptions/")
    encryption = raw.get("encryption", "microsoft-managed")
    if encryption not in ENCRYPTION_MODES:
        raise ctx.error(f"{where}.encryption", f"must be one of {', '.join(ENCRYPTION_MODES)}")
    faults = ctx.table(f"{where}.faults", raw.get("faults", {}))
    validate_faults(faults, ctx=ctx, where=f"{where}.faults")
    family_fields = {  # in the order the keys are checked (the first error found is the one reported)
        **document_intelligence.parse_account(ctx, where, raw),
        **form_recognizer_v2.parse_account(ctx, where, raw),
        **language.parse_account(ctx, where, raw),
    }
    model_limit = ctx.integer(f"{where}.model_limit", raw.get("model_limit", 500), minimum=0)
    family_fields.update(content_understanding.parse_account(ctx, where, raw))
    return AccountConfig(
        name=name,
        region=region,
        key=key,
        resource_id=resource_id,
        encryption=encryption,
        model_limit=model_limit,
        faults=dict(faults),
        copy_keeps_created=ctx.boolean(f"{where}.copy_keeps_created", raw["copy_keeps_created"]) if "copy_keeps_created" in raw else None,
        port=_port(ctx, f"{where}.port", raw["port"]) if "port" in raw else None,
        kind=ctx.string(f"{where}.kind", raw.get("kind", "AIServices")),
        sku=ctx.string(f"{where}.sku", raw.get("sku", "S0")),
        public_network_access=_choice(ctx, f"{where}.public_network_access", raw.get("public_network_access", "Enabled"),
                                      ("Enabled", "Disabled")),
        arm_readable=ctx.boolean(f"{where}.arm_readable", raw.get("arm_readable", True)),
        **family_fields,
    )


def _choice(ctx: Ctx, path: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ctx.error(path, f"must be one of {', '.join(allowed)}")
    return str(value)


def _port(ctx: Ctx, path: str, value: Any) -> int:
    port = ctx.integer(path, value, minimum=0)
    if port > 65535:
        raise ctx.error(path, "must be a TCP port (0-65535; 0: any free port)")
    return port
