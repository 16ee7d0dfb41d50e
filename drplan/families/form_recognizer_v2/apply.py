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
from typing import TYPE_CHECKING, Any

from drplan.azure.lro import OpStatus, normalise_status
from drplan.errors import (
    DrplanError,
    NotFoundError,
    OperationFailedError,
    ResponseLostError,
    ServiceError,
)
from drplan.plan.model import Action, change_action
from drplan.services.formrecognizer_v2 import KIND, FormRecognizerV2Adapter, copy_errors

if TYPE_CHECKING:
    from drplan.apply.executor import Executor


class V2StepError(DrplanError):
    pass


def _iso(epoch: int | None) -> str | None:
    if epoch is None or epoch <= 0 or epoch > 32503680000:  # not epoch seconds (contracts §4: pass through, don't trust)
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


async def run_v2_copy(ex: Executor, change: dict[str, Any], entry: dict[str, Any] | None) -> None:
    assert ex.journal is not None
    addr = change["address"]
    action = change_action(change)
    src: FormRecognizerV2Adapter = ex.adapters[change["source"]["resource"]]  # type: ignore[assignment]
    tgt: FormRecognizerV2Adapter = ex.adapters[change["target"]["resource"]]  # type: ignore[assignment]
    old_id = change["target"]["id"] if action is Action.REPLACE else ""

    if entry is not None:
        ex._step(change, "resuming", f"resuming from journal step '{entry['step']}' ({entry['updated']})")
        if entry["step"] == "deleting-old":
            await _finish(ex, change, entry["target_id"], old_id, entry.get("operation_url"))
            return
        new_id = entry.get("target_id")
        if entry["step"] == "copying" and entry.get("operation_url"):
            try:
                await _wait_and_finish(ex, change, entry["operation_url"], new_id, old_id)
                return
            except NotFoundError:
                pass  # the copy result aged out: the target model tells
        if new_id and entry["step"] in ("copy-requested", "copying"):
            asset = await tgt.get(KIND, new_id)
            if asset is not None and asset.status == "creating" and entry["step"] == "copying":
                asset = await tgt.wait_model(new_id, interval=ex.poll_interval)
            if asset is not None and asset.status == "ready":
                await _finish(ex, change, new_id, old_id, entry.get("operation_url"))
                return
            # Blank (never copied into), invalid, or gone: remove it so no orphan stays, then copy afresh.
            if await tgt.delete(KIND, new_id):
                ex._step(change, "cleanup", f"deleted the unused target model {new_id} of the interrupted attempt")

    await ex.journal.restart(addr, action.value, "authorizing", authorized_at=_now(), old_target_id=old_id or None)
    ex.crash("after-journal-authorizing")
    ex._step(change, "authorizing", f"asking {tgt.conn.name} for a copy authorization (it picks the new model id)")
    try:
        auth = await tgt.copy_authorization()
    except ResponseLostError as exc:
        raise V2StepError(f"{exc}. If the target minted a model id, that blank reservation expires by itself "
                          "(24 h); run drplan apply again to retry") from None
    await ex.journal.record(addr, action.value, "copy-requested", target_id=auth.model_id,
                            authorization_expires=_iso(auth.expires_epoch))
    ex.crash("after-authorize")
    degrade = bool(change["flags"]["encryption_downgrade"])
    ex._step(change, "copying", f"copying {src.conn.name}/{change['source']['id']} to {tgt.conn.name}/{auth.model_id}"
             + (" (encryption downgrade allowed)" if degrade else ""))
    try:
        started = await src.copy(change["source"]["id"], auth, target=tgt.conn, degrade=degrade)
    except (ResponseLostError, ServiceError) as exc:
        # The copy may have started (lost answer, or a retry after a 5xx finding the token used): the model says.
        asset = await tgt.get(KIND, auth.model_id)
        if asset is not None and asset.status == "creating":
            asset = await tgt.wait_model(auth.model_id, interval=ex.poll_interval)
        if asset is not None and asset.status == "ready":
            await _finish(ex, change, auth.model_id, old_id, None)
            return
        await tgt.delete(KIND, auth.model_id)
        await ex.journal.restart(addr, action.value, "authorizing", note="copy request failed; target id released")
        raise V2StepError(f"{exc}; the unused target model id {auth.model_id} was deleted") from None
    ex.crash("after-copy-sent")
    await ex.journal.record(addr, action.value, "copying", operation_url=started.operation_url)
    ex.crash("after-journal-copying")
    await _wait_and_finish(ex, change, started.operation_url, auth.model_id, old_id, first_delay=started.retry_after)


async def _wait_and_finish(ex: Executor, change: dict[str, Any], op_url: str, new_id: str, old_id: str, *,
                           first_delay: float = 0.0) -> None:
    assert ex.journal is not None
    src: FormRecognizerV2Adapter = ex.adapters[change["source"]["resource"]]  # type: ignore[assignment]
    tgt: FormRecognizerV2Adapter = ex.adapters[change["target"]["resource"]]  # type: ignore[assignment]

    def progress(status: OpStatus, body: dict[str, Any]) -> None:
        ex._step(change, "copying", status.value, operation_url=op_url, level="debug")

    body = await src.wait(op_url, what=f"copy operation for {change['address']}", on_progress=progress,
                          interval=ex.poll_interval, first_delay=first_delay)
    status = normalise_status(body.get("status"))
    if status is not OpStatus.SUCCEEDED:
        await tgt.delete(KIND, new_id)  # the failed copy's blank/invalid target model must not stay behind
        await ex.journal.restart(change["address"], change_action(change).value, "authorizing",
                                 note=f"copy {status.value}; target id {new_id} deleted")
        raise OperationFailedError(f"the copy ended {status.value}: {copy_errors(body)}; the unused target model "
                                   f"{new_id} was deleted")
    ex.crash("after-copy-done")
    await _finish(ex, change, new_id, old_id, op_url)


async def _finish(ex: Executor, change: dict[str, Any], new_id: str, old_id: str, op_url: str | None) -> None:
    assert ex.journal is not None
    tgt: FormRecognizerV2Adapter = ex.adapters[change["target"]["resource"]]  # type: ignore[assignment]
    asset = await tgt.get(KIND, new_id)
    if asset is None or asset.status != "ready":
        raise V2StepError(f"the copy reported success but {tgt.conn.name}/{new_id} is "
                          f"{'missing' if asset is None else asset.status}")
    if old_id and old_id != new_id:
        await ex.journal.record(change["address"], change_action(change).value, "deleting-old", target_id=new_id,
                                old_target_id=old_id, operation_url=op_url)
        ex._step(change, "deleting", f"deleting the previous copy {old_id} (the new copy {new_id} is ready)")
        await tgt.delete(KIND, old_id)
        ex.crash("after-delete")
    await ex._record_done(change, operation_url=op_url, target_id=new_id, extra={"target_name": asset.name}
                          if asset.name else None, target_fingerprint=asset.fingerprint)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
