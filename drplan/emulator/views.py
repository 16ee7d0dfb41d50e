"""Wire shapes of store records, per api-version (contracts §2.2, §2.7, §3; the OpenAPI files in
``shared/contracts/openapi``).

* DI v4 (``2024-11-30``, ``2024-02-29-preview``): list and get both return DocumentModelDetails (with docTypes).
* FR v3 (``2023-07-31``, ``2022-08-31``): list returns DocumentModelSummary (no docTypes), get returns details;
  ``2022-08-31`` has no ``expirationDateTime``. Operation lists return OperationSummary (no error/result).
* Operation list items never carry ``result``/``error`` (contracts §2.2 [INF]); GET of one operation does.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .clock import format_timestamp
from .store import Classifier, Model, Operation

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


def model(m: Model, api_version: str, *, summary: bool = False) -> dict[str, Any]:
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


def model_list_item(m: Model, api_version: str) -> dict[str, Any]:
    return model(m, api_version, summary=api_version in FR_VERSIONS)


def classifier(c: Classifier, api_version: str) -> dict[str, Any]:
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


def operation(op: Operation, now: float, api_version: str, *, summary: bool = False) -> dict[str, Any]:
    """DocumentIntelligenceOperationDetails / OperationDetails (``summary``: list item, no result/error)."""
    status, percent = op.status_at(now)
    body: dict[str, Any] = {"operationId": op.operation_id, "status": status}
    if percent is not None:
        body["percentCompleted"] = percent
    body["createdDateTime"] = format_timestamp(op.created)
    body["lastUpdatedDateTime"] = format_timestamp(op.last_updated(now))
    body["kind"] = "documentModelCopyTo" if op.kind == "model" else "documentClassifierCopyTo"
    body["resourceLocation"] = op.resource_location
    body["apiVersion"] = op.api_version
    if not summary:
        if op.error is not None:
            body["error"] = dict(op.error)
        if op.result is not None:
            body["result"] = model(op.result, api_version) if isinstance(op.result, Model) else classifier(op.result, api_version)
    return body


def info(count: int, limit: int, api_version: str, now: float) -> dict[str, Any]:
    """GET /info (contracts §2.5, §2.7, §3). The neural build quota is static: 0 used of 20, resetting at the
    start of next month (UTC) [INF]."""
    body: dict[str, Any] = {"customDocumentModels": {"count": count, "limit": limit}}
    if api_version in NEURAL_QUOTA_VERSIONS:
        today = dt.datetime.fromtimestamp(now, tz=dt.timezone.utc)
        first_next = dt.datetime(today.year + (today.month == 12), today.month % 12 + 1, 1, tzinfo=dt.timezone.utc)
        body["customNeuralDocumentModelBuilds"] = {"used": 0, "quota": 20, "quotaResetDateTime": format_timestamp(first_next)}
    return body
