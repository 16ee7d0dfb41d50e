"""Form Recognizer v2.1 and v2.0: the path-versioned custom-model API and its older copy protocol (contracts §4).

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
import heapq
import math
import random
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import errors
from .clock import TimedJob, format_timestamp, format_timestamp_7
from .config import V2ModelSeed

if TYPE_CHECKING:
    from .store import Store

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
    models: Any  # store.SortedIds of V2Model
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
        self.accounts: dict[str, V2Account] = {}
        self.tokens: dict[str, V2Authorization] = {}
        self._pending: list[tuple[float, int, str, str]] = []
        self._seq = 0
        now = store.clock.now()
        from .store import SortedIds  # store imports this module; import its helper lazily

        for name, acc_cfg in store.config.accounts.items():
            self.accounts[name] = V2Account(name=name, models=SortedIds(), last_changed=math.floor(now))
            for seed in acc_cfg.v2_models:
                self.seed(name, seed, now=now)
            self.accounts[name].last_changed = math.floor(now)

    def _now(self) -> float:
        return self.store.clock.now()

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
        models = self.accounts[account].models
        if model_id not in models:
            return False
        models.pop(model_id)
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
        target_name = self.store.by_resource_id.get(resource_id.lower())
        if target_name is not None and self.store.accounts[target_name].config.region != region:
            target_name = None
        failure: dict[str, str] | None = None
        placeholder: V2Model | None = None
        if target_name is None or target_name != auth.account or auth.consumed:
            failure = errors.v2_copy_authorization_error()
        else:
            auth.consumed = True  # single use from the moment the target hands out the metadata
            target = self.accounts[target_name]
            target_cfg = self.store.accounts[target_name].config
            if len(target.models) >= target_cfg.model_limit:
                failure = errors.v2_copy_model_limit(target_cfg.model_limit)
            else:
                placeholder = V2Model(
                    model_id=auth.model_id,
                    created=math.floor(now),
                    last_updated=math.floor(now),
                    status="creating",
                    copy_result_id=result_id,
                )
                target.models.put(auth.model_id, placeholder)
                self._touch(target_name)
                source_cfg = self.store.accounts[account].config
                if source_cfg.encryption == "customer-managed" and target_cfg.encryption == "microsoft-managed" and not allow_degrade:
                    enc = errors.encryption_downgrade()
                    failure = errors.v2_copy_error(enc.code, enc.message)
                elif inject_failure():  # drawn only for copies that would otherwise go ahead
                    inj = errors.injected_operation_failure()
                    failure = errors.v2_copy_error(inj.code, inj.message)
        self._seq += 1
        op = V2CopyOperation(
            result_id=result_id,
            seq=self._seq,
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
        heapq.heappush(self._pending, (op.ends_at, op.seq, account, result_id))
        return op

    def settle(self) -> None:
        """Finish every copy whose time is up (called before each request and after the clock moves)."""
        now = self._now()
        while self._pending and self._pending[0][0] <= now:
            _, _, account, result_id = heapq.heappop(self._pending)
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
                limit = self.store.accounts[target.name].config.model_limit
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
