"""drplan's command line. Each command is a plain function returning an exit code; ``main`` maps DrplanErrors to
their documented exit codes with one readable message and no traceback.

Exit codes: 0 ok · 1 error · 2 changes present (plan/apply --detailed-exitcode) · 3 stale plan · 4 state locked.
"""

from __future__ import annotations

import gc

import click

from drplan.cli.app import cli, run_command

__all__ = ["cli", "command_line", "main", "run_command"]


def command_line() -> click.Group:
    """The click group with every command registered: what ``main`` runs, and what the tests run in their own process
    (without ``main``'s process-wide garbage-collector settings)."""
    from drplan.cli import commands, demo, failover_cmds, state_cmds  # noqa: F401 - registers the commands

    return cli


def main() -> None:
    # drplan builds many small dicts (thousands of changes) and frees them all at exit: a rarer cyclic GC saves a
    # noticeable share of a large plan's CPU time (the same trade pip and mypy make). Process-wide, so only here.
    gc.set_threshold(50_000, 50, 100)
    group = command_line()
    gc.freeze()  # what start-up imported is never garbage: keep the collector off it

    group(prog_name="drplan")


if __name__ == "__main__":  # pragma: no cover
    main()
