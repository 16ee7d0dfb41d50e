"""Document Intelligence v4 / Form Recognizer v3: applying one change (authorize on the target, copyTo on the source,
poll), journaled (DESIGN §3, contracts §2.4).

Crash safety: the journal is written *before* each side effect, so after a kill at any point the next apply knows what
may have happened and looks before it leaps:
* ``authorizing``: authorizeCopy may have reserved the target id; try again; a 409 then means the old reservation
  holds until its authorization expires (1 hour in every recorded answer), which is explained to the user.
* ``copy-requested``: copyTo may have started; search the source's ``/operations`` for a copy towards our target
  location (its full URL), and check the target, before authorizing anew.
* ``copying``: poll the journaled operation URL; if it is gone (retention), check the target.
* ``deleting`` (replace): delete again (404 is fine).
Crash points: after-journal-authorizing, after-authorize, after-journal-copy-requested, after-copy-sent,
after-journal-copying, after-copy-done, after-delete.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from drplan.apply.context import ApplyContext
from drplan.apply.journal import utcnow
from drplan.apply.resend import RESEND_ATTEMPTS, resend_delay, resend_if_lost
from drplan.azure.errors import explain
from drplan.azure.lro import OpStatus, normalise_status
from drplan.errors import (
    ApplyStepError,
    ConflictError,
    DrplanError,
    NotFoundError,
    OperationFailedError,
    ResponseLostError,
    ServiceError,
)
from drplan.families.base import Asset, normalise_time
from drplan.families.document_intelligence.adapter import CopyAuthorization
from drplan.lineage import without_lineage_tags
from drplan.plan.model import Action, Change

#: Clock skew tolerated when matching a source operation to a journaled authorization time.
SKEW = timedelta(minutes=10)


async def apply_change(ctx: ApplyContext, change: Change, entry: dict[str, Any] | None) -> None:
    """Create or replace one model or classifier copy (a delete is generic: the executor runs it); or, for a no-op
    that finishes an unfinished journal entry (the plan says so), resume it without copying anything new."""
    if change.action is Action.NO_OP:
        await _finish_unfinished(ctx, change, entry)
        return
    if change.action is Action.REPLACE and (entry is None or entry["step"] == "deleting"):
        await _delete_old_copy(ctx, change)
        entry = ctx.journal.entry(change.address)
    if entry is not None and entry["step"] in ("authorizing", "copy-requested", "copying"):
        if await _resume_copy(ctx, change, entry):
            return
        entry = ctx.journal.entry(change.address)
    await _copy(ctx, change, entry)


async def _finish_unfinished(ctx: ApplyContext, change: Change, entry: dict[str, Any] | None) -> None:
    """The plan found the target in sync while the journal held a step: finish the interrupted copy (poll its
    operation, or find our copy on the target) and record it; a state record already in sync just closes the entry.
    Never copies: the plan did not show a copy."""
    if entry is not None and entry["step"] in ("authorizing", "copy-requested", "copying"):
        if await _resume_copy(ctx, change, entry):
            return
    elif await _target_done(ctx, change):
        return
    recorded = ctx.recorded(change.address)
    if recorded is None:
        raise ApplyStepError(f"{change.target.resource}/{change.target.id} is no longer what the plan "
                             "saw (the interrupted copy cannot be found); run drplan plan again")
    await ctx.journal.finish(change.address, recorded)
    ctx.step(change, "done", "closed the journal entry of an interrupted apply (the recorded copy is in sync)")


async def _delete_old_copy(ctx: ApplyContext, change: Change) -> None:
    tgt = ctx.adapters[change.target.resource]
    kind = change.kind
    await ctx.journal.record(change.address, "replace", "deleting", target_id=change.target.id)
    ctx.step(change, "deleting", f"deleting the old copy {change.target.id} on {tgt.conn.name}")
    await tgt.delete(kind, change.target.id)
    ctx.crash("after-delete")
    await ctx.journal.record(change.address, "replace", "deleted")

async def _copy(ctx: ApplyContext, change: Change, entry: dict[str, Any] | None) -> None:
    addr = change.address
    action = change.action.value
    src = ctx.adapters[change.source.resource]
    tgt = ctx.adapters[change.target.resource]
    kind = change.kind
    tid = change.target.id
    # Keep the first authorization time of an interrupted attempt: resume searches operations from then on.
    authorized_at = (entry or {}).get("authorized_at") or utcnow()
    await ctx.journal.record(addr, action, "authorizing", target_id=tid, authorized_at=authorized_at)
    ctx.crash("after-journal-authorizing")
    ctx.step(change, "authorizing", f"authorizing the copy on {tgt.conn.name} as {tid}")
    # The copy carries the source's description and tags, plus its lineage (services/lineage.py): the tags given
    # to authorizeCopy are kept on the copy in every recording, so a lost state can still tell drplan's copies.
    tags = {**without_lineage_tags(change.source.tags), **ctx.lineage(change).tags()}
    lost: list[ResponseLostError] = []

    def warn(n: int, exc: Exception, delay: float) -> None:
        lost.append(exc)  # type: ignore[arg-type]
        ctx.step(change, "authorizing", f"{exc}; asking again in {delay:g} s (resend {n})", level="warning")

    try:
        # A lost answer is resent (issue 19). Safe: authorizeCopy starts no copy (only copyTo with its token does),
        # so a resend cannot duplicate anything. If the lost request did reach the service, the id is now reserved
        # by an authorization drplan never received and the resend answers 409 (contracts §2.4, [I] #51813): that
        # is explained below; if the connection dropped before the service saw it, the resend simply succeeds.
        auth = await resend_if_lost(
            lambda: tgt.authorize_copy(kind, tid, description=change.source.description, tags=tags),
            sleep=tgt.client.sleep, on_resend=warn)
    except ConflictError as exc:
        await _on_authorize_conflict(ctx, change, exc, entry, lost_answer=bool(lost))
        return
    except ResponseLostError as exc:
        raise ApplyStepError(
            f"{exc} (sent {RESEND_ATTEMPTS} times). The target may now hold a reservation for {tid!r} that drplan "
            "cannot use (the authorization was never received); run drplan apply again: it will explain when the "
            "id frees up"
        ) from None
    ctx.crash("after-authorize")
    await ctx.journal.record(addr, action, "copy-requested", authorization_expires=auth.expires,
                              target_location=auth.target_location)
    ctx.crash("after-journal-copy-requested")
    degrade = bool(change.flags.encryption_downgrade)
    ctx.step(change, "copying", f"copying {src.conn.name}/{change.source.id} to {tgt.conn.name}/{tid}"
               + (" (encryption downgrade allowed)" if degrade else ""))
    first_delay = 0.0
    sends = 0
    while True:
        sends += 1
        try:
            op_url, first_delay = await src.copy_to(kind, change.source.id, auth, degrade=degrade)
            break
        except (ResponseLostError, ServiceError) as exc:
            # A lost answer, or a resent copyTo answering "authorization already used": the first one may be running.
            found = await src.find_copy_operation(kind, auth.target_location or tgt.asset_location(kind, tid),
                                                  _minus_skew(authorized_at), exclude=_earlier_copy(ctx, change))
            if found is not None:
                op_url = found
                break
            if isinstance(exc, ResponseLostError):
                if await _target_done(ctx, change):
                    return
                if sends < RESEND_ATTEMPTS and _still_valid(auth):
                    # The answer was lost and the source shows no copy towards the target, nor does the target hold
                    # it: resend copyTo with the same authorization (issue 19). Safe: the authorization (held in
                    # memory only, never journaled: it is a secret) is single use, so if the first copyTo did start
                    # after all, the service refuses this one ("already used") and the lookup above finds the first;
                    # it cannot start a second copy, and the target id is fixed.
                    delay = resend_delay(sends)
                    ctx.step(change, "copying", f"{exc}; no copy operation found: sending copyTo again with the "
                             f"same authorization in {delay:g} s (resend {sends})", level="warning")
                    await src.client.sleep(delay)
                    continue
            raise ApplyStepError(_copy_error_message(change, exc, auth, sends)) from None
    ctx.crash("after-copy-sent")
    await ctx.journal.record(addr, action, "copying", operation_url=op_url)
    ctx.step(change, "copying", "copy started", operation_url=op_url, level="debug")
    ctx.crash("after-journal-copying")
    await _wait_and_finish(ctx, change, op_url, first_delay=first_delay)

def _copy_error_message(change: Change, exc: DrplanError, auth: CopyAuthorization, sends: int = 1) -> str:
    text = str(exc)  # codes with a fixed meaning (1002, ModelNotReady, ...) were explained by azure/errors.py
    if "DataProtection" in text or "downgrade" in text.lower():
        hint = ("the service refused to copy from a customer-managed-key resource to one without; the plan "
                "did not allow an encryption downgrade")
    elif getattr(exc, "inner_code", None) == "ModelNotFound" or isinstance(exc, NotFoundError):
        hint = "the source model is gone; run drplan plan again"
    else:
        hint = ""
    sent = f" (copyTo sent {sends} times)" if sends > 1 else ""
    return (f"{text}{sent}{'; ' + hint if hint else ''}. The target id {auth.target_id!r} stays reserved until "
            f"{auth.expires}")

async def _on_authorize_conflict(ctx: ApplyContext, change: Change, exc: ConflictError,
                                 entry: dict[str, Any] | None, *, lost_answer: bool = False) -> None:
    tid = change.target.id
    tname = change.target.resource
    # A 409 means the id is taken by a model, or reserved by an unused authorization (contracts §2.4). The live
    # body of the second case is not recorded, so the inner code is not trusted: the target itself tells.
    tgt = ctx.adapters[tname]
    asset = await tgt.get(change.kind, tid)
    if asset is not None:
        if _is_our_copy(ctx, change, asset):
            await ctx.record_done(change, operation_url=None, target_fingerprint=asset.fingerprint)
            return
        found = asset.lineage.describe() if asset.lineage else "it carries no drplan lineage tags"
        raise ApplyStepError(
            f"{tname!r} now has a {change.kind.value} {tid!r} that is not this apply's copy of the planned source "
            f"version ({found}); it appeared after the plan was made: run drplan plan again"
        ) from None
    when = ""
    if lost_answer:
        when = (" The answer to this apply's own authorizeCopy was lost (the connection dropped) and the resend "
                "found the id reserved: most likely by that lost authorization.")
    elif entry and entry.get("authorized_at"):
        when = f" An interrupted apply asked for that authorization at {entry['authorized_at']}"
        if entry.get("authorization_expires"):
            when += f"; it expires at {entry['authorization_expires']}"
        when += "."
    # Document Intelligence v4 / Form Recognizer v3 authorizations expired 1 hour after issue in every recorded
    # answer (2023 and 2024; the docs say 24 h): the expiry drplan read is quoted when it has one.
    await ctx.journal.record(change.address, change.action.value, "authorizing",
                              note="target id reserved by an unused authorization")
    raise ApplyStepError(
        f"the target id {tid!r} on {tname!r} is reserved by an earlier copy authorization that was never used "
        f"(HTTP 409).{when} The service frees the id when that authorization expires (1 hour after it was "
        "issued in every recorded answer); run drplan apply again after then, or rename the copy in the spec"
    ) from None

async def _resume_copy(ctx: ApplyContext, change: Change, entry: dict[str, Any]) -> bool:
    """Continue an interrupted copy. True when the change is finished; False to start the copy afresh."""
    src = ctx.adapters[change.source.resource]
    kind = change.kind
    tid = change.target.id
    ctx.step(change, "resuming", f"resuming from journal step '{entry['step']}' ({entry['updated']})")
    if entry["step"] == "copying" and entry.get("operation_url"):
        try:
            await _wait_and_finish(ctx, change, entry["operation_url"])
            return True
        except NotFoundError:
            pass  # the operation aged out of retention: the target tells what happened
    if await _target_done(ctx, change):
        return True
    if entry["step"] in ("copy-requested", "copying"):
        tgt = ctx.adapters[change.target.resource]
        op_url = await src.find_copy_operation(kind, entry.get("target_location") or tgt.asset_location(kind, tid),
                                               _minus_skew(entry.get("authorized_at", "")),
                                               exclude=_earlier_copy(ctx, change))
        if op_url:
            await ctx.journal.record(change.address, change.action.value, "copying",
                                      operation_url=op_url)
            await _wait_and_finish(ctx, change, op_url)
            return True
    return False

async def _target_done(ctx: ApplyContext, change: Change) -> bool:
    """If the target already holds this state's copy of the planned source version (by its lineage tags),
    record it and say so."""
    tgt = ctx.adapters[change.target.resource]
    asset = await tgt.get(change.kind, change.target.id)
    if asset is not None and _is_our_copy(ctx, change, asset):
        await ctx.record_done(change, operation_url=None, target_fingerprint=asset.fingerprint)
        return True
    return False

def _is_our_copy(ctx: ApplyContext, change: Change, asset: Asset) -> bool:
    """A target asset is this change's copy when its lineage tags name this state and the planned source
    version. Never by comparing timestamps with the source: a copy's createdDateTime is its own (issue 13)."""
    want = ctx.lineage(change)
    if asset.lineage is not None:
        return asset.lineage.state == want.state and asset.lineage.same_version(want)
    # No tags (a classifier copy shows none): the journal says this apply started the copy, so a target that
    # kept the source's expirationDateTime and docTypes is taken as ours (the documented heuristic).
    src = change.source
    return bool(asset.expires and asset.content_digest and asset.expires == src.extra.get("expires")
                and asset.content_digest == src.extra.get("content_digest"))

async def _wait_and_finish(ctx: ApplyContext, change: Change, op_url: str, *, first_delay: float = 0.0) -> None:
    src = ctx.adapters[change.source.resource]
    last = [-1]

    def progress(status: OpStatus, body: dict[str, Any]) -> None:
        pct = body.get("percentCompleted")
        if pct is not None and pct != last[0]:
            last[0] = pct
            ctx.step(change, "copying", f"{status.value} {pct}%", percent=pct, operation_url=op_url,
                       level="debug")

    # The real service sends no Retry-After on a copy (issue 13): the poller learns how long copies take here.
    body = await src.wait(op_url, what=f"copy operation for {change.address}", on_progress=progress,
                          interval=ctx.poll_interval, first_delay=first_delay, learn="copy")
    status = normalise_status(body.get("status"))
    if status is not OpStatus.SUCCEEDED:
        err = body.get("error") or {}
        inner = err.get("innererror") or {}
        detail = "/".join(x for x in (err.get("code"), inner.get("code")) if x)
        await ctx.journal.record(change.address, change.action.value, "authorizing",
                                  operation_url=None, note=f"copy operation {status.value}")
        raise OperationFailedError(
            f"the copy operation ended {status.value}: {detail}: {err.get('message', 'no details')}"
            + (f" ({inner.get('message')})" if inner.get("message") else "") + explain(inner.get("code"), err.get("code")),
            code=err.get("code"), inner_code=inner.get("code"),
        )
    ctx.crash("after-copy-done")
    tgt = ctx.adapters[change.target.resource]
    asset = await tgt.get(change.kind, change.target.id)
    # Verify by id and lineage, never by createdDateTime (a copy gets its own since 2024, issue 13). A copy whose
    # tags were not kept is accepted on the operation's word (the recordings always keep them; drplan does not
    # depend on it) and recorded without tag lineage.
    if asset is None or (asset.lineage is not None and not _is_our_copy(ctx, change, asset)):
        raise ApplyStepError(
            f"the copy operation succeeded but {tgt.conn.name}/{change.target.id} "
            + ("does not exist" if asset is None else f"carries another lineage ({asset.lineage.describe()}; "
               f"expected {ctx.lineage(change).describe()})" if asset.lineage else "")
        )
    await ctx.record_done(change, operation_url=op_url, target_fingerprint=asset.fingerprint,
                            extra={"lineage_tags": asset.lineage is not None})


def _still_valid(auth: CopyAuthorization) -> bool:
    """Whether ``auth`` can still be used (a minute of margin); an authorization without a readable expiry is
    trusted (it was received seconds ago; the service's refusal would end the step anyway)."""
    expires = _parse_time(auth.expires) if auth.expires else None
    if expires is None:
        return True
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=timezone.utc)
    return expires - timedelta(minutes=1) > datetime.now(timezone.utc)


def _parse_time(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(normalise_time(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _earlier_copy(ctx: ApplyContext, change: Change) -> set[str]:
    """The copy operation of the copy the state records at this address (the one a replace deletes, or one deleted
    out of band): it went to the same target location, maybe minutes before this authorization, so the search for
    this attempt's lost copyTo must not take it for ours (issue 19: it did, then found no model and failed)."""
    url = (ctx.recorded(change.address) or {}).get("operation_url")
    found = ctx.adapters[change.source.resource].operation_id(url) if isinstance(url, str) and url else ""
    return {found} if found else set()


def _minus_skew(when: str) -> str:
    t = _parse_time(when) if when else None
    if t is None:
        return ""
    return (t - SKEW).astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
