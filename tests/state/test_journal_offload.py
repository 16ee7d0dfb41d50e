"""Azure Blob state writes do not block the event loop (issue 14): the apply journal uploads the state from a worker
thread (every backend since issue 18), while concurrent changes keep running; writes stay in order, one at a time,
each with the ETag of the one before. Since issue 18 (group commit) the local backend is written from a thread too."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

from drplan.apply.journal import Journal
from drplan.errors import StateConflictError
from drplan.state.backends.azureblob import AzureBlobBackend
from drplan.state.backends.base import LockInfo
from drplan.state.manager import StateManager

DIGEST = "d" * 64


class SlowBlob:
    """An in-memory backend with the blob backend's contract (ETag-conditional writes) whose writes block until
    released, and which records the thread and concurrency of every write."""

    network_io = True

    def __init__(self, *, block_first: bool = False, delay: float = 0.0) -> None:
        self.data: bytes | None = None
        self.etag: str | None = None
        self.version = 0
        self.delay = delay
        self.release = threading.Event()
        if not block_first:
            self.release.set()
        self.entered = threading.Event()
        self.threads: list[threading.Thread] = []
        self.active = 0
        self.max_active = 0
        self.written: list[dict] = []
        self._guard = threading.Lock()

    def describe(self) -> str:
        return "memory://state"

    def read(self) -> tuple[bytes | None, str | None]:
        return self.data, self.etag

    def write(self, data: bytes, etag: str | None) -> str:
        with self._guard:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            self.threads.append(threading.current_thread())
            self.entered.set()
            assert self.release.wait(10), "the test never released the write"
            time.sleep(self.delay)
            if etag != self.etag:
                raise StateConflictError(f"etag {etag} is not {self.etag}")
            self.version += 1
            self.data, self.etag = data, f"v{self.version}"
            self.written.append(json.loads(data))
            return self.etag
        finally:
            with self._guard:
                self.active -= 1

    def lock(self, operation: str, timeout: float = 0.0) -> LockInfo:
        return LockInfo.mint(operation)

    def unlock(self, lock_id: str | None = None) -> None:
        pass

    def read_lock(self) -> LockInfo | None:
        return None


def _journal(backend, **kw) -> Journal:
    manager = StateManager(backend)
    manager.load()
    return Journal(manager, DIGEST, **kw)


def test_the_blob_backend_says_it_does_network_io():
    assert AzureBlobBackend.network_io is True


def test_a_blocked_upload_does_not_block_other_changes():
    backend = SlowBlob(block_first=True)
    journal = _journal(backend)
    ticks: list[int] = []

    async def other_change() -> None:
        # runs while the upload is blocked in its thread; then lets it go
        while not backend.entered.is_set():
            await asyncio.sleep(0.005)
        for i in range(20):
            ticks.append(i)
            await asyncio.sleep(0)
        backend.release.set()

    async def go():
        await asyncio.gather(journal.record("a.b", "create", "authorizing", target_id="t1"), other_change())

    asyncio.run(go())
    assert ticks == list(range(20))  # all ran while the write was still blocked
    assert backend.threads and all(t is not threading.main_thread() for t in backend.threads)
    assert backend.written[-1]["journal"]["a.b"]["step"] == "authorizing"
    assert journal.manager.state.serial == 1


def test_concurrent_journal_writes_stay_ordered_and_one_at_a_time():
    backend = SlowBlob(delay=0.01)
    journal = _journal(backend)

    async def change(i: int) -> None:
        await journal.record(f"r.m{i}", "create", "authorizing")
        await journal.record(f"r.m{i}", "create", "copying", operation_url=f"https://x/op/{i}")

    async def go():
        await asyncio.gather(*(change(i) for i in range(6)))

    asyncio.run(go())
    assert backend.max_active == 1  # one writer at a time
    # each write built on the previous; the calls made during one write share the next (group commit, issue 18)
    assert [doc["serial"] for doc in backend.written] == list(range(1, len(backend.written) + 1))
    assert len(backend.written) < 12
    final = backend.written[-1]["journal"]
    assert {k: v["step"] for k, v in final.items()} == {f"r.m{i}": "copying" for i in range(6)}


def test_a_cancelled_write_finishes_before_the_next_one_starts():
    backend = SlowBlob(block_first=True)
    journal = _journal(backend)

    async def go():
        first = asyncio.ensure_future(journal.record("a.b", "create", "authorizing"))
        while not backend.entered.is_set():
            await asyncio.sleep(0.005)
        first.cancel()
        await asyncio.sleep(0.02)
        assert not first.done()  # waits for its upload, holding the journal lock
        backend.release.set()
        with pytest.raises(asyncio.CancelledError):
            await first
        await journal.record("a.b", "create", "copying")  # the ETag chain is intact: no conflict

    asyncio.run(go())
    assert [doc["journal"]["a.b"]["step"] for doc in backend.written] == ["authorizing", "copying"]
    assert backend.max_active == 1


def test_a_failed_upload_reaches_the_caller():
    backend = SlowBlob()
    journal = _journal(backend)
    backend.etag = "somebody-else"  # another run wrote meanwhile

    async def go():
        await journal.record("a.b", "create", "authorizing")

    with pytest.raises(StateConflictError):
        asyncio.run(go())


def test_every_backend_is_written_from_a_worker_thread_unless_told_otherwise():
    backend = SlowBlob()
    backend.network_io = False  # the local file backend declares nothing: written off the loop too (issue 18)
    journal = _journal(backend)
    asyncio.run(journal.record("a.b", "create", "authorizing"))
    assert backend.threads[0] is not threading.main_thread()
    inline = _journal(SlowBlob(), offload=False)
    asyncio.run(inline.record("a.b", "create", "authorizing"))
    assert inline.manager.backend.threads == [threading.main_thread()]
