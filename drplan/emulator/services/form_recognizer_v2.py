"""Form Recognizer v2.1 and v2.0: the path-versioned custom-model API and its older copy protocol (contracts §4).

Everything specific to the family is here: the ``[[v2_models]]`` config entries, the store, the routes and their
handlers, the wire shapes and the admin routes (seed, remove, "retrain" a v2 model). The error factories are in
``errors.py`` (the v2 section).

Served at ``{account origin}/formrecognizer/v2.1/...``, ``/formrecognizer/v2.0/...`` and
``/formrecognizer/v2.0-preview/...`` (the preview that introduced copy; same shapes as v2.0). There is no
api-version query: the version is the path segment.

Each account has a v2 model store of its own, separate from the v3/v4 store (contracts §4 [INF]). Model ids are
server-generated UUIDs; the *target* mints the id of a copy in ``copyAuthorization``.

Decisions where the contracts are silent (each is also in the README, "Form Recognizer v2.1 / v2.0"):

* The copy authorization's token is treated as a signed claim set: the source verifies it synchronously
  (unknown token, edited ``modelId``/``expirationDateTimeTicks`` or an expired token: 400 ``"1002"``), but it
  fetches the authorization *metadata* from the target asynchronously. So a target that ``targetResourceId`` +
  ``targetResourceRegion`` do not resolve to (lazy validation, recorded live) and an authorization that was already
  used both give 202 and then ``failed`` with ``"2024"`` "Could not retrieve authorization metadata..." and the code
  in the ``ms-azure-ai-errorcode`` header of the copy result (the 2021 recording; ``errors.V2_AUTHORIZATION_ERROR_CODE``).
* The minted id is invisible (GET 404 ``"1022"``, not listed, not counted) until a copy with its authorization is
  accepted; from then on it is a ``creating`` model until the copy ends: ``ready`` (with the source's attributes)
  on success, gone on failure. An unused authorization leaves nothing behind when it expires.
* The copied model keeps the source's ``createdDateTime`` and ``lastUpdatedDateTime`` (v2.0-preview recording).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import random
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import errors
from ..admin import AdminError, account_or_404, admin_json, config_errors_as_400, read_body, remove_route, seed_route
from ..clock import Schedule, TimedJob, format_timestamp, format_timestamp_7
from ..config_base import ConfigError, Ctx
from ..store import SortedIds, Store
from ..wire import Call, decode_page_token, encode_page_token, read_json

#: Path segment -> the API version it speaks. ``v2.0-preview`` introduced the copy operations (contracts §4).
V2_PATH_VERSIONS: dict[str, str] = {"v2.1": "2.1", "v2.0": "2.0", "v2.0-preview": "2.0"}

#: The copy request's patterns (CopyRequest in both spec files).
TARGET_RESOURCE_ID_RE = re.compile(r"^/subscriptions/[^/]*/resourceGroups/[^/]*/providers/Microsoft.CognitiveServices/accounts/[^/]*$")
TARGET_REGION_RE = re.compile(r"^[a-z0-9]+$")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

#: What a generated model "was trained on" (labeled training; the field names are generated, README).
TRAINING_DOCUMENTS = tuple(f"Form_{i}.jpg" for i in range(1, 6))
TRAINED_FIELDS = ("VendorName", "DocumentDate", "Total")
FIELD_ACCURACY = 0.95
INVALID_MODEL_ERROR = {"code": "2012", "message": "Unable to list blobs on the Azure blob storage account."}

#: Route names (request log, counters, the ``routes`` fault filter).
ROUTE_NAMES = (
    "v2:custom/models:list",
    "v2:custom/models:summary",
    "v2:custom/models:get",
    "v2:custom/models:delete",
    "v2:copyAuthorization",
    "v2:copy",
    "v2:copyResults",
)


# --- config: [[accounts.X.v2_models]] ----------------------------------------------------------------------------

#: ``status`` of a v2 model (contracts §4 ModelInfo.status).
V2_MODEL_STATUSES = ("creating", "ready", "invalid")
#: The v2 API version a model was "trained" with (a GET through v2.0 of a v2.1 model is a 400 "1027").
V2_API_VERSIONS = ("2.1", "2.0")
V2_MODEL_KEYS = ("model_id", "model_name", "status", "created", "last_updated", "is_composed", "api_version")
#: The account keys this family reads.
ACCOUNT_KEYS = ("v2_models",)


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


def parse_account(ctx: Ctx, where: str, raw: dict[str, Any]) -> dict[str, Any]:
    """This family's keys of an ``[accounts.NAME]`` table, as :class:`~..config_base.AccountConfig` fields."""
    return {"v2_models": ctx.unique_entries(f"{where}.v2_models", raw.get("v2_models", []), parse_v2_model_seed, "model_id", "model id")}


def parse_v2_model_seed(entry: Any, where: str = "v2_model", source: str = "<request>") -> V2ModelSeed:
    """Validate one ``[[v2_models]]`` entry (also the body of ``POST /_emulator/accounts/{name}/v2_models``)."""
    ctx = Ctx(source)
    entry = ctx.table(where, entry)
    ctx.check_keys(where, entry, V2_MODEL_KEYS)
    seed = V2ModelSeed()
    if "model_id" in entry:
        seed.model_id = parse_v2_model_id(entry["model_id"], ctx=ctx, where=f"{where}.model_id")
    if entry.get("model_name") is not None:
        name = ctx.string(f"{where}.model_name", entry["model_name"])
        if len(name) > 1024:
            raise ctx.error(f"{where}.model_name", "must be at most 1024 characters")
        seed.model_name = name
    seed.status = _status(ctx, f"{where}.status", entry.get("status", "ready"))
    seed.created = ctx.datetime(f"{where}.created", entry.get("created"))
    seed.last_updated = ctx.datetime(f"{where}.last_updated", entry.get("last_updated"))
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
    ctx = Ctx(source)
    entry = ctx.table(where, entry)
    ctx.check_keys(where, entry, ("last_updated", "status", "model_name"))
    out: dict[str, Any] = {"last_updated": ctx.datetime(f"{where}.last_updated", entry.get("last_updated"))}
    if "status" in entry:
        out["status"] = _status(ctx, f"{where}.status", entry["status"])
    if "model_name" in entry:
        name = entry["model_name"]
        if name is not None and (not isinstance(name, str) or len(name) > 1024):
            raise ctx.error(f"{where}.model_name", "must be a string of at most 1024 characters (or null)")
        out["model_name"] = name
    return out


def parse_v2_model_id(value: Any, *, ctx: Ctx | None = None, where: str = "model_id") -> str:
    """A v2 model id: any UUID spelling, returned in canonical lowercase form."""
    ctx = ctx or Ctx("<request>")
    text = ctx.string(where, value)
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise ctx.error(where, f"{text!r} must be a UUID (v2 model ids are server-generated UUIDs)") from None


def _status(ctx: Ctx, path: str, value: Any) -> str:
    if value not in V2_MODEL_STATUSES:
        raise ctx.error(path, f"must be one of {', '.join(V2_MODEL_STATUSES)}")
    return value


# --- routes -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class V2Route:
    """A resolved v2 route: its name (counters, request log, ``routes`` fault filter) and path parameters."""

    name: str
    version: str  # the path segment as served: "v2.1", "v2.0" or "v2.0-preview"
    model_id: str | None = None
    result_id: str | None = None

    @property
    def api(self) -> str:
        """The API version spoken: "2.1" or "2.0"."""
        return V2_PATH_VERSIONS[self.version]


def is_v2_path(rest: str) -> bool:
    """True when ``rest`` (the path after ``/formrecognizer/``) starts with a v2 version segment."""
    return rest.split("/", 1)[0].lower() in V2_PATH_VERSIONS


def resolve_v2_route(method: str, rest: str, op: str | None) -> V2Route | None:
    """Map ``METHOD /formrecognizer/{rest}`` to a v2 route, or None (APIM 404).

    Fixed segments compare case-insensitively: the live service hands out ``.../copyresults/{id}`` in
    ``Operation-Location`` while the spec path says ``copyResults`` (contracts §4).
    """
    version, _, path = rest.partition("/")
    version = version.lower()
    if version not in V2_PATH_VERSIONS:
        return None
    parts = path.split("/")
    if any(not p for p in parts) or len(parts) < 2 or [p.lower() for p in parts[:2]] != ["custom", "models"]:
        return None
    tail = parts[2:]
    lowered = [p.lower() for p in tail]
    if not tail:
        if method == "GET":
            return V2Route("v2:custom/models:summary" if op == "summary" else "v2:custom/models:list", version)
        return None
    if len(tail) == 1:
        if lowered[0] == "copyauthorization" and method == "POST":
            return V2Route("v2:copyAuthorization", version)
        if method == "GET":  # (a GET of ".../copyAuthorization" is a GET of a model with that id: 404 "1022")
            return V2Route("v2:custom/models:get", version, tail[0])
        if method == "DELETE":
            return V2Route("v2:custom/models:delete", version, tail[0])
        return None
    if len(tail) == 2 and lowered[1] == "copy" and method == "POST":
        return V2Route("v2:copy", version, tail[0])
    if len(tail) == 3 and lowered[1] == "copyresults" and method == "GET":
        return V2Route("v2:copyResults", version, tail[0], tail[2])
    return None


# --- records ----------------------------------------------------------------------------------------------------------


@dataclass
class V2Model:
    """A v2 custom model. ``copy_result_id`` is set on the ``creating`` model a copy in flight will fill."""

    model_id: str
    created: float
    last_updated: float
    status: str = "ready"
    model_name: str | None = None
    is_composed: bool = False
    api_version: str = "2.1"
    copy_result_id: str | None = None


@dataclass
class V2Authorization:
    """What ``copyAuthorization`` issued on a target; found by its token."""

    token: str
    account: str  # the target
    model_id: str  # the minted target id
    expires: int  # epoch seconds, = expirationDateTimeTicks
    consumed: bool = False


@dataclass
class V2CopyOperation(TimedJob):
    """A copy, living on the source account and polled at ``.../copyResults/{result_id}``."""

    result_id: str
    seq: int
    account: str  # source
    source_model_id: str
    target_model_id: str  # copyAuthorization.modelId (copyResult.modelId, present from the first poll [R])
    created: float
    duration: float
    target_account: str | None  # None: the target could not be resolved
    snapshot: V2Model | None  # the model to create on success
    placeholder: V2Model | None  # the target's ``creating`` model, if the target accepted the copy
    failure: dict[str, str] | None  # decided when accepted (resolution, reuse, limit, CMK, injected fault)
    finished_at: float | None = None
    status: str | None = None
    errors: list[dict[str, str]] = field(default_factory=list)


@dataclass
class V2Account:
    """One account's v2 state."""

    name: str
    models: SortedIds  # of V2Model
    authorizations: dict[str, V2Authorization] = field(default_factory=dict)  # by model id (one per minted id)
    operations: dict[str, V2CopyOperation] = field(default_factory=dict)
    last_changed: float = 0.0  # summary.lastUpdatedDateTime
    generated_ids: int = 0  # how many ids were generated for seeds without one (deterministic from the seed)

    def reserved(self, model_id: str, now: float) -> bool:
        """An unused, unexpired authorization holds this id."""
        auth = self.authorizations.get(model_id)
        return auth is not None and not auth.consumed and now < auth.expires


# --- the store --------------------------------------------------------------------------------------------------------


class V2Store:
    """All accounts' v2 models, authorizations and copy operations. Time, settings and accounts come from the
    owning :class:`~.store.Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.reset()

    def reset(self) -> None:
        """Back to the state the config file describes."""
        self.accounts: dict[str, V2Account] = {}
        self.tokens: dict[str, V2Authorization] = {}
        self._schedule = Schedule()
        now = self._now()
        for name, acc_cfg in self.store.accounts.items():
            self.accounts[name] = V2Account(name=name, models=SortedIds(), last_changed=math.floor(now))
            for seed in acc_cfg.v2_models:
                self.seed(name, seed, now=now)
            self.accounts[name].last_changed = math.floor(now)

    def _now(self) -> float:
        return self.store.now()

    def _touch(self, account: str) -> None:
        self.accounts[account].last_changed = math.floor(self._now())

    # -- seeding / admin

    def generated_id(self, account: str) -> str:
        """A UUID from the config seed, the account name and a counter: the same after every reset."""
        acct = self.accounts[account]
        acct.generated_ids += 1
        rng = random.Random(f"{self.store.config.seed}/{account}/v2-model/{acct.generated_ids}")
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    def taken(self, account: str, model_id: str) -> bool:
        acct = self.accounts[account]
        return model_id in acct.models or acct.reserved(model_id, self._now())

    def seed(self, account: str, seed: V2ModelSeed, *, now: float | None = None) -> V2Model:
        """Create a model directly (as if trained)."""
        now = self._now() if now is None else now
        model_id = seed.model_id or self.generated_id(account)
        created = seed.created.timestamp() if seed.created else math.floor(now)
        last_updated = seed.last_updated.timestamp() if seed.last_updated else created
        model = V2Model(
            model_id=model_id,
            created=created,
            last_updated=max(last_updated, created),
            status=seed.status,
            model_name=seed.model_name,
            is_composed=seed.is_composed,
            api_version=seed.api_version,
        )
        self.accounts[account].models.put(model_id, model)
        self._touch(account)
        return model

    def remove(self, account: str, model_id: str) -> bool:
        """Out-of-band removal (admin API); also what the service DELETE does."""
        if not self.accounts[account].models.remove(model_id):
            return False
        self._touch(account)
        return True

    def retrain(self, account: str, model_id: str, changes: dict[str, Any]) -> V2Model | None:
        """Admin "retrain": new lastUpdatedDateTime (default now), optionally a new status / modelName."""
        model = self.accounts[account].models.get(model_id)
        if model is None:
            return None
        updated = changes.get("last_updated")
        model.last_updated = updated.timestamp() if updated is not None else math.floor(self._now())
        if "status" in changes:
            model.status = changes["status"]
        if "model_name" in changes:
            model.model_name = changes["model_name"]
        self._touch(account)
        return model

    # -- reads

    def get(self, account: str, model_id: str, api: str) -> V2Model:
        model = self.accounts[account].models.get(_canonical(model_id) or model_id)
        if model is None:
            raise errors.v2_model_not_found(model_id)
        if api == "2.0" and model.api_version != "2.0":
            raise errors.v2_incompatible_api_version()  # azure-sdk-for-net #14607
        return model

    def list_page(self, account: str, after: str | None) -> tuple[list[V2Model], str | None]:
        """A page of models by id; the continuation key is the last id returned."""
        models = self.accounts[account].models
        ids = models.after(after, self.store.settings.page_size)
        items = [models.get(i) for i in ids]
        more = bool(ids) and models.has_after(ids[-1])
        return items, (ids[-1] if more else None)

    def count(self, account: str) -> int:
        return len(self.accounts[account].models)

    def delete(self, account: str, model_id: str) -> None:
        canonical = _canonical(model_id)
        if canonical is None or not self.remove(account, canonical):
            raise errors.v2_model_not_found(model_id)

    # -- copy: authorize on the target

    def authorize(self, account: str) -> V2Authorization:
        """``POST custom/models/copyAuthorization`` on the TARGET: mint an id and a token (contracts §4)."""
        now = self._now()
        acct = self.accounts[account]
        model_id = str(uuid.uuid4())
        while model_id in acct.models or model_id in acct.authorizations:  # pragma: no cover - a UUID4 collision
            model_id = str(uuid.uuid4())
        auth = V2Authorization(
            token=secrets.token_urlsafe(32),
            account=account,
            model_id=model_id,
            expires=math.floor(now + self.store.settings.authorization_ttl_seconds),
        )
        acct.authorizations[model_id] = auth
        self.tokens[auth.token] = auth
        return auth

    # -- copy: copy on the source

    def copy(
        self,
        account: str,
        model_id: str,
        body: Any,
        *,
        allow_degrade: bool,
        duration: float,
        result_id: str,
        inject_failure: Callable[[], bool] = lambda: False,
    ) -> V2CopyOperation:
        """``POST custom/models/{id}/copy`` on the SOURCE: synchronous checks, then the copy runs (or fails) lazily."""
        source_acct = self.accounts[account]
        canonical = _canonical(model_id)
        source = source_acct.models.get(canonical) if canonical else None
        if source is None:
            raise errors.v2_model_not_found(model_id)
        if source.status != "ready":
            raise errors.v2_bad_request(f"Model with 'id={canonical}' is not ready (status '{source.status}') and cannot be copied.")
        resource_id, region, claims = _parse_copy_request(body)
        now = self._now()
        auth = self.tokens.get(claims["accessToken"])
        if auth is None or claims["modelId"] != auth.model_id or claims["expirationDateTimeTicks"] != auth.expires:
            raise errors.v2_authorization_invalid()
        if now >= auth.expires:
            raise errors.v2_authorization_expired(format_timestamp(auth.expires))

        # Accepted. From here on everything is reported through the copy result (lazy validation, contracts §4).
        target_name = self.store.account_at(resource_id, region)
        placeholder, failure = self._accept_copy(account, target_name, auth, now, result_id, allow_degrade, inject_failure)
        op = V2CopyOperation(
            result_id=result_id,
            seq=self._schedule.next_seq(),
            account=account,
            source_model_id=source.model_id,
            target_model_id=claims["modelId"],
            created=now,
            duration=max(0.0, duration),
            target_account=target_name,
            snapshot=dataclasses.replace(source, model_id=claims["modelId"], copy_result_id=None),
            placeholder=placeholder,
            failure=failure,
        )
        source_acct.operations[result_id] = op
        self._schedule.add(op.ends_at, op.seq, account, result_id)
        return op

    def _accept_copy(
        self,
        account: str,
        target_name: str | None,
        auth: V2Authorization,
        now: float,
        result_id: str,
        allow_degrade: bool,
        inject_failure: Callable[[], bool],
    ) -> tuple[V2Model | None, dict[str, str] | None]:
        """What the target makes of an accepted copy: the ``creating`` placeholder it holds for the copy (None if it
        holds none) and the failure the copy will end with (None: it will succeed, unless the target changes)."""
        if target_name is None or target_name != auth.account or auth.consumed:
            return None, errors.v2_copy_authorization_error()
        auth.consumed = True  # single use from the moment the target hands out the metadata
        target = self.accounts[target_name]
        target_cfg = self.store.accounts[target_name]
        if len(target.models) >= target_cfg.model_limit:
            return None, errors.v2_copy_model_limit(target_cfg.model_limit)
        placeholder = V2Model(
            model_id=auth.model_id,
            created=math.floor(now),
            last_updated=math.floor(now),
            status="creating",
            copy_result_id=result_id,
        )
        target.models.put(auth.model_id, placeholder)
        self._touch(target_name)
        failure = None
        source_cfg = self.store.accounts[account]
        if source_cfg.encryption == "customer-managed" and target_cfg.encryption == "microsoft-managed" and not allow_degrade:
            enc = errors.encryption_downgrade()
            failure = errors.v2_copy_error(enc.code, enc.message)
        elif inject_failure():  # drawn only for copies that would otherwise go ahead
            inj = errors.injected_operation_failure()
            failure = errors.v2_copy_error(inj.code, inj.message)
        return placeholder, failure

    def settle(self) -> None:
        """Finish every copy whose time is up (called before each request and after the clock moves)."""
        for account, result_id in self._schedule.due(self._now()):
            self._finish(self.accounts[account].operations[result_id])

    def _finish(self, op: V2CopyOperation) -> None:
        op.finished_at = op.ends_at
        failure = op.failure
        target = self.accounts[op.target_account] if op.target_account else None
        if failure is None and target is not None:
            current = target.models.get(op.target_model_id)
            if current is not op.placeholder:
                failure = errors.v2_copy_target_gone(op.target_model_id)
            else:
                limit = self.store.accounts[target.name].model_limit
                if len(target.models) - 1 >= limit:  # out-of-band seeds filled the target meanwhile
                    failure = errors.v2_copy_model_limit(limit)
        if target is not None and op.placeholder is not None and target.models.get(op.target_model_id) is op.placeholder:
            target.models.pop(op.target_model_id)
            if failure is None:
                assert op.snapshot is not None
                target.models.put(op.target_model_id, op.snapshot)
            target.last_changed = math.floor(op.ends_at)
        if failure is not None:
            op.status, op.errors = "failed", [failure]
        else:
            op.status = "succeeded"

    def get_copy_result(self, account: str, model_id: str, result_id: str) -> V2CopyOperation:
        op = self.accounts[account].operations.get(_canonical(result_id) or result_id)
        now = self._now()
        if (
            op is None
            or op.source_model_id != _canonical(model_id)
            or (op.finished_at is not None and now >= op.finished_at + self.store.settings.operation_retention_seconds)
        ):
            raise errors.v2_copy_result_not_found(result_id)
        return op


def _canonical(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def _parse_copy_request(body: Any) -> tuple[str, str, dict[str, Any]]:
    """Check a CopyRequest against the spec's schema (required fields, patterns, lengths); 400 ``"1002"`` if not."""
    if not isinstance(body, dict):
        raise errors.v2_bad_request("The copy request body is missing or is not a JSON object.")
    for name in ("targetResourceId", "targetResourceRegion", "copyAuthorization"):
        if body.get(name) is None:
            raise errors.v2_bad_request(f"The parameter '{name}' is required.")
    resource_id, region, claims = body["targetResourceId"], body["targetResourceRegion"], body["copyAuthorization"]
    if not isinstance(resource_id, str) or len(resource_id) > 1024 or not TARGET_RESOURCE_ID_RE.match(resource_id):
        raise errors.v2_bad_request(
            f"The parameter 'targetResourceId' is invalid: it must match {TARGET_RESOURCE_ID_RE.pattern} (at most 1024 characters)."
        )
    if not isinstance(region, str) or not 1 <= len(region) <= 24 or not TARGET_REGION_RE.match(region):
        raise errors.v2_bad_request("The parameter 'targetResourceRegion' is invalid: it must match ^[a-z0-9]+$ (1 to 24 characters).")
    if not isinstance(claims, dict):
        raise errors.v2_bad_request("The parameter 'copyAuthorization' must be an object.")
    for name in ("modelId", "accessToken", "expirationDateTimeTicks"):
        if claims.get(name) is None:
            raise errors.v2_bad_request(f"The parameter 'copyAuthorization.{name}' is required.")
    if not isinstance(claims["modelId"], str) or not isinstance(claims["accessToken"], str):
        raise errors.v2_bad_request("The parameters 'copyAuthorization.modelId' and 'copyAuthorization.accessToken' must be strings.")
    ticks = claims["expirationDateTimeTicks"]
    if isinstance(ticks, bool) or not isinstance(ticks, int) or not INT64_MIN <= ticks <= INT64_MAX:
        raise errors.v2_bad_request("The parameter 'copyAuthorization.expirationDateTimeTicks' must be a 64-bit integer.")
    return resource_id, region, claims


# --- wire shapes ------------------------------------------------------------------------------------------------------


def model_info(m: V2Model, api: str) -> dict[str, Any]:
    """ModelInfo: v2.1 adds ``modelName`` and ``attributes`` (v2.0's ModelInfo has neither)."""
    body: dict[str, Any] = {
        "modelId": m.model_id,
        "status": m.status,
        "createdDateTime": format_timestamp(m.created),
        "lastUpdatedDateTime": format_timestamp(m.last_updated),
    }
    if api == "2.1":
        if m.model_name is not None:
            body["modelName"] = m.model_name
        body["attributes"] = {"isComposed": m.is_composed}
    return body


def _train_result(model_id: str, api: str) -> dict[str, Any]:
    result: dict[str, Any] = {
        "trainingDocuments": [{"documentName": name, "pages": 1, "errors": [], "status": "succeeded"} for name in TRAINING_DOCUMENTS],
        "fields": [{"fieldName": name, "accuracy": FIELD_ACCURACY} for name in TRAINED_FIELDS],
        "averageModelAccuracy": FIELD_ACCURACY,
    }
    if api == "2.1":
        result["modelId"] = model_id
    result["errors"] = []
    return result


def component_ids(model_id: str) -> list[str]:
    """The (generated) component model ids of a composed model: stable for a given model id."""
    return [str(uuid.uuid5(uuid.UUID(model_id), f"component-{i}")) for i in (1, 2)]


def model(m: V2Model, api: str) -> dict[str, Any]:
    """Model (GET custom/models/{id}): modelInfo, plus the training report once the model is trained.

    ``creating`` models show modelInfo only (as recorded live); ``invalid`` ones a trainResult with an error;
    ``ready`` ones a labeled trainResult (composed: ``composedTrainResults``, one per component).
    """
    body: dict[str, Any] = {"modelInfo": model_info(m, api)}
    if m.status == "invalid":
        body["trainResult"] = {"trainingDocuments": [], "errors": [dict(INVALID_MODEL_ERROR)]}
    elif m.status == "ready":
        if m.is_composed and api == "2.1":
            body["composedTrainResults"] = [_train_result(cid, api) for cid in component_ids(m.model_id)]
        else:
            body["trainResult"] = _train_result(m.model_id, api)
    return body


def summary(count: int, limit: int, last_changed: float) -> dict[str, Any]:
    return {"count": count, "limit": limit, "lastUpdatedDateTime": format_timestamp(last_changed)}


def copy_result(op: V2CopyOperation, now: float) -> dict[str, Any]:
    """CopyOperationResult. ``copyResult.modelId`` is there from the first poll; timestamps are whole seconds while
    notStarted and carry 7 fractional digits afterwards, as in the live recordings (contracts §4)."""
    status = op.status_at(now)
    fmt = format_timestamp if status == "notStarted" else format_timestamp_7
    result: dict[str, Any] = {"modelId": op.target_model_id}
    if op.errors:
        result["errors"] = [dict(e) for e in op.errors]
    return {
        "status": status,
        "createdDateTime": fmt(op.created),
        "lastUpdatedDateTime": fmt(op.last_updated(now)),
        "copyResult": result,
    }


# --- the service ---------------------------------------------------------------------------------------------------


class Service:
    """The family as the app sees it: routes, handlers, reset/settle, admin routes. No api-version query: the
    version is the path segment."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.v2 = V2Store(store)

    def reset(self) -> None:
        self.v2.reset()

    def settle(self) -> None:
        self.v2.settle()

    def resolve(self, method: str, prefix: str, rest: str, query: Mapping[str, str]) -> V2Route | None:
        return resolve_v2_route(method, rest, query.get("op"))

    def backend_error(self, route: V2Route | None, error: errors.ServiceError) -> errors.ServiceError:
        """v2 backend errors carry ``x-ms-cs-error-code`` (contracts §1); gateway answers (401, 429, APIM's 404 for
        an unknown path) do not."""
        return errors.with_cs_error_code(error) if route is not None else error

    async def dispatch(self, request: Request, account: str, route: V2Route | None, headers: dict[str, str]) -> Response:
        if route is None:
            raise errors.resource_not_found()
        return await _HANDLERS[route.name](self, Call(request, account, route, headers))

    @staticmethod
    def _base(call: Call[V2Route]) -> str:
        return f"{call.origin}/formrecognizer/{call.route.version}"

    # -- handlers (one per route; ``_HANDLERS`` below)

    async def _list(self, call: Call[V2Route]) -> Response:
        """``GET custom/models?op=full|summary``: the summary, and with ``op=full`` a page of models."""
        op = call.query("op")
        if op not in ("full", "summary"):
            raise errors.v2_bad_request("The parameter 'op' is required and must be 'full' or 'summary'.")
        acct = self.v2.accounts[call.account]
        summary_body = summary(self.v2.count(call.account), self.store.accounts[call.account].model_limit, acct.last_changed)
        if op == "summary":
            return call.json(200, {"summary": summary_body})
        token = call.query("nextLink")
        after = None
        if token is not None:
            after = decode_page_token(token, lambda: errors.v2_bad_request("The parameter 'nextLink' is invalid."))
        items, next_after = self.v2.list_page(call.account, after)
        next_link = f"{self._base(call)}/custom/models?nextLink={encode_page_token(next_after)}&op=full" if next_after else ""
        body = {
            "summary": summary_body,
            "modelList": [model_info(m, call.route.api) for m in items],
            # the spec example ends with "nextLink": "" (contracts §4); op=full rides along for plain clients
            "nextLink": next_link,
        }
        return call.json(200, body)

    async def _get(self, call: Call[V2Route]) -> Response:
        assert call.route.model_id is not None
        return call.json(200, model(self.v2.get(call.account, call.route.model_id, call.route.api), call.route.api))

    async def _delete(self, call: Call[V2Route]) -> Response:
        assert call.route.model_id is not None
        self.v2.delete(call.account, call.route.model_id)
        return call.empty(204)

    async def _authorize(self, call: Call[V2Route]) -> Response:
        auth = self.v2.authorize(call.account)
        body = {"modelId": auth.model_id, "accessToken": auth.token, "expirationDateTimeTicks": auth.expires}
        return call.json(201, body, {"Location": f"{self._base(call)}/custom/models/{auth.model_id}"})

    async def _copy(self, call: Call[V2Route]) -> Response:
        assert call.route.model_id is not None
        body = await read_json(call.request, lambda: errors.v2_bad_request("The copy request body is not valid JSON."))
        duration, fails = self.store.operation_timing(call.account)
        op = self.v2.copy(
            call.account,
            call.route.model_id,
            body,
            allow_degrade=call.request.headers.get("x-ms-forms-copy-degrade", "").strip().lower() == "true",
            duration=duration,
            result_id=str(uuid.uuid4()),
            inject_failure=fails,
        )
        # lowercase "copyresults", as the live service writes it (contracts §4)
        location = f"{self._base(call)}/custom/models/{op.source_model_id}/copyresults/{op.result_id}"
        return call.empty(202, {"Operation-Location": location})

    async def _copy_result(self, call: Call[V2Route]) -> Response:
        assert call.route.model_id is not None and call.route.result_id is not None
        op = self.v2.get_copy_result(call.account, call.route.model_id, call.route.result_id)
        # a failed result carries its code in ms-azure-ai-errorcode (the 2021 recording, errors.AI_ERROR_CODE_HEADER)
        extra = {errors.AI_ERROR_CODE_HEADER: op.errors[0]["code"]} if op.errors else {}
        return call.json(200, copy_result(op, self.store.now()), extra)

    # -- admin

    def admin_routes(self) -> list[Route]:
        """``POST /_emulator/accounts/{name}/v2_models`` (seed), ``DELETE .../v2_models/{id}`` (remove) and
        ``PATCH .../v2_models/{id}`` ("retrain": new lastUpdatedDateTime, status, modelName)."""
        accounts = self.store.accounts
        v2 = self.v2
        return [
            seed_route(
                "/_emulator/accounts/{name}/v2_models",
                accounts,
                parse_v2_model_seed,
                "v2_model",
                exists=lambda name, seed: seed.model_id is not None and v2.taken(name, seed.model_id),
                conflict="account {name!r} already has (or has reserved) a v2 model {seed.model_id!r}",
                create=lambda name, seed, _: model_info(v2.seed(name, seed), "2.1"),
            ),
            remove_route(
                "/_emulator/accounts/{name}/v2_models/{model_id}", accounts, "model_id", "v2 model", v2.remove,
                parse_id=_admin_model_id,
            ),
            Route("/_emulator/accounts/{name}/v2_models/{model_id}", self._admin_retrain, methods=["PATCH"]),
        ]

    async def _admin_retrain(self, request: Request) -> Response:
        name = account_or_404(self.store.accounts, request.path_params["name"])
        model_id = _admin_model_id(request.path_params["model_id"])
        with config_errors_as_400():
            changes = parse_v2_model_update(await read_body(request), where="v2_model")
        current = self.v2.accounts[name].models.get(model_id)
        if current is None:
            raise AdminError(404, "NotFound", f"account {name!r} has no v2 model {model_id!r}")
        updated = changes["last_updated"]
        if updated is not None and updated.timestamp() < current.created:
            raise AdminError(400, "BadRequest", "v2_model.last_updated: must not be before the model's createdDateTime")
        retrained = self.v2.retrain(name, model_id, changes)
        assert retrained is not None
        return admin_json(model_info(retrained, "2.1"))

    def admin_view(self, account: str) -> dict[str, Any]:
        return {"v2_models": list(self.v2.accounts[account].models.order)}


def _admin_model_id(value: str) -> str:
    """A v2 model id in an admin path, canonical; 404 when it is not a UUID."""
    try:
        return parse_v2_model_id(value, where="model_id")
    except ConfigError:
        raise AdminError(404, "NotFound", f"no v2 model {value!r} (v2 model ids are UUIDs)") from None


_HANDLERS: dict[str, Callable[[Service, Call[V2Route]], Awaitable[Response]]] = {
    "v2:custom/models:list": Service._list,
    "v2:custom/models:summary": Service._list,
    "v2:custom/models:get": Service._get,
    "v2:custom/models:delete": Service._delete,
    "v2:copyAuthorization": Service._authorize,
    "v2:copy": Service._copy,
    "v2:copyResults": Service._copy_result,
}
