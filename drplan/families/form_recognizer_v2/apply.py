"""The Form Recognizer v2.x copy, journaled (contracts §4; issue: server-picked target ids).

The target id is minted by ``copyAuthorization`` on the target, so it is journaled the moment the answer arrives,
before the copy is requested. Resume looks at that id: ready -> done; creating -> keep waiting; blank, invalid or
gone -> delete it (never leave an orphaned blank model) and start again. A replace copies first and deletes the old
copy last (create before destroy), so there is never a moment without a DR copy.

Known window: a kill after the target answered copyAuthorization but before the journal write finished (the time
of one fsync) leaves an id drplan never learnt; the service expires unused authorizations after 24 h.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from drplan.apply.context import ApplyContext
from drplan.apply.journal import utcnow
from drplan.apply.resend import RESEND_ATTEMPTS, is_transient, resend_delay, resend_if_lost
from drplan.azure.lro import OpStatus, normalise_status
from drplan.errors import (
    ApplyStepError,
    NotFoundError,
    OperationFailedError,
    OperationTimeoutError,
    ResponseLostError,
    ServiceError,
)
from drplan.families.form_recognizer_v2.adapter import (
    KIND,
    FormRecognizerV2Adapter,
    copy_errors,
)
from drplan.plan.model import Action, Change


def _iso(epoch: int | None) -> str | None:
    if epoch is None or epoch <= 0 or epoch > 32503680000:  # not epoch seconds (contracts §4: pass through, don't trust)
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _still_valid(expires_epoch: int | None) -> bool:
    """Whether an authorization expiring at ``expires_epoch`` can still be used (a minute of margin). An expiry that
    is not epoch seconds (contracts §4: pass it through, don't trust it) is trusted: the authorization was received
    moments ago, and the source's refusal would end the step anyway."""
    if _iso(expires_epoch) is None:
        return True
    return float(expires_epoch or 0) - 60.0 > datetime.now(timezone.utc).timestamp()


#: How long a resume waits for an interrupted copy whose target model is still ``creating`` before it gives up on it.
RESUME_WAIT = 600.0


async def run_v2_copy(ctx: ApplyContext, change: Change, entry: dict[str, Any] | None) -> None:
    addr = change.address
    action = change.action
    src: FormRecognizerV2Adapter = ctx.adapters[change.source.resource]
    tgt: FormRecognizerV2Adapter = ctx.adapters[change.target.resource]
    old_id = change.target.id if action is Action.REPLACE else ""

    if entry is not None:
        ctx.step(change, "resuming", f"resuming from journal step '{entry['step']}' ({entry['updated']})")
        if entry["step"] == "deleting-old":
            await _finish(ctx, change, entry["target_id"], old_id, entry.get("operation_url"))
            return
        new_id = str(entry.get("target_id") or "")
        if entry["step"] == "copying" and entry.get("operation_url"):
            try:
                await _wait_and_finish(ctx, change, entry["operation_url"], new_id, old_id)
                return
            except NotFoundError:
                pass  # the copy result aged out: the target model tells
        if new_id and entry["step"] in ("copy-requested", "copying"):
            asset = await tgt.get(KIND, new_id)
            if asset is not None and asset.status == "creating":
                # The minted id shows only once a copy into it was accepted (contracts §4), so "creating" is our
                # interrupted copy still running, also when the crash came before "copying" was journaled: finish
                # it rather than delete it (issue 19). Bounded: a model creating for ever is deleted below.
                try:
                    asset = await tgt.wait_asset(KIND, new_id, interval=ctx.poll_interval, deadline=RESUME_WAIT)
                except OperationTimeoutError:
                    pass
            if asset is not None and asset.status == "ready":
                await _finish(ctx, change, new_id, old_id, entry.get("operation_url"))
                return
            # Blank (never copied into), invalid, or gone: remove it so no orphan stays, then copy afresh.
            if await tgt.delete(KIND, new_id):
                ctx.step(change, "cleanup", f"deleted the unused target model {new_id} of the interrupted attempt")

    await ctx.journal.restart(addr, action.value, "authorizing", authorized_at=utcnow(), old_target_id=old_id or None)
    ctx.crash("after-journal-authorizing")
    ctx.step(change, "authorizing", f"asking {tgt.conn.name} for a copy authorization (it picks the new model id)")
    try:
        # A lost answer is resent (issue 19): safe, because each copyAuthorization mints a new, unused model id; the
        # one whose answer was lost is never copied into, never listed (a minted id shows only once a copy into it
        # is accepted, contracts §4) and expires by itself after 24 h. The id drplan uses is journaled below.
        def warn(n: int, exc: Exception, delay: float) -> None:
            ctx.step(change, "authorizing", f"{exc}; asking again in {delay:g} s (resend {n})", level="warning")

        auth = await resend_if_lost(tgt.copy_authorization, sleep=tgt.client.sleep, on_resend=warn)
    except ResponseLostError as exc:
        raise ApplyStepError(f"{exc} (sent {RESEND_ATTEMPTS} times). If the target minted model ids, those blank "
                             "reservations expire by themselves (24 h); run drplan apply again to retry",
                             transient=True) from None
    await ctx.journal.record(addr, action.value, "copy-requested", target_id=auth.model_id,
                            authorization_expires=_iso(auth.expires_epoch))
    ctx.crash("after-authorize")
    degrade = bool(change.flags.encryption_downgrade)
    ctx.step(change, "copying", f"copying {src.conn.name}/{change.source.id} to {tgt.conn.name}/{auth.model_id}"
             + (" (encryption downgrade allowed)" if degrade else ""))
    sends = 0
    while True:
        sends += 1
        try:
            started = await src.copy(change.source.id, auth, target=tgt.conn, degrade=degrade)
            break
        except (ResponseLostError, ServiceError) as exc:
            # The copy may have started (a lost answer, a resend or a retry after a 5xx finding the token used): the
            # authorization's minted target id tells where to look (the copy's status shows at that model, §4 [S]).
            asset = await tgt.get(KIND, auth.model_id)
            if asset is not None and asset.status == "creating":
                asset = await tgt.wait_model(auth.model_id, interval=ctx.poll_interval)
            if asset is not None and asset.status == "ready":
                await _finish(ctx, change, auth.model_id, old_id, None)
                return
            if isinstance(exc, ResponseLostError) and asset is None and sends < RESEND_ATTEMPTS \
                    and _still_valid(auth.expires_epoch):
                # Lost, and the minted model shows no copy: resend the copy with the same authorization (issue 19).
                # Safe: the authorization names the one target model id (minted by the target, journaled above)
                # and is single use, so a resend either starts the one copy into that id (the lost request never
                # arrived) or is refused as used (it did: the lookup above then finds that copy); it can never
                # make a second model.
                delay = resend_delay(sends)
                ctx.step(change, "copying", f"{exc}; {tgt.conn.name}/{auth.model_id} shows no copy: sending the copy "
                         f"again with the same authorization in {delay:g} s (resend {sends})", level="warning")
                await src.client.sleep(delay)
                continue
            await tgt.delete(KIND, auth.model_id)
            await ctx.journal.restart(addr, action.value, "authorizing",
                                      note="copy request failed; target id released")
            raise ApplyStepError(f"{exc}" + (f" (sent {sends} times)" if sends > 1 else "")
                                 + f"; the unused target model id {auth.model_id} was deleted",
                                 transient=is_transient(exc)) from None  # nothing left behind: a re-run is safe
    ctx.crash("after-copy-sent")
    await ctx.journal.record(addr, action.value, "copying", operation_url=started.operation_url)
    ctx.crash("after-journal-copying")
    await _wait_and_finish(ctx, change, started.operation_url, auth.model_id, old_id, first_delay=started.retry_after)


async def _wait_and_finish(ctx: ApplyContext, change: Change, op_url: str, new_id: str, old_id: str, *,
                           first_delay: float = 0.0) -> None:
    src: FormRecognizerV2Adapter = ctx.adapters[change.source.resource]
    tgt: FormRecognizerV2Adapter = ctx.adapters[change.target.resource]

    def progress(status: OpStatus, body: dict[str, Any]) -> None:
        ctx.step(change, "copying", status.value, operation_url=op_url, level="debug")

    body = await src.wait(op_url, what=f"copy operation for {change.address}", on_progress=progress,
                          interval=ctx.poll_interval, first_delay=first_delay)
    status = normalise_status(body.get("status"))
    if status is not OpStatus.SUCCEEDED:
        await tgt.delete(KIND, new_id)  # the failed copy's blank/invalid target model must not stay behind
        await ctx.journal.restart(change.address, change.action.value, "authorizing",
                                 note=f"copy {status.value}; target id {new_id} deleted")
        raise OperationFailedError(f"the copy ended {status.value}: {copy_errors(body)}; the unused target model "
                                   f"{new_id} was deleted")
    ctx.crash("after-copy-done")
    await _finish(ctx, change, new_id, old_id, op_url)


async def _finish(ctx: ApplyContext, change: Change, new_id: str, old_id: str, op_url: str | None) -> None:
    tgt: FormRecognizerV2Adapter = ctx.adapters[change.target.resource]
    asset = await tgt.get(KIND, new_id)
    if asset is None or asset.status != "ready":
        raise ApplyStepError(f"the copy reported success but {tgt.conn.name}/{new_id} is "
                          f"{'missing' if asset is None else asset.status}")
    if old_id and old_id != new_id:
        await ctx.journal.record(change.address, change.action.value, "deleting-old", target_id=new_id,
                                old_target_id=old_id, operation_url=op_url)
        ctx.step(change, "deleting", f"deleting the previous copy {old_id} (the new copy {new_id} is ready)")
        await tgt.delete(KIND, old_id)
        ctx.crash("after-delete")
    await ctx.record_done(change, operation_url=op_url, target_id=new_id, extra={"target_name": asset.name}
                          if asset.name else None, target_fingerprint=asset.fingerprint)

