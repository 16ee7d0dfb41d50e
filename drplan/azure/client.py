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

Every wait is bounded (issue 19):
* each attempt has connect, read, write and pool timeouts (:data:`DEFAULT_TIMEOUT`): a server that accepts the
  connection and never answers fails one attempt after ``read`` seconds;
* a ``Retry-After`` is obeyed up to ``max_retry_after`` seconds (:data:`MAX_RETRY_AFTER`), never a day;
* one logical request (all its attempts and waits) stops retrying once ``retry_budget`` seconds have passed;
* errors that cannot heal are not retried at all: a URL httpx refuses, a scheme that is not http(s), a header value
  HTTP cannot carry (a key with a trailing newline, a non-ASCII key), a malformed host name, 401/403 and the other
  4xx; those that rarely heal quickly (a host that does not resolve, a refused connection, a timeout) are tried
  ``max_attempts_stuck`` times. Which failures were never sent, and the messages, live in ``drplan.azure.errors``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import re
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from drplan import __version__
from drplan.azure.auth import Credential, auth_headers
from drplan.azure.errors import (
    cannot_heal,
    error_from_request,
    error_from_response,
    error_from_transport,
    header_error,
    never_sent,
    slow_to_heal,
)
from drplan.azure.urls import display, origin, same_origin
from drplan.errors import ForeignHostError, ServiceError, ThrottledError

#: One debug line per HTTP attempt (method, URL without its query but the api-version, status, milliseconds, request
#: id) and one warning per retry, as it happens ("src list models: HTTP 503, retry 3/8 in 4.0 s"). The CLI routes
#: ``drplan.*`` loggers to stderr, or to JSON events with --json (drplan/cli/app.py); records carry ``event_type``
#: and ``fields`` for those events. Never a key, a token or a query string (SAS) in a record.
http_log = logging.getLogger("drplan.http")
retry_log = logging.getLogger("drplan.retry")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
IDEMPOTENT = frozenset({"GET", "HEAD", "DELETE", "PUT", "OPTIONS"})

#: Per-attempt timeouts. Azure AI answers in well under a second; a long-running job is always asynchronous (202 +
#: polling), so 30 s without a byte means the server is stuck, not busy. Connect: 10 s covers a slow TLS handshake
#: across regions. (httpx applies ``read``/``write`` per socket operation, so a large upload is not cut short.)
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=30.0, write=30.0, pool=30.0)
#: The longest ``Retry-After`` obeyed, in seconds (requests here, operation polls in drplan.azure.lro). Azure AI
#: services ask for seconds; a larger value is a misbehaving proxy or service, and obeying ``86400`` would stall an
#: apply for a day: drplan waits this long and tries again (the attempt and time budgets still end it).
MAX_RETRY_AFTER = 60.0
#: Seconds one logical request may spend on attempts and waits before its last error is raised: long enough to ride
#: out a throttling storm (several capped Retry-Afters), short enough that no single request holds an apply for long.
RETRY_BUDGET = 300.0
#: Attempts for failures that rarely heal within a retry loop (DNS failure, refused connection, timeouts).
MAX_ATTEMPTS_STUCK = 2
#: A host name as DNS can carry it: labels of letters, digits, "-" and "_" (service names in containers), 1-63
#: characters, 253 in all. Anything else (spaces, empty labels, other punctuation) is refused before a DNS lookup.
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
#: A header value h11 will write and every server accepts: visible ASCII, inner spaces, no edge whitespace.
_HEADER_VALUE = re.compile(r"(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?")


def _host_problem(url: str) -> str | None:
    """Why ``url``'s host cannot be a real host name (None: it can). Checked before any lookup, so a typo such as
    ``res..example`` or ``my res.example`` is one clear error, not a DNS retry loop."""
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return None  # httpx reports it (InvalidURL)
    if not host:
        return None
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    try:
        ascii_host = host if host.isascii() else host.encode("idna").decode("ascii")
    except UnicodeError:
        return f"the host name {host!r} is not a valid (internationalised) domain name"
    name = ascii_host[:-1] if ascii_host.endswith(".") else ascii_host
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        return f"the host name {host!r} is malformed (empty label, space or a character host names cannot hold)"
    return None


def trace_url(url: str) -> str:
    """``url`` for a trace line: :func:`display` (no query, no user info) plus its api-version, which is no secret."""
    try:
        version = parse_qs(urlsplit(url).query).get("api-version", [""])[0]
    except ValueError:
        version = ""
    return display(url) + (f"?api-version={version}" if version else "")


def _request_id(response: httpx.Response) -> str | None:
    h = response.headers
    found = h.get("apim-request-id") or h.get("x-ms-request-id") or h.get("x-ms-client-request-id")
    return str(found) if found else None


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
      seconds (or since the first request, when that is more recent, and never over less than a second: a 429
      in the first second of a burst says the service's rate is that burst's, not half of it), cut by 15 % on
      every further 429 and grown by 0.1 request/s per second of successes, so drplan settles just under a
      service's limit instead of hammering it.
    * One cut per burst (TCP's habit): a 429 answering a request sent before the last cut says nothing new (it was
      on its way when the service said "too fast"), so it pauses the endpoint but cuts neither rate nor
      concurrency again. Before, the few requests in flight at the first 429 each cut the rate by 15 % more, and
      the slow additive growth took a minute to win it back (issue 18: apply at 1.93 x its rate bound).
    * Retry-After: the whole endpoint pauses that long.
    """

    WINDOW = 2.0
    #: The shortest span a rate is observed over (requests sent in the same instant are not an infinite rate).
    MIN_SPAN = 1.0

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
        self._first: float | None = None
        self._last_cut = float("-inf")
        self._cond = asyncio.Condition()

    def _refill(self, now: float) -> None:
        if self.rate is not None:
            self._tokens = min(max(1.0, self.rate), self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self) -> float:
        """Wait for room; return the time the request may go (pass it back to :meth:`release` as ``sent_at``)."""
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
                        if self._first is None:
                            self._first = now
                        return now
                    await self._cond.wait()  # a release will make room
                    continue
            await self._sleep(wait)  # time-based waits use the injectable sleep (tests run on a fake clock)

    async def release(self, *, throttled_for: float | None = None, sent_at: float | None = None) -> None:
        """``sent_at``: what :meth:`acquire` returned for this request (None: treat it as sent just now)."""
        async with self._cond:
            self.active -= 1
            now = self._clock()
            cutoff = now - self.WINDOW
            while self._recent and self._recent[0] < cutoff:
                self._recent.pop(0)
            if throttled_for is not None:
                self.paused_until = max(self.paused_until, now + throttled_for)
                self._tokens = 0.0
                self._ok_streak = 0
                if sent_at is None or sent_at >= self._last_cut:
                    self._last_cut = now
                    self.limit = max(1, self.limit // 2)
                    span = min(self.WINDOW, now - (self._first if self._first is not None else now))
                    observed = len(self._recent) / max(self.MIN_SPAN, span)
                    self.rate = max(0.5, 0.85 * (observed if self.rate is None
                                                 else min(self.rate, observed or self.rate)))
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
        timeout: float | httpx.Timeout | None = None,
        backoff: float = 0.5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        tls: bool = True,
        max_retry_after: float = MAX_RETRY_AFTER,
        retry_budget: float = RETRY_BUDGET,
        max_attempts_stuck: int = MAX_ATTEMPTS_STUCK,
        operation_deadline: float | None = None,
    ) -> None:
        """``timeout``: per attempt; a number applies to connect, read, write and pool alike (None:
        :data:`DEFAULT_TIMEOUT`). ``max_retry_after``, ``retry_budget``, ``max_attempts_stuck``: the module docstring.
        ``operation_deadline``: how long :func:`drplan.azure.lro.poll` waits for one operation when its caller names
        no deadline (None: ``drplan.azure.lro.DEFAULT_DEADLINE``)."""
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
        # tls=False (every endpoint is plain http, e.g. the local emulator) skips loading the CA bundle, a tenth of a
        # second at start-up; such a client then refuses any https URL rather than talk TLS unverified.
        self._tls = tls
        self.timeout = DEFAULT_TIMEOUT if timeout is None else (
            timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout))
        self._http = httpx.AsyncClient(transport=transport, timeout=self.timeout, limits=limits,
                                       follow_redirects=False, verify=True if tls else False)
        self._per_endpoint = per_endpoint
        self._limiters: dict[str, AdaptiveLimiter] = {}
        self._max_attempts = max_attempts
        self._max_attempts_stuck = max(1, max_attempts_stuck)
        self._backoff = backoff
        self._sleep = sleep
        self._clock = clock
        self.max_retry_after = max_retry_after
        self.retry_budget = retry_budget
        self.operation_deadline = operation_deadline
        #: How long operations of one kind took on one endpoint in this run (drplan.azure.lro.poll ``learn``).
        self.learnt_durations: dict[str, float] = {}
        self.stats = Stats()
        self.requests_by_endpoint: dict[str, int] = defaultdict(int)

    @property
    def clock(self) -> Callable[[], float]:
        """The monotonic clock this client measures budgets with (injectable for tests)."""
        return self._clock

    @property
    def sleep(self) -> Callable[[float], Awaitable[None]]:
        """The sleep this client waits with (injectable for tests)."""
        return self._sleep

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
        content: bytes | None = None,
    ) -> httpx.Response:
        """Send one logical request (with retries); return the response if its status is in ``ok``. ``content``: a raw
        body instead of ``json`` (a document to analyze, issue 16).

        ``endpoint`` is the resource's base URL (the unit of concurrency and throttling); ``what`` names the resource
        and operation in errors. ``key`` is an API key (sent as ``Ocp-Apim-Subscription-Key``) or an EntraToken (a
        bearer token, fetched per attempt so a long retry never sends an expired one); neither appears in any message.
        """
        # A key or token goes only to its own resource (issue 19): URLs that come from answers (nextLink,
        # Operation-Location, resultUrl) or from the state (journaled operation URLs) are checked here, once, for all.
        try:
            origin(endpoint)
        except ValueError:
            raise ServiceError(f"{what}: the resource's endpoint {endpoint.split('?')[0][:200]!r} is not an absolute "
                               "http(s) URL; check it in the spec; nothing was sent") from None
        if not same_origin(url, endpoint):
            raise ForeignHostError(
                f"{what}: refusing to send the resource's credentials to {display(url)}: it is not on the resource's "
                f"endpoint {display(endpoint)} (the URL came from a service answer or the state file); nothing was "
                "sent. If the endpoint in the spec is right, the answer or the state is not to be trusted")
        if not self._tls and url.lower().startswith("https:"):
            raise ServiceError(f"{what}: {url.split('?')[0]} is https, but this client was made for plain-http "
                               "endpoints only; refusing to send the key without a verified TLS connection")
        problem = _host_problem(url)
        if problem:
            raise ServiceError(f"{what}: {display(url)}: {problem}; check the resource's endpoint in the spec; "
                               "nothing was sent")
        hdrs = {"User-Agent": f"drplan/{__version__}"}
        if headers:
            hdrs.update(headers)
        limiter = self._limiter(endpoint)
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            hdrs.update(await auth_headers(key))
            for name, value in hdrs.items():  # refused here, once, instead of by h11 on every attempt
                if not _HEADER_VALUE.fullmatch(value):
                    raise header_error(name, value, what)
            sent_at = await limiter.acquire()
            throttled_for: float | None = None
            try:
                self.stats.requests += 1
                self.requests_by_endpoint[endpoint] += 1
                sent = time.monotonic()
                try:
                    response = await self._http.request(method, url, json=json, content=content, headers=hdrs)
                except (httpx.InvalidURL, UnicodeError) as exc:  # httpx could not build the request: nothing sent
                    raise error_from_request(exc, what, url) from None
                except httpx.RequestError as exc:
                    _trace(method, url, None, sent, None, exc.__class__.__name__)
                    err = error_from_transport(exc, what, url=url, timeout=self.timeout)
                    if cannot_heal(exc):
                        raise err from None
                    safe = method in IDEMPOTENT or never_sent(exc)
                    limit = min(self._max_attempts, self._max_attempts_stuck) if slow_to_heal(exc) \
                        else self._max_attempts
                    if not safe:
                        raise err from None
                    if attempt >= limit:
                        raise _gave_up(err, attempt) from None
                    delay = self._delay(attempt)
                    why = f"{exc.__class__.__name__} ({'not sent' if never_sent(exc) else 'no answer'})"
                else:
                    _trace(method, url, response.status_code, sent, _request_id(response), None)
                    why = f"HTTP {response.status_code}"
                    if response.status_code in ok:
                        return response
                    if response.status_code not in RETRY_STATUSES:
                        raise error_from_response(response, what)
                    err = error_from_response(response, what)
                    if attempt >= self._max_attempts:
                        raise _gave_up(err, attempt)
                    delay = min(self.max_retry_after, retry_after_seconds(response, self._delay(attempt)))
                    if response.status_code == 429:
                        self.stats.throttled += 1
                        throttled_for = delay
            finally:
                await limiter.release(throttled_for=throttled_for, sent_at=sent_at)
            elapsed = self._clock() - started
            if elapsed + delay > self.retry_budget:
                raise _gave_up(err, attempt, budget=self.retry_budget)
            self.stats.retries += 1
            retry_log.warning("%s: %s, retry %d/%d in %.1f s", what, why, attempt, self._max_attempts - 1, delay,
                              extra={"event_type": "retry", "fields": {
                                  "what": what, "reason": why, "attempt": attempt, "of": self._max_attempts - 1,
                                  "delay_s": round(delay, 3), "url": trace_url(url), "throttled": bool(throttled_for),
                                  "request_id": getattr(err, "request_id", None)}})
            await self._sleep(delay)

    def _delay(self, attempt: int) -> float:
        return float(min(30.0, self._backoff * (2 ** (attempt - 1))) * (0.5 + random.random() / 2))


def _trace(method: str, url: str, status: int | None, sent: float, request_id: str | None, failure: str | None) -> None:
    if not http_log.isEnabledFor(logging.DEBUG):
        return
    ms = round((time.monotonic() - sent) * 1000)
    shown = trace_url(url)
    answer = str(status) if status is not None else f"no answer ({failure})"
    http_log.debug("%s %s %s %d ms request id %s", method, shown, answer, ms, request_id or "-",
                   extra={"event_type": "http", "fields": {"method": method, "url": shown, "status": status,
                                                           "ms": ms, "request_id": request_id, "failure": failure}})


def _gave_up(err: ServiceError, attempts: int, *, budget: float | None = None) -> ServiceError:
    """``err`` (same class and fields) saying how many attempts were made, and why no more."""
    if attempts <= 1 and budget is None:
        return err
    why = f"the retry budget of {budget:g} s is spent" if budget is not None else "no attempts left"
    return type(err)(f"{err} (gave up after {attempts} attempt{'s' if attempts != 1 else ''}: {why})",
                     status=err.status, code=err.code, inner_code=err.inner_code, request_id=err.request_id)



__all__ = ["DEFAULT_TIMEOUT", "MAX_RETRY_AFTER", "RETRY_BUDGET", "AdaptiveLimiter", "AzureClient", "ThrottledError",
           "retry_after_seconds"]
