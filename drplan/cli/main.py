"""drplan's command line. Each command is a plain function returning an exit code; ``main`` maps DrplanErrors to
their documented exit codes with one readable message and no traceback.

Exit codes: 0 ok · 1 error · 2 changes present (plan/apply --detailed-exitcode) · 3 stale plan · 4 state locked.
"""

from __future__ import annotations

import gc

from drplan.cli.app import cli, run_command

__all__ = ["cli", "main", "run_command"]


def main() -> None:
    # drplan builds many small dicts (thousands of changes) and frees them all at exit: a rarer cyclic GC saves a
    # noticeable share of a large plan's CPU time (the same trade pip and mypy make).
    gc.set_threshold(50_000, 50, 100)
    from drplan.cli import commands, demo, state_cmds  # noqa: F401 - registers the commands

    gc.freeze()  # what start-up imported is never garbage: keep the collector off it

    cli(prog_name="drplan")


if __name__ == "__main__":  # pragma: no cover
    main()
