"""Apply a saved plan: check it is still valid, take the lock, run each change's steps with bounded concurrency,
journal before and after every side effect, verify, and record. Resume an interrupted apply from the journal.

Crash safety (DESIGN §2.5, §3): the journal is written *before* each side effect, so after a kill at any point the
next apply knows what may have happened and looks before it leaps:
* ``authorizing``: authorizeCopy may have reserved the target id; try again; a 409 then means the old reservation
  holds until its authorization expires, which is explained to the user.
* ``copy-requested``: copyTo may have started; search the source's ``/operations`` for a copy towards our target
  location, and check the target, before authorizing anew.
* ``copying``: poll the journaled operation URL; if it is gone (retention), check the target.
* ``deleting`` (replace/delete): delete again (404 is fine).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from drplan.apply.cuflow import run_cu_copy, run_set_default
from drplan.apply.journal import Journal, utcnow
from drplan.apply.languageflow import run_language_change
from drplan.apply.v2flow import run_v2_copy
from drplan.azure.client import AzureClient
from drplan.azure.errors import explain
from drplan.azure.lro import OpStatus, normalise_status
from drplan.errors import (
    ApplyError,
    ConflictError,
    DrplanError,
    NotApplyableError,
    NotFoundError,
    OperationFailedError,
    ResponseLostError,
    ServiceError,
    StalePlanError,
)
from drplan.plan.model import Action, change_action
from drplan.refresh import connections, refresh
from drplan.services.base import Asset, Connection, Inventory, normalise_time
from drplan.services.documentintelligence import (
    CopyAuthorization,
)
from drplan.services.lineage import Lineage, without_lineage_tags
from drplan.services.registry import adapter_for
from drplan.spec.model import AssetKind
from drplan.state.manager import StateManager

#: Clock skew tolerated when matching a source operation to a journaled authorization time.
SKEW = timedelta(minutes=10)

Emit = Callable[[dict[str, Any]], None]


class _Crash:
    """Test hook: ``DRPLAN_TEST_CRASH_AT=<point>`` kills the process (exit 137, no cleanup) the first time the named
    point is reached, to prove that every step can be interrupted. Points: after-journal-authorizing,
    after-authorize, after-journal-copy-requested, after-copy-sent, after-journal-copying, after-copy-done,
    after-delete.

    Content Understanding (apply/cuflow.py): after-journal-granting / after-journal-authorizing (GA grant / token
    flow journaled, nothing sent), after-authorize (granted or token received), after-journal-copy-requested,
    after-copy-sent (the target accepted the copy, its operation URL not journaled), after-journal-copying,
    after-copy-done (the operation succeeded, not yet verified and recorded).

    Language projects (apply/languageflow.py): after-journal-exporting (``exporting`` journaled, nothing sent),
    after-export-sent (the export job exists, its URL is not journaled), after-export-done (export fetched and its
    digest checked, ``exported`` journaled), after-import-sent (import job started, URL not journaled),
    after-import-journaled, after-import-done (``imported`` journaled), after-train-sent, after-train-journaled,
    after-train-done, after-deploy-sent, after-deploy-journaled."""

    def __init__(self) -> None:
        self.point = os.environ.get("DRPLAN_TEST_CRASH_AT", "")

    def __call__(self, point: str) -> None:
        if self.point and self.point == point:
            os._exit(137)


@dataclass
class ApplyResult:
    applied: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)  # no-ops whose state record was brought up to date
    already_applied: bool = False


class _StepError(DrplanError):
    pass


def _parse_time(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(normalise_time(value).replace("Z", "+00:00"))
    except ValueError:
        return None


class Executor:
    def __init__(
        self,
        plan: dict[str, Any],
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
        self.parallelism = parallelism or plan["options"].get("parallelism", 10)
        self.emit = emit or (lambda event: None)
        self.poll_interval = poll_interval
        self.crash = _Crash()
        self.adapters: dict[str, Any] = {}  # resource name -> its family's adapter (drplan.services.registry)
        self.journal: Journal | None = None

    # -- the whole apply -----------------------------------------------------------------------------------------
    async def run(self) -> ApplyResult:
        plan = self.plan
        if not plan["applyable"]:
            raise NotApplyableError(
                "the plan has errors and cannot be applied:\n" + "\n".join(f"  - {e}" for e in plan["errors"])
            )
        state = self.manager.state
        assert state is not None
        digest = plan["digest"]
        rec = state.apply_record(digest)
        if rec is not None and rec["status"] == "complete":
            return ApplyResult(already_applied=True)
        self._check_state_matches(rec)

        pending = [c for c in plan["changes"] if change_action(c) is not Action.NO_OP]
        done = set(rec.get("done", [])) if rec else set()
        pending = [c for c in pending if c["address"] not in done]
        # No-ops that carry a state refresh (a Language pair whose lastModifiedDateTime moved without a content
        # change): checked live like changes, then recorded, so later plans need not export the pair again.
        # A no-op may also carry a whole record: a DI / FR v3 copy found by its lineage tags that the state lacks.
        refreshes = [c for c in plan["changes"] if change_action(c) is Action.NO_OP and rec is None
                     and (c.get("settings") or {}).get("refresh_record")
                     and (c["address"] in state.resources or "rule" in c["settings"]["refresh_record"])]
        conns = connections(plan["resources"], where="plan")
        self.adapters = {name: adapter_for(self.client, conn) for name, conn in conns.items()}
        if pending or refreshes:
            await self._check_preconditions(pending + refreshes, conns)
        for c in refreshes:
            known = c["address"] in state.resources
            state.resources.setdefault(c["address"], {}).update(c["settings"]["refresh_record"])
            self.emit({"type": "step", "address": c["address"], "step": "refreshed", "level": "info",
                       "message": "recorded the current lastModifiedDateTime of both projects (content unchanged)"
                       if known else "recorded in state: the copy was found by its lineage tags (nothing copied)"})

        if plan["state"]["lineage"] is None and plan["state"].get("recover_lineage") and not self.manager.exists:
            # A lost state: the copies the plan found carry one lineage id; the new state takes it (planner.py).
            state.lineage = plan["state"]["recover_lineage"]
        if rec is None:
            state.applies.append({"plan_digest": digest, "base_serial": plan["state"]["serial"],
                                  "status": "in-progress", "started": utcnow(), "done": []})
        else:
            rec["status"] = "in-progress"
        self.manager.persist()
        self.journal = Journal(self.manager, digest)

        result = ApplyResult(skipped=sorted(done), refreshed=[c["address"] for c in refreshes])
        sem = asyncio.Semaphore(self.parallelism)
        # depends_on: a change starts when the changes it depends on (those still pending in this apply) are done;
        # if one of them failed, it is not attempted. Waiting happens outside the semaphore, so it cannot deadlock.
        finished = {c["address"]: asyncio.Event() for c in pending}

        async def guarded(change: dict[str, Any]) -> None:
            addr = change["address"]
            try:
                for dep in change.get("depends_on", []):
                    if dep in finished:
                        await finished[dep].wait()
                    if dep in result.failed:
                        msg = f"not attempted: it depends on {dep}, which failed"
                        result.failed[addr] = msg
                        self.emit({"type": "change_failed", "address": addr, "level": "error", "message": msg})
                        return
                async with sem:
                    try:
                        await self._run_change(change)
                        result.applied.append(addr)
                        self.emit({"type": "change_done", "address": addr, "message": "done", "level": "debug"})
                    except DrplanError as exc:
                        result.failed[addr] = str(exc)
                        self.emit({"type": "change_failed", "address": addr, "level": "error", "message": str(exc),
                                   "request_id": getattr(exc, "request_id", None)})
            finally:
                finished[addr].set()

        await asyncio.gather(*(guarded(c) for c in pending))
        await self.journal.set_apply_status("failed" if result.failed else "complete")
        if result.failed:
            raise ApplyError(
                f"{len(result.failed)} of {len(pending)} change(s) failed; the journal keeps their progress and "
                "`drplan apply` of the same plan resumes them:\n"
                + "\n".join(f"  - {a}: {m}" for a, m in sorted(result.failed.items())),
                result.failed,
            )
        return result

    def _check_state_matches(self, rec: dict[str, Any] | None) -> None:
        plan_state = self.plan["state"]
        state = self.manager.state
        assert state is not None
        if rec is not None:
            if rec["base_serial"] != plan_state["serial"]:  # pragma: no cover - digest ties them together
                raise StalePlanError("the state's record of this plan does not match it; run drplan plan again")
            return  # resuming this plan's own interrupted apply: serial moved on through our own journal writes
        if plan_state["lineage"] is None:
            if self.manager.exists:
                raise StalePlanError(
                    f"the plan was made when there was no state, but {self.manager.backend.describe()} now exists "
                    f"(serial {state.serial}); run drplan plan again"
                )
            return
        if not self.manager.exists:
            raise StalePlanError(
                f"the plan was made from state lineage {plan_state['lineage']} serial {plan_state['serial']}, but "
                f"{self.manager.backend.describe()} does not exist; restore the state or run drplan plan again"
            )
        if state.lineage != plan_state["lineage"]:
            raise StalePlanError(
                f"the plan was made from state lineage {plan_state['lineage']}, but the state is lineage "
                f"{state.lineage} (a different state file); run drplan plan again"
            )
        if state.serial != plan_state["serial"]:
            raise StalePlanError(
                f"the plan was made from state serial {plan_state['serial']}; the state is now serial {state.serial} "
                "(another apply ran since); run drplan plan again"
            )

    async def _check_preconditions(self, pending: list[dict[str, Any]], conns: dict[str, Connection]) -> None:
        """Re-read the live resources and refuse the plan if what it assumed no longer holds (say which)."""
        assert self.manager.state is not None
        journal = self.manager.state.journal
        fresh = [c for c in pending if c["address"] not in journal]
        if not fresh:
            return
        needs: dict[str, set[AssetKind]] = {}
        for c in fresh:
            kind = AssetKind(c["kind"])
            needs.setdefault(c["target"]["resource"], set()).add(kind)
            if change_action(c) is not Action.DELETE:
                needs.setdefault(c["source"]["resource"], set()).add(kind)
        inventories = await refresh(self.client, conns, needs)
        problems = []
        for c in fresh:
            problems.extend(f"{c['address']}: {p}" for p in _violations(c, inventories))
        if problems:
            raise StalePlanError(
                "the plan no longer matches the live resources; run drplan plan again:\n"
                + "\n".join(f"  - {p}" for p in problems)
            )

    # -- one change -------------------------------------------------------------------------------------------
    def _step(self, change: dict[str, Any], step: str, message: str, **extra: Any) -> None:
        self.emit({"type": "step", "address": change["address"], "step": step, "message": message, **extra})

    async def _run_change(self, change: dict[str, Any]) -> None:
        assert self.journal is not None
        action = change_action(change)
        entry = self.journal.entry(change["address"])
        if action is Action.DELETE:
            await self._delete(change)
            return
        if change["kind"] == AssetKind.MODEL_DEPLOYMENT.value:
            await run_set_default(self, change)
            return
        if change["kind"] == AssetKind.ANALYZER.value:
            await run_cu_copy(self, change, entry)
            return
        if change["kind"] == AssetKind.LANGUAGE_PROJECT.value:
            await run_language_change(self, change, entry)
            return
        if change["kind"] == AssetKind.CUSTOM_MODEL.value:
            await run_v2_copy(self, change, entry)
            return
        if action is Action.REPLACE and (entry is None or entry["step"] == "deleting"):
            await self._delete_old_copy(change)
            entry = self.journal.entry(change["address"])
        if entry is not None and entry["step"] in ("authorizing", "copy-requested", "copying"):
            if await self._resume_copy(change, entry):
                return
            entry = self.journal.entry(change["address"])
        await self._copy(change, entry)

    async def _delete_old_copy(self, change: dict[str, Any]) -> None:
        assert self.journal is not None
        tgt = self.adapters[change["target"]["resource"]]
        kind = AssetKind(change["kind"])
        await self.journal.record(change["address"], "replace", "deleting", target_id=change["target"]["id"])
        self._step(change, "deleting", f"deleting the old copy {change['target']['id']} on {tgt.conn.name}")
        await tgt.delete(kind, change["target"]["id"])
        self.crash("after-delete")
        await self.journal.record(change["address"], "replace", "deleted")

    async def _delete(self, change: dict[str, Any]) -> None:
        assert self.journal is not None
        tgt = self.adapters[change["target"]["resource"]]
        await self.journal.record(change["address"], "delete", "deleting", target_id=change["target"]["id"])
        self._step(change, "deleting", f"deleting {change['target']['id']} on {tgt.conn.name}")
        await tgt.delete(AssetKind(change["kind"]), change["target"]["id"])
        self.crash("after-delete")
        await self.journal.finish(change["address"], None)

    async def _copy(self, change: dict[str, Any], entry: dict[str, Any] | None) -> None:
        assert self.journal is not None
        addr = change["address"]
        action = change_action(change).value
        src = self.adapters[change["source"]["resource"]]
        tgt = self.adapters[change["target"]["resource"]]
        kind = AssetKind(change["kind"])
        tid = change["target"]["id"]
        # Keep the first authorization time of an interrupted attempt: resume searches operations from then on.
        authorized_at = (entry or {}).get("authorized_at") or utcnow()
        await self.journal.record(addr, action, "authorizing", target_id=tid, authorized_at=authorized_at)
        self.crash("after-journal-authorizing")
        self._step(change, "authorizing", f"authorizing the copy on {tgt.conn.name} as {tid}")
        # The copy carries the source's description and tags, plus its lineage (services/lineage.py): the tags given
        # to authorizeCopy are kept on the copy in every recording, so a lost state can still tell drplan's copies.
        tags = {**without_lineage_tags(change["source"]["tags"]), **self.lineage(change).tags()}
        try:
            auth = await tgt.authorize_copy(kind, tid, description=change["source"]["description"], tags=tags)
        except ConflictError as exc:
            await self._on_authorize_conflict(change, exc, entry)
            return
        except ResponseLostError as exc:
            raise _StepError(
                f"{exc}. The target may now hold a reservation for {tid!r} that drplan cannot use (the authorization "
                "was never received); run drplan apply again: it will explain when the id frees up"
            ) from None
        self.crash("after-authorize")
        await self.journal.record(addr, action, "copy-requested", authorization_expires=auth.expires,
                                  target_location=auth.target_location)
        self.crash("after-journal-copy-requested")
        degrade = bool(change["flags"]["encryption_downgrade"])
        self._step(change, "copying", f"copying {src.conn.name}/{change['source']['id']} to {tgt.conn.name}/{tid}"
                   + (" (encryption downgrade allowed)" if degrade else ""))
        first_delay = 0.0
        try:
            op_url, first_delay = await src.copy_to(kind, change["source"]["id"], auth, degrade=degrade)
        except (ResponseLostError, ServiceError) as exc:
            # A lost answer, or a retried copyTo answering "authorization already used": the first one may be running.
            op_url = await src.find_copy_operation(kind, auth.target_location or tgt.asset_location(kind, tid),
                                                   _minus_skew(authorized_at))
            if op_url is None:
                if isinstance(exc, ResponseLostError) and await self._target_done(change):
                    return
                raise _StepError(self._copy_error_message(change, exc, auth)) from None
        self.crash("after-copy-sent")
        await self.journal.record(addr, action, "copying", operation_url=op_url)
        self._step(change, "copying", "copy started", operation_url=op_url, level="debug")
        self.crash("after-journal-copying")
        await self._wait_and_finish(change, op_url, first_delay=first_delay)

    def _copy_error_message(self, change: dict[str, Any], exc: DrplanError, auth: CopyAuthorization) -> str:
        text = str(exc)  # codes with a fixed meaning (1002, ModelNotReady, ...) were explained by azure/errors.py
        if "DataProtection" in text or "downgrade" in text.lower():
            hint = ("the service refused to copy from a customer-managed-key resource to one without; the plan "
                    "did not allow an encryption downgrade")
        elif getattr(exc, "inner_code", None) == "ModelNotFound" or isinstance(exc, NotFoundError):
            hint = "the source model is gone; run drplan plan again"
        else:
            hint = ""
        return f"{text}{'; ' + hint if hint else ''}. The target id {auth.target_id!r} stays reserved until {auth.expires}"

    async def _on_authorize_conflict(self, change: dict[str, Any], exc: ConflictError,
                                     entry: dict[str, Any] | None) -> None:
        tid = change["target"]["id"]
        tname = change["target"]["resource"]
        # A 409 means the id is taken by a model, or reserved by an unused authorization (contracts §2.4). The live
        # body of the second case is not recorded, so the inner code is not trusted: the target itself tells.
        tgt = self.adapters[tname]
        asset = await tgt.get(AssetKind(change["kind"]), tid)
        if asset is not None:
            if self._is_our_copy(change, asset):
                await self._record_done(change, operation_url=None, target_fingerprint=asset.fingerprint)
                return
            found = asset.lineage.describe() if asset.lineage else "it carries no drplan lineage tags"
            raise _StepError(
                f"{tname!r} now has a {change['kind']} {tid!r} that is not this apply's copy of the planned source "
                f"version ({found}); it appeared after the plan was made: run drplan plan again"
            ) from None
        when = ""
        if entry and entry.get("authorized_at"):
            when = f" An interrupted apply asked for that authorization at {entry['authorized_at']}"
            if entry.get("authorization_expires"):
                when += f"; it expires at {entry['authorization_expires']}"
            when += "."
        # Document Intelligence v4 / Form Recognizer v3 authorizations expired 1 hour after issue in every recorded
        # answer (2023 and 2024; the docs say 24 h): the expiry drplan read is quoted when it has one.
        await self.journal.record(change["address"], change_action(change).value, "authorizing",
                                  note="target id reserved by an unused authorization")  # type: ignore[union-attr]
        raise _StepError(
            f"the target id {tid!r} on {tname!r} is reserved by an earlier copy authorization that was never used "
            f"(HTTP 409).{when} The service frees the id when that authorization expires (1 hour after it was "
            "issued in every recorded answer); run drplan apply again after then, or rename the copy in the spec"
        ) from None

    async def _resume_copy(self, change: dict[str, Any], entry: dict[str, Any]) -> bool:
        """Continue an interrupted copy. True when the change is finished; False to start the copy afresh."""
        assert self.journal is not None
        src = self.adapters[change["source"]["resource"]]
        kind = AssetKind(change["kind"])
        tid = change["target"]["id"]
        self._step(change, "resuming", f"resuming from journal step '{entry['step']}' ({entry['updated']})")
        if entry["step"] == "copying" and entry.get("operation_url"):
            try:
                await self._wait_and_finish(change, entry["operation_url"])
                return True
            except NotFoundError:
                pass  # the operation aged out of retention: the target tells what happened
        if await self._target_done(change):
            return True
        if entry["step"] in ("copy-requested", "copying"):
            tgt = self.adapters[change["target"]["resource"]]
            op_url = await src.find_copy_operation(kind, entry.get("target_location") or tgt.asset_location(kind, tid),
                                                   _minus_skew(entry.get("authorized_at", "")))
            if op_url:
                await self.journal.record(change["address"], change_action(change).value, "copying",
                                          operation_url=op_url)
                await self._wait_and_finish(change, op_url)
                return True
        return False

    async def _target_done(self, change: dict[str, Any]) -> bool:
        """If the target already holds this state's copy of the planned source version (by its lineage tags),
        record it and say so."""
        tgt = self.adapters[change["target"]["resource"]]
        asset = await tgt.get(AssetKind(change["kind"]), change["target"]["id"])
        if asset is not None and self._is_our_copy(change, asset):
            await self._record_done(change, operation_url=None, target_fingerprint=asset.fingerprint)
            return True
        return False

    def lineage(self, change: dict[str, Any]) -> Lineage:
        """The lineage a copy made by this change carries: this state, the source resource, id and version."""
        assert self.manager.state is not None
        src = change["source"]
        res = self.plan["resources"][src["resource"]]
        return Lineage(self.manager.state.lineage, res.get("resource_id") or res["endpoint"], src["id"],
                       src["fingerprint"])

    def _is_our_copy(self, change: dict[str, Any], asset: Asset) -> bool:
        """A target asset is this change's copy when its lineage tags name this state and the planned source
        version. Never by comparing timestamps with the source: a copy's createdDateTime is its own (issue 13)."""
        want = self.lineage(change)
        if asset.lineage is not None:
            return asset.lineage.state == want.state and asset.lineage.same_version(want)
        # No tags (a classifier copy shows none): the journal says this apply started the copy, so a target that
        # kept the source's expirationDateTime and docTypes is taken as ours (the documented heuristic).
        src = change["source"]
        return bool(asset.expires and asset.content_digest and asset.expires == src.get("expires")
                    and asset.content_digest == src.get("content_digest"))

    async def _wait_and_finish(self, change: dict[str, Any], op_url: str, *, first_delay: float = 0.0) -> None:
        assert self.journal is not None
        src = self.adapters[change["source"]["resource"]]
        last = [-1]

        def progress(status: OpStatus, body: dict[str, Any]) -> None:
            pct = body.get("percentCompleted")
            if pct is not None and pct != last[0]:
                last[0] = pct
                self._step(change, "copying", f"{status.value} {pct}%", percent=pct, operation_url=op_url,
                           level="debug")

        body = await src.wait(op_url, what=f"copy operation for {change['address']}", on_progress=progress,
                              interval=self.poll_interval, first_delay=first_delay)
        status = normalise_status(body.get("status"))
        if status is not OpStatus.SUCCEEDED:
            err = body.get("error") or {}
            inner = err.get("innererror") or {}
            detail = "/".join(x for x in (err.get("code"), inner.get("code")) if x)
            await self.journal.record(change["address"], change_action(change).value, "authorizing",
                                      operation_url=None, note=f"copy operation {status.value}")
            raise OperationFailedError(
                f"the copy operation ended {status.value}: {detail}: {err.get('message', 'no details')}"
                + (f" ({inner.get('message')})" if inner.get("message") else "") + explain(inner.get("code"), err.get("code")),
                code=err.get("code"), inner_code=inner.get("code"),
            )
        self.crash("after-copy-done")
        tgt = self.adapters[change["target"]["resource"]]
        asset = await tgt.get(AssetKind(change["kind"]), change["target"]["id"])
        # Verify by id and lineage, never by createdDateTime (a copy gets its own since 2024, issue 13). A copy whose
        # tags were not kept is accepted on the operation's word (the recordings always keep them; drplan does not
        # depend on it) and recorded without tag lineage.
        if asset is None or (asset.lineage is not None and not self._is_our_copy(change, asset)):
            raise _StepError(
                f"the copy operation succeeded but {tgt.conn.name}/{change['target']['id']} "
                + ("does not exist" if asset is None else f"carries another lineage ({asset.lineage.describe()}; "
                   f"expected {self.lineage(change).describe()})" if asset.lineage else "")
            )
        await self._record_done(change, operation_url=op_url, target_fingerprint=asset.fingerprint,
                                extra={"lineage_tags": asset.lineage is not None})

    async def _record_done(self, change: dict[str, Any], operation_url: str | None, *,
                           target_id: str | None = None, extra: dict[str, Any] | None = None,
                           target_fingerprint: str | None = None) -> None:
        """Record a finished copy: what it was copied from (its lineage, the same for every family) and the copy's
        own fingerprint as seen right after the copy (a later change of it is drift)."""
        assert self.journal is not None
        tgt = self.adapters[change["target"]["resource"]]
        record: dict[str, Any] = {
            "rule": change["rule"],
            "kind": change["kind"],
            "source_resource": change["source"]["resource"],
            "source_id": change["source"]["id"],
            "source_fingerprint": change["source"]["fingerprint"],
            "target_resource": change["target"]["resource"],
            "target_resource_id": tgt.conn.resource_id,
            "target_id": target_id or change["target"]["id"],
            "copied_at": utcnow(),
            "encryption_downgrade": bool(change["flags"]["encryption_downgrade"]),
            "source_encryption": self.plan["resources"][change["source"]["resource"]]["encryption"],
            "target_encryption": self.plan["resources"][change["target"]["resource"]]["encryption"],
            "plan_digest": self.plan["digest"],
            "lineage": self.lineage(change).to_dict(),
        }
        if target_fingerprint:
            record["target_fingerprint"] = target_fingerprint
        if operation_url:
            record["operation_url"] = operation_url
        record.update(extra or {})
        await self.journal.finish(change["address"], record)
        done = {"model-deployment": f"set {tgt.conn.name} /defaults {record['target_id']}",
                "language-project": f"replicated to {tgt.conn.name}/{record['target_id']}"}
        self._step(change, "done", done.get(change["kind"], f"copied to {tgt.conn.name}/{record['target_id']}"))


def _minus_skew(when: str) -> str:
    t = _parse_time(when) if when else None
    if t is None:
        return ""
    return (t - SKEW).astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _violations(change: dict[str, Any], inventories: dict[str, Inventory]) -> list[str]:
    kind = AssetKind(change["kind"])
    out = []
    for pre in change["preconditions"]:
        if pre["type"] == "source_fingerprint":
            asset = inventories[pre["resource"]].get(kind, pre["id"])
            if asset is None:
                out.append(f"the source {pre['resource']}/{pre['id']} no longer exists")
            elif asset.fingerprint != pre["fingerprint"]:
                out.append(f"the source {pre['resource']}/{pre['id']} changed since the plan "
                           f"({pre['fingerprint']} -> {asset.fingerprint})")
        elif pre["type"] == "target_absent":
            asset = inventories[change["target"]["resource"]].get(kind, change["target"]["id"])
            if asset is not None:
                out.append(f"{change['target']['resource']}/{change['target']['id']} now exists on the target "
                           f"({asset.fingerprint}); the plan expected it absent")
        elif pre["type"] == "target_defaults":
            now_defaults = inventories[pre["resource"]].defaults or {}
            for model, deployment in sorted(pre["models"].items()):
                if now_defaults.get(model) != deployment:
                    out.append(f"{pre['resource']} /defaults {model} is now {now_defaults.get(model) or '(unset)'}; "
                               f"the plan expected {deployment or '(unset)'}")
        elif pre["type"] == "target_fingerprint":
            asset = inventories[change["target"]["resource"]].get(kind, change["target"]["id"])
            now = asset.fingerprint if asset else "absent"
            if now != pre["fingerprint"]:
                out.append(f"{change['target']['resource']}/{change['target']['id']} changed on the target since "
                           f"the plan ({pre['fingerprint']} -> {now})")
    return out
