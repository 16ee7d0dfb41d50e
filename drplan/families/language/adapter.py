"""Azure AI Language analyze-text authoring projects (contracts §6): custom NER first, the other custom text kinds
share the API.

There is no one-shot copy in the GA api-versions (``2023-04-01``, ``2022-05-01``): a project is replicated by
exporting it from the source (``:export`` -> poll the job -> GET its ``resultUrl``), importing that JSON into the
target (``:import`` -> poll; it replaces a same-named project), then training (``:train`` -> poll) and deploying
(``PUT deployments/{name}`` -> poll) there. Every long step is a job whose URL comes back in ``operation-location``;
the calls are split (``start_*`` / :meth:`ProjectsAdapter.wait_job` / :meth:`ProjectsAdapter.fetch_result`) so the
apply flow can journal each job URL the moment it is known. Job statuses are lowercase, with British "cancelled"
(normalised in drplan.azure.lro).

The adapter knows the wire protocol only: what a change is, and when to export, is drplan.families.language.plan's business.
Exports carry labels and document *references*, never secrets; the key lives only in the Connection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

from drplan.azure.client import AzureClient, retry_after_seconds
from drplan.azure.errors import text_field
from drplan.azure.lro import OpStatus, normalise_status
from drplan.azure.paging import ensure_api_version, iterate_pages
from drplan.errors import NotFoundError, OperationFailedError, ServiceError
from drplan.families.base import (
    Asset,
    Connection,
    HttpAdapter,
    Inventory,
    normalise_time,
)
from drplan.families.language.assets import category_noun, content_digest, counts, summarise
from drplan.spec.model import AssetKind

KIND = AssetKind.LANGUAGE_PROJECT
PREFIX = "language/authoring/analyze-text"
STRING_INDEX_TYPE = "Utf16CodeUnit"
#: Job polling (wait_job, issue 18): each wait is this fraction of the time the job has run, between JOB_MIN_INTERVAL
#: and JOB_MAX_INTERVAL (the floor costs 1 / JOB_POLL_FRACTION polls whatever its value, so it is not set lower).
JOB_POLL_FRACTION = 0.2
JOB_MIN_INTERVAL = 0.2
JOB_MAX_INTERVAL = 30.0
#: CreateProjectOptions (contracts §6.2): the part of ProjectMetadata an import sets.
METADATA_KEYS = ("projectKind", "storageInputContainerName", "settings", "projectName", "multilingual", "description",
                 "language")


def fingerprint(modified: str) -> str:
    """A project's version as the list API shows it: its lastModifiedDateTime (an import, a label edit, a metadata
    PATCH all move it; training and deploying do not)."""
    return f"modified={modified}"


def _time(value: Any) -> str:
    return normalise_time(str(value)) if value else ""


def project_asset(item: dict[str, Any]) -> Asset:
    """An asset from ProjectMetadata. Call inside ``HttpAdapter._reading`` (a missing name or a field of the wrong
    type raises there)."""
    modified = _time(text_field(item, "lastModifiedDateTime"))
    return Asset(
        kind=KIND,
        id=text_field(item, "projectName", required=True),
        created=_time(text_field(item, "createdDateTime")),
        fingerprint=fingerprint(modified),
        description=text_field(item, "description"),
        detail={
            "metadata": {k: item[k] for k in METADATA_KEYS if item.get(k) is not None},
            "modified": modified,
            "trained": _time(item.get("lastTrainedDateTime")),
            "deployed": _time(item.get("lastDeployedDateTime")),
        },
    )


def model_summary(item: dict[str, Any]) -> dict[str, Any]:
    """ProjectTrainedModel, with comparable times (call inside ``_reading``: fields of the wrong type raise)."""
    return {"label": text_field(item, "label"), "modelId": text_field(item, "modelId"),
            "trained": _time(text_field(item, "lastTrainedDateTime")),
            "training_config_version": text_field(item, "modelTrainingConfigVersion")}


def deployment_summary(item: dict[str, Any]) -> dict[str, Any]:
    """ProjectDeployment, with comparable times (call inside ``_reading``: fields of the wrong type raise)."""
    return {"name": text_field(item, "deploymentName"), "modelId": text_field(item, "modelId"),
            "trained": _time(text_field(item, "lastTrainedDateTime")),
            "deployed": _time(text_field(item, "lastDeployedDateTime")),
            "training_config_version": text_field(item, "modelTrainingConfigVersion")}


def job_errors(body: dict[str, Any]) -> str:
    """A job's ``errors`` (and ``warnings``) as one readable line: ``code/inner: message (inner message)``."""
    parts = []
    for err in body.get("errors") or []:
        if not isinstance(err, dict):
            continue
        codes = [err.get("code")]
        text = err.get("message") or ""
        inner = err.get("innererror")
        while isinstance(inner, dict):
            codes.append(inner.get("code"))
            if inner.get("message"):
                text = f"{text} ({inner['message']})" if text else inner["message"]
            inner = inner.get("innererror")
        for d in err.get("details") or []:
            if isinstance(d, dict) and d.get("message"):
                text += f" [{d.get('code')}: {d['message']}]"
        parts.append(f"{'/'.join(c for c in codes if c)}: {text}".strip(": "))
    return "; ".join(parts) or "no error details"


def job_id(url: str) -> str:
    """The job id at the end of a job URL (``…/jobs/<guid>_<ticks>?api-version=…``)."""
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]


class ProjectsAdapter(HttpAdapter):
    def __init__(self, client: AzureClient, conn: Connection) -> None:
        super().__init__(client, conn, f"{conn.endpoint}/{PREFIX}")

    # -- helpers -----------------------------------------------------------------------------------------------
    def _url(self, path: str, **query: str) -> str:
        q = "".join(f"&{k}={quote(v, safe='')}" for k, v in query.items())
        return f"{self.base}/{path}?api-version={self.conn.api_version}{q}"

    def _project(self, name: str, rest: str = "") -> str:
        return f"projects/{quote(name, safe='')}" + (f"/{rest}" if rest else "")

    async def _list(self, url: str, op: str) -> list[dict[str, Any]]:
        return [item async for item in iterate_pages(self.client, url, endpoint=self.conn.endpoint,
                                                     key=self.conn.key, api_version=self.conn.api_version,
                                                     what=self._what(op))]

    async def _get_or_none(self, url: str, op: str) -> dict[str, Any] | None:
        try:
            return await self._json("GET", url, op)
        except NotFoundError:
            return None

    def _job_location(self, response: Any, op: str) -> tuple[str, float]:
        location = response.headers.get("operation-location")
        if not location:
            raise ServiceError(self._what(f"{op}: the answer has no operation-location header"))
        return location, retry_after_seconds(response, 0.0)

    # -- read --------------------------------------------------------------------------------------------------
    async def inventory(self, kinds: frozenset[AssetKind], *, quota: bool = False) -> Inventory:
        inv = Inventory(resource=self.conn.name)
        if KIND in kinds:
            items = await self._list(self._url("projects"), "list projects")
            with self._reading("list projects"):
                for item in items:
                    if item.get("projectName") is not None:
                        asset = project_asset(item)
                        inv.assets[(KIND, asset.id)] = asset
        return inv

    async def get_project(self, name: str) -> dict[str, Any] | None:
        return await self._get_or_none(self._url(self._project(name)), f"get project {name}")

    async def get(self, kind: AssetKind, asset_id: str) -> Asset | None:
        item = await self.get_project(asset_id)
        with self._reading(f"get project {asset_id}"):
            return project_asset(item) if item else None

    async def list_models(self, name: str) -> list[dict[str, Any]]:
        op = f"list models of {name}"
        items = await self._list(self._url(self._project(name, "models")), op)
        with self._reading(op):
            return [model_summary(m) for m in items]

    async def get_model(self, name: str, label: str) -> dict[str, Any] | None:
        op = f"get model {label} of {name}"
        item = await self._get_or_none(self._url(self._project(name, f"models/{quote(label, safe='')}")), op)
        with self._reading(op):
            return model_summary(item) if item else None

    async def list_deployments(self, name: str) -> list[dict[str, Any]]:
        op = f"list deployments of {name}"
        items = await self._list(self._url(self._project(name, "deployments")), op)
        with self._reading(op):
            return [deployment_summary(d) for d in items]

    async def get_deployment(self, name: str, deployment: str) -> dict[str, Any] | None:
        op = f"get deployment {deployment} of {name}"
        item = await self._get_or_none(
            self._url(self._project(name, f"deployments/{quote(deployment, safe='')}")), op)
        with self._reading(op):
            return deployment_summary(item) if item else None

    async def list_train_jobs(self, name: str) -> list[dict[str, Any]]:
        """TrainingJobState of every training job the service still keeps for the project (oldest first)."""
        return await self._list(self._url(self._project(name, "train/jobs")), f"list training jobs of {name}")

    def train_job_url(self, name: str, job: str) -> str:
        return self._url(self._project(name, f"train/jobs/{quote(job, safe='')}"))

    async def find_train_job(self, name: str, label: str) -> str | None:
        """The URL of the newest unfinished training job of ``label`` (an apply that died after asking to train
        looks here before it trains again), or None."""
        found = None
        jobs = await self.list_train_jobs(name)
        with self._reading(f"list training jobs of {name}"):
            for job in jobs:
                result = job.get("result")
                if not isinstance(result, dict) or result.get("modelLabel") != label \
                        or normalise_status(job.get("status")).terminal:
                    continue
                found = text_field(job, "jobId") or found
        return self.train_job_url(name, found) if found else None

    # -- jobs --------------------------------------------------------------------------------------------------
    async def wait_job(self, url: str, *, what: str, interval: float = 1.0, first_delay: float = 0.0,
                       on_progress: Callable[[OpStatus, dict[str, Any]], None] | None = None,
                       deadline: float | None = None) -> dict[str, Any]:
        """Poll a job URL until it is terminal; return its final JobState (succeeded or not: see check_job).
        Job answers carry no Retry-After (recordings), so the first look is after a tenth of a second (a job is never
        done at once) and each wait is a fifth of the time the job has run, between 0.2 s and the larger of
        ``interval`` and 30 s (drplan.azure.lro.elapsed_wait): a 1 s job is seen within ~0.2 s of its end, a
        10-minute training costs 48 polls instead of ~600 at a fixed second (issue 18)."""
        return await self.wait(url, what=what, interval=max(interval, JOB_MAX_INTERVAL), on_progress=on_progress,
                               first_delay=first_delay or 0.1, start_interval=JOB_MIN_INTERVAL, deadline=deadline,
                               fraction=JOB_POLL_FRACTION)

    def check_job(self, body: dict[str, Any], *, what: str, url: str) -> dict[str, Any]:
        """The body of a succeeded job; an OperationFailedError naming the job and its errors otherwise."""
        status = normalise_status(body.get("status"))
        if status is OpStatus.SUCCEEDED:
            return body
        errors = body.get("errors") or []
        first = errors[0] if errors and isinstance(errors[0], dict) else {}
        raise OperationFailedError(
            self._what(f"the {what} job {body.get('jobId') or job_id(url)} ended {body.get('status') or status.value}"
                       f": {job_errors(body)}"),
            code=first.get("code"), inner_code=(first.get("innererror") or {}).get("code"))

    # -- export ------------------------------------------------------------------------------------------------
    async def start_export(self, name: str) -> tuple[str, float]:
        """POST ``:export`` (``stringIndexType`` is required, contracts §6.1); returns (job URL, Retry-After)."""
        r = await self._request("POST", self._url(self._project(name, ":export"), stringIndexType=STRING_INDEX_TYPE),
                                f"export {name}", ok=(202,))
        return self._job_location(r, f"export {name}")

    async def fetch_result(self, result_url: str, *, name: str) -> dict[str, Any]:
        """GET an export job's ``resultUrl`` with the resource key: only on the resource's own endpoint (the key is
        never sent anywhere else)."""
        mine, theirs = urlsplit(self.conn.endpoint), urlsplit(result_url)
        if (theirs.scheme, theirs.netloc.lower()) != (mine.scheme, mine.netloc.lower()):
            raise ServiceError(self._what(f"export {name}: the job's resultUrl points at {theirs.scheme}://"
                                          f"{theirs.netloc}, not this resource's endpoint; refusing to send the key "
                                          "there"))
        op = f"download the export of {name}"
        body = await self._json("GET", ensure_api_version(result_url, self.conn.api_version), op)
        if "metadata" not in body:
            raise ServiceError(self._what(f"export {name}: the result is not an exported project"))
        with self._reading(op):  # everything planning reads from an export, read once here
            content_digest(body)
            counts(body)
            category_noun(body)
            summarise(body, body)
        return body

    async def finish_export(self, url: str, *, name: str, interval: float = 1.0,
                            first_delay: float = 0.0) -> dict[str, Any]:
        """Poll an export job and download its result."""
        body = self.check_job(await self.wait_job(url, what=f"export job of {name}", interval=interval,
                                                  first_delay=first_delay), what="export", url=url)
        with self._reading(f"export job of {name}"):
            result_url = text_field(body, "resultUrl")
        if not result_url:
            raise ServiceError(self._what(f"the export job of {name} succeeded but names no resultUrl"))
        return await self.fetch_result(result_url, name=name)

    async def export(self, name: str, *, interval: float = 1.0) -> dict[str, Any]:
        """The whole export: POST, poll, download."""
        url, delay = await self.start_export(name)
        return await self.finish_export(url, name=name, interval=interval, first_delay=delay)

    # -- import, train, deploy, delete -------------------------------------------------------------------------
    async def start_import(self, name: str, exported: dict[str, Any]) -> tuple[str, float]:
        """POST ``:import`` of an exported project under ``name`` (replaces a project of that name, contracts §6.3).
        ``metadata.projectName`` is set to ``name`` too, so a renamed copy is consistent whatever the service
        prefers."""
        body = dict(exported)
        body["metadata"] = {**(exported.get("metadata") or {}), "projectName": name}
        r = await self._request("POST", self._url(self._project(name, ":import")), f"import {name}", json=body,
                                ok=(202,))
        return self._job_location(r, f"import {name}")

    async def start_train(self, name: str, label: str, training_config_version: str) -> tuple[str, float]:
        r = await self._request("POST", self._url(self._project(name, ":train")), f"train {name} as {label}",
                                json={"modelLabel": label, "trainingConfigVersion": training_config_version},
                                ok=(202,))
        return self._job_location(r, f"train {name}")

    async def start_deploy(self, name: str, deployment: str, label: str) -> tuple[str, float]:
        """PUT the deployment (idempotent: resume simply sends it again)."""
        r = await self._request("PUT", self._url(self._project(name, f"deployments/{quote(deployment, safe='')}")),
                                f"deploy {label} of {name} as {deployment}", json={"trainedModelLabel": label},
                                ok=(200, 201, 202))
        return self._job_location(r, f"deploy {name}")

    async def delete(self, kind: AssetKind, asset_id: str, *, interval: float = 1.0) -> bool:
        """Delete the project and wait for the deletion job; False when it was already gone."""
        try:
            r = await self._request("DELETE", self._url(self._project(asset_id)), f"delete project {asset_id}",
                                    ok=(202, 200, 204))
        except NotFoundError:
            return False
        if r.status_code == 202 and r.headers.get("operation-location"):
            url, delay = self._job_location(r, f"delete project {asset_id}")
            body = await self.wait_job(url, what=f"deletion job of {asset_id}", interval=interval, first_delay=delay)
            self.check_job(body, what="deletion", url=url)
        return True


__all__ = [
    "KIND",
    "ProjectsAdapter",
    "deployment_summary",
    "fingerprint",
    "job_errors",
    "job_id",
    "model_summary",
    "project_asset",
]
