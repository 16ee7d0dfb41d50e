"""Fault injection: latency, slow mode, a per-account rate limit, injected 503s, dropped connections, lost
responses and failing copy operations.

Determinism: each account has its own ``random.Random`` seeded from the config's ``seed`` and the account name,
and every service request to that account draws exactly three numbers (drop, error, drop-after) whatever the
current rates, so the same sequence of requests meets the same faults after ``POST /_emulator/reset``. Copy
failures draw from a second per-account generator, once per accepted copy; what an injected error looks like (429 or
503, with or without ``Retry-After``: ``throttle_share``, ``retry_after_share``) from a third, twice per injected
error, so adding those keys changes no other fault's dice.

Order (see ``app.py``): latency → auth → rate limit → drop / 503 (both *before* any side effect, so a retried POST
is safe) → the handler → drop-after (the side effect happened, the answer is lost; contracts §2.4 resume logic).
"""

from __future__ import annotations

import dataclasses
import enum
import random
import time
from collections import defaultdict
from typing import Any, Protocol

from . import errors
from .config import EmulatorConfig, Faults, apply_faults, validate_faults


class Decision(enum.Enum):
    """What to do with one request."""

    PASS = "pass"
    DROP = "drop"  # close the connection without answering, before the handler runs
    ERROR = "error"  # answer an injected 503 or 429 (:meth:`FaultInjector.injected_error`), before the handler runs
    DROP_AFTER = "drop_after"  # run the handler (side effects happen), then close without answering


class _TokenBucket:
    """``rate`` requests per second, bursts up to ``max(1, rate)``; real (monotonic) time."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class FaultInjector:
    """Effective faults per account (global ``[faults]`` overlaid with the account's own) and their dice."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        self.global_faults: Faults = dataclasses.replace(self.config.faults)
        self.overrides: dict[str, dict[str, Any]] = {name: dict(acc.faults) for name, acc in self.config.accounts.items()}
        self._request_rng = {name: random.Random(f"{self.config.seed}/{name}/requests") for name in self.config.accounts}
        self._operation_rng = {name: random.Random(f"{self.config.seed}/{name}/operations") for name in self.config.accounts}
        self._error_rng = {name: random.Random(f"{self.config.seed}/{name}/errors") for name in self.config.accounts}
        self._buckets: dict[str, _TokenBucket] = {}
        self.counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def effective(self, account: str) -> Faults:
        return apply_faults(self.global_faults, self.overrides.get(account, {}))

    def update(self, values: dict[str, Any], account: str | None = None) -> Faults:
        """``PUT /_emulator/faults``: change the global defaults, or one account's overrides."""
        validate_faults(values, where="faults")
        if account is None:
            self.global_faults = apply_faults(self.global_faults, values)
            self._buckets.clear()
            return self.global_faults
        self.overrides.setdefault(account, {}).update(values)
        self._buckets.pop(account, None)
        return self.effective(account)

    def delay_seconds(self, faults: Faults) -> float:
        return faults.latency_ms / 1000.0 + (0.2 if faults.slow else 0.0)

    def admit(self, account: str, faults: Faults) -> bool:
        """Rate limit: False when the account is over ``rate_limit_per_second``."""
        if faults.rate_limit_per_second <= 0:
            return True
        bucket = self._buckets.get(account)
        if bucket is None or bucket.rate != faults.rate_limit_per_second:
            bucket = self._buckets[account] = _TokenBucket(faults.rate_limit_per_second)
        return bucket.take()

    def decide(self, account: str, route: str, faults: Faults) -> Decision:
        rng = self._request_rng[account]
        drop, error, drop_after = rng.random(), rng.random(), rng.random()
        if faults.routes and route not in faults.routes:
            return Decision.PASS
        if drop < faults.drop_rate:
            decision = Decision.DROP
        elif error < faults.error_rate:
            decision = Decision.ERROR
        elif drop_after < faults.drop_after_rate:
            decision = Decision.DROP_AFTER
        else:
            return Decision.PASS
        self.counts[account][decision.value] += 1
        return decision

    def injected_error(self, account: str, faults: Faults, retry_after_seconds: int) -> errors.ServiceError:
        """What an ``error_rate`` fault answers: a 429 (share ``throttle_share``, the gateway's throttling body) or a
        503 ``ServiceUnavailable``, carrying ``Retry-After: retry_after_seconds`` with probability
        ``retry_after_share`` (a fault storm mixes both; by default every injected error is a 503 without one, as
        before these keys existed). Either way the request had no side effect."""
        rng = self._error_rng[account]
        throttle, with_retry_after = rng.random() < faults.throttle_share, rng.random() < faults.retry_after_share
        error = errors.throttled(retry_after_seconds) if throttle else errors.service_unavailable()
        if not with_retry_after:
            error.headers = {k: v for k, v in error.headers.items() if k.lower() != "retry-after"}
        elif "Retry-After" not in error.headers:
            error.headers = {**error.headers, "Retry-After": str(retry_after_seconds)}
        self.counts[account][f"error_{429 if throttle else 503}{'_retry_after' if with_retry_after else ''}"] += 1
        return error

    def operation_fails(self, account: str, faults: Faults) -> bool:
        failed = self._operation_rng[account].random() < faults.operation_failure_rate
        if failed:
            self.counts[account]["operation_failure"] += 1
        return failed

    def copy_duration(self, base_seconds: float, faults: Faults) -> float:
        """Slow mode makes copy operations take ten times ``copy_seconds`` (README)."""
        return base_seconds * (10.0 if faults.slow else 1.0)


class Closable(Protocol):
    def close(self) -> None: ...


class ConnectionRegistry:
    """Open client connections by peer address, so the app can drop one without answering.

    ASGI gives an app no way to close its connection silently; the server's protocol class (``server.py``)
    registers each transport here and the app closes the one whose ``scope["client"]`` made the request.
    """

    def __init__(self) -> None:
        self._transports: dict[tuple[str, int], Closable] = {}

    def register(self, client: tuple[str, int] | None, transport: Closable) -> None:
        if client is not None:
            self._transports[tuple(client)] = transport  # type: ignore[index]

    def unregister(self, client: tuple[str, int] | None, transport: Closable) -> None:
        if client is not None and self._transports.get(tuple(client)) is transport:  # type: ignore[arg-type]
            del self._transports[tuple(client)]  # type: ignore[arg-type]

    def get(self, client: Any) -> Closable | None:
        if client is None:
            return None
        return self._transports.get(tuple(client))
