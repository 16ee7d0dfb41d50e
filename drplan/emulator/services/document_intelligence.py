"""Document Intelligence v4 and Form Recognizer v3: models, classifiers and their copy protocol (contracts §2, §3).

Served at ``{account origin}/documentintelligence/...`` (api-versions ``2024-11-30``, ``2024-02-29-preview``) and
``{account origin}/formrecognizer/...`` (``2023-07-31``, ``2022-08-31``); v3 and v4 share one model store per account
(contracts §3, last bullet). Everything specific to the family is here: the ``[[models]]`` / ``[[classifiers]]``
config entries, the store and its copy semantics, the wire shapes per api-version, the routes and their handlers,
and the admin routes that seed and remove models and classifiers.

Routing is done by hand rather than with Starlette's router because Azure mixes path segments and colon actions
(``/documentModels:authorizeCopy``, ``/documentModels/{id}:copyTo``) and because the api-version decides which
routes exist at all (classifier copy only on ``2024-11-30``; no classifiers on ``2022-08-31``). Anything that does not
resolve answers APIM's 404 (README "Service API").

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

Wire shapes (contracts §2.2, §2.7, §3):

* DI v4 (``2024-11-30``, ``2024-02-29-preview``): list and get both return DocumentModelDetails (with docTypes).
* FR v3 (``2023-07-31``, ``2022-08-31``): list returns DocumentModelSummary (no docTypes), get returns details;
  ``2022-08-31`` has no ``expirationDateTime``. Operation lists return OperationSummary (no error/result).
* Operation list items never carry ``result``/``error`` (contracts §2.2 [INF]); GET of one operation does.
"""

from __future__ import annotations

import bisect
import copy
import datetime as dt
import math
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import errors
from ..admin import remove_route, seed_route
from ..clock import Schedule, TimedJob, format_timestamp
from ..config_base import AccountConfig, Ctx, Settings, parse_timestamp
from ..store import Page, SortedIds, Store
from ..wire import Call, decode_page_token, encode_page_token, read_json

AssetKind = Literal["model", "classifier"]

#: Path prefixes served (the account is in the host only).
PREFIXES = ("documentintelligence", "formrecognizer")
DI_VERSIONS = ("2024-11-30", "2024-02-29-preview")
FR_VERSIONS = ("2023-07-31", "2022-08-31")
#: api-versions served under each path prefix.
PREFIX_VERSIONS: dict[str, tuple[str, ...]] = {"documentintelligence": DI_VERSIONS, "formrecognizer": FR_VERSIONS}
#: Versions that have classifier list/get/delete (FR 2022-08-31 has no classifiers at all, contracts §3).
CLASSIFIER_VERSIONS = frozenset({"2024-11-30", "2024-02-29-preview", "2023-07-31"})
#: Versions that have classifier authorizeCopy/copyTo (contracts §2.4, §2.7).
CLASSIFIER_COPY_VERSIONS = frozenset({"2024-11-30"})
#: Versions whose DocumentModelDetails / DocumentClassifierDetails have ``modifiedDateTime`` (contracts §2.2: ro,
#: 2024-11-30 only).
MODIFIED_VERSIONS = frozenset({"2024-11-30"})
#: Versions whose ClassifierDocumentTypeDetails have ``sourceKind`` (the 2023-07-31 spec has only the blob sources).
SOURCE_KIND_VERSIONS = frozenset(DI_VERSIONS)
#: GET /info also reports customNeuralDocumentModelBuilds (required in these specs).
NEURAL_QUOTA_VERSIONS = frozenset({"2024-02-29-preview", "2023-07-31"})
ADMIN_API_VERSION = "2024-11-30"  # the shape seeded assets are echoed in by the admin API

#: Route names (request log, counters, the ``routes`` fault filter).
ROUTE_NAMES = (
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
)

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
COLLECTION_KIND: dict[str, AssetKind] = {name: kind for kind, name in COLLECTION.items()}
OPERATION_KIND: dict[AssetKind, str] = {"model": "documentModelCopyTo", "classifier": "documentClassifierCopyTo"}


# --- config: [[accounts.X.models]] and [[accounts.X.classifiers]] --------------------------------------------------

#: Model and classifier ids (contracts §2: ``^[a-zA-Z0-9][a-zA-Z0-9._~-]{1,63}$``).
ASSET_ID_RE = re.compile(errors.ASSET_ID_PATTERN)
BUILD_MODES = ("template", "neural")
#: ``source_kind`` of a seeded classifier's doc types (ContentSourceKind values a classifier is trained from).
CLASSIFIER_SOURCE_KINDS = ("azureBlob", "azureBlobFileList")
#: The account keys this family reads.
ACCOUNT_KEYS = ("models", "classifiers")
MODEL_SEED_KEYS = ("model_id", "description", "created", "expires", "modified", "api_version", "build_mode", "tags", "doc_types", "ready")
CLASSIFIER_SEED_KEYS = ("classifier_id", "description", "created", "expires", "modified", "api_version", "doc_types", "source_kind")


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


def parse_account(ctx: Ctx, where: str, raw: dict[str, Any]) -> dict[str, Any]:
    """This family's keys of an ``[accounts.NAME]`` table, as :class:`~..config_base.AccountConfig` fields."""
    return {
        "models": ctx.unique_entries(f"{where}.models", raw.get("models", []), parse_model_seed, "model_id", "model id"),
        "classifiers": ctx.unique_entries(
            f"{where}.classifiers", raw.get("classifiers", []), parse_classifier_seed, "classifier_id", "classifier id"
        ),
    }


def parse_model_seed(entry: Any, where: str = "model", source: str = "<request>") -> ModelSeed:
    """Validate one ``[[models]]`` entry (also the body of the admin seed call)."""
    ctx = Ctx(source)
    entry = ctx.table(where, entry)
    ctx.check_keys(where, entry, MODEL_SEED_KEYS)
    if "model_id" not in entry:
        raise ctx.error(f"{where}.model_id", "is required")
    model_id = _asset_id(ctx, f"{where}.model_id", entry["model_id"])
    build_mode = entry.get("build_mode", "template")
    if build_mode not in BUILD_MODES:
        raise ctx.error(f"{where}.build_mode", f"must be one of {', '.join(BUILD_MODES)}")
    return ModelSeed(
        model_id=model_id,
        description=ctx.description(f"{where}.description", entry.get("description")),
        created=ctx.datetime(f"{where}.created", entry.get("created")),
        expires=ctx.datetime(f"{where}.expires", entry.get("expires")),
        api_version=ctx.string(f"{where}.api_version", entry.get("api_version", "2024-11-30")),
        build_mode=build_mode,
        tags=ctx.tags(f"{where}.tags", entry.get("tags", {})),
        doc_types=_doc_types(ctx, f"{where}.doc_types", entry.get("doc_types", []), allow_empty=True),
        modified=ctx.datetime(f"{where}.modified", entry.get("modified")),
        ready=ctx.boolean(f"{where}.ready", entry.get("ready", True)),
    )


def parse_classifier_seed(entry: Any, where: str = "classifier", source: str = "<request>") -> ClassifierSeed:
    """Validate one ``[[classifiers]]`` entry (also the body of the admin seed call)."""
    ctx = Ctx(source)
    entry = ctx.table(where, entry)
    ctx.check_keys(where, entry, CLASSIFIER_SEED_KEYS)
    if "classifier_id" not in entry:
        raise ctx.error(f"{where}.classifier_id", "is required")
    seed = ClassifierSeed(
        classifier_id=_asset_id(ctx, f"{where}.classifier_id", entry["classifier_id"]),
        description=ctx.description(f"{where}.description", entry.get("description")),
        created=ctx.datetime(f"{where}.created", entry.get("created")),
        expires=ctx.datetime(f"{where}.expires", entry.get("expires")),
        api_version=ctx.string(f"{where}.api_version", entry.get("api_version", "2024-11-30")),
        modified=ctx.datetime(f"{where}.modified", entry.get("modified")),
    )
    source_kind = entry.get("source_kind", "azureBlob")
    if source_kind not in CLASSIFIER_SOURCE_KINDS:
        raise ctx.error(f"{where}.source_kind", f"must be one of {', '.join(CLASSIFIER_SOURCE_KINDS)}")
    seed.source_kind = source_kind
    if "doc_types" in entry:
        seed.doc_types = _doc_types(ctx, f"{where}.doc_types", entry["doc_types"], allow_empty=False)
    return seed


def _asset_id(ctx: Ctx, path: str, value: Any) -> str:
    value = ctx.string(path, value)
    if not ASSET_ID_RE.match(value):
        raise ctx.error(path, f"{value!r} must match {ASSET_ID_RE.pattern}")
    return value


def _doc_types(ctx: Ctx, path: str, value: Any, *, allow_empty: bool) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ctx.error(path, "must be a list of non-empty strings")
    if not value and not allow_empty:
        raise ctx.error(path, "must name at least one doc type")
    if len(set(value)) != len(value):
        raise ctx.error(path, "must not repeat a doc type")
    return tuple(value)


# --- records -------------------------------------------------------------------------------------------------------


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
class Operation(TimedJob):
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

    def percent_at(self, now: float) -> int | None:
        """percentCompleted: 100 once succeeded, none while notStarted or once failed, else the share of time gone."""
        status = self.status_at(now)
        if self.status is not None:
            return 100 if status == "succeeded" else None
        if status == self.NOT_STARTED:
            return None
        return max(1, min(99, int(100 * (now - self.created) / self.duration)))


@dataclass
class ModelAccount:
    """One account's models, classifiers, copy authorizations and copy operations."""

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


# --- the store -----------------------------------------------------------------------------------------------------


class ModelStore:
    """Every account's models, classifiers, authorizations and copy operations. Time, settings and the accounts'
    configs come from the shared :class:`~..store.Store`; it knows nothing about HTTP or wire shapes."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.reset()

    @property
    def settings(self) -> Settings:
        return self.store.settings

    def reset(self) -> None:
        """Back to the state the config file describes."""
        self.accounts: dict[str, ModelAccount] = {}
        self._schedule = Schedule()
        now = self.store.now()
        for name, acc_cfg in self.store.accounts.items():
            self.accounts[name] = ModelAccount(config=acc_cfg)
            for mseed in acc_cfg.models:
                self.seed_model(name, mseed, now=now)
            for cseed in acc_cfg.classifiers:
                self.seed_classifier(name, cseed, now=now)

    # --- seeding (config file and admin API) ----------------------------------------------------------------------

    def seed_model(self, account: str, seed: ModelSeed, *, now: float | None = None) -> Model:
        """Create a model directly (as if built). Replaces a model with the same id."""
        created = seed.created.timestamp() if seed.created else math.floor(now if now is not None else self.store.now())
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
        created = seed.created.timestamp() if seed.created else math.floor(now if now is not None else self.store.now())
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
        return self.accounts[account].assets(kind).remove(asset_id)

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
        asset_id, description, tags = _authorize_request(kind, body)
        now = self.store.now()
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

    def _reserved(self, acct: ModelAccount, kind: AssetKind, asset_id: str, now: float) -> bool:
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
        asset = self._copy_source(source, kind, asset_id)
        now = self.store.now()
        target_name, auth = self._copy_authorization(kind, body, now)
        target = self.accounts[target_name]
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
        op = Operation(
            operation_id=operation_id,
            seq=self._schedule.next_seq(),
            kind=kind,
            account=account,
            prefix=prefix,
            api_version=api_version,
            created=now,
            duration=max(0.0, duration),
            resource_location=auth.payload[AUTH_FIELDS[kind][3]],
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
        self._schedule.add(op.ends_at, op.seq, account, op.operation_id)
        return op

    def _copy_source(self, source: ModelAccount, kind: AssetKind, asset_id: str) -> Model | Classifier:
        """The asset ``copyTo`` copies: it exists, is not prebuilt and (a model) is ready."""
        if kind == "model" and asset_id in PREBUILT_IDS and asset_id not in source.models:
            raise errors.model_read_only(asset_id)
        asset = source.assets(kind).get(asset_id)
        if asset is None:
            raise errors.model_not_found() if kind == "model" else errors.classifier_not_found()
        if isinstance(asset, Model) and not asset.ready:
            raise errors.model_not_ready(asset_id)  # issue 13: copy from a model that is not ready; contracts §2.6
        return asset

    def _copy_authorization(self, kind: AssetKind, body: Any, now: float) -> tuple[str, Authorization]:
        """The target account and the authorization a ``copyTo`` body carries: every field present and a string, the
        target known in its region, the authorization the target issued (field for field), unused and unexpired."""
        names = AUTH_FIELDS[kind]
        if not isinstance(body, dict):
            raise errors.parameter_missing(names[0])
        for name in names:
            if name not in body or body[name] is None:
                raise errors.parameter_missing(name)
            if not isinstance(body[name], str):
                raise errors.invalid_parameter(name, "it must be a string.")
        resource_id, region = body[names[0]], body[names[1]]
        target_name = self.store.account_at(resource_id, region)
        if target_name is None:
            raise errors.target_resource_unknown(resource_id, region)
        auth = self.accounts[target_name].authorizations.get(body[names[4]])
        if auth is None or auth.kind != kind or not _same_authorization(auth, body, names):
            raise errors.authorization_invalid()
        if auth.consumed:
            raise errors.authorization_consumed()
        if now >= auth.expires:
            raise errors.authorization_expired(auth.payload[names[5]])
        return target_name, auth

    def settle(self) -> None:
        """Finish every operation whose time is up. Called before each request, so results appear on time."""
        for account, op_id in self._schedule.due(self.store.now()):
            self._finish(self.accounts[account].operations[op_id])

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
        if op is None or op.kind not in kinds or not self._visible(op, self.store.now()):
            raise errors.operation_not_found()
        return op

    def list_operations(self, account: str, after: str | None, kinds: frozenset[AssetKind]) -> Page:
        """A page of operations in creation order; ``after`` is the seq (as text) of the previous page's last."""
        acct = self.accounts[account]
        try:
            after_seq = int(after) if after is not None else 0
        except ValueError:
            raise errors.invalid_parameter("nextLink", "unknown continuation token") from None
        now = self.store.now()
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


def _authorize_request(kind: AssetKind, body: Any) -> tuple[str, str | None, dict[str, str] | None]:
    """The id, description and tags of an ``authorizeCopy`` body; 400 ``InvalidArgument`` when malformed."""
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
    return asset_id, description, tags


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


# --- wire shapes, per api-version ----------------------------------------------------------------------------------


def model_view(m: Model, api_version: str, *, summary: bool = False) -> dict[str, Any]:
    """DocumentModelDetails (or DocumentModelSummary when ``summary``) for ``api_version``."""
    body: dict[str, Any] = {"modelId": m.model_id}
    if m.description is not None:
        body["description"] = m.description
    body["createdDateTime"] = format_timestamp(m.created)
    if m.expires is not None and api_version != "2022-08-31":
        body["expirationDateTime"] = format_timestamp(m.expires)
    if m.modified is not None and api_version in MODIFIED_VERSIONS and not m.prebuilt and not summary:
        body["modifiedDateTime"] = format_timestamp(m.modified)
    body["apiVersion"] = m.api_version or api_version
    body["tags"] = dict(m.tags)
    if api_version in DI_VERSIONS and not m.prebuilt:
        body["buildMode"] = m.build_mode
    if not summary and not m.prebuilt:
        body["docTypes"] = {name: dict(details) for name, details in m.doc_types.items()}
    return body


def classifier_view(c: Classifier, api_version: str) -> dict[str, Any]:
    """DocumentClassifierDetails: ``modifiedDateTime`` on 2024-11-30 only, ``docTypes.*.sourceKind`` on DI v4 only."""
    body: dict[str, Any] = {"classifierId": c.classifier_id}
    if c.description is not None:
        body["description"] = c.description
    body["createdDateTime"] = format_timestamp(c.created)
    if c.expires is not None:
        body["expirationDateTime"] = format_timestamp(c.expires)
    if c.modified is not None and api_version in MODIFIED_VERSIONS:
        body["modifiedDateTime"] = format_timestamp(c.modified)
    body["apiVersion"] = c.api_version
    body["docTypes"] = {
        name: {k: v for k, v in details.items() if k != "sourceKind" or api_version in SOURCE_KIND_VERSIONS}
        for name, details in c.doc_types.items()
    }
    return body


def asset_view(asset: Model | Classifier, api_version: str, *, listed: bool = False) -> dict[str, Any]:
    """A model (a summary in FR v3 lists) or a classifier."""
    if isinstance(asset, Model):
        return model_view(asset, api_version, summary=listed and api_version in FR_VERSIONS)
    return classifier_view(asset, api_version)


def operation_view(op: Operation, now: float, api_version: str, *, summary: bool = False) -> dict[str, Any]:
    """DocumentIntelligenceOperationDetails / OperationDetails (``summary``: list item, no result/error)."""
    body: dict[str, Any] = {"operationId": op.operation_id, "status": op.status_at(now)}
    percent = op.percent_at(now)
    if percent is not None:
        body["percentCompleted"] = percent
    body["createdDateTime"] = format_timestamp(op.created)
    body["lastUpdatedDateTime"] = format_timestamp(op.last_updated(now))
    body["kind"] = OPERATION_KIND[op.kind]
    body["resourceLocation"] = op.resource_location
    body["apiVersion"] = op.api_version
    if not summary:
        if op.error is not None:
            body["error"] = dict(op.error)
        if op.result is not None:
            body["result"] = asset_view(op.result, api_version)
    return body


def info_view(count: int, limit: int, api_version: str, now: float) -> dict[str, Any]:
    """GET /info (contracts §2.5, §2.7, §3). The neural build quota is static: 0 used of 20, resetting at the
    start of next month (UTC) [INF]."""
    body: dict[str, Any] = {"customDocumentModels": {"count": count, "limit": limit}}
    if api_version in NEURAL_QUOTA_VERSIONS:
        today = dt.datetime.fromtimestamp(now, tz=dt.timezone.utc)
        first_next = dt.datetime(today.year + (today.month == 12), today.month % 12 + 1, 1, tzinfo=dt.timezone.utc)
        body["customNeuralDocumentModelBuilds"] = {"used": 0, "quota": 20, "quotaResetDateTime": format_timestamp(first_next)}
    return body


# --- routes --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DIRoute:
    """A resolved route: its name (as in counters and the request log), the path prefix and path parameters."""

    name: str
    prefix: str
    kind: AssetKind | None = None
    asset_id: str | None = None
    operation_id: str | None = None

    @property
    def action(self) -> str:
        """What to do: ``info``, ``operations:get``, ``operations:list``, or an asset action of either collection
        (``list``, ``get``, ``delete``, ``authorizeCopy``, ``copyTo``)."""
        return self.name.split(":", 1)[1] if self.kind is not None else self.name


def resolve_route(method: str, prefix: str, rest: str) -> DIRoute | None:
    """Map ``METHOD /{prefix}/{rest}`` to a route, or None."""
    parts = rest.split("/")
    if len(parts) == 1:
        head = parts[0]
        if head in COLLECTION_KIND and method == "GET":
            return DIRoute(f"{head}:list", prefix, COLLECTION_KIND[head])
        collection, _, action = head.partition(":")
        if collection in COLLECTION_KIND and action == "authorizeCopy" and method == "POST":
            return DIRoute(f"{collection}:authorizeCopy", prefix, COLLECTION_KIND[collection])
        if head == "operations" and method == "GET":
            return DIRoute("operations:list", prefix)
        if head == "info" and method == "GET":
            return DIRoute("info", prefix)
        return None
    if len(parts) != 2 or not parts[1]:
        return None
    head, item = parts
    if head == "operations":
        return DIRoute("operations:get", prefix, operation_id=item) if method == "GET" else None
    if head not in COLLECTION_KIND:
        return None
    kind = COLLECTION_KIND[head]
    asset_id, colon, action = item.partition(":")
    if colon:
        if action == "copyTo" and method == "POST" and asset_id:
            return DIRoute(f"{head}:copyTo", prefix, kind, asset_id)
        return None
    if method == "GET":
        return DIRoute(f"{head}:get", prefix, kind, asset_id)
    if method == "DELETE":
        return DIRoute(f"{head}:delete", prefix, kind, asset_id)
    return None


def _serves(route: DIRoute, api_version: str | None) -> bool:
    """Whether ``route`` exists in ``api_version`` under its prefix."""
    versions = PREFIX_VERSIONS.get(route.prefix)
    if versions is None or api_version not in versions:
        return False
    if route.kind == "classifier" and api_version not in CLASSIFIER_VERSIONS:
        return False
    if route.kind == "classifier" and route.action in ("authorizeCopy", "copyTo"):
        return api_version in CLASSIFIER_COPY_VERSIONS  # contracts §2.7 / §3: no classifier copy before 2024-11-30
    return True


def _decode_page_token(token: str) -> str:
    return decode_page_token(token, lambda: errors.invalid_parameter("nextLink", "unknown continuation token"))


def _next_link(call: Call[DIRoute], collection: str, after: str) -> str:
    """Absolute ``nextLink`` in the examples' opaque ``?nextLink=<token>`` form, plus api-version (contracts §1)."""
    return f"{call.origin}/{call.route.prefix}/{collection}?nextLink={encode_page_token(after)}&api-version={call.api_version}"


async def _json_body(request: Request) -> Any:
    return await read_json(request, lambda: errors.invalid_parameter("body", "the request body is not valid JSON."))


# --- the service ---------------------------------------------------------------------------------------------------


class Service:
    """The family as the app sees it: routes, handlers, reset/settle, admin routes."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.models = ModelStore(store)

    def reset(self) -> None:
        self.models.reset()

    def settle(self) -> None:
        self.models.settle()

    def resolve(self, method: str, prefix: str, rest: str, query: Mapping[str, str]) -> DIRoute | None:
        return resolve_route(method, prefix, rest)

    def backend_error(self, route: DIRoute | None, error: errors.ServiceError) -> errors.ServiceError:
        return error

    async def dispatch(self, request: Request, account: str, route: DIRoute | None, headers: dict[str, str]) -> Response:
        api_version = request.query_params.get("api-version")
        if route is None or api_version is None or not _serves(route, api_version):
            raise errors.resource_not_found()
        return await _HANDLERS[route.action](self, Call(request, account, route, headers, api_version))

    # -- handlers (one per action; ``_HANDLERS`` below)

    async def _info(self, call: Call[DIRoute]) -> Response:
        count = self.models.count_models(call.account)
        limit = self.store.accounts[call.account].model_limit
        return call.json(200, info_view(count, limit, call.api_version, self.store.now()))

    @staticmethod
    def _operation_kinds(api_version: str) -> frozenset[AssetKind]:
        return frozenset({"model", "classifier"}) if api_version in CLASSIFIER_COPY_VERSIONS else frozenset({"model"})

    async def _get_operation(self, call: Call[DIRoute]) -> Response:
        assert call.route.operation_id is not None
        op = self.models.get_operation(call.account, call.route.operation_id, self._operation_kinds(call.api_version))
        return call.json(200, operation_view(op, self.store.now(), call.api_version))

    async def _list_operations(self, call: Call[DIRoute]) -> Response:
        token = call.query("nextLink")
        after = _decode_page_token(token) if token is not None else None
        page = self.models.list_operations(call.account, after, self._operation_kinds(call.api_version))
        now = self.store.now()
        body: dict[str, Any] = {"value": [operation_view(op, now, call.api_version, summary=True) for op in page.items]}
        if page.next_after is not None:
            body["nextLink"] = _next_link(call, "operations", page.next_after)
        return call.json(200, body)

    async def _list(self, call: Call[DIRoute]) -> Response:
        kind = call.route.kind
        assert kind is not None
        token = call.query("nextLink")
        after = _decode_page_token(token) if token is not None else None
        page = self.models.list_assets(call.account, kind, after, prefix=call.route.prefix)
        body: dict[str, Any] = {"value": [asset_view(a, call.api_version, listed=True) for a in page.items]}
        if page.next_after is not None:
            body["nextLink"] = _next_link(call, COLLECTION[kind], page.next_after)
        return call.json(200, body)

    async def _get(self, call: Call[DIRoute]) -> Response:
        assert call.route.kind is not None and call.route.asset_id is not None
        asset = self.models.get_asset(call.account, call.route.kind, call.route.asset_id, prefix=call.route.prefix)
        return call.json(200, asset_view(asset, call.api_version))

    async def _delete(self, call: Call[DIRoute]) -> Response:
        assert call.route.kind is not None and call.route.asset_id is not None
        self.models.delete_asset(call.account, call.route.kind, call.route.asset_id)
        return call.empty(204)

    async def _authorize_copy(self, call: Call[DIRoute]) -> Response:
        assert call.route.kind is not None
        body = await _json_body(call.request)
        payload = self.models.authorize_copy(
            call.route.kind, call.account, body, account_url=call.origin, prefix=call.route.prefix, api_version=call.api_version
        )
        return call.json(200, payload)

    async def _copy_to(self, call: Call[DIRoute]) -> Response:
        route = call.route
        assert route.kind is not None and route.asset_id is not None
        body = await _json_body(call.request)
        duration, fails = self.store.operation_timing(call.account)
        op = self.models.copy_to(
            route.kind,
            call.account,
            route.asset_id,
            body,
            prefix=route.prefix,
            api_version=call.api_version,
            allow_degrade=call.request.headers.get("x-ms-forms-copy-degrade", "").strip().lower() == "true",
            duration=duration,
            operation_id=f"{secrets.randbelow(10**11):011d}_{call.headers['apim-request-id']}",  # contracts §2.3 shape
            inject_failure=fails,
        )
        location = f"{call.origin}/{route.prefix}/operations/{op.operation_id}?api-version={call.api_version}"
        # No Retry-After: the live service sends none on this 202 (recordings, issue 13), although the
        # 2024-11-30 spec declares one (contracts §2.1); FR v3's spec declares none (contracts §3).
        return call.empty(202, {"Operation-Location": location})

    # -- admin

    def admin_routes(self) -> list[Route]:
        """Seed (POST) and remove (DELETE) models and classifiers: ``/_emulator/accounts/{name}/models[/{id}]``,
        ``.../classifiers[/{id}]``; seeded assets are echoed in the 2024-11-30 shape."""
        models = self.models
        return [
            *self._asset_admin_routes("model", parse_model_seed, lambda name, seed: model_view(models.seed_model(name, seed), ADMIN_API_VERSION)),
            *self._asset_admin_routes(
                "classifier", parse_classifier_seed, lambda name, seed: classifier_view(models.seed_classifier(name, seed), ADMIN_API_VERSION)
            ),
        ]

    def _asset_admin_routes(self, kind: AssetKind, parse: Callable[..., Any], create: Callable[[str, Any], Any]) -> list[Route]:
        """``POST /_emulator/accounts/{name}/{kind}s`` (409 if the id exists) and ``DELETE .../{kind}s/{asset_id}``."""
        id_field = f"{kind}_id"  # of the seed: model_id / classifier_id
        models = self.models
        return [
            seed_route(
                f"/_emulator/accounts/{{name}}/{kind}s",
                self.store.accounts,
                parse,
                kind,
                exists=lambda name, seed: getattr(seed, id_field) in models.accounts[name].assets(kind),
                conflict=f"account {{name!r}} already has a {kind} {{seed.{id_field}!r}}",
                create=lambda name, seed, _: create(name, seed),
            ),
            remove_route(
                f"/_emulator/accounts/{{name}}/{kind}s/{{asset_id}}", self.store.accounts, "asset_id", kind,
                lambda name, asset_id: models.remove_asset(name, kind, asset_id),
            ),
        ]

    def admin_view(self, account: str) -> dict[str, Any]:
        acct = self.models.accounts[account]
        return {"models": list(acct.models.order), "classifiers": list(acct.classifiers.order)}


_HANDLERS: dict[str, Callable[[Service, Call[DIRoute]], Awaitable[Response]]] = {
    "info": Service._info,
    "operations:get": Service._get_operation,
    "operations:list": Service._list_operations,
    "list": Service._list,
    "get": Service._get,
    "delete": Service._delete,
    "authorizeCopy": Service._authorize_copy,
    "copyTo": Service._copy_to,
}
