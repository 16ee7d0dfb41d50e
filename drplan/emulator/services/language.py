"""Azure AI Language authoring (analyze-text custom projects, custom NER first): contracts §1 and §6.

Everything Language lives here: the ``[[accounts.X.language_projects]]`` config entries, the per-account store of
projects, trained models, deployments and jobs, the route table under
``{endpoint}/language/authoring/analyze-text/projects...``, the wire shapes (``language-authoring-2023-04-01.json``
and ``-2022-05-01.json``), the handlers and the admin routes. The shared modules only hook it in: ``config`` calls
:func:`parse_account`, ``app`` routes ``/language/...`` to :class:`Service` (which owns the :class:`LanguageStore`),
and ``admin`` mounts :meth:`Service.admin_routes`.

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
import math
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import errors
from ..admin import remove_route, seed_route
from ..clock import Schedule, TimedJob, format_date, format_timestamp, to_datetime
from ..config_base import Ctx
from ..store import Store
from ..wire import Call, read_json

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

PROJECT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
MAX_PROJECT_NAME = 100

#: Route names (request log, counters, the ``routes`` fault filter).
ROUTE_NAMES = (
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
)


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
        super().__init__(status, code, message, inner_code=inner_code, inner_message=inner_message, headers={errors.ERROR_CODE_HEADER: code})
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
#: The account keys this family reads.
ACCOUNT_KEYS = ("language_projects",)


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


def parse_account(ctx: Ctx, where: str, raw: dict[str, Any]) -> dict[str, Any]:
    """``accounts.X.language_projects`` (an array of tables; project names are unique per account), as the
    :class:`~..config_base.AccountConfig` field of that name."""
    projects = ctx.unique_entries(f"{where}.language_projects", raw.get("language_projects", []), parse_language_project_seed, "project_name", "project name")
    return {"language_projects": projects}


def parse_language_project_seed(entry: Any, where: str = "language_project", source: str = "<request>") -> LanguageProjectSeed:
    """Validate one project entry; every error names its key (``accounts.a.language_projects[0].documents[1]...``)."""
    ctx = Ctx(source)
    entry = ctx.table(where, entry)
    ctx.check_keys(where, entry, PROJECT_KEYS)
    if "project_name" not in entry:
        raise ctx.error(f"{where}.project_name", "is required")
    name = ctx.string(f"{where}.project_name", entry["project_name"])
    if not PROJECT_NAME_RE.match(name):
        raise ctx.error(f"{where}.project_name", f"{name!r} must match {PROJECT_NAME_RE.pattern}")
    kind = entry.get("project_kind", NER)
    if kind not in PROJECT_KINDS:
        raise ctx.error(f"{where}.project_kind", f"must be one of {', '.join(PROJECT_KINDS)}")
    language = ctx.string(f"{where}.language", entry.get("language", "en"))
    if not language:
        raise ctx.error(f"{where}.language", "must not be empty")
    description = entry.get("description")
    if description is not None:
        description = ctx.string(f"{where}.description", description)
    multilingual = entry.get("multilingual", False)
    if not isinstance(multilingual, bool):
        raise ctx.error(f"{where}.multilingual", "must be true or false")
    container = ctx.string(f"{where}.storage_input_container", entry.get("storage_input_container", f"{name}-docs"))
    if not container:
        raise ctx.error(f"{where}.storage_input_container", "must not be empty")
    settings = _parse_settings(ctx, f"{where}.settings", entry.get("settings", {}))
    created = ctx.datetime(f"{where}.created", entry.get("created"))
    last_modified = ctx.datetime(f"{where}.last_modified", entry.get("last_modified"))
    if created and last_modified and last_modified < created:
        raise ctx.error(f"{where}.last_modified", "must not be before created")
    assets = _parse_assets(ctx, where, entry, kind, language)
    models = _parse_trained_models(ctx, f"{where}.trained_models", entry.get("trained_models", []), created)
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
        deployments=_parse_deployment_seeds(ctx, f"{where}.deployments", entry.get("deployments", []), models),
    )


def _parse_settings(ctx: Ctx, path: str, value: Any) -> dict[str, Any]:
    settings = ctx.table(path, value)
    ctx.check_keys(path, settings, ("confidenceThreshold",))
    if "confidenceThreshold" in settings:
        threshold = ctx.number(f"{path}.confidenceThreshold", settings["confidenceThreshold"], minimum=0.0)
        if threshold > 1.0:
            raise ctx.error(f"{path}.confidenceThreshold", "must be between 0 and 1")
    return settings


def _parse_assets(ctx: Ctx, where: str, entry: dict[str, Any], kind: str, language: str) -> dict[str, Any]:
    """The project's categories (``entities`` or ``classes``) and ``documents``, as wire-shaped ExportedProjectAssets."""
    categories_key = "entities" if kind == NER else "classes"
    other_key = "classes" if kind == NER else "entities"
    if other_key in entry:
        raise ctx.error(f"{where}.{other_key}", f"a {kind} project has {categories_key}, not {other_key}")
    categories = _names(ctx, f"{where}.{categories_key}", entry.get(categories_key, []))
    documents = [
        _parse_document(ctx, f"{where}.documents[{i}]", doc, kind, categories, language)
        for i, doc in enumerate(ctx.array(f"{where}.documents", entry.get("documents", [])))
    ]
    locations = [d["location"] for d in documents]
    for i, loc in enumerate(locations):
        if loc in locations[:i]:
            raise ctx.error(f"{where}.documents[{i}].location", f"duplicate document {loc!r}")
    return {"projectKind": kind, categories_key: [{"category": c} for c in categories], "documents": documents}


def _parse_trained_models(ctx: Ctx, where: str, value: Any, created: dt.datetime | None) -> list[TrainedModelSeed]:
    models: list[TrainedModelSeed] = []
    for i, raw in enumerate(ctx.array(where, value)):
        path = f"{where}[{i}]"
        raw = ctx.table(path, raw)
        ctx.check_keys(path, raw, MODEL_KEYS)
        if "label" not in raw:
            raise ctx.error(f"{path}.label", "is required")
        label = _label(ctx, f"{path}.label", raw["label"])
        if any(m.label == label for m in models):
            raise ctx.error(f"{path}.label", f"duplicate model label {label!r}")
        tcv = ctx.string(f"{path}.training_config_version", raw.get("training_config_version", TRAINING_CONFIG_VERSIONS[-1]))
        if not tcv:
            raise ctx.error(f"{path}.training_config_version", "must not be empty")
        model_id = raw.get("model_id")
        if model_id is not None:
            model_id = ctx.string(f"{path}.model_id", model_id)
            if not model_id:
                raise ctx.error(f"{path}.model_id", "must not be empty")
        duration = raw.get("training_duration_seconds", 60)
        if not isinstance(duration, int) or isinstance(duration, bool) or duration < 0:
            raise ctx.error(f"{path}.training_duration_seconds", "must be an integer >= 0")
        trained = ctx.datetime(f"{path}.trained", raw.get("trained"))
        if trained and created and trained < created:
            raise ctx.error(f"{path}.trained", "must not be before the project's created")
        models.append(TrainedModelSeed(label, tcv, trained, model_id, duration))
    return models


def _parse_deployment_seeds(ctx: Ctx, where: str, value: Any, models: list[TrainedModelSeed]) -> list[DeploymentSeed]:
    deployments: list[DeploymentSeed] = []
    for i, raw in enumerate(ctx.array(where, value)):
        path = f"{where}[{i}]"
        raw = ctx.table(path, raw)
        ctx.check_keys(path, raw, DEPLOYMENT_KEYS)
        for required in ("name", "model_label"):
            if required not in raw:
                raise ctx.error(f"{path}.{required}", "is required")
        dname = _label(ctx, f"{path}.name", raw["name"])
        if any(d.name == dname for d in deployments):
            raise ctx.error(f"{path}.name", f"duplicate deployment name {dname!r}")
        label = ctx.string(f"{path}.model_label", raw["model_label"])
        model = next((m for m in models if m.label == label), None)
        if model is None:
            raise ctx.error(f"{path}.model_label", f"no trained model labelled {label!r} in trained_models")
        deployed = ctx.datetime(f"{path}.deployed", raw.get("deployed"))
        if deployed and model.trained and deployed < model.trained:
            raise ctx.error(f"{path}.deployed", "must not be before the model's trained time")
        deployments.append(DeploymentSeed(dname, label, deployed))
    return deployments


def _names(ctx: Ctx, path: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ctx.error(path, "must be a list of non-empty strings")
    if len(set(value)) != len(value):
        raise ctx.error(path, "must not repeat a category")
    return list(value)


def _label(ctx: Ctx, path: str, value: Any) -> str:
    text = ctx.string(path, value)
    if not text or "/" in text or len(text) > MAX_PROJECT_NAME:
        raise ctx.error(path, "must be a non-empty name of at most 100 characters without '/'")
    return text


def _nonneg_int(ctx: Ctx, path: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value >= 2**31:
        raise ctx.error(path, "must be an integer >= 0 (int32)")
    return value


def _parse_document(ctx: Ctx, path: str, raw: Any, kind: str, categories: list[str], language: str) -> dict[str, Any]:
    raw = ctx.table(path, raw)
    ctx.check_keys(path, raw, DOCUMENT_KEYS)
    if "location" not in raw:
        raise ctx.error(f"{path}.location", "is required")
    location = ctx.string(f"{path}.location", raw["location"])
    if not location:
        raise ctx.error(f"{path}.location", "must not be empty")
    doc: dict[str, Any] = {"location": location, "language": ctx.string(f"{path}.language", raw.get("language", language))}
    dataset = raw.get("dataset", "Train")
    if dataset not in ("Train", "Test"):
        raise ctx.error(f"{path}.dataset", "must be Train or Test")
    doc["dataset"] = dataset
    if kind == NER:
        for key in ("classes",):
            if key in raw:
                raise ctx.error(f"{path}.{key}", f"a {kind} document has labels, not {key}")
        labels: list[dict[str, Any]] = []
        for j, lab in enumerate(ctx.array(f"{path}.labels", raw.get("labels", []))):
            lpath = f"{path}.labels[{j}]"
            lab = ctx.table(lpath, lab)
            ctx.check_keys(lpath, lab, LABEL_KEYS)
            for required in LABEL_KEYS:
                if required not in lab:
                    raise ctx.error(f"{lpath}.{required}", "is required")
            category = ctx.string(f"{lpath}.category", lab["category"])
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
    """Every account's Language projects and jobs. Clock, settings and accounts come from the shared Store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.reset()

    def reset(self) -> None:
        """Back to the state the config file describes."""
        self.accounts: dict[str, LanguageAccount] = {}
        self._schedule = Schedule()
        now = math.floor(self._now())
        for name, acc_cfg in self.store.accounts.items():
            self.accounts[name] = LanguageAccount(name)
            for seed in acc_cfg.language_projects:
                self.seed_project(name, seed, now=now)

    def _now(self) -> float:
        return self.store.now()

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
        ticks = _EPOCH_TICKS + math.floor(now) * 10_000_000
        job = Job(
            job_id=f"{uuid.uuid4()}_{ticks}",
            seq=self._schedule.next_seq(),
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
        self._schedule.add(job.ends_at, job.seq, account, job.job_id)
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
        for account, job_id in self._schedule.due(self._now()):
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
            self._apply_import(job, acct, at)
            return
        project = acct.projects.get(job.project)
        if project is None:
            raise project_not_found(job.project)
        if job.kind == "train":
            _apply_training(job, project, at)
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

    @staticmethod
    def _apply_import(job: Job, acct: LanguageAccount, at: float) -> None:
        """The project named in the URL, created or replaced (metadata and assets) from the imported body."""
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


def _apply_training(job: Job, project: Project, at: float) -> None:
    """A training job's end: the model with its label, trained on the project's training documents (or the job
    fails with ``MissingInputDocuments`` when there are none)."""
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
        "modelExpirationDate": format_date(m.expires),
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
        "deploymentExpirationDate": format_date(d.expires),
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


# --- the service ---------------------------------------------------------------------------------------------------


class Service:
    """The family as the app sees it: routes, handlers, reset/settle, admin routes."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.language = LanguageStore(store)

    def reset(self) -> None:
        self.language.reset()

    def settle(self) -> None:
        self.language.settle()

    def resolve(self, method: str, prefix: str, rest: str, query: Mapping[str, str]) -> LanguageRoute | None:
        return resolve_language_route(method, rest)

    def backend_error(self, route: LanguageRoute | None, error: errors.ServiceError) -> errors.ServiceError:
        """Language backend errors carry ``x-ms-error-code``; APIM's 404 for an unknown path does not."""
        return errors.with_error_code(error) if route is not None else error

    async def dispatch(self, request: Request, account: str, route: LanguageRoute | None, headers: dict[str, str]) -> Response:
        """Answer one Language request (after the gateway checks and fault decisions of ``EmulatorApp._service``)."""
        api_version = request.query_params.get("api-version")
        if route is None or api_version is None or api_version not in LANGUAGE_VERSIONS:
            raise errors.resource_not_found()
        try:
            return await _HANDLERS[route.name](self, Call(request, account, route, headers, api_version))
        except LanguageError as exc:
            exc.api_version = api_version  # the error's wire shape follows the request's api-version
            raise

    # -- helpers of the handlers

    @staticmethod
    def _base(call: Call[LanguageRoute]) -> str:
        return f"{call.origin}/{PREFIX}/authoring/analyze-text/projects"  # account origin, no account in the path

    @staticmethod
    def _project(call: Call[LanguageRoute]) -> str:
        assert call.route.project is not None
        return call.route.project

    def _job_args(self, account: str) -> dict[str, Any]:
        duration, fail = self.store.operation_timing(account)
        return {"duration": duration, "fail": fail}

    @staticmethod
    def _accepted(call: Call[LanguageRoute], location: str) -> Response:
        return call.empty(202, {"operation-location": f"{location}?api-version={call.api_version}"})

    def _listing(self, call: Call[LanguageRoute], items: list[Any], url: str, extra: str = "") -> Response:
        page, link = _page(call.request, items, url, call.api_version, self.store.settings.page_size, extra)
        body: dict[str, Any] = {"value": page, "nextLink": link}
        if link is None and call.api_version in TYPESPEC_VERSIONS:
            del body["nextLink"]  # optional and not nullable there; required and nullable in 2022/2023
        return call.json(200, body)

    def _listed(self, call: Call[LanguageRoute], items: dict[str, Any], view: Callable[[Any, str], Any], segment: str) -> Response:
        """A project's trained models or deployments, by name, paged under ``{project}/{segment}``."""
        url = f"{self._base(call)}/{self._project(call)}/{segment}"
        return self._listing(call, [view(items[k], call.api_version) for k in sorted(items)], url)

    @staticmethod
    def _one(
        call: Call[LanguageRoute], items: dict[str, Any], key: str | None, view: Callable[[Any, str], Any], not_found: Callable[[str], LanguageError]
    ) -> Response:
        """One trained model or deployment of a project, or its 404."""
        assert key is not None
        found = items.get(key)
        if found is None:
            raise not_found(key)
        return call.json(200, view(found, call.api_version))

    def _job(self, call: Call[LanguageRoute], kind: str) -> Job:
        """The job of the route's id, through the route's own kind, project and deployment."""
        assert call.route.job_id is not None
        return self.language.job(call.account, call.route.job_id, kind, call.route.project, call.route.deployment)

    # -- handlers (one per route; ``_HANDLERS`` below): global routes

    async def _list_projects(self, call: Call[LanguageRoute]) -> Response:
        accounts = self.language.accounts
        projects = [project_metadata(accounts[call.account].projects[n]) for n in self.language.project_names(call.account)]
        return self._listing(call, projects, self._base(call))

    async def _training_config_versions(self, call: Call[LanguageRoute]) -> Response:
        kind = call.query("projectKind")
        if kind is None:
            raise bad_query("The parameter projectKind is required.")
        if kind not in PROJECT_KINDS:
            raise bad_query(f"The project kind '{kind}' is not supported.")
        expires = format_date(self.store.now() + MODEL_LIFETIME_SECONDS)
        versions = [{"trainingConfigVersion": v, "modelExpirationDate": expires} for v in TRAINING_CONFIG_VERSIONS]
        return self._listing(call, versions, f"{self._base(call)}/global/training-config-versions", f"&projectKind={kind}")

    async def _deletion_job(self, call: Call[LanguageRoute]) -> Response:
        return call.json(200, job_state(self._job(call, "delete"), self.store.now(), call.api_version))

    # -- projects

    async def _get_project(self, call: Call[LanguageRoute]) -> Response:
        return call.json(200, project_metadata(self.language.project(call.account, self._project(call))))

    async def _patch_project(self, call: Call[LanguageRoute]) -> Response:
        project, created = self.language.patch_project(call.account, self._project(call), await _body(call.request))
        return call.json(201 if created else 200, project_metadata(project))

    async def _delete_project(self, call: Call[LanguageRoute]) -> Response:
        job = self.language.start_delete(call.account, self._project(call), call.api_version, **self._job_args(call.account))
        return self._accepted(call, f"{self._base(call)}/global/deletion-jobs/{job.job_id}")

    # -- export / import

    async def _export(self, call: Call[LanguageRoute]) -> Response:
        p = self._project(call)
        index_type = call.query("stringIndexType")
        if index_type is None:
            raise bad_query("The parameter stringIndexType is required.")
        if index_type != STRING_INDEX_TYPE:
            raise bad_query(f"The stringIndexType '{index_type}' is not supported; expected {STRING_INDEX_TYPE}.")
        self.language.project(call.account, p)
        job = self.language.start_export(call.account, p, call.api_version, **self._job_args(call.account))
        return self._accepted(call, f"{self._base(call)}/{p}/export/jobs/{job.job_id}")

    async def _export_job(self, call: Call[LanguageRoute]) -> Response:
        job = self._job(call, "export")
        result_url = f"{self._base(call)}/{self._project(call)}/export/jobs/{job.job_id}/result?api-version={job.api_version}"
        return call.json(200, export_job_state(job, self.store.now(), call.api_version, result_url))

    async def _export_result(self, call: Call[LanguageRoute]) -> Response:
        job = self._job(call, "export")
        if job.status != "succeeded":
            raise job_not_found(job.job_id)  # nothing to download until the export succeeded (the route's job id)
        return call.json(200, copy.deepcopy(job.payload))

    async def _import(self, call: Call[LanguageRoute]) -> Response:
        p = self._project(call)
        if call.api_version in TYPESPEC_VERSIONS and call.request.headers.get("format", "json").lower() != "json":
            raise bad_value(f"The import format '{call.request.headers['format']}' is not supported; only json is.")
        body = await _body(call.request)
        job = self.language.start_import(call.account, p, body, call.api_version, **self._job_args(call.account))
        return self._accepted(call, f"{self._base(call)}/{p}/import/jobs/{job.job_id}")

    async def _import_job(self, call: Call[LanguageRoute]) -> Response:
        return call.json(200, job_state(self._job(call, "import"), self.store.now(), call.api_version))

    # -- training and trained models

    async def _train(self, call: Call[LanguageRoute]) -> Response:
        p = self._project(call)
        body = await _body(call.request)
        job = self.language.start_train(call.account, p, body, call.api_version, **self._job_args(call.account))
        return self._accepted(call, f"{self._base(call)}/{p}/train/jobs/{job.job_id}")

    async def _train_job(self, call: Call[LanguageRoute]) -> Response:
        return call.json(200, training_job_state(self._job(call, "train"), self.store.now(), call.api_version))

    async def _train_jobs(self, call: Call[LanguageRoute]) -> Response:
        p = self._project(call)
        self.language.project(call.account, p)
        now = self.store.now()
        jobs = [training_job_state(j, now, call.api_version) for j in self.language.training_jobs(call.account, p)]
        return self._listing(call, jobs, f"{self._base(call)}/{p}/train/jobs")

    async def _cancel_training(self, call: Call[LanguageRoute]) -> Response:
        p = self._project(call)
        assert call.route.job_id is not None
        job = self.language.cancel_training(call.account, p, call.route.job_id)
        return self._accepted(call, f"{self._base(call)}/{p}/train/jobs/{job.job_id}")

    async def _list_models(self, call: Call[LanguageRoute]) -> Response:
        return self._listed(call, self.language.project(call.account, self._project(call)).models, trained_model, "models")

    async def _get_model(self, call: Call[LanguageRoute]) -> Response:
        models = self.language.project(call.account, self._project(call)).models
        return self._one(call, models, call.route.label, trained_model, model_not_found)

    async def _delete_model(self, call: Call[LanguageRoute]) -> Response:
        assert call.route.label is not None
        project = self.language.project(call.account, self._project(call))
        if project.models.pop(call.route.label, None) is None:
            raise model_not_found(call.route.label)
        return call.empty(204)

    # -- deployments

    async def _list_deployments(self, call: Call[LanguageRoute]) -> Response:
        return self._listed(call, self.language.project(call.account, self._project(call)).deployments, deployment, "deployments")

    async def _get_deployment(self, call: Call[LanguageRoute]) -> Response:
        deployments = self.language.project(call.account, self._project(call)).deployments
        return self._one(call, deployments, call.route.deployment, deployment, deployment_not_found)

    async def _put_deployment(self, call: Call[LanguageRoute]) -> Response:
        p, name = self._project(call), call.route.deployment
        assert name is not None
        body = await _body(call.request)
        job = self.language.start_deploy(call.account, p, name, body, call.api_version, **self._job_args(call.account))
        return self._accepted(call, f"{self._base(call)}/{p}/deployments/{name}/jobs/{job.job_id}")

    async def _delete_deployment(self, call: Call[LanguageRoute]) -> Response:
        p, name = self._project(call), call.route.deployment
        assert name is not None
        job = self.language.start_undeploy(call.account, p, name, call.api_version, **self._job_args(call.account))
        return self._accepted(call, f"{self._base(call)}/{p}/deployments/{name}/jobs/{job.job_id}")

    async def _deployment_job(self, call: Call[LanguageRoute]) -> Response:
        assert call.route.deployment is not None
        return call.json(200, job_state(self._job(call, "deploy|undeploy"), self.store.now(), call.api_version))

    # -- admin

    def admin_routes(self) -> list[Route]:
        """``POST /_emulator/accounts/{name}/language/projects`` (seed / replace) and ``DELETE .../language/projects/{project}``."""
        language = self.language
        return [
            seed_route(
                "/_emulator/accounts/{name}/language/projects",
                self.store.accounts,
                parse_language_project_seed,
                "language_project",
                exists=lambda name, entry: entry.project_name in language.accounts[name].projects,
                conflict="account {name!r} already has a language project {seed.project_name!r}",
                create=lambda name, entry, exists: project_metadata(language.seed_project(name, entry, replace=exists)),
                replaceable=True,
                replaced_status=200,
            ),
            remove_route(
                "/_emulator/accounts/{name}/language/projects/{project}", self.store.accounts, "project", "language project",
                language.remove_project,
            ),
        ]

    def admin_view(self, account: str) -> dict[str, Any]:
        return {"language_projects": self.language.project_names(account)}


_HANDLERS: dict[str, Callable[[Service, Call[LanguageRoute]], Awaitable[Response]]] = {
    "language:projects:list": Service._list_projects,
    "language:training-config-versions": Service._training_config_versions,
    "language:deletion:job": Service._deletion_job,
    "language:projects:get": Service._get_project,
    "language:projects:patch": Service._patch_project,
    "language:projects:delete": Service._delete_project,
    "language:export": Service._export,
    "language:export:job": Service._export_job,
    "language:export:result": Service._export_result,
    "language:import": Service._import,
    "language:import:job": Service._import_job,
    "language:train": Service._train,
    "language:train:job": Service._train_job,
    "language:train:jobs": Service._train_jobs,
    "language:train:cancel": Service._cancel_training,
    "language:models:list": Service._list_models,
    "language:models:get": Service._get_model,
    "language:models:delete": Service._delete_model,
    "language:deployments:list": Service._list_deployments,
    "language:deployments:get": Service._get_deployment,
    "language:deployments:put": Service._put_deployment,
    "language:deployments:delete": Service._delete_deployment,
    "language:deployments:job": Service._deployment_job,
}
