"""Apply a saved plan: check it is still valid, take the lock, run each change's steps with bounded concurrency,
journal before and after every side effect, verify, and record. Resume an interrupted apply from the journal.

The executor owns what is the same for every family: the plan's validity, the state's lineage and serial, the live
preconditions, ordering (``depends_on``), concurrency, deletes, and the apply record. Each change's own steps are
its family's (``drplan.families.<family>.apply``), run with an :class:`~drplan.apply.context.ApplyContext`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from drplan.apply.context import ApplyContext, CrashPoints, Emit
from drplan.apply.journal import Journal, utcnow
from drplan.apply.resend import RetryBudget, run_retrying
from drplan.azure.client import AzureClient
from drplan.errors import ApplyError, DrplanError, NotApplyableError, StaleApplyError, StalePlanError
from drplan.families import adapter_for, family_of_kind
from drplan.families.base import Connection, Inventory
from drplan.plan.model import Action, Change, Plan
from drplan.plan.moves import MOVED_FROM, move_record
from drplan.refresh import connections, refresh
from drplan.spec.model import AssetKind
from drplan.state.manager import StateManager


@dataclass
class ApplyResult:
    applied: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)  # no-ops whose state record was brought up to date
    moved: list[str] = field(default_factory=list)  # addresses whose record a [[moved]] block moved (issue 17)
    already_applied: bool = False


class Executor:
    def __init__(
        self,
        plan: Plan,
        manager: StateManager,
        client: AzureClient,
        *,
        parallelism: int | None = None,
        emit: Emit | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        self.plan = plan
        self.manager = manager
        self.client = client
        self.parallelism = parallelism or plan.options.parallelism or 10
        self.emit = emit or (lambda event: None)
        self.poll_interval = poll_interval
        self.crash = CrashPoints()
        self.adapters: dict[str, Any] = {}  # resource name -> its family's adapter (drplan.families)
        self.journal: Journal | None = None
        self.ctx: ApplyContext | None = None

    # -- the whole apply -----------------------------------------------------------------------------------------
    async def run(self) -> ApplyResult:
        plan = self.plan
        if not plan.applyable or plan.errors:  # errors win whatever "applyable" says (issue 19)
            raise NotApplyableError(
                "the plan has errors and cannot be applied:\n"
                + ("\n".join(f"  - {e}" for e in plan.errors) or "  - (applyable is false)")
            )
        state = self.manager.state
        assert state is not None
        digest = plan.digest
        if digest is None:
            raise NotApplyableError("the plan is not sealed (it has no digest); run drplan plan again")
        rec = state.apply_record(digest)
        if rec is not None and rec["status"] == "complete":
            return ApplyResult(already_applied=True)
        self._check_state_matches(rec)
        # [[moved]] blocks: the records move in memory now and reach the state in the first write below, with the
        # apply record (one atomic write: a crash leaves both or neither; a resume finds them moved already).
        moved = self._move_records()

        # A no-op that finishes an unfinished journal entry (planner._resolve_unfinished) runs its family's resume,
        # unless it only records a copy found on the target (refresh_record, below).
        pending = [c for c in plan.changes if c.action is not Action.NO_OP
                   or (c.settings.get("unfinished") and not c.settings.get("refresh_record"))]
        done = set(rec.get("done", [])) if rec else set()
        pending = [c for c in pending if c.address not in done]
        # No-ops that carry a state refresh (a Language pair whose lastModifiedDateTime moved without a content
        # change): checked live like changes, then recorded, so later plans need not export the pair again.
        # A no-op may also carry a whole record: a DI / FR v3 copy found by its lineage tags that the state lacks.
        refreshes = [c for c in plan.changes if c.action is Action.NO_OP and rec is None
                     and c.settings.get("refresh_record")
                     and (c.address in state.resources or "rule" in c.settings["refresh_record"])]
        conns = connections(plan.resources, where="plan")
        self.adapters = {name: adapter_for(self.client, conn) for name, conn in conns.items()}
        if pending or refreshes:
            await self._check_preconditions(pending + refreshes, conns)
        for c in refreshes:
            known = c.address in state.resources
            state.resources.setdefault(c.address, {}).update(c.settings["refresh_record"])
            # A copy found by its lineage after a crash between copy and record: its journal entry is finished too.
            state.journal.pop(c.address, None)
            self.emit({"type": "step", "address": c.address, "step": "refreshed", "level": "info",
                       "message": "recorded the current lastModifiedDateTime of both projects (content unchanged)"
                       if known else "recorded in state: the copy was found by its lineage tags (nothing copied)"})

        if plan.state.lineage is None and plan.state.recover_lineage and not self.manager.exists:
            # A lost state: the copies the plan found carry one lineage id; the new state takes it (planner.py).
            state.lineage = plan.state.recover_lineage
        # Nothing to run (the plan only moves or refreshes records): the apply is complete in this one write.
        status = "in-progress" if pending else "complete"
        if rec is None:
            state.applies.append({"plan_digest": digest, "base_serial": plan.state.serial,
                                  "status": status, "started": utcnow(), "done": []})
            rec = state.applies[-1]
        rec["status"] = status
        if not pending:
            rec["finished"] = utcnow()
            self.manager.persist()
            return ApplyResult(skipped=sorted(done), refreshed=[c.address for c in refreshes], moved=moved)
        self.manager.persist()
        self.journal = Journal(self.manager, digest)
        self.ctx = ApplyContext(plan=plan, state=state, journal=self.journal, adapters=self.adapters, emit=self.emit,
                                poll_interval=self.poll_interval, crash=self.crash)

        result = ApplyResult(skipped=sorted(done), refreshed=[c.address for c in refreshes], moved=moved)
        stale: set[str] = set()  # changes that failed because the plan was stale (StalePlanError)
        sem = asyncio.Semaphore(self.parallelism)
        # depends_on: a change starts when the changes it depends on (those still pending in this apply) are done;
        # if one of them failed, it is not attempted. Waiting happens outside the semaphore, so it cannot deadlock.
        finished = {c.address: asyncio.Event() for c in pending}
        retry_budget = RetryBudget(len(pending))

        async def guarded(change: Change) -> None:
            addr = change.address
            try:
                for dep in change.depends_on:
                    if dep in finished:
                        await finished[dep].wait()
                    # Not done: failed, or ended by an unexpected error (not in result.failed, yet it must not release
                    # its dependents while that error ends the apply).
                    if dep in finished and dep not in result.applied:
                        msg = f"not attempted: it depends on {dep}, which failed"
                        result.failed[addr] = msg
                        self.emit({"type": "change_failed", "address": addr, "level": "error", "message": msg})
                        return
                async with sem:
                    try:
                        # A transient failure runs the change again (resumed from its journal), bounded (issue 19).
                        await run_retrying(lambda: self._run_change(change), budget=retry_budget,
                                           sleep=self.client.sleep, on_retry=self._on_retry(change))
                        result.applied.append(addr)
                        self.emit({"type": "change_done", "address": addr, "message": "done", "level": "debug"})
                    except DrplanError as exc:
                        result.failed[addr] = str(exc)
                        if isinstance(exc, StalePlanError):
                            stale.add(addr)
                        self.emit({"type": "change_failed", "address": addr, "level": "error", "message": str(exc),
                                   "request_id": getattr(exc, "request_id", None)})
            finally:
                finished[addr].set()

        await asyncio.gather(*(guarded(c) for c in pending))
        await self.journal.set_apply_status("failed" if result.failed else "complete")
        if stale:
            # A change found the plan stale only once it ran (a Language source edited after the live check, in the
            # plan's own second: its export's digest tells, its whole-second lastModifiedDateTime cannot): the
            # apply ends with the documented stale-plan exit code (3), naming every failure.
            raise StaleApplyError(
                f"the plan is stale for {len(stale)} change(s) (run drplan plan again); {len(result.failed)} of "
                f"{len(pending)} change(s) failed:\n"
                + "\n".join(f"  - {a}: {m}" for a, m in sorted(result.failed.items())),
                result.failed,
            )
        if result.failed:
            raise ApplyError(
                f"{len(result.failed)} of {len(pending)} change(s) failed; the journal keeps their progress and "
                "`drplan apply` of the same plan resumes them:\n"
                + "\n".join(f"  - {a}: {m}" for a, m in sorted(result.failed.items())),
                result.failed,
            )
        return result

    def _check_state_matches(self, rec: dict[str, Any] | None) -> None:
        plan_state = self.plan.state
        state = self.manager.state
        assert state is not None
        if rec is not None:
            if rec["base_serial"] != plan_state.serial:  # pragma: no cover - digest ties them together
                raise StalePlanError("the state's record of this plan does not match it; run drplan plan again")
            return  # resuming this plan's own interrupted apply: serial moved on through our own journal writes
        if plan_state.lineage is None:
            if self.manager.exists:
                raise StalePlanError(
                    f"the plan was made when there was no state, but {self.manager.backend.describe()} now exists "
                    f"(serial {state.serial}); run drplan plan again"
                )
            return
        if not self.manager.exists:
            raise StalePlanError(
                f"the plan was made from state lineage {plan_state.lineage} serial {plan_state.serial}, but "
                f"{self.manager.backend.describe()} does not exist; restore the state or run drplan plan again"
            )
        if state.lineage != plan_state.lineage:
            raise StalePlanError(
                f"the plan was made from state lineage {plan_state.lineage}, but the state is lineage "
                f"{state.lineage} (a different state file); run drplan plan again"
            )
        if state.serial != plan_state.serial:
            raise StalePlanError(
                f"the plan was made from state serial {plan_state.serial}; the state is now serial {state.serial} "
                "(another apply ran since); run drplan plan again"
            )

    async def _check_preconditions(self, pending: list[Change], conns: dict[str, Connection]) -> None:
        """Re-read the live resources and refuse the plan if what it assumed no longer holds (say which)."""
        assert self.manager.state is not None
        journal = self.manager.state.journal
        fresh = [c for c in pending if c.address not in journal]
        if not fresh:
            return
        needs: dict[str, set[AssetKind]] = {}
        for c in fresh:
            needs.setdefault(c.target.resource, set()).add(c.kind)
            if c.action is not Action.DELETE:
                needs.setdefault(c.source.resource, set()).add(c.kind)
        inventories = await refresh(self.client, conns, needs)
        problems: list[str] = []
        for c in fresh:
            problems.extend(f"{c.address}: {p}" for p in _violations(c, inventories))
        if problems:
            raise StalePlanError(
                "the plan no longer matches the live resources; run drplan plan again:\n"
                + "\n".join(f"  - {p}" for p in problems)
            )

    def _move_records(self) -> list[str]:
        """Move the records of the plan's moved changes (``settings.moved_from``) to their new addresses, as ``drplan
        state mv`` does (drplan.plan.moves.move_record). A record already at its new address (a resumed apply) or no
        longer at its old one stays as it is."""
        state = self.manager.state
        assert state is not None
        out = []
        for c in self.plan.changes:
            old = c.settings.get(MOVED_FROM)
            new = c.address
            if not old or new in state.resources or new in state.journal or not move_record(state, old, new):
                continue
            out.append(new)
            self.emit({"type": "step", "address": new, "step": "moved", "level": "info",
                       "message": f"moved in state from {old} (the copy itself is untouched)"})
        return out

    # -- one change -------------------------------------------------------------------------------------------
    def _on_retry(self, change: Change) -> Callable[[int, DrplanError, float], None]:
        def warn(n: int, exc: DrplanError, delay: float) -> None:
            self.emit({"type": "step", "address": change.address, "step": "retrying", "level": "warning",
                       "message": f"{exc}; a transient failure: running the change again in {delay:g} s, resuming "
                                  f"from its journal (re-run {n})"})
        return warn

    async def _run_change(self, change: Change) -> None:
        assert self.journal is not None and self.ctx is not None
        if change.action is Action.DELETE:
            await self._delete(change)
            return
        await family_of_kind(change.kind).apply_change(self.ctx, change, self.journal.entry(change.address))

    async def _delete(self, change: Change) -> None:
        assert self.journal is not None and self.ctx is not None
        tgt = self.adapters[change.target.resource]
        await self.journal.record(change.address, "delete", "deleting", target_id=change.target.id)
        self.ctx.step(change, "deleting", f"deleting {change.target.id} on {tgt.conn.name}")
        await tgt.delete(change.kind, change.target.id)
        self.ctx.crash("after-delete")
        await self.journal.finish(change.address, None)



def _violations(change: Change, inventories: dict[str, Inventory]) -> list[str]:
    kind, target = change.kind, change.target
    out = []
    for pre in change.preconditions:
        if pre["type"] == "source_fingerprint":
            asset = inventories[pre["resource"]].get(kind, pre["id"])
            if asset is None:
                out.append(f"the source {pre['resource']}/{pre['id']} no longer exists")
            elif asset.fingerprint != pre["fingerprint"]:
                out.append(f"the source {pre['resource']}/{pre['id']} changed since the plan "
                           f"({pre['fingerprint']} -> {asset.fingerprint})")
        elif pre["type"] == "target_absent":
            asset = inventories[target.resource].get(kind, target.id)
            if asset is not None:
                out.append(f"{target.resource}/{target.id} now exists on the target "
                           f"({asset.fingerprint}); the plan expected it absent")
        elif pre["type"] == "target_defaults":
            now_defaults = inventories[pre["resource"]].defaults or {}
            for model, deployment in sorted(pre["models"].items()):
                if now_defaults.get(model) != deployment:
                    out.append(f"{pre['resource']} /defaults {model} is now {now_defaults.get(model) or '(unset)'}; "
                               f"the plan expected {deployment or '(unset)'}")
        elif pre["type"] == "target_fingerprint":
            asset = inventories[target.resource].get(kind, target.id)
            now = asset.fingerprint if asset else "absent"
            if now != pre["fingerprint"]:
                out.append(f"{target.resource}/{target.id} changed on the target since "
                           f"the plan ({pre['fingerprint']} -> {now})")
    return out
