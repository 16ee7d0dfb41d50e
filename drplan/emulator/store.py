"""In-memory state of every emulated account and the copy semantics of contracts §2.3–2.5.

The store knows nothing about HTTP or api-versions' wire shapes (see ``views.py``) nor about faults (the caller
passes the copy duration and whether to inject a failure). All time comes from the :class:`~.clock.Clock`.

Decisions where the contracts are silent (each is also listed in the README):

* An authorization reserves its target id (contracts §2.4, azure-sdk-for-net #51813) until it expires if it is
  never used; once a copy has been accepted with it, until that copy finishes. A failed copy releases the id.
* A copy's outcome is settled when its time is up (``settle``), whether or not anybody polls: the target model
  becomes visible at that moment, never earlier.
* Copying onto a target that is at its model limit fails synchronously (400 ``DocumentModelLimit``); a copy that
  finds the target full (or the target id taken by an out-of-band seed) when it completes fails asynchronously.

What a copy looks like follows the recordings (contracts §2.4, issue 13): a NEW ``createdDateTime`` (the copy's
completion time) unless the target account (or ``[settings]``) sets ``copy_keeps_created`` for the pre-2024 service;
``expirationDateTime`` (and ``modifiedDateTime``) kept from the source; ``description``/``tags`` from ``authorizeCopy``;
a classifier's ``docTypes`` kept whole (``sourceKind`` and blob source included).
"""

from __future__ import annotations

import bisect
import copy
import dataclasses
import heapq
import math
import secrets
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any, Literal

from . import errors
from .clock import Clock, format_timestamp
from .config import (
    ASSET_ID_RE,
    AccountConfig,
    ClassifierSeed,
    EmulatorConfig,
    ModelSeed,
    Settings,
    parse_timestamp,
)
from .language import LanguageStore
from .v2 import V2Store

AssetKind = Literal["model", "classifier"]

TWO_YEARS = 730 * 86400.0

#: Prebuilt models listed next to custom models (contracts §2.5); ``prebuilt-document`` and
#: ``prebuilt-businessCard`` were retired in v4, so they only show through ``/formrecognizer``.
PREBUILT_MODELS: dict[str, tuple[tuple[str, str], ...]] = {
    "documentintelligence": (
        ("prebuilt-idDocument", "Extract key information from passports and ID cards."),
        ("prebuilt-invoice", "Extract key information from invoices."),
        ("prebuilt-layout", "Extract text and layout information from documents."),
        ("prebuilt-read", "Extract text from documents."),
        ("prebuilt-receipt", "Extract key information from receipts."),
        ("prebuilt-tax.us.w2", "Extract key information from IRS US W2 tax forms."),
    ),
    "formrecognizer": (
        ("prebuilt-businessCard", "Extract key information from business cards."),
        ("prebuilt-document", "Extract text, layout, entities, and general key-value pairs from documents."),
        ("prebuilt-idDocument", "Extract key information from passports and ID cards."),
        ("prebuilt-invoice", "Extract key information from invoices."),
        ("prebuilt-layout", "Extract text and layout information from documents."),
        ("prebuilt-read", "Extract text from documents."),
        ("prebuilt-receipt", "Extract key information from receipts."),
        ("prebuilt-tax.us.w2", "Extract key information from IRS US W2 tax forms."),
    ),
}
PREBUILT_IDS = frozenset(pid for group in PREBUILT_MODELS.values() for pid, _ in group)
PREBUILT_CREATED = parse_timestamp("2024-11-30T00:00:00Z").timestamp()

#: The six fields of ModelCopyAuthorization / ClassifierCopyAuthorization (contracts §2.2), by asset kind.
AUTH_FIELDS: dict[AssetKind, tuple[str, ...]] = {
    "model": ("targetResourceId", "targetResourceRegion", "targetModelId", "targetModelLocation", "accessToken", "expirationDateTime"),
    "classifier": (
        "targetResourceId",
        "targetResourceRegion",
        "targetClassifierId",
        "targetClassifierLocation",
        "accessToken",
        "expirationDateTime",
    ),
}
ID_FIELD: dict[AssetKind, str] = {"model": "modelId", "classifier": "classifierId"}
COLLECTION: dict[AssetKind, str] = {"model": "documentModels", "classifier": "documentClassifiers"}
OPERATION_KIND: dict[AssetKind, str] = {"model": "documentModelCopyTo", "classifier": "documentClassifierCopyTo"}


@dataclass
class Model:
    """A custom (or prebuilt) document model. ``doc_types`` holds wire-ready DocumentTypeDetails dicts."""

    model_id: str
    created: float
    api_version: str
    description: str | None = None
    expires: float | None = None
    build_mode: str = "template"
    tags: dict[str, str] = field(default_factory=dict)
    doc_types: dict[str, dict[str, Any]] = field(default_factory=dict)
    prebuilt: bool = False
    modified: float | None = None  # modifiedDateTime (2024-11-30 shows it)
    ready: bool = True  # False: still being built (copyTo: 400 ModelNotReady)


@dataclass
class Classifier:
    """A document classifier. ``doc_types`` holds wire-ready ClassifierDocumentTypeDetails dicts."""

    classifier_id: str
    created: float
    api_version: str
    description: str | None = None
    expires: float | None = None
    doc_types: dict[str, dict[str, Any]] = field(default_factory=dict)
    modified: float | None = None  # modifiedDateTime (2024-11-30 shows it)


@dataclass
class Authorization:
    """A copy authorization issued by ``authorizeCopy`` on a target; kept server-side, found by its token."""

    token: str
    kind: AssetKind
    account: str  # the target account
    target_id: str
    description: str | None
    tags: dict[str, str] | None
    payload: dict[str, str]  # exactly what the target answered; copyTo must send it back unchanged
    expires: float  # whole seconds, equal to payload["expirationDateTime"]
    consumed: bool = False
    operation_id: str | None = None


@dataclass
class Operation:
    """A copy operation, living on the source account (contracts §2.3)."""

    operation_id: str
    seq: int
    kind: AssetKind
    account: str  # source
    prefix: str
    api_version: str
    created: float
    duration: float
    resource_location: str
    target_account: str
    target_id: str
    token: str
    snapshot: Model | Classifier  # the target record to create on success
    keep_created: bool = False  # the copy keeps the source's createdDateTime (else: its completion time)
    failure: errors.ServiceError | None = None  # decided when the copy is accepted (CMK rule, injected fault)
    finished_at: float | None = None
    status: str | None = None  # final status once finished
    error: dict[str, Any] | None = None
    result: Model | Classifier | None = None

    @property
    def ends_at(self) -> float:
        return self.created + self.duration

    def status_at(self, now: float) -> tuple[str, int | None]:
        """Status and percentCompleted: notStarted for the first fifth, then running, then the final status."""
        if self.status is not None:
            return self.status, (100 if self.status == "succeeded" else None)
        elapsed = now - self.created
        if self.duration <= 0 or elapsed < 0.2 * self.duration:
            return "notStarted", None
        return "running", max(1, min(99, int(100 * elapsed / self.duration)))

    def last_updated(self, now: float) -> float:
        if self.finished_at is not None:
            return self.finished_at
        status, _ = self.status_at(now)
        return self.created if status == "notStarted" else min(now, self.ends_at)


class SortedIds:
    """A dict of records plus its keys kept sorted, so list pages are found with bisect (O(log n))."""

    def __init__(self) -> None:
        self.items: dict[str, Any] = {}
        self.order: list[str] = []

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, key: str) -> bool:
        return key in self.items

    def get(self, key: str) -> Any:
        return self.items.get(key)

    def put(self, key: str, value: Any) -> None:
        if key not in self.items:
            bisect.insort(self.order, key)
        self.items[key] = value

    def pop(self, key: str) -> Any:
        value = self.items.pop(key)
        del self.order[bisect.bisect_left(self.order, key)]
        return value

    def after(self, key: str | None, limit: int) -> list[str]:
        start = 0 if key is None else bisect.bisect_right(self.order, key)
        return self.order[start : start + limit]

    def has_after(self, key: str) -> bool:
        return bisect.bisect_right(self.order, key) < len(self.order)


@dataclass
class Account:
    """One emulated resource: its configuration and everything it holds."""

    config: AccountConfig
    models: SortedIds = field(default_factory=SortedIds)
    classifiers: SortedIds = field(default_factory=SortedIds)
    authorizations: dict[str, Authorization] = field(default_factory=dict)
    reservations: dict[tuple[AssetKind, str], str] = field(default_factory=dict)  # (kind, id) -> token
    inflight_model_copies: int = 0  # copies into this account not yet finished (count against the limit)
    operations: dict[str, Operation] = field(default_factory=dict)
    operation_order: list[Operation] = field(default_factory=list)  # by seq, for paging
    operation_seqs: list[int] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.config.name

    def assets(self, kind: AssetKind) -> SortedIds:
        return self.models if kind == "model" else self.classifiers


@dataclass
class Page:
    """One page of a list: the records and the key to continue after (None on the last page)."""

    items: list[Any]
    next_after: str | None


class Store:
    """All accounts, operations and authorizations. Not thread-safe; the app runs on one event loop."""

    def __init__(self, config: EmulatorConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.reset()

    def reset(self) -> None:
        """Back to the state the config file describes."""
        self.settings: Settings = dataclasses.replace(self.config.settings)
        self.accounts: dict[str, Account] = {}
        self.by_resource_id: dict[str, str] = {}
        self._pending: list[tuple[float, int, str, str]] = []  # (ends_at, seq, account, operation id)
        self._seq = 0
        now = self.clock.now()
        for name, acc_cfg in self.config.accounts.items():
            account = Account(config=acc_cfg)
            self.accounts[name] = account
            self.by_resource_id[acc_cfg.resource_id.lower()] = name
            for mseed in acc_cfg.models:
                self.seed_model(name, mseed, now=now)
            for cseed in acc_cfg.classifiers:
                self.seed_classifier(name, cseed, now=now)
        self.v2 = V2Store(self)  # Form Recognizer v2.x: a separate model store per account (contracts §4)
        self.language = LanguageStore(self)  # Azure AI Language authoring projects and jobs (contracts §6)

    # --- seeding (config file and admin API) ----------------------------------------------------------------------

    def seed_model(self, account: str, seed: ModelSeed, *, now: float | None = None) -> Model:
        """Create a model directly (as if built). Replaces a model with the same id."""
        created = seed.created.timestamp() if seed.created else math.floor(now if now is not None else self.clock.now())
        expires = seed.expires.timestamp() if seed.expires else None
        if expires is None and seed.api_version >= "2023-07-31":
            expires = created + TWO_YEARS  # models built with 2023-07-31 and later carry an expiry (contracts §3)
        names = seed.doc_types or (seed.model_id,)
        model = Model(
            model_id=seed.model_id,
            created=created,
            api_version=seed.api_version,
            description=seed.description,
            expires=expires,
            build_mode=seed.build_mode,
            tags=dict(seed.tags),
            doc_types={name: _generated_doc_type(name, seed.build_mode) for name in names},
            modified=seed.modified.timestamp() if seed.modified else created,
            ready=seed.ready,
        )
        self.accounts[account].models.put(model.model_id, model)
        return model

    def seed_classifier(self, account: str, seed: ClassifierSeed, *, now: float | None = None) -> Classifier:
        created = seed.created.timestamp() if seed.created else math.floor(now if now is not None else self.clock.now())
        classifier = Classifier(
            classifier_id=seed.classifier_id,
            created=created,
            api_version=seed.api_version,
            description=seed.description,
            expires=seed.expires.timestamp() if seed.expires else created + TWO_YEARS,
            doc_types={name: _classifier_doc_type(name, seed.source_kind) for name in seed.doc_types},
            modified=seed.modified.timestamp() if seed.modified else created,
        )
        self.accounts[account].classifiers.put(classifier.classifier_id, classifier)
        return classifier

    def remove_asset(self, account: str, kind: AssetKind, asset_id: str) -> bool:
        """Out-of-band removal (admin API): True when something was removed."""
        assets = self.accounts[account].assets(kind)
        if asset_id not in assets:
            return False
        assets.pop(asset_id)
        return True

    # --- reads ------------------------------------------------------------------------------------------------------

    def prebuilt(self, prefix: str) -> dict[str, Model]:
        return {
            pid: Model(model_id=pid, created=PREBUILT_CREATED, api_version="", description=desc, prebuilt=True)
            for pid, desc in PREBUILT_MODELS[prefix]
        }

    def get_asset(self, account: str, kind: AssetKind, asset_id: str, *, prefix: str) -> Model | Classifier:
        acct = self.accounts[account]
        if kind == "model":
            found = acct.models.get(asset_id)
            if found is None:
                found = self.prebuilt(prefix).get(asset_id)
            if found is None:
                raise errors.model_not_found()
            return found
        found = acct.classifiers.get(asset_id)
        if found is None:
            raise errors.classifier_not_found()
        return found

    def delete_asset(self, account: str, kind: AssetKind, asset_id: str) -> None:
        acct = self.accounts[account]
        if kind == "model" and asset_id in PREBUILT_IDS and asset_id not in acct.models:
            raise errors.model_read_only(asset_id)
        if not self.remove_asset(account, kind, asset_id):
            raise errors.model_not_found() if kind == "model" else errors.classifier_not_found()

    def list_assets(self, account: str, kind: AssetKind, after: str | None, *, prefix: str) -> Page:
        """A page of models (prebuilt first, then custom ids in order) or classifiers (ids in order).

        ``after`` is the last id of the previous page, prefixed ``p:`` (prebuilt) or ``c:`` (custom), so a page
        boundary survives models being added or deleted between pages.
        """
        size = self.settings.page_size
        acct = self.accounts[account]
        items: list[Any] = []
        last: str | None = None
        section, key = (after[:1], after[2:]) if after else ("p", None)
        if section not in ("p", "c"):
            raise errors.invalid_parameter("nextLink", "unknown continuation token")
        if kind == "model" and section == "p":
            prebuilt = self.prebuilt(prefix)
            ids = sorted(prebuilt)
            start = 0 if key is None else bisect.bisect_right(ids, key)
            for pid in ids[start : start + size]:
                items.append(prebuilt[pid])
                last = "p:" + pid
            key = None
        if len(items) < size:
            for asset_id in acct.assets(kind).after(key if section == "c" else None, size - len(items)):
                items.append(acct.assets(kind).get(asset_id))
                last = "c:" + asset_id
        more = False
        if last is not None and len(items) == size:
            if last.startswith("p:"):
                more = last != "p:" + sorted(self.prebuilt(prefix))[-1] or len(acct.assets(kind)) > 0
            else:
                more = acct.assets(kind).has_after(last[2:])
        return Page(items, last if more else None)

    def count_models(self, account: str) -> int:
        """Custom models only (contracts §2.5: /info counts custom models)."""
        return len(self.accounts[account].models)

    # --- copy: authorize on the target -----------------------------------------------------------------------------

    def authorize_copy(
        self, kind: AssetKind, account: str, body: Any, *, account_url: str, prefix: str, api_version: str
    ) -> dict[str, str]:
        """``POST /documentModels:authorizeCopy`` (or classifiers) on the TARGET; returns the authorization."""
        acct = self.accounts[account]
        id_field = ID_FIELD[kind]
        if not isinstance(body, dict):
            raise errors.parameter_missing(id_field)
        asset_id = body.get(id_field)
        if asset_id is None:
            raise errors.parameter_missing(id_field)
        if not isinstance(asset_id, str) or not ASSET_ID_RE.match(asset_id):
            raise errors.invalid_parameter(id_field, f"it must match {errors.ASSET_ID_PATTERN}.")
        description = body.get("description")
        if description is not None:
            if not isinstance(description, str):
                raise errors.invalid_parameter("description", "it must be a string.")
            if len(description) > 4096:
                raise errors.invalid_parameter_length("description", 4096)
        tags = body.get("tags")
        if tags is not None and (
            not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items())
        ):
            raise errors.invalid_parameter("tags", "it must be a map of strings.")
        now = self.clock.now()
        exists = errors.model_exists if kind == "model" else errors.classifier_exists
        if asset_id in acct.assets(kind) or (kind == "model" and asset_id in PREBUILT_IDS):
            raise exists()
        if self._reserved(acct, kind, asset_id, now):
            # azure-sdk-for-net #51813: a second authorizeCopy for an unused reservation is a 409; the live body
            # is not recorded, so the emulator answers the ModelExists body (the name is taken).
            raise exists()
        token = secrets.token_urlsafe(32)
        # 1 h, not the docs' 24 h: every recorded DI v4 / FR v3 authorization (2023 and 2024, models and
        # classifiers) expires 1 h after issue (contracts §2.4 "Token lifetime" [R]; issue 13 point 3).
        expires = math.floor(now + self.settings.di_authorization_ttl_seconds)
        names = AUTH_FIELDS[kind]
        payload = {
            names[0]: acct.config.resource_id,
            names[1]: acct.config.region,
            names[2]: asset_id,
            names[3]: f"{account_url}/{prefix}/{COLLECTION[kind]}/{asset_id}?api-version={api_version}",
            names[4]: token,
            names[5]: format_timestamp(expires),
        }
        acct.authorizations[token] = Authorization(
            token=token,
            kind=kind,
            account=account,
            target_id=asset_id,
            description=description,
            tags=dict(tags) if tags is not None else None,
            payload=payload,
            expires=expires,
        )
        acct.reservations[(kind, asset_id)] = token
        return dict(payload)

    def _reserved(self, acct: Account, kind: AssetKind, asset_id: str, now: float) -> bool:
        token = acct.reservations.get((kind, asset_id))
        if token is None:
            return False
        auth = acct.authorizations[token]
        if not auth.consumed and auth.expires <= now:
            del acct.reservations[(kind, asset_id)]  # an unused authorization frees its id when it expires
            return False
        return True

    # --- copy: copyTo on the source --------------------------------------------------------------------------------

    def copy_to(
        self,
        kind: AssetKind,
        account: str,
        asset_id: str,
        body: Any,
        *,
        prefix: str,
        api_version: str,
        allow_degrade: bool,
        duration: float,
        operation_id: str,
        inject_failure: Callable[[], bool] = lambda: False,
    ) -> Operation:
        """``POST /documentModels/{id}:copyTo`` on the SOURCE: validate (contracts §2.6 "1002") and start."""
        source = self.accounts[account]
        if kind == "model" and asset_id in PREBUILT_IDS and asset_id not in source.models:
            raise errors.model_read_only(asset_id)
        asset = source.assets(kind).get(asset_id)
        if asset is None:
            raise errors.model_not_found() if kind == "model" else errors.classifier_not_found()
        if isinstance(asset, Model) and not asset.ready:
            raise errors.model_not_ready(asset_id)  # issue 13: copy from a model that is not ready; contracts §2.6
        names = AUTH_FIELDS[kind]
        if not isinstance(body, dict):
            raise errors.parameter_missing(names[0])
        for name in names:
            if name not in body or body[name] is None:
                raise errors.parameter_missing(name)
            if not isinstance(body[name], str):
                raise errors.invalid_parameter(name, "it must be a string.")
        resource_id, region = body[names[0]], body[names[1]]
        target_name = self.by_resource_id.get(resource_id.lower())
        if target_name is None or self.accounts[target_name].config.region != region.lower():
            raise errors.target_resource_unknown(resource_id, region)
        target = self.accounts[target_name]
        auth = target.authorizations.get(body[names[4]])
        if auth is None or auth.kind != kind or not _same_authorization(auth, body, names):
            raise errors.authorization_invalid()
        if auth.consumed:
            raise errors.authorization_consumed()
        now = self.clock.now()
        if now >= auth.expires:
            raise errors.authorization_expired(auth.payload[names[5]])
        if kind == "model" and len(target.models) + target.inflight_model_copies >= target.config.model_limit:
            raise errors.document_model_limit(target.config.model_limit)

        failure = None
        if (
            source.config.encryption == "customer-managed"
            and target.config.encryption == "microsoft-managed"
            and not allow_degrade
        ):
            failure = errors.encryption_downgrade()
        elif inject_failure():  # drawn only for accepted copies, so the fault sequence stays deterministic
            failure = errors.injected_operation_failure()
        self._seq += 1
        op = Operation(
            operation_id=operation_id,
            seq=self._seq,
            kind=kind,
            account=account,
            prefix=prefix,
            api_version=api_version,
            created=now,
            duration=max(0.0, duration),
            resource_location=auth.payload[names[3]],
            target_account=target_name,
            target_id=auth.target_id,
            token=auth.token,
            snapshot=_copied(asset, auth),
            failure=failure,
            keep_created=(
                target.config.copy_keeps_created if target.config.copy_keeps_created is not None else self.settings.copy_keeps_created
            ),
        )
        auth.consumed = True  # single use from the moment a copy is accepted (contracts §2.4)
        auth.operation_id = op.operation_id
        if kind == "model":
            target.inflight_model_copies += 1
        source.operations[op.operation_id] = op
        source.operation_order.append(op)
        source.operation_seqs.append(op.seq)
        heapq.heappush(self._pending, (op.ends_at, op.seq, account, op.operation_id))
        return op

    def settle(self) -> None:
        """Finish every operation whose time is up. Called before each request, so results appear on time."""
        now = self.clock.now()
        while self._pending and self._pending[0][0] <= now:
            _, _, account, op_id = heapq.heappop(self._pending)
            self._finish(self.accounts[account].operations[op_id])
        self.v2.settle()
        self.language.settle()

    def _finish(self, op: Operation) -> None:
        target = self.accounts[op.target_account]
        if op.kind == "model":
            target.inflight_model_copies -= 1
        if target.reservations.get((op.kind, op.target_id)) == op.token:
            del target.reservations[(op.kind, op.target_id)]
        op.finished_at = op.ends_at
        failure = op.failure
        if failure is None and op.target_id in target.assets(op.kind):
            failure = errors.model_exists() if op.kind == "model" else errors.classifier_exists()
        if failure is None and op.kind == "model" and len(target.models) >= target.config.model_limit:
            failure = errors.document_model_limit(target.config.model_limit)
        if failure is not None:
            op.status, op.error = "failed", failure.error_object()
            return
        if not op.keep_created:
            # Since 2024 the copy gets the copy time: recordings of 2024-07-31-preview (model) and 2024-11-30
            # (classifier), and the spec example GetOperation_DocumentModelCopyTo (contracts §2.4 [R][SX]; issue 13).
            op.snapshot.created = math.floor(op.ends_at)
        target.assets(op.kind).put(op.target_id, op.snapshot)
        op.status, op.result = "succeeded", op.snapshot

    # --- operations ------------------------------------------------------------------------------------------------

    def _visible(self, op: Operation, now: float) -> bool:
        """Finished operations stay visible for operation_retention_seconds (contracts §2.3: 24 h)."""
        return op.finished_at is None or now < op.finished_at + self.settings.operation_retention_seconds

    def get_operation(self, account: str, operation_id: str, kinds: frozenset[AssetKind]) -> Operation:
        op = self.accounts[account].operations.get(operation_id)
        if op is None or op.kind not in kinds or not self._visible(op, self.clock.now()):
            raise errors.operation_not_found()
        return op

    def list_operations(self, account: str, after: str | None, kinds: frozenset[AssetKind]) -> Page:
        """A page of operations in creation order; ``after`` is the seq (as text) of the previous page's last."""
        acct = self.accounts[account]
        try:
            after_seq = int(after) if after is not None else 0
        except ValueError:
            raise errors.invalid_parameter("nextLink", "unknown continuation token") from None
        now = self.clock.now()
        size = self.settings.page_size
        index = bisect.bisect_right(acct.operation_seqs, after_seq)
        items: list[Operation] = []
        while index < len(acct.operation_order) and len(items) < size:
            op = acct.operation_order[index]
            index += 1
            if op.kind in kinds and self._visible(op, now):
                items.append(op)
        more = len(items) == size and any(op.kind in kinds and self._visible(op, now) for op in acct.operation_order[index:])
        return Page(items, str(items[-1].seq) if more else None)


def _same_authorization(auth: Authorization, body: dict[str, Any], names: tuple[str, ...]) -> bool:
    """True when ``body`` is the issued authorization, field for field.

    ``expirationDateTime`` is compared as an instant: SDKs re-serialise it (``...T10:00:00.000Z``).
    """
    for name in names[:-1]:
        if body[name] != auth.payload[name]:
            return False
    try:
        return parse_timestamp(body[names[-1]]).timestamp() == auth.expires
    except ValueError:
        return False


def _copied(asset: Model | Classifier, auth: Authorization) -> Model | Classifier:
    """The record a successful copy creates on the target (contracts §2.4 "What the copied model looks like")."""
    if isinstance(asset, Model):
        doc_types = {
            (auth.target_id if name == asset.model_id else name): copy.deepcopy(details)
            for name, details in asset.doc_types.items()
        }
        return Model(
            model_id=auth.target_id,
            created=asset.created,  # the source's; replaced by the completion time unless keep_created (_finish)
            api_version=asset.api_version,
            description=auth.description,  # from authorizeCopy, not the source's [R]
            expires=asset.expires,  # kept from the source in every recording [R]
            build_mode=asset.build_mode,
            tags=dict(auth.tags or {}),  # from authorizeCopy [R]
            doc_types=doc_types,
            modified=asset.modified,  # kept, like a classifier's (2024-11-30 classifier recording) [INF for models]
        )
    return Classifier(
        classifier_id=auth.target_id,
        created=asset.created,  # as for models (_finish)
        api_version=asset.api_version,
        description=auth.description,
        expires=asset.expires,  # kept [R] (2024-11-30 classifier-copy recording, issue 13 point 2)
        doc_types=copy.deepcopy(asset.doc_types),  # kept whole, sourceKind and blob source included [R]
        modified=asset.modified,  # kept [R]
    )


def _classifier_doc_type(name: str, source_kind: str) -> dict[str, Any]:
    """ClassifierDocumentTypeDetails of a seeded classifier: ``sourceKind`` plus the matching blob source (spec
    2024-11-30); the training container is made up."""
    container = "https://drplanemulator.blob.core.windows.net/training"
    if source_kind == "azureBlobFileList":
        return {"sourceKind": source_kind, "azureBlobFileListSource": {"containerUrl": container, "fileList": f"{name}.jsonl"}}
    return {"sourceKind": source_kind, "azureBlobSource": {"containerUrl": container, "prefix": f"{name}/"}}


def _generated_doc_type(name: str, build_mode: str) -> dict[str, Any]:
    """A plausible DocumentTypeDetails: three fields with confidences (field schemas are generated, README)."""
    fields = {"VendorName": "string", "DocumentDate": "date", "Total": "number"}
    return {
        "buildMode": build_mode,
        "fieldSchema": {field: {"type": ftype} for field, ftype in fields.items()},
        "fieldConfidence": {field: 0.95 for field in fields},
    }
