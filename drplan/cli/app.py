"""The click group every command registers on, and the one place exceptions become exit codes (``run_command``).

Exit codes: 0 ok · 1 error · 2 changes present (plan/apply --detailed-exitcode) · 3 stale plan · 4 state locked.
Command modules (commands, state_cmds, demo) import this module; only ``drplan.cli.main`` imports them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import click

from drplan import __version__
from drplan.errors import EXIT_ERROR, DrplanError
from drplan.redact import redact


def run_command(fn: Callable[..., int], *args: Any, **kwargs: Any) -> None:
    """Run a command function and exit with its code; the one place exceptions become exit codes."""
    try:
        code = fn(*args, **kwargs)
    except DrplanError as exc:
        click.echo(f"Error: {exc}", err=True)
        code = exc.exit_code
    except KeyboardInterrupt:
        click.echo("Interrupted. The journal keeps what was done; run the same command again to resume.", err=True)
        code = 130
    except click.exceptions.Exit:
        raise
    except click.ClickException:
        raise
    except Exception as exc:  # noqa: BLE001 - last resort: a readable, redacted line instead of a traceback
        if os.environ.get("DRPLAN_DEBUG"):
            raise
        click.echo(f"Error: internal error: {exc.__class__.__name__}: {redact(str(exc))} "
                   "(set DRPLAN_DEBUG=1 for a traceback)", err=True)
        code = EXIT_ERROR
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="drplan")
def cli() -> None:
    """drplan: plan and apply disaster-recovery copies of custom Azure AI models.

    \b
    Exit codes: 0 ok, 1 error, 2 changes present (with --detailed-exitcode),
                3 stale plan, 4 state locked by another run.
    """
