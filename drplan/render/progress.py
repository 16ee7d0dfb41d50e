"""Apply progress: a live rich view on a terminal, plain lines in CI (no TTY), JSON lines with --json.

All three consume the executor's events ({type, address, step, message, percent, level, ...}); none calls a service.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from drplan.render.jsonout import event_line


class LinePrinter:
    """One line per event on stderr, with elapsed time. ``quiet``: only errors."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet
        self.start = time.monotonic()

    def __enter__(self) -> LinePrinter:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __call__(self, event: dict[str, Any]) -> None:
        level = event.get("level", "info")
        if level == "debug" or (self.quiet and level != "error"):
            return
        elapsed = time.monotonic() - self.start
        where = event.get("address", "")
        click.echo(f"[{elapsed:6.1f}s] {where}{': ' if where else ''}{event.get('message', '')}", err=True)


class JsonPrinter(LinePrinter):
    """One JSON document per event on stdout (level, message, timestamp, type, address, operation URL, request id):
    with --json every stdout line is an event, and nothing else is written there."""

    def __call__(self, event: dict[str, Any]) -> None:
        click.echo(event_line(event))


class LiveProgress:
    """A rich live view: an overall bar plus one row per change in flight (step, elapsed time, service percent)."""

    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
            console=self.console, transient=False,
        )
        self.overall = self.progress.add_task(f"apply: 0/{total} changes", total=total)
        self.total = total
        self.done = 0
        self.rows: dict[str, Any] = {}

    def __enter__(self) -> LiveProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, event: dict[str, Any]) -> None:
        addr = event.get("address")
        kind = event.get("type")
        if kind in ("change_done", "change_failed") and addr:
            row = self.rows.pop(addr, None)
            if row is not None:
                self.progress.remove_task(row)
            self.done += 1
            self.progress.update(self.overall, advance=1, description=f"apply: {self.done}/{self.total} changes")
            if kind == "change_failed":
                self.console.print(f"[red]failed[/red] {addr}: {event.get('message', '')}", markup=True,
                                   highlight=False)
            return
        if event.get("level") == "warning" and addr:
            self.console.print(f"[yellow]warning[/yellow] {addr}: {event.get('message', '')}", markup=True,
                               highlight=False)
        if kind == "step" and addr:
            row = self.rows.get(addr)
            if row is None:
                row = self.rows[addr] = self.progress.add_task(addr, total=100)
            desc = f"  {addr}: {event.get('step', '')}"
            pct = event.get("percent")
            self.progress.update(row, description=desc, completed=pct if pct is not None else None)


def make_printer(*, total: int, json_events: bool, quiet: bool):  # type: ignore[no-untyped-def]
    if json_events:
        return JsonPrinter()
    if not quiet and sys.stderr.isatty():
        return LiveProgress(total)
    return LinePrinter(quiet=quiet)
