"""The use cases, free of click: make a plan from a spec, apply a plan under the state lock, and adopt an existing
copy into the state."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from drplan.apply.executor import ApplyResult, Executor
from drplan.azure.client import AzureClient
from drplan.errors import StateError
from drplan.plan.language import language_fetches
from drplan.plan.planfile import seal
from drplan.plan.planner import build_plan, kinds_of
from drplan.refresh import connections, fetch_language_details, refresh
from drplan.services.lineage import Lineage
from drplan.services.registry import adapter_for
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
) -> dict[str, Any]:
    """Refresh every resource the spec names (concurrently, list APIs) and return the sealed plan."""
    manager = state_manager(spec.state)
    state = manager.load()
    needs: dict[str, set[AssetKind]] = {}
    quota_for: set[str] = set()
    for rule in spec.rules:
        kinds = kinds_of(rule, spec)
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
    async with _client(transport, spec.per_endpoint_parallelism, [c.endpoint for c in conns.values()]) as client:
        inventories = await refresh(client, conns, needs, quota_for=quota_for, emit=emit)
        # Language: export the projects the state cannot vouch for, read the target's models (plan/language.py).
        wanted = language_fetches(spec, inventories, state, targets=tuple(targets), excludes=tuple(excludes))
        if wanted:
            await fetch_language_details(client, conns, inventories, wanted.exports, wanted.training, emit=emit)
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
    plan["state"] = {**_plan_state_block(spec.state), **{k: v for k, v in plan["state"].items()
                                                         if k in ("lineage", "serial", "recover_lineage")}}
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
    # The state the plan was made from (local file or blob); --state FILE points apply at a local file instead.
    manager = state_manager(state_path or plan["state"])
    # Read again under the lock (work is checked again after taking it); the lock is released however this ends.
    with manager.locked("apply", timeout=lock_timeout):
        per_endpoint = plan["options"].get("per_endpoint_parallelism", 8)
        async with _client(transport, per_endpoint, [r["endpoint"] for r in plan["resources"].values()]) as client:
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
    before a lost state), after checking live that it is a copy of the source version the spec selects.

    Document Intelligence / Form Recognizer v3 copies are identified by lineage, never by timestamps (issue 13). The
    evidence, strongest first, is recorded as ``adopted``: ``lineage-tags`` (the copy's drplan tags name this source
    version), ``heuristic`` (no tags, but the copy's expirationDateTime, which a copy keeps from its source, and its
    docTypes digest equal the source's), ``asserted`` (``assert_copy``: the caller states it is a copy; the mapping is
    the address itself). Content Understanding, Language and FR v2.x compare content as before.

    The planner decides what ``address`` means (rule, target, kind, id, renames), from a fresh refresh made under the
    state lock, so adopt and plan can never disagree about it. Returns ``(record, added)``; adopting an address
    already recorded with the same copy is a no-op (``added`` False)."""
    manager = state_manager(spec.state)
    with manager.locked("adopt", timeout=lock_timeout) as state:
        plan = await make_plan(spec, transport=transport, targets=(address,))
        if not manager.exists and plan["state"].get("recover_lineage"):
            state.lineage = plan["state"]["recover_lineage"]  # a lost state: its copies name it (planner.py)
        change = next((c for c in plan["changes"] if c["address"] == address), None)
        if change is None:
            raise StateError(
                f"{address}: the spec {spec.path} does not plan this address (addresses are "
                "<rule>/<target-resource>/<kind>/<target-id>, see drplan plan -v); nothing was recorded"
            )
        src, tgt = change["source"], change["target"]
        where = f"{tgt['resource']}/{tgt['id']}"
        if not tgt.get("exists"):
            raise StateError(f"{address}: there is no {change['kind']} {where} to adopt; drplan plan would create it")
        if address in state.journal:
            raise StateError(f"{address}: an apply is in the middle of this copy (journal step "
                             f"{state.journal[address]['step']}); run that apply again to finish it instead")
        language = change["kind"] == AssetKind.LANGUAGE_PROJECT.value
        lineage_kinds = (AssetKind.DOCUMENT_MODEL.value, AssetKind.DOCUMENT_CLASSIFIER.value)
        evidence: str | bool = True
        extra: dict[str, Any] = {}
        if language and "content_digest" not in tgt and address in state.resources:
            return state.resources[address], False  # recorded and in sync by the state: nothing was exported
        if change["kind"] in lineage_kinds:
            recorded = state.resources.get(address)
            if recorded is not None and recorded.get("target_id") == tgt["id"] \
                    and recorded.get("source_fingerprint") == src["fingerprint"]:
                return recorded, False
            evidence, extra = await _lineage_evidence(spec, change, state.lineage, transport, assert_copy)
        elif language:
            # A project's version is its content: adopt when the exports were compared at plan time and are equal.
            if not src.get("content_digest") or tgt.get("content_digest") != src["content_digest"]:
                raise StateError(
                    f"{address}: {where} does not hold the same assets as {src['resource']}/{src['id']}"
                    + "; refusing to adopt it")
        elif tgt.get("fingerprint") != src["fingerprint"]:
            raise StateError(
                f"{address}: {where} is not a copy of {src['resource']}/{src['id']} as it is now (target "
                f"{tgt.get('fingerprint')}, source {src['fingerprint']}); refusing to adopt it: delete it on the "
                "target and let drplan copy it, or map the source elsewhere with rename"
            )
        recorded = state.resources.get(address)
        if recorded is not None and recorded.get("target_id") == tgt["id"] \
                and recorded.get("source_fingerprint") == src["fingerprint"]:
            return recorded, False
        if recorded is not None:
            raise StateError(f"{address}: already recorded in state with another copy (source fingerprint "
                             f"{recorded.get('source_fingerprint')}); drplan state rm it first if you mean to replace "
                             "that record")
        resources = plan["resources"]
        source_res = resources[src["resource"]]
        record = {
            "rule": change["rule"],
            "kind": change["kind"],
            "source_resource": src["resource"],
            "source_id": src["id"],
            "source_fingerprint": src["fingerprint"],
            "target_resource": tgt["resource"],
            "target_resource_id": resources[tgt["resource"]]["resource_id"],
            "target_id": tgt["id"],
            "copied_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "encryption_downgrade": bool(change["flags"].get("encryption_downgrade", False)),
            "source_encryption": source_res["encryption"],
            "target_encryption": resources[tgt["resource"]]["encryption"],
            "adopted": evidence,
            "lineage": Lineage(state.lineage, source_res.get("resource_id") or source_res["endpoint"], src["id"],
                               src["fingerprint"]).to_dict(),
            **extra,
        }
        if tgt.get("fingerprint") and change["kind"] in lineage_kinds:
            record["target_fingerprint"] = tgt["fingerprint"]
        if language:
            record.update({"source_modified": src["fingerprint"].removeprefix("modified="),
                           "target_modified": tgt.get("modified") or "", "content_digest": src["content_digest"]})
        state.resources[address] = record
        manager.persist()
        return record, True


async def _lineage_evidence(spec: Spec, change: dict[str, Any], state_lineage: str,
                            transport: httpx.AsyncBaseTransport | None, assert_copy: bool) -> tuple[str, dict[str, Any]]:
    """Why a DI / FR v3 target asset may be recorded as a copy of the planned source version (see ``adopt``), and
    what the record adds; raises StateError naming what was compared when nothing matches."""
    src, tgt = change["source"], change["target"]
    address, where = change["address"], f"{tgt['resource']}/{tgt['id']}"
    kind = AssetKind(change["kind"])
    conns = connections({n: spec.resources[n].public() for n in (src["resource"], tgt["resource"])},
                        where=str(spec.path))
    async with _client(transport, spec.per_endpoint_parallelism, [c.endpoint for c in conns.values()]) as client:
        source = await adapter_for(client, conns[src["resource"]]).get(kind, src["id"])
        target = await adapter_for(client, conns[tgt["resource"]]).get(kind, tgt["id"])
    if source is None or target is None:
        raise StateError(f"{address}: {src['resource']}/{src['id'] if source is None else tgt['id']} disappeared "
                         "while adopting; run drplan plan again")
    ref = spec.resources[src["resource"]].resource_id or spec.resources[src["resource"]].endpoint
    want = Lineage(state_lineage, ref, source.id, source.fingerprint)
    if target.lineage is not None:
        if not target.lineage.same_version(want):
            raise StateError(f"{address}: {where} is not a copy of {src['resource']}/{src['id']} as it is now "
                             f"(version {source.fingerprint}): its lineage tags say it is a "
                             f"{target.lineage.describe()}; refusing to adopt it")
        extra = {"lineage_tags": True}
        if target.lineage.state != state_lineage:
            extra["adopted_from_state"] = target.lineage.state
        return "lineage-tags", extra
    if target.expires and target.expires == source.expires and target.content_digest \
            and target.content_digest == source.content_digest:
        return "heuristic", {"lineage_tags": False}
    if assert_copy:
        return "asserted", {"lineage_tags": False}
    compared = (f"expirationDateTime {target.expires or '(none)'} vs {source.expires or '(none)'}, docTypes digest "
                f"{target.content_digest or '(none)'} vs {source.content_digest or '(none)'}")
    raise StateError(
        f"{address}: {where} carries no drplan lineage tags, and the heuristic does not match ({compared}); refusing "
        f"to adopt it. If you know it is a copy of {src['resource']}/{src['id']}, run drplan adopt again with "
        "--assert-copy; otherwise delete it on the target and let drplan copy it")
