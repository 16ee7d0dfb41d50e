"""Refresh: list every resource a plan touches, concurrently, through the list APIs (one pass per resource)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from drplan.azure.auth import key_from_env, shared_entra_token
from drplan.azure.client import AzureClient
from drplan.families import adapter_for
from drplan.families.base import Connection, Inventory
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
