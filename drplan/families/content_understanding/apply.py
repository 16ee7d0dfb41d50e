"""Content Understanding, journaled (contracts §5): the analyzer copy in both flows, and the /defaults keys.

Copy (GA, §5.3): ``grantCopyAuthorization`` on the source (server-side, naming the target resource) -> ``:copy`` on
the target -> poll the target's Operation-Location -> the target analyzer is ``ready`` with the source's definition.
Token flow (§5.4): ``getCopyAuthorization`` on the source (locked to the target analyzer URL, double-encrypted when
the rule names an encryption key) -> ``:copy`` on the target with the token, the decryption key and the deployment
overrides the plan shows. The token and keys live only in memory.

The copy writes a fixed target id, so a repeated copy can never duplicate: resume looks at the target analyzer
(ready with the planned definition -> done; creating with it -> wait for it; otherwise authorize and copy again,
with allowReplace for a replace). Journal steps: granting|authorizing -> copy-requested -> copying (operation URL).

Description/tags only (issue 17 point 9): an in-place ``update`` (PATCH, §5.1/§5.2), journal step ``patching``;
crash points ``after-journal-patching``, ``after-patch-sent``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from drplan.apply.context import ApplyContext
from drplan.apply.journal import utcnow
from drplan.apply.resend import RESEND_ATTEMPTS, resend_delay, resend_if_lost
from drplan.azure.lro import OpStatus, normalise_status
from drplan.errors import (
    ApplyStepError,
    ConflictError,
    NotFoundError,
    OperationFailedError,
    ResponseLostError,
    ServiceError,
)
from drplan.families.content_understanding.adapter import (
    TOKEN_ROLE_KEYS,
    AnalyzersAdapter,
)
from drplan.plan.model import Action, Change
from drplan.redact import register_secret
from drplan.spec.model import AssetKind

ANALYZER = AssetKind.ANALYZER


def _adapters(ctx: ApplyContext, change: Change) -> tuple[AnalyzersAdapter, AnalyzersAdapter]:
    return ctx.adapters[change.source.resource], ctx.adapters[change.target.resource]


async def run_set_default(ctx: ApplyContext, change: Change) -> None:
    """PATCH the target's /defaults with the one key the plan shows (idempotent: resume simply sets it again)."""
    tgt = ctx.adapters[change.target.resource]
    model, deployment = change.settings["model"], change.settings["deployment"]
    await ctx.journal.record(change.address, "update", "setting-default")
    ctx.step(change, "setting-default", f"setting {tgt.conn.name} /defaults {model} -> {deployment}")
    after = await tgt.set_defaults({model: deployment})
    if after.get(model) != deployment:
        raise ApplyStepError(f"{tgt.conn.name}: /defaults {model} is {after.get(model)!r} after setting it to "
                          f"{deployment!r}")
    await ctx.record_done(change, operation_url=None, extra={"value": deployment},
                          message=f"set {tgt.conn.name} /defaults {change.target.id}")


#: Service answers that mean "this analyzer cannot be updated in place" (PATCH is [S] only, contracts §5.1: no
#: recording shows it): the change fails with the way to recopy, never a silent recopy the reviewer did not see.
_PATCH_REFUSED = (400, 404, 405)


async def run_cu_patch(ctx: ApplyContext, change: Change, entry: dict[str, Any] | None) -> None:
    """Update a copy's description/tags in place (issue 17 point 9): journal ``patching`` -> PATCH (merge-patch,
    idempotent, so a resumed or resent PATCH is harmless) -> GET the analyzer -> it must now carry the source's
    definition -> record (keeping the record's ``copied_at``: nothing was copied). A no-op finishing an interrupted
    PATCH (the plan saw it landed) only verifies and records."""
    _, tgt = _adapters(ctx, change)
    addr, tid = change.address, change.target.id
    patch = change.settings.get("patch")
    if entry is not None:
        ctx.step(change, "resuming", f"resuming from journal step '{entry['step']}' ({entry['updated']})")
    if patch:
        await ctx.journal.record(addr, change.action.value, "patching", target_id=tid)
        ctx.crash("after-journal-patching")
        what = " and ".join(k for k in ("description", "tags") if k in patch)
        ctx.step(change, "patching", f"updating the {what} of {tgt.conn.name}/{tid} in place (PATCH)")
        try:
            await resend_if_lost(lambda: tgt.update_analyzer(tid, patch), sleep=tgt.client.sleep,
                                 on_resend=_warn_resend(ctx, change, "patching", "PATCH"))
        except ServiceError as exc:
            if getattr(exc, "status", None) in _PATCH_REFUSED:
                raise ApplyStepError(
                    f"{exc}; {tgt.conn.name} refused to update the {what} of analyzer {tid!r} in place, so nothing "
                    f"was changed. To recopy it instead, run drplan plan --replace {addr}: it then plans a full copy "
                    "over it (allowReplace) for review") from None
            raise
        ctx.crash("after-patch-sent")
    asset = await tgt.get(ANALYZER, tid)
    want = change.source.fingerprint
    if asset is None or asset.status != "ready" or asset.fingerprint != want:
        raise ApplyStepError(
            f"after the in-place update, {tgt.conn.name}/{tid} "
            + ("does not exist" if asset is None else
               f"is {asset.status} with definition {asset.fingerprint}, expected {want}")
            + "; run drplan plan again")
    recorded = ctx.recorded(addr) or {}
    extra: dict[str, Any] = {"copied_at": recorded["copied_at"]} if recorded.get("copied_at") else {}
    used = {role: {"model": d["model"], "deployment": d["deployment"]}
            for role, d in sorted(change.deployments.items())}
    if used:
        extra["deployments"] = used
    await ctx.record_done(change, operation_url=None, extra=extra, target_fingerprint=asset.fingerprint,
                          message=f"updated {tgt.conn.name}/{tid} in place")


async def run_cu_copy(ctx: ApplyContext, change: Change, entry: dict[str, Any] | None) -> None:
    src, tgt = _adapters(ctx, change)
    if entry is not None and await _resume(ctx, change, entry):
        return
    if change.action is Action.NO_OP:  # finishing an unfinished journal entry: never a new copy
        raise ApplyStepError(f"{tgt.conn.name}/{change.target.id} is no longer the copy the plan saw being "
                             "made (it failed or was changed); run drplan plan again")
    flow = ctx.plan.resources[change.source.resource].get("copy_flow", "grant")
    await _copy(ctx, change, src, tgt, flow)


async def _resume(ctx: ApplyContext, change: Change, entry: dict[str, Any]) -> bool:
    """Continue an interrupted copy; True when it is finished, False to authorize and copy afresh."""
    ctx.step(change, "resuming", f"resuming from journal step '{entry['step']}' ({entry['updated']})")
    if entry["step"] == "copying" and entry.get("operation_url"):
        try:
            await _wait_and_finish(ctx, change, entry["operation_url"])
            return True
        except NotFoundError:
            pass  # the operation aged out: the target analyzer tells what happened
        except OperationFailedError as exc:
            ctx.step(change, "resuming", f"the interrupted copy ended failed ({exc}); copying again", level="warning")
            return False
    return await _target_settles(ctx, change)


async def _target_settles(ctx: ApplyContext, change: Change) -> bool:
    """If the target analyzer carries (or is being created with) the planned definition, wait for it and record it."""
    _, tgt = _adapters(ctx, change)
    tid = change.target.id
    asset = await tgt.get(ANALYZER, tid)
    want = change.source.fingerprint
    if asset is None or asset.fingerprint != want:
        return False
    if asset.status == "creating":
        asset = await tgt.wait_asset(ANALYZER, tid, interval=ctx.poll_interval)
    if asset is None or asset.status != "ready" or asset.fingerprint != want:
        return False
    await _finish(ctx, change, None, asset.detail.get("warnings") or [], asset.fingerprint)
    return True


async def _copy(ctx: ApplyContext, change: Change, src: AnalyzersAdapter, tgt: AnalyzersAdapter, flow: str) -> None:
    addr = change.address
    action = change.action.value
    sid, tid = change.source.id, change.target.id
    replace = change.action is Action.REPLACE
    step = "granting" if flow == "grant" else "authorizing"
    await ctx.journal.restart(addr, action, step, target_id=tid, requested_at=utcnow())
    ctx.crash(f"after-journal-{step}")
    if flow == "grant":
        ctx.step(change, step, f"granting {tgt.conn.name} the right to copy {src.conn.name}/{sid}")
        # A lost grant answer is resent (issue 19): safe, because the grant is server-side state on the source keyed
        # by (analyzer, target resource), a new grant replaces an older one, and it holds no secret; at most one
        # copy can follow, into the fixed target id.
        await resend_if_lost(lambda: src.grant_copy(sid, tgt.conn.resource_id, tgt.conn.region),
                             sleep=src.client.sleep, on_resend=_warn_resend(ctx, change, step, "grant"))
        body: dict[str, Any] = {"sourceAnalyzerId": sid, "sourceAzureResourceId": src.conn.resource_id,
                                "sourceRegion": src.conn.region}
    else:
        settings = change.settings
        enc = _env_secret(settings.get("encryption_key_env"), change)
        dec = _env_secret(settings.get("decryption_key_env"), change)
        ctx.step(change, step, f"getting a copy token for {src.conn.name}/{sid}, locked to {tgt.conn.name}/{tid}"
                 + (" (double-encrypted)" if enc else ""))
        token = await src.copy_token(sid, target_url=tgt.analyzer_url(tid), encryption_key=enc)
        body = {"source": token.source or src.analyzer_url(sid), "authorizationToken": token.token}
        if dec:
            body["decryptionKey"] = dec
        overrides = {TOKEN_ROLE_KEYS.get(role, role): d["deployment"]
                     for role, d in sorted(change.deployments.items()) if d["via"] == "override"}
        if overrides:
            body["deployments"] = overrides
    ctx.crash("after-authorize")
    await ctx.journal.record(addr, action, "copy-requested")
    ctx.crash("after-journal-copy-requested")
    ctx.step(change, "copying", f"copying {src.conn.name}/{sid} to {tgt.conn.name}/{tid}"
             + (" (allowReplace)" if replace else ""))
    sends = 0
    while True:
        sends += 1
        try:
            op_url, first_delay = await tgt.copy(tid, body, allow_replace=replace)
            break
        except ResponseLostError as exc:
            # Look first: a copy that started shows at once as the target analyzer, ``creating`` with the source's
            # definition (the live :copy answers 201 with that body, contracts §5.3 [R]); if so, wait for it.
            if await _target_settles(ctx, change):
                return
            if sends >= RESEND_ATTEMPTS:
                raise ApplyStepError(f"{exc} (sent {sends} times); the target does not show the copy: run drplan "
                                     "apply again", transient=True) from None
            # Not there: resend the same :copy (issue 19). Safe: the copy writes the fixed target id, so it cannot
            # make a second analyzer. Had the lost one started after all, this one answers 409 (handled below:
            # the target is looked at again) or, with allowReplace, restarts the same copy into the same id.
            delay = resend_delay(sends)
            ctx.step(change, "copying", f"{exc}; the target does not show the copy: sending :copy again in "
                     f"{delay:g} s (resend {sends})", level="warning")
            await tgt.client.sleep(delay)
        except ConflictError as exc:
            # Our own earlier copy may be running into the id (a lost answer, a killed apply): the target tells.
            if await _target_settles(ctx, change):
                return
            raise ApplyStepError(f"{exc}; {tgt.conn.name} has an analyzer {tid!r} that is not the planned copy: "
                                 "run drplan plan again") from None
        except ServiceError as exc:
            if sends > 1 and await _target_settles(ctx, change):
                return  # a resend refused (e.g. the authorization already used) while the lost copy runs
            raise ApplyStepError(_copy_error_message(change, exc)) from None
    ctx.crash("after-copy-sent")
    await ctx.journal.record(addr, action, "copying", operation_url=op_url)
    ctx.crash("after-journal-copying")
    await _wait_and_finish(ctx, change, op_url, first_delay=first_delay)


def _warn_resend(ctx: ApplyContext, change: Change, step: str, what: str) -> Callable[[int, Exception, float], None]:
    def warn(n: int, exc: Exception, delay: float) -> None:
        ctx.step(change, step, f"{exc}; sending the {what} again in {delay:g} s (resend {n})", level="warning")
    return warn


def _env_secret(env: str | None, change: Change) -> str | None:
    if not env:
        return None
    value = os.environ.get(env)
    if not value:
        raise ApplyStepError(f"environment variable {env} (named by the rule {change.rule!r}) is not set; export "
                          "the copy-token key in it")
    register_secret(value)
    return value


def _copy_error_message(change: Change, exc: ServiceError) -> str:
    inner = getattr(exc, "inner_code", None) or ""
    code = getattr(exc, "code", None) or ""
    hint = {
        "InvalidDecryptionKey": "the target could not decrypt the copy token: the rule's decryption_key_env must "
                                "hold the key the token was encrypted with (encryption_key_env)",
        "EmbeddingModelMismatch": "the target's embedding deployment serves another model; run drplan plan again "
                                  "and fix the deployments it reports",
        "ModelDeploymentNotFound": "a deployment the analyzer needs is missing on the target; run drplan plan again",
        "TargetMismatch": "the copy token is locked to another target analyzer",
    }.get(inner) or hint_for_code(code)
    return f"{exc}" + (f"; {hint}" if hint else "")


def hint_for_code(code: str) -> str:
    if code in ("AuthorizationExpired", "InvalidAuthorizationToken", "Forbidden", "403"):
        return "the copy authorization was refused or expired; run drplan apply again to authorize anew"
    return ""


async def _wait_and_finish(ctx: ApplyContext, change: Change, op_url: str, *, first_delay: float = 0.0) -> None:
    _, tgt = _adapters(ctx, change)
    # A copy answer carries no Retry-After in the spec's examples: the poller learns how long copies take on this
    # target (first poll at the learnt duration, as for Document Intelligence copies; issue 18).
    body = await tgt.wait(op_url, what=f"copy operation for {change.address}", interval=ctx.poll_interval,
                          first_delay=first_delay, learn="analyzer-copy")
    status = normalise_status(body.get("status"))
    if status is not OpStatus.SUCCEEDED:
        err = body.get("error") or {}
        inner = (err.get("innererror") or {}).get("code")
        await ctx.journal.record(change.address, change.action.value, "copy-requested",
                                note=f"copy operation {status.value}")
        raise OperationFailedError(
            f"the copy operation ended {status.value}: {'/'.join(x for x in (err.get('code'), inner) if x)}: "
            f"{err.get('message', 'no details')}", code=err.get("code"), inner_code=inner)
    ctx.crash("after-copy-done")
    asset = await tgt.get(ANALYZER, change.target.id)
    want = change.source.fingerprint
    if asset is None or asset.status != "ready" or asset.fingerprint != want:
        raise ApplyStepError(
            f"the copy operation succeeded but {tgt.conn.name}/{change.target.id} "
            + ("does not exist" if asset is None else
               f"is {asset.status} with definition {asset.fingerprint}, expected {want}"))
    await _finish(ctx, change, op_url, asset.detail.get("warnings") or [], asset.fingerprint)


async def _finish(ctx: ApplyContext, change: Change, op_url: str | None, warnings: list[Any],
                  target_fingerprint: str) -> None:
    for w in warnings:
        text = w.get("message") or w.get("code") if isinstance(w, dict) else str(w)
        ctx.step(change, "warning", f"the service warns: {text}", level="warning")
    used = {role: {"model": d["model"], "deployment": d["deployment"]}
            for role, d in sorted(change.deployments.items())}
    await ctx.record_done(change, operation_url=op_url, extra={"deployments": used} if used else None,
                          target_fingerprint=target_fingerprint)
