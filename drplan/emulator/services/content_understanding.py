"""Azure AI Content Understanding analyzers (contracts §5): config, store, wire shapes, routes and their handlers, and
the admin routes (seed / remove analyzers, set deployments).

Served at ``{account origin}/contentunderstanding/...`` with api-version ``2025-11-01`` (GA: analyzers, ``/defaults``,
``:grantCopyAuthorization`` + ``:copy``) and ``2025-05-01-preview`` (analyzers list/get/put/patch/delete and
``/analyzers/{id}/operations/{opId}`` only, contracts §5.5). An account with ``token_flow = true`` also answers the
preview-era token flow of contracts §5.4 (``:getCopyAuthorization`` and a token ``:copy``) on both versions.

The app routes ``/contentunderstanding/...`` here after its shared gateway steps (``EmulatorApp._service``), so
latency, the key check, the rate limit and the ``error``/``drop``/``drop_after`` faults apply exactly as for the other
families; ``slow`` and ``operation_failure_rate`` apply to analyzer creation (PUT) and copy operations.

Every error answered on a CU route carries ``x-ms-error-code`` equal to ``error.code`` (contracts §1, the spec's
``default`` response). The request id headers are the app's, for every family: ``apim-request-id`` (a new GUID) on
every answer [R: every response in the CU SDK recordings cited at the grant route] and ``x-ms-client-request-id``
echoed when sent [S: declared on the 2025-11-01 operations' answers]; the handlers here answer through
:class:`~..wire.Call`, which carries the app's headers into every answer. Decisions where the contracts are silent
are listed in the README ("Content Understanding").
Nothing here ever logs a key, token or encryption key.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import errors
from ..admin import account_or_404, admin_json, config_errors_as_400, read_body, remove_route, seed_route
from ..clock import Schedule, TimedJob, split_timestamp
from ..config_base import AccountConfig, Ctx
from ..store import SortedIds, Store
from ..wire import Call, decode_page_token, encode_page_token, read_json

PREFIX = "contentunderstanding"
GA = "2025-11-01"
PREVIEW = "2025-05-01-preview"
VERSIONS = (GA, PREVIEW)

ANALYZER_ID_RE = re.compile(r"^[a-zA-Z0-9._-]{1,64}$")
ANALYZER_STATUSES = ("creating", "ready", "deleting", "failed")
PROCESSING_LOCATIONS = ("geography", "dataZone", "global")

#: Route names (request log, counters, the ``routes`` fault filter).
ROUTE_NAMES = (
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
)
#: Routes that 2025-05-01-preview does not have (contracts §5.5); ``cu:copy`` is decided by its body (token or not).
GA_ONLY_ROUTES = frozenset({"cu:grantCopyAuthorization", "cu:defaults:get", "cu:defaults:patch"})

#: Definition keys (wire names) an analyzer carries, in the order the emulator writes them, per api-version.
GA_DEFINITION_KEYS = ("baseAnalyzerId", "config", "fieldSchema", "dynamicFieldSchema", "processingLocation", "knowledgeSources", "models")
PREVIEW_DEFINITION_KEYS = ("baseAnalyzerId", "config", "fieldSchema", "trainingData", "processingLocation", "mode", "knowledgeSources")
DEFINITION_KEYS: dict[str, tuple[str, ...]] = {GA: GA_DEFINITION_KEYS, PREVIEW: PREVIEW_DEFINITION_KEYS}
#: Read-only ContentAnalyzer properties: accepted in a PUT body and ignored.
READ_ONLY_KEYS = frozenset({"analyzerId", "status", "createdAt", "lastModifiedAt", "warnings", "supportedModels"})
#: Token-flow ``deployments`` override key per model role (contracts §5.4); other roles use their own name.
TOKEN_ROLE_KEYS = {"completion": "chatCompletion", "embedding": "embedding"}


# --- config ([accounts.NAME] additions) ---------------------------------------------------------------------------

ANALYZER_SEED_KEYS = (
    "analyzer_id",
    "description",
    "tags",
    "base_analyzer_id",
    "models",
    "config",
    "field_schema",
    "dynamic_field_schema",
    "processing_location",
    "knowledge_sources",
    "status",
    "created",
)
#: The account keys this family reads.
ACCOUNT_KEYS = ("deployments", "model_deployments", "token_flow", "analyzers")


@dataclass
class AnalyzerSeed:
    """One ``[[accounts.X.analyzers]]`` entry (also the body of ``POST /_emulator/accounts/{name}/analyzers``)."""

    analyzer_id: str
    definition: dict[str, Any] = field(default_factory=dict)  # wire keys: description, tags, baseAnalyzerId, ...
    status: str = "ready"
    created: dt.datetime | None = None  # None: the emulator's start time (config) / now (admin)


@dataclass
class CUAccountConfig:
    """The Content Understanding keys of one ``[accounts.NAME]`` table."""

    deployments: dict[str, str] = field(default_factory=dict)  # deployment name -> model it serves (ARM-side)
    #: deployment name -> its Resource Manager details (version, format, sku, capacity), for the management API
    deployment_details: dict[str, dict[str, Any]] = field(default_factory=dict)
    model_deployments: dict[str, str] = field(default_factory=dict)  # initial /defaults: model name -> deployment
    token_flow: bool = False
    analyzers: list[AnalyzerSeed] = field(default_factory=list)


def parse_account(ctx: Ctx, where: str, raw: dict[str, Any]) -> dict[str, Any]:
    """This family's keys of an ``[accounts.NAME]`` table (``config`` has already rejected unknown keys), as the
    :class:`~..config_base.AccountConfig` field ``cu``."""
    out = CUAccountConfig()
    out.deployments, out.deployment_details = parse_deployment_table(ctx, f"{where}.deployments",
                                                                     raw.get("deployments", {}))
    out.model_deployments = _string_map(ctx, f"{where}.model_deployments", raw.get("model_deployments", {}))
    token_flow = raw.get("token_flow", False)
    if not isinstance(token_flow, bool):
        raise ctx.error(f"{where}.token_flow", "must be true or false")
    out.token_flow = token_flow
    out.analyzers = ctx.unique_entries(f"{where}.analyzers", raw.get("analyzers", []), parse_analyzer_seed, "analyzer_id", "analyzer id")
    return {"cu": out}


def parse_analyzer_seed(entry: Any, where: str = "analyzer", source: str = "<request>") -> AnalyzerSeed:
    """Validate one ``[[analyzers]]`` entry; unknown keys are errors naming the TOML path."""
    ctx = Ctx(source)
    entry = ctx.table(where, entry)
    ctx.check_keys(where, entry, ANALYZER_SEED_KEYS)
    if "analyzer_id" not in entry:
        raise ctx.error(f"{where}.analyzer_id", "is required")
    analyzer_id = ctx.string(f"{where}.analyzer_id", entry["analyzer_id"])
    if not ANALYZER_ID_RE.match(analyzer_id):
        raise ctx.error(f"{where}.analyzer_id", f"{analyzer_id!r} must match {ANALYZER_ID_RE.pattern}")
    definition: dict[str, Any] = {}
    if entry.get("description") is not None:
        definition["description"] = ctx.description(f"{where}.description", entry["description"])
    if "tags" in entry:
        definition["tags"] = ctx.tags(f"{where}.tags", entry["tags"])
    if "base_analyzer_id" in entry:
        base = ctx.string(f"{where}.base_analyzer_id", entry["base_analyzer_id"])
        if not ANALYZER_ID_RE.match(base):
            raise ctx.error(f"{where}.base_analyzer_id", f"{base!r} must match {ANALYZER_ID_RE.pattern}")
        definition["baseAnalyzerId"] = base
    if "config" in entry:
        definition["config"] = _json_table(ctx, f"{where}.config", entry["config"])
    if "field_schema" in entry:
        definition["fieldSchema"] = _json_table(ctx, f"{where}.field_schema", entry["field_schema"])
    if "dynamic_field_schema" in entry:
        if not isinstance(entry["dynamic_field_schema"], bool):
            raise ctx.error(f"{where}.dynamic_field_schema", "must be true or false")
        definition["dynamicFieldSchema"] = entry["dynamic_field_schema"]
    if "processing_location" in entry:
        if entry["processing_location"] not in PROCESSING_LOCATIONS:
            raise ctx.error(f"{where}.processing_location", f"must be one of {', '.join(PROCESSING_LOCATIONS)}")
        definition["processingLocation"] = entry["processing_location"]
    if "knowledge_sources" in entry:
        sources = ctx.array(f"{where}.knowledge_sources", entry["knowledge_sources"])
        definition["knowledgeSources"] = [_json_table(ctx, f"{where}.knowledge_sources[{i}]", s) for i, s in enumerate(sources)]
    if "models" in entry:
        definition["models"] = _string_map(ctx, f"{where}.models", entry["models"])
    status = entry.get("status", "ready")
    if status not in ANALYZER_STATUSES:
        raise ctx.error(f"{where}.status", f"must be one of {', '.join(ANALYZER_STATUSES)}")
    return AnalyzerSeed(
        analyzer_id=analyzer_id,
        definition=definition,
        status=status,
        created=ctx.datetime(f"{where}.created", entry.get("created")),
    )


def parse_deployments(value: Any, where: str = "deployments", source: str = "<request>") -> dict[str, str]:
    """A deployment table (deployment name -> model name), as in the config file."""
    return _string_map(Ctx(source), where, value)


#: What a deployment given only by its model name answers on the management API (issue 15) [INF]: the values a
#: standard Azure OpenAI deployment shows.
DEPLOYMENT_DEFAULTS: dict[str, Any] = {"version": "1", "format": "OpenAI", "sku": "Standard", "capacity": 10}
_DEPLOYMENT_KEYS = ("model", "version", "format", "sku", "capacity")


def parse_deployment(ctx: Ctx, path: str, value: Any) -> tuple[str, dict[str, Any]]:
    """One deployment: a model name, or a table ``{model, version?, format?, sku?, capacity?}``."""
    if isinstance(value, str) and value:
        return value, dict(DEPLOYMENT_DEFAULTS)
    table = ctx.table(path, value)
    ctx.check_keys(path, table, _DEPLOYMENT_KEYS)
    if not isinstance(table.get("model"), str) or not table["model"]:
        raise ctx.error(f"{path}.model", "is required (the model the deployment serves)")
    details = dict(DEPLOYMENT_DEFAULTS)
    for key in ("version", "format", "sku"):
        if key in table:
            details[key] = ctx.string(f"{path}.{key}", table[key])
    if "capacity" in table:
        details["capacity"] = ctx.integer(f"{path}.capacity", table["capacity"], minimum=1)
    return table["model"], details


def parse_deployment_table(ctx: Ctx, path: str, value: Any) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """``deployments = { name = "model" | { model = ..., version = ..., sku = ..., capacity = ... } }``."""
    models: dict[str, str] = {}
    details: dict[str, dict[str, Any]] = {}
    for name, entry in ctx.table(path, value).items():
        if not name or not isinstance(entry, (str, dict)) or entry == "":
            raise ctx.error(path, "must be a table of non-empty string values (deployment name -> model) or of "
                                  "deployment tables { model, version, format, sku, capacity }")
        models[name], details[name] = parse_deployment(ctx, f"{path}.{name}", entry)
    return models, details


def account_config(acc: AccountConfig) -> CUAccountConfig:
    cfg = getattr(acc, "cu", None)
    return cfg if isinstance(cfg, CUAccountConfig) else CUAccountConfig()


def _string_map(ctx: Ctx, path: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and k and isinstance(v, str) and v for k, v in value.items()):
        raise ctx.error(path, "must be a table of non-empty string values")
    return dict(value)


def _json_table(ctx: Ctx, path: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ctx.error(path, "must be a table")
    _check_json(ctx, path, value)
    return copy.deepcopy(value)


def _check_json(ctx: Ctx, path: str, value: Any) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _check_json(ctx, f"{path}.{k}", v)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_json(ctx, f"{path}[{i}]", v)
    elif not isinstance(value, (str, int, float, bool)) or (isinstance(value, float) and not math.isfinite(value)):
        raise ctx.error(path, "must hold only JSON values (strings, numbers, booleans, arrays, tables)")


# --- errors (every one carries x-ms-error-code) ------------------------------------------------------------------


def cu_error(status: int, code: str, message: str, inner: str | None = None) -> errors.ServiceError:
    return errors.ServiceError(status, code, message, inner_code=inner, headers={errors.ERROR_CODE_HEADER: code})


def not_found_route() -> errors.ServiceError:
    """Unknown route / api-version: APIM's 404, as for the other families (plus x-ms-error-code)."""
    return errors.with_error_code(errors.resource_not_found())


def invalid(message: str, inner: str = "InvalidParameter") -> errors.ServiceError:
    return cu_error(400, "InvalidRequest", message, inner)


def missing(name: str) -> errors.ServiceError:
    return cu_error(400, "InvalidRequest", f"The parameter '{name}' is required.", "MissingParameter")


def analyzer_not_found(analyzer_id: str, inner: str | None = None) -> errors.ServiceError:
    return cu_error(404, "NotFound", f"Analyzer '{analyzer_id}' not found.", inner)


def analyzer_exists(analyzer_id: str) -> errors.ServiceError:
    return cu_error(
        409,
        "Conflict",
        f"Analyzer '{analyzer_id}' already exists. Set allowReplace=true to replace it.",
        "AnalyzerExists",
    )


def forbidden(message: str, inner: str) -> errors.ServiceError:
    return cu_error(403, "Forbidden", message, inner)


# --- records ------------------------------------------------------------------------------------------------------


@dataclass
class Analyzer:
    analyzer_id: str
    status: str
    created: float
    last_modified: float
    definition: dict[str, Any] = field(default_factory=dict)  # description, tags and the create-only keys (wire)
    warnings: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Grant:
    """A GA copy grant: server-side state on the SOURCE, keyed by (source analyzer id, target resource id)."""

    analyzer_id: str
    target_resource_id: str
    target_region: str  # lower case; the request's targetRegion, else the source's own region (checked at :copy)
    expires: float
    consumed: bool = False


@dataclass
class CopyToken:
    """A token-flow authorization (contracts §5.4), found by its token. Never logged."""

    token: str
    account: str  # the source account
    analyzer_id: str
    target: tuple[str, str] | None  # (account name, analyzer id) the token is locked to
    encryption_key: str | None
    expires: float
    used: bool = False


@dataclass
class Operation(TimedJob):
    """An analyzer creation (PUT) or copy, polled on the TARGET at ``/analyzers/{id}/operations/{opId}``."""

    NOT_STARTED = "NotStarted"  # CU spells its operation states in PascalCase
    RUNNING = "Running"

    operation_id: str
    seq: int
    account: str
    analyzer_id: str
    analyzer: Analyzer  # the record this operation completes (the one in the store, while it is still there)
    created: float
    duration: float
    failure: dict[str, Any] | None = None  # decided when accepted (operation_failure_rate)
    finished_at: float | None = None
    status: str | None = None  # final status once finished
    error: dict[str, Any] | None = None
    result: Analyzer | None = None  # snapshot at completion


@dataclass
class CUAccount:
    name: str
    analyzers: SortedIds
    defaults: dict[str, str]  # GET /defaults modelDeployments: model name -> deployment name
    deployments: dict[str, str]  # deployment name -> model (ARM-managed in Azure; admin API here)
    token_flow: bool
    #: deployment name -> version, format, sku, capacity (what the management API shows besides the model)
    deployment_details: dict[str, dict[str, Any]] = field(default_factory=dict)
    grants: dict[tuple[str, str], Grant] = field(default_factory=dict)  # (analyzer id, target resource id lower)
    operations: dict[str, Operation] = field(default_factory=dict)


# --- the store ----------------------------------------------------------------------------------------------------


class CUStore:
    """Every account's analyzers, defaults, deployments, grants, tokens and operations. Time, settings and the
    accounts' configs come from the shared :class:`~..store.Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.reset()

    def reset(self) -> None:
        self.accounts: dict[str, CUAccount] = {}
        self.tokens: dict[str, CopyToken] = {}
        self._schedule = Schedule()
        start = math.floor(self.store.now())
        for name, acc_cfg in self.store.accounts.items():
            cfg = account_config(acc_cfg)
            self.accounts[name] = CUAccount(
                name=name,
                analyzers=SortedIds(),
                defaults=dict(cfg.model_deployments),
                deployments=dict(cfg.deployments),
                token_flow=cfg.token_flow,
                deployment_details={k: dict(v) for k, v in cfg.deployment_details.items()},
            )
            for seed in cfg.analyzers:
                self.seed(name, seed, now=start)

    def now(self) -> float:
        """The clock, in whole milliseconds (what ``createdAt`` / ``lastModifiedAt`` show)."""
        return round(self.store.now(), 3)

    # -- seeding / admin

    def seed(self, account: str, seed: AnalyzerSeed, *, now: float | None = None, replace: bool = False) -> Analyzer:
        """Create an analyzer directly (as if built). ``replace`` keeps the old createdAt unless the seed names one
        and bumps lastModifiedAt."""
        acct = self.accounts[account]
        now = self.now() if now is None else now
        old: Analyzer | None = acct.analyzers.get(seed.analyzer_id)
        created = seed.created.timestamp() if seed.created else (old.created if (replace and old) else now)
        modified = created
        if replace and old is not None:
            modified = max(now, old.last_modified + 0.001, created)
        analyzer = Analyzer(
            analyzer_id=seed.analyzer_id,
            status=seed.status,
            created=created,
            last_modified=round(modified, 3),
            definition=copy.deepcopy(seed.definition),
        )
        acct.analyzers.put(seed.analyzer_id, analyzer)
        return analyzer

    def remove(self, account: str, analyzer_id: str) -> bool:
        return self.accounts[account].analyzers.remove(analyzer_id)

    # -- operations

    def start(self, account: str, analyzer: Analyzer, *, duration: float, fails: bool) -> Operation:
        op = Operation(
            operation_id=str(uuid.uuid4()),
            seq=self._schedule.next_seq(),
            account=account,
            analyzer_id=analyzer.analyzer_id,
            analyzer=analyzer,
            created=self.store.now(),
            duration=max(0.0, duration),
            failure=errors.injected_operation_failure().error_object() if fails else None,
        )
        self.accounts[account].operations[op.operation_id] = op
        self._schedule.add(op.ends_at, op.seq, account, op.operation_id)
        return op

    def settle(self) -> None:
        """Finish every operation whose time is up (called before each request)."""
        for account, op_id in self._schedule.due(self.store.now()):
            self._finish(self.accounts[account].operations[op_id])

    def _finish(self, op: Operation) -> None:
        op.finished_at = op.ends_at
        acct = self.accounts[op.account]
        if acct.analyzers.get(op.analyzer_id) is not op.analyzer:
            op.status = "Failed"
            op.error = {
                "code": "Conflict",
                "message": f"Analyzer '{op.analyzer_id}' was deleted or replaced before the operation completed.",
            }
            return
        if op.failure is not None:
            op.analyzer.status = "failed"
            op.status, op.error = "Failed", dict(op.failure)
            return
        op.analyzer.status = "ready"
        op.status, op.result = "Succeeded", copy.deepcopy(op.analyzer)

    def get_operation(self, account: str, analyzer_id: str, operation_id: str) -> Operation:
        op = self.accounts[account].operations.get(operation_id)
        now = self.store.now()
        if (
            op is None
            or op.analyzer_id != analyzer_id
            or (op.finished_at is not None and now >= op.finished_at + self.store.settings.operation_retention_seconds)
        ):
            raise cu_error(404, "NotFound", f"Operation '{operation_id}' not found for analyzer '{analyzer_id}'.")
        return op

    # -- deployments

    def check_deployments(self, account: str, models: dict[str, str], overrides: dict[str, str] | None) -> list[dict[str, Any]]:
        """The target-side model deployment rules (contracts §5.3 model-mismatch rules); returns warnings."""
        acct = self.accounts[account]
        warnings: list[dict[str, Any]] = []
        for role, model in models.items():
            key = TOKEN_ROLE_KEYS.get(role, role)
            deployment = (overrides or {}).get(key) or acct.defaults.get(model)
            if deployment is None:
                raise invalid(
                    f"No model deployment for role '{role}' (model '{model}', deployment: none): the target resource's "
                    f"default modelDeployments has no entry for '{model}'.",
                    "ModelDeploymentNotFound",
                )
            served = acct.deployments.get(deployment)
            if served is None:
                raise invalid(
                    f"Model deployment '{deployment}' for role '{role}' (model '{model}') does not exist on the target resource.",
                    "ModelDeploymentNotFound",
                )
            if served == model:
                continue
            if role == "embedding":
                raise invalid(
                    f"Embedding model mismatch for role '{role}': the analyzer uses '{model}' but deployment "
                    f"'{deployment}' serves '{served}'. The target's embedding model must be the same.",
                    "EmbeddingModelMismatch",
                )
            warnings.append(
                {
                    "code": "CompletionModelMismatch",
                    "message": f"Role '{role}' uses deployment '{deployment}', which serves model '{served}' instead of "
                    f"'{model}'; results may differ from the source analyzer.",
                }
            )
        return warnings

    # -- admin views

    def admin_view(self, account: str) -> dict[str, Any]:
        acct = self.accounts[account]
        return {
            "analyzers": list(acct.analyzers.order),
            "deployments": dict(acct.deployments),
            "model_deployments": dict(acct.defaults),
            "token_flow": acct.token_flow,
        }


# --- wire shapes --------------------------------------------------------------------------------------------------


def format_time(ts: float) -> str:
    """RFC 3339 UTC with ``Z``: whole seconds when the time has none, else milliseconds."""
    text, fraction = split_timestamp(ts, 3)
    return f"{text}Z" if fraction == "000" else f"{text}.{fraction}Z"


def format_grant_expiry(ts: float) -> str:
    """``expiresAt`` of a ``:grantCopyAuthorization`` answer as the live service writes it [R]: .NET round-trip time
    with up to 7 fractional digits (trailing zeros dropped) and a ``+00:00`` offset, not ``Z`` — e.g.
    ``2026-01-14T13:25:47.1575582+00:00`` and ``2026-03-26T16:35:58.30163+00:00`` in the recordings cited at the
    grant route (``Service._grant``)."""
    text, fraction = split_timestamp(ts, 7)
    digits = fraction.rstrip("0")
    return f"{text}.{digits}+00:00" if digits else f"{text}+00:00"


def analyzer_view(a: Analyzer, api_version: str) -> dict[str, Any]:
    """ContentAnalyzer for ``api_version``: absent optional keys are omitted; ``warnings`` only when non-empty."""
    d = a.definition
    body: dict[str, Any] = {"analyzerId": a.analyzer_id}
    if "description" in d:
        body["description"] = d["description"]
    if "tags" in d:
        body["tags"] = dict(d["tags"])
    body["status"] = a.status
    body["createdAt"] = format_time(a.created)
    body["lastModifiedAt"] = format_time(a.last_modified)
    if a.warnings:
        body["warnings"] = copy.deepcopy(a.warnings)
    for key in DEFINITION_KEYS[api_version]:
        if key in d:
            body[key] = copy.deepcopy(d[key])
    return body


def operation_view(op: Operation, now: float, api_version: str) -> dict[str, Any]:
    body: dict[str, Any] = {"id": op.operation_id, "status": op.status_at(now)}
    if op.status == "Succeeded" and op.result is not None:
        body["result"] = analyzer_view(op.result, api_version)
    if op.status == "Failed" and op.error is not None:
        body["error"] = dict(op.error)
    return body


# --- routes -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CURoute:
    name: str
    analyzer_id: str | None = None
    operation_id: str | None = None


def resolve_route(method: str, rest: str) -> CURoute | None:
    """Map ``METHOD /{rest}`` (the path after ``{origin}/contentunderstanding/``) to a route, or None."""
    parts = rest.split("/")
    if parts == ["analyzers"]:
        return CURoute("cu:analyzers:list") if method == "GET" else None
    if parts == ["defaults"]:
        return {"GET": CURoute("cu:defaults:get"), "PATCH": CURoute("cu:defaults:patch")}.get(method)
    if len(parts) == 2 and parts[0] == "analyzers" and parts[1]:
        analyzer_id, colon, action = parts[1].partition(":")
        if not analyzer_id:
            return None
        if colon:
            if method == "POST" and action in ("grantCopyAuthorization", "getCopyAuthorization", "copy"):
                return CURoute(f"cu:{action}", analyzer_id)
            return None
        verb = {"GET": "get", "PUT": "put", "PATCH": "patch", "DELETE": "delete"}.get(method)
        return CURoute(f"cu:analyzers:{verb}", analyzer_id) if verb else None
    if len(parts) == 4 and parts[0] == "analyzers" and parts[2] == "operations" and parts[1] and parts[3] and method == "GET":
        return CURoute("cu:operations:get", parts[1], parts[3])
    return None


def _decode_token(token: str) -> str:
    return decode_page_token(token, lambda: invalid("The parameter 'nextLink' is invalid: unknown continuation token."))


async def _read_json(request: Request) -> Any:
    return await read_json(request, lambda: invalid("The request body is not valid JSON."))


async def _merge_patch(request: Request) -> dict[str, Any]:
    """A PATCH body: ``application/merge-patch+json`` (§5.1; plain JSON accepted too), else 415."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype and ctype not in ("application/merge-patch+json", "application/json"):
        raise cu_error(415, "UnsupportedMediaType", f"Content-Type '{ctype}' is not supported; use application/merge-patch+json.")
    return _object(await _read_json(request))


def _object(body: Any, what: str = "request body") -> dict[str, Any]:
    if not isinstance(body, dict):
        raise invalid(f"The {what} must be a JSON object.")
    return body


def _allow_replace(request: Request) -> bool:
    value = request.query_params.get("allowReplace")
    if value is None:
        return False
    if value.lower() not in ("true", "false"):
        raise invalid("The parameter 'allowReplace' must be true or false.")
    return value.lower() == "true"


def _valid_target_id(analyzer_id: str) -> str:
    if not ANALYZER_ID_RE.match(analyzer_id):
        raise invalid(f"The analyzer id '{analyzer_id}' is invalid: it must match {ANALYZER_ID_RE.pattern}.")
    return analyzer_id


_ANALYZER_URL_PATH = re.compile(r"^/contentunderstanding/analyzers/([^/:]+)/?$")


def parse_analyzer_url(url: str, account_for_url: Callable[[str], str | None]) -> tuple[str, str] | None:
    """``{endpoint}/contentunderstanding/analyzers/{id}`` -> (account name, analyzer id): the account is the one whose
    origin the URL is on (``account_for_url``, e.g. ``EmulatorApp.account_for_url``); the query is ignored."""
    m = _ANALYZER_URL_PATH.match(urlsplit(url).path)
    account = account_for_url(url) if m else None
    return (account, m.group(1)) if m and account is not None else None


def _string_field(body: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise missing(name)
        return None
    if not isinstance(value, str) or not value:
        raise invalid(f"The parameter '{name}' must be a non-empty string.")
    return value


def _parse_definition(body: dict[str, Any], api_version: str) -> dict[str, Any]:
    """A PUT body (ContentAnalyzer) -> the stored definition; 400 ``InvalidRequest``/``InvalidParameter`` if malformed."""
    allowed = ("description", "tags", *DEFINITION_KEYS[api_version])
    definition: dict[str, Any] = {}
    for key, value in body.items():
        if key in READ_ONLY_KEYS:
            continue
        if key not in allowed:
            raise invalid(f"The property '{key}' is not a ContentAnalyzer property in api-version {api_version}.")
        if value is None:
            continue
        if key in ("description", "processingLocation", "mode") and not isinstance(value, str):
            raise invalid(f"The property '{key}' must be a string.")
        if key in ("tags", "models") and not (
            isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        ):
            raise invalid(f"The property '{key}' must be a map of strings.")
        if key in ("config", "fieldSchema", "trainingData") and not isinstance(value, dict):
            raise invalid(f"The property '{key}' must be an object.")
        if key == "fieldSchema" and not isinstance(value.get("fields"), dict):
            raise invalid("The property 'fieldSchema.fields' is required and must be an object.")
        if key == "dynamicFieldSchema" and not isinstance(value, bool):
            raise invalid("The property 'dynamicFieldSchema' must be a boolean.")
        if key == "knowledgeSources" and not (isinstance(value, list) and all(isinstance(s, dict) for s in value)):
            raise invalid("The property 'knowledgeSources' must be an array of objects.")
        if key == "baseAnalyzerId" and (not isinstance(value, str) or not ANALYZER_ID_RE.match(value)):
            raise invalid(f"The property 'baseAnalyzerId' must match {ANALYZER_ID_RE.pattern}.")
        if key == "processingLocation" and value not in PROCESSING_LOCATIONS:
            raise invalid(f"The property 'processingLocation' must be one of {', '.join(PROCESSING_LOCATIONS)}.")
        definition[key] = copy.deepcopy(value)
    return definition



def _patch_tags(current: dict[str, str], patch: dict[str, str | None]) -> dict[str, str]:
    """``tags`` after a merge-patch: a ``null`` value removes that tag."""
    merged = dict(current)
    for k, v in patch.items():
        if v is None:
            merged.pop(k, None)
        else:
            merged[k] = v
    return merged


def _source_ready(cu: CUStore, account: str, analyzer_id: str) -> Analyzer:
    source = cu.accounts[account].analyzers.get(analyzer_id)
    if source is None:
        raise cu_error(404, "NotFound", f"Source analyzer '{analyzer_id}' not found.", "SourceAnalyzerNotFound")
    if source.status != "ready":
        raise invalid(f"Source analyzer '{analyzer_id}' is not ready (status '{source.status}').", "SourceAnalyzerNotReady")
    return source


#: What a copy flow's authorization yields: the source account and analyzer, the deployment overrides, and the
#: callable that uses up the grant or token.
_CopySource = tuple[str, Analyzer, dict[str, str] | None, Callable[[], None]]


# --- the service ---------------------------------------------------------------------------------------------------


class Service:
    """The family as the app sees it: routes, handlers, reset/settle, admin routes. ``account_for_url`` finds the
    account an analyzer URL is on (the token flow names its source by URL)."""

    def __init__(self, store: Store, account_for_url: Callable[[str], str | None]) -> None:
        self.store = store
        self.account_for_url = account_for_url
        self.cu = CUStore(store)

    def reset(self) -> None:
        self.cu.reset()

    def settle(self) -> None:
        self.cu.settle()

    def resolve(self, method: str, prefix: str, rest: str, query: Mapping[str, str]) -> CURoute | None:
        return resolve_route(method, rest)

    def backend_error(self, route: CURoute | None, error: errors.ServiceError) -> errors.ServiceError:
        """Every answer on a CU path carries ``x-ms-error-code``, an unknown path's APIM 404 included."""
        return errors.with_error_code(error)

    async def dispatch(self, request: Request, account: str, route: CURoute | None, headers: dict[str, str]) -> Response:
        """Serve one CU request (after the app's gateway steps: key, rate limit, faults)."""
        api_version = request.query_params.get("api-version")
        if route is None or api_version is None or api_version not in VERSIONS:
            raise not_found_route()
        if api_version == PREVIEW and route.name in GA_ONLY_ROUTES:
            raise not_found_route()  # contracts §5.5: no grant, no /defaults on the preview
        if route.name == "cu:getCopyAuthorization" and not self.cu.accounts[account].token_flow:
            raise not_found_route()  # contracts §5.4: the token flow only where the account answers it
        return await _HANDLERS[route.name](self, Call(request, account, route, headers, api_version))

    # -- helpers of the handlers

    @staticmethod
    def _base(call: Call[CURoute]) -> str:
        return f"{call.origin}/{PREFIX}"  # the account's origin: the account is in the host only

    def _operation_location(self, call: Call[CURoute], analyzer_id: str, op: Operation) -> str:
        return f"{self._base(call)}/analyzers/{analyzer_id}/operations/{op.operation_id}?api-version={call.api_version}"

    def _begin(self, account: str, analyzer: Analyzer) -> Operation:
        """Start the operation that makes ``analyzer`` ready (a PUT or a copy), with the account's faults."""
        duration, fails = self.store.operation_timing(account)
        return self.cu.start(account, analyzer, duration=duration, fails=fails())  # drawn once per accepted operation

    def _analyzer(self, call: Call[CURoute]) -> Analyzer:
        assert call.route.analyzer_id is not None
        analyzer = self.cu.accounts[call.account].analyzers.get(call.route.analyzer_id)
        if analyzer is None:
            raise analyzer_not_found(call.route.analyzer_id)
        return analyzer

    def _create(self, account: str, analyzer_id: str, definition: dict[str, Any], warnings: list[dict[str, Any]]) -> tuple[Analyzer, Operation]:
        """Store a new ``creating`` analyzer (replacing any at once, allowReplace: README; ``lastModifiedAt`` then
        later than the old one's) and start the operation that makes it ready."""
        acct = self.cu.accounts[account]
        existing = acct.analyzers.get(analyzer_id)
        now = self.cu.now()
        if existing is not None:
            now = round(max(now, existing.last_modified + 0.001), 3)
        analyzer = Analyzer(analyzer_id, "creating", now, now, definition, warnings)
        acct.analyzers.put(analyzer_id, analyzer)
        return analyzer, self._begin(account, analyzer)

    def _creating(self, call: Call[CURoute], status: int, analyzer: Analyzer, op: Operation) -> Response:
        """The answer to a PUT or a copy: the ``creating`` analyzer and its ``Operation-Location``."""
        location = {"Operation-Location": self._operation_location(call, analyzer.analyzer_id, op)}
        return call.json(status, analyzer_view(analyzer, call.api_version), location)

    # -- handlers (one per route; ``_HANDLERS`` below)

    async def _list(self, call: Call[CURoute]) -> Response:
        acct = self.cu.accounts[call.account]
        token = call.query("nextLink")
        after = _decode_token(token) if token is not None else None
        ids = acct.analyzers.after(after, self.store.settings.page_size)
        body: dict[str, Any] = {"value": [analyzer_view(acct.analyzers.get(i), call.api_version) for i in ids]}
        if ids and acct.analyzers.has_after(ids[-1]):
            body["nextLink"] = f"{self._base(call)}/analyzers?nextLink={encode_page_token(ids[-1])}&api-version={call.api_version}"
        return call.json(200, body)

    async def _get_defaults(self, call: Call[CURoute]) -> Response:
        return call.json(200, {"modelDeployments": dict(self.cu.accounts[call.account].defaults)})

    async def _patch_defaults(self, call: Call[CURoute]) -> Response:
        acct = self.cu.accounts[call.account]
        patch = await _merge_patch(call.request)
        for key in patch:
            if key != "modelDeployments":
                raise invalid(f"The property '{key}' is not a ContentUnderstandingDefaults property.")
        deployments = patch.get("modelDeployments", {})
        if deployments is None:
            acct.defaults.clear()  # merge-patch null on the whole map
        elif not isinstance(deployments, dict) or not all(
            isinstance(k, str) and k and (v is None or (isinstance(v, str) and v)) for k, v in deployments.items()
        ):
            raise invalid("The property 'modelDeployments' must map model names to deployment names (or null to remove).")
        else:
            for model, deployment in deployments.items():
                if deployment is None:
                    acct.defaults.pop(model, None)
                else:
                    acct.defaults[model] = deployment
        return call.json(200, {"modelDeployments": dict(acct.defaults)})

    async def _get(self, call: Call[CURoute]) -> Response:
        return call.json(200, analyzer_view(self._analyzer(call), call.api_version))

    async def _delete(self, call: Call[CURoute]) -> Response:
        assert call.route.analyzer_id is not None
        if not self.cu.remove(call.account, call.route.analyzer_id):
            raise analyzer_not_found(call.route.analyzer_id)
        return call.empty(204)

    async def _patch(self, call: Call[CURoute]) -> Response:
        """JSON merge-patch of ``description`` and ``tags``; bumps ``lastModifiedAt`` by at least 1 ms."""
        analyzer = self._analyzer(call)
        patch = await _merge_patch(call.request)
        for key in patch:
            if key not in ("description", "tags"):
                raise invalid(f"The property '{key}' cannot be updated: only description and tags are mutable.")
        if "description" in patch and patch["description"] is not None and not isinstance(patch["description"], str):
            raise invalid("The property 'description' must be a string.")
        tags = patch.get("tags")
        if tags is not None and not (
            isinstance(tags, dict) and all(isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in tags.items())
        ):
            raise invalid("The property 'tags' must be a map of strings (null removes a tag).")
        if "description" in patch:
            if patch["description"] is None:
                analyzer.definition.pop("description", None)
            else:
                analyzer.definition["description"] = patch["description"]
        if "tags" in patch:
            if tags is None:
                analyzer.definition.pop("tags", None)
            else:
                analyzer.definition["tags"] = _patch_tags(analyzer.definition.get("tags", {}), tags)
        analyzer.last_modified = round(max(self.cu.now(), analyzer.last_modified + 0.001), 3)
        return call.json(200, analyzer_view(analyzer, call.api_version))

    async def _put(self, call: Call[CURoute]) -> Response:
        analyzer_id = call.route.analyzer_id
        assert analyzer_id is not None
        _valid_target_id(analyzer_id)
        allow_replace = _allow_replace(call.request)
        definition = _parse_definition(_object(await _read_json(call.request)), call.api_version)
        replaced = analyzer_id in self.cu.accounts[call.account].analyzers
        if replaced and not allow_replace:
            raise analyzer_exists(analyzer_id)
        warnings = self.cu.check_deployments(call.account, definition.get("models") or {}, None) if call.api_version == GA else []
        analyzer, op = self._create(call.account, analyzer_id, definition, warnings)
        return self._creating(call, 200 if replaced else 201, analyzer, op)

    async def _get_operation(self, call: Call[CURoute]) -> Response:
        assert call.route.analyzer_id is not None and call.route.operation_id is not None
        op = self.cu.get_operation(call.account, call.route.analyzer_id, call.route.operation_id)
        return call.json(200, operation_view(op, self.store.now(), call.api_version))

    async def _grant(self, call: Call[CURoute]) -> Response:
        """GA ``:grantCopyAuthorization`` on the SOURCE (contracts §5.3): server-side state, keyed by (analyzer,
        target resource id); a new grant replaces an older one."""
        analyzer_id = self._analyzer(call).analyzer_id  # 404 unless the analyzer exists
        body = _object(await _read_json(call.request))
        target_resource_id = _string_field(body, "targetAzureResourceId", required=True)
        # GrantCopyAuthorizationRequest.targetRegion: "Defaults to current region" [S contentunderstanding-2025-11-01]
        target_region = _string_field(body, "targetRegion", required=False) or self.store.accounts[call.account].region
        assert target_resource_id is not None
        expires = self.cu.now() + self.store.settings.authorization_ttl_seconds  # 24 h by default: expiresAt = Date + 24 h [R below]
        self.cu.accounts[call.account].grants[(analyzer_id, target_resource_id.lower())] = Grant(
            analyzer_id=analyzer_id,
            target_resource_id=target_resource_id,
            target_region=target_region.lower(),
            expires=expires,
        )
        # The answer is what the live service sends [R], not the spec's CopyAuthorization (which lists ``source`` as
        # required and has no ``targetRegion``): exactly {targetAzureResourceId, targetRegion, expiresAt}, the
        # target's id and region echoed, no ``source`` (nothing secret either: the grant is server-side state).
        # Recordings: Azure/azure-sdk-assets python/sdk/contentunderstanding/azure-ai-contentunderstanding/tests/
        # recordings/samples/test_sample_grant_copy_auth.pyTestSampleGrantCopyAuthtest_sample_grant_copy_auth.json
        # and its _async twin (Jan 2026), and js/sdk/contentunderstanding/ai-content-understanding/recordings/node/
        # sample_grantcopyauth/recording_should_verify_crossresource_copy_authorization_flow.json (Mar 2026). Their
        # conftest sanitizers only replace the values of targetAzureResourceId/targetRegion, they remove no key.
        payload = {
            "targetAzureResourceId": target_resource_id,
            "targetRegion": target_region,
            "expiresAt": format_grant_expiry(expires),
        }
        return call.json(200, payload)

    async def _get_copy_authorization(self, call: Call[CURoute]) -> Response:
        """Preview-era token flow (contracts §5.4) on the SOURCE: a token, optionally locked to a target URL."""
        analyzer_id = self._analyzer(call).analyzer_id  # 404 unless the analyzer exists
        raw = await _read_json(call.request)
        body = _object(raw) if raw is not None else {}
        target_url = _string_field(body, "target", required=False)
        encryption_key = _string_field(body, "encryptionKey", required=False)
        target = None
        if target_url is not None:
            target = parse_analyzer_url(target_url, self.account_for_url)
            if target is None or not ANALYZER_ID_RE.match(target[1]):
                raise invalid("The parameter 'target' must be an analyzer URL: {endpoint}/contentunderstanding/analyzers/{analyzerId}.")
        token = secrets.token_urlsafe(32)
        expires = self.cu.now() + self.store.settings.authorization_ttl_seconds
        self.cu.tokens[token] = CopyToken(token, call.account, analyzer_id, target, encryption_key, expires)
        payload = {"source": f"{self._base(call)}/analyzers/{analyzer_id}", "authorizationToken": token, "expiresAt": format_time(expires)}
        if target_url is not None:
            payload["target"] = target_url
        return call.json(200, payload)

    async def _copy(self, call: Call[CURoute]) -> Response:
        """``:copy`` on the TARGET, either flow: the flow's own authorization (GA grant, contracts §5.3, or preview-era
        token, §5.4), then the checks both share (self-copy, conflict, deployments), then the copy itself."""
        body = await _read_json(call.request)
        token_shaped = isinstance(body, dict) and "authorizationToken" in body
        if token_shaped and not self.cu.accounts[call.account].token_flow:
            raise not_found_route()
        if not token_shaped and call.api_version == PREVIEW:
            raise not_found_route()  # contracts §5.5: the preview has no GA copy
        allow_replace = _allow_replace(call.request)
        target_id = call.route.analyzer_id
        assert target_id is not None
        body = _object(body)
        _valid_target_id(target_id)
        authorize = self._token_copy_source if token_shaped else self._ga_copy_source
        source_account, source, overrides, consume = authorize(call.account, target_id, body)
        if source_account == call.account and source.analyzer_id == target_id:
            raise invalid(f"Analyzer '{target_id}' cannot be copied onto itself.")
        if target_id in self.cu.accounts[call.account].analyzers and not allow_replace:
            raise analyzer_exists(target_id)
        warnings = self.cu.check_deployments(call.account, dict(source.definition.get("models") or {}), overrides)
        consume()  # a grant or token is single use from the moment a copy is accepted
        analyzer, op = self._create(call.account, target_id, copy.deepcopy(source.definition), warnings)
        # GA (§5.3): 201 + the ContentAnalyzer, as the live service and the SDK (which rejects 202) expect. Token (§5.4):
        # 200 + Operation-Location; the body is the full ContentAnalyzer (a superset of the documented
        # {analyzerId, status: "creating"}).
        return self._creating(call, 200 if token_shaped else 201, analyzer, op)

    def _ga_copy_source(self, name: str, target_id: str, body: dict[str, Any]) -> _CopySource:
        """GA ``:copy`` (contracts §5.3): the source named by resource id and region, and the grant the source gave."""
        source_id = _string_field(body, "sourceAnalyzerId", required=True)
        resource_id = _string_field(body, "sourceAzureResourceId", required=False)
        region = _string_field(body, "sourceRegion", required=False)
        assert source_id is not None
        target_cfg = self.store.accounts[name]
        resource_id = resource_id or target_cfg.resource_id
        region = (region or target_cfg.region).lower()
        source_account = self.store.account_at(resource_id, region)
        if source_account is None:
            raise invalid(
                f"Source resource '{resource_id}' was not found in region '{region}'.",
                "SourceResourceNotFound",
            )
        source = _source_ready(self.cu, source_account, source_id)
        grant: Grant | None = None
        if source_account != name:
            grant = self.cu.accounts[source_account].grants.get((source_id, target_cfg.resource_id.lower()))
            self._check_grant(grant, source_id, resource_id, target_cfg)

        def consume() -> None:
            if grant is not None:
                grant.consumed = True

        return source_account, source, None, consume

    def _check_grant(self, grant: Grant | None, source_id: str, resource_id: str, target_cfg: AccountConfig) -> None:
        """The grant a GA copy needs from another resource: there, unused, unexpired, for the target's region."""
        if grant is None:
            raise forbidden(
                f"No copy authorization from '{resource_id}' for analyzer '{source_id}' to '{target_cfg.resource_id}': "
                f"call :grantCopyAuthorization on the source first.",
                "CopyAuthorizationNotFound",
            )
        if grant.consumed:
            raise forbidden(
                f"The copy authorization for analyzer '{source_id}' was already used; grant a new one.",
                "CopyAuthorizationUsed",
            )
        if self.store.now() >= grant.expires:
            raise forbidden(
                f"The copy authorization for analyzer '{source_id}' expired at {format_time(grant.expires)}.",
                "CopyAuthorizationExpired",
            )
        if grant.target_region != target_cfg.region.lower():
            raise forbidden(
                f"The copy authorization for analyzer '{source_id}' names region '{grant.target_region}', "
                f"not the target's region '{target_cfg.region}'.",
                "CopyAuthorizationRegionMismatch",
            )

    def _token_copy_source(self, name: str, target_id: str, body: dict[str, Any]) -> _CopySource:
        """Preview-era token ``:copy`` (contracts §5.4): the source named by URL, and the token it handed out."""
        source_url = _string_field(body, "source", required=True)
        token_value = _string_field(body, "authorizationToken", required=True)
        decryption_key = _string_field(body, "decryptionKey", required=False)
        overrides = body.get("deployments")
        if overrides is not None and not (
            isinstance(overrides, dict) and all(isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in overrides.items())
        ):
            raise invalid("The parameter 'deployments' must map roles (chatCompletion, embedding) to deployment names.")
        assert source_url is not None and token_value is not None
        ref = parse_analyzer_url(source_url, self.account_for_url)
        if ref is None or ref[0] not in self.cu.accounts:
            raise invalid(f"Source analyzer URL '{source_url}' does not name a known resource.", "SourceResourceNotFound")
        source_account, source_id = ref
        source = _source_ready(self.cu, source_account, source_id)
        token = self.cu.tokens.get(token_value)
        if token is None or token.account != source_account or token.analyzer_id != source_id:
            raise forbidden("The authorization token is not valid for this source analyzer.", "InvalidAuthorizationToken")
        if token.used:
            raise forbidden("The authorization token was already used; request a new one.", "AuthorizationTokenUsed")
        if self.store.now() >= token.expires:
            raise forbidden(f"The authorization token expired at {format_time(token.expires)}.", "AuthorizationExpired")
        if token.target is not None and token.target != (name, target_id):
            raise forbidden("The authorization token is locked to a different target analyzer.", "TargetMismatch")
        if token.encryption_key is not None and (
            decryption_key is None or not secrets.compare_digest(decryption_key.encode(), token.encryption_key.encode())
        ):
            raise invalid("The decryption key does not match the key the authorization token was encrypted with.", "InvalidDecryptionKey")

        def consume() -> None:
            token.used = True

        return source_account, source, {k: v for k, v in (overrides or {}).items() if v}, consume

    # -- admin

    def admin_routes(self) -> list[Route]:
        """``/_emulator/accounts/{name}/analyzers`` (POST seed / replace), ``.../analyzers/{id}`` (DELETE) and
        ``.../deployments`` (PUT)."""
        cu = self.cu
        return [
            seed_route(
                "/_emulator/accounts/{name}/analyzers",
                cu.accounts,
                parse_analyzer_seed,
                "analyzer",
                exists=lambda name, seed: seed.analyzer_id in cu.accounts[name].analyzers,
                conflict="account {name!r} already has an analyzer {seed.analyzer_id!r}",
                create=lambda name, seed, exists: analyzer_view(cu.seed(name, seed, replace=exists), GA),
                replaceable=True,
            ),
            remove_route("/_emulator/accounts/{name}/analyzers/{analyzer_id}", cu.accounts, "analyzer_id", "analyzer", cu.remove),
            Route("/_emulator/accounts/{name}/deployments", self._admin_put_deployments, methods=["PUT"]),
        ]

    async def _admin_put_deployments(self, request: Request) -> Response:
        name = account_or_404(self.cu.accounts, request.path_params["name"])
        body = await read_body(request)
        with config_errors_as_400():
            Ctx("<request>").check_keys("", body, ("deployments",))
            deployments, details = parse_deployment_table(Ctx("<request>"), "deployments", body.get("deployments"))
        acct = self.cu.accounts[name]
        acct.deployments = deployments
        acct.deployment_details = details
        return admin_json({"deployments": dict(acct.deployments)})

    def admin_view(self, account: str) -> dict[str, Any]:
        return self.cu.admin_view(account)  # analyzers, deployments, model_deployments, token_flow


_HANDLERS: dict[str, Callable[[Service, Call[CURoute]], Awaitable[Response]]] = {
    "cu:analyzers:list": Service._list,
    "cu:analyzers:get": Service._get,
    "cu:analyzers:put": Service._put,
    "cu:analyzers:patch": Service._patch,
    "cu:analyzers:delete": Service._delete,
    "cu:grantCopyAuthorization": Service._grant,
    "cu:getCopyAuthorization": Service._get_copy_authorization,
    "cu:copy": Service._copy,
    "cu:operations:get": Service._get_operation,
    "cu:defaults:get": Service._get_defaults,
    "cu:defaults:patch": Service._patch_defaults,
}
