"""StateManager: lineage and serial rules over a byte-moving backend. Lock, read, mutate, persist.

This is the one place that knows the state's format and its two invariants, whatever the backend:

* ``lineage`` is minted once, when the first state is written, and never changes except by ``state push --force``;
* ``serial`` only moves forward: ``persist`` bumps it when the content changed, ``push`` refuses a state that is not
  newer than the stored one (unless forced, and then the written serial is still higher than the stored one, so a
  plan made from the old state can never apply to the new one).

``persist`` validates the document against ``schemas/state.schema.json`` before any byte reaches the backend, and
writes conditionally on the ETag of what ``load`` read (StateConflictError if somebody else wrote meanwhile).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from drplan.errors import StateCorruptError, StateError, shorten
from drplan.fsutil import canonical_json, readable_json
from drplan.schemas import first_error
from drplan.state.backends.base import StateBackend
from drplan.state.model import STATE_FORMAT_VERSION, State


class StateManager:
    def __init__(self, backend: StateBackend) -> None:
        self.backend = backend
        self.state: State | None = None
        #: sha256 of the canonical JSON of the content last read or written (None: no state yet): what ``persist``
        #: compares against, without keeping a copy of the whole content (30 MB at 60,000 records; issue 18).
        self._persisted_content: bytes | None = None
        self._etag: str | None = None

    def load(self) -> State:
        """Read the state; a missing one is "no state yet" (a fresh State), an unusable one is StateCorruptError."""
        self.pull()
        assert self.state is not None
        return self.state

    @staticmethod
    def _parse(raw: bytes, where: str) -> dict[str, Any]:
        try:
            data = json.loads(raw)
        except RecursionError:
            raise StateCorruptError(f"{where}: state is JSON nested too deeply to be a drplan state; restore it from "
                                    "a backup") from None
        except ValueError as exc:  # also UnicodeDecodeError
            raise StateCorruptError(f"{where}: state is not valid JSON ({shorten(str(exc))}); restore it from a "
                                    "backup") from None
        if not isinstance(data, dict):
            raise StateCorruptError(f"{where}: state is not a JSON object; restore it from a backup")
        if data.get("format_version") != STATE_FORMAT_VERSION:
            raise StateCorruptError(
                f"{where}: state format_version {shorten(data.get('format_version'), 40)} is not supported by this drplan "
                f"(expects {STATE_FORMAT_VERSION}); use a matching drplan version"
            )
        try:
            err = first_error("state.schema.json", data)
        except RecursionError:
            err = "a value nested too deeply"
        if err:
            raise StateCorruptError(f"{where}: state does not match its schema at {shorten(err, 400)}")
        return data

    def pull(self) -> bytes | None:
        """The stored state's bytes exactly as stored (None: no state yet), after checking they are a usable state.
        Loads it too."""
        raw, self._etag = self.backend.read()
        if raw is None:
            self.state, self._persisted_content = State.new(), None
            return None
        self.state = State.adopt(self._parse(raw, self.backend.describe()))
        self._persisted_content = _content_digest(self.state)
        return raw

    @property
    def exists(self) -> bool:
        return self._persisted_content is not None

    def persist(self) -> None:
        assert self.state is not None
        content = _content_digest(self.state)
        if content == self._persisted_content:
            return
        doc = self.state.document(self.state.serial + 1)  # serialised below, not kept: no deep copy
        err = first_error("state.schema.json", doc)
        if err:  # a bug, never user input: refuse to write a state we could not read back
            raise StateCorruptError(f"refusing to write invalid state at {err}")
        self._etag = self.backend.write(readable_json(doc), self._etag)
        self.state.serial += 1
        self._persisted_content = content

    @contextmanager
    def locked(self, operation: str, timeout: float = 0.0) -> Iterator[State]:
        """Take the lock, read the state under it (work is checked again after taking a lock), yield it, and release
        the lock however the block ends. Call :meth:`persist` inside the block to keep changes."""
        self.backend.lock(operation, timeout=timeout)
        try:
            yield self.load()
        finally:
            self.backend.unlock()

    def push(self, raw: bytes, *, source: str, force: bool = False) -> tuple[int | None, int]:
        """Replace the stored state with ``raw`` (``drplan state push``); call it holding the lock.

        Refuses a state of another lineage, or one whose serial is not higher than the stored one, unless ``force``
        (then the written serial is ``max(pushed, stored + 1)``, so it still moves forward). Pushing exactly the stored
        state again is a no-op. Returns ``(serial before or None, serial now)``."""
        doc = self._parse(raw, source)
        try:
            current = self.load()
            existed = self.exists
        except StateCorruptError:
            if not force:
                raise
            current, existed = None, False  # forced over an unusable state: it cannot be compared
        where = self.backend.describe()
        if current is not None and existed:
            if doc["lineage"] != current.lineage and not force:
                raise StateError(
                    f"{source} is lineage {doc['lineage']}, but {where} is lineage {current.lineage}: it is a "
                    "different state, not a version of this one; refusing to replace it (use --force if you really "
                    "mean to)"
                )
            same = _content_digest(State.adopt(doc)) == self._persisted_content
            if doc["lineage"] == current.lineage and doc["serial"] == current.serial and same:
                return current.serial, current.serial
            if doc["serial"] <= current.serial:
                if not force:
                    raise StateError(
                        f"{source} is serial {doc['serial']}, but {where} is already serial {current.serial}: it is "
                        "not newer, and pushing it would lose what was written since; pull the state, merge, and push "
                        "a higher serial (or use --force)"
                    )
                doc["serial"] = current.serial + 1
        before = current.serial if current is not None and existed else None
        self._etag = self.backend.write(readable_json(doc), self._etag)
        self.state = State.adopt(doc)  # parsed here and written: nobody else holds it
        self._persisted_content = _content_digest(self.state)
        return before, doc["serial"]


#: Records encoded per call of the C encoder when digesting the content (issue 18).
_BATCH = 2000


def _content_digest(state: State) -> bytes:
    """sha256 of ``canonical_json(state.content())``, streamed: the records are encoded ``_BATCH`` at a time (a
    sorted object's canonical text is its sorted members joined by ","), so the canonical text of a large state
    (~30 MB at 60,000 records) never exists whole. tests/state/test_state_local.py checks it equals the one-shot
    digest."""
    content = state.content()
    records = content.pop("resources")
    hasher = hashlib.sha256()
    keys = sorted([*content, "resources"])
    for i, key in enumerate(keys):
        hasher.update(("{" if i == 0 else ",").encode() + canonical_json(key) + b":")
        if key != "resources":
            hasher.update(canonical_json(content[key]))
            continue
        hasher.update(b"{")
        ordered = sorted(records)
        for start in range(0, len(ordered), _BATCH):
            text = canonical_json({k: records[k] for k in ordered[start:start + _BATCH]})
            hasher.update((b"," if start else b"") + text[1:-1])
        hasher.update(b"}")
    hasher.update(b"}")
    return hasher.digest()
