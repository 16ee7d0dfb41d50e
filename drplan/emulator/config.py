"""Emulator configuration: the TOML file described in ``drplan/emulator/README.md``.

``load_config`` reads the file with :mod:`tomllib` and returns frozen-ish dataclasses. Every validation error is a
:class:`ConfigError` whose message names the file and the TOML path of the offending key, e.g.
``emulator.toml: accounts.src.models[0].model_id: must match ^[a-zA-Z0-9][a-zA-Z0-9._~-]{1,63}$``.

The admin API (``POST /_emulator/accounts/{name}/models``) seeds models with the same keys as a ``[[models]]``
entry, so the entry parsers are public (:func:`parse_model_seed`, :func:`parse_classifier_seed`,
:func:`parse_v2_model_seed` for the Form Recognizer v2.x store's ``[[v2_models]]``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - pyproject pulls in tomli for 3.10
    import tomli as tomllib

#: Model and classifier ids (contracts §2: ``^[a-zA-Z0-9][a-zA-Z0-9._~-]{1,63}$``).
ASSET_ID_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._~-]{1,63}$")
#: Account names appear in admin URLs (``/_emulator/accounts/{name}/...``), so keep them to URL-safe characters.
ACCOUNT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
REGION_RE = re.compile(r"^[a-z0-9]{1,24}$")

ENCRYPTION_MODES = ("microsoft-managed", "customer-managed")
BUILD_MODES = ("template", "neural")
#: ``source_kind`` of a seeded classifier's doc types (ContentSourceKind values a classifier is trained from).
CLASSIFIER_SOURCE_KINDS = ("azureBlob", "azureBlobFileList")

#: Route names used by the request log, the counters and the ``routes`` fault filter; the single list (``cu.ROUTE_NAMES``
#: and ``language.ROUTE_NAMES`` are the ``cu:`` and ``language:`` names taken from it).
ROUTES = (
    "documentModels:list",
    "documentModels:get",
    "documentModels:delete",
    "documentModels:authorizeCopy",
    "documentModels:copyTo",
    "documentClassifiers:list",
    "documentClassifiers:get",
    "documentClassifiers:delete",
    "documentClassifiers:authorizeCopy",
    "documentClassifiers:copyTo",
    "operations:list",
    "operations:get",
    "info",
    # Form Recognizer v2.1 / v2.0 (path-versioned, contracts §4)
    "v2:custom/models:list",
    "v2:custom/models:summary",
    "v2:custom/models:get",
    "v2:custom/models:delete",
    "v2:copyAuthorization",
    "v2:copy",
    "v2:copyResults",
    # Azure AI Content Understanding (contracts §5; drplan/emulator/cu.py ROUTE_NAMES takes these)
    "cu:analyzers:list",
    "cu:analyzers:get",
    "cu:analyzers:put",
    "cu:analyzers:patch",
    "cu:analyzers:delete",
    "cu:grantCopyAuthorization",
    "cu:getCopyAuthorization",
    "cu:copy",
    "cu:operations:get",
    "cu:defaults:get",
    "cu:defaults:patch",
    # Azure AI Language authoring (contracts §6; drplan/emulator/language.py ROUTE_NAMES takes these)
    "language:projects:list",
    "language:projects:get",
    "language:projects:patch",
    "language:projects:delete",
    "language:export",
    "language:export:job",
    "language:export:result",
    "language:import",
    "language:import:job",
    "language:train",
    "language:train:job",
    "language:train:jobs",
    "language:train:cancel",
    "language:models:list",
    "language:models:get",
    "language:models:delete",
    "language:deployments:list",
    "language:deployments:get",
    "language:deployments:put",
    "language:deployments:delete",
    "language:deployments:job",
    "language:deletion:job",
    "language:training-config-versions",
    "unknown",
)

#: ``status`` of a v2 model (contracts §4 ModelInfo.status).
V2_MODEL_STATUSES = ("creating", "ready", "invalid")
#: The v2 API version a model was "trained" with (a GET through v2.0 of a v2.1 model is a 400 "1027").
V2_API_VERSIONS = ("2.1", "2.0")

DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
DEFAULT_RESOURCE_GROUP = "drplan-emulator"


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
    named routes (see :data:`ROUTES`); empty means every route. Latency, slow mode and the rate limit always
    apply to every route.
    """

    latency_ms: float = 0.0
    rate_limit_per_second: float = 0.0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    drop_after_rate: float = 0.0
    operation_failure_rate: float = 0.0
    slow: bool = False
    routes: tuple[str, ...] = ()


FAULT_KEYS = tuple(f.name for f in dataclasses.fields(Faults))
SETTING_KEYS = tuple(f.name for f in dataclasses.fields(Settings))


@dataclass
class ModelSeed:
    """One ``[[accounts.X.models]]`` entry: a custom model that exists when the emulator starts."""

    model_id: str
    description: str | None = None
    created: dt.datetime | None = None  # None: the emulator's start time (clock time at load/reset)
    expires: dt.datetime | None = None  # None: created + 2 years for api_version >= 2023-07-31
    api_version: str = "2024-11-30"
    build_mode: str = "template"
    tags: dict[str, str] = field(default_factory=dict)
    doc_types: tuple[str, ...] = ()  # empty: one doc type named like the model (what a template build yields)
    modified: dt.datetime | None = None  # None: = created (modifiedDateTime, shown on 2024-11-30 only)
    ready: bool = True  # False: still being built; copyTo answers 400 InvalidRequest/ModelNotReady (contracts §2.6)


@dataclass
class ClassifierSeed:
    """One ``[[accounts.X.classifiers]]`` entry."""

    classifier_id: str
    description: str | None = None
    created: dt.datetime | None = None
    expires: dt.datetime | None = None
    api_version: str = "2024-11-30"
    doc_types: tuple[str, ...] = ("class-a", "class-b")
    modified: dt.datetime | None = None  # None: = created
    source_kind: str = "azureBlob"  # docTypes.*.sourceKind: azureBlob (azureBlobSource) or azureBlobFileList


@dataclass
class V2ModelSeed:
    """One ``[[accounts.X.v2_models]]`` entry: a Form Recognizer v2.x custom model (a separate store, contracts §4)."""

    model_id: str | None = None  # canonical lowercase UUID; None: generated from the config seed
    model_name: str | None = None
    status: str = "ready"
    created: dt.datetime | None = None  # None: the emulator's start time
    last_updated: dt.datetime | None = None  # None: = created
    is_composed: bool = False
    api_version: str = "2.1"


@dataclass
class AccountConfig:
    """``[accounts.NAME]``: one emulated Azure AI resource."""

    name: str
    region: str
    key: str
    resource_id: str
    encryption: str = "microsoft-managed"
    model_limit: int = 500
    faults: dict[str, Any] = field(default_factory=dict)  # only the keys given (overrides of [faults])
    models: list[ModelSeed] = field(default_factory=list)
    classifiers: list[ClassifierSeed] = field(default_factory=list)
    v2_models: list[V2ModelSeed] = field(default_factory=list)
    cu: Any = None  # cu.CUAccountConfig: deployments, model_deployments, token_flow, analyzers (None: all defaults)
    language_projects: list[Any] = field(default_factory=list)  # language.LanguageProjectSeed entries
    copy_keeps_created: bool | None = None  # None: [settings] copy_keeps_created (copies INTO this account)
    port: int | None = None  # the account's own listening port (its origin); None: a free port


@dataclass
class EmulatorConfig:
    """The whole file."""

    seed: int = 0
    settings: Settings = field(default_factory=Settings)
    faults: Faults = field(default_factory=Faults)
    accounts: dict[str, AccountConfig] = field(default_factory=dict)
    source: str = "<config>"


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
    ctx = _Ctx(source)
    _check_keys(ctx, "", data, ("seed", "settings", "faults", "accounts"))
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ctx.error("seed", "must be an integer")
    settings = apply_settings(Settings(), _table(ctx, "settings", data.get("settings", {})), ctx=ctx, where="settings")
    faults = apply_faults(Faults(), _table(ctx, "faults", data.get("faults", {})), ctx=ctx, where="faults")
    accounts_raw = _table(ctx, "accounts", data.get("accounts", {}))
    if not accounts_raw:
        raise ctx.error("accounts", "at least one [accounts.NAME] table is required")
    accounts: dict[str, AccountConfig] = {}
    seen_ids: dict[str, str] = {}
    for name, acc_raw in accounts_raw.items():
        acc = _parse_account(ctx, name, _table(ctx, f"accounts.{name}", acc_raw))
        other = seen_ids.get(acc.resource_id.lower())
        if other is not None:
            raise ctx.error(f"accounts.{name}.resource_id", f"same resource id as account {other!r}")
        seen_ids[acc.resource_id.lower()] = name
        if acc.port:
            same_port = next((n for n, a in accounts.items() if a.port == acc.port), None)
            if same_port is not None:
                raise ctx.error(f"accounts.{name}.port", f"same port as account {same_port!r} (each account has an origin of its own)")
        accounts[name] = acc
    return EmulatorConfig(seed=seed, settings=settings, faults=faults, accounts=accounts, source=source)


def apply_settings(base: Settings, values: dict[str, Any], *, ctx: _Ctx | None = None, where: str = "settings") -> Settings:
    """Return a copy of ``base`` with ``values`` applied (validated; unknown keys rejected)."""
    ctx = ctx or _Ctx("settings")
    _check_keys(ctx, where, values, SETTING_KEYS)
    out = dataclasses.replace(base)
    for key, value in values.items():
        path = f"{where}.{key}"
        if key == "page_size":
            out.page_size = _int(ctx, path, value, minimum=1)
        elif key == "retry_after_seconds":
            out.retry_after_seconds = _int(ctx, path, value, minimum=0)
        elif key in ("authorization_ttl_seconds", "di_authorization_ttl_seconds"):
            setattr(out, key, _number(ctx, path, value, minimum=0.0, exclusive=True))
        elif key == "copy_keeps_created":
            out.copy_keeps_created = _bool(ctx, path, value)
        else:
            setattr(out, key, _number(ctx, path, value, minimum=0.0))
    return out


def apply_faults(base: Faults, values: dict[str, Any], *, ctx: _Ctx | None = None, where: str = "faults") -> Faults:
    """Return a copy of ``base`` with ``values`` applied (validated; unknown keys rejected)."""
    ctx = ctx or _Ctx("faults")
    validate_faults(values, ctx=ctx, where=where)
    out = dataclasses.replace(base)
    for key, value in values.items():
        if key == "routes":
            value = tuple(value)
        elif key != "slow":
            value = float(value)
        setattr(out, key, value)
    return out


def validate_faults(values: dict[str, Any], *, ctx: _Ctx | None = None, where: str = "faults") -> None:
    """Check a (partial) table of fault keys."""
    ctx = ctx or _Ctx("faults")
    _check_keys(ctx, where, values, FAULT_KEYS)
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
        elif key.endswith("_rate"):
            number = _number(ctx, path, value, minimum=0.0)
            if number > 1.0:
                raise ctx.error(path, "must be a probability between 0 and 1")
        else:
            _number(ctx, path, value, minimum=0.0)


def parse_model_seed(entry: Any, where: str = "model", source: str = "<request>") -> ModelSeed:
    """Validate one ``[[models]]`` entry (also the body of the admin seed call)."""
    ctx = _Ctx(source)
    entry = _table(ctx, where, entry)
    _check_keys(
        ctx, where, entry, ("model_id", "description", "created", "expires", "modified", "api_version", "build_mode", "tags", "doc_types", "ready")
    )
    if "model_id" not in entry:
        raise ctx.error(f"{where}.model_id", "is required")
    model_id = _asset_id(ctx, f"{where}.model_id", entry["model_id"])
    build_mode = entry.get("build_mode", "template")
    if build_mode not in BUILD_MODES:
        raise ctx.error(f"{where}.build_mode", f"must be one of {', '.join(BUILD_MODES)}")
    return ModelSeed(
        model_id=model_id,
        description=_description(ctx, f"{where}.description", entry.get("description")),
        created=_datetime(ctx, f"{where}.created", entry.get("created")),
        expires=_datetime(ctx, f"{where}.expires", entry.get("expires")),
        api_version=_string(ctx, f"{where}.api_version", entry.get("api_version", "2024-11-30")),
        build_mode=build_mode,
        tags=_tags(ctx, f"{where}.tags", entry.get("tags", {})),
        doc_types=_doc_types(ctx, f"{where}.doc_types", entry.get("doc_types", []), allow_empty=True),
        modified=_datetime(ctx, f"{where}.modified", entry.get("modified")),
        ready=_bool(ctx, f"{where}.ready", entry.get("ready", True)),
    )


def parse_classifier_seed(entry: Any, where: str = "classifier", source: str = "<request>") -> ClassifierSeed:
    """Validate one ``[[classifiers]]`` entry (also the body of the admin seed call)."""
    ctx = _Ctx(source)
    entry = _table(ctx, where, entry)
    _check_keys(ctx, where, entry, ("classifier_id", "description", "created", "expires", "modified", "api_version", "doc_types", "source_kind"))
    if "classifier_id" not in entry:
        raise ctx.error(f"{where}.classifier_id", "is required")
    seed = ClassifierSeed(
        classifier_id=_asset_id(ctx, f"{where}.classifier_id", entry["classifier_id"]),
        description=_description(ctx, f"{where}.description", entry.get("description")),
        created=_datetime(ctx, f"{where}.created", entry.get("created")),
        expires=_datetime(ctx, f"{where}.expires", entry.get("expires")),
        api_version=_string(ctx, f"{where}.api_version", entry.get("api_version", "2024-11-30")),
        modified=_datetime(ctx, f"{where}.modified", entry.get("modified")),
    )
    source_kind = entry.get("source_kind", "azureBlob")
    if source_kind not in CLASSIFIER_SOURCE_KINDS:
        raise ctx.error(f"{where}.source_kind", f"must be one of {', '.join(CLASSIFIER_SOURCE_KINDS)}")
    seed.source_kind = source_kind
    if "doc_types" in entry:
        seed.doc_types = _doc_types(ctx, f"{where}.doc_types", entry["doc_types"], allow_empty=False)
    return seed


V2_MODEL_KEYS = ("model_id", "model_name", "status", "created", "last_updated", "is_composed", "api_version")


def parse_v2_model_seed(entry: Any, where: str = "v2_model", source: str = "<request>") -> V2ModelSeed:
    """Validate one ``[[v2_models]]`` entry (also the body of ``POST /_emulator/accounts/{name}/v2_models``)."""
    ctx = _Ctx(source)
    entry = _table(ctx, where, entry)
    _check_keys(ctx, where, entry, V2_MODEL_KEYS)
    seed = V2ModelSeed()
    if "model_id" in entry:
        seed.model_id = parse_v2_model_id(entry["model_id"], ctx=ctx, where=f"{where}.model_id")
    if entry.get("model_name") is not None:
        name = _string(ctx, f"{where}.model_name", entry["model_name"])
        if len(name) > 1024:
            raise ctx.error(f"{where}.model_name", "must be at most 1024 characters")
        seed.model_name = name
    status = entry.get("status", "ready")
    if status not in V2_MODEL_STATUSES:
        raise ctx.error(f"{where}.status", f"must be one of {', '.join(V2_MODEL_STATUSES)}")
    seed.status = status
    seed.created = _datetime(ctx, f"{where}.created", entry.get("created"))
    seed.last_updated = _datetime(ctx, f"{where}.last_updated", entry.get("last_updated"))
    if seed.created and seed.last_updated and seed.last_updated < seed.created:
        raise ctx.error(f"{where}.last_updated", "must not be before created")
    is_composed = entry.get("is_composed", False)
    if not isinstance(is_composed, bool):
        raise ctx.error(f"{where}.is_composed", "must be true or false")
    seed.is_composed = is_composed
    api_version = entry.get("api_version", "2.1")
    if api_version not in V2_API_VERSIONS:
        raise ctx.error(f"{where}.api_version", f"must be one of {', '.join(V2_API_VERSIONS)}")
    seed.api_version = api_version
    if is_composed and api_version != "2.1":
        raise ctx.error(f"{where}.is_composed", "composed models exist from v2.1 on (api_version = \"2.1\")")
    return seed


def parse_v2_model_update(entry: Any, where: str = "v2_model", source: str = "<request>") -> dict[str, Any]:
    """Body of the admin "retrain" (``PATCH /_emulator/accounts/{name}/v2_models/{id}``): any of ``last_updated``
    (default: now), ``status``, ``model_name``. Returns only the keys given, validated."""
    ctx = _Ctx(source)
    entry = _table(ctx, where, entry)
    _check_keys(ctx, where, entry, ("last_updated", "status", "model_name"))
    out: dict[str, Any] = {"last_updated": _datetime(ctx, f"{where}.last_updated", entry.get("last_updated"))}
    if "status" in entry:
        if entry["status"] not in V2_MODEL_STATUSES:
            raise ctx.error(f"{where}.status", f"must be one of {', '.join(V2_MODEL_STATUSES)}")
        out["status"] = entry["status"]
    if "model_name" in entry:
        name = entry["model_name"]
        if name is not None and (not isinstance(name, str) or len(name) > 1024):
            raise ctx.error(f"{where}.model_name", "must be a string of at most 1024 characters (or null)")
        out["model_name"] = name
    return out


def parse_v2_model_id(value: Any, *, ctx: _Ctx | None = None, where: str = "model_id") -> str:
    """A v2 model id: any UUID spelling, returned in canonical lowercase form."""
    ctx = ctx or _Ctx("<request>")
    text = _string(ctx, where, value)
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise ctx.error(where, f"{text!r} must be a UUID (v2 model ids are server-generated UUIDs)") from None


# --- helpers -----------------------------------------------------------------------------------------------------


class _Ctx:
    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, path: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {path}: {message}" if path else f"{self.source}: {message}")


def _parse_account(ctx: _Ctx, name: str, raw: dict[str, Any]) -> AccountConfig:
    where = f"accounts.{name}"
    if not ACCOUNT_NAME_RE.match(name):
        raise ctx.error(where, "account names must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ (they are admin URL path segments)")
    _check_keys(
        ctx, where, raw, ("region", "key", "resource_id", "encryption", "model_limit", "faults", "models", "classifiers", "v2_models", "language_projects",
         "copy_keeps_created", "port", "deployments", "model_deployments", "token_flow", "analyzers")  # the last four: Content Understanding (cu.py)
    )
    for required in ("region", "key"):
        if required not in raw:
            raise ctx.error(f"{where}.{required}", "is required")
    region = _string(ctx, f"{where}.region", raw["region"])
    if not REGION_RE.match(region):
        raise ctx.error(f"{where}.region", "must be a lowercase Azure region name such as 'eastus'")
    key = _string(ctx, f"{where}.key", raw["key"])
    if not key:
        raise ctx.error(f"{where}.key", "must not be empty")
    resource_id = _string(ctx, f"{where}.resource_id", raw.get("resource_id", default_resource_id(name)))
    if not resource_id.lower().startswith("/subscriptions/"):
        raise ctx.error(f"{where}.resource_id", "must be an ARM id starting with /subscriptions/")
    encryption = raw.get("encryption", "microsoft-managed")
    if encryption not in ENCRYPTION_MODES:
        raise ctx.error(f"{where}.encryption", f"must be one of {', '.join(ENCRYPTION_MODES)}")
    faults = _table(ctx, f"{where}.faults", raw.get("faults", {}))
    validate_faults(faults, ctx=ctx, where=f"{where}.faults")
    models: list[ModelSeed] = unique_entries(ctx, f"{where}.models", raw.get("models", []), parse_model_seed, "model_id", "model id")
    classifiers: list[ClassifierSeed] = unique_entries(
        ctx, f"{where}.classifiers", raw.get("classifiers", []), parse_classifier_seed, "classifier_id", "classifier id"
    )
    v2_models: list[V2ModelSeed] = unique_entries(ctx, f"{where}.v2_models", raw.get("v2_models", []), parse_v2_model_seed, "model_id", "model id")
    from .language import parse_language_projects  # language.py imports this module; import it lazily

    language_projects = parse_language_projects(ctx, f"{where}.language_projects", raw.get("language_projects", []))
    return AccountConfig(
        name=name,
        region=region,
        key=key,
        resource_id=resource_id,
        encryption=encryption,
        model_limit=_int(ctx, f"{where}.model_limit", raw.get("model_limit", 500), minimum=0),
        faults=dict(faults),
        models=models,
        classifiers=classifiers,
        v2_models=v2_models,
        cu=_parse_cu(ctx, where, raw),
        language_projects=language_projects,
        copy_keeps_created=_bool(ctx, f"{where}.copy_keeps_created", raw["copy_keeps_created"]) if "copy_keeps_created" in raw else None,
        port=_port(ctx, f"{where}.port", raw["port"]) if "port" in raw else None,
    )


def _parse_cu(ctx: _Ctx, where: str, raw: dict[str, Any]) -> Any:
    """The Content Understanding keys of an account (``deployments``, ``model_deployments``, ``token_flow``,
    ``[[analyzers]]``); parsed by ``cu.py``, which imports this module, hence the lazy import."""
    from .cu import parse_account_config

    return parse_account_config(raw, where=where, source=ctx.source)


def unique_entries(ctx: _Ctx, where: str, raw: Any, parse: Callable[..., Any], key: str, what: str) -> list[Any]:
    """The array of tables at ``where``, each entry validated by ``parse(entry, where=..., source=...)``; an entry
    whose ``key`` repeats an earlier entry's is an error (``duplicate {what} ...``); a None ``key`` never is."""
    out: list[Any] = []
    seen: set[Any] = set()
    for i, entry in enumerate(_array(ctx, where, raw)):
        seed = parse(entry, where=f"{where}[{i}]", source=ctx.source)
        value = getattr(seed, key)
        if value is not None:
            if value in seen:
                raise ctx.error(f"{where}[{i}].{key}", f"duplicate {what} {value!r}")
            seen.add(value)
        out.append(seed)
    return out


def _check_keys(ctx: _Ctx, where: str, table: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for key in table:
        if key not in allowed:
            path = f"{where}.{key}" if where else key
            raise ctx.error(path, f"unknown key (expected one of: {', '.join(allowed)})")


def _table(ctx: _Ctx, path: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ctx.error(path, "must be a table")
    return value


def _array(ctx: _Ctx, path: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ctx.error(path, "must be an array of tables")
    return value


def _string(ctx: _Ctx, path: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ctx.error(path, "must be a string")
    return value


def _int(ctx: _Ctx, path: str, value: Any, *, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ctx.error(path, "must be an integer")
    if value < minimum:
        raise ctx.error(path, f"must be >= {minimum}")
    return value


def _bool(ctx: _Ctx, path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ctx.error(path, "must be true or false")
    return value


def _port(ctx: _Ctx, path: str, value: Any) -> int:
    port = _int(ctx, path, value, minimum=0)
    if port > 65535:
        raise ctx.error(path, "must be a TCP port (0-65535; 0: any free port)")
    return port


def _number(ctx: _Ctx, path: str, value: Any, *, minimum: float, exclusive: bool = False) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ctx.error(path, "must be a number")
    if value < minimum or (exclusive and value == minimum):
        raise ctx.error(path, f"must be {'>' if exclusive else '>='} {minimum:g}")
    return float(value)


def _asset_id(ctx: _Ctx, path: str, value: Any) -> str:
    value = _string(ctx, path, value)
    if not ASSET_ID_RE.match(value):
        raise ctx.error(path, f"{value!r} must match {ASSET_ID_RE.pattern}")
    return value


def _description(ctx: _Ctx, path: str, value: Any) -> str | None:
    if value is None:
        return None
    value = _string(ctx, path, value)
    if len(value) > 4096:
        raise ctx.error(path, "must be at most 4096 characters")
    return value


def _tags(ctx: _Ctx, path: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ctx.error(path, "must be a table of string values")
    return dict(value)


def _doc_types(ctx: _Ctx, path: str, value: Any, *, allow_empty: bool) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ctx.error(path, "must be a list of non-empty strings")
    if not value and not allow_empty:
        raise ctx.error(path, "must name at least one doc type")
    if len(set(value)) != len(value):
        raise ctx.error(path, "must not repeat a doc type")
    return tuple(value)


def _datetime(ctx: _Ctx, path: str, value: Any) -> dt.datetime | None:
    """Accept a TOML datetime or an RFC 3339 string; naive values are taken as UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = parse_timestamp(value)
        except ValueError:
            raise ctx.error(path, f"{value!r} is not an RFC 3339 date-time such as 2024-05-01T10:00:00Z") from None
    if not isinstance(value, dt.datetime):
        raise ctx.error(path, "must be a date-time such as 2024-05-01T10:00:00Z")
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


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
