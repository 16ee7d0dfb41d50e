"""DR drills and the failover map for Document Intelligence v4 / Form Recognizer v3 models and classifiers (issue 16):
``POST {collection}/{id}:analyze`` with the sample as ``base64Source``, polled at its Operation-Location."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from drplan.azure.client import AzureClient
from drplan.families.base import Connection
from drplan.families.document_intelligence.adapter import WIRE, DocumentModelsAdapter
from drplan.families.inference import Sample, analyze, document_sample
from drplan.spec.model import AssetKind


def failover_ids(record: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """The model (or classifier) id an application calls on the primary and on the secondary: the same unless the
    rule renamed it."""
    key = "model_id" if record["kind"] == AssetKind.DOCUMENT_MODEL.value else "classifier_id"
    return {key: record["source_id"]}, {key: record["target_id"]}


def drill_sample(kind: AssetKind, files: Sequence[Path]) -> Sample:
    return document_sample(files)


def normalise(result: Mapping[str, Any], own_id: str) -> dict[str, Any]:
    """What a faithful copy answers alike: per document its type (the asset's own id as ``$self``: a copy renames
    it, contracts §2.4) and each field's type and value."""
    out: dict[str, Any] = {}
    docs = result.get("documents") or []
    out["documents"] = len(docs)
    for i, doc in enumerate(docs):
        doc_type = str(doc.get("docType", ""))
        out[f"document {i} docType"] = ":".join("$self" if part == own_id else part for part in doc_type.split(":"))
        for name, value in sorted((doc.get("fields") or {}).items()):
            shown = next((v for k, v in value.items() if k.startswith("value")), value.get("content"))
            out[f"document {i} field {name}"] = [value.get("type"), shown]
    return out


async def probe(client: AzureClient, conn: Connection, kind: AssetKind, ids: Mapping[str, str], sample: Sample, *,
                deadline: float) -> dict[str, Any]:
    adapter = DocumentModelsAdapter(client, conn)
    asset_id = next(iter(ids.values()))
    url = f"{adapter.base}/{WIRE[kind].collection}/{quote(asset_id, safe='')}:analyze?api-version={conn.api_version}"
    body = await analyze(adapter, url, op=f"analyze with {kind.value} {asset_id}", deadline=deadline,
                         json={"base64Source": sample.b64()})
    return normalise(body.get("analyzeResult") or {}, asset_id)
