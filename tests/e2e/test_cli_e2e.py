"""The real CLI against a real emulator process: plan -> apply -> plan, stale and tampered plans, downgrade rules,
locks, secrets, classifiers, Form Recognizer v3, auto-approve."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

from e2e_support import KEYS, ROOT, SLOW_COPY, read_json

from drplan.errors import EXIT_ERROR
from drplan.lineage import without_lineage_tags

EXPECTED_MODELS = {"invoice-2024", "receipt-2024", "po"}


def test_plan_apply_plan_converges(emu, spec_file, drplan, tmp_path):
    """Document Intelligence end to end: every run a real process, copies polled while they run."""
    emu.admin("PUT", "settings", SLOW_COPY)
    spec_file()
    r = drplan("plan", "dr.toml", "-o", "plan.json", "--detailed-exitcode", process=True)
    assert r.code == 2, r.text
    assert "Plan: 8 to create, 0 to replace, 0 to delete, 0 unchanged." in r.out
    assert "prod/west/document-model/invoice-2024" in r.out
    assert "draft-x" not in r.out  # not selected by the rule

    r = drplan("apply", "plan.json", process=True)
    assert r.code == 0, r.text
    assert "Apply complete: 8 change(s) applied." in r.out

    src = emu.models("src")
    for target in ("west", "north"):
        copies = emu.models(target)
        assert set(copies) == EXPECTED_MODELS
        for mid in EXPECTED_MODELS:  # a copy gets its own createdDateTime and keeps expirationDateTime (§2.4)
            assert copies[mid]["expirationDateTime"] == src[mid]["expirationDateTime"]
            assert copies[mid]["tags"]["drplan-source-id"] == mid
        assert copies["invoice-2024"]["description"] == "Invoices"
        assert without_lineage_tags(copies["invoice-2024"]["tags"]) == {"team": "ap"}
        assert set(emu.classifiers(target)) == {"router"}

    r = drplan("plan", "dr.toml", "--detailed-exitcode", process=True)
    assert r.code == 0, r.text
    assert "No changes. 8 copies in sync." in r.out

    state = read_json(tmp_path / "drplan.state.json")
    assert len(state["resources"]) == 8 and state["journal"] == {}
    r = drplan("state", "list", "--spec", "dr.toml", process=True)
    assert r.code == 0 and "prod/north/document-classifier/router" in r.out
    r = drplan("state", "show", "prod/west/document-model/po", "--spec", "dr.toml", process=True)
    assert r.code == 0 and json.loads(r.out)["record"]["source_fingerprint"].startswith("created=2024-06-20")


def test_reapplying_a_finished_plan_is_a_no_op(emu, spec_file, drplan):
    spec_file(classifiers="[]", targets='["west"]')
    assert drplan("plan", "dr.toml", "-o", "plan.json").code == 0
    assert drplan("apply", "plan.json").code == 0
    copies = emu.route_count("src", "documentModels:copyTo")
    r = drplan("apply", "plan.json")
    assert r.code == 0, r.text
    assert "already applied" in r.out
    assert emu.route_count("src", "documentModels:copyTo") == copies


def test_stale_plan_is_refused(emu, spec_file, drplan):
    spec_file(classifiers="[]", targets='["west"]')
    assert drplan("plan", "dr.toml", "-o", "first.json").code == 0
    # A second plan of the same state (different options, so a different plan and digest).
    assert drplan("plan", "dr.toml", "-o", "second.json", "--allow-delete").code == 0
    assert drplan("apply", "first.json").code == 0
    r = drplan("apply", "second.json")
    assert r.code == 3, r.text
    assert "the plan was made when there was no state" in r.err and "run drplan plan again" in r.err
    assert "Traceback" not in r.err

    # Same again once state exists: two plans from one serial, the first applied moves the serial on.
    emu.admin("DELETE", "accounts/west/models/po")
    assert drplan("plan", "dr.toml", "-o", "third.json").code == 0
    assert drplan("plan", "dr.toml", "-o", "fourth.json", "--allow-delete").code == 0
    assert drplan("apply", "third.json").code == 0
    r = drplan("apply", "fourth.json")
    assert r.code == 3, r.text
    assert "the plan was made from state serial" in r.err and "(another apply ran since)" in r.err


def test_plan_whose_precondition_no_longer_holds_is_refused(emu, spec_file, drplan):
    spec_file(classifiers="[]", targets='["west"]')
    assert drplan("plan", "dr.toml", "-o", "plan.json").code == 0
    # Someone rebuilds a source model after review: same id, new createdDateTime.
    emu.admin("DELETE", "accounts/src/models/po")
    emu.admin("POST", "accounts/src/models", {"model_id": "po", "created": "2025-01-01T00:00:00Z"})
    r = drplan("apply", "plan.json")
    assert r.code == 3, r.text
    assert "prod/west/document-model/po: the source src/po changed since the plan" in r.err
    assert emu.models("west") == {}  # nothing was copied from a stale plan


def test_tampered_plan_is_refused(emu, spec_file, drplan, tmp_path):
    spec_file(classifiers="[]", targets='["west"]')
    assert drplan("plan", "dr.toml", "-o", "plan.json").code == 0
    doc = read_json(tmp_path / "plan.json")
    doc["changes"][0]["target"]["id"] = "something-else"
    (tmp_path / "plan.json").write_text(json.dumps(doc))
    r = drplan("apply", "plan.json")
    assert r.code == 1 and "edited after it was made" in r.err
    assert emu.models("west") == {}


def test_rebuilt_source_is_replaced(emu, spec_file, drplan):
    spec_file(classifiers="[]", targets='["west"]')
    assert drplan("apply", "dr.toml", "--auto-approve").code == 0
    emu.admin("DELETE", "accounts/src/models/po")
    emu.admin("POST", "accounts/src/models", {"model_id": "po", "created": "2025-01-01T00:00:00Z"})
    r = drplan("plan", "dr.toml", "-o", "plan.json", "--detailed-exitcode")
    assert r.code == 2
    assert "-/+ prod/west/document-model/po  (replace)" in r.out and "rebuilt" in r.out
    assert drplan("apply", "plan.json").code == 0
    assert emu.models("west")["po"]["tags"]["drplan-source-version"].startswith("created=2025-01-01")
    assert drplan("plan", "dr.toml", "--detailed-exitcode").code == 0


def test_out_of_band_deletion_shows_as_drift_and_is_repaired(emu, spec_file, drplan):
    spec_file(classifiers="[]", targets='["west"]')
    assert drplan("apply", "dr.toml", "--auto-approve").code == 0
    emu.admin("DELETE", "accounts/west/models/po")
    r = drplan("plan", "dr.toml", "--detailed-exitcode")
    assert r.code == 2 and "drift" in r.out
    assert drplan("apply", "dr.toml", "--auto-approve").code == 0
    assert set(emu.models("west")) == EXPECTED_MODELS


def test_encryption_downgrade_refused_unless_allowed(emu, spec_file, drplan):
    spec_file(classifiers="[]", targets='["plain"]')
    r = drplan("plan", "dr.toml", "-o", "plan.json")
    assert r.code == 1
    assert "encryption downgrade refused" in r.out and "allow_encryption_downgrade = true" in r.out
    r = drplan("apply", "plan.json")
    assert r.code == 1 and "cannot be applied" in r.err
    assert emu.models("plain") == {}

    spec_file(classifiers="[]", targets='["plain"]', rule_extra="allow_encryption_downgrade = true\n")
    r = drplan("plan", "dr.toml", "-o", "plan.json")
    assert r.code == 0 and "ENCRYPTION DOWNGRADE" in r.out
    assert all(c["flags"]["encryption_downgrade"] for c in read_json_plan(r, "plan.json"))
    r = drplan("apply", "plan.json")
    assert r.code == 0, r.text
    assert set(emu.models("plain")) == EXPECTED_MODELS


def read_json_plan(_r, name):
    from pathlib import Path

    return json.loads(Path(name).read_text())["changes"] if Path(name).exists() else []


def test_held_lock_gives_exit_4_with_holder(emu, spec_file, drplan, tmp_path):
    spec_file(classifiers="[]", targets='["west"]')
    assert drplan("plan", "dr.toml", "-o", "plan.json").code == 0
    lock = {"id": "lock-123", "holder": "alice", "host": socket.gethostname(), "pid": os.getpid(),
            "operation": "apply", "created": "2026-11-23T10:00:00+00:00"}
    (tmp_path / "drplan.state.json.lock").write_text(json.dumps(lock))
    r = drplan("apply", "plan.json", process=True)  # a process of its own: the holder's pid (this one) is another run
    assert r.code == 4, r.text
    assert "locked by alice@" in r.err and "lock-123" in r.err
    assert emu.models("west") == {}


def test_form_recognizer_v3_family(emu, drplan, tmp_path):
    """Form Recognizer v3 end to end: every run a real process, copies polled while they run."""
    from e2e_support import resource_block

    emu.admin("PUT", "settings", SLOW_COPY)
    text = "version = 1\n"
    text += resource_block("frsrc", emu, region="eastus2", family="form-recognizer", api_version="2023-07-31",
                           encryption="microsoft-managed")
    text += resource_block("frdst", emu, region="centralus", family="form-recognizer", api_version="2022-08-31",
                           encryption="microsoft-managed")
    text += '\n[[replicate]]\nname = "forms"\nsource = "frsrc"\ntargets = ["frdst"]\nmodels = ["*"]\n'
    (tmp_path / "dr.toml").write_text(text)
    r = drplan("apply", "dr.toml", "--auto-approve", process=True)
    assert r.code == 0, r.text
    assert set(emu.models("frdst", "formrecognizer", "2022-08-31")) == {"form-a"}
    assert drplan("plan", "dr.toml", "--detailed-exitcode", process=True).code == 0


def test_spec_errors_are_one_readable_message(drplan, tmp_path):
    (tmp_path / "dr.toml").write_text('version = 1\n[resources.a]\nfamily = "nope"\n')
    r = drplan("validate", "dr.toml")
    assert r.code == 1
    assert "dr.toml: resources.a.family: 'nope' is not one of" in r.err
    assert "Traceback" not in r.err


def test_missing_key_is_named_and_nothing_written(emu, spec_file, drplan, tmp_path):
    spec_file(classifiers="[]", targets='["west"]')
    r = drplan("plan", "dr.toml", "-o", "plan.json", keys=False)
    assert r.code == 1 and "environment variable KEY_SRC is not set" in r.err
    assert not (tmp_path / "plan.json").exists()


def test_wrong_key_gives_clear_401_without_the_key(emu, spec_file, drplan):
    spec_file(classifiers="[]", targets='["west"]')
    r = drplan("plan", "dr.toml", env={"KEY_WEST": "wrong-key-000000"})
    assert r.code == 1 and "HTTP 401" in r.err and "check the key" in r.err
    assert "wrong-key-000000" not in r.text


def test_secrets_never_leave_memory(emu, spec_file, drplan, tmp_path):
    """Keys and copy tokens never appear in the plan, the state, stdout or stderr (incl. JSON events) of real
    processes (whatever any library might write to them)."""
    spec_file(targets='["west"]')
    outputs = [drplan("plan", "dr.toml", "-o", "plan.json", "--format", "json", process=True),
               drplan("apply", "plan.json", "--json", process=True),
               drplan("show", "plan.json", process=True),
               drplan("state", "show", "prod/west/document-model/po", "--spec", "dr.toml", process=True)]
    assert all(o.code == 0 for o in outputs), [o.text for o in outputs]
    log = emu.admin("GET", "requests")
    assert any(e["route"] == "documentModels:authorizeCopy" for e in log)
    texts = [o.text for o in outputs] + [(tmp_path / "plan.json").read_text(),
                                         (tmp_path / "drplan.state.json").read_text()]
    blob = "\n".join(texts)
    for key in KEYS.values():
        assert key not in blob
    assert "accessToken" not in blob and "access_token" not in blob.lower()


def test_a_run_in_this_process_is_what_a_process_prints_and_exits_with(emu, spec_file, drplan, monkeypatch):
    """The harness the other tests rely on: the CLI run in this process prints and exits exactly as ``python -m
    drplan`` does, sees the environment a process is given (no KEY_* of the test's own environment), and leaves this
    process's environment and working directory as they were."""
    spec_file(classifiers="[]", targets='["west"]')
    monkeypatch.setenv("KEY_SRC", "a-key-of-the-shell-not-of-the-run")  # stripped from every run's environment
    before = (dict(os.environ), os.getcwd())
    for args, kw in ((("validate", "dr.toml"), {}), (("plan", "dr.toml"), {}), (("plan", "dr.toml"), {"keys": False}),
                     (("state", "list"), {}), (("show", "nope.json"), {}), (("plan",), {})):
        inside, outside = drplan(*args, **kw), drplan(*args, process=True, **kw)
        assert inside == outside, (args, inside, outside)
    assert (dict(os.environ), os.getcwd()) == before


def test_state_serial_grows_by_exactly_one_per_write_through_the_cli(emu, spec_file, drplan, tmp_path, monkeypatch):
    """issue 17 point 9: plan, apply, state mv and state rm through the CLI: every state write is the serial before
    plus one (never a jump, never a repeat), a run that changes nothing writes nothing, and the file ends at the
    last serial written (the unit test of the rule: tests/state/test_backend_conformance.py)."""
    from drplan.state.backends.local import LocalBackend

    written: list[int] = []
    real_write = LocalBackend.write

    def spy(self: LocalBackend, data: bytes, etag: str | None) -> str:
        written.append(json.loads(data)["serial"])
        return real_write(self, data, etag)

    monkeypatch.setattr(LocalBackend, "write", spy)
    path = spec_file(classifiers="[]", targets='["west"]')
    state = tmp_path / "drplan.state.json"

    def step(*args: str, code: int = 0) -> list[int]:
        before = read_json(state)["serial"] if state.exists() else 0
        start = len(written)
        r = drplan(*args)
        assert r.code == code, r.text
        new = written[start:]
        assert new == list(range(before + 1, before + 1 + len(new))), (args, before, new)
        assert (read_json(state)["serial"] if state.exists() else 0) == before + len(new)
        return new

    assert step("plan", "dr.toml", "-o", "plan.json") == []  # planning never writes state
    assert len(step("apply", "plan.json")) >= 3  # journal + record per copy, each one write
    assert step("plan", "dr.toml", "-o", "plan2.json") == []
    assert step("apply", "plan2.json") == []  # nothing to apply: nothing written
    path.write_text(path.read_text().replace('name = "prod"', 'name = "finance"'))
    assert len(step("state", "mv", "prod/west/document-model/po", "finance/west/document-model/po",
                    "--spec", "dr.toml")) == 1
    assert len(step("state", "rm", "prod/west/document-model/invoice-2024", "--spec", "dr.toml")) == 1
    step("state", "rm", "prod/west/document-model/no-such", "--spec", "dr.toml", code=EXIT_ERROR)
    assert read_json(state)["serial"] == written[-1] == len(written)


#: A drplan writer killed half-way through an atomic write of plan.json: it writes the first piece into its
#: temporary file, says so, and waits to be killed (SIGKILL: no cleanup of any kind runs).
KILLED_WRITER = """
import sys, time
from pathlib import Path
from drplan.fsutil import atomic_write_chunks
def pieces():
    yield b'{"format_version": '
    print("writing", flush=True)
    time.sleep(60)
    yield b'"never"}'
atomic_write_chunks(Path(sys.argv[1]), pieces())
"""


def test_a_temp_file_left_by_a_killed_writer_is_removed_by_the_next_run(emu, spec_file, drplan, tmp_path):
    """issue 19: SIGKILL during the write of plan.json leaves ``.plan.json.<host>.<pid>.<random>.tmp``; the next
    ``plan -o plan.json`` sees its writer is gone and removes it (a live writer's temp file would be kept)."""
    spec_file(classifiers="[]", targets='["west"]')
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, "plan.json"], cwd=tmp_path, env=env,
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "writing"
        (left,) = tmp_path.glob(".plan.json.*.tmp")
        assert f".{p.pid}." in left.name and not (tmp_path / "plan.json").exists()
        os.kill(p.pid, signal.SIGKILL)
    finally:
        p.kill()
        p.wait(timeout=10)
    assert left.exists()  # nothing cleaned up at the kill
    r = drplan("plan", "dr.toml", "-o", "plan.json")
    assert r.code == 0, r.text
    assert list(tmp_path.glob(".*.tmp")) == [] and read_json(tmp_path / "plan.json")["digest"].startswith("sha256:")
