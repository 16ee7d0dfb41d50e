"""What a state backend is: a store of one byte string with an ETag, and a lock. Nothing more.

Backends only move bytes and hold locks; lineage, serial, schema and format are handled once, above them, by
:class:`drplan.state.manager.StateManager`. Every backend runs the one conformance suite in
``tests/state/test_backend_conformance.py`` (read/write, ETag conflicts, two contending lockers, lock expiry).

The ETag contract
    ``read()`` returns the bytes (``None``: no state yet) and an opaque ETag of what was read (``None``: nothing is
    stored at all). ``write(data, etag)`` stores ``data`` only if the stored object is still the one that ETag names
    (``None``: only if nothing is stored), and returns the new ETag; otherwise it raises :class:`StateConflictError`
    and writes nothing. So a writer that lost its lock can never overwrite a state somebody else wrote since.

The lock contract
    ``lock(operation, timeout)`` takes the lock for this backend object, waiting up to ``timeout`` seconds, or raises
    :class:`StateLockedError` naming the holder. ``unlock(lock_id)`` releases the lock with that id (ours when
    omitted), whoever holds it, and refuses an id that does not match the held lock. ``read_lock()`` names the
    current holder without taking anything. A lock left by a process that died is recovered without a human: the
    local backend takes over a dead holder on the same host; the blob backend's lease expires by itself.
"""

from __future__ import annotations

import atexit
import getpass
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Protocol

from drplan.errors import StateConflictError

__all__ = ["ExitGuard", "LockInfo", "StateBackend", "StateConflictError"]


@dataclass(frozen=True)
class LockInfo:
    """Who holds a state lock. Stored with the lock (a sidecar file, or blob metadata); ``id`` is what
    ``drplan state unlock`` asks for."""

    id: str
    holder: str
    host: str
    pid: int
    operation: str
    created: str

    @classmethod
    def mint(cls, operation: str) -> "LockInfo":
        return cls(
            id=str(uuid.uuid4()),
            holder=_user(),
            host=socket.gethostname(),
            pid=os.getpid(),
            operation=operation,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )

    def describe(self) -> str:
        return (
            f"{self.holder}@{self.host} (pid {self.pid}) for '{self.operation}' since {self.created}, lock id {self.id}"
        )


class StateBackend(Protocol):
    """Moves the state's bytes and holds its lock (see the module docstring for the two contracts)."""

    def describe(self) -> str:
        """Where the state lives, for messages (never a secret)."""
        ...

    def read(self) -> tuple[bytes | None, str | None]: ...

    def write(self, data: bytes, etag: str | None) -> str: ...

    def lock(self, operation: str, timeout: float = 0.0) -> LockInfo: ...

    def unlock(self, lock_id: str | None = None) -> None: ...

    def read_lock(self) -> LockInfo | None: ...


class ExitGuard:
    """Releases a held lock when the process exits normally or on SIGTERM (SIGINT already unwinds ``finally``
    blocks as KeyboardInterrupt). A SIGKILL cannot be caught: that is what lease expiry is for.

    SIGTERM is turned into ``SystemExit(143)`` so ``finally`` blocks (and this guard's atexit hook) run. The handler is
    installed while at least one guard is armed, and only over the default one (never over a handler somebody else
    set); only the main thread can set signal handlers, elsewhere only the atexit hook is registered."""

    _armed: set["ExitGuard"] = set()
    _installed_over: object = None  # the handler ours replaced, while ours is installed

    def __init__(self, release: Callable[[], None]) -> None:
        self._release = release

    def arm(self) -> None:
        if self in ExitGuard._armed:
            return
        ExitGuard._armed.add(self)
        atexit.register(self._at_exit)
        # Look at the handler itself, not only at our own bookkeeping: somebody may have put the default back while
        # a guard was armed (an embedding program, a test harness), and a SIGTERM must still release the lock.
        if threading.current_thread() is threading.main_thread() \
                and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _terminate)
            ExitGuard._installed_over = signal.SIG_DFL

    def disarm(self) -> None:
        if self not in ExitGuard._armed:
            return
        ExitGuard._armed.discard(self)
        atexit.unregister(self._at_exit)
        if not ExitGuard._armed and ExitGuard._installed_over is not None \
                and threading.current_thread() is threading.main_thread():
            if signal.getsignal(signal.SIGTERM) is _terminate:
                signal.signal(signal.SIGTERM, ExitGuard._installed_over)  # type: ignore[arg-type]
            ExitGuard._installed_over = None

    def _at_exit(self) -> None:
        try:
            self._release()
        except Exception:  # noqa: BLE001 - best effort at exit; the lock still frees itself (lease expiry)
            pass


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        return "unknown"
