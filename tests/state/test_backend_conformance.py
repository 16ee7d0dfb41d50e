"""The one conformance suite of the StateBackend Protocol (drplan/state/backends/base.py), run by every backend:
the local file and Azure Blob (against Azurite). Bytes and ETags, two contending lockers, a lost lock that cannot
overwrite, a dead holder's lock recovered without a human, and StateManager's serial and lineage rules on top."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from azurite.support import azurite  # noqa: F401 - the session fixture

from drplan.errors import StateConflictError, StateCorruptError, StateError, StateLockedError
from drplan.state.backends import backend_from_config
from drplan.state.manager import StateManager
from drplan.state.model import State

LEASE = 15  # the shortest lease Azure allows: what the dead-holder test waits for, once


class Backends:
    """Makes independent backend objects (as separate runs would) on one of a few named states."""

    def __init__(self, kind: str, tmp_path: Path, az=None) -> None:
        self.kind = kind
        self.tmp_path = tmp_path
        self.az = az
        self.container = az.new_container() if az else None
        self.made: list = []

    def config(self, state: str = "main") -> dict:
        if self.kind == "local":
            return {"backend": "local", "path": str(self.tmp_path / f"{state}.state.json")}
        return {"backend": "azureblob", "account_url": self.az.account_url, "container": self.container,
                "blob": f"team/{state}.state.json", "connection_string_env": "DRPLAN_TEST_STATE_CONN",
                "lease_seconds": LEASE}

    def env(self) -> dict[str, str]:
        return {"DRPLAN_TEST_STATE_CONN": self.az.connection_string} if self.az else {}

    def __call__(self, state: str = "main"):
        backend = backend_from_config(self.config(state))
        if self.kind == "azureblob":
            backend.poll_interval = 0.1
        self.made.append(backend)
        return backend

    def close(self) -> None:
        for b in self.made:
            if getattr(b, "_lock", None) is not None:
                try:
                    b.unlock()
                except StateError:
                    pass


@pytest.fixture(params=["local", "azureblob"])
def backends(request, tmp_path, monkeypatch):
    az = request.getfixturevalue("azurite") if request.param == "azureblob" else None
    made = Backends(request.param, tmp_path, az)
    for k, v in made.env().items():
        monkeypatch.setenv(k, v)
    yield made
    made.close()


def state_doc(serial: int = 1, lineage: str | None = None, **resources) -> bytes:
    st = State.new() if lineage is None else State(lineage=lineage)
    st.serial = serial
    st.resources.update(resources)
    return json.dumps(st.to_dict()).encode()


def record(name: str = "c") -> dict:
    return {"rule": "a", "kind": "document-model", "source_resource": "s", "source_id": name,
            "source_fingerprint": "created=x", "target_resource": "b", "target_id": name, "copied_at": "now"}


# -- bytes and ETags ------------------------------------------------------------------------------------------------
def test_nothing_stored_reads_as_no_state(backends):
    data, _ = backends().read()
    assert data is None
    assert backends().read_lock() is None


def test_write_read_round_trip_and_etags_change(backends):
    b = backends()
    e1 = b.write(b'{"a": 1}', None)
    assert b.read() == (b'{"a": 1}', e1)
    e2 = b.write(b'{"a": 2}', e1)
    assert e2 != e1
    assert backends().read() == (b'{"a": 2}', e2)


def test_write_with_a_stale_etag_is_refused_and_writes_nothing(backends):
    a, b = backends(), backends()
    a.write(b"v1", None)
    _, seen_by_a = a.read()
    _, seen_by_b = b.read()
    b.write(b"v2 by b", seen_by_b)
    with pytest.raises(StateConflictError, match="changed since"):
        a.write(b"v2 by a", seen_by_a)
    assert backends().read()[0] == b"v2 by b"
    with pytest.raises(StateConflictError):  # "create" when something is stored already
        a.write(b"v3", None)


# -- locks ----------------------------------------------------------------------------------------------------------
def test_two_contending_lockers(backends):
    a, b = backends(), backends()
    info = a.lock("apply")
    with pytest.raises(StateLockedError) as err:
        b.lock("apply")
    msg = str(err.value)
    assert err.value.exit_code == 4
    assert f"pid {os.getpid()}" in msg and socket.gethostname() in msg and info.id in msg and "'apply'" in msg
    assert f"drplan state unlock {info.id}" in msg
    assert b.read_lock() == info
    a.unlock()
    assert b.read_lock() is None
    assert b.lock("plan").operation == "plan"
    b.unlock()


def test_lock_timeout_waits_for_the_holder(backends):
    a, b = backends(), backends()
    a.lock("apply")
    t = time.monotonic()
    with pytest.raises(StateLockedError):
        b.lock("apply", timeout=0.4)
    assert time.monotonic() - t >= 0.4
    threading.Timer(0.5, a.unlock).start()
    info = b.lock("apply", timeout=20)
    assert backends().read_lock() == info
    b.unlock()


def test_unlock_by_id_refuses_a_mismatching_id_and_frees_the_right_one(backends):
    a, b = backends(), backends()
    info = a.lock("apply")
    with pytest.raises(StateError, match="does not match"):
        b.unlock("00000000-0000-0000-0000-000000000000")
    assert b.read_lock() == info
    b.unlock(info.id)  # drplan state unlock ID, from another run
    assert b.read_lock() is None
    a.unlock()  # the original holder's own release is then a quiet no-op


def test_a_run_that_lost_its_lock_cannot_overwrite_the_next_holders_state(backends):
    a, b = backends(), backends()
    a.lock("apply")
    ma = StateManager(a)
    ma.load().resources["r/t/document-model/x"] = record("x")
    ma.persist()
    b.unlock(a.read_lock().id)  # somebody decided a was gone
    mb = StateManager(b)
    with mb.locked("apply"):
        mb.state.resources["r/t/document-model/y"] = record("y")
        mb.persist()
        ma.state.resources["r/t/document-model/z"] = record("z")
        with pytest.raises(StateConflictError):
            ma.persist()
    final = StateManager(backends()).load()
    assert set(final.resources) == {"r/t/document-model/x", "r/t/document-model/y"} and final.serial == 2


def test_a_dead_holders_lock_frees_itself_while_a_live_holder_keeps_its_own(backends):
    """The holder of state "other" dies without unlocking (os._exit: no finally, no atexit). The local backend takes
    over a dead pid on this host at once; a blob lease stops being renewed and expires within lease_seconds.
    Meanwhile the live holder of "main" keeps its lock past the lease time (the heartbeat renews it)."""
    live = backends("main")
    live.lock("apply")
    child = subprocess.run(
        [sys.executable, "-c", "import json, os, sys\n"
         "from drplan.state.backends import backend_from_config\n"
         "b = backend_from_config(json.loads(sys.argv[1])); print(b.lock('apply').id, flush=True); os._exit(0)",
         json.dumps(backends.config("other"))],
        capture_output=True, text=True, timeout=60, env={**os.environ, **backends.env()},
    )
    assert child.returncode == 0, child.stderr
    dead_id = child.stdout.strip()
    contender = backends("other")
    held = contender.read_lock()
    assert held is not None and held.id == dead_id  # the dead run's lock is there, naming it
    t = time.monotonic()
    info = contender.lock("apply", timeout=LEASE + 10)
    waited = time.monotonic() - t
    assert info.id != dead_id
    if backends.kind == "local":
        assert waited < 2
    else:
        assert waited <= LEASE + 3, waited
    with pytest.raises(StateLockedError):  # still held by the live run, although its lease has run out at least once
        backends("main").lock("plan")
    m = StateManager(live)
    m.load().resources["r/t/document-model/x"] = record("x")
    m.persist()
    live.unlock()
    contender.unlock()


# -- StateManager's rules, over each backend ------------------------------------------------------------------------
def test_serial_bumps_only_on_change_and_lineage_stays(backends):
    m = StateManager(backends())
    with m.locked("apply") as st:
        assert not m.exists
        lineage = st.lineage
        st.resources["r/t/document-model/x"] = record("x")
        m.persist()
        m.persist()
    again = StateManager(backends())
    st2 = again.load()
    assert again.exists and st2.serial == 1 and st2.lineage == lineage


def test_a_write_after_someone_else_wrote_is_a_conflict(backends):
    first, second = StateManager(backends()), StateManager(backends())
    first.load().resources["r/t/document-model/x"] = record("x")
    first.persist()
    first.state.resources["r/t/document-model/y"] = record("y")
    second.load().resources["r/t/document-model/z"] = record("z")
    second.persist()
    with pytest.raises(StateConflictError):
        first.persist()
    assert set(StateManager(backends()).load().resources) == {"r/t/document-model/x", "r/t/document-model/z"}


def test_push_lineage_and_serial_rules(backends):
    m = StateManager(backends())
    assert m.push(state_doc(serial=3), source="a.json") == (None, 3)
    current = m.state
    with pytest.raises(StateError, match="different state"):
        m.push(state_doc(serial=9), source="other.json")
    with pytest.raises(StateError, match="not newer"):
        m.push(state_doc(serial=3, lineage=current.lineage, **{"r/t/document-model/x": record()}), source="b.json")
    with pytest.raises(StateError, match="not newer"):
        m.push(state_doc(serial=2, lineage=current.lineage), source="b.json")
    assert m.push(state_doc(serial=3, lineage=current.lineage), source="same.json") == (3, 3)  # the same: no-op
    assert m.push(state_doc(serial=5, lineage=current.lineage), source="c.json") == (3, 5)
    # --force: another lineage, a lower serial; the serial still moves forward, so no old plan applies to it.
    assert m.push(state_doc(serial=1), source="d.json", force=True) == (5, 6)
    st = StateManager(backends()).load()
    assert st.serial == 6 and st.lineage != current.lineage


def test_push_refuses_an_invalid_file_and_force_replaces_an_unusable_state(backends):
    m = StateManager(backends())
    with pytest.raises(StateCorruptError, match="bad.json"):
        m.push(b'{"format_version": 1}', source="bad.json")
    b = backends()
    b.write(b"{not json", None)
    with pytest.raises(StateCorruptError):
        StateManager(backends()).push(state_doc(serial=1), source="a.json")
    assert StateManager(backends()).push(state_doc(serial=4), source="a.json", force=True) == (None, 4)
    assert StateManager(backends()).load().serial == 4
