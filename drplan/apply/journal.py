"""The journal: every side effect is recorded before it is attempted and after it is known, in the state file.

Entries hold what resume needs (step, target id, authorization expiry, operation URL) and never a token.
Writes are serialised by one asyncio lock and each one is an atomic state write (StateManager.persist).

A backend whose writes wait on the network (``network_io = True``: Azure Blob, an upload with ETag and lease) is
written from a worker thread, so the other changes of the apply keep running while the state uploads (issue 14). The
order is unchanged: each journal call mutates the state and waits for its write under the asyncio lock, and a
threading lock keeps one writer at a time even when a cancelled call leaves its write running (it is allowed to
finish first: the manager's ETag must follow every write). Only the journal mutates the state while changes run
concurrently, and always under its lock, so the thread serialises a state nobody changes meanwhile. The local
backend (a file write and two fsyncs) is written inline, as before.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timezone
from typing import Any

from drplan.state.manager import StateManager


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Journal:
    def __init__(self, manager: StateManager, plan_digest: str, *, offload: bool | None = None) -> None:
        """``offload``: write the state from a worker thread (None: when the backend says ``network_io``)."""
        assert manager.state is not None
        self.manager = manager
        self.state = manager.state
        self.plan_digest = plan_digest
        self._lock = asyncio.Lock()
        self._offload = bool(getattr(manager.backend, "network_io", False)) if offload is None else offload
        self._write_lock = threading.Lock()

    def _persist_now(self) -> None:
        with self._write_lock:
            self.manager.persist()

    async def _persist(self) -> None:
        """``manager.persist()``, off the event loop for a network backend. Call it holding ``self._lock``."""
        if not self._offload:
            self.manager.persist()
            return
        write = asyncio.get_running_loop().run_in_executor(None, self._persist_now)
        try:
            await asyncio.shield(write)
        except asyncio.CancelledError:
            # The upload is already under way in its thread: let it end before this call (and its lock) does, so the
            # next write starts from the ETag this one produced.
            while not write.done():
                try:
                    await asyncio.wait({write})
                except asyncio.CancelledError:
                    continue
            if not write.cancelled():
                write.exception()  # retrieved: the cancellation is what propagates
            raise

    def entry(self, address: str) -> dict[str, Any] | None:
        e = self.state.journal.get(address)
        return dict(e) if e else None

    async def record(self, address: str, action: str, step: str, **fields: Any) -> dict[str, Any]:
        """Set the journal entry of ``address`` to ``step`` (keeping earlier fields unless overridden) and persist."""
        async with self._lock:
            entry = dict(self.state.journal.get(address) or {})
            if action == "no-op":  # a no-op finishing an interrupted apply (issue 19) keeps that apply's action
                action = str(entry.get("action") or "update")
            entry.update({k: v for k, v in fields.items() if v is not None})
            entry.update({"plan_digest": self.plan_digest, "action": action, "step": step, "updated": utcnow()})
            self.state.journal[address] = entry
            await self._persist()
            return dict(entry)

    async def restart(self, address: str, action: str, step: str, **fields: Any) -> dict[str, Any]:
        """Like record, but forget every field of the previous attempt (a fresh copy attempt)."""
        async with self._lock:
            previous = self.state.journal.pop(address, None) or {}
        if action == "no-op":  # as in record: the interrupted apply's action stays
            action = str(previous.get("action") or "update")
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
            await self._persist()

    async def set_apply_status(self, status: str) -> None:
        async with self._lock:
            rec = self.state.apply_record(self.plan_digest)
            assert rec is not None
            rec["status"] = status
            if status != "in-progress":
                rec["finished"] = utcnow()
            await self._persist()
