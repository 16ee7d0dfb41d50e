"""Local state backend and StateManager: atomic writes, serial/lineage rules, the sidecar lock."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket

import pytest

from drplan.errors import StateCorruptError, StateError, StateLockedError
from drplan.state.backends.local import LocalBackend
from drplan.state.manager import StateManager


def manager(tmp_path):
    return StateManager(LocalBackend(tmp_path / "dr.state.json"))


def test_no_state_yet_is_a_fresh_state_not_an_error(tmp_path):
    m = manager(tmp_path)
    st = m.load()
    assert st.serial == 0 and st.resources == {} and not m.exists
    assert not (tmp_path / "dr.state.json").exists()


def test_serial_bumps_only_on_content_change_and_lineage_is_kept(tmp_path):
    m = manager(tmp_path)
    st = m.load()
    lineage = st.lineage
    st.resources["a/b/document-model/c"] = {
        "rule": "a", "kind": "document-model", "source_resource": "s", "source_id": "c",
        "source_fingerprint": "created=x", "target_resource": "b", "target_id": "c", "copied_at": "now"}
    m.persist()
    m.persist()  # no change: no bump, no write
    again = manager(tmp_path)
    st2 = again.load()
    assert st2.serial == 1 and st2.lineage == lineage and again.exists


def test_corrupt_state_is_a_clear_error(tmp_path):
    (tmp_path / "dr.state.json").write_text("{not json")
    with pytest.raises(StateCorruptError, match="not valid JSON"):
        manager(tmp_path).load()
    (tmp_path / "dr.state.json").write_text(json.dumps({"format_version": 99, "lineage": "x", "serial": 1}))
    with pytest.raises(StateCorruptError, match="format_version 99"):
        manager(tmp_path).load()


def test_state_never_holds_a_token(tmp_path):
    m = manager(tmp_path)
    st = m.load()
    st.journal["a/b/document-model/c"] = {"plan_digest": "d", "action": "create", "step": "authorizing",
                                          "updated": "t", "accessToken": "leak"}
    with pytest.raises(StateCorruptError):
        m.persist()
    assert not (tmp_path / "dr.state.json").exists()


def test_failed_write_leaves_previous_state_intact(tmp_path, monkeypatch):
    m = manager(tmp_path)
    st = m.load()
    st.applies.append({"plan_digest": "d1", "base_serial": 0, "status": "complete", "started": "t"})
    m.persist()
    before = (tmp_path / "dr.state.json").read_bytes()
    st.applies.append({"plan_digest": "d2", "base_serial": 1, "status": "complete", "started": "t"})

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(StateError, match="No space left"):
        m.persist()
    assert (tmp_path / "dr.state.json").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_lock_contention_names_the_holder(tmp_path):
    a = LocalBackend(tmp_path / "s.json")
    b = LocalBackend(tmp_path / "s.json")
    info = a.lock("apply")
    with pytest.raises(StateLockedError) as err:
        b.lock("apply")
    msg = str(err.value)
    assert f"pid {os.getpid()}" in msg and socket.gethostname() in msg and info.id in msg
    assert err.value.exit_code == 4
    a.unlock()
    b.lock("plan")
    b.unlock()


def _hold_and_die(path: str) -> None:
    LocalBackend(__import__("pathlib").Path(path)).lock("apply")
    os._exit(0)  # die without unlocking


def test_dead_holder_on_this_host_is_taken_over(tmp_path):
    proc = multiprocessing.get_context("spawn").Process(target=_hold_and_die, args=(str(tmp_path / "s.json"),))
    proc.start()
    proc.join(30)
    assert (tmp_path / "s.json.lock").exists()
    info = LocalBackend(tmp_path / "s.json").lock("apply")
    assert info.pid == os.getpid()


def test_lock_timeout_waits_then_fails(tmp_path):
    a = LocalBackend(tmp_path / "s.json")
    a.lock("apply")
    import time

    t = time.monotonic()
    with pytest.raises(StateLockedError):
        LocalBackend(tmp_path / "s.json").lock("apply", timeout=0.3)
    assert time.monotonic() - t >= 0.3
    a.unlock()


def test_unlock_with_wrong_id_refused(tmp_path):
    a = LocalBackend(tmp_path / "s.json")
    a.lock("apply")
    with pytest.raises(StateError, match="does not match"):
        LocalBackend(tmp_path / "s.json").unlock("not-the-id")


def test_the_streamed_content_digest_equals_the_one_shot_digest() -> None:
    """StateManager remembers sha256(canonical_json(content)) computed in batches of records (issue 18)."""
    import hashlib

    from drplan.fsutil import canonical_json
    from drplan.state import manager
    from drplan.state.model import State

    for n in (0, 1, manager._BATCH, manager._BATCH * 2 + 7):
        state = State(lineage="l", serial=4)
        for i in range(n):
            state.resources[f"r/t/document-model/m-{(i * 7919) % (n or 1):05d}-{i}"] = {"rule": "r", "n": i, "ü": "é"}
        state.journal["a"] = {"step": "copy"}
        state.applies.append({"plan_digest": "sha256:x", "base_serial": 1})
        want = hashlib.sha256(canonical_json(state.content())).digest()
        assert manager._content_digest(state) == want, n
