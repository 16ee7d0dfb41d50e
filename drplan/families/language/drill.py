"""DR drills and the failover map for Language custom NER projects (issue 16). An application fails over by calling
the same project and deployment names on the secondary's endpoint with its key (the Language fail-over guide,
contracts §6.3); a drill runs the runtime's analyze-text job (one ``CustomEntityRecognition`` task) on the
deployment in each region and compares the entities."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from drplan.azure.client import AzureClient
from drplan.families.base import Connection
from drplan.families.inference import Sample, SampleError, analyze, text_sample
from drplan.families.language.adapter import ProjectsAdapter
from drplan.spec.model import AssetKind


def failover_ids(record: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Project and deployment names: the same in both regions (the deployment is the rule's ``train.deployment``;
    "" when the rule does not deploy, and then nothing answers on the secondary)."""
    deployment = str(record.get("deployment") or "")
    return ({"project_name": record["source_id"], "deployment_name": deployment},
            {"project_name": record["target_id"], "deployment_name": deployment})


def drill_sample(kind: AssetKind, files: Sequence[Path]) -> Sample:
    return text_sample(files)


def normalise(body: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    items = (body.get("tasks") or {}).get("items") or []
    docs = ((items[0] if items else {}).get("results") or {}).get("documents") or []
    for doc in docs:
        for ent in doc.get("entities") or []:
            out[f"entity {ent.get('text')}@{ent.get('offset')}"] = ent.get("category")
    out["entities"] = sum(len(d.get("entities") or []) for d in docs)
    return out


async def probe(client: AzureClient, conn: Connection, kind: AssetKind, ids: Mapping[str, str], sample: Sample, *,
                deadline: float) -> dict[str, Any]:
    if not ids.get("deployment_name"):
        raise SampleError(f"{conn.name}/{ids['project_name']}: no deployment to drill: the rule does not deploy the "
                          "project (set replicate.train.deployment), so nothing answers in this region")
    adapter = ProjectsAdapter(client, conn)
    url = f"{conn.endpoint}/language/analyze-text/jobs?api-version={conn.api_version}"  # the runtime, not authoring
    body = {"displayName": "drplan drill",
            "analysisInput": {"documents": [{"id": "1", "language": "en", "text": sample.text}]},
            "tasks": [{"kind": "CustomEntityRecognition", "taskName": "drill",
                       "parameters": {"projectName": ids["project_name"], "deploymentName": ids["deployment_name"]}}]}
    answer = await analyze(adapter, url, op=f"analyze-text with {ids['project_name']}/{ids['deployment_name']}",
                           deadline=deadline, json=body)
    return normalise(answer)
