"""What every emulator config parser builds on: :class:`ConfigError`, the dataclasses every family shares
(:class:`Settings`, :class:`Faults`, :class:`AccountConfig`, :class:`EmulatorConfig`) and :class:`Ctx`, the typed
checks whose errors name the file and the TOML path of the offending key.

``config.py`` reads the file (shared keys) and hands each family's keys to its service module
(``services/<family>.py``), which parses them with these checks; the admin API parses its request bodies with the same
code, so a seed posted to ``/_emulator/...`` is checked exactly like a config entry. This module imports nothing
else from the emulator, so every other module may import it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class ConfigError(ValueError):
    """The emulator configuration (file, or an admin request body) is invalid; the message names the key."""


@dataclass
class Settings:
    """``[settings]``: run-time knobs, changeable through ``PUT /_emulator/settings``."""

    page_size: int = 50
    copy_seconds: float = 2.0
    #: Form Recognizer v2.1 / v2.0 ``copyAuthorization`` and Content Understanding grants/tokens: 24 h, as recorded
    #: (contracts §4: ``expirationDateTimeTicks`` = issue time + 24 h [R]; §5).
    authorization_ttl_seconds: float = 86400.0
    #: DI v4 / FR v3 ``authorizeCopy`` (models and classifiers): 1 h. Contracts §2.4 "Token lifetime": every recording
    #: (2023 and 2024, models and classifiers) shows ``expirationDateTime`` = issue time + 1 h [R] (issue 13, point 3).
    di_authorization_ttl_seconds: float = 3600.0
    operation_retention_seconds: float = 86400.0
    retry_after_seconds: int = 1
    #: DI v4 / FR v3 copies keep the source's ``createdDateTime`` (the service before 2024) instead of getting the
    #: copy's completion time (the service since 2024; contracts §2.4 [R][SX]). Default for accounts that do not set
    #: ``copy_keeps_created`` themselves.
    copy_keeps_created: bool = False


@dataclass
class Faults:
    """``[faults]`` (defaults for every account) or ``[accounts.X.faults]`` (overrides for one account).

    ``routes`` restricts the probabilistic faults (``error_rate``, ``drop_rate``, ``drop_after_rate``) to the
    named routes (see ``config.ROUTES``); empty means every route. Latency, slow mode and the rate limit always
    apply to every route.
    """

    latency_ms: float = 0.0
    rate_limit_per_second: float = 0.0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    drop_after_rate: float = 0.0
    operation_failure_rate: float = 0.0
    throttle_share: float = 0.0  # of the ``error_rate`` faults, the share answered 429 (the rest: 503)
    retry_after_share: float = 0.0  # of the ``error_rate`` faults, the share that carries Retry-After
    slow: bool = False
    routes: tuple[str, ...] = ()


FAULT_KEYS = tuple(f.name for f in dataclasses.fields(Faults))
SETTING_KEYS = tuple(f.name for f in dataclasses.fields(Settings))


@dataclass
class AccountConfig:
    """``[accounts.NAME]``: one emulated Azure AI resource. The family fields hold what each family's service module
    parsed (``services/<family>.py``)."""

    name: str
    region: str
    key: str
    resource_id: str
    encryption: str = "microsoft-managed"
    model_limit: int = 500
    faults: dict[str, Any] = field(default_factory=dict)  # only the keys given (overrides of [faults])
    models: list[Any] = field(default_factory=list)  # document_intelligence.ModelSeed entries
    classifiers: list[Any] = field(default_factory=list)  # document_intelligence.ClassifierSeed entries
    v2_models: list[Any] = field(default_factory=list)  # form_recognizer_v2.V2ModelSeed entries
    cu: Any = None  # content_understanding.CUAccountConfig: deployments, model_deployments, token_flow, analyzers
    language_projects: list[Any] = field(default_factory=list)  # language.LanguageProjectSeed entries
    copy_keeps_created: bool | None = None  # None: [settings] copy_keeps_created (copies INTO this account)
    port: int | None = None  # the account's own listening port (its origin); None: a free port
    #: What the management API (``arm.py``, issue 15) shows besides region, endpoint, encryption and deployments.
    kind: str = "AIServices"
    sku: str = "S0"
    public_network_access: str = "Enabled"
    arm_readable: bool = True  # False: the management API answers 403 AuthorizationFailed (no Reader role)


@dataclass
class EmulatorConfig:
    """The whole file."""

    seed: int = 0
    settings: Settings = field(default_factory=Settings)
    faults: Faults = field(default_factory=Faults)
    accounts: dict[str, AccountConfig] = field(default_factory=dict)
    source: str = "<config>"
    #: ``[management]`` (``arm.ManagementConfig``): the bearer token the management API accepts.
    management: Any = None


class Ctx:
    """Where the value being checked comes from (a file name, ``<request>``...) and the checks every parser uses:
    each takes the TOML path of the value and raises a :class:`ConfigError` naming it."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, path: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {path}: {message}" if path else f"{self.source}: {message}")

    def check_keys(self, where: str, table: dict[str, Any], allowed: tuple[str, ...]) -> None:
        for key in table:
            if key not in allowed:
                path = f"{where}.{key}" if where else key
                raise self.error(path, f"unknown key (expected one of: {', '.join(allowed)})")

    def table(self, path: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(path, "must be a table")
        return value

    def array(self, path: str, value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise self.error(path, "must be an array of tables")
        return value

    def string(self, path: str, value: Any) -> str:
        if not isinstance(value, str):
            raise self.error(path, "must be a string")
        return value

    def integer(self, path: str, value: Any, *, minimum: int) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.error(path, "must be an integer")
        if value < minimum:
            raise self.error(path, f"must be >= {minimum}")
        return value

    def boolean(self, path: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.error(path, "must be true or false")
        return value

    def number(self, path: str, value: Any, *, minimum: float, exclusive: bool = False) -> float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise self.error(path, "must be a number")
        if value < minimum or (exclusive and value == minimum):
            raise self.error(path, f"must be {'>' if exclusive else '>='} {minimum:g}")
        return float(value)

    def description(self, path: str, value: Any) -> str | None:
        if value is None:
            return None
        value = self.string(path, value)
        if len(value) > 4096:
            raise self.error(path, "must be at most 4096 characters")
        return value

    def tags(self, path: str, value: Any) -> dict[str, str]:
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise self.error(path, "must be a table of string values")
        return dict(value)

    def datetime(self, path: str, value: Any) -> dt.datetime | None:
        """Accept a TOML datetime or an RFC 3339 string; naive values are taken as UTC."""
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = parse_timestamp(value)
            except ValueError:
                raise self.error(path, f"{value!r} is not an RFC 3339 date-time such as 2024-05-01T10:00:00Z") from None
        if not isinstance(value, dt.datetime):
            raise self.error(path, "must be a date-time such as 2024-05-01T10:00:00Z")
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)

    def unique_entries(self, where: str, raw: Any, parse: Callable[..., Any], key: str, what: str) -> list[Any]:
        """The array of tables at ``where``, each entry validated by ``parse(entry, where=..., source=...)``; an
        entry whose ``key`` repeats an earlier entry's is an error (``duplicate {what} ...``); a None ``key`` never is."""
        out: list[Any] = []
        seen: set[Any] = set()
        for i, entry in enumerate(self.array(where, raw)):
            seed = parse(entry, where=f"{where}[{i}]", source=self.source)
            value = getattr(seed, key)
            if value is not None:
                if value in seen:
                    raise self.error(f"{where}[{i}].{key}", f"duplicate {what} {value!r}")
                seen.add(value)
            out.append(seed)
        return out


def apply_settings(base: Settings, values: dict[str, Any], *, ctx: Ctx | None = None, where: str = "settings") -> Settings:
    """Return a copy of ``base`` with ``values`` applied (validated; unknown keys rejected)."""
    ctx = ctx or Ctx("settings")
    ctx.check_keys(where, values, SETTING_KEYS)
    out = dataclasses.replace(base)
    for key, value in values.items():
        path = f"{where}.{key}"
        if key == "page_size":
            out.page_size = ctx.integer(path, value, minimum=1)
        elif key == "retry_after_seconds":
            out.retry_after_seconds = ctx.integer(path, value, minimum=0)
        elif key in ("authorization_ttl_seconds", "di_authorization_ttl_seconds"):
            setattr(out, key, ctx.number(path, value, minimum=0.0, exclusive=True))
        elif key == "copy_keeps_created":
            out.copy_keeps_created = ctx.boolean(path, value)
        else:
            setattr(out, key, ctx.number(path, value, minimum=0.0))
    return out


def parse_timestamp(text: str) -> dt.datetime:
    """Parse an RFC 3339 timestamp (``Z`` or offset; up to 7 fractional digits, as Azure emits) to aware UTC."""
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    m = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$", s)
    if m and m.group(2) and len(m.group(2)) > 7:
        raise ValueError(text)
    if m and m.group(2):  # fromisoformat wants 3 or 6 digits on older Pythons; normalise to 6
        s = m.group(1) + (m.group(2) + "000000")[:7] + m.group(3)
    value = dt.datetime.fromisoformat(s)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)
