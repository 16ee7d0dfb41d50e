"""Language projects, journaled (contracts §6; DESIGN §3): export on the source -> import on the target -> train ->
deploy, each a job whose URL is journaled the moment the service names it, so a killed apply resumes where it
stopped instead of starting over (or, worse, training twice).

The chain and its journal steps (drplan/apply/journal.py; one entry per address)::

    exporting ─POST :export─▶ exporting+export_url ─poll, GET resultUrl, digest check─▶ exported
    importing ─POST :import─▶ importing+import_url ─poll─▶ imported (+target_modified)
    training (+prior_trained) ─POST :train─▶ training+train_url ─poll─▶ trained (+trained_at)
    deploying ─PUT deployments/{name}─▶ deploying+deploy_url ─poll─▶ verify, record, entry removed

Resume rules, per step:
* export: the exported JSON is never written to the state (it is data, and can be large). A journaled export job is
  polled and its result fetched again; if it is gone, the project is exported anew. Either way the content digest
  must equal the one the plan showed (``source.content_digest``), else the change is refused: the source project
  changed since the plan, and reviewers never saw what would now be imported.
* import: a journaled import job is polled. An import whose URL was never journaled is simply sent again (an import
  replaces the project, so a second one is harmless), after fetching the export again as above.
* train: a journaled training job is polled. Without a URL, drplan looks before it trains again: a model with the
  label trained after the project's last import (and after the model the target had before, ``prior_trained``) means
  the training happened; an unfinished training job for the label is waited for; only otherwise is training asked
  for again.
* deploy: a journaled deployment job is polled; otherwise the PUT is sent again (it is idempotent).
A job that ends failed is reported with its errors, and its URL is dropped from the journal entry, so the next apply
redoes that step (and only it). An entry left by another (older) plan's apply is not resumed (its content or
training settings may differ): its running jobs are waited for, then this plan's steps run from the start.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drplan.apply.context import ApplyContext
from drplan.apply.journal import utcnow
from drplan.apply.resend import RESEND_ATTEMPTS, resend_delay, resend_if_lost
from drplan.azure.lro import OpStatus
from drplan.errors import (
    ApplyStepError,
    DrplanError,
    NotFoundError,
    OperationFailedError,
    ResponseLostError,
    StalePlanError,
)
from drplan.families.base import normalise_time
from drplan.families.language.adapter import ProjectsAdapter, job_id
from drplan.families.language.assets import content_digest
from drplan.families.language.plan import FLOATING_CONFIG
from drplan.plan.model import Action, Change

#: Journal steps in chain order; a resumed change skips every phase before its step.
ORDER = ("exporting", "exported", "importing", "imported", "training", "trained", "deploying")
_ENTRY_KEYS = ("plan_digest", "action", "step", "updated")


#: Training a custom NER model can take hours; the poller's 30-minute default is for copies (contracts §6).
JOB_DEADLINE = 6 * 3600.0


def _adapters(ctx: ApplyContext, change: Change) -> tuple[ProjectsAdapter, ProjectsAdapter]:
    src, tgt = ctx.adapters[change.source.resource], ctx.adapters[change.target.resource]
    return src, tgt


def _at(entry: dict[str, Any] | None) -> int:
    return ORDER.index(entry["step"]) if entry and entry.get("step") in ORDER else -1


async def _journal(ctx: ApplyContext, change: Change, step: str, *, drop: tuple[str, ...] = (),
                   **fields: Any) -> dict[str, Any]:
    """Set the change's journal entry to ``step`` with ``fields``, keeping the earlier fields except ``drop`` (the
    URL of a job that failed must not be polled again)."""
    current = ctx.journal.entry(change.address) or {}
    kept = {k: v for k, v in current.items() if k not in drop and k not in _ENTRY_KEYS}
    kept.update({k: v for k, v in fields.items() if v is not None})
    return await ctx.journal.restart(change.address, change.action.value, step, **kept)


async def run_language_change(ctx: ApplyContext, change: Change, entry: dict[str, Any] | None) -> None:
    """Run (or resume) the steps the plan lists for one Language project: export/import for create and replace,
    train/deploy when the rule asks (update: those alone), then verify the target and record it."""
    addr = change.address
    steps = change.steps
    if entry is not None and entry.get("plan_digest") != ctx.plan.digest:
        await _settle_other_plan(ctx, change, entry)
        entry = None
    elif entry is not None:
        ctx.step(change, "resuming", f"resuming from journal step '{entry['step']}' ({entry['updated']})")
    if "import" in steps and _at(entry) < ORDER.index("imported"):
        await _export_and_import(ctx, change, entry)
        entry = ctx.journal.entry(addr)
    if "train" in steps and _at(entry) < ORDER.index("trained"):
        await _train(ctx, change, entry if entry and entry["step"] == "training" else None)
        entry = ctx.journal.entry(addr)
    if "deploy" in steps:
        await _deploy(ctx, change, entry if entry and entry["step"] == "deploying" else None)
    await _finish(ctx, change)


async def _settle_other_plan(ctx: ApplyContext, change: Change, entry: dict[str, Any]) -> None:
    """The journal holds an interrupted apply of another (older) plan for this address. Its steps may not fit this
    plan (other content, other training settings), so this plan runs its own steps afresh; but first it waits for
    the jobs that apply left running on the target, so two imports or trainings never race."""
    _, tgt = _adapters(ctx, change)
    ctx.step(change, "resuming", f"the journal holds step '{entry['step']}' of another plan's apply; waiting for its "
             "jobs, then running this plan's steps afresh", level="warning")
    for key in ("import_url", "train_url", "deploy_url"):
        if entry.get(key):
            try:
                await tgt.wait_job(entry[key], what=f"{key[:-4]} job of the interrupted apply",
                                   interval=ctx.poll_interval, deadline=JOB_DEADLINE)
            except DrplanError:
                pass  # gone or unreadable: nothing left to race with
    steps = change.steps
    first = "exporting" if "import" in steps else "training" if "train" in steps else "deploying"
    await ctx.journal.restart(change.address, change.action.value, first,
                             note="started afresh after another plan's interrupted apply")


def _warn_resend(ctx: ApplyContext, change: Change, step: str, what: str) -> Callable[[int, Exception, float], None]:
    def warn(n: int, exc: Exception, delay: float) -> None:
        ctx.step(change, step, f"{exc}; sending the {what} again in {delay:g} s (resend {n})", level="warning")
    return warn


# -- export and import ------------------------------------------------------------------------------------------
def _source_modified(change: Change) -> str:
    return str(change.source.fingerprint).split("=", 1)[-1]


async def _export(ctx: ApplyContext, change: Change, entry: dict[str, Any] | None) -> dict[str, Any]:
    """The source project's export, as the plan showed it (content digest checked), journaled."""
    src, _ = _adapters(ctx, change)
    sid = change.source.id
    want = change.source.extra.get("content_digest")
    url = (entry or {}).get("export_url")
    if url:
        try:
            exported = await src.finish_export(url, name=sid, interval=ctx.poll_interval)
        except (NotFoundError, OperationFailedError) as exc:
            ctx.step(change, "exporting", f"the interrupted export cannot be used ({exc}); exporting again",
                     level="debug")
        else:
            if want is None or content_digest(exported) == want:
                return exported
    await _journal(ctx, change, "exporting", drop=("export_url", "import_url", "content_digest", "note"),
                   requested_at=utcnow(), source_modified=_source_modified(change))
    ctx.crash("after-journal-exporting")
    ctx.step(change, "exporting", f"exporting {src.conn.name}/{sid}")
    # A lost answer is resent (issue 19). Safe: an export changes nothing; the lost job is simply never read.
    export_url, delay = await resend_if_lost(lambda: src.start_export(sid), sleep=src.client.sleep,
                                             on_resend=_warn_resend(ctx, change, "exporting", "export"))
    ctx.crash("after-export-sent")
    await _journal(ctx, change, "exporting", export_url=export_url)
    try:
        exported = await src.finish_export(export_url, name=sid, interval=ctx.poll_interval, first_delay=delay)
    except OperationFailedError:
        await _journal(ctx, change, "exporting", drop=("export_url",), note="export job failed")
        raise
    digest = content_digest(exported)
    if want and digest != want:
        raise StalePlanError(
            f"the source project {src.conn.name}/{sid} changed since the plan was made: its assets now export as "
            f"{digest}, the plan was reviewed with {want}; nothing was imported. Run drplan plan again")
    await _journal(ctx, change, "exported", content_digest=digest)
    ctx.crash("after-export-done")
    return exported


async def _export_and_import(ctx: ApplyContext, change: Change, entry: dict[str, Any] | None) -> None:
    _, tgt = _adapters(ctx, change)
    tid = change.target.id
    if entry is not None and entry["step"] == "importing" and entry.get("import_url"):
        try:
            await _wait_import(ctx, change, entry["import_url"])
            return
        except NotFoundError:
            ctx.step(change, "importing", "the interrupted import job is gone; importing again", level="debug")
    exported = await _export(ctx, change, entry)
    await _journal(ctx, change, "importing", drop=("import_url", "note"))
    replaces = change.action is Action.REPLACE
    ctx.step(change, "importing", f"importing into {tgt.conn.name}/{tid}"
             + (" (replacing the project there)" if replaces else ""))
    # A lost answer is resent (issue 19). Safe: the lost import may have started, but an import replaces the
    # same-named project (contracts §6.1 [S]) with the same content, so a second one cannot make a second project.
    url, delay = await resend_if_lost(lambda: tgt.start_import(tid, exported), sleep=tgt.client.sleep,
                                      on_resend=_warn_resend(ctx, change, "importing", "import"))
    ctx.crash("after-import-sent")
    await _journal(ctx, change, "importing", import_url=url)
    ctx.crash("after-import-journaled")
    await _wait_import(ctx, change, url, first_delay=delay)


async def _wait_ok(ctx: ApplyContext, change: Change, url: str, *, kind: str, step: str, url_key: str,
                   first_delay: float = 0.0,
                   on_progress: Callable[[OpStatus, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Wait for one of the target's jobs. A failed job raises with its errors, and its URL leaves the journal entry
    (kept at ``step``), so the next apply redoes that step instead of polling the failed job again."""
    _, tgt = _adapters(ctx, change)
    body = await tgt.wait_job(url, what=f"{kind} job of {change.target.id}", interval=ctx.poll_interval,
                              first_delay=first_delay, on_progress=on_progress, deadline=JOB_DEADLINE)
    try:
        tgt.check_job(body, what=kind, url=url)
    except OperationFailedError:
        await _journal(ctx, change, step, drop=(url_key,), note=f"{kind} job {job_id(url)} failed")
        raise
    return body


async def _wait_import(ctx: ApplyContext, change: Change, url: str, *, first_delay: float = 0.0) -> None:
    _, tgt = _adapters(ctx, change)
    tid = change.target.id
    await _wait_ok(ctx, change, url, kind="import", step="importing", url_key="import_url", first_delay=first_delay)
    project = await tgt.get_project(tid)
    if project is None:
        raise ApplyStepError(f"{tgt.conn.name}: the import job {job_id(url)} succeeded but project {tid!r} does "
                                "not exist; run drplan apply again")
    await _journal(ctx, change, "imported", target_modified=normalise_time(project["lastModifiedDateTime"]))
    ctx.crash("after-import-done")


# -- train -------------------------------------------------------------------------------------------------------
async def _fresh_model(ctx: ApplyContext, change: Change, baseline: str, prior: str) -> dict[str, Any] | None:
    """The target's model of the rule's label if it was trained on the current assets: at or after the project's
    last modification, after the model the target had before this training, with the configured version."""
    _, tgt = _adapters(ctx, change)
    settings = change.settings
    model = await tgt.get_model(change.target.id, settings["model_label"])
    if model is None or not model["trained"]:
        return None
    if baseline and model["trained"] < baseline:
        return None
    if prior and model["trained"] <= prior:
        return None
    version = settings["training_config_version"]
    if version not in FLOATING_CONFIG and model["training_config_version"] not in ("", version):
        return None
    return model


async def _baseline(ctx: ApplyContext, change: Change) -> str:
    _, tgt = _adapters(ctx, change)
    project = await tgt.get_project(change.target.id)
    if project is None:
        raise ApplyStepError(f"{tgt.conn.name}: project {change.target.id!r} is gone; run drplan plan again")
    return normalise_time(project["lastModifiedDateTime"])


async def _train(ctx: ApplyContext, change: Change, entry: dict[str, Any] | None) -> None:
    _, tgt = _adapters(ctx, change)
    tid = change.target.id
    label, version = change.settings["model_label"], change.settings["training_config_version"]
    baseline = await _baseline(ctx, change)
    if entry is not None:
        prior = entry.get("prior_trained") or ""
        url = entry.get("train_url")
        if url:
            try:
                if await _wait_train(ctx, change, url, baseline, prior):
                    return
            except NotFoundError:
                pass  # the job aged out: the model tells
        if await _took_fresh_model(ctx, change, baseline, prior, f"model {label!r} was trained by the interrupted apply"):
            return
        url = await tgt.find_train_job(tid, label)
        if url is not None:
            ctx.step(change, "training", f"waiting for the training job {job_id(url)} the interrupted apply started")
            await _journal(ctx, change, "training", train_url=url)
            if await _wait_train(ctx, change, url, baseline, prior):
                return
    model = await tgt.get_model(tid, label)
    prior = model["trained"] if model else ""
    await _journal(ctx, change, "training", drop=("train_url", "prior_trained", "note"), requested_at=utcnow(),
                   prior_trained=prior or None)
    ctx.step(change, "training", f"training {tgt.conn.name}/{tid} as model {label!r} (training config {version})")
    sends = 0
    while True:
        sends += 1
        try:
            url, delay = await tgt.start_train(tid, label, version)
            break
        except ResponseLostError as exc:
            # Look first: the lost request may have trained already (a model of the label newer than this import
            # and than the one before: the resume check) or be training (an unfinished job of the label). Only when
            # neither shows is it sent again (issue 19), at most RESEND_ATTEMPTS times in all: one training each.
            if await _took_fresh_model(ctx, change, baseline, prior, f"{exc}; model {label!r} shows the training ran"):
                return
            found = await tgt.find_train_job(tid, label)
            if found:
                url, delay = found, 0.0
                break
            if sends >= RESEND_ATTEMPTS:
                raise
            pause = resend_delay(sends)
            _warn_resend(ctx, change, "training", "training request")(sends, exc, pause)
            await tgt.client.sleep(pause)
    ctx.crash("after-train-sent")
    await _journal(ctx, change, "training", train_url=url)
    ctx.crash("after-train-journaled")
    if not await _wait_train(ctx, change, url, baseline, prior, first_delay=delay):
        raise ApplyStepError(
            f"{tgt.conn.name}: the training job {job_id(url)} succeeded but model {label!r} of {tid!r} is not newer "
            "than the project's last import; run drplan apply again")


async def _took_fresh_model(ctx: ApplyContext, change: Change, baseline: str, prior: str, note: str) -> bool:
    """A model of the label newer than the import and than the one before exists (a training ran): record it as this
    change's training (``note`` says how it was found) and return True; else False."""
    model = await _fresh_model(ctx, change, baseline, prior)
    if model is None:
        return False
    ctx.step(change, "training", note, level="debug")
    await _trained(ctx, change, model)
    return True


async def _wait_train(ctx: ApplyContext, change: Change, url: str, baseline: str, prior: str, *,
                      first_delay: float = 0.0) -> bool:
    """Wait for a training job; True when it produced a current model (journaled ``trained``)."""
    last = [-1]

    def progress(status: OpStatus, body: dict[str, Any]) -> None:
        pct = (((body.get("result") or {}).get("trainingStatus") or {}).get("percentComplete"))
        if pct is not None and pct != last[0]:
            last[0] = pct
            ctx.step(change, "training", f"{status.value} {pct}%", percent=pct, level="debug")

    await _wait_ok(ctx, change, url, kind="training", step="training", url_key="train_url", first_delay=first_delay,
                   on_progress=progress)
    model = await _fresh_model(ctx, change, baseline, prior)
    if model is None:
        return False
    await _trained(ctx, change, model)
    return True


async def _trained(ctx: ApplyContext, change: Change, model: dict[str, Any]) -> None:
    await _journal(ctx, change, "trained", trained_at=model["trained"])
    ctx.crash("after-train-done")


# -- deploy ------------------------------------------------------------------------------------------------------
async def _deploy(ctx: ApplyContext, change: Change, entry: dict[str, Any] | None) -> None:
    _, tgt = _adapters(ctx, change)
    tid = change.target.id
    label, deployment = change.settings["model_label"], change.settings["deployment"]
    if entry is not None and entry.get("deploy_url"):
        try:
            await _wait_deploy(ctx, change, entry["deploy_url"])
            return
        except NotFoundError:
            pass  # the job aged out: deploy again (a PUT is idempotent)
    await _journal(ctx, change, "deploying", drop=("deploy_url", "note"), requested_at=utcnow())
    ctx.step(change, "deploying", f"deploying model {label!r} of {tgt.conn.name}/{tid} as {deployment!r}")
    url, delay = await tgt.start_deploy(tid, deployment, label)  # a PUT: the client retries a lost answer itself
    ctx.crash("after-deploy-sent")
    await _journal(ctx, change, "deploying", deploy_url=url)
    ctx.crash("after-deploy-journaled")
    await _wait_deploy(ctx, change, url, first_delay=delay)


async def _wait_deploy(ctx: ApplyContext, change: Change, url: str, *, first_delay: float = 0.0) -> None:
    await _wait_ok(ctx, change, url, kind="deployment", step="deploying", url_key="deploy_url", first_delay=first_delay)


# -- verify and record -------------------------------------------------------------------------------------------
async def _finish(ctx: ApplyContext, change: Change) -> None:
    """Check the target project (and its model and deployment) is what the change promised; record it."""
    _, tgt = _adapters(ctx, change)
    tid = change.target.id
    where = f"{tgt.conn.name}/{tid}"
    project = await tgt.get_project(tid)
    if project is None:
        raise ApplyStepError(f"{where}: the project is missing after the apply; run drplan plan again")
    steps = change.steps
    before = ctx.state.resources.get(change.address) or {}
    extra: dict[str, Any] = {"target_modified": normalise_time(project["lastModifiedDateTime"])}
    if "import" in steps:
        extra["source_modified"] = _source_modified(change)
        extra["content_digest"] = change.source.extra.get("content_digest")
    else:  # train/deploy only: the assets are the ones imported earlier
        extra["source_modified"] = before.get("source_modified") or _source_modified(change)
        extra["content_digest"] = change.source.extra.get("content_digest") or before.get("content_digest")
        extra["copied_at"] = before.get("copied_at")
    settings = change.settings
    if settings.get("model_label"):
        label = settings["model_label"]
        model = await tgt.get_model(tid, label)
        if model is None:
            raise ApplyStepError(f"{where}: model {label!r} is missing after training; run drplan apply again")
        extra["model_label"] = label
        extra["trained_at"] = model["trained"]
        if settings.get("deployment"):
            dep = await tgt.get_deployment(tid, settings["deployment"])
            if dep is None or dep["modelId"] != model["modelId"]:
                raise ApplyStepError(
                    f"{where}: deployment {settings['deployment']!r} "
                    + ("is missing" if dep is None else f"serves {dep['modelId']}, not {model['modelId']}")
                    + " after deploying; run drplan apply again")
            extra["deployment"] = settings["deployment"]
    await ctx.record_done(change, operation_url=None, extra={k: v for k, v in extra.items() if v},
                          message=f"replicated to {tgt.conn.name}/{tid}")
