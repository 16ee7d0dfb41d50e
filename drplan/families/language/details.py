"""Language plan-time reads beyond the list APIs: exports and the target's models and deployments."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from drplan.azure.client import AzureClient
from drplan.errors import DrplanError, NotFoundError
from drplan.families.base import Connection, Inventory
from drplan.families.language.adapter import ProjectsAdapter
from drplan.spec.model import AssetKind


async def fetch_details(
    client: AzureClient,
    conns: Mapping[str, Connection],
    inventories: dict[str, Inventory],
    exports: Iterable[tuple[str, str]],
    training: Iterable[tuple[str, str]] = (),
    *,
    emit: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Language planning needs more than the list APIs (drplan.families.language.plan.language_fetches says exactly what):
    export each ``(resource, project)`` in ``exports`` (export job -> poll -> resultUrl) and read the models and
    deployments of each ``(resource, project)`` in ``training``, all at once, into the project's ``Asset.detail``
    (``exported``; ``models`` by label, ``deployments`` by name). A failed export is recorded as ``export_error``
    for the planner to report on the change concerned, instead of failing the whole plan."""
    def adapter(name: str) -> ProjectsAdapter:
        return ProjectsAdapter(client, conns[name])

    async def export(name: str, project: str) -> None:
        asset = inventories[name].get(AssetKind.LANGUAGE_PROJECT, project)
        if asset is None:
            return
        started = time.monotonic()
        try:
            asset.detail["exported"] = await adapter(name).export(project, interval=0.5)
        except DrplanError as exc:
            asset.detail["export_error"] = str(exc)
            return
        if emit:
            emit({"type": "refresh", "address": f"{name}/{project}", "level": "debug",
                  "seconds": round(time.monotonic() - started, 3), "message": f"exported {name}/{project}"})

    async def training_of(name: str, project: str) -> None:
        asset = inventories[name].get(AssetKind.LANGUAGE_PROJECT, project)
        if asset is None:
            return
        a = adapter(name)
        try:
            models, deployments = await asyncio.gather(a.list_models(project), a.list_deployments(project))
        except NotFoundError:  # deleted since the listing: the planner sees a project without models
            models, deployments = [], []
        asset.detail["models"] = {m["label"]: m for m in models}
        asset.detail["deployments"] = {d["name"]: d for d in deployments}

    await asyncio.gather(*(export(n, p) for n, p in sorted(set(exports))),
                         *(training_of(n, p) for n, p in sorted(set(training))))
