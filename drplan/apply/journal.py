"""The journal: every side effect is recorded before it is attempted and after it is known, in the state file.

Entries hold what resume needs (step, target id, authorization expiry, operation URL) and never a token.
Writes are serialised by one asyncio lock and each one is an atomic state write (StateManager.persist).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

from drplan.state.manager import StateManager


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Journal:
    def __init__(self, manager: StateManager, plan_digest: str) -> None:
        assert manager.state is not None
        self.manager = manager
        self.state = manager.state
        self.plan_digest = plan_digest
        self._lock = asyncio.Lock()

    def entry(self, address: str) -> dict[str, Any] | None:
        e = self.state.journal.get(address)
        return dict(e) if e else None

    async def record(self, address: str, action: str, step: str, **fields: Any) -> dict[str, Any]:
        """Set the journal entry of ``address`` to ``step`` (keeping earlier fields unless overridden) and persist."""
        async with self._lock:
            entry = dict(self.state.journal.get(address) or {})
            entry.update({k: v for k, v in fields.items() if v is not None})
            entry.update({"plan_digest": self.plan_digest, "action": action, "step": step, "updated": utcnow()})
            self.state.journal[address] = entry
            self.manager.persist()
            return dict(entry)

    async def restart(self, address: str, action: str, step: str, **fields: Any) -> dict[str, Any]:
        """Like record, but forget every field of the previous attempt (a fresh copy attempt)."""
        async with self._lock:
            self.state.journal.pop(address, None)
        return await self.record(address, action, step, **fields)

    async def finish(self, address: str, record: dict[str, Any] | None) -> None:
        """The change is done: store (or remove) its resource record, drop its journal entry, mark it done."""
        async with self._lock:
            if record is None:
                self.state.resources.pop(address, None)
            else:
                self.state.resources[address] = record
            self.state.journal.pop(address, None)
            rec = self.state.apply_record(self.plan_digest)
            if rec is not None:
                done = rec.setdefault("done", [])
                if address not in done:
                    done.append(address)
            self.manager.persist()

    async def set_apply_status(self, status: str) -> None:
        async with self._lock:
            rec = self.state.apply_record(self.plan_digest)
            assert rec is not None
            rec["status"] = status
            if status != "in-progress":
                rec["finished"] = utcnow()
            self.manager.persist()
