"""The emulator's clock: wall time plus an offset that the admin API can move forward.

Everything time-dependent in the store (authorization expiry, copy progress, operation retention, default
``createdDateTime``) reads this clock, so tests can jump a day ahead with ``POST /_emulator/clock`` instead of
sleeping. Fault timing (latency, the rate limiter's token bucket) deliberately uses real time: an advanced clock
must not refill a rate limit.
"""

from __future__ import annotations

import datetime as dt
import time

UTC = dt.timezone.utc


class Clock:
    """Seconds since the epoch, shifted by an adjustable, non-negative offset."""

    def __init__(self) -> None:
        self.offset_seconds = 0.0

    def now(self) -> float:
        """Current emulator time, in seconds since the epoch."""
        return time.time() + self.offset_seconds

    def now_datetime(self) -> dt.datetime:
        return to_datetime(self.now())

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


def format_timestamp_7(ts: float) -> str:
    """RFC 3339 UTC with 7 fractional digits (``2020-09-14T19:35:29.6433333Z``), as v2 copy results show [R]."""
    ticks = round(ts * 10_000_000)
    seconds, fraction = divmod(ticks, 10_000_000)
    return to_datetime(seconds).strftime("%Y-%m-%dT%H:%M:%S") + f".{fraction:07d}Z"


class TimedJob:
    """The progress of an emulated long-running job (a v2 copy, a CU operation, a Language job) from the emulator
    clock: ``NOT_STARTED`` for the first fifth of ``duration``, then ``RUNNING``, then ``status`` once it is set.
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
