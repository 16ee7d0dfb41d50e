"""drplan's command line. Each command is a plain function returning an exit code; ``main`` maps DrplanErrors to
their documented exit codes with one readable message and no traceback.

Exit codes: 0 ok · 1 error · 2 changes present (plan/apply --detailed-exitcode) · 3 stale plan · 4 state locked.
"""

from __future__ import annotations

import gc
import sys

import click

from drplan.cli.app import cli, run_command

__all__ = ["cli", "command_line", "main", "run_command"]


def command_line() -> click.Group:
    """The click group ``main`` runs, and what the tests run in their own process (without ``main``'s process-wide
    garbage-collector settings). Commands are registered when first looked up (``drplan.cli.app.COMMANDS``), so
    ``drplan --help`` and ``drplan version`` import no command module (issue 18)."""
    return cli


#: Modules drplan never uses that its dependencies import when they happen to be installed: httpcore imports trio
#: (~45 ms) if it is there, and httpx imports its own command line (rich, pygments: ~30 ms). drplan runs on asyncio
#: only and never runs httpx's command line, and both imports fall back on ImportError, which a None entry in
#: sys.modules gives. Process-wide, so only in ``main`` (never in a process that imported drplan as a library).
UNUSED_IMPORTS = ("trio", "httpx._main")


def main() -> None:
    for name in UNUSED_IMPORTS:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
    # drplan builds many small dicts (thousands of changes) and frees them all at exit: a rarer cyclic GC saves a
    # noticeable share of a large plan's CPU time (the same trade pip and mypy make). Process-wide, so only here.
    gc.set_threshold(50_000, 50, 100)
    group = command_line()
    gc.freeze()  # what start-up imported is never garbage: keep the collector off it
    cli.after_load = gc.freeze  # nor what a command's module imported when the group loaded it

    group(prog_name="drplan")


if __name__ == "__main__":  # pragma: no cover
    main()
