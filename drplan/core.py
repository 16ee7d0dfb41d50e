"""The two use cases, free of click: make a plan from a spec, and apply a plan under the state lock."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from drplan.apply.executor import ApplyResult, Executor
from drplan.azure.client import AzureClient
from drplan.plan.planfile import seal
from drplan.plan.planner import build_plan, kinds_of
from drplan.refresh import connections, refresh
from drplan.spec.model import AssetKind, Spec
from drplan.state.backends.local import LocalBackend
from drplan.state.manager import StateManager


def state_manager(path: str | Path) -> StateManager:
    return StateManager(LocalBackend(Path(path)))


def _client(transport: httpx.AsyncBaseTransport | None, per_endpoint: int) -> AzureClient:
    return AzureClient(transport=transport, per_endpoint=per_endpoint)


async def make_plan(
    spec: Spec,
    *,
    allow_delete: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
    stats: dict[str, Any] | None = None,
    targets: tuple[str, ...] = (),
    excludes: tuple[str, ...] = (),
    emit: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Refresh every resource the spec names (concurrently, list APIs) and return the sealed plan."""
    manager = state_manager(spec.state.path)
    state = manager.load()
    needs: dict[str, set[AssetKind]] = {}
    quota_for: set[str] = set()
    for rule in spec.rules:
        kinds = kinds_of(rule)
        needs.setdefault(rule.source, set()).update(kinds)
        for t in rule.targets:
            needs.setdefault(t, set()).update(kinds)
            quota_for.add(t)
    # Records of this spec's rules on resources they no longer target still need a look (prune, drift).
    rule_names = {r.name for r in spec.rules}
    for rec in state.resources.values():
        if rec["rule"] in rule_names and rec["target_resource"] in spec.resources:
            needs.setdefault(rec["target_resource"], set()).add(AssetKind(rec["kind"]))
    conns = connections({n: spec.resources[n].public() for n in needs}, where=str(spec.path))
    async with _client(transport, spec.per_endpoint_parallelism) as client:
        inventories = await refresh(client, conns, needs, quota_for=quota_for, emit=emit)
        if stats is not None:
            stats["requests"] = client.stats.requests
            stats["throttled"] = client.stats.throttled
    plan = build_plan(
        spec,
        inventories,
        state,
        state_existed=manager.exists,
        allow_delete=allow_delete,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        targets=tuple(targets),
        excludes=tuple(excludes),
    )
    # The state path is recorded relative to where plan ran, so a pipeline applying from the same checkout finds it.
    plan["state"]["path"] = os.path.relpath(spec.state.path)
    return seal(plan)


async def apply_plan(
    plan: dict[str, Any],
    *,
    state_path: str | Path | None = None,
    parallelism: int | None = None,
    lock_timeout: float = 0.0,
    emit: Callable[[dict[str, Any]], None] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    poll_interval: float = 1.0,
) -> ApplyResult:
    manager = state_manager(state_path or plan["state"]["path"])
    manager.backend.lock("apply", timeout=lock_timeout)
    try:
        manager.load()  # read again under the lock (work is checked again after taking it)
        per_endpoint = plan["options"].get("per_endpoint_parallelism", 8)
        async with _client(transport, per_endpoint) as client:
            executor = Executor(plan, manager, client, parallelism=parallelism, emit=emit,
                                poll_interval=poll_interval)
            return await executor.run()
    finally:
        manager.backend.unlock()
