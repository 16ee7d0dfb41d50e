"""The click commands. Each wraps a plain function (returning an exit code) in run_command."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import click

from drplan.cli.app import cli, run_command
from drplan.errors import EXIT_CHANGES, EXIT_OK, PlanFileError
from drplan.plan.model import Action, Plan
from drplan.plan.planfile import load_plan, save_plan
from drplan.render.human import render_plan, summary_line
from drplan.render.jsonout import render_plan_json
from drplan.render.markdown import render_markdown
from drplan.render.progress import JsonPrinter, make_printer
from drplan.spec.load import load_spec

FORMATS = click.Choice(["human", "json", "markdown"])


def _render(plan: Plan, fmt: str, verbose: bool) -> str:
    if fmt == "json":
        return render_plan_json(plan)
    if fmt == "markdown":
        return render_markdown(plan)
    return render_plan(plan, verbose=verbose)


def _has_changes(plan: Plan) -> bool:
    """Changes, or an apply left unfinished that this plan finishes (never "no changes" then: issue 19)."""
    return any(c.action is not Action.NO_OP or c.settings.get("unfinished")
               for c in plan.changes)


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
             json_events: bool = False, control_plane: bool = True) -> int:
    from drplan.core import make_plan

    spec = load_spec(spec_path)
    emit = JsonPrinter() if json_events else None
    plan = asyncio.run(make_plan(spec, allow_delete=allow_delete, targets=targets, excludes=excludes, emit=emit,
                                 control_plane=control_plane))
    if out:
        save_plan(plan, out)
    click.echo(_render(plan, fmt, verbose), nl=False)
    if fmt == "human" and out:
        click.echo(f"\nSaved the plan to {out} (digest {plan.digest}).")
        if plan.applyable and _has_changes(plan):
            click.echo(f"Review it, then apply exactly this plan with: drplan apply {out}")
    if emit:
        emit({"type": "plan_summary", "message": summary_line(plan), "summary": plan.summary,
              "applyable": plan.applyable, "digest": plan.digest, "level": "info" if plan.applyable else "error"})
    if not plan.applyable:
        return 1
    if detailed_exitcode and _has_changes(plan):
        return EXIT_CHANGES
    return EXIT_OK


_target_opt = click.option("--target", "targets", multiple=True, metavar="ADDRESS_GLOB",
                           help="Only plan addresses matching this glob (repeatable); recorded in the plan.")
_exclude_opt = click.option("--exclude", "excludes", multiple=True, metavar="ADDRESS_GLOB",
                            help="Leave addresses matching this glob out of the plan (repeatable); recorded in the plan.")


@cli.command("plan")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="Write the plan artifact (JSON) here.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when the plan has changes, 0 when none.")
@click.option("--allow-delete", is_flag=True, help="Plan deletions for rules that set prune = true.")
@click.option("--format", "fmt", type=FORMATS, default="human", show_default=True,
              help="human, json (the plan document) or markdown (for a pull-request comment).")
@click.option("-v", "--verbose", is_flag=True, help="Also list unchanged copies.")
@_target_opt
@_exclude_opt
@click.option("--json", "json_events", is_flag=True, help="Stream one JSON event per line on stderr.")
@click.option("--no-control-plane", "no_control_plane", is_flag=True,
              help="Read nothing from Azure Resource Manager: plan from the spec's endpoint, region and encryption, "
                   "and warn that they are unverified.")
def plan(spec: str, out: str | None, detailed_exitcode: bool, allow_delete: bool, fmt: str, verbose: bool,
         targets: tuple[str, ...], excludes: tuple[str, ...], json_events: bool, no_control_plane: bool) -> None:
    """Refresh the live resources and the state, and show (and save) what apply would do."""
    run_command(plan_cmd, spec, out, detailed_exitcode, allow_delete, fmt, verbose, targets, excludes, json_events,
                not no_control_plane)


# -- show ---------------------------------------------------------------------------------------------------------
def show_cmd(plan_path: str, fmt: str, verbose: bool) -> int:
    plan = load_plan(plan_path)
    if fmt == "human":
        click.echo(f"Plan {plan_path}: made {plan.created_at} from {plan.spec.path}, digest {plan.digest}")
    click.echo(_render(plan, fmt, verbose), nl=False)
    return EXIT_OK


@cli.command("show")
@click.argument("plan", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=FORMATS, default="human", show_default=True)
@click.option("-v", "--verbose", is_flag=True, help="Also list unchanged copies.")
def show(plan: str, fmt: str, verbose: bool) -> None:
    """Show a saved plan (after checking its digest and schema)."""
    run_command(show_cmd, plan, fmt, verbose)


# -- apply --------------------------------------------------------------------------------------------------------
def apply_cmd(target: str, auto_approve: bool, parallelism: int | None, lock_timeout: float, state: str | None,
              json_events: bool, quiet: bool, allow_delete: bool, targets: tuple[str, ...] = (),
              excludes: tuple[str, ...] = ()) -> int:
    from drplan.core import apply_plan, make_plan

    path = Path(target)
    if path.suffix.lower() == ".toml":
        if not auto_approve:
            raise PlanFileError(
                f"{target} is a spec, not a plan: review a saved plan (drplan plan {target} -o plan.json; "
                "drplan apply plan.json), or plan and apply in one go with --auto-approve"
            )
        spec = load_spec(target)
        plan = asyncio.run(make_plan(spec, allow_delete=allow_delete, targets=targets, excludes=excludes))
        if not quiet:
            click.echo(render_plan(plan), nl=False)
    else:
        plan = load_plan(target)
        recorded = (tuple(plan.options.target or []), tuple(plan.options.exclude or []))
        if (targets or excludes) and (tuple(targets), tuple(excludes)) != recorded:
            raise PlanFileError(
                f"{target}: --target/--exclude are fixed when the plan is made (this plan: --target "
                f"{' '.join(recorded[0]) or '(all)'}, --exclude {' '.join(recorded[1]) or '(none)'}); apply cannot "
                "widen or change them: run drplan plan again with the targeting you want"
            )
    refreshes = sum(bool(c.settings.get("refresh_record")) for c in plan.changes)
    if not _has_changes(plan) and plan.applyable and not plan.errors and not refreshes:
        click.echo("Nothing to apply: " + summary_line(plan))
        return EXIT_OK
    pending = sum(c.action is not Action.NO_OP or bool(c.settings.get("unfinished"))
                  for c in plan.changes)
    with make_printer(total=pending, json_events=json_events, quiet=quiet) as printer:
        result = asyncio.run(apply_plan(plan, state_path=state, parallelism=parallelism, lock_timeout=lock_timeout,
                                        emit=printer))
    if result.already_applied:
        click.echo("This plan was already applied completely; nothing to do. Run drplan plan to see the current "
                   "difference.")
        return EXIT_OK
    n = len(result.applied)
    click.echo(f"Apply complete: {n} change(s) applied" + (f", {len(result.skipped)} already done earlier"
                                                           if result.skipped else "")
               + (f", {len(result.refreshed)} state record(s) refreshed" if result.refreshed else "") + ".")
    return EXIT_OK


@cli.command("apply")
@click.argument("target", metavar="PLAN|SPEC", type=click.Path(dir_okay=False))
@click.option("--auto-approve", is_flag=True, help="With a SPEC: plan and apply in one go, without review.")
@click.option("--parallelism", type=click.IntRange(1, 256), help="Changes applied at once (default: the spec's).")
@click.option("--lock-timeout", type=float, default=0.0, show_default=True, help="Seconds to wait for the state lock.")
@click.option("--state", type=click.Path(dir_okay=False), help="State file (default: the one the plan names).")
@click.option("--json", "json_events", is_flag=True, help="Stream one JSON event per line on stderr.")
@click.option("-q", "--quiet", is_flag=True, help="Only print errors and the final line.")
@click.option("--allow-delete", is_flag=True, help="With --auto-approve: plan deletions for prune rules.")
@_target_opt
@_exclude_opt
def apply(target: str, auto_approve: bool, parallelism: int | None, lock_timeout: float, state: str | None,
          json_events: bool, quiet: bool, allow_delete: bool, targets: tuple[str, ...],
          excludes: tuple[str, ...]) -> None:
    """Apply exactly a reviewed plan (or a spec with --auto-approve), journaling every step; resumes if interrupted."""
    run_command(apply_cmd, target, auto_approve, parallelism, lock_timeout, state, json_events, quiet, allow_delete,
                targets, excludes)


# -- check --------------------------------------------------------------------------------------------------------
def check_cmd(spec_path: str, fmt: str) -> int:
    from drplan.core import make_plan, state_manager
    from drplan.plan.drift import find_drift

    spec = load_spec(spec_path)
    plan = asyncio.run(make_plan(spec))
    manager = state_manager(spec.state)
    state = manager.load()
    findings = find_drift(plan, state.resources, state.journal)
    if fmt == "json":
        click.echo(json.dumps({"in_sync": not findings, "findings": [f.to_dict() for f in findings],
                               "summary": plan.summary}, indent=2, sort_keys=True))
    elif findings:
        click.echo(f"Drift: {len(findings)} finding(s).")
        for f in findings:
            click.echo(f"  {f.kind:<18} {f.address}: {f.message}")
    else:
        click.echo(f"In sync: {plan.summary['no-op']} cop{'y' if plan.summary['no-op'] == 1 else 'ies'} match "
                   "the spec.")
    return EXIT_CHANGES if findings else EXIT_OK


@cli.command("check")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["human", "json"]), default="human", show_default=True)
def check(spec: str, fmt: str) -> None:
    """Read-only drift check for scheduled pipelines: exit 0 in sync, 2 on drift, 1 on error."""
    run_command(check_cmd, spec, fmt)


# -- emulator and demo --------------------------------------------------------------------------------------------
@cli.command("emulator", context_settings={"ignore_unknown_options": True})
@click.option("--config", required=True, type=click.Path(dir_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=0, type=int, show_default=True)
@click.option("--url-file", type=click.Path(dir_okay=False))
def emulator(config: str, host: str, port: int, url_file: str | None) -> None:
    """Run the local multi-region emulator of the services (see drplan/emulator/README.md)."""
    from drplan.emulator.server import main as emulator_main

    argv = ["--config", config, "--host", host, "--port", str(port)]
    if url_file:
        argv += ["--url-file", url_file]
    sys.exit(emulator_main(argv))
