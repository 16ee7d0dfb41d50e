"""Crash-safe file writes and the two JSON encodings drplan writes.

* :func:`canonical_json`: compact, sorted keys, UTF-8, produced by the C encoder. The only input to digests.
* :func:`readable_json`: what goes into plan and state files: sorted keys, the top level spread over lines and each
  entry of a top-level collection (a change, a resource record) on one line, so files diff well in pull requests and
  are written fast even with thousands of entries.
"""

from __future__ import annotations

import errno
import glob
import json
import os
import re
import socket
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: The largest file drplan reads at each boundary (issue 19: a huge or endless file is an error, never a hang or an
#: out-of-memory). A spec is hand-written TOML; a plan or a state of 10,000 copies is a few tens of MB; a lock file
#: holds one line.
MAX_SPEC_BYTES = 16 * 1024 * 1024
MAX_PLAN_BYTES = 512 * 1024 * 1024
MAX_STATE_BYTES = 512 * 1024 * 1024
MAX_LOCK_BYTES = 64 * 1024
#: A temporary file of an atomic write older than this is left over from a killed run (a write takes milliseconds).
STALE_TMP_SECONDS = 600.0


def read_limited(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of ``path``, refusing a file larger than ``limit`` bytes without reading it all. Every problem is an
    OSError whose ``strerror`` says what is wrong (a NUL in the path, too large, a directory, ...), so callers keep
    one ``except OSError`` with one readable message."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except ValueError:  # "embedded null byte"
        raise OSError(errno.EINVAL, "the path holds a NUL character") from None
    except IsADirectoryError:
        raise OSError(errno.EISDIR, "it is a directory, not a file") from None
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"the file is larger than {limit // (1024 * 1024) or limit} "
                                   f"{'MB' if limit >= 1024 * 1024 else 'bytes'}, more than drplan reads")
    return data


_HOST = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:64] or "host"
#: ``.<name>.<host>.<pid>.<random>.tmp``: the writer's host and process id are in the name (issue 19), so a later run
#: tells a killed writer's leftover (its process is gone) from a write in progress.
_OWNED_TMP = re.compile(r"\.(?P<host>[A-Za-z0-9_-]+)\.(?P<pid>\d+)\.[A-Za-z0-9_]+\.tmp$")


def temp_beside(path: Path) -> tuple[int, str]:
    """Create the temporary file of an atomic write of ``path``: in the same directory (so ``os.replace`` is a
    rename), named ``.<name>.<host>.<pid>.<random>.tmp`` for :func:`remove_stale_temps`. Returns ``(fd, name)``."""
    return tempfile.mkstemp(prefix=f".{path.name}.{_HOST}.{os.getpid()}.", suffix=".tmp", dir=path.parent)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True


def remove_stale_temps(path: Path, *, older_than: float = STALE_TMP_SECONDS) -> list[Path]:
    """Delete temporary files a killed atomic write of ``path`` left behind (``.<name>.*.tmp`` beside it). One named
    by :func:`temp_beside` on this host goes as soon as its writer process is gone (never while it lives, unless older
    than ``older_than``); any other (an older drplan's name, another host's) only when older than ``older_than``
    seconds: a younger one may belong to a write in progress (another process, a lock breaker). Returns what was
    removed; never raises."""
    removed: list[Path] = []
    path = Path(path)
    try:
        candidates = list(path.parent.glob(f".{glob.escape(path.name)}.*.tmp"))
    except (OSError, ValueError):
        return removed
    now = time.time()
    for tmp in candidates:
        owned = _OWNED_TMP.fullmatch(tmp.name[len(path.name) + 1:])
        dead = (owned is not None and owned["host"] == _HOST and int(owned["pid"]) != os.getpid()
                and not _pid_alive(int(owned["pid"])))
        try:
            if dead or now - tmp.stat().st_mtime >= older_than:
                tmp.unlink()
                removed.append(tmp)
        except OSError:
            continue
    return removed


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Temp file in the same directory (:func:`temp_beside`) -> fsync -> os.replace -> fsync the directory."""
    atomic_write_chunks(path, (data,))


def atomic_write_chunks(path: Path, chunks: Iterable[bytes]) -> None:
    """:func:`atomic_write_bytes` for a file made in pieces (a plan of 70 MB is never one bytes object, issue 18).
    Temporary files that killed writers of ``path`` left behind are removed first (:func:`remove_stale_temps`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    fd, tmp = temp_beside(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


# Built once: json.dumps with non-default options constructs an encoder per call, which shows with 6,000 changes.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_COMPACT = json.JSONEncoder(sort_keys=True, separators=(", ", ": "), ensure_ascii=False)


def canonical_json(data: Any) -> bytes:
    return _CANONICAL.encode(data).encode("utf-8")


def _compact(value: Any) -> str:
    return _COMPACT.encode(value)


def readable_json(data: dict[str, Any]) -> bytes:
    lines = ["{"]
    keys = sorted(data)
    for i, key in enumerate(keys):
        value = data[key]
        comma = "," if i < len(keys) - 1 else ""
        head = f"  {json.dumps(key)}: "
        if isinstance(value, dict) and value and all(isinstance(v, (dict, list)) for v in value.values()):
            inner = sorted(value)
            lines.append(head + "{")
            lines.extend(f"    {json.dumps(k)}: {_compact(value[k])}{',' if j < len(inner) - 1 else ''}"
                         for j, k in enumerate(inner))
            lines.append("  }" + comma)
        elif isinstance(value, list) and value and all(isinstance(v, (dict, list)) for v in value):
            lines.append(head + "[")
            lines.extend(f"    {_compact(v)}{',' if j < len(value) - 1 else ''}" for j, v in enumerate(value))
            lines.append("  ]" + comma)
        else:
            lines.append(head + _compact(value) + comma)
    lines.append("}")
    return ("\n".join(lines) + "\n").encode("utf-8")
