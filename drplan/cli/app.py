"""The click group every command registers on, and the one place exceptions become exit codes (``run_command``).

Exit codes (README "Exit codes" is the table users read; tests/test_cli_pipeline.py proves each one):
0 ok · 1 error · 2 changes present (plan --detailed-exitcode) or drift (check) · 3 stale plan · 4 state locked ·
64 usage error (unknown option, bad value, missing argument: click's own errors; never 2, which pipelines read as
"changes present") · 130 interrupted · 141 stdout closed by its reader (``| head``: quiet, drplan.errors).
Command modules (commands, state_cmds, demo, failover_cmds) import this module; nothing here imports them: the group
loads a command's module the first time the command is looked up (:data:`COMMANDS`), so ``drplan --help`` and
``drplan version`` start without httpx, jsonschema, asyncio or any family (issue 18: start-up under 300 ms).
"""

from __future__ import annotations

import importlib
import logging
import math
import os
import platform
import re
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

import click
from click.utils import make_default_short_help

from drplan import __version__
from drplan.errors import EXIT_CLOSED_OUTPUT, EXIT_ERROR, EXIT_OK, DrplanError
from drplan.redact import redact

#: A usage error (click's UsageError / BadParameter): its own code so a typo never passes for "changes present" (2).
#: 64 is EX_USAGE of sysexits.h.
EXIT_USAGE = 64
EXIT_INTERRUPTED = 130

LOG_LEVELS = ("error", "warning", "info", "debug")
#: The environment variable that sets the log level when --log-level is not given.
LOG_ENV = "DRPLAN_LOG"


# -- JSON events ----------------------------------------------------------------------------------------------------
class EventStream:
    """With ``--json``, every line drplan writes to stdout is one JSON event: the command's own events, log records
    (retries, throttling, HTTP traces at debug), the error that ended the run, and one final ``summary`` event with
    the counts the command recorded, the duration and the exit code. Without ``--json`` it does nothing."""

    def __init__(self) -> None:
        self.enabled = False
        self.started = time.monotonic()
        self.command = ""
        self.counts: dict[str, Any] = {}

    def reset(self, command: str) -> None:
        self.enabled = False
        self.started = time.monotonic()
        self.command = command
        self.counts = {}

    def emit(self, event: dict[str, Any]) -> None:
        if self.enabled:
            from drplan.render.jsonout import event_line  # not at start-up: `drplan --help` never needs it

            click.echo(event_line(event))

    def finish(self, code: int) -> None:
        if self.enabled:
            level = "info" if code in (0, 2) else "error"
            self.emit({"type": "summary", "level": level, "command": self.command, "exit_code": code,
                       "duration_s": round(time.monotonic() - self.started, 3), "counts": self.counts,
                       "message": f"drplan {self.command} exited with {code}"})


#: The one stream of the running command (a process runs one command; the in-process test harness runs them in turn).
events = EventStream()


def json_mode(enabled: bool) -> None:
    """Switch the running command to JSON events on stdout (``--json``)."""
    events.enabled = enabled
    _configure_logging(_LOG_STATE["level"])


# -- logging --------------------------------------------------------------------------------------------------------
class _Handler(logging.Handler):
    """drplan's log records: plain ``drplan: <level>: <message>`` lines on stderr, or JSON events on stdout with
    ``--json``. Looks up click's streams per record, so a captured or replaced stdout/stderr is honoured."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = redact(record.getMessage())
            if events.enabled:
                event: dict[str, Any] = {"type": getattr(record, "event_type", "log"),
                                         "level": record.levelname.lower(), "message": message,
                                         "logger": record.name}
                event.update(getattr(record, "fields", {}) or {})
                events.emit(event)
            else:
                click.echo(f"drplan: {record.levelname.lower()}: {message}", err=True)
        except Exception:  # noqa: BLE001 - logging never ends a run
            self.handleError(record)


_HANDLER = _Handler()
_LOG_STATE: dict[str, str] = {"level": "warning"}


def _configure_logging(level: str) -> None:
    _LOG_STATE["level"] = level
    logger = logging.getLogger("drplan")
    if _HANDLER not in logger.handlers:
        logger.addHandler(_HANDLER)
    logger.propagate = False
    # JSON events carry info records (retries are warnings either way); plain stderr defaults to warnings only
    logger.setLevel(getattr(logging, level.upper()))


def log_level_from(value: str | None) -> str:
    """``--log-level`` if given, else ``$DRPLAN_LOG``, else warning; a bad value is a usage error naming its source."""
    if value is not None:
        return value
    env = os.environ.get(LOG_ENV, "").strip().lower()
    if not env:
        return "warning"
    if env not in LOG_LEVELS:
        raise click.UsageError(f"{LOG_ENV}={env!r} is not a log level; use one of {', '.join(LOG_LEVELS)}")
    return env


def _set_log_level(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None or ctx.parent is None:  # the group's option applies the env default; a command's overrides
        _configure_logging(log_level_from(value))
    return value


log_level_option = click.option(
    "--log-level", type=click.Choice(LOG_LEVELS, case_sensitive=False), expose_value=False, is_eager=True,
    callback=_set_log_level,
    help=f"error, warning (default), info, or debug (one HTTP trace line per request); also ${LOG_ENV}.")


# -- durations --------------------------------------------------------------------------------------------------------
_DURATION = re.compile(r"(?P<n>\d+(?:\.\d+)?)(?P<unit>ms|s|m|h)?")


class Duration(click.ParamType):  # type: ignore[type-arg]
    """Terraform's durations: ``30s``, ``5m``, ``1h``, ``500ms``, or a plain number of seconds. Negative numbers,
    ``nan`` and ``inf`` are refused (a usage error)."""

    name = "duration"
    _scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            seconds = float(value)
        else:
            m = _DURATION.fullmatch(str(value).strip().lower())
            if not m:
                self.fail(f"{value!r} is not a duration; use e.g. 30s, 5m, 1h or a number of seconds", param, ctx)
            seconds = float(m.group("n")) * self._scale[m.group("unit")]
        if not math.isfinite(seconds) or seconds < 0:
            self.fail(f"{value!r} is not a duration; use e.g. 30s, 5m, 1h or a number of seconds", param, ctx)
        return seconds


DURATION = Duration()


# -- the group --------------------------------------------------------------------------------------------------------
def terraform_spellings(args: Sequence[str]) -> list[str]:
    """Accept Terraform's single-dash long options: ``-out=FILE`` / ``-out FILE`` (else click reads ``-o ut=FILE``),
    ``-lock-timeout=5m``, ``-auto-approve``, ``-detailed-exitcode``, ``-replace=ADDRESS``. Anything after ``--`` is
    left alone."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            out.extend(args[i:])
            break
        m = re.fullmatch(r"-(out|lock-timeout|auto-approve|detailed-exitcode|allow-delete|target|exclude|replace)(=.*)?",
                         arg)
        out.append(f"-{arg}" if m else arg)
    return out


#: Every command defined outside this module: its name, the module that registers it on :data:`cli`, and its one-line
#: help for ``drplan --help`` (so listing the commands imports none of them; tests/cli/test_startup.py checks that each
#: line is the command's own short help, so the two cannot drift).
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("drplan.cli.commands",
                 "Check a DR spec (schema and semantics) without contacting any service."),
    "plan": ("drplan.cli.commands",
             "Refresh the live resources and the state, and show (and save) what apply would do."),
    "show": ("drplan.cli.commands", "Show a saved plan (after checking its digest and schema)."),
    "apply": ("drplan.cli.commands",
              "Apply exactly a reviewed plan (or a SPEC: plan, confirm on a terminal or --auto-approve, apply), "
              "journaling every step; resumes if interrupted."),
    "check": ("drplan.cli.commands",
              "Read-only drift check for scheduled pipelines: exit 0 in sync, 2 on drift, 1 on error."),
    "emulator": ("drplan.cli.commands",
                 "Run the local multi-region emulator of the services (see drplan/emulator/README.md)."),
    "state": ("drplan.cli.state_cmds", "Inspect and repair the state (local file or Azure blob)."),
    "adopt": ("drplan.cli.state_cmds",
              "Record an existing target copy in state at ADDRESS, after checking live that it matches its source."),
    "demo": ("drplan.cli.demo", "Start the bundled emulator, plan, apply, and plan again (no changes)."),
    "output": ("drplan.cli.failover_cmds",
               "The failover map: for every protected asset, the primary and each secondary (endpoint, region, ids, "
               "key variable)."),
    "drill": ("drplan.cli.failover_cmds",
              "Read-only DR drill: send a sample to each copy and to its source and compare the answers."),
}


class DrplanGroup(click.Group):
    """The top-level group: Terraform spellings, click's usage errors mapped to :data:`EXIT_USAGE`, and commands
    loaded lazily: a command's module is imported when the command is looked up (to run it, or for its own
    ``--help``), never to list the commands.

    ``after_load``: called once after a command module was imported (``drplan.cli.main`` freezes the garbage
    collector there: what the command imported is never garbage)."""

    after_load: Callable[[], None] | None = None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(COMMANDS[cmd_name][0])  # registers the command on this group
            if self.after_load is not None:
                self.after_load()
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's listing, with the one-line help of commands not loaded yet taken from :data:`COMMANDS`."""
        limit = formatter.width - 6 - max((len(n) for n in self.list_commands(ctx)), default=0)
        rows: list[tuple[str, str]] = []
        for name in self.list_commands(ctx):
            cmd = self.commands.get(name)
            if cmd is not None and cmd.hidden:
                continue
            rows.append((name, cmd.get_short_help_str(limit) if cmd is not None
                         else make_default_short_help(COMMANDS[name][1], limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        argv = terraform_spellings(list(sys.argv[1:] if args is None else args))
        if not standalone_mode:
            return super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            exc.show()
            self._report_usage(exc)
            sys.exit(EXIT_USAGE)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.exceptions.Abort as exc:
            interrupted = isinstance(exc.__cause__, KeyboardInterrupt)
            click.echo("Interrupted." if interrupted else "Aborted.", err=True)
            sys.exit(EXIT_INTERRUPTED if interrupted else EXIT_ERROR)
        sys.exit(code if isinstance(code, int) else 0)

    @staticmethod
    def _report_usage(exc: click.UsageError) -> None:
        if events.enabled:
            events.emit({"type": "error", "level": "error", "message": redact(exc.format_message()),
                         "exit_code": EXIT_USAGE})
            events.finish(EXIT_USAGE)


T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` for the commands, whose results are large (a plan of 60,000 changes). ``asyncio.run`` puts its
    SIGINT handler back with ``signal.getsignal``, which builds an error message holding ``repr`` of the finished main
    task, result included: a full repr of the plan, 0.2 s at 6,000 changes and growing with it. Here the main task
    returns None and the result comes back through a box."""
    import asyncio  # not at start-up: `drplan --help` and `drplan version` never need an event loop

    box: list[T] = []

    async def main() -> None:
        box.append(await coro)

    asyncio.run(main())
    return box[0]


def run_command(fn: Callable[..., int], *args: Any, **kwargs: Any) -> None:
    """Run a command function and exit with its code; the one place exceptions become exit codes. With ``--json``
    the error is a JSON event on stdout (and on stderr as a line, for people reading CI logs) and a summary event
    ends the stream."""
    try:
        code = fn(*args, **kwargs)
    except DrplanError as exc:
        _error(f"Error: {exc}", exc.__class__.__name__)
        code = exc.exit_code
    except KeyboardInterrupt:
        _error("Interrupted. The journal keeps what was done; run the same command again to resume.", "Interrupted")
        code = EXIT_INTERRUPTED
    except BrokenPipeError:
        # stdout was closed by its reader (drplan plan ... | head): nothing is wrong with the run, and there is no one
        # left to tell. Quiet, as other Unix tools; later writes (and the interpreter's final flush) go nowhere.
        _silence_stdout()
        sys.exit(EXIT_CLOSED_OUTPUT)
    except click.exceptions.Exit:
        raise
    except click.UsageError:
        raise
    except click.ClickException:
        raise
    except Exception as exc:  # noqa: BLE001 - last resort: a readable, redacted line instead of a traceback
        if os.environ.get("DRPLAN_DEBUG"):
            raise
        _error(f"Error: internal error: {exc.__class__.__name__}: {redact(str(exc))} "
               "(set DRPLAN_DEBUG=1 for a traceback)", "InternalError")
        code = EXIT_ERROR
    events.finish(code)
    sys.exit(code)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file descriptor (an in-process test runner)
        pass


def _error(line: str, kind: str) -> None:
    click.echo(line, err=True)
    events.emit({"type": "error", "level": "error", "error": kind, "message": line.removeprefix("Error: ")})


def _start(ctx: click.Context) -> None:
    events.reset(ctx.invoked_subcommand or "")


@click.group(cls=DrplanGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="drplan")
@log_level_option
@click.pass_context
def cli(ctx: click.Context) -> None:
    """drplan: plan and apply disaster-recovery copies of custom Azure AI models.

    \b
    Exit codes: 0 ok, 1 error, 2 changes present (plan --detailed-exitcode) or drift (check),
                3 stale plan, 4 state locked by another run, 64 usage error, 130 interrupted.
    """
    _start(ctx)


def version_cmd(as_json: bool) -> int:
    """Print drplan's version (and Python's); with ``as_json`` one JSON event (then the summary event)."""
    if as_json:
        json_mode(True)
        events.emit({"type": "version", "version": __version__, "python": platform.python_version(),
                     "message": f"drplan {__version__}"})
    else:
        click.echo(f"drplan {__version__} (Python {platform.python_version()})")
    return EXIT_OK


@cli.command("version")
@click.option("--json", "json_events", is_flag=True, help="Print JSON events (a version event, then a summary).")
def version(json_events: bool) -> None:
    """Print the drplan version."""
    run_command(version_cmd, json_events)
