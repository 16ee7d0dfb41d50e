"""Crash-safe file writes and the two JSON encodings drplan writes.

* :func:`canonical_json`: compact, sorted keys, UTF-8, produced by the C encoder. The only input to digests.
* :func:`readable_json`: what goes into plan and state files: sorted keys, the top level spread over lines and each
  entry of a top-level collection (a change, a resource record) on one line, so files diff well in pull requests and
  are written fast even with thousands of entries.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Temp file in the same directory -> fsync -> os.replace -> fsync the directory."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
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
