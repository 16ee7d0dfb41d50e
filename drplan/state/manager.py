"""StateManager: lineage and serial rules over a byte-moving backend. Lock, read, mutate, persist.

``persist`` bumps the serial only when the content changed and validates the document against
``schemas/state.schema.json`` before any byte reaches the backend.
"""

from __future__ import annotations

import json
from typing import Any

from drplan.errors import StateCorruptError
from drplan.fsutil import canonical_json, readable_json
from drplan.schemas import first_error
from drplan.state.backends.local import LocalBackend
from drplan.state.model import STATE_FORMAT_VERSION, State


class StateManager:
    def __init__(self, backend: LocalBackend) -> None:
        self.backend = backend
        self.state: State | None = None
        self._persisted_content: Any = None

    def load(self) -> State:
        """Read the state; a missing file is "no state yet" (a fresh State), an unusable one is StateCorruptError."""
        raw = self.backend.read()
        if raw is None:
            self.state = State.new()
            self._persisted_content = None
            return self.state
        where = self.backend.describe()
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise StateCorruptError(f"{where}: state is not valid JSON ({exc}); restore it from a backup") from None
        if not isinstance(data, dict):
            raise StateCorruptError(f"{where}: state is not a JSON object; restore it from a backup")
        if data.get("format_version") != STATE_FORMAT_VERSION:
            raise StateCorruptError(
                f"{where}: state format_version {data.get('format_version')!r} is not supported by this drplan "
                f"(expects {STATE_FORMAT_VERSION}); use a matching drplan version"
            )
        err = first_error("state.schema.json", data)
        if err:
            raise StateCorruptError(f"{where}: state does not match its schema at {err}")
        self.state = State.from_dict(data)
        self._persisted_content = canonical_json(self.state.content())
        return self.state

    @property
    def exists(self) -> bool:
        return self._persisted_content is not None

    def persist(self) -> None:
        assert self.state is not None
        content = canonical_json(self.state.content())
        if content == self._persisted_content:
            return
        doc = self.state.to_dict()
        doc["serial"] += 1
        err = first_error("state.schema.json", doc)
        if err:  # a bug, never user input: refuse to write a state we could not read back
            raise StateCorruptError(f"refusing to write invalid state at {err}")
        self.backend.write(readable_json(doc))
        self.state.serial += 1
        self._persisted_content = content
