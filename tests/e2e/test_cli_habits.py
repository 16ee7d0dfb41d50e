"""Pipeline-grade CLI (issue 17): exit codes that cannot be confused, Terraform's spellings, logs, retries and JSON
events, and the confirmation of ``apply SPEC``."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from e2e_support import ROOT, cli_env, read_json

from drplan import errors
from drplan.cli.app import DURATION, EXIT_USAGE, terraform_spellings
from drplan.errors import EXIT_CHANGES, EXIT_ERROR, EXIT_LOCKED, EXIT_OK, EXIT_STALE_PLAN

ONE_TARGET = dict(classifiers="[]", targets='["west"]')


# -- 1. exit codes ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [
    ("plan", "dr.toml", "--no-such-option"),
    ("plan",),                                             # missing argument
    ("apply", "plan.json", "--lock-timeout", "nan"),
    ("apply", "plan.json", "--lock-timeout", "-5s"),
    ("plan", "dr.toml", "--format", "yaml"),
    ("no-such-command",),
    ("state", "rm", "--spec", "dr.toml"),                  # ADDRESS... missing
])
def test_usage_errors_have_their_own_exit_code_never_2(args, spec_file, drplan):
    spec_file(**ONE_TARGET)
    r = drplan(*args)
    assert r.code == EXIT_USAGE == 64, r.text
    assert "Traceback" not in r.text and ("Error" in r.err or "Usage" in r.err)


def test_usage_error_with_json_is_an_event_too(spec_file, drplan):
    spec_file(**ONE_TARGET)
    r = drplan("plan", "dr.toml", "--json", "--lock-timeout", "5m")  # plan has no --lock-timeout
    assert r.code == EXIT_USAGE


def test_exit_codes_0_1_2(emu, spec_file, drplan, tmp_path):
    spec_file(**ONE_TARGET)
    assert drplan("validate", "dr.toml").code == EXIT_OK
    assert drplan("plan", "dr.toml").code == EXIT_OK                        # changes, but no --detailed-exitcode
    assert drplan("plan", "dr.toml", "--detailed-exitcode").code == EXIT_CHANGES
    assert drplan("check", "dr.toml").code == EXIT_CHANGES                  # drift: nothing copied yet
    (tmp_path / "bad.toml").write_text("version = 1\n[resources.x]\nfamily = 3\n")
    r = drplan("validate", "bad.toml")
    assert r.code == EXIT_ERROR and "bad.toml" in r.err
    assert drplan("show", "missing.json").code == EXIT_ERROR
    assert drplan("apply", "dr.toml", "--auto-approve").code == EXIT_OK
    assert drplan("plan", "dr.toml", "--detailed-exitcode").code == EXIT_OK
    assert drplan("check", "dr.toml").code == EXIT_OK


def test_exit_code_130_when_interrupted(spec_file, tmp_path, monkeypatch):
    spec_file(**ONE_TARGET)

    async def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr("drplan.core.make_plan", interrupted)
    monkeypatch.chdir(tmp_path)
    from drplan.cli.main import command_line

    r = CliRunner().invoke(command_line(), ["plan", "dr.toml"], env=cli_env())
    assert r.exit_code == 130 and "run the same command again" in r.stderr


def test_readme_exit_code_table_names_every_code_the_cli_uses():
    """The README's table is the one users read: every code drplan can exit with is in it, and it has no other."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Exit codes", 1)[1].split("\n## ", 1)[0]
    table = {int(m.group(1)) for m in re.finditer(r"^\| (\d+) \|", section, re.M)}
    codes = {EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_STALE_PLAN, EXIT_LOCKED, EXIT_USAGE, 130}
    codes |= {v for k, v in vars(errors).items() if k.startswith("EXIT_")}
    assert table == codes
    for command in ("validate", "plan", "show", "apply", "check", "state", "adopt", "emulator", "demo"):
        assert re.search(rf"^\| `drplan {command}[ `]", section, re.M), f"no exit-code row for drplan {command}"


# -- 5. Terraform habits ---------------------------------------------------------------------------------------------
def test_terraform_spellings_are_rewritten_only_where_meant():
    assert terraform_spellings(["plan", "dr.toml", "-out=plan.json"]) == ["plan", "dr.toml", "--out=plan.json"]
    assert terraform_spellings(["plan", "-out", "p.json", "-o", "x"]) == ["plan", "--out", "p.json", "-o", "x"]
    assert terraform_spellings(["apply", "-lock-timeout=5m", "-auto-approve"]) == [
        "apply", "--lock-timeout=5m", "--auto-approve"]
    assert terraform_spellings(["state", "rm", "--", "-out=x"]) == ["state", "rm", "--", "-out=x"]
    assert terraform_spellings(["plan", "dr.toml", "-replace=a/b/c/d", "-replace", "e"]) == [
        "plan", "dr.toml", "--replace=a/b/c/d", "--replace", "e"]


@pytest.mark.parametrize("text,seconds", [("30s", 30), ("5m", 300), ("1h", 3600), ("500ms", 0.5), ("12", 12),
                                          ("2.5", 2.5), ("0", 0)])
def test_lock_timeout_durations(text, seconds):
    assert DURATION.convert(text, None, None) == seconds


def test_out_equals_file_writes_the_plan(emu, spec_file, drplan, tmp_path):
    spec_file(**ONE_TARGET)
    r = drplan("plan", "dr.toml", "-out=plan.json")
    assert r.code == 0, r.text
    assert read_json(tmp_path / "plan.json")["applyable"] and not (tmp_path / "ut=plan.json").exists()
    r = drplan("apply", "plan.json", "-lock-timeout=30s")
    assert r.code == 0, r.text


def test_apply_spec_asks_for_yes_on_a_terminal_and_refuses_without_one(emu, spec_file, drplan, tmp_path,
                                                                         monkeypatch):
    spec_file(**ONE_TARGET)
    r = drplan("apply", "dr.toml")  # stdin is not a terminal
    assert r.code == EXIT_ERROR and "no terminal to confirm on" in r.err and "--auto-approve" in r.err
    assert emu.models("west") == {}

    from drplan.cli.main import command_line

    monkeypatch.setattr("drplan.cli.commands._interactive", lambda: True)
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(command_line(), ["apply", "dr.toml"], input="no\n", env=cli_env())
    assert r.exit_code == EXIT_ERROR and "cancelled" in r.stderr and "Only 'yes'" in r.stdout
    assert emu.models("west") == {}
    r = CliRunner().invoke(command_line(), ["apply", "dr.toml"], input="yes\n", env=cli_env())
    assert r.exit_code == EXIT_OK, r.output
    assert set(emu.models("west")) == {"invoice-2024", "receipt-2024", "po"}


def test_a_plan_with_errors_is_saved_and_apply_refuses_it(emu, spec_file, drplan, tmp_path):
    spec_file(targets='["plain"]', classifiers="[]")  # CMK source -> Microsoft-managed target, not allowed
    r = drplan("plan", "dr.toml", "-o", "plan.json", "--format", "markdown")
    assert r.code == EXIT_ERROR and "Encryption downgrade refused" in r.out
    assert "allowed by the rule" not in r.out and "refuses it until the errors are fixed" in r.out
    assert read_json(tmp_path / "plan.json")["applyable"] is False
    r = drplan("apply", "plan.json")
    assert r.code == EXIT_ERROR and "encryption downgrade refused" in r.err
    assert emu.models("plain") == {}


def test_apply_digest_pins_the_reviewed_plan(emu, spec_file, drplan, tmp_path):
    spec_file(**ONE_TARGET)
    assert drplan("plan", "dr.toml", "-o", "plan.json").code == 0
    r = drplan("apply", "plan.json", "--digest", "sha256:" + "0" * 64)
    assert r.code == EXIT_ERROR and "not the approved" in r.err and emu.models("west") == {}
    r = drplan("apply", "plan.json", "--digest", read_json(tmp_path / "plan.json")["digest"])
    assert r.code == 0, r.text


# -- 4. logs, retries, JSON events -----------------------------------------------------------------------------------
def test_debug_log_traces_each_request_and_retries_show_as_they_happen(emu, spec_file, drplan):
    spec_file(**ONE_TARGET)
    # a flaky target: the emulator's dice are seeded, so the same requests meet the same 503s on every run
    emu.admin("PUT", "faults", {"account": "west", "error_rate": 0.5})
    r = drplan("--log-level", "debug", "plan", "dr.toml")
    emu.admin("PUT", "faults", {"account": "west", "error_rate": 0.0})
    assert r.code == EXIT_OK, r.text
    traces = [line for line in r.err.splitlines() if line.startswith("drplan: debug: GET ")]
    assert traces and all(re.search(r"GET http://127\.0\.0\.1:\d+/\S+ \d{3} \d+ ms request id \S+", t) for t in traces)
    assert any(" 503 " in t for t in traces) and any(" 200 " in t for t in traces)
    retries = [line for line in r.err.splitlines() if "retry 1/7" in line]
    assert retries and retries[0].startswith("drplan: warning: ") and "HTTP 503" in retries[0]
    assert drplan("plan", "dr.toml").err == ""  # the default level (warning): nothing to say without retries
    assert "?" not in "".join(t.split("?api-version=")[0] for t in traces)  # no other query string
    for key in ("e2e-key",):
        assert key not in r.text


def test_log_level_from_the_environment_and_json_events_for_retries(emu, spec_file, drplan):
    spec_file(**ONE_TARGET)
    emu.admin("PUT", "faults", {"account": "west", "error_rate": 0.5})
    r = drplan("plan", "dr.toml", "--json", env={"DRPLAN_LOG": "info"})
    emu.admin("PUT", "faults", {"account": "west", "error_rate": 0.0})
    assert r.code == EXIT_OK, r.text
    events = [json.loads(line) for line in r.out.splitlines()]  # every stdout line is a JSON event
    assert any(e["type"] == "retry" and e["level"] == "warning" and e["attempt"] == 1 for e in events)
    assert events[-1]["type"] == "summary" and events[-1]["exit_code"] == EXIT_OK and "duration_s" in events[-1]
    r = drplan("plan", "dr.toml", "--json", env={"KEY_WEST": "wrong-key-000000"})
    events = [json.loads(line) for line in r.out.splitlines()]
    errors = [e for e in events if e["type"] == "error"]
    assert r.code == EXIT_ERROR and errors and "HTTP 401" in errors[0]["message"]
    assert events[-1]["type"] == "summary" and events[-1]["exit_code"] == EXIT_ERROR
    assert "wrong-key-000000" not in r.text
    r = drplan("plan", "dr.toml", env={"DRPLAN_LOG": "loud"})
    assert r.code == EXIT_USAGE and "DRPLAN_LOG" in r.err


def test_emulator_log_level_is_accepted(drplan, tmp_path):
    (tmp_path / "bad.toml").write_text("[accounts.a]\nregion = 3\n")
    r = drplan("emulator", "--config", "bad.toml", "--log-level", "info")
    assert r.code == EXIT_ERROR and "bad.toml" in r.err  # a bad config: 1, never 2


# -- 6. renames and orphans ------------------------------------------------------------------------------------------
def test_state_mv_after_renaming_a_rule_keeps_the_copies_and_orphans_are_never_hidden(emu, spec_file, drplan,
                                                                                       tmp_path):
    path = spec_file(**ONE_TARGET)
    assert drplan("apply", "dr.toml", "--auto-approve").code == 0
    copies = {m: emu.models("west")[m]["createdDateTime"] for m in emu.models("west")}
    path.write_text(path.read_text().replace('name = "prod"', 'name = "finance"'))
    r = drplan("plan", "dr.toml")
    assert r.code == 0, r.text
    assert "3 state records no rule claims (orphaned" in r.out and "orphaned: recorded in state by rule 'prod'" in r.out
    assert "drplan state mv prod/west/document-model/po <new-rule>/west/document-model/po" in r.out

    for model_id in ("invoice-2024", "receipt-2024", "po"):
        r = drplan("state", "mv", f"prod/west/document-model/{model_id}", f"finance/west/document-model/{model_id}",
                   "--spec", "dr.toml", "--lock-timeout", "5s")
        assert r.code == 0 and "the copy itself is untouched" in r.out, r.text
    r = drplan("plan", "dr.toml", "--detailed-exitcode")
    assert r.code == 0 and "orphaned" not in r.out and "No changes. 3 copies in sync." in r.out, r.text
    state = read_json(tmp_path / "drplan.state.json")
    assert sorted(state["resources"]) == [f"finance/west/document-model/{m}" for m in ("invoice-2024", "po",
                                                                                        "receipt-2024")]
    assert {rec["rule"] for rec in state["resources"].values()} == {"finance"}
    assert {m: emu.models("west")[m]["createdDateTime"] for m in emu.models("west")} == copies  # nothing recopied

    r = drplan("state", "mv", "finance/west/document-model/po", "finance/west/document-model/po2", "--spec", "dr.toml")
    assert r.code == EXIT_ERROR and "only the rule and the target resource" in r.err
    r = drplan("state", "mv", "nope/west/document-model/po", "finance/north/document-model/po", "--spec", "dr.toml")
    assert r.code == EXIT_ERROR and "not in state" in r.err
