"""Start-up stays light (issue 18): ``drplan --help`` and ``drplan version`` import no command module, no HTTP client,
no schema validator and no family. A property of what is imported, not a timing (benchmarks/bench_startup.py times
it). Each check runs drplan in a fresh interpreter, as a user's shell does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from drplan import __version__
from drplan.cli.app import COMMANDS

ROOT = Path(__file__).resolve().parents[2]

#: Imported by a command's work, never by listing commands or printing the version.
HEAVY = ("httpx", "jsonschema", "fastjsonschema", "asyncio", "drplan.families", "drplan.azure", "drplan.plan",
         "drplan.spec", "drplan.cli.commands", "drplan.cli.state_cmds", "drplan.cli.demo", "drplan.cli.failover_cmds")

_PROBE = """
import json, sys
sys.argv = ["drplan", *json.loads(sys.argv[1])]
from drplan.cli.main import main
try:
    main()
except SystemExit as exc:
    code = exc.code
sys.stdout.flush()
print("\\n@@" + json.dumps({"code": code, "modules": sorted(k for k, v in sys.modules.items() if v is not None)}),
      file=sys.stderr)
"""


def _run(*args: str) -> tuple[int, list[str], str]:
    p = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(list(args))], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    report = json.loads(p.stderr.rsplit("\n@@", 1)[1])
    return report["code"], report["modules"], p.stdout


def _heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]


@pytest.mark.parametrize("args", [("--help",), ("-h",), ("version",), ("version", "--json"), ("--version",)])
def test_help_and_version_import_nothing_heavy(args: tuple[str, ...]) -> None:
    code, modules, _ = _run(*args)
    assert code in (0, None)
    assert _heavy(modules) == [], f"drplan {' '.join(args)} imported {_heavy(modules)}"


def test_a_command_loads_its_module_when_run() -> None:
    code, modules, out = _run("validate", "--help")
    assert code in (0, None)
    assert "drplan.cli.commands" in modules and "Check a DR spec" in out
    # httpx loaded, without what drplan never uses (main's UNUSED_IMPORTS: trio, httpx's own command line)
    assert "httpx" in modules and "trio" not in modules and "httpx._main" not in modules


def test_version_prints_the_version() -> None:
    r = CliRunner().invoke(_group(), ["version"])
    assert r.exit_code == 0 and r.output == f"drplan {__version__} (Python {sys.version.split()[0]})\n"
    r = CliRunner().invoke(_group(), ["version", "--json"])
    events = [json.loads(line) for line in r.output.splitlines()]
    assert r.exit_code == 0
    assert [e["type"] for e in events] == ["version", "summary"]
    assert events[0]["version"] == __version__ and events[1]["exit_code"] == 0


def _group() -> click.Group:
    from drplan.cli.main import command_line

    return command_line()


def test_lazy_listing_matches_the_commands_own_help() -> None:
    """The one-line help in COMMANDS is each command's own short help, and every registered command is listed."""
    group = _group()
    ctx = click.Context(group)
    lazy_help = group.get_help(ctx)
    for name in COMMANDS:
        cmd = group.get_command(ctx, name)
        assert cmd is not None, name
        assert cmd.get_short_help_str(10_000) == COMMANDS[name][1], name
    assert set(group.commands) == set(COMMANDS) | {"version"}
    assert group.get_help(click.Context(group)) == lazy_help  # all loaded now: the same listing
