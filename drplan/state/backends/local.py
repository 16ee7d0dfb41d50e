"""Local state backend: a JSON file written atomically, and a sidecar lock file.

The backend only moves bytes and holds the lock; lineage and serial are handled once, above it (StateManager).
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from drplan.errors import StateError, StateLockedError
from drplan.fsutil import atomic_write_bytes


@dataclass(frozen=True)
class LockInfo:
    id: str
    holder: str
    host: str
    pid: int
    operation: str
    created: str

    def describe(self) -> str:
        return (
            f"{self.holder}@{self.host} (pid {self.pid}) for '{self.operation}' since {self.created}, lock id {self.id}"
        )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalBackend:
    """State in ``path``; lock in ``path + '.lock'`` (never the file that gets replaced)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._lock: LockInfo | None = None

    def describe(self) -> str:
        return str(self.path)

    def read(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"{self.path}: cannot read state: {exc.strerror}") from None

    def write(self, data: bytes) -> None:
        try:
            atomic_write_bytes(self.path, data)
        except OSError as exc:
            raise StateError(f"{self.path}: cannot write state: {exc.strerror}") from None

    # -- locking -----------------------------------------------------------------------------------------------
    def read_lock(self) -> LockInfo | None:
        try:
            return LockInfo(**json.loads(self.lock_path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError):
            # A lock file cut short by a crash while it was being created: treat as held by an unknown holder.
            return LockInfo(id="unknown", holder="unknown", host="unknown", pid=0, operation="unknown",
                            created=datetime.fromtimestamp(self.lock_path.stat().st_mtime, timezone.utc).isoformat())

    def lock(self, operation: str, timeout: float = 0.0) -> LockInfo:
        """Take the lock or raise StateLockedError naming the holder. A dead holder on this host is taken over."""
        info = LockInfo(
            id=str(uuid.uuid4()),
            holder=_user(),
            host=socket.gethostname(),
            pid=os.getpid(),
            operation=operation,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        payload = json.dumps(info.__dict__).encode()
        deadline = time.monotonic() + timeout
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                fd = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self.read_lock()
                if holder is not None and holder.host == info.host and holder.pid and not _pid_alive(holder.pid):
                    # The holder died on this host: its lock can never be released by it.
                    self._break_stale(holder)
                    continue
                if time.monotonic() >= deadline:
                    who = holder.describe() if holder else "another process"
                    raise StateLockedError(
                        f"{self.path}: state is locked by {who}; wait for it to finish, retry with --lock-timeout, "
                        f"or if you are sure it is gone run: drplan state unlock {holder.id if holder else ''}".rstrip()
                    ) from None
                time.sleep(min(0.5, max(0.05, deadline - time.monotonic())))
                continue
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            self._lock = info
            return info

    def _break_stale(self, holder: LockInfo) -> None:
        try:
            current = self.read_lock()
            if current == holder:
                os.unlink(self.lock_path)
        except FileNotFoundError:
            pass

    def unlock(self, lock_id: str | None = None) -> None:
        lock_id = lock_id or (self._lock.id if self._lock else None)
        holder = self.read_lock()
        if holder is None:
            return
        if holder.id != lock_id:
            raise StateError(f"{self.lock_path}: lock id {lock_id!r} does not match the held lock ({holder.describe()})")
        os.unlink(self.lock_path)
        self._lock = None


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        return "unknown"
