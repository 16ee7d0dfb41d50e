"""``drplan output`` (the failover map) and ``drplan drill`` (DR drills), issue 16. Plain functions returning exit
codes, wrapped in run_command like every command.

drill exit codes: 0 every copy ready · 2 some degraded, none failed · 1 some failed (or the drill could not run)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from drplan.cli.app import cli, run_async, run_command
from drplan.errors import EXIT_OK
from drplan.fsutil import atomic_write_bytes
from drplan.spec.load import load_spec


def output_cmd(spec_path: str, fmt: str, rules: tuple[str, ...], targets: tuple[str, ...],
               regions: tuple[str, ...], out: str | None) -> int:
    from drplan.core import live_spec, state_manager
    from drplan.output import failover_map, render_env, render_json, render_markdown

    spec = load_spec(spec_path, check_env=False)  # no data-plane call: keys are not needed
    # Endpoints and regions the spec leaves to Resource Manager are read from it (issue 15); none: no request.
    spec = run_async(live_spec(spec))
    state = state_manager(spec.state).load()
    fmap = failover_map(spec, state, rules=rules, targets=targets, regions=regions)
    text = {"json": render_json, "env": render_env, "markdown": render_markdown}[fmt](fmap)
    if out:
        atomic_write_bytes(Path(out), text.encode("utf-8"))
        click.echo(f"Wrote the failover map ({len(fmap['assets'])} asset(s), {fmt}) to {out}.", err=True)
    else:
        click.echo(text, nl=False)
    return EXIT_OK


@cli.command("output")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["json", "env", "markdown"]), default="json", show_default=True,
              help="json (schemas/output.schema.json), env (variables an application loads) or markdown (runbook).")
@click.option("--rule", "rules", multiple=True, metavar="GLOB", help="Only these rules (repeatable).")
@click.option("--target", "targets", multiple=True, metavar="RESOURCE_GLOB",
              help="Only secondaries on these target resources (repeatable).")
@click.option("--region", "regions", multiple=True, metavar="REGION", help="Only secondaries in this region (repeatable).")
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="Write the map to this file (atomically).")
def output(spec: str, fmt: str, rules: tuple[str, ...], targets: tuple[str, ...], regions: tuple[str, ...],
           out: str | None) -> None:
    """The failover map: for every protected asset, the primary and each secondary (endpoint, region, ids, key
    variable). Never a key."""
    run_command(output_cmd, spec, fmt, rules, targets, regions, out)


def drill_cmd(spec_path: str, fmt: str, targets: tuple[str, ...], parallelism: int, sample: str | None,
              timeout: float) -> int:
    from drplan.drill import exit_code, render_human, render_markdown, run_drill, summary

    spec = load_spec(spec_path, check_env=False)  # a missing key fails that resource's copies, not the drill
    from drplan.core import live_spec

    spec = run_async(live_spec(spec))  # endpoints and regions left to Resource Manager (issue 15)
    results = run_async(run_drill(spec, targets=targets, parallelism=parallelism, sample=sample, timeout=timeout))
    if fmt == "json":
        click.echo(json.dumps({"summary": summary(results), "exit_code": exit_code(results),
                               "copies": [r.to_dict() for r in results]}, indent=2, sort_keys=True))
    elif fmt == "markdown":
        click.echo(render_markdown(results), nl=False)
    else:
        click.echo(render_human(results), nl=False)
    return exit_code(results)


@cli.command("drill")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["human", "json", "markdown"]), default="human", show_default=True)
@click.option("--target", "targets", multiple=True, metavar="REGION",
              help="Only copies in this region (or on this target resource); repeatable.")
@click.option("--parallelism", type=click.IntRange(1, 64), default=4, show_default=True, help="Copies drilled at once.")
@click.option("--sample", type=click.Path(), help="A document (or .txt for custom NER), or a directory of them; "
                                                   "default: a tiny built-in sample per family.")
@click.option("--timeout", type=click.FloatRange(1, 3600), default=120.0, show_default=True,
              help="Seconds one copy's drill may take (both sides, polling included).")
def drill(spec: str, fmt: str, targets: tuple[str, ...], parallelism: int, sample: str | None, timeout: float) -> None:
    """Read-only DR drill: send a sample to each copy and to its source and compare the answers.
    Exit 0 all ready, 2 some degraded, 1 some failed."""
    run_command(drill_cmd, spec, fmt, targets, parallelism, sample, timeout)
