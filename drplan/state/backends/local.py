"""Local state backend: a JSON file written atomically, and a sidecar lock file.

The backend only moves bytes and holds the lock; lineage and serial are handled once, above it (StateManager).
Its ETag is the SHA-256 of the file's bytes: a write compares it with the file on disk just before the atomic
replace. Every drplan writer holds the sidecar lock while it reads and writes, so the compare-then-replace is not
raced by another drplan; the check catches a writer whose lock was taken from it (``drplan state unlock``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from drplan.errors import StateConflictError, StateError, StateLockedError
from drplan.fsutil import MAX_LOCK_BYTES, MAX_STATE_BYTES, atomic_write_bytes, read_limited, remove_stale_temps
from drplan.state.backends.base import ExitGuard, LockInfo

__all__ = ["LocalBackend", "LockInfo"]

log = logging.getLogger("drplan.state")

#: The id a lock file that is empty or unreadable gets: no drplan ever wrote it completely.
STALE_LOCK_ID = "stale"
#: An empty or unreadable lock file younger than this may be a lock being written right now (a run between creating
#: the file and writing it); older, it was left by a run that died in between and is taken over.
STALE_LOCK_GRACE = 5.0


def _etag(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


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
        self._guard = ExitGuard(self._release_own)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "LocalBackend":
        """``config`` is a spec's or a plan's ``state`` block; a relative path is relative to the working directory."""
        return cls(Path(config["path"]))

    def describe(self) -> str:
        return str(self.path)

    def read(self) -> tuple[bytes | None, str | None]:
        try:
            data = read_limited(self.path, MAX_STATE_BYTES)
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            raise StateError(f"{self.path}: cannot read state: {exc.strerror}") from None
        return data, _etag(data)

    def write(self, data: bytes, etag: str | None) -> str:
        _, current = self.read()
        if current != etag:
            raise StateConflictError(
                f"{self.path}: the state changed since this run read it (another run wrote it); nothing was "
                "written: run the command again"
            )
        try:
            atomic_write_bytes(self.path, data)
        except OSError as exc:
            raise StateError(f"{self.path}: cannot write state: {exc.strerror}") from None
        return _etag(data)

    # -- locking -----------------------------------------------------------------------------------------------
    def read_lock(self) -> LockInfo | None:
        """The holder named in the lock file; None when there is none. A lock file that is empty, cut short or not a
        drplan lock (a crash between creating it and writing it) reads as held by nobody alive, id
        :data:`STALE_LOCK_ID`, which :meth:`lock` takes over once it is :data:`STALE_LOCK_GRACE` seconds old."""
        try:
            raw = read_limited(self.lock_path, MAX_LOCK_BYTES)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return self._stale(f"unreadable lock file ({exc.strerror})")
        try:
            data = json.loads(raw)
            info = LockInfo(**data)
        except (ValueError, TypeError, RecursionError):
            return self._stale("empty lock file" if not raw.strip() else "lock file that is not a drplan lock")
        if not all(isinstance(getattr(info, f), str) for f in ("id", "holder", "host", "operation", "created")) \
                or isinstance(info.pid, bool) or not isinstance(info.pid, int):
            return self._stale("lock file that is not a drplan lock")
        return info

    def _stale(self, what: str) -> LockInfo | None:
        try:
            created = datetime.fromtimestamp(self.lock_path.stat().st_mtime, timezone.utc).isoformat(timespec="seconds")
        except FileNotFoundError:
            return None
        except OSError:
            created = "unknown"
        return LockInfo(id=STALE_LOCK_ID, holder=f"nobody ({what}, left by a run that died while taking the lock)",
                        host="unknown", pid=0, operation="unknown", created=created)

    def _lock_age(self) -> float:
        try:
            return time.time() - self.lock_path.stat().st_mtime
        except OSError:
            return 0.0

    def lock(self, operation: str, timeout: float = 0.0) -> LockInfo:
        """Take the lock or raise StateLockedError naming the holder. A dead holder on this host is taken over."""
        info = LockInfo.mint(operation)
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
                if holder is not None and holder.id == STALE_LOCK_ID and self._lock_age() >= STALE_LOCK_GRACE:
                    # Empty or unreadable for longer than any live run takes to write it: its creator died.
                    log.warning("%s: took over the state lock: it was held by %s", self.lock_path, holder.holder)
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
            self._guard.arm()
            # Holding the lock, no other drplan writes this state: a temporary file beside it is a killed run's.
            remove_stale_temps(self.path, older_than=0.0)
            return info

    def _break_stale(self, holder: LockInfo) -> None:
        try:
            current = self.read_lock()
            if current == holder:
                os.unlink(self.lock_path)
        except FileNotFoundError:
            pass

    def unlock(self, lock_id: str | None = None) -> None:
        own = self._lock
        lock_id = lock_id or (own.id if own else None)
        try:
            holder = self.read_lock()
            if holder is None:
                return
            if holder.id != lock_id and own is not None and own.id == lock_id:
                return  # ours was taken from us (drplan state unlock) and somebody else holds it now: not ours
            if holder.id != lock_id:
                raise StateError(
                    f"{self.lock_path}: lock id {lock_id!r} does not match the held lock ({holder.describe()})"
                )
            try:
                os.unlink(self.lock_path)
            except FileNotFoundError:
                pass
        finally:
            if own is not None and own.id == lock_id:
                self._lock = None
                self._guard.disarm()

    def _release_own(self) -> None:
        if self._lock is not None:
            self.unlock(self._lock.id)
