"""DR drills and the failover map for Content Understanding analyzers (issue 16): ``analyzers/{id}:analyze`` with the
sample as base64 ``inputs[0].data``, polled at ``analyzerResults/{id}``. The copy keeps the analyzer id; the target's
model deployments (its ``/defaults``) serve it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from drplan.azure.client import AzureClient
from drplan.families.base import Connection
from drplan.families.content_understanding.adapter import AnalyzersAdapter
from drplan.families.inference import Sample, analyze, document_sample
from drplan.spec.model import AssetKind


def failover_ids(record: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """The analyzer id (the same in both regions unless renamed). A ``/defaults`` key drplan set is no asset an
    application calls: no ids, so neither the map nor a drill lists it."""
    if record["kind"] != AssetKind.ANALYZER.value:
        return {}, {}
    return {"analyzer_id": record["source_id"]}, {"analyzer_id": record["target_id"]}


def drill_sample(kind: AssetKind, files: Sequence[Path]) -> Sample:
    return document_sample(files)


def normalise(result: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    contents = result.get("contents") or []
    out["contents"] = len(contents)
    for i, content in enumerate(contents):
        if content.get("category") is not None:
            out[f"content {i} category"] = content["category"]
        for name, value in sorted((content.get("fields") or {}).items()):
            value = value or {}
            shown = next((v for k, v in value.items() if k.startswith("value")), None)
            out[f"content {i} field {name}"] = [value.get("type"), shown]
    return out


async def probe(client: AzureClient, conn: Connection, kind: AssetKind, ids: Mapping[str, str], sample: Sample, *,
                deadline: float) -> dict[str, Any]:
    adapter = AnalyzersAdapter(client, conn)
    analyzer_id = ids["analyzer_id"]
    url = f"{adapter.base}/analyzers/{quote(analyzer_id, safe='')}:analyze?api-version={conn.api_version}"
    body = await analyze(adapter, url, op=f"analyze with analyzer {analyzer_id}", deadline=deadline,
                         json={"inputs": [{"data": sample.b64(), "mimeType": sample.mime}]})
    return normalise(body.get("result") or {})
