"""The async HTTP core: one httpx.AsyncClient, keys per request, bounded and adaptive concurrency per endpoint,
and retries that never repeat a side effect blindly.

Retry rules (why: a POST whose answer was lost may still have started a copy, contracts §2.4 / DESIGN §3):
* 429: always retried after ``Retry-After`` (the service did not process it); the whole endpoint pauses that long and
  its concurrency limit halves (AIMD), growing back by one after a run of successes.
* 500/502/503/504: retried for every method: the service answered, so a POST that *did* start something shows up in the
  reconciliation the executor runs anyway (a consumed authorization, a reserved id).
* Could not connect: retried (nothing was sent).
* Connection dropped after sending: GET/DELETE/HEAD retried; for POST raised as ResponseLostError so the caller looks
  before it leaps.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from drplan import __version__
from drplan.azure.auth import Credential, auth_headers
from drplan.azure.errors import error_from_response, error_from_transport
from drplan.azure.urls import display, same_origin
from drplan.errors import ForeignHostError, ServiceError, ThrottledError

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
IDEMPOTENT = frozenset({"GET", "HEAD", "DELETE", "PUT", "OPTIONS"})


def retry_after_seconds(response: httpx.Response, default: float) -> float:
    """Parse Retry-After (seconds, or an HTTP date); also the ms/s variants Azure sends."""
    h = response.headers
    for name, scale in (("retry-after-ms", 0.001), ("x-ms-retry-after-ms", 0.001)):
        if name in h:
            try:
                return max(0.0, float(h[name]) * scale)
            except ValueError:
                pass
    value = h.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
            except (TypeError, ValueError):
                pass
    return default


class AdaptiveLimiter:
    """Concurrency and request rate for one endpoint, learnt from 429s (AIMD, like TCP congestion control).

    * Concurrency: at most ``limit`` requests in flight; halved on a 429, +1 after ``limit`` successes in a row.
    * Rate: unlimited until the first 429; then a token bucket at 85 % of the rate observed over the last two
      seconds, cut by 15 % on every further 429 and grown by 0.1 request/s per second of successes, so drplan settles
      just under a service's limit instead of hammering it.
    * Retry-After: the whole endpoint pauses that long.
    """

    WINDOW = 2.0

    def __init__(self, maximum: int, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.maximum = maximum
        self._clock = clock
        self._sleep = sleep
        self.limit = maximum
        self.active = 0
        self.paused_until = 0.0
        self.rate: float | None = None
        self._tokens = 0.0
        self._stamp = clock()
        self._ok_streak = 0
        self._recent: list[float] = []
        self._cond = asyncio.Condition()

    def _refill(self, now: float) -> None:
        if self.rate is not None:
            self._tokens = min(max(1.0, self.rate), self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self) -> None:
        while True:
            async with self._cond:
                now = self._clock()
                self._refill(now)
                wait = self.paused_until - now
                if wait <= 0 and self.rate is not None and self._tokens < 1.0 - 1e-6:
                    wait = max(1e-3, (1.0 - self._tokens) / self.rate)  # the floor: float rounding never spins
                if wait <= 0:
                    if self.active < self.limit:
                        self.active += 1
                        if self.rate is not None:
                            self._tokens -= 1.0
                        self._recent.append(now)
                        return
                    await self._cond.wait()  # a release will make room
                    continue
            await self._sleep(wait)  # time-based waits use the injectable sleep (tests run on a fake clock)

    async def release(self, *, throttled_for: float | None = None) -> None:
        async with self._cond:
            self.active -= 1
            now = self._clock()
            cutoff = now - self.WINDOW
            while self._recent and self._recent[0] < cutoff:
                self._recent.pop(0)
            if throttled_for is not None:
                self.limit = max(1, self.limit // 2)
                self.paused_until = max(self.paused_until, now + throttled_for)
                observed = len(self._recent) / self.WINDOW
                self.rate = max(0.5, 0.85 * (observed if self.rate is None else min(self.rate, observed or self.rate)))
                self._tokens = 0.0
                self._ok_streak = 0
            else:
                self._ok_streak += 1
                if self._ok_streak >= self.limit and self.limit < self.maximum:
                    self.limit += 1
                    self._ok_streak = 0
                if self.rate is not None:
                    self.rate += 0.1 / self.rate
            self._cond.notify_all()


@dataclass
class Stats:
    requests: int = 0
    throttled: int = 0
    retries: int = 0


class AzureClient:
    """One async HTTP client for every resource. The transport is a constructor argument (tests, respx)."""

    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        per_endpoint: int = 8,
        max_attempts: int = 8,
        timeout: float = 60.0,
        backoff: float = 0.5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        tls: bool = True,
    ) -> None:
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
        # tls=False (every endpoint is plain http, e.g. the local emulator) skips loading the CA bundle, a tenth of a
        # second at start-up; such a client then refuses any https URL rather than talk TLS unverified.
        self._tls = tls
        self._http = httpx.AsyncClient(transport=transport, timeout=timeout, limits=limits, follow_redirects=False,
                                       verify=True if tls else False)
        self._per_endpoint = per_endpoint
        self._limiters: dict[str, AdaptiveLimiter] = {}
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._sleep = sleep
        self._clock = clock
        self.stats = Stats()
        self.requests_by_endpoint: dict[str, int] = defaultdict(int)

    async def __aenter__(self) -> AzureClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def _limiter(self, endpoint: str) -> AdaptiveLimiter:
        lim = self._limiters.get(endpoint)
        if lim is None:
            lim = self._limiters[endpoint] = AdaptiveLimiter(self._per_endpoint, self._clock, self._sleep)
        return lim

    async def request(
        self,
        method: str,
        url: str,
        *,
        endpoint: str,
        key: Credential,
        what: str,
        json: Any = None,
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> httpx.Response:
        """Send one logical request (with retries); return the response if its status is in ``ok``.

        ``endpoint`` is the resource's base URL (the unit of concurrency and throttling); ``what`` names the resource
        and operation in errors. ``key`` is an API key (sent as ``Ocp-Apim-Subscription-Key``) or an EntraToken (a
        bearer token, fetched per attempt so a long retry never sends an expired one); neither appears in any message.
        """
        # A key or token goes only to its own resource (issue 19): URLs that come from answers (nextLink,
        # Operation-Location, resultUrl) or from the state (journaled operation URLs) are checked here, once, for all.
        if not same_origin(url, endpoint):
            raise ForeignHostError(
                f"{what}: refusing to send the resource's credentials to {display(url)}: it is not on the resource's "
                f"endpoint {display(endpoint)} (the URL came from a service answer or the state file); nothing was "
                "sent. If the endpoint in the spec is right, the answer or the state is not to be trusted")
        if not self._tls and url.lower().startswith("https:"):
            raise ServiceError(f"{what}: {url.split('?')[0]} is https, but this client was made for plain-http "
                               "endpoints only; refusing to send the key without a verified TLS connection")
        hdrs = {"User-Agent": f"drplan/{__version__}"}
        if headers:
            hdrs.update(headers)
        limiter = self._limiter(endpoint)
        attempt = 0
        while True:
            attempt += 1
            hdrs.update(await auth_headers(key))
            await limiter.acquire()
            throttled_for: float | None = None
            try:
                self.stats.requests += 1
                self.requests_by_endpoint[endpoint] += 1
                try:
                    response = await self._http.request(method, url, json=json, headers=hdrs)
                except httpx.TransportError as exc:
                    err = error_from_transport(exc, what)
                    safe = method in IDEMPOTENT or isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                    if not safe or attempt >= self._max_attempts:
                        raise err from None
                    delay = self._delay(attempt)
                else:
                    if response.status_code in ok:
                        return response
                    if response.status_code not in RETRY_STATUSES or attempt >= self._max_attempts:
                        raise error_from_response(response, what)
                    delay = retry_after_seconds(response, self._delay(attempt))
                    if response.status_code == 429:
                        self.stats.throttled += 1
                        throttled_for = delay
            finally:
                await limiter.release(throttled_for=throttled_for)
            self.stats.retries += 1
            await self._sleep(delay)

    def _delay(self, attempt: int) -> float:
        return min(30.0, self._backoff * (2 ** (attempt - 1))) * (0.5 + random.random() / 2)


def raise_unexpected(response: httpx.Response, what: str) -> ServiceError:  # pragma: no cover - helper for adapters
    return error_from_response(response, what)


__all__ = ["AdaptiveLimiter", "AzureClient", "ThrottledError", "retry_after_seconds"]
