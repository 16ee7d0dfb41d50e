"""The CI examples use only documented drplan commands and options."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from click.testing import CliRunner

from drplan.cli.main import cli

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "ci"


def drplan_invocations() -> list[list[str]]:
    calls = []
    for path in sorted(EXAMPLES.glob("*.yml")):
        for line in path.read_text(encoding="utf-8").splitlines():
            m = re.search(r"(?:^|[\s:|])drplan ((?:validate|plan|show|apply|check|state|demo|emulator)\b[^>#|]*)", line)
            if m:
                calls.append(shlex.split(m.group(1).strip()))
    return calls


def test_ci_examples_only_use_documented_commands_and_options():
    from drplan.cli import commands, state_cmds  # noqa: F401 - registers the commands

    calls = drplan_invocations()
    assert len(calls) >= 8
    for args in calls:
        cmd = cli.commands[args[0]]
        known = {opt for p in cmd.params for opt in getattr(p, "opts", [])}
        for arg in args[1:]:
            if arg.startswith("-"):
                assert arg.split("=")[0] in known, f"drplan {args[0]}: unknown option {arg}"
        # and the command parses (help only, nothing runs)
        assert CliRunner().invoke(cli, [args[0], "--help"]).exit_code == 0
