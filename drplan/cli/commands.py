"""The click commands. Each wraps a plain function (returning an exit code) in run_command."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from drplan.cli.app import DURATION, cli, events, json_mode, log_level_option, run_async, run_command
from drplan.errors import EXIT_CHANGES, EXIT_ERROR, EXIT_OK, PlanFileError
from drplan.plan.model import Action, Plan
from drplan.plan.moves import MOVED_FROM
from drplan.plan.planfile import load_plan, looks_like_plan, refuse_overwrite, save_plan
from drplan.render.counts import copies_phrase
from drplan.render.details import moved_from, orphaned_by, reviewable
from drplan.render.human import render_plan, summary_line
from drplan.render.jsonout import render_plan_json
from drplan.render.markdown import render_markdown
from drplan.render.progress import JsonPrinter, make_printer
from drplan.spec.load import load_spec

FORMATS = click.Choice(["human", "json", "markdown"])


def _render(plan: Plan, fmt: str, verbose: bool, plan_file: str | None = None) -> str:
    if fmt == "json":
        return render_plan_json(plan)
    if fmt == "markdown":
        return render_markdown(plan, plan_file=plan_file)
    return render_plan(plan, verbose=verbose)


def _has_changes(plan: Plan) -> bool:
    """Changes, an apply left unfinished that this plan finishes (never "no changes" then: issue 19), or state records
    a [[moved]] block moves (issue 17)."""
    return any(c.action is not Action.NO_OP or c.settings.get("unfinished") or c.settings.get(MOVED_FROM)
               for c in plan.changes)


def _interactive() -> bool:
    """A person can answer a question: stdin is a terminal (never in a pipeline)."""
    return sys.stdin is not None and sys.stdin.isatty()


def _plan_events(plan: Plan, out: str | None) -> None:
    """--json: the plan as events (one per change that is not in sync, its warnings and errors, the plan's own
    warnings and errors) and the counts for the final summary event."""
    for c in plan.changes:
        if not reviewable(c):
            continue
        level = "error" if c.errors else "warning" if c.warnings else "info"
        events.emit({"type": "planned_change", "level": level, "address": c.address, "actions": c.actions,
                     "message": f"{c.action.value}: {c.reason}", "warnings": c.warnings,
                     "errors": c.errors})
    for w in plan.warnings:
        events.emit({"type": "plan_warning", "level": "warning", "message": w})
    for e in plan.errors:
        events.emit({"type": "plan_error", "level": "error", "message": e})
    events.emit({"type": "plan_summary", "message": summary_line(plan), "summary": plan.summary,
                 "applyable": plan.applyable, "digest": plan.digest, "plan_file": out,
                 "level": "info" if plan.applyable else "error"})
    events.counts.update(plan.summary)
    events.counts.update(errors=len(plan.errors) + sum(len(c.errors) for c in plan.changes),
                         warnings=len(plan.warnings) + sum(len(c.warnings) for c in plan.changes))


# -- validate -----------------------------------------------------------------------------------------------------
def validate_cmd(spec_path: str) -> int:
    spec = load_spec(spec_path, check_env=False)
    n_targets = len({t for r in spec.rules for t in r.targets})
    click.echo(f"{spec_path}: valid ({len(spec.resources)} resources, {len(spec.rules)} rules, {n_targets} targets)")
    return EXIT_OK


@cli.command("validate")
@click.argument("spec", type=click.Path(dir_okay=False))
def validate(spec: str) -> None:
    """Check a DR spec (schema and semantics) without contacting any service."""
    run_command(validate_cmd, spec)


# -- plan ---------------------------------------------------------------------------------------------------------
def plan_cmd(spec_path: str, out: str | None, detailed_exitcode: bool, allow_delete: bool, fmt: str,
             verbose: bool, targets: tuple[str, ...] = (), excludes: tuple[str, ...] = (),
             json_events: bool = False, control_plane: bool = True, replace: tuple[str, ...] = ()) -> int:
    from drplan.core import make_plan

    spec = load_spec(spec_path)
    if out:  # refused before anything is read from the services
        refuse_overwrite(out, {"the spec": spec.path,
                               **({"the state file": spec.state.path} if spec.state.path is not None else {})})
    emit = JsonPrinter() if json_events else None
    plan = run_async(make_plan(spec, allow_delete=allow_delete, targets=targets, excludes=excludes, emit=emit,
                                 control_plane=control_plane, replace=replace))
    if out:
        # A plan with errors is saved too (reviewers and the PR comment need it); apply refuses it with its errors
        # (NotApplyableError), and plan exits 1. One behaviour, the one the CI templates rely on.
        save_plan(plan, out)
    if json_events:
        _plan_events(plan, out)
    else:
        click.echo(_render(plan, fmt, verbose, plan_file=out), nl=False)
    if fmt == "human" and out and not json_events:
        click.echo(f"\nSaved the plan to {out} (digest {plan.digest}).")
        if plan.applyable and _has_changes(plan):
            click.echo(f"Review it, then apply exactly this plan with: drplan apply {out}")
        elif not plan.applyable:
            click.echo(f"drplan apply {out} will refuse it until the errors above are fixed and it is planned again.")
    if not plan.applyable:
        return EXIT_ERROR
    if detailed_exitcode and _has_changes(plan):
        return EXIT_CHANGES
    return EXIT_OK


_target_opt = click.option("--target", "targets", multiple=True, metavar="ADDRESS_GLOB",
                           help="Only plan addresses matching this glob (repeatable); recorded in the plan.")
_exclude_opt = click.option("--exclude", "excludes", multiple=True, metavar="ADDRESS_GLOB",
                            help="Leave addresses matching this glob out of the plan (repeatable); recorded in the plan.")
_replace_opt = click.option("--replace", "replace", multiple=True, metavar="ADDRESS",
                            help="Copy the copy at this address again even if it is in sync (repeatable; also "
                                 "Terraform's -replace=ADDRESS); recorded in the plan. An address with no change is "
                                 "a plan error.")


@cli.command("plan")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("-o", "--out", type=click.Path(dir_okay=False),
              help="Write the plan artifact (JSON) here (also Terraform's -out=FILE). A plan with errors is written "
                   "too; apply refuses it.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when the plan has changes, 0 when none.")
@click.option("--allow-delete", is_flag=True, help="Plan deletions for rules that set prune = true.")
@click.option("--format", "fmt", type=FORMATS, default="human", show_default=True,
              help="human, json (the plan document) or markdown (for a pull-request comment).")
@click.option("-v", "--verbose", is_flag=True, help="Also list unchanged copies.")
@_target_opt
@_exclude_opt
@_replace_opt
@click.option("--json", "json_events", is_flag=True,
              help="Every stdout line is a JSON event (changes, retries, errors, a final summary); no rendered plan.")
@click.option("--no-control-plane", "no_control_plane", is_flag=True,
              help="Read nothing from Azure Resource Manager: plan from the spec's endpoint, region and encryption, "
                   "and warn that they are unverified.")
@log_level_option
def plan(spec: str, out: str | None, detailed_exitcode: bool, allow_delete: bool, fmt: str, verbose: bool,
         targets: tuple[str, ...], excludes: tuple[str, ...], replace: tuple[str, ...], json_events: bool,
         no_control_plane: bool) -> None:
    """Refresh the live resources and the state, and show (and save) what apply would do."""
    json_mode(json_events)
    run_command(plan_cmd, spec, out, detailed_exitcode, allow_delete, fmt, verbose, targets, excludes, json_events,
                not no_control_plane, replace)


# -- show ---------------------------------------------------------------------------------------------------------
def show_cmd(plan_path: str, fmt: str, verbose: bool) -> int:
    plan = load_plan(plan_path)
    if fmt == "human":
        click.echo(f"Plan {plan_path}: made {plan.created_at} from {plan.spec.path}, digest {plan.digest}")
    click.echo(_render(plan, fmt, verbose, plan_file=plan_path), nl=False)
    return EXIT_OK


@cli.command("show")
@click.argument("plan", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=FORMATS, default="human", show_default=True)
@click.option("-v", "--verbose", is_flag=True, help="Also list unchanged copies.")
@log_level_option
def show(plan: str, fmt: str, verbose: bool) -> None:
    """Show a saved plan (after checking its digest and schema)."""
    run_command(show_cmd, plan, fmt, verbose)


# -- apply --------------------------------------------------------------------------------------------------------
def _say(text: str, kind: str, **fields: Any) -> None:
    """A result line: plain text on stdout, or one JSON event with --json."""
    if events.enabled:
        events.emit({"type": kind, "level": "info", "message": text, **fields})
    else:
        click.echo(text)


def _confirm(plan: Plan, target: str) -> None:
    """``apply SPEC`` without --auto-approve: a person types ``yes`` after reading the plan (Terraform's prompt)."""
    click.echo("\nDo you want to perform these actions? drplan will perform the changes described above.\n"
               "Only 'yes' will be accepted to approve.\n")
    answer = click.prompt("Enter a value", default="", show_default=False, err=True)
    if answer.strip() != "yes":
        raise PlanFileError(f"apply of {target} cancelled (the answer was not 'yes'); nothing was changed")


def apply_cmd(target: str, auto_approve: bool, parallelism: int | None, lock_timeout: float, state: str | None,
              json_events: bool, quiet: bool, allow_delete: bool, targets: tuple[str, ...] = (),
              excludes: tuple[str, ...] = (), expect_digest: str | None = None, replace: tuple[str, ...] = ()) -> int:
    from drplan.core import apply_plan, make_plan

    path = Path(target)
    # A plan is told from a spec by its content (a JSON object), not its name: plan.toml can be a plan. An unreadable
    # file is taken for what its suffix says, and the loader reports why it cannot be read.
    is_plan = looks_like_plan(path)
    if not (is_plan if is_plan is not None else path.suffix.lower() != ".toml"):
        ask = not auto_approve
        if ask and (json_events or not _interactive()):
            raise PlanFileError(
                f"{target} is a spec, not a plan, and there is no terminal to confirm on: review a saved plan "
                f"(drplan plan {target} -o plan.json; drplan apply plan.json), or plan and apply in one go with "
                "--auto-approve"
            )
        if expect_digest:
            raise PlanFileError("--digest pins a saved plan; it cannot be used with a spec")
        spec = load_spec(target)
        plan = run_async(make_plan(spec, allow_delete=allow_delete, targets=targets, excludes=excludes,
                                   replace=replace))
        if json_events:
            _plan_events(plan, None)
        elif not quiet or ask:
            click.echo(render_plan(plan), nl=False)
        if ask and plan.applyable and _has_changes(plan):
            _confirm(plan, target)
    else:
        plan = load_plan(target)
        if expect_digest and plan.digest != expect_digest.strip():
            raise PlanFileError(
                f"{target}: its digest is {plan.digest}, not the approved {expect_digest.strip()}: this is not "
                "the plan that was reviewed; nothing was applied")
        recorded = (tuple(plan.options.target or []), tuple(plan.options.exclude or []))
        if (targets or excludes) and (tuple(targets), tuple(excludes)) != recorded:
            raise PlanFileError(
                f"{target}: --target/--exclude are fixed when the plan is made (this plan: --target "
                f"{' '.join(recorded[0]) or '(all)'}, --exclude {' '.join(recorded[1]) or '(none)'}); apply cannot "
                "widen or change them: run drplan plan again with the targeting you want"
            )
        if replace and set(replace) != set(plan.options.replace or []):
            raise PlanFileError(
                f"{target}: --replace is fixed when the plan is made (this plan: --replace "
                f"{' '.join(plan.options.replace or []) or '(none)'}); apply runs exactly the reviewed plan: run "
                "drplan plan again with --replace")
    refreshes = sum(bool(c.settings.get("refresh_record")) for c in plan.changes)
    if not _has_changes(plan) and plan.applyable and not plan.errors and not refreshes:
        _say("Nothing to apply: " + summary_line(plan), "apply_summary", applied=0)
        return EXIT_OK
    pending = sum(c.action is not Action.NO_OP or bool(c.settings.get("unfinished")) for c in plan.changes)
    with make_printer(total=pending, json_events=json_events, quiet=quiet) as printer:
        result = run_async(apply_plan(plan, state_path=state, parallelism=parallelism, lock_timeout=lock_timeout,
                                        emit=printer))
    if result.already_applied:
        _say("This plan was already applied completely; nothing to do. Run drplan plan to see the current "
             "difference.", "apply_summary", applied=0)
        return EXIT_OK
    n = len(result.applied)
    events.counts.update(applied=n, skipped=len(result.skipped), refreshed=len(result.refreshed))
    _say(f"Apply complete: {n} change(s) applied" + (f", {len(result.skipped)} already done earlier"
                                                     if result.skipped else "")
         + (f", {len(result.refreshed)} state record(s) refreshed" if result.refreshed else "")
         + (f", {len(result.moved)} state record(s) moved" if result.moved else "") + ".",
         "apply_summary", applied=n, skipped=len(result.skipped), refreshed=len(result.refreshed),
         moved=len(result.moved))
    return EXIT_OK


@cli.command("apply")
@click.argument("target", metavar="PLAN|SPEC", type=click.Path(dir_okay=False))
@click.option("--auto-approve", is_flag=True,
              help="With a SPEC: plan and apply in one go, without review (else a terminal asks for 'yes').")
@click.option("--parallelism", type=click.IntRange(1, 256), help="Changes applied at once (default: the spec's).")
@click.option("--lock-timeout", type=DURATION, default="0s", show_default=True,
              help="How long to wait for the state lock: 30s, 5m, 1h or seconds.")
@click.option("--digest", "expect_digest", metavar="DIGEST",
              help="Apply the plan only if its digest is DIGEST (the one reviewed, e.g. from the PR comment).")
@click.option("--state", type=click.Path(dir_okay=False), help="State file (default: the one the plan names).")
@click.option("--json", "json_events", is_flag=True,
              help="Every stdout line is a JSON event (steps, retries, errors, a final summary).")
@click.option("-q", "--quiet", is_flag=True, help="Only print errors and the final line.")
@click.option("--allow-delete", is_flag=True, help="With --auto-approve: plan deletions for prune rules.")
@_target_opt
@_exclude_opt
@_replace_opt
@log_level_option
def apply(target: str, auto_approve: bool, parallelism: int | None, lock_timeout: float, state: str | None,
          expect_digest: str | None, json_events: bool, quiet: bool, allow_delete: bool, targets: tuple[str, ...],
          excludes: tuple[str, ...], replace: tuple[str, ...]) -> None:
    """Apply exactly a reviewed plan (or a SPEC: plan, confirm on a terminal or --auto-approve, apply), journaling
    every step; resumes if interrupted."""
    json_mode(json_events)
    run_command(apply_cmd, target, auto_approve, parallelism, lock_timeout, state, json_events, quiet, allow_delete,
                targets, excludes, expect_digest, replace)


# -- check --------------------------------------------------------------------------------------------------------
def check_cmd(spec_path: str, fmt: str) -> int:
    from drplan.core import make_plan, state_manager
    from drplan.plan.drift import find_drift
    from drplan.plan.lifecycle import EXPIRY

    spec = load_spec(spec_path)
    plan = run_async(make_plan(spec))
    manager = state_manager(spec.state)
    state = manager.load()
    findings = find_drift(plan, state.resources, state.journal)
    # Lifecycle warnings (a source or copy expiring soon, or expired) are not drift: they never change the exit code.
    expiring = [f"{c.address}: {w}" for c in plan.changes for w in c.warnings if w.startswith(EXPIRY)]
    # Nor are state records the spec no longer claims, or [[moved]] blocks not yet applied: the copies are fine, but
    # "in sync" must not hide them (issue 17 point 6); `drplan plan` says what to do.
    for c in plan.changes:
        if orphaned_by(c) is not None:
            expiring.append(f"{c.address}: orphaned: recorded in state by rule {orphaned_by(c)!r}, which is no "
                            "longer in the spec (see `drplan plan` for how to keep, move or delete it)")
        elif moved_from(c) is not None:
            expiring.append(f"{c.address}: the state still records this copy at {moved_from(c)} ([[moved]] block "
                            "not applied yet: apply a plan to move the record)")
    if fmt == "json":
        click.echo(json.dumps({"in_sync": not findings, "findings": [f.to_dict() for f in findings],
                               "summary": plan.summary, "warnings": expiring}, indent=2, sort_keys=True))
        return EXIT_CHANGES if findings else EXIT_OK
    if findings:
        click.echo(f"Drift: {len(findings)} finding(s).")
        for f in findings:
            click.echo(f"  {f.kind:<18} {f.address}: {f.message}")
    else:
        # copies as drill and the plan's summary line count them: a CU /defaults key is a target setting
        in_sync = copies_phrase(c for c in plan.changes if c.action is Action.NO_OP and orphaned_by(c) is None)
        verb = "matches" if in_sync.startswith("1 ") and " and " not in in_sync else "match"
        click.echo(f"In sync: {in_sync} {verb} the spec.")
    for w in expiring:
        click.echo(f"Warning: {w}")
    return EXIT_CHANGES if findings else EXIT_OK


@cli.command("check")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["human", "json"]), default="human", show_default=True)
@log_level_option
def check(spec: str, fmt: str) -> None:
    """Read-only drift check for scheduled pipelines: exit 0 in sync, 2 on drift, 1 on error."""
    run_command(check_cmd, spec, fmt)


# -- emulator and demo --------------------------------------------------------------------------------------------
@cli.command("emulator", context_settings={"ignore_unknown_options": True})
@click.option("--config", required=True, type=click.Path(dir_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=0, type=click.IntRange(0, 65535), show_default=True,
              help="Port of the admin API; 0 picks a free one.")
@click.option("--url-file", type=click.Path(dir_okay=False))
@click.option("--log-level", "server_log_level", default="warning", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"], case_sensitive=False),
              help="The server's stderr logging (as python -m drplan.emulator --log-level).")
def emulator(config: str, host: str, port: int, url_file: str | None, server_log_level: str) -> None:
    """Run the local multi-region emulator of the services (see drplan/emulator/README.md)."""
    from drplan.emulator.server import main as emulator_main

    argv = ["--config", config, "--host", host, "--port", str(port), "--log-level", server_log_level.lower()]
    if url_file:
        argv += ["--url-file", url_file]

    def emulator_cmd() -> int:
        code = emulator_main(argv)
        # the emulator's own entry point exits 2 on a bad config (argparse's habit); drplan keeps 2 for "changes
        # present"
        return EXIT_ERROR if code == 2 else code

    run_command(emulator_cmd)  # wrapped like every command: no traceback, documented exit codes
