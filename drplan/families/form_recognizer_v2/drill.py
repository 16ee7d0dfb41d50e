"""DR drills and the failover map for Form Recognizer v2.1 / v2.0 custom models (issue 16). The target minted its own
model id (contracts §4), so the map gives an application the id per region; a drill posts the sample to
``custom/models/{id}/analyze`` and polls the result URL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from drplan.azure.client import AzureClient
from drplan.families.base import Connection
from drplan.families.form_recognizer_v2.adapter import FormRecognizerV2Adapter
from drplan.families.inference import Sample, analyze, document_sample
from drplan.spec.model import AssetKind


def failover_ids(record: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """The source model id on the primary; the id the target minted (the state's ``target_id``) on the secondary."""
    return {"model_id": record["source_id"]}, {"model_id": record["target_id"]}


def drill_sample(kind: AssetKind, files: Sequence[Path]) -> Sample:
    return document_sample(files)


def normalise(result: Mapping[str, Any], own_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    docs = result.get("documentResults") or []
    out["documents"] = len(docs)
    for i, doc in enumerate(docs):
        out[f"document {i} docType"] = str(doc.get("docType", "")).replace(own_id, "$self")
        for name, value in sorted((doc.get("fields") or {}).items()):
            value = value or {}
            shown = next((v for k, v in value.items() if k.startswith("value")), value.get("text"))
            out[f"document {i} field {name}"] = [value.get("type"), shown]
    return out


async def probe(client: AzureClient, conn: Connection, kind: AssetKind, ids: Mapping[str, str], sample: Sample, *,
                deadline: float) -> dict[str, Any]:
    adapter = FormRecognizerV2Adapter(client, conn)
    model_id = ids["model_id"]
    url = f"{adapter.base}/custom/models/{quote(model_id, safe='')}/analyze"
    body = await analyze(adapter, url, op=f"analyze with model {model_id}", deadline=deadline, content=sample.data,
                         headers={"Content-Type": sample.mime})
    return normalise(body.get("analyzeResult") or {}, model_id.lower())
