"""The state document: what drplan has copied, and the journal of in-flight steps.

``format_version`` is bumped whenever an older drplan could misread a newer state file.

    {
      "format_version": 1,
      "lineage": "<uuid, minted once>",
      "serial": 7,                      # bumped on every content change
      "resources": {ADDRESS: Record},   # finished copies
      "journal": {ADDRESS: Entry},      # in-flight steps: ids, expiry times, operation URLs; never tokens
      "applies": [ {plan_digest, base_serial, status, started, finished} ]   # last few applies, newest last
    }
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from typing import Any

STATE_FORMAT_VERSION = 1
MAX_APPLY_HISTORY = 20


@dataclass
class State:
    lineage: str
    serial: int = 0
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    journal: dict[str, dict[str, Any]] = field(default_factory=dict)
    applies: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def new(cls) -> "State":
        return cls(lineage=str(uuid.uuid4()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": STATE_FORMAT_VERSION,
            "lineage": self.lineage,
            "serial": self.serial,
            "resources": copy.deepcopy(self.resources),
            "journal": copy.deepcopy(self.journal),
            "applies": copy.deepcopy(self.applies[-MAX_APPLY_HISTORY:]),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "State":
        return cls(
            lineage=data["lineage"],
            serial=data["serial"],
            resources=copy.deepcopy(data.get("resources", {})),
            journal=copy.deepcopy(data.get("journal", {})),
            applies=copy.deepcopy(data.get("applies", [])),
        )

    @classmethod
    def adopt(cls, data: dict[str, Any]) -> "State":
        """``from_dict`` for a document the caller hands over (just parsed, or written and not used again): the state
        takes its containers instead of deep-copying them. A deep copy of 60,000 records cost ~0.8 s and twice the
        memory on every load (issue 18)."""
        return cls(lineage=data["lineage"], serial=data["serial"], resources=data.get("resources", {}),
                   journal=data.get("journal", {}), applies=data.get("applies", []))

    def document(self, serial: int) -> dict[str, Any]:
        """The state document with ``serial``, sharing structure with the state (``to_dict`` without the deep copy):
        serialise it, do not keep it."""
        return {**self.content(), "serial": serial}

    def content(self) -> dict[str, Any]:
        """What the serial protects: everything but the serial itself. Shares structure with the state: serialise
        it, do not keep it."""
        return {"format_version": STATE_FORMAT_VERSION, "lineage": self.lineage, "resources": self.resources,
                "journal": self.journal, "applies": self.applies[-MAX_APPLY_HISTORY:]}

    def apply_record(self, plan_digest: str) -> dict[str, Any] | None:
        for rec in reversed(self.applies):
            if rec["plan_digest"] == plan_digest:
                found: dict[str, Any] = rec  # the record itself: callers update it in place
                return found
        return None
