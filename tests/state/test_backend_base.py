"""ExitGuard: a held lock is given back on SIGTERM and at exit, whichever backend holds it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from drplan.state.backends.base import ExitGuard


def test_sigterm_becomes_system_exit_while_a_lock_is_held_and_the_default_comes_back(monkeypatch):
    # a clean slate: an earlier test in this worker may have left a lock (and its guard) held on purpose
    monkeypatch.setattr(ExitGuard, "_armed", set())
    monkeypatch.setattr(ExitGuard, "_installed_over", None)
    runner_handler = signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a pytest-xdist worker may have its own
    try:
        _sigterm_while_two_locks_are_held()
    finally:
        signal.signal(signal.SIGTERM, runner_handler)


def test_a_guard_reinstalls_its_handler_when_the_default_was_put_back_while_armed(monkeypatch):
    monkeypatch.setattr(ExitGuard, "_armed", set())
    monkeypatch.setattr(ExitGuard, "_installed_over", None)
    runner_handler = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    a, b = ExitGuard(lambda: None), ExitGuard(lambda: None)
    try:
        a.arm()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # somebody else reset it while a lock is held
        b.arm()
        with pytest.raises(SystemExit):  # not the default action, which would kill this process
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
    finally:
        a.disarm()
        b.disarm()
        signal.signal(signal.SIGTERM, runner_handler)


def _sigterm_while_two_locks_are_held():
    released = []
    before = signal.SIG_DFL
    a, b = ExitGuard(lambda: released.append("a")), ExitGuard(lambda: released.append("b"))
    a.arm()
    b.arm()
    with pytest.raises(SystemExit) as err:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this returns
    assert err.value.code == 143
    a.disarm()
    assert signal.getsignal(signal.SIGTERM) is not before  # b still holds a lock
    b.disarm()
    assert signal.getsignal(signal.SIGTERM) == before


def test_a_local_lock_is_released_on_sigterm(tmp_path):
    code = ("import os, signal, sys, time\n"
            "from pathlib import Path\n"
            "from drplan.state.backends.local import LocalBackend\n"
            "LocalBackend(Path(sys.argv[1])).lock('apply')\n"
            "print('locked', flush=True)\n"
            "os.kill(os.getpid(), signal.SIGTERM)\n"
            "time.sleep(30)\n")
    p = subprocess.run([sys.executable, "-c", code, str(tmp_path / "s.json")], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 143 and p.stdout == "locked\n", p.stderr
    assert not (tmp_path / "s.json.lock").exists()


def test_a_lock_is_released_at_normal_exit_even_without_unlock(tmp_path):
    code = ("import sys\nfrom pathlib import Path\nfrom drplan.state.backends.local import LocalBackend\n"
            "LocalBackend(Path(sys.argv[1])).lock('apply')\n")
    p = subprocess.run([sys.executable, "-c", code, str(tmp_path / "s.json")], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    assert not (tmp_path / "s.json.lock").exists()
