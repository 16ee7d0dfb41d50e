"""The command line refuses instead of guessing, and never shows a traceback (issue 19): a plan told from a spec by
content, -o never over the spec or the state, emulator ports out of range and an unwritable --url-file, a closed
stdout. In-process (CliRunner) except the closed pipe, which needs a real process and a real pipe."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from click.testing import CliRunner

from drplan.cli.main import command_line
from drplan.errors import EXIT_CLOSED_OUTPUT

SPEC = textwrap.dedent("""
    version = 1
    [state]
    path = "drplan.state.json"
    [resources.src]
    family = "document-intelligence"
    endpoint = "https://src.cognitiveservices.azure.com"
    region = "eastus"
    resource_id = "/subscriptions/s/resourceGroups/g/providers/Microsoft.CognitiveServices/accounts/src"
    api_version = "2024-11-30"
    key_env = "SRC_KEY"
    [resources.dst]
    family = "document-intelligence"
    endpoint = "https://dst.cognitiveservices.azure.com"
    region = "westus"
    resource_id = "/subscriptions/s/resourceGroups/g/providers/Microsoft.CognitiveServices/accounts/dst"
    api_version = "2024-11-30"
    key_env = "SRC_KEY"
    [[replicate]]
    name = "r"
    source = "src"
    targets = ["dst"]
    models = ["*"]
""")


def invoke(*args: str):
    return CliRunner().invoke(command_line(), list(args), env={"SRC_KEY": "abc123"}, catch_exceptions=False)


def test_o_refuses_to_overwrite_the_spec_or_the_state(tmp_path):
    (tmp_path / "dr.toml").write_text(SPEC)
    for out in ("dr.toml", "drplan.state.json", "./sub/../dr.toml"):
        r = invoke("plan", "dr.toml", "-o", out)
        assert r.exit_code == 1, r.output
        assert "refusing to write the plan over" in r.output and "Traceback" not in r.output
    assert (tmp_path / "dr.toml").read_text() == SPEC and not (tmp_path / "drplan.state.json").exists()


def test_a_plan_saved_as_toml_is_read_as_a_plan(tmp_path):
    (tmp_path / "plan.toml").write_text('{"format_version": "1", "digest": "sha256:0"}')
    r = invoke("apply", "plan.toml")
    assert r.exit_code == 1
    assert "is a spec" not in r.output and "digest does not match" in r.output


def test_emulator_port_out_of_range_is_a_usage_error(tmp_path):
    r = invoke("emulator", "--config", "x.toml", "--port", "99999")
    assert r.exit_code not in (0, 2) and "99999" in r.output and "Traceback" not in r.output


def test_emulator_with_an_unwritable_url_file_is_a_clear_error(tmp_path):
    config = Path(__file__).parents[2] / "drplan" / "demo" / "emulator.toml"
    r = invoke("emulator", "--config", str(config), "--url-file", str(tmp_path / "missing-dir" / "url"))
    assert r.exit_code == 1
    assert "--url-file" in r.output and "cannot write it" in r.output and "Traceback" not in r.output


def test_a_closed_stdout_ends_quietly_with_its_exit_code(tmp_path):
    (tmp_path / "dr.toml").write_text(SPEC)
    code = ("import sys, os\n"
            "r, w = os.pipe(); os.close(r); os.dup2(w, 1)\n"  # stdout: a pipe whose reader is gone
            "sys.argv = ['drplan', 'validate', 'dr.toml']\n"
            "from drplan.cli.main import main; main()\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == EXIT_CLOSED_OUTPUT, proc.stderr
    assert proc.stderr == ""
