"""Inference (analyze) endpoints of every family, for DR drills (issue 16): a copy is useful only if it answers.

One module for the four families' analyze calls, because each reads the records another family module keeps
(models, classifiers, v2 models, analyzers, Language projects) and none of them changes a record; ``app.py`` asks
:func:`resolve` before a family's own routes. Routes and wire shapes (contracts openapi/ files, [S]):

* DI v4 / FR v3: ``POST /{documentintelligence|formrecognizer}/documentModels/{id}:analyze`` and
  ``documentClassifiers/{id}:analyze`` (classifiers only where the api-version has them) -> 202 +
  ``Operation-Location: .../{collection}/{id}/analyzeResults/{resultId}``; ``Retry-After`` only on the DI v4
  api-versions, whose spec declares it (FR v3's declares none). GET the result -> ``{status, createdDateTime,
  lastUpdatedDateTime, analyzeResult | error}``. The body is the document itself (``application/octet-stream``, what
  the SDKs send), or JSON ``{"base64Source": ...}`` / ``{"urlSource": ...}``.
* FR v2.1 / v2.0: ``POST /formrecognizer/v2.x/custom/models/{id}/analyze`` (the document as the body) -> 202 +
  ``Operation-Location: .../custom/models/{id}/analyzeresults/{resultId}``; GET -> AnalyzeOperationResult.
* Content Understanding 2025-11-01: ``POST /contentunderstanding/analyzers/{id}:analyze`` (``{"inputs": [{"data"|
  "url", "mimeType"}]}``) or ``:analyzeBinary`` (the document as the body) -> 202 + ``Operation-Location:
  .../analyzerResults/{operationId}`` and the operation status as the body; GET it -> ``{id, status, result}``.
* Language runtime (not in the contracts: the public analyze-text jobs REST reference, [D/INF]): ``POST
  /language/analyze-text/jobs`` with one ``CustomEntityRecognition`` task naming ``projectName`` and
  ``deploymentName`` -> 202 + ``operation-location: .../analyze-text/jobs/{jobId}``; GET the job. An unknown project or
  deployment fails the job (``status: failed`` with the error), as the runtime reports task errors.

Answers are deterministic, from the asset's definition and the input's bytes only (issue 16): a faithful copy
answers exactly like its source, a copy of another version (or another model) differently. What "the definition"
is per family, chosen so a copy keeps it ([R] where recorded: contracts §2.4): DI models: docTypes (the key that
names the model itself renamed, as a copy does), expirationDateTime and modifiedDateTime (both kept by a copy);
classifiers: docTypes, expirationDateTime, modifiedDateTime; v2 models: modelName, created and lastUpdated (a v2 copy
keeps them); CU analyzers: the definition minus description and tags (the only mutable keys); Language: the
project's entity categories and labelled documents (what an import copies). A job takes the account's operation
time (``copy_seconds``) and obeys ``operation_failure_rate``; the gateway's faults (429, 503, drops) apply as to any
request. Inputs that are no document (PDF, JPEG, PNG, BMP, TIFF magic bytes) answer 400 as the services do.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .. import errors
from ..clock import TimedJob, format_timestamp
from ..store import Store
from ..wire import Call, read_json
from . import content_understanding as cu_service
from . import document_intelligence as di_service
from . import form_recognizer_v2 as v2_service
from . import language as language_service

ROUTE_NAMES = (
    "documentModels:analyze",
    "documentModels:analyzeResult",
    "documentClassifiers:analyze",
    "documentClassifiers:analyzeResult",
    "v2:analyze",
    "v2:analyzeResult",
    "cu:analyze",
    "cu:analyzeBinary",
    "cu:analyzerResult",
    "language:analyzeTextJobs",
    "language:analyzeTextJob",
)
#: DI v4 api-versions: their spec declares Retry-After on the analyze 202 (FR v3, v2.1 and CU declare none).
RETRY_AFTER_VERSIONS = frozenset(di_service.DI_VERSIONS)
LANGUAGE_RUNTIME_VERSIONS = ("2022-05-01", "2023-04-01", "2023-11-15-preview", "2024-11-01", "2024-11-15-preview")
CU_VERSIONS = ("2025-11-01",)
#: How many finished jobs are kept (oldest dropped first): drills poll a result once or twice.
MAX_JOBS = 10_000
#: Magic bytes of the document formats the services take (DI/FR/CU documents).
DOCUMENT_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"BM", "image/bmp"),
)
WORDS = ("Contoso", "Fabrikam", "Northwind", "Litware", "Tailspin", "Adatum", "Woodgrove", "Proseware")


# --- deterministic answers -----------------------------------------------------------------------------------------


def digest(value: Any) -> str:
    data = value if isinstance(value, bytes) else json.dumps(value, sort_keys=True, default=str).encode()
    return hashlib.sha256(data).hexdigest()


def _num(*parts: str) -> int:
    return int(hashlib.sha256("/".join(parts).encode()).hexdigest()[:12], 16)


def document_type(data: bytes) -> str | None:
    """The MIME type of a document the services take, from its first bytes; None: not a document."""
    return next((mime for magic, mime in DOCUMENT_MAGIC if data.startswith(magic)), None)


def field_value(kind: str, seed: str, name: str) -> tuple[str, Any]:
    """A value of a field type, the same for the same (input, definition, field): (value key, value)."""
    n = _num(seed, name)
    if kind == "number":
        return "valueNumber", round((n % 1_000_000) / 100, 2)
    if kind == "integer":
        return "valueInteger", n % 1000
    if kind == "date":
        return "valueDate", f"2024-{n % 12 + 1:02d}-{n % 28 + 1:02d}"
    if kind == "boolean":
        return "valueBoolean", bool(n % 2)
    return "valueString", f"{WORDS[n % len(WORDS)]} {n % 997}"


def content_text(data_digest: str) -> str:
    return f"Emulated document {data_digest[:12]}"


# --- jobs ----------------------------------------------------------------------------------------------------------


@dataclass
class AnalyzeJob(TimedJob):
    """One analyze request: its answer is decided when it is accepted (a snapshot of the asset), shown once its time
    is up."""

    job_id: str
    family: str  # di | v2 | cu | language
    account: str
    asset_id: str
    api_version: str
    created: float
    duration: float
    result: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    status: str | None = None
    finished_at: float | None = None

    def settle(self, now: float) -> None:
        if self.status is None and now >= self.ends_at:
            self.status = "failed" if self.error is not None else "succeeded"
            self.finished_at = self.ends_at


@dataclass(frozen=True)
class AnalyzeRoute:
    name: str
    prefix: str
    asset_id: str | None = None
    result_id: str | None = None
    version: str = ""  # the v2 path version ("v2.1")


def resolve(method: str, prefix: str, rest: str) -> AnalyzeRoute | None:
    """An analyze route, or None (the family's own routes then decide)."""
    parts = rest.split("/")
    if prefix in di_service.PREFIXES:
        if prefix == "formrecognizer" and v2_service.is_v2_path(rest):
            low = [p.lower() for p in parts]
            if len(parts) == 5 and low[1:3] == ["custom", "models"] and low[4] == "analyze" and method == "POST":
                return AnalyzeRoute("v2:analyze", prefix, parts[3], version=low[0])
            if len(parts) == 6 and low[1:3] == ["custom", "models"] and low[4] == "analyzeresults" and method == "GET":
                return AnalyzeRoute("v2:analyzeResult", prefix, parts[3], parts[5], version=low[0])
            return None
        if len(parts) == 2 and parts[0] in di_service.COLLECTION_KIND and parts[1].endswith(":analyze") and method == "POST":
            return AnalyzeRoute(f"{parts[0]}:analyze", prefix, parts[1][: -len(":analyze")])
        if len(parts) == 4 and parts[0] in di_service.COLLECTION_KIND and parts[2] == "analyzeResults" and method == "GET":
            return AnalyzeRoute(f"{parts[0]}:analyzeResult", prefix, parts[1], parts[3])
        return None
    if prefix == cu_service.PREFIX:
        if len(parts) == 2 and parts[0] == "analyzers" and method == "POST":
            analyzer_id, _, action = parts[1].partition(":")
            if action in ("analyze", "analyzeBinary"):
                return AnalyzeRoute(f"cu:{action}", prefix, analyzer_id)
        if len(parts) == 2 and parts[0] == "analyzerResults" and method == "GET":
            return AnalyzeRoute("cu:analyzerResult", prefix, result_id=parts[1])
        return None
    if prefix == language_service.PREFIX:
        if parts == ["analyze-text", "jobs"] and method == "POST":
            return AnalyzeRoute("language:analyzeTextJobs", prefix)
        if len(parts) == 3 and parts[:2] == ["analyze-text", "jobs"] and method == "GET":
            return AnalyzeRoute("language:analyzeTextJob", prefix, result_id=parts[2])
    return None


class Service:
    """The analyze endpoints as the app routes to them (the ``Service`` shape of ``services/__init__``)."""

    def __init__(self, store: Store, di: di_service.Service, v2: v2_service.Service, cu: cu_service.Service,
                 language: language_service.Service) -> None:
        self.store = store
        self.di, self.v2, self.cu, self.language = di, v2, cu, language
        self.jobs: OrderedDict[str, AnalyzeJob] = OrderedDict()

    def reset(self) -> None:
        self.jobs.clear()

    def settle(self) -> None:
        return None  # jobs settle when they are read

    def resolve(self, method: str, prefix: str, rest: str, query: Mapping[str, str]) -> AnalyzeRoute | None:
        return resolve(method, prefix, rest)

    def backend_error(self, route: AnalyzeRoute | None, error: errors.ServiceError) -> errors.ServiceError:
        if route is not None and route.prefix in (cu_service.PREFIX, language_service.PREFIX):
            return errors.with_error_code(error)
        return error

    def admin_routes(self) -> list[Any]:
        return []

    def admin_view(self, account: str) -> dict[str, Any]:
        return {}

    async def dispatch(self, request: Request, account: str, route: AnalyzeRoute | None, headers: dict[str, str]) -> Response:
        assert route is not None
        api_version = request.query_params.get("api-version", "")
        call: Call[AnalyzeRoute] = Call(request, account, route, headers, api_version)
        family = route.name.split(":", 1)[0]
        if family in ("documentModels", "documentClassifiers"):
            versions = di_service.PREFIX_VERSIONS[route.prefix]
            if api_version not in versions or (family == "documentClassifiers" and api_version not in di_service.CLASSIFIER_VERSIONS):
                raise errors.resource_not_found()
            return await (self._di_analyze(call) if route.name.endswith(":analyze") else self._di_result(call))
        if family == "v2":
            return await (self._v2_analyze(call) if route.name == "v2:analyze" else self._v2_result(call))
        if family == "cu":
            if api_version not in CU_VERSIONS:
                raise errors.with_error_code(cu_service.not_found_route())
            return await (self._cu_result(call) if route.name == "cu:analyzerResult" else self._cu_analyze(call))
        if api_version not in LANGUAGE_RUNTIME_VERSIONS:
            raise errors.with_error_code(errors.resource_not_found())
        return await (self._language_start(call) if route.name == "language:analyzeTextJobs" else self._language_job(call))

    # -- shared

    def _start(self, family: str, account: str, asset_id: str, api_version: str, result: dict[str, Any],
               error: dict[str, Any] | None = None) -> AnalyzeJob:
        duration, fails = self.store.operation_timing(account)
        if error is None and fails():
            error = {"code": "InternalServerError", "message": "An unexpected error occurred (injected failure)."}
        job = AnalyzeJob(job_id=str(uuid.uuid4()), family=family, account=account, asset_id=asset_id,
                         api_version=api_version, created=self.store.now(), duration=duration, result=result,
                         error=error)
        self.jobs[job.job_id] = job
        while len(self.jobs) > MAX_JOBS:
            self.jobs.popitem(last=False)
        job.settle(self.store.now())
        return job

    def _job(self, family: str, account: str, job_id: str | None, not_found: errors.ServiceError) -> AnalyzeJob:
        job = self.jobs.get(job_id or "")
        if job is None or job.family != family or job.account != account:
            raise not_found
        job.settle(self.store.now())
        return job

    async def _document(self, request: Request, *, json_keys: tuple[str, str], bad: errors.ServiceError) -> bytes:
        """The input document: the raw body, or JSON ``{base64Source|urlSource}`` (names per family)."""
        raw = await request.body()
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype == "application/json":
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                raise bad from None
            if not isinstance(body, dict):
                raise bad
            b64_key, url_key = json_keys
            if isinstance(body.get(b64_key), str):
                try:
                    return base64.b64decode(body[b64_key], validate=True)
                except (binascii.Error, ValueError):
                    raise bad from None
            if isinstance(body.get(url_key), str):
                # The emulator cannot fetch a URL: a URL stands for a well-formed document of its own [INF].
                return b"%PDF-url " + body[url_key].encode()
            raise bad
        return raw

    # -- Document Intelligence v4 / Form Recognizer v3

    async def _di_analyze(self, call: Call[AnalyzeRoute]) -> Response:
        route = call.route
        kind: di_service.AssetKind = di_service.COLLECTION_KIND[route.name.split(":")[0]]
        assert route.asset_id is not None
        asset = self.di.models.get_asset(call.account, kind, route.asset_id, prefix=route.prefix)
        data = await self._document(call.request, json_keys=("base64Source", "urlSource"),
                                    bad=errors.invalid_parameter("body", "the request body is not a valid analyze request."))
        if not data:
            raise errors.ServiceError(400, "InvalidRequest", "Invalid request.", inner_code="EmptyRequest",
                                      inner_message="Request body must not be empty.")
        if document_type(data) is None:
            raise errors.ServiceError(400, "InvalidRequest", "Invalid request.", inner_code="InvalidContent",
                                      inner_message="The file is corrupted or format is unsupported. Refer to "
                                                    "documentation for the list of supported formats.")
        result = di_result(asset, data, call.api_version)
        job = self._start("di", call.account, f"{kind}/{route.asset_id}", call.api_version, result)
        collection = di_service.COLLECTION[kind]
        location = (f"{call.origin}/{route.prefix}/{collection}/{route.asset_id}/analyzeResults/{job.job_id}"
                    f"?api-version={call.api_version}")
        extra = {"Operation-Location": location}
        if call.api_version in RETRY_AFTER_VERSIONS:
            extra["Retry-After"] = str(max(0, math.ceil(job.duration)))
        return call.empty(202, extra)

    async def _di_result(self, call: Call[AnalyzeRoute]) -> Response:
        route = call.route
        kind = di_service.COLLECTION_KIND[route.name.split(":")[0]]
        job = self._job("di", call.account, route.result_id,
                        errors.ServiceError(404, "NotFound", "Resource not found.", inner_code="OperationNotFound",
                                            inner_message="The requested operation was not found."))
        if job.asset_id != f"{kind}/{route.asset_id}" or job.api_version != call.api_version:
            raise errors.ServiceError(404, "NotFound", "Resource not found.", inner_code="OperationNotFound",
                                      inner_message="The requested operation was not found.")
        now = self.store.now()
        body: dict[str, Any] = {"status": job.status_at(now), "createdDateTime": format_timestamp(job.created),
                                "lastUpdatedDateTime": format_timestamp(job.last_updated(now))}
        if job.status == "succeeded":
            body["analyzeResult"] = job.result
        elif job.status == "failed":
            body["error"] = job.error
        return call.json(200, body)

    # -- Form Recognizer v2.1 / v2.0

    async def _v2_analyze(self, call: Call[AnalyzeRoute]) -> Response:
        route = call.route
        assert route.asset_id is not None
        v2 = self.v2.v2
        canonical = route.asset_id.lower()
        model = v2.accounts[call.account].models.get(canonical)
        if model is None:
            raise errors.v2_model_not_found(route.asset_id)
        if model.status != "ready":
            raise errors.v2_error(400, "1001", f"Specified model not found or not ready, Model Id: {canonical}")
        data = await self._document(call.request, json_keys=("base64Source", "source"),
                                    bad=errors.v2_bad_request("The request body is not a valid analyze request."))
        if not data or document_type(data) is None:
            raise errors.v2_error(400, "InvalidImage", "The input data is not a valid image or password protected.")
        result = v2_result(model, data, route.version)
        job = self._start("v2", call.account, canonical, route.version, result)
        location = f"{call.origin}/formrecognizer/{route.version}/custom/models/{canonical}/analyzeresults/{job.job_id}"
        return call.empty(202, {"Operation-Location": location})

    async def _v2_result(self, call: Call[AnalyzeRoute]) -> Response:
        route = call.route
        missing = errors.v2_error(404, "1022", f"Analyze result with 'id={route.result_id}' not found.")
        job = self._job("v2", call.account, (route.result_id or "").lower(), missing)
        if job.asset_id != (route.asset_id or "").lower():
            raise missing
        now = self.store.now()
        body: dict[str, Any] = {"status": job.status_at(now), "createdDateTime": format_timestamp(job.created),
                                "lastUpdatedDateTime": format_timestamp(job.last_updated(now))}
        if job.status == "succeeded":
            body["analyzeResult"] = job.result
        elif job.status == "failed":
            body["analyzeResult"] = {"version": "2.1.0", "readResults": [],
                                     "errors": [{"code": "3014", "message": job.error["message"] if job.error else ""}]}
        return call.json(200, body)

    # -- Content Understanding

    async def _cu_analyze(self, call: Call[AnalyzeRoute]) -> Response:
        route = call.route
        assert route.asset_id is not None
        analyzer = self.cu.cu.accounts[call.account].analyzers.get(route.asset_id)
        if analyzer is None:
            raise errors.with_error_code(cu_service.analyzer_not_found(route.asset_id))
        if analyzer.status != "ready":
            raise errors.with_error_code(cu_service.invalid(f"Analyzer {route.asset_id} is not ready.", "AnalyzerNotReady"))
        mime = "application/octet-stream"
        if route.name == "cu:analyzeBinary":
            data = await call.request.body()
        else:
            body = await read_json(call.request, lambda: errors.with_error_code(cu_service.invalid("The request body is not valid JSON.")))
            inputs = body.get("inputs") if isinstance(body, dict) else None
            first = inputs[0] if isinstance(inputs, list) and inputs and isinstance(inputs[0], dict) else None
            if first is None:
                raise errors.with_error_code(cu_service.missing("inputs"))
            if isinstance(first.get("data"), str):
                try:
                    data = base64.b64decode(first["data"], validate=True)
                except (binascii.Error, ValueError):
                    raise errors.with_error_code(cu_service.invalid("inputs[0].data is not base64.")) from None
            elif isinstance(first.get("url"), str):
                data = b"%PDF-url " + first["url"].encode()
            else:
                raise errors.with_error_code(cu_service.missing("inputs[0].data"))
            mime = str(first.get("mimeType") or mime)
        detected = document_type(data)
        if not data or detected is None:
            raise errors.with_error_code(cu_service.invalid(
                "The input is not a supported document (PDF, JPEG, PNG, BMP, TIFF).", "InvalidContent"))
        result = cu_result(analyzer, data, detected if mime == "application/octet-stream" else mime, call.api_version,
                           format_timestamp(self.store.now()))
        job = self._start("cu", call.account, route.asset_id, call.api_version, result)
        location = f"{call.origin}/{cu_service.PREFIX}/analyzerResults/{job.job_id}?api-version={call.api_version}"
        return call.json(202, {"id": job.job_id, "status": "NotStarted"}, {"Operation-Location": location})

    async def _cu_result(self, call: Call[AnalyzeRoute]) -> Response:
        missing = errors.with_error_code(errors.ServiceError(404, "NotFound", "Resource not found.",
                                                             inner_code="OperationNotFound"))
        job = self._job("cu", call.account, call.route.result_id, missing)
        status = {"notStarted": "NotStarted", "running": "Running", "succeeded": "Succeeded", "failed": "Failed"}[
            job.status_at(self.store.now())]
        body: dict[str, Any] = {"id": job.job_id, "status": status}
        if status == "Succeeded":
            body["result"] = job.result
        elif status == "Failed":
            body["error"] = job.error
        return call.json(200, body)

    # -- Language runtime: analyze-text jobs with a CustomEntityRecognition task

    async def _language_start(self, call: Call[AnalyzeRoute]) -> Response:
        def bad(message: str) -> errors.ServiceError:
            return language_service.LanguageError(400, "InvalidRequest", message, inner_code="InvalidRequestBodyFormat")

        body = await read_json(call.request, lambda: bad("The request body is not valid JSON."))
        if not isinstance(body, dict):
            raise bad("The request body must be an object.")
        docs = (body.get("analysisInput") or {}).get("documents") if isinstance(body.get("analysisInput"), dict) else None
        tasks = body.get("tasks")
        if not isinstance(docs, list) or not docs or not all(isinstance(d, dict) and isinstance(d.get("text"), str)
                                                             and isinstance(d.get("id"), str) for d in docs):
            raise bad("analysisInput.documents must be a non-empty list of {id, text}.")
        if not isinstance(tasks, list) or len(tasks) != 1 or not isinstance(tasks[0], dict) \
                or tasks[0].get("kind") != "CustomEntityRecognition":
            raise bad("tasks must hold one task of kind CustomEntityRecognition.")
        params = tasks[0].get("parameters") or {}
        project_name, deployment = params.get("projectName"), params.get("deploymentName")
        if not isinstance(project_name, str) or not isinstance(deployment, str):
            raise bad("parameters.projectName and parameters.deploymentName are required.")
        task_name = str(tasks[0].get("taskName") or "task-0")
        project = self.language.language.accounts[call.account].projects.get(project_name)
        error: dict[str, Any] | None = None
        if project is None:
            error = {"code": "InvalidArgument", "message": f"The project {project_name} was not found.",
                     "innererror": {"code": "ProjectNotFound", "message": f"The project {project_name} was not found."}}
        elif deployment not in project.deployments:
            error = {"code": "InvalidArgument", "message": f"The deployment {deployment} was not found.",
                     "innererror": {"code": "DeploymentNotFound",
                                    "message": f"The deployment {deployment} of project {project_name} was not found."}}
        result = language_result(project, docs, project_name, deployment) if project is not None and error is None else {}
        job = self._start("language", call.account, project_name, call.api_version,
                          {"result": result, "taskName": task_name, "displayName": body.get("displayName")}, error)
        location = f"{call.origin}/{language_service.PREFIX}/analyze-text/jobs/{job.job_id}?api-version={call.api_version}"
        return call.empty(202, {"operation-location": location})

    async def _language_job(self, call: Call[AnalyzeRoute]) -> Response:
        missing = language_service.job_not_found(call.route.result_id or "")
        job = self._job("language", call.account, call.route.result_id, missing)
        now = self.store.now()
        status = job.status_at(now)
        task: dict[str, Any] = {"kind": "CustomEntityRecognitionLROResults", "taskName": job.result["taskName"],
                                "lastUpdateDateTime": format_timestamp(job.last_updated(now)), "status": status}
        body: dict[str, Any] = {
            "jobId": job.job_id, "createdDateTime": format_timestamp(job.created),
            "lastUpdatedDateTime": format_timestamp(job.last_updated(now)),
            "expirationDateTime": format_timestamp(job.created + 86400), "status": status, "errors": [],
            "tasks": {"completed": int(status == "succeeded"), "failed": int(status == "failed"),
                      "inProgress": int(status in ("notStarted", "running")), "total": 1, "items": []},
        }
        if job.result.get("displayName"):
            body["displayName"] = job.result["displayName"]
        if status == "succeeded":
            body["tasks"]["items"] = [{**task, "results": job.result["result"]}]
        elif status == "failed":
            body["errors"] = [job.error]
        return call.json(200, body)


# --- answers per family --------------------------------------------------------------------------------------------


def _model_definition(asset: di_service.Model | di_service.Classifier) -> tuple[str, dict[str, Any]]:
    """(id, docTypes with the key that names the asset itself written as ``$self``): what a copy keeps."""
    own = asset.model_id if isinstance(asset, di_service.Model) else asset.classifier_id
    return own, {("$self" if name == own else name): details for name, details in asset.doc_types.items()}


def di_result(asset: di_service.Model | di_service.Classifier, data: bytes, api_version: str) -> dict[str, Any]:
    """AnalyzeResult of a custom model or classifier for ``data`` (contracts openapi, DI v4 / FR v3)."""
    own, doc_types = _model_definition(asset)
    seed = digest([doc_types, asset.expires, asset.modified, digest(data)])
    text = content_text(digest(data))
    names = sorted(doc_types) or ["$self"]
    chosen = names[_num(seed, "docType") % len(names)]
    doc: dict[str, Any] = {"docType": own if chosen == "$self" else chosen,
                           "boundingRegions": [{"pageNumber": 1, "polygon": [0, 0, 8.5, 0, 8.5, 11, 0, 11]}],
                           "spans": [{"offset": 0, "length": len(text)}],
                           "confidence": round(0.8 + (_num(seed, "confidence") % 20) / 100, 2)}
    if isinstance(asset, di_service.Model):
        if ":" not in doc["docType"] and doc["docType"] != own:
            doc["docType"] = f"{own}:{doc['docType']}"
        schema = (doc_types.get(chosen) or {}).get("fieldSchema") or {}
        fields: dict[str, Any] = {}
        for name in sorted(schema):
            ftype = str(schema[name].get("type") or "string")
            key, value = field_value(ftype if ftype in ("number", "integer", "date", "boolean") else "string", seed, name)
            fields[name] = {"type": ftype if ftype in ("number", "integer", "date", "boolean") else "string",
                            key: value, "content": str(value), "confidence": 0.9}
        doc["fields"] = fields
    result: dict[str, Any] = {
        "apiVersion": api_version,
        "modelId": own,
        "stringIndexType": "textElements",
        "content": text,
        "pages": [{"pageNumber": 1, "angle": 0, "width": 8.5, "height": 11, "unit": "inch",
                   "spans": [{"offset": 0, "length": len(text)}]}],
        "documents": [doc],
    }
    if api_version == "2024-11-30":
        result["contentFormat"] = "text"
    return result


def v2_result(model: v2_service.V2Model, data: bytes, version: str) -> dict[str, Any]:
    """AnalyzeResult of a v2 custom model (labelled: documentResults with the trained fields)."""
    seed = digest([model.model_name, model.created, model.last_updated, model.is_composed, digest(data)])
    fields: dict[str, Any] = {}
    types = {"VendorName": "string", "DocumentDate": "date", "Total": "number"}
    for name in v2_service.TRAINED_FIELDS:
        key, value = field_value(types.get(name, "string"), seed, name)
        fields[name] = {"type": types.get(name, "string"), key: value, "text": str(value), "page": 1,
                        "confidence": 0.9, "boundingBox": [0, 0, 1, 0, 1, 1, 0, 1]}
    return {
        "version": "2.1.0" if version == "v2.1" else "2.0.0",
        "readResults": [{"page": 1, "angle": 0, "width": 8.5, "height": 11, "unit": "inch"}],
        "pageResults": [{"page": 1, "tables": []}],
        "documentResults": [{"docType": f"custom:{model.model_id}", "modelId": model.model_id, "pageRange": [1, 1],
                             "fields": fields, "docTypeConfidence": 1.0}],
        "errors": [],
    }


CU_FIELD_TYPES = {"string": "valueString", "number": "valueNumber", "integer": "valueInteger", "date": "valueDate",
                  "boolean": "valueBoolean"}


def cu_result(analyzer: cu_service.Analyzer, data: bytes, mime: str, api_version: str, now: str) -> dict[str, Any]:
    """AnalyzeResult of an analyzer: one document content with a value per field of its fieldSchema."""
    definition = {k: v for k, v in analyzer.definition.items() if k not in ("description", "tags")}
    seed = digest([definition, digest(data)])
    text = content_text(digest(data))
    schema = ((analyzer.definition.get("fieldSchema") or {}).get("fields") or {})
    fields: dict[str, Any] = {}
    for name in sorted(schema):
        spec = schema[name] if isinstance(schema[name], dict) else {}
        ftype = str(spec.get("type") or "string")
        if ftype not in CU_FIELD_TYPES:
            ftype = "string"
        key, value = field_value(ftype, seed, name)
        fields[name] = {"type": ftype, key: value, "confidence": 0.9}
    content: dict[str, Any] = {"kind": "document", "mimeType": mime, "markdown": text, "startPageNumber": 1,
                               "endPageNumber": 1, "fields": fields}
    categories = ((analyzer.definition.get("config") or {}).get("contentCategories") or {})
    if isinstance(categories, dict) and categories:
        names = sorted(categories)
        content["category"] = names[_num(seed, "category") % len(names)]
    return {"analyzerId": analyzer.analyzer_id, "apiVersion": api_version, "createdAt": now, "warnings": [],
            "stringEncoding": "codePoint", "contents": [content]}


_WORD = re.compile(r"\w+")


def language_result(project: language_service.Project, docs: list[dict[str, Any]], project_name: str,
                    deployment: str) -> dict[str, Any]:
    """CustomEntityRecognition results: entities of the project's categories, from its labelled assets."""
    assets = project.assets or {}
    categories = sorted(str(e.get("category")) for e in assets.get("entities", []) if isinstance(e, dict))
    seed = digest([categories, assets.get("documents", [])])
    out_docs = []
    for doc in docs:
        text = doc["text"]
        entities = []
        for match in _WORD.finditer(text):
            n = _num(seed, match.group(0).lower())
            if categories and n % 3 == 0:
                entities.append({"text": match.group(0), "category": categories[(n // 3) % len(categories)],
                                 "offset": match.start(), "length": match.end() - match.start(),
                                 "confidenceScore": round(0.6 + (n % 40) / 100, 2)})
        out_docs.append({"id": doc["id"], "entities": entities, "warnings": []})
    return {"documents": out_docs, "errors": [], "projectName": project_name, "deploymentName": deployment}
