"""Refresh: list every resource a plan touches, concurrently, through the list APIs (one pass per resource)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from drplan.azure.auth import key_from_env, shared_entra_token
from drplan.azure.client import AzureClient
from drplan.services.base import Connection, Inventory
from drplan.services.registry import adapter_for
from drplan.spec.model import AssetKind


def connections(resources: Mapping[str, Mapping[str, Any]], *, where: str = "") -> dict[str, Connection]:
    """Build connections from public resource descriptions (a spec's or a plan's), reading keys from the env."""
    return {
        name: Connection(
            name=name,
            family=r["family"],
            endpoint=r["endpoint"].rstrip("/"),
            api_version=r["api_version"],
            region=r["region"],
            resource_id=r["resource_id"],
            key=shared_entra_token() if r.get("auth") == "entra" else key_from_env(name, r["key_env"], where=where),
        )
        for name, r in resources.items()
    }


async def refresh(
    client: AzureClient,
    conns: Mapping[str, Connection],
    needs: Mapping[str, Iterable[AssetKind]],
    *,
    quota_for: Iterable[str] = (),
    emit: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Inventory]:
    """List the asset kinds each resource needs (and /info quota for ``quota_for``), all resources at once."""
    quota = set(quota_for)

    async def one(name: str) -> tuple[str, Inventory]:
        adapter = adapter_for(client, conns[name])
        started = time.monotonic()
        inv = await adapter.inventory(frozenset(needs[name]), quota=name in quota)
        if emit:
            emit({"type": "refresh", "address": name, "level": "info", "assets": len(inv.assets),
                  "seconds": round(time.monotonic() - started, 3),
                  "message": f"refreshed {name}: {len(inv.assets)} asset(s)"})
        return name, inv

    results = await asyncio.gather(*(one(n) for n in sorted(needs)))
    return dict(results)


async def fetch_language_details(
    client: AzureClient,
    conns: Mapping[str, Connection],
    inventories: dict[str, Inventory],
    exports: Iterable[tuple[str, str]],
    training: Iterable[tuple[str, str]] = (),
    *,
    emit: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Language planning needs more than the list APIs (drplan.plan.language.language_fetches says exactly what):
    export each ``(resource, project)`` in ``exports`` (export job -> poll -> resultUrl) and read the models and
    deployments of each ``(resource, project)`` in ``training``, all at once, into the project's ``Asset.detail``
    (``exported``; ``models`` by label, ``deployments`` by name). A failed export is recorded as ``export_error``
    for the planner to report on the change concerned, instead of failing the whole plan."""
    from drplan.errors import DrplanError, NotFoundError
    from drplan.services.language import ProjectsAdapter

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
