"""Azure AI Language authoring (analyze-text custom projects, custom NER first): contracts §1 and §6.

Everything Language lives here: the ``[[accounts.X.language_projects]]`` config entries, the per-account store of
projects, trained models, deployments and jobs, the route table under
``{endpoint}/language/authoring/analyze-text/projects...``, the wire shapes (``language-authoring-2023-04-01.json``
and ``-2022-05-01.json``), the dispatcher the app calls and the admin routes. The shared modules only hook in:
``config._parse_account`` calls :func:`parse_language_projects`, ``store.Store`` owns a :class:`LanguageStore` (reset
and settle), ``app`` resolves ``/language/...`` with :func:`resolve_language_route` and answers with
:func:`dispatch`, ``admin`` mounts :func:`admin_routes`.

Jobs (export, import, train, deploy, delete deployment, delete project) run like the DI copy operations: they take
``copy_seconds`` (x10 in slow mode), are ``notStarted`` for the first fifth, then ``running``, then terminal, all
computed from the emulator clock; their effect happens exactly when their time is up, whether or not anybody polls.
The README section "Language authoring" lists every decision taken where the contracts are silent.

Request ids are the app's (every family): ``apim-request-id`` (a new GUID) on every answer [R: every response of
the SDK recordings cited at ``LANGUAGE_VERSIONS``] and ``x-ms-client-request-id`` echoed when sent (the Language specs
declare no such response header; the emulator's shared rule); backend errors add ``x-ms-error-code`` (declared by
the 2024-11-15-preview file; sent on the older versions too, whose swagger files simply declare no response headers).
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import heapq
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from . import errors
from .clock import TimedJob, format_timestamp, to_datetime
from .config import (
    ROUTES,
    _array,
    _check_keys,
    _Ctx,
    _datetime,
    _number,
    _string,
    _table,
    unique_entries,
)
from .wire import json_response as _json
from .wire import read_json

if TYPE_CHECKING:
    from starlette.routing import Route

    from .app import EmulatorApp
    from .store import Store

#: The URL segment after the account endpoint.
PREFIX = "language"
#: The official authoring SDK's default api-version (azure-ai-textanalytics-authoring 1.0.0b1: ``_configuration.py``
#: ``api_version = kwargs.pop("api_version", "2025-05-15-preview")``; its ``get_project_client`` does not even
#: forward a caller's api_version, so a project client made that way always uses it).
SDK_DEFAULT_VERSION = "2025-05-15-preview"
#: Served api-versions (contracts §6); anything else on a Language route answers APIM's 404. ``2024-11-15-preview``
#: is served because the official SDK (azure-ai-textanalytics-authoring 1.0.0b1) cannot call ``begin_import`` with an
#: older api-version (README "Language authoring"), ``2025-05-15-preview`` because it is that SDK's default.
#: contracts/ holds no spec file for 2025-05-15-preview, so it follows the 2024-11-15-preview file (both are
#: TypeSpec-generated). Evidence that the routes drplan and the SDK use have the same shapes there: the SDK's
#: request builders and models are the same for both versions (``api_versions_list=["2024-11-15-preview",
#: "2025-05-15-preview"]``, no parameter added on 2025-05-15-preview); the upstream spec
#: (Azure/azure-rest-api-specs specification/cognitiveservices/data-plane/Language/preview/2025-05-15-preview/
#: analyzetext-authoring.json @ db7ebbb6) has the same ProjectDeployment (``assignedResources`` required),
#: ProjectTrainedModel (``hasSnapshot`` required), job states and paging, and only adds the optional
#: ``storageAccountResourceId`` to ProjectMetadata (not emitted here); and the SDK's own recordings at this version
#: [R] (Azure/azure-sdk-assets python/sdk/cognitivelanguage/azure-ai-textanalytics-authoring/tests/recordings/
#: test_export_project / test_import / test_train_project, Feb 2026) show 202 + ``operation-location`` for export,
#: import and train, JobState / TrainingJobState bodies like 2024-11-15-preview's, an import sent with no ``format``
#: header (so json is the default) and ``projectFileVersion`` "2022-05-01" accepted by it.
LANGUAGE_VERSIONS = ("2023-04-01", "2022-05-01", "2024-11-15-preview", SDK_DEFAULT_VERSION)
#: Versions whose ProjectTrainedModel has ``hasSnapshot``.
SNAPSHOT_VERSIONS = frozenset({"2023-04-01", "2024-11-15-preview", SDK_DEFAULT_VERSION})
#: TypeSpec-generated versions: ``nextLink`` is optional and not nullable (omitted on the last page), deployments
#: carry ``assignedResources``, an ``innererror`` has only a ``code`` (its message moves to the error's message),
#: and ``:import`` takes the ``format`` header.
TYPESPEC_VERSIONS = frozenset({"2024-11-15-preview", SDK_DEFAULT_VERSION})

NER = "CustomEntityRecognition"
SINGLE = "CustomSingleLabelClassification"
MULTI = "CustomMultiLabelClassification"
PROJECT_KINDS = (NER, SINGLE, MULTI)
STRING_INDEX_TYPE = "Utf16CodeUnit"
EVALUATION_KINDS = ("percentage", "manual")

#: Training config versions offered by ``GET /projects/global/training-config-versions`` (the same for every kind).
TRAINING_CONFIG_VERSIONS = ("2022-05-01",)
LATEST_TRAINING_CONFIG = "latest"
#: A trained model (and the deployments of it) expires this long after training [INF].
MODEL_LIFETIME_SECONDS = 730 * 86400.0
#: Jobs are kept this long after they are created (``expirationDateTime``; spec example: created + 7 days).
JOB_RETENTION_SECONDS = 7 * 86400.0
#: .NET ticks (100 ns since 0001-01-01) at the Unix epoch, for job ids ``<guid>_<ticks>``.
_EPOCH_TICKS = 621_355_968_000_000_000
ERROR_CODE_HEADER = "x-ms-error-code"

PROJECT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
MAX_PROJECT_NAME = 100

#: Route names (request log, counters, the ``routes`` fault filter): the ``language:`` names of ``config.ROUTES``.
ROUTE_NAMES = tuple(r for r in ROUTES if r.startswith("language:"))


# --- errors (contracts §1 envelope, §6.3 codes) -----------------------------------------------------------------


class LanguageError(errors.ServiceError):
    """A Language backend error: the §1 envelope with optional ``details``, and ``x-ms-error-code``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        inner_code: str | None = None,
        inner_message: str | None = None,
    ) -> None:
        super().__init__(status, code, message, inner_code=inner_code, inner_message=inner_message, headers={ERROR_CODE_HEADER: code})
        self.details = details
        self.api_version: str | None = None  # set by dispatch: the wire shape follows the request's api-version

    def error_object(self) -> dict[str, Any]:
        body = super().error_object()
        if self.details:
            body["details"] = [dict(d) for d in self.details]
        return error_for(body, self.api_version)


def error_for(error: dict[str, Any], api_version: str | None) -> dict[str, Any]:
    """An error object in the shape of ``api_version``: TypeSpec versions' InnerError has no ``message``."""
    if api_version not in TYPESPEC_VERSIONS or "innererror" not in error:
        return dict(error)
    inner = error["innererror"]
    out = {**error, "message": inner.get("message", error["message"]), "innererror": {"code": inner["code"]}}
    return out


def with_error_code(error: errors.ServiceError) -> errors.ServiceError:
    """The same error with ``x-ms-error-code`` (injected 503s and emulator bugs on Language routes)."""
    if ERROR_CODE_HEADER in error.headers:
        return error
    error.headers = {**error.headers, ERROR_CODE_HEADER: error.code}
    return error


def project_not_found(name: str) -> LanguageError:
    """The body contracts §6.3 gives for a missing project."""
    return LanguageError(
        404, "ProjectNotFound", "The specified project was not found.", details=[{"code": "ProjectNotFound", "message": name}]
    )


def job_not_found(job_id: str) -> LanguageError:
    return LanguageError(
        404, "OperationNotFound", "The specified job was not found.", details=[{"code": "OperationNotFound", "message": job_id}]
    )


def model_not_found(label: str) -> LanguageError:
    return LanguageError(404, "NotFound", "The specified trained model was not found.", details=[{"code": "NotFound", "message": label}])


def deployment_not_found(name: str) -> LanguageError:
    return LanguageError(404, "NotFound", "The specified deployment was not found.", details=[{"code": "NotFound", "message": name}])


def bad_body(message: str, inner: str = "InvalidRequestBodyFormat") -> LanguageError:
    """A missing or malformed request body or body field."""
    return LanguageError(400, "InvalidRequest", "Invalid request body.", inner_code=inner, inner_message=message)


def bad_value(message: str) -> LanguageError:
    """A well-formed body field with a value the service does not accept."""
    return LanguageError(400, "InvalidRequest", "Invalid request.", inner_code="InvalidParameterValue", inner_message=message)


def bad_query(message: str) -> LanguageError:
    """A missing or invalid query parameter (stringIndexType, top, skip, maxpagesize, projectKind)."""
    return LanguageError(400, "InvalidArgument", "Invalid argument.", inner_code="InvalidParameterValue", inner_message=message)


def injected_failure() -> LanguageError:
    return LanguageError(500, "InternalServerError", "An unexpected error occurred.")


# --- config: [[accounts.X.language_projects]] ----------------------------------------------------------------------

PROJECT_KEYS = (
    "project_name",
    "project_kind",
    "language",
    "description",
    "multilingual",
    "storage_input_container",
    "settings",
    "created",
    "last_modified",
    "entities",
    "classes",
    "documents",
    "trained_models",
    "deployments",
)
DOCUMENT_KEYS = ("location", "language", "dataset", "labels", "region_offset", "region_length", "classes")
LABEL_KEYS = ("category", "offset", "length")
MODEL_KEYS = ("label", "training_config_version", "trained", "model_id", "training_duration_seconds")
DEPLOYMENT_KEYS = ("name", "model_label", "deployed")


@dataclass
class TrainedModelSeed:
    label: str
    training_config_version: str = TRAINING_CONFIG_VERSIONS[-1]
    trained: dt.datetime | None = None  # None: the project's lastModifiedDateTime
    model_id: str | None = None  # None: generated, the same after every reset
    training_duration_seconds: int = 60


@dataclass
class DeploymentSeed:
    name: str
    model_label: str
    deployed: dt.datetime | None = None  # None: the model's trained time


@dataclass
class LanguageProjectSeed:
    """One ``[[accounts.X.language_projects]]`` entry (also the admin API body)."""

    project_name: str
    project_kind: str = NER
    language: str = "en"
    description: str | None = None
    multilingual: bool = False
    storage_input_container: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    created: dt.datetime | None = None  # None: the emulator's start time
    last_modified: dt.datetime | None = None  # None: = created
    assets: dict[str, Any] = field(default_factory=dict)  # wire-shaped ExportedProjectAssets
    trained_models: list[TrainedModelSeed] = field(default_factory=list)
    deployments: list[DeploymentSeed] = field(default_factory=list)


def parse_language_projects(ctx: _Ctx, where: str, raw: Any) -> list[LanguageProjectSeed]:
    """``accounts.X.language_projects`` (an array of tables); project names are unique per account."""
    return unique_entries(ctx, where, raw, parse_language_project_seed, "project_name", "project name")


def parse_language_project_seed(entry: Any, where: str = "language_project", source: str = "<request>") -> LanguageProjectSeed:
    """Validate one project entry; every error names its key (``accounts.a.language_projects[0].documents[1]...``)."""
    ctx = _Ctx(source)
    entry = _table(ctx, where, entry)
    _check_keys(ctx, where, entry, PROJECT_KEYS)
    if "project_name" not in entry:
        raise ctx.error(f"{where}.project_name", "is required")
    name = _string(ctx, f"{where}.project_name", entry["project_name"])
    if not PROJECT_NAME_RE.match(name):
        raise ctx.error(f"{where}.project_name", f"{name!r} must match {PROJECT_NAME_RE.pattern}")
    kind = entry.get("project_kind", NER)
    if kind not in PROJECT_KINDS:
        raise ctx.error(f"{where}.project_kind", f"must be one of {', '.join(PROJECT_KINDS)}")
    language = _string(ctx, f"{where}.language", entry.get("language", "en"))
    if not language:
        raise ctx.error(f"{where}.language", "must not be empty")
    description = entry.get("description")
    if description is not None:
        description = _string(ctx, f"{where}.description", description)
    multilingual = entry.get("multilingual", False)
    if not isinstance(multilingual, bool):
        raise ctx.error(f"{where}.multilingual", "must be true or false")
    container = _string(ctx, f"{where}.storage_input_container", entry.get("storage_input_container", f"{name}-docs"))
    if not container:
        raise ctx.error(f"{where}.storage_input_container", "must not be empty")
    settings = _table(ctx, f"{where}.settings", entry.get("settings", {}))
    _check_keys(ctx, f"{where}.settings", settings, ("confidenceThreshold",))
    if "confidenceThreshold" in settings:
        threshold = _number(ctx, f"{where}.settings.confidenceThreshold", settings["confidenceThreshold"], minimum=0.0)
        if threshold > 1.0:
            raise ctx.error(f"{where}.settings.confidenceThreshold", "must be between 0 and 1")
    created = _datetime(ctx, f"{where}.created", entry.get("created"))
    last_modified = _datetime(ctx, f"{where}.last_modified", entry.get("last_modified"))
    if created and last_modified and last_modified < created:
        raise ctx.error(f"{where}.last_modified", "must not be before created")

    categories_key = "entities" if kind == NER else "classes"
    other_key = "classes" if kind == NER else "entities"
    if other_key in entry:
        raise ctx.error(f"{where}.{other_key}", f"a {kind} project has {categories_key}, not {other_key}")
    categories = _names(ctx, f"{where}.{categories_key}", entry.get(categories_key, []))
    documents = [
        _parse_document(ctx, f"{where}.documents[{i}]", doc, kind, categories, language)
        for i, doc in enumerate(_array(ctx, f"{where}.documents", entry.get("documents", [])))
    ]
    locations = [d["location"] for d in documents]
    for i, loc in enumerate(locations):
        if loc in locations[:i]:
            raise ctx.error(f"{where}.documents[{i}].location", f"duplicate document {loc!r}")
    assets: dict[str, Any] = {"projectKind": kind, categories_key: [{"category": c} for c in categories], "documents": documents}

    models: list[TrainedModelSeed] = []
    for i, raw in enumerate(_array(ctx, f"{where}.trained_models", entry.get("trained_models", []))):
        path = f"{where}.trained_models[{i}]"
        raw = _table(ctx, path, raw)
        _check_keys(ctx, path, raw, MODEL_KEYS)
        if "label" not in raw:
            raise ctx.error(f"{path}.label", "is required")
        label = _label(ctx, f"{path}.label", raw["label"])
        if any(m.label == label for m in models):
            raise ctx.error(f"{path}.label", f"duplicate model label {label!r}")
        tcv = _string(ctx, f"{path}.training_config_version", raw.get("training_config_version", TRAINING_CONFIG_VERSIONS[-1]))
        if not tcv:
            raise ctx.error(f"{path}.training_config_version", "must not be empty")
        model_id = raw.get("model_id")
        if model_id is not None:
            model_id = _string(ctx, f"{path}.model_id", model_id)
            if not model_id:
                raise ctx.error(f"{path}.model_id", "must not be empty")
        duration = raw.get("training_duration_seconds", 60)
        if not isinstance(duration, int) or isinstance(duration, bool) or duration < 0:
            raise ctx.error(f"{path}.training_duration_seconds", "must be an integer >= 0")
        trained = _datetime(ctx, f"{path}.trained", raw.get("trained"))
        if trained and created and trained < created:
            raise ctx.error(f"{path}.trained", "must not be before the project's created")
        models.append(TrainedModelSeed(label, tcv, trained, model_id, duration))

    deployments: list[DeploymentSeed] = []
    for i, raw in enumerate(_array(ctx, f"{where}.deployments", entry.get("deployments", []))):
        path = f"{where}.deployments[{i}]"
        raw = _table(ctx, path, raw)
        _check_keys(ctx, path, raw, DEPLOYMENT_KEYS)
        for required in ("name", "model_label"):
            if required not in raw:
                raise ctx.error(f"{path}.{required}", "is required")
        dname = _label(ctx, f"{path}.name", raw["name"])
        if any(d.name == dname for d in deployments):
            raise ctx.error(f"{path}.name", f"duplicate deployment name {dname!r}")
        label = _string(ctx, f"{path}.model_label", raw["model_label"])
        model = next((m for m in models if m.label == label), None)
        if model is None:
            raise ctx.error(f"{path}.model_label", f"no trained model labelled {label!r} in trained_models")
        deployed = _datetime(ctx, f"{path}.deployed", raw.get("deployed"))
        if deployed and model.trained and deployed < model.trained:
            raise ctx.error(f"{path}.deployed", "must not be before the model's trained time")
        deployments.append(DeploymentSeed(dname, label, deployed))

    return LanguageProjectSeed(
        project_name=name,
        project_kind=kind,
        language=language,
        description=description,
        multilingual=multilingual,
        storage_input_container=container,
        settings=dict(settings),
        created=created,
        last_modified=last_modified,
        assets=assets,
        trained_models=models,
        deployments=deployments,
    )


def _names(ctx: _Ctx, path: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ctx.error(path, "must be a list of non-empty strings")
    if len(set(value)) != len(value):
        raise ctx.error(path, "must not repeat a category")
    return list(value)


def _label(ctx: _Ctx, path: str, value: Any) -> str:
    text = _string(ctx, path, value)
    if not text or "/" in text or len(text) > MAX_PROJECT_NAME:
        raise ctx.error(path, "must be a non-empty name of at most 100 characters without '/'")
    return text


def _nonneg_int(ctx: _Ctx, path: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value >= 2**31:
        raise ctx.error(path, "must be an integer >= 0 (int32)")
    return value


def _parse_document(ctx: _Ctx, path: str, raw: Any, kind: str, categories: list[str], language: str) -> dict[str, Any]:
    raw = _table(ctx, path, raw)
    _check_keys(ctx, path, raw, DOCUMENT_KEYS)
    if "location" not in raw:
        raise ctx.error(f"{path}.location", "is required")
    location = _string(ctx, f"{path}.location", raw["location"])
    if not location:
        raise ctx.error(f"{path}.location", "must not be empty")
    doc: dict[str, Any] = {"location": location, "language": _string(ctx, f"{path}.language", raw.get("language", language))}
    dataset = raw.get("dataset", "Train")
    if dataset not in ("Train", "Test"):
        raise ctx.error(f"{path}.dataset", "must be Train or Test")
    doc["dataset"] = dataset
    if kind == NER:
        for key in ("classes",):
            if key in raw:
                raise ctx.error(f"{path}.{key}", f"a {kind} document has labels, not {key}")
        labels = []
        for j, lab in enumerate(_array(ctx, f"{path}.labels", raw.get("labels", []))):
            lpath = f"{path}.labels[{j}]"
            lab = _table(ctx, lpath, lab)
            _check_keys(ctx, lpath, lab, LABEL_KEYS)
            for required in LABEL_KEYS:
                if required not in lab:
                    raise ctx.error(f"{lpath}.{required}", "is required")
            category = _string(ctx, f"{lpath}.category", lab["category"])
            if category not in categories:
                raise ctx.error(f"{lpath}.category", f"{category!r} is not one of the project's entities {categories}")
            labels.append(
                {"category": category, "offset": _nonneg_int(ctx, f"{lpath}.offset", lab["offset"]), "length": _nonneg_int(ctx, f"{lpath}.length", lab["length"])}
            )
        region_offset = _nonneg_int(ctx, f"{path}.region_offset", raw.get("region_offset", 0))
        end = max((lab["offset"] + lab["length"] for lab in labels), default=region_offset)
        region_length = _nonneg_int(ctx, f"{path}.region_length", raw.get("region_length", max(0, end - region_offset)))
        for j, lab in enumerate(labels):
            if lab["offset"] < region_offset or lab["offset"] + lab["length"] > region_offset + region_length:
                raise ctx.error(f"{path}.labels[{j}]", "lies outside the document's entity region (region_offset/region_length)")
        doc["entities"] = [{"regionOffset": region_offset, "regionLength": region_length, "labels": labels}] if labels else []
    else:
        for key in ("labels", "region_offset", "region_length"):
            if key in raw:
                raise ctx.error(f"{path}.{key}", f"a {kind} document has classes, not {key}")
        classes = _names(ctx, f"{path}.classes", raw.get("classes", []))
        for c in classes:
            if c not in categories:
                raise ctx.error(f"{path}.classes", f"{c!r} is not one of the project's classes {categories}")
        if kind == SINGLE:
            if len(classes) > 1:
                raise ctx.error(f"{path}.classes", "a single-label document has at most one class")
            if classes:
                doc["class"] = {"category": classes[0]}
        else:
            doc["classes"] = [{"category": c} for c in classes]
    return doc


# --- records -------------------------------------------------------------------------------------------------------


@dataclass
class TrainedModel:
    label: str
    model_id: str
    trained: float
    duration_seconds: int
    training_config_version: str
    expires: float


@dataclass
class Deployment:
    name: str
    model_label: str
    model_id: str
    last_trained: float
    deployed: float
    expires: float
    training_config_version: str


@dataclass
class Project:
    """One project: its metadata (CreateProjectOptions), its assets, trained models and deployments."""

    name: str
    kind: str
    language: str
    storage_input_container: str
    created: float
    last_modified: float
    description: str | None = None
    multilingual: bool = False
    settings: dict[str, Any] = field(default_factory=dict)
    assets: dict[str, Any] = field(default_factory=dict)  # wire-shaped ExportedProjectAssets (with projectKind)
    models: dict[str, TrainedModel] = field(default_factory=dict)
    deployments: dict[str, Deployment] = field(default_factory=dict)
    last_trained: float | None = None
    last_deployed: float | None = None


@dataclass
class Job(TimedJob):
    """An authoring job (export, import, train, deploy, undeploy, delete) on one account."""

    job_id: str
    seq: int
    kind: str  # export | import | train | deploy | undeploy | delete
    account: str
    project: str  # the project name of the URL ("" is never used; deletion jobs keep the deleted name)
    api_version: str
    created: float
    duration: float
    payload: Any = None  # export: ExportedProject snapshot; import: normalised body; train: options; deploy: label
    deployment: str | None = None
    failure: LanguageError | None = None  # decided when accepted (injected fault); more may come at the end
    status: str | None = None  # final status once finished
    finished_at: float | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class LanguageAccount:
    name: str
    projects: dict[str, Project] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)


# --- store ---------------------------------------------------------------------------------------------------------


class LanguageStore:
    """Every account's Language projects and jobs. Clock, settings and accounts come from the owning Store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.accounts: dict[str, LanguageAccount] = {}
        self._pending: list[tuple[float, int, str, str]] = []  # (ends_at, seq, account, job id)
        self._seq = 0
        now = math.floor(store.clock.now())
        for name, acc_cfg in store.config.accounts.items():
            self.accounts[name] = LanguageAccount(name)
            for seed in getattr(acc_cfg, "language_projects", []):
                self.seed_project(name, seed, now=now)

    def _now(self) -> float:
        return self.store.clock.now()

    # -- seeding and admin

    def seed_project(self, account: str, seed: LanguageProjectSeed, *, now: float | None = None, replace: bool = False) -> Project:
        """Create a project from a config/admin entry. ``replace``: an existing project keeps its createdDateTime
        (unless the entry gives ``created``), trained models and deployments (entries given are added or replace
        the same label/name); metadata and assets are replaced and lastModifiedDateTime = ``last_modified`` or now."""
        acct = self.accounts[account]
        now = math.floor(self._now() if now is None else now)
        old = acct.projects.get(seed.project_name) if replace else None
        created = seed.created.timestamp() if seed.created else (old.created if old else now)
        last_modified = seed.last_modified.timestamp() if seed.last_modified else (now if old else created)
        project = Project(
            name=seed.project_name,
            kind=seed.project_kind,
            language=seed.language,
            storage_input_container=seed.storage_input_container or f"{seed.project_name}-docs",
            created=created,
            last_modified=max(created, last_modified),
            description=seed.description,
            multilingual=seed.multilingual,
            settings=dict(seed.settings),
            assets=copy.deepcopy(seed.assets) or _empty_assets(seed.project_kind),
        )
        if old is not None:
            project.models, project.deployments = old.models, old.deployments
            project.last_trained, project.last_deployed = old.last_trained, old.last_deployed
        for mseed in seed.trained_models:
            trained = mseed.trained.timestamp() if mseed.trained else project.last_modified
            model_id = mseed.model_id or _model_id(
                mseed.label, trained, hashlib.md5(f"{self.store.config.seed}/{account}/{seed.project_name}/{mseed.label}".encode()).hexdigest()
            )
            project.models[mseed.label] = TrainedModel(
                mseed.label, model_id, trained, mseed.training_duration_seconds, mseed.training_config_version, trained + MODEL_LIFETIME_SECONDS
            )
            project.last_trained = max(project.last_trained or trained, trained)
        for dseed in seed.deployments:
            model = project.models[dseed.model_label]
            deployed = dseed.deployed.timestamp() if dseed.deployed else model.trained
            project.deployments[dseed.name] = _deployment(dseed.name, model, deployed)
            project.last_deployed = max(project.last_deployed or deployed, deployed)
        acct.projects[project.name] = project
        return project

    def remove_project(self, account: str, name: str) -> bool:
        return self.accounts[account].projects.pop(name, None) is not None

    def project_names(self, account: str) -> list[str]:
        return sorted(self.accounts[account].projects)

    # -- reads

    def project(self, account: str, name: str) -> Project:
        found = self.accounts[account].projects.get(name)
        if found is None:
            raise project_not_found(name)
        return found

    def job(self, account: str, job_id: str, kind: str, project: str | None, deployment: str | None = None) -> Job:
        """A job by id, only through the path of its own kind/project/deployment, and only while retained."""
        job = self.accounts[account].jobs.get(job_id)
        if (
            job is None
            or job.kind not in kind.split("|")
            or (project is not None and job.project != project)
            or (deployment is not None and job.deployment != deployment)
            or self._now() >= job.created + JOB_RETENTION_SECONDS
        ):
            raise job_not_found(job_id)
        return job

    def training_jobs(self, account: str, project: str) -> list[Job]:
        now = self._now()
        jobs = [j for j in self.accounts[account].jobs.values() if j.kind == "train" and j.project == project]
        return sorted((j for j in jobs if now < j.created + JOB_RETENTION_SECONDS), key=lambda j: j.seq)

    # -- project writes

    def patch_project(self, account: str, name: str, body: Any) -> tuple[Project, bool]:
        """PATCH (merge-patch): create (True) or update (False)."""
        if not isinstance(body, dict):
            raise bad_body("The request body must be a JSON object.")
        acct = self.accounts[account]
        existing = acct.projects.get(name)
        now = math.floor(self._now())
        if existing is None:
            if len(name) > MAX_PROJECT_NAME:
                raise bad_value(f"The project name must be at most {MAX_PROJECT_NAME} characters.")
            merged = _merge({}, body)
            meta = _metadata(merged, require_name=False)
            project = Project(
                name=name,
                kind=meta["projectKind"],
                language=meta["language"],
                storage_input_container=meta["storageInputContainerName"],
                created=now,
                last_modified=now,
                description=meta.get("description"),
                multilingual=meta.get("multilingual", False),
                settings=meta.get("settings", {}),
                assets=_empty_assets(meta["projectKind"]),
            )
            acct.projects[name] = project
            return project, True
        merged = _merge(_create_options(existing, full_settings=True), body)
        meta = _metadata(merged, require_name=False)
        if meta["projectKind"] != existing.kind:
            raise bad_value("The project kind of an existing project cannot be changed.")
        existing.language = meta["language"]
        existing.storage_input_container = meta["storageInputContainerName"]
        existing.description = meta.get("description")
        existing.multilingual = meta.get("multilingual", False)
        existing.settings = meta.get("settings", {})
        existing.last_modified = max(now, existing.created)
        return existing, False

    # -- jobs

    def _start(self, account: str, kind: str, project: str, api_version: str, duration: float, fail: Callable[[], bool], **kw: Any) -> Job:
        """Accept a job; ``fail`` (the operation_failure_rate draw) is called only now, after every check passed."""
        now = self._now()
        self._seq += 1
        ticks = _EPOCH_TICKS + math.floor(now) * 10_000_000
        job = Job(
            job_id=f"{uuid.uuid4()}_{ticks}",
            seq=self._seq,
            kind=kind,
            account=account,
            project=project,
            api_version=api_version,
            created=now,
            duration=max(0.0, duration),
            failure=injected_failure() if fail() else None,
            **kw,
        )
        self.accounts[account].jobs[job.job_id] = job
        heapq.heappush(self._pending, (job.ends_at, job.seq, account, job.job_id))
        if job.duration <= 0:
            self.settle()
        return job

    def start_export(self, account: str, name: str, api_version: str, *, duration: float, fail: Callable[[], bool]) -> Job:
        project = self.project(account, name)
        snapshot = exported_project(project, api_version)  # the project as it is when the export is accepted
        return self._start(account, "export", name, api_version, duration, fail, payload=snapshot)

    def start_import(self, account: str, name: str, body: Any, api_version: str, *, duration: float, fail: Callable[[], bool]) -> Job:
        if len(name) > MAX_PROJECT_NAME:
            raise bad_value(f"The project name must be at most {MAX_PROJECT_NAME} characters.")
        normalised = _import_body(body)
        return self._start(account, "import", name, api_version, duration, fail, payload=normalised)

    def start_train(self, account: str, name: str, body: Any, api_version: str, *, duration: float, fail: Callable[[], bool]) -> Job:
        self.project(account, name)
        options = _training_options(body)
        return self._start(account, "train", name, api_version, duration, fail, payload=options)

    def start_deploy(self, account: str, name: str, deployment: str, body: Any, api_version: str, *, duration: float, fail: Callable[[], bool]) -> Job:
        project = self.project(account, name)
        if not isinstance(body, dict):
            raise bad_body("The request body must be a JSON object with trainedModelLabel.")
        label = body.get("trainedModelLabel")
        if label is None:
            raise bad_body("The parameter trainedModelLabel is required.")
        if not isinstance(label, str) or not label:
            raise bad_body("The parameter trainedModelLabel must be a non-empty string.")
        if label not in project.models:
            raise model_not_found(label)
        return self._start(account, "deploy", name, api_version, duration, fail, payload=label, deployment=deployment)

    def start_undeploy(self, account: str, name: str, deployment: str, api_version: str, *, duration: float, fail: Callable[[], bool]) -> Job:
        if deployment not in self.project(account, name).deployments:
            raise deployment_not_found(deployment)
        return self._start(account, "undeploy", name, api_version, duration, fail, deployment=deployment)

    def start_delete(self, account: str, name: str, api_version: str, *, duration: float, fail: Callable[[], bool]) -> Job:
        self.project(account, name)
        return self._start(account, "delete", name, api_version, duration, fail)

    def cancel_training(self, account: str, name: str, job_id: str) -> Job:
        job = self.job(account, job_id, "train", name)
        if job.status is not None:
            raise bad_value(f"The job '{job_id}' has already finished with status '{job.status}'.")
        job.status, job.finished_at = "cancelled", self._now()
        return job

    def settle(self) -> None:
        """Finish every job whose time is up (called before each request and after the clock moves)."""
        now = self._now()
        while self._pending and self._pending[0][0] <= now:
            _, _, account, job_id = heapq.heappop(self._pending)
            job = self.accounts[account].jobs.get(job_id)
            if job is not None and job.status is None:
                self._finish(job)

    def _finish(self, job: Job) -> None:
        job.finished_at = job.ends_at
        acct = self.accounts[job.account]
        failure = job.failure
        if failure is None:
            try:
                self._apply(job, acct, math.floor(job.ends_at))
            except LanguageError as exc:
                failure = exc
        if failure is not None:
            job.status, job.errors = "failed", [failure.error_object()]
            return
        job.status = "succeeded"

    def _apply(self, job: Job, acct: LanguageAccount, at: float) -> None:
        """The job's effect at its completion time ``at``; a LanguageError fails the job with that error."""
        if job.kind == "export":
            return
        if job.kind == "import":
            body = job.payload
            _check_import_semantics(body)
            meta = body["metadata"]
            old = acct.projects.get(job.project)
            project = Project(
                name=job.project,  # the URL's name wins over metadata.projectName
                kind=meta["projectKind"],
                language=meta["language"],
                storage_input_container=meta["storageInputContainerName"],
                created=old.created if old else at,
                last_modified=at,
                description=meta.get("description"),
                multilingual=meta.get("multilingual", False),
                settings=meta.get("settings", {}),
                assets=body["assets"],
            )
            if old is not None:  # import replaces metadata and assets; trained models and deployments stay
                project.models, project.deployments = old.models, old.deployments
                project.last_trained, project.last_deployed = old.last_trained, old.last_deployed
            acct.projects[job.project] = project
            return
        project = acct.projects.get(job.project)
        if project is None:
            raise project_not_found(job.project)
        if job.kind == "train":
            options = job.payload
            trainable = [d for d in project.assets.get("documents", []) if d.get("dataset", "Train").lower() != "test"]
            if options.get("evaluationOptions", {}).get("kind") == "manual":
                trainable = [d for d in trainable if d.get("dataset") == "Train"]
            if not trainable:
                raise LanguageError(
                    400,
                    "InvalidRequest",
                    "The project has no documents in the Train dataset.",
                    inner_code="MissingInputDocuments",
                    inner_message=f"Project '{project.name}' has no training documents.",
                )
            label = options["modelLabel"]
            project.models[label] = TrainedModel(
                label=label,
                model_id=_model_id(label, at, uuid.uuid4().hex),
                trained=at,
                duration_seconds=max(0, round(job.duration)),
                training_config_version=options["trainingConfigVersion"],
                expires=at + MODEL_LIFETIME_SECONDS,
            )
            project.last_trained = at
        elif job.kind == "deploy":
            assert job.deployment is not None
            model = project.models.get(job.payload)
            if model is None:
                raise model_not_found(job.payload)
            project.deployments[job.deployment] = _deployment(job.deployment, model, at)
            project.last_deployed = at
        elif job.kind == "undeploy":
            assert job.deployment is not None
            project.deployments.pop(job.deployment, None)
        elif job.kind == "delete":
            del acct.projects[job.project]


def _empty_assets(kind: str) -> dict[str, Any]:
    return {"projectKind": kind, ("entities" if kind == NER else "classes"): [], "documents": []}


def _model_id(label: str, trained: float, hex32: str) -> str:
    """``<label>-<yyyymmddThhmmss>-<32 hex>`` (contracts §6.2)."""
    return f"{label}-{to_datetime(trained).strftime('%Y%m%dT%H%M%S')}-{hex32[:32]}"


def _deployment(name: str, model: TrainedModel, deployed: float) -> Deployment:
    return Deployment(name, model.label, model.model_id, model.trained, deployed, model.expires, model.training_config_version)


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7396 JSON merge patch."""
    out = copy.deepcopy(target)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _metadata(meta: Any, *, require_name: bool) -> dict[str, Any]:
    """Validate CreateProjectOptions (a project body or an import's ``metadata``): 400 on any problem."""
    if not isinstance(meta, dict):
        raise bad_body("The project metadata must be a JSON object.")
    required = ["projectKind", "storageInputContainerName", "language"] + (["projectName"] if require_name else [])
    for key in required:
        if meta.get(key) is None:
            raise bad_body(f"The parameter {key} is required.")
    for key in ("projectKind", "storageInputContainerName", "language", "projectName", "description"):
        if key in meta and meta[key] is not None and not isinstance(meta[key], str):
            raise bad_body(f"The parameter {key} must be a string.")
    if meta["projectKind"] not in PROJECT_KINDS:
        raise bad_value(f"The project kind '{meta['projectKind']}' is not supported; expected one of {', '.join(PROJECT_KINDS)}.")
    if not meta["storageInputContainerName"] or not meta["language"]:
        raise bad_value("storageInputContainerName and language must not be empty.")
    if "multilingual" in meta and not isinstance(meta["multilingual"], bool):
        raise bad_body("The parameter multilingual must be a boolean.")
    settings = meta.get("settings")
    if settings is not None:
        if not isinstance(settings, dict):
            raise bad_body("The parameter settings must be a JSON object.")
        threshold = settings.get("confidenceThreshold")
        if threshold is not None and (
            isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1
        ):
            raise bad_value("settings.confidenceThreshold must be a number between 0 and 1.")
    out = {k: meta[k] for k in ("projectKind", "storageInputContainerName", "language") }
    if meta.get("description") is not None:
        out["description"] = meta["description"]
    if "multilingual" in meta:
        out["multilingual"] = meta["multilingual"]
    if settings:
        out["settings"] = dict(settings)
    if meta.get("projectName") is not None:
        out["projectName"] = meta["projectName"]
    return out


def _import_body(body: Any) -> dict[str, Any]:
    """Validate an ExportedProject synchronously (structure only: 400s); semantics are checked when the job runs."""
    if body is None:
        raise bad_body("The request body is empty.", inner="EmptyRequest")
    if not isinstance(body, dict):
        raise bad_body("The request body must be an exported project (a JSON object).")
    for key in ("projectFileVersion", "stringIndexType", "metadata"):
        if body.get(key) is None:
            raise bad_body(f"The parameter {key} is required.")
    if not isinstance(body["projectFileVersion"], str) or not body["projectFileVersion"]:
        raise bad_body("The parameter projectFileVersion must be a non-empty string.")
    if body["stringIndexType"] != STRING_INDEX_TYPE:
        raise bad_value(f"The stringIndexType '{body['stringIndexType']}' is not supported; expected {STRING_INDEX_TYPE}.")
    meta = _metadata(body["metadata"], require_name=False)
    kind = meta["projectKind"]
    raw_assets = body.get("assets")
    if raw_assets is None:
        assets = _empty_assets(kind)
    else:
        if not isinstance(raw_assets, dict):
            raise bad_body("The parameter assets must be a JSON object.")
        if raw_assets.get("projectKind", kind) != kind:
            raise bad_value(f"assets.projectKind '{raw_assets.get('projectKind')}' differs from metadata.projectKind '{kind}'.")
        assets = _normalise_assets(kind, raw_assets)
    return {"projectFileVersion": body["projectFileVersion"], "stringIndexType": STRING_INDEX_TYPE, "metadata": meta, "assets": assets}


def _list_of_objects(value: Any, where: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise bad_body(f"The parameter {where} must be an array of objects.")
    return value


def _opt_str(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise bad_body(f"The parameter {where}.{key} must be a string.")
    return value


def _opt_int(obj: dict[str, Any], key: str, where: str) -> int | None:
    value = obj.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not -(2**31) <= value < 2**31):
        raise bad_body(f"The parameter {where}.{key} must be an int32.")
    return value


def _normalise_assets(kind: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Keep the fields of the 2023-04-01 schema for ``kind`` (later versions' extras, e.g. an entity
    ``description``, are dropped); regions without regionOffset/regionLength get 0 / the end of their last label."""
    key = "entities" if kind == NER else "classes"
    categories = []
    for i, c in enumerate(_list_of_objects(raw.get(key), f"assets.{key}")):
        entry = {}
        if _opt_str(c, "category", f"assets.{key}[{i}]") is not None:
            entry["category"] = c["category"]
        categories.append(entry)
    documents = []
    for i, d in enumerate(_list_of_objects(raw.get("documents"), "assets.documents")):
        where = f"assets.documents[{i}]"
        doc: dict[str, Any] = {}
        for field_name in ("location", "language", "dataset"):
            if _opt_str(d, field_name, where) is not None:
                doc[field_name] = d[field_name]
        if kind == NER:
            regions = []
            for j, r in enumerate(_list_of_objects(d.get("entities"), f"{where}.entities")):
                rwhere = f"{where}.entities[{j}]"
                labels = []
                for k, lab in enumerate(_list_of_objects(r.get("labels"), f"{rwhere}.labels")):
                    lwhere = f"{rwhere}.labels[{k}]"
                    label: dict[str, Any] = {}
                    if _opt_str(lab, "category", lwhere) is not None:
                        label["category"] = lab["category"]
                    for n in ("offset", "length"):
                        if _opt_int(lab, n, lwhere) is not None:
                            label[n] = lab[n]
                    labels.append(label)
                offset = _opt_int(r, "regionOffset", rwhere)
                length = _opt_int(r, "regionLength", rwhere)
                offset = 0 if offset is None else offset
                if length is None:
                    length = max([lab.get("offset", 0) + lab.get("length", 0) for lab in labels] + [offset]) - offset
                regions.append({"regionOffset": offset, "regionLength": length, "labels": labels})
            doc["entities"] = regions
        elif kind == SINGLE:
            cls = d.get("class")
            if cls is not None:
                if not isinstance(cls, dict):
                    raise bad_body(f"The parameter {where}.class must be an object.")
                doc["class"] = {"category": cls["category"]} if _opt_str(cls, "category", f"{where}.class") is not None else {}
        else:
            doc["classes"] = [
                {"category": c["category"]} if _opt_str(c, "category", f"{where}.classes[{j}]") is not None else {}
                for j, c in enumerate(_list_of_objects(d.get("classes"), f"{where}.classes"))
            ]
        documents.append(doc)
    return {"projectKind": kind, key: categories, "documents": documents}


def _check_import_semantics(body: dict[str, Any]) -> None:
    """At the end of an import job: every label/class names a declared category, labels have offset and length
    and lie inside their region, documents have a location. Fails the job with InvalidRequest/InvalidDocument."""
    assets = body["assets"]
    kind = assets["projectKind"]
    key = "entities" if kind == NER else "classes"

    def invalid(message: str) -> LanguageError:
        return LanguageError(400, "InvalidRequest", "The imported project is invalid.", inner_code="InvalidDocument", inner_message=message)

    declared = set()
    for c in assets[key]:
        if not c.get("category"):
            raise invalid(f"Every item of assets.{key} needs a category.")
        declared.add(c["category"])
    for doc in assets["documents"]:
        loc = doc.get("location")
        if not loc:
            raise invalid("Every document needs a location.")
        if kind == NER:
            for region in doc.get("entities", []):
                for lab in region["labels"]:
                    if lab.get("category") not in declared:
                        raise invalid(f"Document '{loc}' has a label of entity '{lab.get('category')}', which is not one of the project's entities.")
                    if "offset" not in lab or "length" not in lab or lab["offset"] < 0 or lab["length"] < 0:
                        raise invalid(f"Document '{loc}' has a label without a valid offset and length.")
                    start, end = region["regionOffset"], region["regionOffset"] + region["regionLength"]
                    if lab["offset"] < start or lab["offset"] + lab["length"] > end:
                        raise invalid(f"Document '{loc}' has a label outside its entity region.")
        else:
            classes = [doc["class"]] if "class" in doc else doc.get("classes", [])
            for c in classes:
                if c.get("category") not in declared:
                    raise invalid(f"Document '{loc}' has class '{c.get('category')}', which is not one of the project's classes.")


def _training_options(body: Any) -> dict[str, Any]:
    if body is None:
        raise bad_body("The request body is empty.", inner="EmptyRequest")
    if not isinstance(body, dict):
        raise bad_body("The request body must be a JSON object.")
    for key in ("modelLabel", "trainingConfigVersion"):
        if body.get(key) is None:
            raise bad_body(f"The parameter {key} is required.")
        if not isinstance(body[key], str) or not body[key]:
            raise bad_body(f"The parameter {key} must be a non-empty string.")
    if "/" in body["modelLabel"] or len(body["modelLabel"]) > MAX_PROJECT_NAME:
        raise bad_value("The modelLabel must be at most 100 characters without '/'.")
    version = body["trainingConfigVersion"]
    if version == LATEST_TRAINING_CONFIG:
        version = TRAINING_CONFIG_VERSIONS[-1]
    if version not in TRAINING_CONFIG_VERSIONS:
        raise bad_value(f"The training config version '{version}' is not supported; supported: {', '.join(TRAINING_CONFIG_VERSIONS)}.")
    options: dict[str, Any] = {"modelLabel": body["modelLabel"], "trainingConfigVersion": version}
    evaluation = body.get("evaluationOptions")
    if evaluation is not None:
        if not isinstance(evaluation, dict):
            raise bad_body("The parameter evaluationOptions must be a JSON object.")
        kind = evaluation.get("kind", "percentage")
        if kind not in EVALUATION_KINDS:
            raise bad_value(f"evaluationOptions.kind must be one of {', '.join(EVALUATION_KINDS)}.")
        out: dict[str, Any] = {"kind": kind}
        if kind == "percentage":
            train = evaluation.get("trainingSplitPercentage", 80)
            test = evaluation.get("testingSplitPercentage", 100 - train if isinstance(train, int) else 20)
            for name, value in (("trainingSplitPercentage", train), ("testingSplitPercentage", test)):
                if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
                    raise bad_value(f"evaluationOptions.{name} must be an integer between 0 and 100.")
            if train + test != 100:
                raise bad_value("evaluationOptions.trainingSplitPercentage and testingSplitPercentage must add up to 100.")
            out.update(trainingSplitPercentage=train, testingSplitPercentage=test)
        options["evaluationOptions"] = out
    return options


# --- wire shapes ---------------------------------------------------------------------------------------------------


def _date(ts: float) -> str:
    return to_datetime(ts).strftime("%Y-%m-%d")


def _create_options(p: Project, *, full_settings: bool = False) -> dict[str, Any]:
    """CreateProjectOptions. Settings show only ``confidenceThreshold`` (the one setting of the 2023-04-01 schema)
    unless ``full_settings`` (internal merge base)."""
    body: dict[str, Any] = {"projectKind": p.kind, "storageInputContainerName": p.storage_input_container}
    settings = dict(p.settings) if full_settings else {k: v for k, v in p.settings.items() if k == "confidenceThreshold"}
    if settings:
        body["settings"] = settings
    body["projectName"] = p.name
    body["multilingual"] = p.multilingual
    if p.description is not None:
        body["description"] = p.description
    body["language"] = p.language
    return body


def project_metadata(p: Project) -> dict[str, Any]:
    """ProjectMetadata (the same fields in 2022-05-01 and 2023-04-01)."""
    body: dict[str, Any] = {"createdDateTime": format_timestamp(p.created), "lastModifiedDateTime": format_timestamp(p.last_modified)}
    if p.last_trained is not None:
        body["lastTrainedDateTime"] = format_timestamp(p.last_trained)
    if p.last_deployed is not None:
        body["lastDeployedDateTime"] = format_timestamp(p.last_deployed)
    body.update(_create_options(p))
    return body


def exported_project(p: Project, api_version: str) -> dict[str, Any]:
    """ExportedProject: ``projectFileVersion`` = the export's api-version."""
    return {
        "projectFileVersion": api_version,
        "stringIndexType": STRING_INDEX_TYPE,
        "metadata": _create_options(p),
        "assets": copy.deepcopy(p.assets),
    }


def trained_model(m: TrainedModel, api_version: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "label": m.label,
        "modelId": m.model_id,
        "lastTrainedDateTime": format_timestamp(m.trained),
        "lastTrainingDurationInSeconds": m.duration_seconds,
        "modelExpirationDate": _date(m.expires),
        "modelTrainingConfigVersion": m.training_config_version,
    }
    if api_version in SNAPSHOT_VERSIONS:
        body["hasSnapshot"] = True
    return body


def deployment(d: Deployment, api_version: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "deploymentName": d.name,
        "modelId": d.model_id,
        "lastTrainedDateTime": format_timestamp(d.last_trained),
        "lastDeployedDateTime": format_timestamp(d.deployed),
        "deploymentExpirationDate": _date(d.expires),
        "modelTrainingConfigVersion": d.training_config_version,
    }
    if api_version in TYPESPEC_VERSIONS:
        body["assignedResources"] = []  # required there; the emulator has no multi-region resource assignment
    return body


def job_state(job: Job, now: float, api_version: str) -> dict[str, Any]:
    """JobState (+ ``errors`` when failed)."""
    body: dict[str, Any] = {
        "jobId": job.job_id,
        "createdDateTime": format_timestamp(job.created),
        "lastUpdatedDateTime": format_timestamp(job.last_updated(now)),
        "expirationDateTime": format_timestamp(job.created + JOB_RETENTION_SECONDS),
        "status": job.status_at(now),
    }
    if job.errors:
        body["errors"] = [error_for(e, api_version) for e in job.errors]
    return body


def export_job_state(job: Job, now: float, api_version: str, result_url: str) -> dict[str, Any]:
    body = job_state(job, now, api_version)
    if body["status"] == "succeeded":
        body["resultUrl"] = result_url
    return body


def training_job_state(job: Job, now: float, api_version: str) -> dict[str, Any]:
    """TrainingJobState: training runs from 1/5 to 4/5 of the job's duration, evaluation in the last fifth."""
    body = job_state(job, now, api_version)
    status = body["status"]
    start, duration = job.created, job.duration
    train_start, eval_start = start + 0.2 * duration, start + 0.8 * duration
    elapsed = min(now, job.ends_at) - start
    training: dict[str, Any]
    evaluation: dict[str, Any]
    if status == "notStarted":
        training = {"percentComplete": 0, "status": "notStarted"}
        evaluation = {"percentComplete": 0, "status": "notStarted"}
    elif status == "running" and elapsed < 0.8 * duration:
        pct = max(0, min(99, int(100 * (elapsed - 0.2 * duration) / (0.6 * duration))))
        training = {"percentComplete": pct, "startDateTime": format_timestamp(train_start), "status": "running"}
        evaluation = {"percentComplete": 0, "status": "notStarted"}
    elif status == "running":
        pct = max(0, min(99, int(100 * (elapsed - 0.8 * duration) / (0.2 * duration))))
        training = {"percentComplete": 100, "startDateTime": format_timestamp(train_start), "endDateTime": format_timestamp(eval_start), "status": "succeeded"}
        evaluation = {"percentComplete": pct, "startDateTime": format_timestamp(eval_start), "status": "running"}
    elif status == "succeeded":
        training = {"percentComplete": 100, "startDateTime": format_timestamp(train_start), "endDateTime": format_timestamp(eval_start), "status": "succeeded"}
        evaluation = {"percentComplete": 100, "startDateTime": format_timestamp(eval_start), "endDateTime": format_timestamp(job.ends_at), "status": "succeeded"}
    else:  # failed / cancelled
        end = job.finished_at if job.finished_at is not None else job.ends_at
        training = {"percentComplete": 0, "startDateTime": format_timestamp(min(train_start, end)), "endDateTime": format_timestamp(end), "status": status}
        evaluation = {"percentComplete": 0, "status": "notStarted"}
    body["result"] = {
        "modelLabel": job.payload["modelLabel"],
        "trainingConfigVersion": job.payload["trainingConfigVersion"],
        "trainingStatus": training,
        "evaluationStatus": evaluation,
        "estimatedEndDateTime": format_timestamp(job.ends_at),
    }
    return body


# --- routes --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LanguageRoute:
    """A resolved Language route: its name and path parameters."""

    name: str
    project: str | None = None
    job_id: str | None = None
    label: str | None = None
    deployment: str | None = None


def resolve_language_route(method: str, rest: str) -> LanguageRoute | None:
    """Map ``METHOD /{rest}`` (the path after ``{origin}/language/``) to a route, or None (APIM 404)."""
    base = "authoring/analyze-text/projects"
    if rest != base and not rest.startswith(base + "/"):
        return None
    parts = rest[len(base):].split("/")[1:]
    if any(not p for p in parts):
        return None
    n = len(parts)
    if n == 0:
        return LanguageRoute("language:projects:list") if method == "GET" else None
    if parts[0] == "global" and n > 1:
        if parts[1] == "deletion-jobs" and n == 3 and method == "GET":
            return LanguageRoute("language:deletion:job", job_id=parts[2])
        if parts[1] == "training-config-versions" and n == 2 and method == "GET":
            return LanguageRoute("language:training-config-versions")
        return None
    p = parts[0]
    if n == 1:
        names = {"GET": "language:projects:get", "PATCH": "language:projects:patch", "DELETE": "language:projects:delete"}
        return LanguageRoute(names[method], p) if method in names else None
    head = parts[1]
    if n == 2:
        if method == "POST" and head in (":export", ":import", ":train"):
            return LanguageRoute(f"language:{head[1:]}", p)
        if method == "GET" and head in ("models", "deployments"):
            return LanguageRoute(f"language:{head}:list", p)
        return None
    if head in ("export", "import", "train") and parts[2] == "jobs":
        if n == 3 and head == "train" and method == "GET":
            return LanguageRoute("language:train:jobs", p)
        if n == 4 and method == "GET":
            return LanguageRoute(f"language:{head}:job", p, job_id=parts[3])
        if n == 5 and head == "export" and parts[4] == "result" and method == "GET":
            return LanguageRoute("language:export:result", p, job_id=parts[3])
        if n == 5 and head == "train" and parts[4] == ":cancel" and method == "POST":
            return LanguageRoute("language:train:cancel", p, job_id=parts[3])
        return None
    if head == "models" and n == 3:
        names = {"GET": "language:models:get", "DELETE": "language:models:delete"}
        return LanguageRoute(names[method], p, label=parts[2]) if method in names else None
    if head == "deployments":
        if n == 3 and not parts[2].startswith(":"):
            names = {"GET": "language:deployments:get", "PUT": "language:deployments:put", "DELETE": "language:deployments:delete"}
            return LanguageRoute(names[method], p, deployment=parts[2]) if method in names else None
        if n == 5 and parts[3] == "jobs" and method == "GET" and parts[2] != "swap":
            return LanguageRoute("language:deployments:job", p, job_id=parts[4], deployment=parts[2])
    return None


# --- dispatch ------------------------------------------------------------------------------------------------------


async def _body(request: Request) -> Any:
    return await read_json(request, lambda: bad_body("The request body is not valid JSON."))


def _int_param(request: Request, name: str, *, minimum: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise bad_query(f"The parameter {name} must be an integer.") from None
    if value < minimum or value >= 2**31:
        raise bad_query(f"The parameter {name} must be an integer >= {minimum}.")
    return value


def _page(request: Request, items: list[Any], url: str, api_version: str, page_size: int, extra: str = "") -> tuple[list[Any], str | None]:
    """``top``/``skip``/``maxpagesize`` paging; ``nextLink`` is absolute and carries api-version (re-usable as is)."""
    top = _int_param(request, "top", minimum=0)
    skip = _int_param(request, "skip", minimum=0) or 0
    maxpagesize = _int_param(request, "maxpagesize", minimum=1)
    size = maxpagesize or page_size
    remaining = items[skip:]
    if top is not None:
        remaining = remaining[:top]
    page = remaining[:size]
    if len(remaining) <= size:
        return page, None
    link = f"{url}?api-version={api_version}{extra}&skip={skip + len(page)}"
    if top is not None:
        link += f"&top={top - len(page)}"
    if maxpagesize is not None:
        link += f"&maxpagesize={maxpagesize}"
    return page, link


async def dispatch(app: EmulatorApp, request: Request, account: str, route: LanguageRoute, headers: dict[str, str]) -> Response:
    """Answer one Language request (after the gateway checks and fault decisions of ``EmulatorApp._service``)."""
    api_version = request.query_params.get("api-version")
    if api_version not in LANGUAGE_VERSIONS:
        raise errors.resource_not_found()
    try:
        return await _dispatch(app, request, account, route, headers, api_version)
    except LanguageError as exc:
        exc.api_version = api_version
        raise


async def _dispatch(
    app: EmulatorApp, request: Request, account: str, route: LanguageRoute, headers: dict[str, str], api_version: str
) -> Response:
    store = app.store.language
    settings = app.store.settings
    now = app.clock.now()
    base = f"{str(request.base_url).rstrip('/')}/{PREFIX}/authoring/analyze-text/projects"  # account origin, no account in the path
    action = route.name.removeprefix("language:")
    p = route.project

    def job_args() -> dict[str, Any]:
        faults = app.faults.effective(account)
        return {
            "duration": app.faults.copy_duration(settings.copy_seconds, faults),
            "fail": lambda: app.faults.operation_fails(account, faults),
        }

    def accepted(location: str) -> Response:
        return Response(status_code=202, headers={**headers, "operation-location": f"{location}?api-version={api_version}"})

    def listing(items: list[Any], url: str, extra: str = "") -> Response:
        page, link = _page(request, items, url, api_version, settings.page_size, extra)
        body: dict[str, Any] = {"value": page, "nextLink": link}
        if link is None and api_version in TYPESPEC_VERSIONS:
            del body["nextLink"]  # optional and not nullable there; required and nullable in 2022/2023
        return _json(200, body, headers)

    def listed(items: dict[str, Any], view: Callable[[Any, str], Any], segment: str) -> Response:
        """A project's trained models or deployments, by name, paged under ``{project}/{segment}``."""
        return listing([view(items[k], api_version) for k in sorted(items)], f"{base}/{p}/{segment}")

    def one(items: dict[str, Any], key: str, view: Callable[[Any, str], Any], not_found: Callable[[str], LanguageError]) -> Response:
        """One trained model or deployment of a project, or its 404."""
        found = items.get(key)
        if found is None:
            raise not_found(key)
        return _json(200, view(found, api_version), headers)

    if action == "projects:list":
        projects = [project_metadata(store.accounts[account].projects[n]) for n in store.project_names(account)]
        return listing(projects, base)
    if action == "training-config-versions":
        kind = request.query_params.get("projectKind")
        if kind is None:
            raise bad_query("The parameter projectKind is required.")
        if kind not in PROJECT_KINDS:
            raise bad_query(f"The project kind '{kind}' is not supported.")
        versions = [{"trainingConfigVersion": v, "modelExpirationDate": _date(now + MODEL_LIFETIME_SECONDS)} for v in TRAINING_CONFIG_VERSIONS]
        return listing(versions, f"{base}/global/training-config-versions", f"&projectKind={kind}")
    if action == "deletion:job":
        assert route.job_id is not None
        return _json(200, job_state(store.job(account, route.job_id, "delete", None), now, api_version), headers)

    assert p is not None
    if action == "projects:get":
        return _json(200, project_metadata(store.project(account, p)), headers)
    if action == "projects:patch":
        project, created = store.patch_project(account, p, await _body(request))
        return _json(201 if created else 200, project_metadata(project), headers)
    if action == "projects:delete":
        job = store.start_delete(account, p, api_version, **job_args())
        return accepted(f"{base}/global/deletion-jobs/{job.job_id}")
    if action == "export":
        index_type = request.query_params.get("stringIndexType")
        if index_type is None:
            raise bad_query("The parameter stringIndexType is required.")
        if index_type != STRING_INDEX_TYPE:
            raise bad_query(f"The stringIndexType '{index_type}' is not supported; expected {STRING_INDEX_TYPE}.")
        store.project(account, p)
        job = store.start_export(account, p, api_version, **job_args())
        return accepted(f"{base}/{p}/export/jobs/{job.job_id}")
    if action == "export:job":
        assert route.job_id is not None
        job = store.job(account, route.job_id, "export", p)
        result_url = f"{base}/{p}/export/jobs/{job.job_id}/result?api-version={job.api_version}"
        return _json(200, export_job_state(job, now, api_version, result_url), headers)
    if action == "export:result":
        assert route.job_id is not None
        job = store.job(account, route.job_id, "export", p)
        if job.status != "succeeded":
            raise job_not_found(route.job_id)  # nothing to download until the export succeeded
        return _json(200, copy.deepcopy(job.payload), headers)
    if action == "import":
        if api_version in TYPESPEC_VERSIONS and request.headers.get("format", "json").lower() != "json":
            raise bad_value(f"The import format '{request.headers['format']}' is not supported; only json is.")
        body = await _body(request)
        job = store.start_import(account, p, body, api_version, **job_args())
        return accepted(f"{base}/{p}/import/jobs/{job.job_id}")
    if action == "import:job":
        assert route.job_id is not None
        return _json(200, job_state(store.job(account, route.job_id, "import", p), now, api_version), headers)
    if action == "train":
        body = await _body(request)
        job = store.start_train(account, p, body, api_version, **job_args())
        return accepted(f"{base}/{p}/train/jobs/{job.job_id}")
    if action == "train:job":
        assert route.job_id is not None
        return _json(200, training_job_state(store.job(account, route.job_id, "train", p), now, api_version), headers)
    if action == "train:jobs":
        store.project(account, p)
        return listing([training_job_state(j, now, api_version) for j in store.training_jobs(account, p)], f"{base}/{p}/train/jobs")
    if action == "train:cancel":
        assert route.job_id is not None
        job = store.cancel_training(account, p, route.job_id)
        return accepted(f"{base}/{p}/train/jobs/{job.job_id}")
    if action == "models:list":
        return listed(store.project(account, p).models, trained_model, "models")
    if action == "models:get":
        assert route.label is not None
        return one(store.project(account, p).models, route.label, trained_model, model_not_found)
    if action == "models:delete":
        assert route.label is not None
        project = store.project(account, p)
        if project.models.pop(route.label, None) is None:
            raise model_not_found(route.label)
        return Response(status_code=204, headers=headers)
    if action == "deployments:list":
        return listed(store.project(account, p).deployments, deployment, "deployments")
    if action == "deployments:get":
        assert route.deployment is not None
        return one(store.project(account, p).deployments, route.deployment, deployment, deployment_not_found)
    if action == "deployments:put":
        assert route.deployment is not None
        body = await _body(request)
        job = store.start_deploy(account, p, route.deployment, body, api_version, **job_args())
        return accepted(f"{base}/{p}/deployments/{route.deployment}/jobs/{job.job_id}")
    if action == "deployments:delete":
        assert route.deployment is not None
        job = store.start_undeploy(account, p, route.deployment, api_version, **job_args())
        return accepted(f"{base}/{p}/deployments/{route.deployment}/jobs/{job.job_id}")
    if action == "deployments:job":
        assert route.job_id is not None and route.deployment is not None
        return _json(200, job_state(store.job(account, route.job_id, "deploy|undeploy", p, route.deployment), now, api_version), headers)
    raise errors.resource_not_found()  # pragma: no cover - resolve_language_route only yields the actions above


# --- admin ---------------------------------------------------------------------------------------------------------


def admin_routes(emulator: EmulatorApp) -> list[Route]:
    """``POST /_emulator/accounts/{name}/language/projects`` and ``DELETE .../language/projects/{project}``."""
    from starlette.routing import Route

    # admin imports this module, so import from it here
    from .admin import AdminError, account_or_404, read_seed
    from .admin import _json as admin_json

    async def seed(request: Request) -> Response:
        name, entry, exists = await read_seed(
            request,
            emulator.store.accounts,
            parse_language_project_seed,
            "language_project",
            exists=lambda name, entry: entry.project_name in emulator.store.language.accounts[name].projects,
            conflict="account {name!r} already has a language project {seed.project_name!r}",
            replaceable=True,
        )
        project = emulator.store.language.seed_project(name, entry, replace=exists)
        return admin_json(project_metadata(project), status=200 if exists else 201)

    async def remove(request: Request) -> Response:
        name = account_or_404(emulator.store.accounts, request.path_params["name"])
        project = request.path_params["project"]
        if not emulator.store.language.remove_project(name, project):
            raise AdminError(404, "NotFound", f"account {name!r} has no language project {project!r}")
        return Response(status_code=204)

    return [
        Route("/_emulator/accounts/{name}/language/projects", seed, methods=["POST"]),
        Route("/_emulator/accounts/{name}/language/projects/{project}", remove, methods=["DELETE"]),
    ]
