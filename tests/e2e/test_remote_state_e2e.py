"""Remote state (issue 8): the real CLI against the emulator, with the state in Azure Blob Storage (Azurite).

plan -> apply -> plan on a blob state; the plan records where the state is and no secret; state list/show/rm/pull/
push/unlock and adopt; two concurrent applies (one runs, the other fails naming the holder or waits for it); a run
killed while holding the lease leaves a bounded lease naming it (its expiry is waited for once, in
tests/state/test_backend_conformance.py), and the next apply resumes; a wrong storage key is one clear message that
does not contain the key."""

from __future__ import annotations

import base64
import functools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from azurite.support import KEY as AZURITE_KEY
from azurite.support import azurite  # noqa: F401 - the session fixture
from e2e_support import ENV, KEYS, read_json

from drplan.cli.state_cmds import adopt_cmd, state_push_cmd, state_rm_cmd
from drplan.errors import StateError
from drplan.state.backends.azureblob import AzureBlobBackend

MODELS = {"invoice-2024", "receipt-2024", "po"}
ONE_TARGET = dict(classifiers="[]", targets='["west"]')
LEASE = 15
CONN_ENV = "DRSTATE_CONN"


class Remote:
    def __init__(self, az, tmp_path: Path) -> None:
        self.az = az
        self.tmp_path = tmp_path
        self.container = az.new_container()
        self.blob = "teams/finance/dr.state.json"
        self.env = {CONN_ENV: az.connection_string}

    def block(self, auth: str = f'connection_string_env = "{CONN_ENV}"') -> str:
        return (f'[state]\nbackend = "azureblob"\naccount_url = "{self.az.account_url}"\n'
                f'container = "{self.container}"\nblob = "{self.blob}"\n{auth}\nlease_seconds = {LEASE}\n')

    def backend(self) -> AzureBlobBackend:
        return AzureBlobBackend(self.az.account_url, self.container, self.blob,
                                connection_string=self.az.connection_string, lease_seconds=LEASE)

    def state(self) -> dict:
        raw, _ = self.backend().read()
        return json.loads(raw) if raw else {}

    def lease(self):
        return self.backend()._blob.get_blob_properties().lease

    def spawn(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        """The CLI as a background process (like the drplan fixture, but not waited for)."""
        full = {k: v for k, v in os.environ.items() if not k.startswith(("KEY_", "DRPLAN_"))}
        full.update(ENV)
        full.update(self.env)
        full.update(env or {})
        root = str(Path(__file__).resolve().parents[2])
        full["PYTHONPATH"] = os.pathsep.join(p for p in (root, full.get("PYTHONPATH", "")) if p)
        return subprocess.Popen([sys.executable, "-m", "drplan", *args], cwd=self.tmp_path, env=full,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def drplan(drplan):
    """Every CLI run of this module is a real process: with the state in a blob, what a process does with its lease
    at exit, on SIGTERM and SIGKILL, and what it prints (one line, no key), is what these tests are about."""
    return functools.partial(drplan, process=True)


@pytest.fixture
def remote(azurite, tmp_path, spec_file):  # noqa: F811 - azurite is the imported session fixture
    r = Remote(azurite, tmp_path)

    def write(auth: str | None = None, **kw) -> Path:
        path = spec_file(**kw)
        text = path.read_text(encoding="utf-8")
        block = r.block() if auth is None else r.block(auth)
        path.write_text(text.replace("version = 1\n", "version = 1\n\n" + block, 1), encoding="utf-8")
        return path

    r.write = write
    return r


def no_secrets(*texts: str) -> None:
    for text in texts:
        assert AZURITE_KEY not in text
        for key in KEYS.values():
            assert key not in text


def wait_for(predicate, timeout: float = 30, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def copy_requests(emu) -> int:
    return sum(1 for e in emu.admin("GET", "requests") if e["route"] == "documentModels:copyTo" and e["status"] == 202)


def test_plan_apply_and_state_commands_on_a_blob_state(emu, remote, drplan, tmp_path, monkeypatch, capsys):
    remote.write(**ONE_TARGET)
    env = remote.env
    r = drplan("plan", "dr.toml", "-o", "plan.json", "--detailed-exitcode", env=env)
    assert r.code == 2, r.text
    plan_text = (tmp_path / "plan.json").read_text()
    assert read_json(tmp_path / "plan.json")["state"] == {
        "backend": "azureblob", "account_url": remote.az.account_url, "container": remote.container,
        "blob": remote.blob, "connection_string_env": CONN_ENV, "lease_seconds": LEASE, "lineage": None, "serial": 0}
    r2 = drplan("apply", "plan.json", env=env)
    assert r2.code == 0, r2.text
    assert set(emu.models("west")) == MODELS
    assert not (tmp_path / "drplan.state.json").exists()  # the state is in the blob, nowhere else
    state = remote.state()
    assert state["serial"] >= 1 and state["journal"] == {} and len(state["resources"]) == 3
    assert remote.lease().state == "available"  # released at the end

    r3 = drplan("plan", "dr.toml", "--detailed-exitcode", env=env)
    assert r3.code == 0 and "No changes" in r3.out, r3.text
    r4 = drplan("state", "list", "--spec", "dr.toml", env=env)
    assert r4.code == 0 and r4.out.split() == sorted(f"prod/west/document-model/{m}" for m in MODELS)
    r5 = drplan("state", "show", "prod/west/document-model/po", "--spec", "dr.toml", env=env)
    assert r5.code == 0 and json.loads(r5.out)["record"]["source_fingerprint"].startswith("created=2024-06-20")
    pulled = drplan("state", "pull", "--spec", "dr.toml", env=env)
    assert pulled.code == 0 and json.loads(pulled.out) == state
    (tmp_path / "pulled.json").write_text(pulled.out)
    no_secrets(plan_text, r.text, r2.text, r3.text, r4.text, pulled.text, json.dumps(state))

    # rm forgets a record (the copy stays); adopt takes it back after checking it live; push replaces the state.
    # These are the same plain functions the CLI wraps, called in this process to keep the test fast.
    for k, v in {**ENV, **env}.items():
        monkeypatch.setenv(k, v)
    capsys.readouterr()
    addr = "prod/west/document-model/po"
    assert state_rm_cmd((addr,), "dr.toml", None) == 0
    assert "Removed 1 address(es)" in capsys.readouterr().out
    assert addr not in remote.state()["resources"] and "po" in emu.models("west")
    with pytest.raises(StateError, match="not in state"):
        state_rm_cmd((addr,), "dr.toml", None)
    assert adopt_cmd("dr.toml", addr) == 0
    assert f"Adopted {addr}" in capsys.readouterr().out
    rec = remote.state()["resources"][addr]
    assert rec["adopted"] == "lineage-tags" and rec["source_fingerprint"] == state["resources"][addr]["source_fingerprint"]
    assert adopt_cmd("dr.toml", addr) == 0
    assert "already recorded" in capsys.readouterr().out  # idempotent
    with pytest.raises(StateError, match="does not plan this address"):
        adopt_cmd("dr.toml", "prod/west/document-model/nope")
    # A target whose model is not a copy of the current source version is refused.
    assert state_rm_cmd(("prod/west/document-model/invoice-2024",), "dr.toml", None) == 0
    emu.admin("DELETE", "accounts/src/models/invoice-2024")
    emu.admin("POST", "accounts/src/models", {"model_id": "invoice-2024", "created": "2025-05-05T00:00:00Z"})
    with pytest.raises(StateError, match="is not a copy of src/invoice-2024"):
        adopt_cmd("dr.toml", "prod/west/document-model/invoice-2024")

    # push: the pulled file is older than the blob now: refused unless --force, and the serial still moves on.
    serial = remote.state()["serial"]
    with pytest.raises(StateError, match="not newer"):
        state_push_cmd("pulled.json", False, "dr.toml", None)
    capsys.readouterr()
    assert state_push_cmd("pulled.json", True, "dr.toml", None) == 0
    assert f"serial {serial} -> serial {serial + 1}" in capsys.readouterr().out
    assert remote.state()["resources"] == state["resources"]
    assert remote.lease().state == "available"


def test_two_concurrent_applies_one_runs_the_other_fails_or_waits(emu, remote, drplan, tmp_path):
    remote.write(**ONE_TARGET)
    emu.admin("PUT", "settings", {"copy_seconds": 2})
    assert drplan("plan", "dr.toml", "-o", "plan.json", env=remote.env).code == 0
    first = remote.spawn("apply", "plan.json")
    holder = wait_for(lambda: remote.backend().read_lock(), what="the first apply to take the lock")
    assert holder.pid == first.pid and holder.operation == "apply"
    waiter = remote.spawn("apply", "plan.json", "--lock-timeout", "60")
    r = drplan("apply", "plan.json", env=remote.env)
    assert r.code == 4, r.text
    assert f"locked by {holder.holder}@{socket.gethostname()} (pid {first.pid}) for 'apply'" in r.err
    assert holder.id in r.err and "--lock-timeout" in r.err and "Traceback" not in r.err
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, out + err
    out, err = waiter.communicate(timeout=60)
    assert waiter.returncode == 0, out + err
    assert "already applied" in out  # it waited for the lock, then found the plan done: nothing twice
    state = remote.state()
    assert state["journal"] == {} and set(state["resources"]) == {f"prod/west/document-model/{m}" for m in MODELS}
    assert copy_requests(emu) == len(MODELS)  # each copy made exactly once
    assert remote.backend().read_lock() is None
    no_secrets(out, err, r.text)


def test_a_killed_apply_leaves_a_bounded_lock_naming_it_and_a_resume_converges(emu, remote, drplan, tmp_path):
    """SIGTERM a run holding the lease: it releases it. SIGKILL one: its lock stays, names it, and is a *fixed*
    15 s lease that Azure ends by itself (the conformance suite waits for that expiry once, with a killed holder
    process); here the operator frees it with drplan state unlock, and the next apply resumes from the journal and
    converges."""
    remote.write(**ONE_TARGET)
    # each copy runs 0.5 s and is polled once a second: a run is caught while it copies, and what is left to resume
    # has finished by then
    emu.admin("PUT", "settings", {"copy_seconds": 0.5})
    assert drplan("plan", "dr.toml", "-o", "plan.json", env=remote.env, process=False).code == 0

    def journaled_copy() -> bool:
        return any(e.get("step") == "copying" for e in remote.state().get("journal", {}).values())

    # SIGTERM (a pipeline cancelled, a container stopped): the run gives its lease back on the way out.
    stopped = remote.spawn("apply", "plan.json", "--parallelism", "1")
    wait_for(journaled_copy, what="the apply to journal a running copy")
    stopped.send_signal(signal.SIGTERM)
    out, err = stopped.communicate(timeout=30)
    assert stopped.returncode == 143, out + err
    assert "Traceback" not in err and remote.lease().state == "available" and remote.backend().read_lock() is None

    # SIGKILL: nothing runs on the way out; the lease stays until it expires by itself.
    left = remote.state()["journal"]
    doomed = remote.spawn("apply", "plan.json", "--parallelism", "1")

    def doomed_copying() -> bool:
        holder = remote.backend().read_lock()
        journal = remote.state()["journal"]
        return holder is not None and holder.pid == doomed.pid and any(
            e["step"] == "copying" and e != left.get(a) for a, e in journal.items())

    wait_for(doomed_copying, what="the second apply to journal a running copy of its own")
    doomed.send_signal(signal.SIGKILL)
    doomed.communicate(timeout=30)
    lease = remote.lease()
    assert lease.state == "leased" and lease.duration == "fixed"  # bounded: Azure ends it by itself
    holder = remote.backend().read_lock()
    assert holder.pid == doomed.pid
    r = drplan("apply", "plan.json", env=remote.env)
    assert r.code == 4 and f"(pid {doomed.pid})" in r.err and f"expires by itself within {LEASE} s" in r.err, r.text
    assert f"drplan state unlock {holder.id}" in r.err

    r = drplan("state", "unlock", holder.id, "--spec", "dr.toml", env=remote.env)  # no prompt: not a terminal
    assert r.code == 0 and "Unlocked." in r.out, r.text
    r = drplan("apply", "plan.json", env=remote.env)
    assert r.code == 0, r.text
    assert "resuming from journal step" in r.err
    assert set(emu.models("west")) == MODELS and copy_requests(emu) == len(MODELS)
    assert drplan("plan", "dr.toml", "--detailed-exitcode", env=remote.env, process=False).code == 0
    assert remote.state()["journal"] == {}


def test_state_unlock_shows_the_holder_refuses_a_wrong_id_and_needs_no_prompt_in_a_pipeline(emu, remote, drplan):
    remote.write(**ONE_TARGET)
    hung = remote.backend()  # a run that holds the lock and is stuck
    info = hung.lock("apply")
    try:
        r = drplan("state", "unlock", "00000000-0000-0000-0000-000000000000", "--spec", "dr.toml", env=remote.env)
        assert r.code == 1 and "does not match the held lock" in r.err and info.id in r.err
        assert remote.backend().read_lock() == info
        r = drplan("state", "unlock", info.id, "--spec", "dr.toml", env=remote.env)  # stdin is not a terminal
        assert r.code == 0 and f"locked by {info.describe()}" in r.out and "Unlocked." in r.out, r.text
        assert remote.backend().read_lock() is None
    finally:
        hung.unlock()


@pytest.mark.parametrize("how", ["account-key", "connection-string", "not-base64"])
def test_a_wrong_storage_key_is_one_clear_message_without_the_key(emu, remote, drplan, tmp_path, how):
    wrong = base64.b64encode(b"not the key of this account, 64 bytes long......................").decode()
    if how == "account-key":
        remote.write(auth='account_key_env = "DRSTATE_KEY"', **ONE_TARGET)
        env, secret = {"DRSTATE_KEY": wrong}, wrong
    elif how == "connection-string":
        remote.write(**ONE_TARGET)
        conn = remote.az.connection_string.replace(AZURITE_KEY, wrong)
        env, secret = {CONN_ENV: conn}, wrong
    else:
        remote.write(auth='account_key_env = "DRSTATE_KEY"', **ONE_TARGET)
        env, secret = {"DRSTATE_KEY": "s3cr3t-but-not-base64!"}, "s3cr3t-but-not-base64!"
    r = drplan("plan", "dr.toml", "-o", "plan.json", env=env)
    assert r.code == 1, r.text
    assert r.err.startswith("Error: ") and "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1
    assert remote.container in r.err
    if how == "not-base64":
        assert "credentials are not usable" in r.err and "$DRSTATE_KEY" in r.err
    else:
        assert "access denied (403 " in r.err
        assert ("$DRSTATE_KEY" if how == "account-key" else f"${CONN_ENV}") in r.err
    assert secret not in r.text
    assert not (tmp_path / "plan.json").exists()
    if how == "account-key":  # the state commands say the same, and never print the key either
        r = drplan("state", "list", "--spec", "dr.toml", env=env)
        assert r.code == 1 and "access denied" in r.err and secret not in r.text

