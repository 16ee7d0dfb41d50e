"""The journal: every side effect is recorded before it is attempted and after it is known, in the state file.

Entries hold what resume needs (step, target id, authorization expiry, operation URL) and never a token.

Contract: a journal call (record / restart / finish / set_apply_status) returns only after a state write that contains
its mutation has completed (StateManager.persist: an atomic write), so a caller that sends a request after ``await
journal.record(...)`` has it on disk first. If that write fails, the call raises and its side effect is never tried.

Group commit (issue 18): a write costs the whole state (digest, schema check, encode, atomic write: ~1.1 s at 60,000
records), and an apply makes ~4 journal calls per copy, so one write per call made apply cost grow with copies x state
size. Each call queues its mutation and a future, then takes the asyncio lock; if a write made meanwhile already
covered it, it returns that result, else it applies every queued mutation in call order, writes once, and resolves
all of them. Mutations are applied only by the lock holder, and only the journal mutates the state while changes run
concurrently (the executor's own edits come before the Journal exists), so the state nobody changes can be written
from a worker thread: the other changes keep polling meanwhile (issue 14), and the calls they make during one write
are committed together by the next. A threading lock keeps one writer at a time even when a cancelled holder leaves
its write running (it is waited for: the manager's ETag must follow every write, and the callers it covers learn its
outcome). ``offload=False`` writes inline on the event loop's thread (as every local write did before issue 18).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TypeVar

from drplan.errors import StateError
from drplan.state.manager import StateManager

T = TypeVar("T")


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Call:
    """One queued journal call: its mutation, and the future its caller waits on."""

    __slots__ = ("mutate", "done")

    def __init__(self, mutate: Callable[[], Any], done: asyncio.Future[Any]) -> None:
        self.mutate = mutate
        self.done = done


class Journal:
    def __init__(self, manager: StateManager, plan_digest: str, *, offload: bool = True) -> None:
        """``offload``: write the state from a worker thread (False: inline, blocking the event loop)."""
        assert manager.state is not None
        self.manager = manager
        self.state = manager.state
        self.plan_digest = plan_digest
        self._lock = asyncio.Lock()
        self._offload = offload
        self._write_lock = threading.Lock()
        self._queue: list[_Call] = []  # calls not yet applied, in call order

    def _persist_now(self) -> None:
        with self._write_lock:
            self.manager.persist()

    async def _commit(self, mutate: Callable[[], T]) -> T:
        """Queue ``mutate``, and return its result once a completed state write contains it (its error if it or
        that write failed)."""
        call = _Call(mutate, asyncio.get_running_loop().create_future())
        self._queue.append(call)
        try:
            async with self._lock:
                if not call.done.done():
                    await self._flush()
        except asyncio.CancelledError:
            if any(c is call for c in self._queue):  # never applied: the call had no effect
                self._queue.remove(call)
                call.done.cancel()
            else:  # applied by a holder, which resolves it: nobody will read the outcome
                call.done.add_done_callback(_retrieve)
            raise
        result: T = call.done.result()
        return result

    async def _flush(self) -> None:
        """Apply every queued mutation in call order, write the state once, resolve every covered call. Call it
        holding ``self._lock``. Cancelled, it still waits for a write under way and resolves what it covered before
        the cancellation propagates."""
        batch, self._queue = self._queue, []
        outcomes: list[tuple[Any, BaseException | None]] = []
        error: BaseException | None = None
        written = cancelled = False
        try:
            for call in batch:
                try:
                    outcomes.append((call.mutate(), None))
                except Exception as exc:  # a bug in one mutation fails its own call only
                    outcomes.append((None, exc))
            if not self._offload:
                try:
                    self.manager.persist()
                    written = True
                except Exception as exc:
                    error = exc
            else:
                write = asyncio.get_running_loop().run_in_executor(None, self._persist_now)
                while not write.done():
                    try:
                        await asyncio.wait({write})
                    except asyncio.CancelledError:
                        # The write is under way in its thread: let it end before this holder (and its lock) does,
                        # so the next write starts from the ETag this one produced and the covered calls learn how
                        # it ended.
                        cancelled = True
                error = StateError("the state write was cancelled") if write.cancelled() else write.exception()
                written = error is None
        finally:
            # Success only for a write that completed. ``outcomes`` is shorter than the batch only if a BaseException
            # cut the mutations short: those calls, like every call of a write that never ended, fail below.
            for call, (value, failed) in zip(batch, outcomes, strict=False):
                if call.done.done():
                    continue
                failure = error or failed
                if failure is not None:
                    call.done.set_exception(failure)
                elif written:
                    call.done.set_result(value)
            for call in batch:  # an interrupted mutation or inline write (a BaseException) leaves nobody waiting
                if not call.done.done():
                    call.done.set_exception(StateError("the state write was interrupted; nothing is known written"))
        if cancelled:
            raise asyncio.CancelledError

    def entry(self, address: str) -> dict[str, Any] | None:
        e = self.state.journal.get(address)
        return dict(e) if e else None

    def _set_entry(self, address: str, action: str, step: str, fields: dict[str, Any], *, fresh: bool) -> dict[str, Any]:
        previous = self.state.journal.pop(address, None) if fresh else self.state.journal.get(address)
        entry = {} if fresh else dict(previous or {})
        if action == "no-op":  # a no-op finishing an interrupted apply (issue 19) keeps that apply's action
            action = str((previous or {}).get("action") or "update")
        entry.update({k: v for k, v in fields.items() if v is not None})
        entry.update({"plan_digest": self.plan_digest, "action": action, "step": step, "updated": utcnow()})
        self.state.journal[address] = entry
        return dict(entry)

    async def record(self, address: str, action: str, step: str, **fields: Any) -> dict[str, Any]:
        """Set the journal entry of ``address`` to ``step`` (keeping earlier fields unless overridden) and persist.
        Returns the entry as applied."""
        return await self._commit(lambda: self._set_entry(address, action, step, fields, fresh=False))

    async def restart(self, address: str, action: str, step: str, **fields: Any) -> dict[str, Any]:
        """Like record, but forget every field of the previous attempt (a fresh copy attempt)."""
        return await self._commit(lambda: self._set_entry(address, action, step, fields, fresh=True))

    async def finish(self, address: str, record: dict[str, Any] | None) -> None:
        """The change is done: store (or remove) its resource record, drop its journal entry, mark it done."""

        def mutate() -> None:
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

        await self._commit(mutate)

    async def set_apply_status(self, status: str) -> None:
        def mutate() -> None:
            rec = self.state.apply_record(self.plan_digest)
            assert rec is not None
            rec["status"] = status
            if status != "in-progress":
                rec["finished"] = utcnow()

        await self._commit(mutate)


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
