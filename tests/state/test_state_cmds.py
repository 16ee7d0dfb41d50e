"""``drplan state list|show|rm|unlock|pull|push`` on a local state, through the plain command functions (the blob
state runs them end to end in tests/e2e/test_remote_state_e2e.py)."""

from __future__ import annotations

import io
import json

import click
import pytest

from drplan.cli import state_cmds
from drplan.cli.state_cmds import (
    state_list_cmd,
    state_pull_cmd,
    state_push_cmd,
    state_rm_cmd,
    state_show_cmd,
    state_unlock_cmd,
)
from drplan.errors import StateError, StateLockedError
from drplan.state.backends.local import LocalBackend
from drplan.state.manager import StateManager

A = "r/west/document-model/a"
B = "r/west/document-model/b"


def record(name: str) -> dict:
    return {"rule": "r", "kind": "document-model", "source_resource": "src", "source_id": name,
            "source_fingerprint": "created=x", "target_resource": "west", "target_id": name, "copied_at": "now"}


@pytest.fixture
def state(tmp_path):
    """drplan.state.json in the working directory (the default of every state command), serial 1."""
    m = StateManager(LocalBackend(tmp_path / "drplan.state.json"))
    st = m.load()
    st.resources.update({A: record("a"), B: record("b")})
    st.journal[B] = {"plan_digest": "d", "action": "create", "step": "copying", "updated": "t"}
    m.persist()
    return tmp_path / "drplan.state.json"


def out(capsys) -> str:
    return capsys.readouterr().out


def test_list_and_show(state, capsys):
    assert state_list_cmd(None, None) == 0
    assert out(capsys).splitlines() == [A, B, f"{B}  (in progress: copying since t)"]
    assert state_show_cmd(B, None, str(state)) == 0
    doc = json.loads(out(capsys))
    assert doc["record"]["target_id"] == "b" and doc["journal"]["step"] == "copying"


def test_no_state_yet_is_said(tmp_path):
    for fn in (lambda: state_list_cmd(None, None), lambda: state_pull_cmd(None, None),
               lambda: state_rm_cmd((A,), None, None)):
        with pytest.raises(StateError, match="no state yet"):
            fn()
    assert not (tmp_path / "drplan.state.json").exists() and not (tmp_path / "drplan.state.json.lock").exists()


def test_rm_forgets_records_and_journal_entries_all_or_nothing(state, capsys):
    with pytest.raises(StateError, match="not in state: r/west/document-model/zzz; nothing was removed"):
        state_rm_cmd((A, "r/west/document-model/zzz"), None, None)
    assert json.loads(state.read_text())["serial"] == 1
    assert state_rm_cmd((A, B), None, None) == 0
    assert "Removed 2 address(es) from the state (now serial 2)" in out(capsys)
    doc = json.loads(state.read_text())
    assert doc["resources"] == {} and doc["journal"] == {}
    assert not (state.parent / "drplan.state.json.lock").exists()  # the lock was taken and given back


def test_rm_waits_for_or_names_the_lock_holder(state):
    holder = LocalBackend(state)
    info = holder.lock("apply")
    with pytest.raises(StateLockedError, match=info.id):
        state_rm_cmd((A,), None, None)
    holder.unlock()


def test_pull_prints_the_state_exactly_as_stored(state, capsys):
    assert state_pull_cmd(None, None) == 0
    assert out(capsys) == state.read_text()


def test_push_checks_lineage_and_serial_and_is_idempotent(state, capsys, tmp_path):
    pulled = tmp_path / "pulled.json"
    state_pull_cmd(None, None)
    pulled.write_text(out(capsys))
    assert state_push_cmd(str(pulled), False, None, None) == 0
    assert "already the state" in out(capsys)  # pushing the current state again changes nothing
    newer = json.loads(pulled.read_text())
    newer["serial"] = 7
    newer["resources"].pop(A)
    (tmp_path / "newer.json").write_text(json.dumps(newer))
    assert state_push_cmd(str(tmp_path / "newer.json"), False, None, None) == 0
    assert "serial 1 -> serial 7" in out(capsys)
    with pytest.raises(StateError, match="pulled.json is serial 1, but .* is already serial 7: it is not newer"):
        state_push_cmd(str(pulled), False, None, None)
    other = dict(newer, lineage="0f0f0f0f-0000-4000-8000-000000000000", serial=99)
    (tmp_path / "other.json").write_text(json.dumps(other))
    with pytest.raises(StateError, match="different state"):
        state_push_cmd(str(tmp_path / "other.json"), False, None, None)
    assert state_push_cmd(str(pulled), True, None, None) == 0
    assert "serial 7 -> serial 8" in out(capsys)
    doc = json.loads(state.read_text())
    assert doc["serial"] == 8 and A in doc["resources"]


def test_push_from_stdin_and_a_file_that_is_not_a_state(state, capsys, tmp_path, monkeypatch):
    doc = json.loads(state.read_text())
    doc["serial"] = 5
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(json.dumps(doc).encode())))
    assert state_push_cmd("-", False, None, None) == 0
    assert "Pushed stdin" in out(capsys)
    (tmp_path / "bad.json").write_text('{"format_version": 1, "lineage": "x"}')
    with pytest.raises(StateError, match="bad.json: state does not match its schema"):
        state_push_cmd(str(tmp_path / "bad.json"), True, None, None)
    with pytest.raises(StateError, match="missing.json: cannot read"):
        state_push_cmd(str(tmp_path / "missing.json"), False, None, None)


def test_unlock_shows_the_holder_and_refuses_a_wrong_id(state, capsys, monkeypatch):
    assert state_unlock_cmd("anything", None, None) == 0
    assert "is not locked; nothing to do" in out(capsys)
    info = LocalBackend(state).lock("apply")
    monkeypatch.setattr(click, "prompt", lambda *a, **k: pytest.fail("no prompt without a terminal"))
    with pytest.raises(StateError, match="does not match the held lock"):
        state_unlock_cmd("not-the-id", None, None)
    assert state_unlock_cmd(info.id, None, None) == 0  # stdin is not a terminal here: no question asked
    text = out(capsys)
    assert f"locked by {info.describe()}" in text and "Unlocked." in text
    assert LocalBackend(state).read_lock() is None


def test_unlock_on_a_terminal_asks_for_the_id_again(state, capsys, monkeypatch):
    info = LocalBackend(state).lock("apply")
    monkeypatch.setattr(state_cmds, "_interactive", lambda: True)
    monkeypatch.setattr(click, "prompt", lambda *a, **k: "typo")
    with pytest.raises(StateError, match="the lock id typed does not match; nothing was unlocked"):
        state_unlock_cmd(info.id, None, None)
    assert LocalBackend(state).read_lock() == info
    monkeypatch.setattr(click, "prompt", lambda *a, **k: f" {info.id} ")
    assert state_unlock_cmd(info.id, None, None) == 0
    assert LocalBackend(state).read_lock() is None
