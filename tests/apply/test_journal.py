"""Group commit in the journal (drplan/apply/journal.py, issue 18): concurrent journal calls share state writes, and
each call still returns only after a completed write that contains its mutation; order is kept; a failed write fails
every call it covered and the next call writes again; a cancelled writer neither hangs nor misleads the others."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from drplan.apply.journal import Journal
from drplan.errors import StateConflictError, StateError
from drplan.state.backends.base import LockInfo
from drplan.state.backends.local import LocalBackend
from drplan.state.manager import StateManager

DIGEST = "d" * 64


class GatedBackend:
    """In-memory backend with the conditional-write contract. Each write takes one permit (``allow``) before it
    lands, so a test can hold writes while calls pile up; ``fail`` lists write numbers (1-based) that raise."""

    def __init__(self, *, held: bool = False) -> None:
        self.data: bytes | None = None
        self.etag: str | None = None
        self.written: list[dict[str, Any]] = []
        self.attempts = 0
        self.fail: set[int] = set()
        self._permits = threading.Semaphore(0 if held else 10_000)
        self.entered = 0

    def allow(self, n: int = 1) -> None:
        for _ in range(n):
            self._permits.release()

    def describe(self) -> str:
        return "memory://state"

    def read(self) -> tuple[bytes | None, str | None]:
        return self.data, self.etag

    def write(self, data: bytes, etag: str | None) -> str:
        self.attempts += 1
        number = self.attempts
        self.entered += 1
        assert self._permits.acquire(timeout=10), "the test never let the write through"
        if number in self.fail:
            raise StateError(f"write {number} failed")
        if etag != self.etag:
            raise StateConflictError(f"etag {etag} is not {self.etag}")
        self.data, self.etag = data, f"v{number}"
        self.written.append(json.loads(data))
        return self.etag

    def on_disk(self) -> dict[str, Any]:
        assert self.data is not None
        return json.loads(self.data)

    def lock(self, operation: str, timeout: float = 0.0) -> LockInfo:
        return LockInfo.mint(operation)

    def unlock(self, lock_id: str | None = None) -> None:
        pass

    def read_lock(self) -> LockInfo | None:
        return None


def _journal(backend: Any, **kw: Any) -> Journal:
    manager = StateManager(backend)
    manager.load()
    manager.state.applies.append({"plan_digest": DIGEST, "base_serial": 0, "status": "in-progress",  # type: ignore
                                  "started": "2026-01-01T00:00:00.000Z", "done": []})
    return Journal(manager, DIGEST, **kw)


async def _until(condition: Any) -> None:
    for _ in range(5000):
        if condition():
            return
        await asyncio.sleep(0.002)
    raise AssertionError("condition never met")


def test_concurrent_calls_share_writes_and_each_is_on_disk_when_it_returns(tmp_path: Path):
    backend = LocalBackend(tmp_path / "state.json")
    journal = _journal(backend)
    state_file = tmp_path / "state.json"
    writes = [0]
    original = backend.write

    def counting(data: bytes, etag: str | None) -> str:
        writes[0] += 1
        return original(data, etag)

    backend.write = counting  # type: ignore[method-assign]
    late: list[str] = []

    async def change(i: int) -> None:
        for step in ("authorizing", "copy-requested", "copying"):
            entry = await journal.record(f"r/t/m{i}", "create", step, operation_url=f"https://x/op/{i}/{step}")
            assert entry["step"] == step and entry["operation_url"].endswith(f"/{i}/{step}")
            # Durable at return: the file on disk holds this step (or a later one of this change: none yet).
            on_disk = json.loads(state_file.read_bytes())["journal"].get(f"r/t/m{i}")
            if on_disk != entry:
                late.append(f"m{i} {step}: {on_disk}")
        await journal.finish(f"r/t/m{i}", None)
        on_disk = json.loads(state_file.read_bytes())
        if f"r/t/m{i}" in on_disk["journal"] or f"r/t/m{i}" not in on_disk["applies"][-1]["done"]:
            late.append(f"m{i} finish")

    async def go() -> None:
        await asyncio.gather(*(change(i) for i in range(40)))
        await journal.set_apply_status("complete")

    asyncio.run(go())
    assert late == []
    calls = 40 * 4 + 1
    assert writes[0] < calls / 4, f"{writes[0]} writes for {calls} calls"
    final = json.loads(state_file.read_bytes())
    assert final["serial"] == writes[0] and final["journal"] == {}
    assert final["applies"][-1]["status"] == "complete" and len(final["applies"][-1]["done"]) == 40


def test_calls_queued_behind_a_write_are_applied_in_call_order_in_one_write():
    backend = GatedBackend(held=True)
    journal = _journal(backend)

    async def go() -> list[dict[str, Any]]:
        first = asyncio.ensure_future(journal.record("a", "create", "authorizing", target_id="t1"))
        await _until(lambda: backend.entered == 1)  # the first write is under way: the next calls queue
        queued = [
            asyncio.ensure_future(journal.record("a", "create", "copy-requested", authorized_at="x")),
            asyncio.ensure_future(journal.record("a", "create", "copying", operation_url="https://op")),
            asyncio.ensure_future(journal.restart("b", "create", "authorizing", target_id="t2")),
            asyncio.ensure_future(journal.record("b", "create", "copy-requested")),
            asyncio.ensure_future(journal.record("c", "no-op", "copying")),
        ]
        await asyncio.sleep(0.01)
        assert not any(q.done() for q in queued)  # none returns before a write that contains it
        backend.allow(2)
        await first
        return list(await asyncio.gather(*queued))

    results = asyncio.run(go())
    assert len(backend.written) == 2  # six calls, two writes
    on_disk = backend.written[-1]["journal"]
    assert on_disk["a"]["step"] == "copying"  # the later record of the same address wins
    assert on_disk["a"]["target_id"] == "t1" and on_disk["a"]["authorized_at"] == "x"  # earlier fields kept
    assert on_disk["b"]["step"] == "copy-requested" and on_disk["b"]["target_id"] == "t2"
    assert on_disk["c"]["action"] == "update"
    # record() returns the entry as applied by its own mutation, not the batch's last one
    assert [r["step"] for r in results] == ["copy-requested", "copying", "authorizing", "copy-requested", "copying"]
    assert "operation_url" not in results[0] and results[1]["operation_url"] == "https://op"
    assert [doc["serial"] for doc in backend.written] == [1, 2]


def test_a_failed_write_fails_every_call_it_covered_and_the_next_call_writes_again():
    backend = GatedBackend(held=True)
    backend.fail = {2}
    journal = _journal(backend)

    async def go() -> None:
        first = asyncio.ensure_future(journal.record("a", "create", "authorizing"))
        await _until(lambda: backend.entered == 1)
        covered = [asyncio.ensure_future(journal.record(x, "create", "authorizing")) for x in ("b", "c", "d")]
        await asyncio.sleep(0.01)
        backend.allow(2)
        await first
        outcomes = await asyncio.gather(*covered, return_exceptions=True)
        assert all(isinstance(o, StateError) and "write 2 failed" in str(o) for o in outcomes), outcomes
        assert backend.on_disk()["journal"].keys() == {"a"}  # nothing of the failed write reached the backend
        backend.allow()
        await journal.record("e", "create", "authorizing")  # retries: the next write carries everything applied

    asyncio.run(go())
    assert backend.on_disk()["journal"].keys() == {"a", "b", "c", "d", "e"}
    assert [doc["serial"] for doc in backend.written] == [1, 2]  # the failed write did not move the serial


def test_a_cancelled_writer_waits_for_its_write_and_the_calls_it_covered_get_its_outcome():
    backend = GatedBackend(held=True)
    journal = _journal(backend)

    async def go() -> None:
        blocker = asyncio.ensure_future(journal.record("x", "create", "authorizing"))
        await _until(lambda: backend.entered == 1)
        holder = asyncio.ensure_future(journal.record("a", "create", "authorizing"))
        await asyncio.sleep(0)
        others = [asyncio.ensure_future(journal.record(x, "create", "authorizing")) for x in ("b", "c")]
        await asyncio.sleep(0.01)
        backend.allow()  # the blocker's write lands; the holder takes the lock and writes a, b, c together
        await blocker
        await _until(lambda: backend.entered == 2)
        holder.cancel()
        await asyncio.sleep(0.02)
        assert not holder.done() and not any(o.done() for o in others)  # nobody claims a write still under way
        backend.allow()
        with pytest.raises(asyncio.CancelledError):
            await holder
        await asyncio.wait_for(asyncio.gather(*others), 5)  # not left hanging: the write completed, they succeed
        assert backend.on_disk()["journal"].keys() == {"x", "a", "b", "c"}
        backend.allow()
        await journal.record("d", "create", "authorizing")  # the ETag chain is intact: no conflict

    asyncio.run(go())
    assert [doc["serial"] for doc in backend.written] == [1, 2, 3]


def test_a_cancelled_writer_whose_write_fails_fails_the_calls_it_covered():
    backend = GatedBackend(held=True)
    backend.fail = {2}
    journal = _journal(backend)

    async def go() -> None:
        blocker = asyncio.ensure_future(journal.record("x", "create", "authorizing"))
        await _until(lambda: backend.entered == 1)
        holder = asyncio.ensure_future(journal.record("a", "create", "authorizing"))
        await asyncio.sleep(0)
        other = asyncio.ensure_future(journal.record("b", "create", "authorizing"))
        await asyncio.sleep(0.01)
        backend.allow()
        await blocker
        await _until(lambda: backend.entered == 2)
        holder.cancel()
        backend.allow()
        with pytest.raises(asyncio.CancelledError):
            await holder
        with pytest.raises(StateError, match="write 2 failed"):
            await asyncio.wait_for(other, 5)

    asyncio.run(go())


def test_a_call_cancelled_before_any_write_took_it_has_no_effect():
    backend = GatedBackend(held=True)
    journal = _journal(backend)

    async def go() -> None:
        blocker = asyncio.ensure_future(journal.record("x", "create", "authorizing"))
        await _until(lambda: backend.entered == 1)
        waiter = asyncio.ensure_future(journal.record("gone", "create", "authorizing"))
        kept = asyncio.ensure_future(journal.record("kept", "create", "authorizing"))
        await asyncio.sleep(0.01)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        backend.allow(2)
        await asyncio.gather(blocker, kept)

    asyncio.run(go())
    assert backend.on_disk()["journal"].keys() == {"x", "kept"}
    assert all("gone" not in doc["journal"] for doc in backend.written)


def test_offload_false_writes_inline_on_the_loop_thread():
    backend = GatedBackend()
    threads: list[threading.Thread] = []
    original = backend.write

    def recording(data: bytes, etag: str | None) -> str:
        threads.append(threading.current_thread())
        return original(data, etag)

    backend.write = recording  # type: ignore[method-assign]
    journal = _journal(backend, offload=False)
    entry = asyncio.run(journal.record("a", "create", "authorizing"))
    assert threads == [threading.main_thread()] and backend.on_disk()["journal"]["a"] == entry


def test_a_mutation_that_raises_fails_its_own_call_only():
    backend = GatedBackend(held=True)
    journal = _journal(backend)
    journal.state.applies.clear()  # set_apply_status finds no apply record: a bug, raised in its own call

    async def go() -> None:
        blocker = asyncio.ensure_future(journal.record("x", "create", "authorizing"))
        await _until(lambda: backend.entered == 1)
        broken = asyncio.ensure_future(journal.set_apply_status("complete"))
        fine = asyncio.ensure_future(journal.record("a", "create", "authorizing"))
        await asyncio.sleep(0.01)
        backend.allow(2)
        await asyncio.gather(blocker, fine)
        with pytest.raises(AssertionError):
            await broken

    asyncio.run(go())
    assert backend.on_disk()["journal"].keys() == {"x", "a"} and len(backend.written) == 2
