"""The emulator's clock: wall time plus an offset that the admin API can move forward.

Everything time-dependent in the stores (authorization expiry, copy progress, operation retention, default
``createdDateTime``) reads this clock, so tests can jump a day ahead with ``POST /_emulator/clock`` instead of
sleeping. Fault timing (latency, the rate limiter's token bucket) deliberately uses real time: an advanced clock
must not refill a rate limit.

Also here: the time formats the families write (whole seconds, milliseconds, 7 digits, dates), :class:`TimedJob`
(the progress of a long-running operation) and :class:`Schedule` (which operations are due to finish).
"""

from __future__ import annotations

import datetime as dt
import heapq
import time
from collections.abc import Iterator

UTC = dt.timezone.utc


class Clock:
    """Seconds since the epoch, shifted by an adjustable, non-negative offset."""

    def __init__(self) -> None:
        self.offset_seconds = 0.0

    def now(self) -> float:
        """Current emulator time, in seconds since the epoch."""
        return time.time() + self.offset_seconds

    def advance(self, seconds: float) -> None:
        """Move the clock forward (never backwards: expiry and retention only make sense forwards)."""
        if seconds < 0:
            raise ValueError("the emulator clock only moves forward")
        self.offset_seconds += seconds

    def reset(self) -> None:
        self.offset_seconds = 0.0


def to_datetime(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=UTC)


def format_timestamp(ts: float | dt.datetime) -> str:
    """RFC 3339 UTC with a ``Z``, whole seconds (``2024-05-01T10:00:00Z``), as the service's model bodies show."""
    value = to_datetime(ts) if isinstance(ts, (int, float)) else ts.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def split_timestamp(ts: float, digits: int) -> tuple[str, str]:
    """``ts`` rounded to ``digits`` fractional digits: ``("2024-05-01T10:00:00", "0500000")`` (UTC, no zone)."""
    scale = 10**digits
    seconds, fraction = divmod(round(ts * scale), scale)
    return to_datetime(seconds).strftime("%Y-%m-%dT%H:%M:%S"), f"{fraction:0{digits}d}"


def format_timestamp_7(ts: float) -> str:
    """RFC 3339 UTC with 7 fractional digits (``2020-09-14T19:35:29.6433333Z``), as v2 copy results show [R]."""
    whole, fraction = split_timestamp(ts, 7)
    return f"{whole}.{fraction}Z"


def format_timestamp_ms(ts: float) -> str:
    """RFC 3339 UTC with milliseconds, always (``2024-05-01T10:00:00.000Z``; truncated, not rounded): the request log."""
    return to_datetime(ts).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def format_date(ts: float) -> str:
    """``2024-05-01`` (UTC): the date-only fields (Language expiration dates)."""
    return to_datetime(ts).strftime("%Y-%m-%d")


class TimedJob:
    """The progress of an emulated long-running job (a DI / FR copy, a v2 copy, a CU operation, a Language job) from
    the emulator clock: ``NOT_STARTED`` for the first fifth of ``duration``, then ``RUNNING``, then ``status`` once it is set.
    Mixed into dataclasses that have the fields ``created``, ``duration``, ``status`` and ``finished_at``."""

    NOT_STARTED = "notStarted"
    RUNNING = "running"
    created: float
    duration: float
    status: str | None
    finished_at: float | None

    @property
    def ends_at(self) -> float:
        return self.created + self.duration

    def status_at(self, now: float) -> str:
        """``NOT_STARTED`` for the first fifth of the duration, then ``RUNNING``, then the final status."""
        if self.status is not None:
            return self.status
        if self.duration <= 0 or now - self.created < 0.2 * self.duration:
            return self.NOT_STARTED
        return self.RUNNING

    def last_updated(self, now: float) -> float:
        if self.finished_at is not None:
            return self.finished_at
        return self.created if self.status_at(now) == self.NOT_STARTED else min(now, self.ends_at)


class Schedule:
    """The end times of a family's accepted operations, so they finish exactly when their time is up, whether or not
    anybody polls: ``due(now)`` pops them in (end time, sequence) order. ``next_seq()`` numbers operations in the order
    they were accepted (what lists and ties follow)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str, str]] = []  # (ends_at, seq, account, operation id)
        self._seq = 0

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def add(self, ends_at: float, seq: int, account: str, item_id: str) -> None:
        heapq.heappush(self._heap, (ends_at, seq, account, item_id))

    def due(self, now: float) -> Iterator[tuple[str, str]]:
        """``(account, id)`` of every operation whose end time is ``<= now``, removed as they are handed out."""
        while self._heap and self._heap[0][0] <= now:
            _, _, account, item_id = heapq.heappop(self._heap)
            yield account, item_id
