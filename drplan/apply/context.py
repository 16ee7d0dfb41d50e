"""ApplyContext: everything a family may touch while it applies one change, and nothing else.

The executor (drplan.apply.executor) owns the plan, the state lock, ordering and concurrency; a family's apply steps
(drplan.families.<family>.apply) get this context and use only it: the journal (record a step before a side effect,
finish a change), the adapters of the plan's resources, progress events, the state's records, the lineage of a copy,
and the test crash points. No family reaches into the executor.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from drplan.apply.journal import Journal, utcnow
from drplan.lineage import Lineage
from drplan.plan.model import Change, Plan
from drplan.state.model import State

Emit = Callable[[dict[str, Any]], None]


class CrashPoints:
    """Test hook: ``DRPLAN_TEST_CRASH_AT=<point>`` kills the process (exit 137, no cleanup) the first time the named
    point is reached, to prove that every step can be interrupted. Each family documents its points in its apply
    module; the generic ones are ``after-delete`` (a delete or a replace's delete was sent) and the copy points
    ``after-journal-authorizing``, ``after-authorize``, ``after-journal-copy-requested``, ``after-copy-sent``,
    ``after-journal-copying``, ``after-copy-done`` that the copy flows share."""

    def __init__(self) -> None:
        self.point = os.environ.get("DRPLAN_TEST_CRASH_AT", "")

    def __call__(self, point: str) -> None:
        if self.point and self.point == point:
            os._exit(137)


def lineage_of(change: Change, resources: Mapping[str, Any], state_lineage: str) -> Lineage:
    """The lineage of the copy a change makes (or an adopted copy): a state, the source resource, id and version."""
    src = change.source
    res = resources[src.resource]
    return Lineage(state_lineage, res.get("resource_id") or res["endpoint"], src.id, src.fingerprint)


def copy_record(change: Change, resources: Mapping[str, Any], state_lineage: str, *,
                target_id: str | None = None) -> dict[str, Any]:
    """The state record of a finished (or adopted) copy: where it came from and where it lives. One builder for
    apply and adopt, so both record the same thing."""
    src, tgt = change.source, change.target
    return {
        "rule": change.rule,
        "kind": change.kind.value,
        "source_resource": src.resource,
        "source_id": src.id,
        "source_fingerprint": src.fingerprint,
        "target_resource": tgt.resource,
        "target_resource_id": resources[tgt.resource]["resource_id"],
        "target_id": target_id or tgt.id,
        "copied_at": utcnow(),
        "encryption_downgrade": change.flags.encryption_downgrade,
        "source_encryption": resources[src.resource]["encryption"],
        "target_encryption": resources[tgt.resource]["encryption"],
        "lineage": lineage_of(change, resources, state_lineage).to_dict(),
    }


class ApplyContext:
    def __init__(self, *, plan: Plan, state: State, journal: Journal, adapters: Mapping[str, Any],
                 emit: Emit, poll_interval: float, crash: Callable[[str], None]) -> None:
        self.plan = plan
        self.state = state
        self.journal = journal
        self.adapters = adapters
        self.poll_interval = poll_interval
        self.crash = crash
        self._emit = emit

    # -- reading ------------------------------------------------------------------------------------------------
    def adapter(self, resource: str) -> Any:
        """The adapter of one of the plan's resources (its family's)."""
        return self.adapters[resource]

    def source(self, change: Change) -> Any:
        return self.adapters[change.source.resource]

    def target(self, change: Change) -> Any:
        return self.adapters[change.target.resource]

    def resource(self, name: str) -> Mapping[str, Any]:
        """The plan's public description of a resource (endpoint, region, resource_id, encryption, ...)."""
        return self.plan.resources[name]

    def recorded(self, address: str) -> dict[str, Any] | None:
        """The state's record of ``address`` (a finished copy), if any."""
        return self.state.resources.get(address)

    def lineage(self, change: Change) -> Lineage:
        """The lineage a copy made by this change carries: this state, the source resource, id and version."""
        return lineage_of(change, self.plan.resources, self.state.lineage)

    # -- progress -----------------------------------------------------------------------------------------------
    def step(self, change: Change, step: str, message: str, **extra: Any) -> None:
        """A progress event for ``change`` (renderers and ``--json`` show it; it is never parsed)."""
        self._emit({"type": "step", "address": change.address, "step": step, "message": message, **extra})

    # -- recording ----------------------------------------------------------------------------------------------
    async def record_done(self, change: Change, operation_url: str | None, *, message: str | None = None,
                          target_id: str | None = None, extra: Mapping[str, Any] | None = None,
                          target_fingerprint: str | None = None) -> None:
        """Record a finished copy: what it was copied from (its lineage, the same for every family) and the copy's
        own fingerprint as seen right after the copy (a later change of it is drift); drop its journal entry."""
        record = copy_record(change, self.plan.resources, self.state.lineage, target_id=target_id)
        record["plan_digest"] = self.plan.digest
        if target_fingerprint:
            record["target_fingerprint"] = target_fingerprint
        if operation_url:
            record["operation_url"] = operation_url
        record.update(extra or {})
        await self.journal.finish(change.address, record)
        self.step(change, "done", message or f"copied to {record['target_resource']}/{record['target_id']}")


__all__ = ["ApplyContext", "CrashPoints", "Emit"]
