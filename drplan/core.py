"""The use cases, free of click: make a plan from a spec, apply a plan under the state lock, and adopt an existing
copy into the state."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from drplan.apply.context import copy_record
from drplan.apply.executor import ApplyResult, Executor
from drplan.azure.arm import management_url_for, read_accounts
from drplan.azure.client import AzureClient
from drplan.controlplane import AccountFacts, Reading, Unread, resolve
from drplan.errors import SpecError, StateError
from drplan.families import family_of, family_of_kind
from drplan.plan.model import Plan
from drplan.plan.moves import moved_view
from drplan.plan.planfile import seal
from drplan.plan.planner import build_plan
from drplan.refresh import connections, refresh
from drplan.spec.model import AssetKind, Spec, StateConfig
from drplan.state.backends import backend_from_config
from drplan.state.manager import StateManager


def state_manager(where: StateConfig | Mapping[str, Any] | str | Path) -> StateManager:
    """The state a spec names (its StateConfig), a plan recorded (its ``state`` block), or a local file path."""
    if isinstance(where, (str, Path)):
        config: Mapping[str, Any] = {"backend": "local", "path": str(where)}
    elif isinstance(where, StateConfig):
        config = where.public()
    else:
        config = where
    return StateManager(backend_from_config(config))


def _plan_state_block(config: StateConfig) -> dict[str, Any]:
    """Where the plan says its state lives: a local path relative to where plan ran (so a pipeline applying from the
    same checkout finds it), or the blob's account URL, container and blob with the *names* of the credential env
    vars. Never a secret."""
    block = config.public()
    if config.backend == "local":
        assert config.path is not None
        block["path"] = os.path.relpath(config.path)
    return block


def _client(transport: httpx.AsyncBaseTransport | None, per_endpoint: int, endpoints: Any = ()) -> AzureClient:
    """One client for a run. TLS set-up is skipped only when every endpoint is plain http (the local emulator)."""
    tls = not endpoints or any(str(e).lower().startswith("https:") for e in endpoints)
    return AzureClient(transport=transport, per_endpoint=per_endpoint, tls=tls)


async def make_plan(
    spec: Spec,
    *,
    allow_delete: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
    stats: dict[str, Any] | None = None,
    targets: tuple[str, ...] = (),
    excludes: tuple[str, ...] = (),
    emit: Callable[[dict[str, Any]], None] | None = None,
    control_plane: bool = True,
    replace: tuple[str, ...] = (),
) -> Plan:
    """Refresh every resource the spec names (concurrently, list APIs), read their live facts from Resource Manager
    at the same time (``control_plane`` False: not at all), and return the sealed plan."""
    manager = state_manager(spec.state)
    recorded = manager.load()
    needs: dict[str, set[AssetKind]] = {}
    quota_for: set[str] = set()
    for rule in spec.rules:
        kinds = family_of(spec.resources[rule.source]).rule_kinds(rule)
        needs.setdefault(rule.source, set()).update(kinds)
        for t in rule.targets:
            needs.setdefault(t, set()).update(kinds)
            quota_for.add(t)
    # Records on resources no rule targets now still need a look: a rule's earlier copies (prune, drift) and the
    # records no rule claims (orphaned: deletable with --allow-delete), on the target resources the spec still has.
    # [[moved]] blocks are followed first, as the planner does (the records at their new addresses).
    state = moved_view(spec.moves, recorded).state  # a view: the planner follows the blocks again on ``recorded``
    for rec in state.resources.values():
        tname, kind = rec["target_resource"], AssetKind(rec["kind"])
        if tname in spec.resources and family_of(spec.resources[tname]) is family_of_kind(kind):
            needs.setdefault(tname, set()).add(kind)
    wanted, readings = _control_plane_reads(spec, needs, enabled=control_plane)
    # Resources whose endpoint the spec leaves to the control plane are listed once it has answered; the others are
    # listed while it is read.
    ready = {n: kinds for n, kinds in needs.items() if spec.resources[n].endpoint}
    conns = connections({n: spec.resources[n].public() for n in ready}, where=str(spec.path))
    endpoints = [c.endpoint for c in conns.values()] + [m for _, m, _ in wanted.values()]
    if len(ready) < len(needs):
        endpoints.append("https:")  # an endpoint still to be read is an Azure one
    async with _client(transport, spec.per_endpoint_parallelism, endpoints) as client:
        live = asyncio.ensure_future(read_accounts(client, wanted, token_env=spec.control_plane.token_env,
                                                   where=str(spec.path), emit=emit))
        try:
            inventories = await refresh(client, conns, ready, quota_for=quota_for, emit=emit)
        except BaseException:
            live.cancel()
            await asyncio.gather(live, return_exceptions=True)
            raise
        readings.update(await live)
        resolution = resolve(spec, readings, collections={
            n: family_of(spec.resources[n]).control_plane_collections for n in needs})
        spec = resolution.spec
        later = {n: kinds for n, kinds in needs.items() if n not in ready}
        unknown = [n for n in sorted(later) if not spec.resources[n].endpoint]
        if unknown:
            raise SpecError("\n".join(e for e in resolution.errors if any(f"resources.{n}." in e for n in unknown)))
        if later:
            more = connections({n: spec.resources[n].public() for n in later}, where=str(spec.path))
            inventories.update(await refresh(client, more, later, quota_for=quota_for & set(later), emit=emit))
            conns.update(more)
        for name, reading in readings.items():
            if isinstance(reading, AccountFacts) and name in inventories:
                inventories[name].live = reading
        # Reads beyond the list APIs that some families plan with (Language exports), each family at once.
        used = {id(f): f for f in (family_of(spec.resources[r.source]) for r in spec.rules)}
        await asyncio.gather(*(f.prepare_plan(client, conns, spec, inventories, state, targets=tuple(targets),
                                              excludes=tuple(excludes), emit=emit) for f in used.values()))
        if stats is not None:
            stats["requests"] = client.stats.requests
            stats["throttled"] = client.stats.throttled
    plan = build_plan(
        spec,
        inventories,
        recorded,
        state_existed=manager.exists,
        allow_delete=allow_delete,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        targets=tuple(targets),
        excludes=tuple(excludes),
        replace=tuple(replace),
    )
    plan.state.location = _plan_state_block(spec.state)
    # Where each fact the plan used came from (issue 15), and what disagreed with the spec.
    for name, block in plan.resources.items():
        if name in resolution.facts:
            block["facts"] = resolution.facts[name]
            block["control_plane"] = resolution.control_plane[name]
    plan.warnings = resolution.warnings + plan.warnings
    plan.errors = resolution.errors + plan.errors
    plan.applyable = not plan.errors
    return seal(plan)


async def live_spec(spec: Spec, *, transport: httpx.AsyncBaseTransport | None = None) -> Spec:
    """``spec`` with the endpoints and regions it leaves to the control plane read from Resource Manager (drill,
    output); unchanged, with no request, when it names them all. A resource whose endpoint cannot be learnt is a
    SpecError saying why."""
    names = [n for n, r in spec.resources.items() if not r.endpoint or not r.region]
    if not names:
        return spec
    wanted, readings = _control_plane_reads(spec, names, enabled=True)
    async with _client(transport, spec.per_endpoint_parallelism, [m for _, m, _ in wanted.values()]) as client:
        readings.update(await read_accounts(client, wanted, token_env=spec.control_plane.token_env,
                                            where=str(spec.path)))
    resolution = resolve(spec, readings)
    missing = [e for e in resolution.errors if any(f"resources.{n}." in e for n in names)]
    if missing:
        raise SpecError("\n".join(missing))
    return resolution.spec


def _control_plane_reads(spec: Spec, names: Iterable[str], *, enabled: bool,
                         ) -> tuple[dict[str, tuple[str, str, tuple[str, ...]]], dict[str, Reading]]:
    """Which resources to read from Resource Manager (name -> resource id, management URL, collections), and why
    the others are not read."""
    wanted: dict[str, tuple[str, str, tuple[str, ...]]] = {}
    skipped: dict[str, Reading] = {}
    for name in sorted(names):
        res = spec.resources[name]
        mgmt = spec.control_plane.management_url or management_url_for(res.endpoint)
        if not enabled:
            skipped[name] = Unread("the control plane is off: --no-control-plane")
        elif not spec.control_plane.enabled:
            skipped[name] = Unread("the control plane is off: [control_plane] enabled = false")
        elif not res.control_plane:
            skipped[name] = Unread("control_plane = false on the resource")
        elif mgmt is None:
            skipped[name] = Unread(f"no Resource Manager is known for the endpoint {res.endpoint}; set "
                                   "[control_plane] management_url")
        else:
            wanted[name] = (res.resource_id, mgmt, tuple(family_of(res).control_plane_collections))
    return wanted, skipped


async def apply_plan(
    plan: Plan,
    *,
    state_path: str | Path | None = None,
    parallelism: int | None = None,
    lock_timeout: float = 0.0,
    emit: Callable[[dict[str, Any]], None] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    poll_interval: float = 1.0,
) -> ApplyResult:
    # The state the plan was made from (local file or blob); --state FILE points apply at a local file instead.
    manager = state_manager(state_path or plan.state.location)
    # Read again under the lock (work is checked again after taking it); the lock is released however this ends.
    with manager.locked("apply", timeout=lock_timeout):
        per_endpoint = plan.options.per_endpoint_parallelism or 8
        async with _client(transport, per_endpoint, [r["endpoint"] for r in plan.resources.values()]) as client:
            executor = Executor(plan, manager, client, parallelism=parallelism, emit=emit,
                                poll_interval=poll_interval)
            return await executor.run()


async def adopt(
    spec: Spec,
    address: str,
    *,
    lock_timeout: float = 0.0,
    transport: httpx.AsyncBaseTransport | None = None,
    assert_copy: bool = False,
) -> tuple[dict[str, Any], bool]:
    """Record in state a target copy that exists already (made by hand, by another tool or another drplan state, or
    before a lost state), after checking live that it is a copy of the source version the spec selects: the family
    says by what evidence (``Family.adopt_evidence``; recorded as ``adopted``).

    The planner decides what ``address`` means (rule, target, kind, id, renames), from a fresh refresh made under the
    state lock, so adopt and plan can never disagree about it. Returns ``(record, added)``; adopting an address
    already recorded with the same copy is a no-op (``added`` False)."""
    manager = state_manager(spec.state)
    with manager.locked("adopt", timeout=lock_timeout) as state:
        plan = await make_plan(spec, transport=transport, targets=(address,))
        if not manager.exists and plan.state.recover_lineage:
            state.lineage = plan.state.recover_lineage  # a lost state: its copies name it (plan.context)
        change = plan.change(address)
        if change is None:
            raise StateError(
                f"{address}: the spec {spec.path} does not plan this address (addresses are "
                "<rule>/<target-resource>/<kind>/<target-id>, see drplan plan -v); nothing was recorded"
            )
        src, tgt = change.source, change.target
        if not tgt.exists:
            raise StateError(f"{address}: there is no {change.kind.value} {tgt.resource}/{tgt.id} to adopt; "
                             "drplan plan would create it")
        if address in state.journal:
            raise StateError(f"{address}: an apply is in the middle of this copy (journal step "
                             f"{state.journal[address]['step']}); run that apply again to finish it instead")
        recorded = state.resources.get(address)
        if recorded is not None and recorded.get("target_id") == tgt.id \
                and recorded.get("source_fingerprint") == src.fingerprint:
            return recorded, False
        if recorded is not None:
            raise StateError(f"{address}: already recorded in state with another copy (source fingerprint "
                             f"{recorded.get('source_fingerprint')}); drplan state rm it first if you mean to replace "
                             "that record")
        names = (src.resource, tgt.resource)
        # The plan's resources: endpoints and regions as the control plane gave them (issue 15).
        conns = connections({n: plan.resources[n] for n in names}, where=str(spec.path))
        async with _client(transport, spec.per_endpoint_parallelism, [c.endpoint for c in conns.values()]) as client:
            evidence, extra = await family_of_kind(change.kind).adopt_evidence(
                client, conns, spec, change, state, assert_copy=assert_copy)
        record = {**copy_record(change, plan.resources, state.lineage), "adopted": evidence, **extra}
        state.resources[address] = record
        manager.persist()
        return record, True
