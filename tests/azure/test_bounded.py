"""The client's bounds (issue 19): timeouts on every attempt, Retry-After capped, a total retry budget, and errors
that cannot heal raised at once, naming the resource and operation but never the key. Also: every httpx failure is
mapped to a ServiceError in drplan.azure.errors (STYLE.md: lower-layer errors translated in exactly one place)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import httpx
import pytest

from drplan.azure import errors as azerrors
from drplan.azure.client import DEFAULT_TIMEOUT, AzureClient
from drplan.errors import AuthError, ResponseLostError, ServiceError, ThrottledError

EP = "https://res.example.com"
URL = f"{EP}/documentintelligence/documentModels?api-version=2024-11-30"
KEY = "bounded-test-key-9931"
WHAT = "res: list documentModels"


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


class Counting:
    """A MockTransport handler that counts calls and answers with ``fn``."""

    def __init__(self, fn) -> None:
        self.fn = fn
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        return self.fn(request)


def run(coro):
    return asyncio.run(coro)


async def _request(client: AzureClient, method: str = "GET", url: str = URL, *, endpoint: str = EP, key: str = KEY,
                   **kw) -> httpx.Response:
    return await client.request(method, url, endpoint=endpoint, key=key, what=WHAT, **kw)


def _client(handler=None, fake: FakeTime | None = None, **kw) -> AzureClient:
    fake = fake or FakeTime()
    transport = httpx.MockTransport(handler) if handler is not None else kw.pop("transport", None)
    return AzureClient(transport=transport, sleep=fake.sleep, clock=fake.clock, **kw)


# -- timeouts --------------------------------------------------------------------------------------------------------
def test_every_request_has_connect_and_read_timeouts():
    c = AzureClient()
    assert c.timeout == DEFAULT_TIMEOUT
    assert DEFAULT_TIMEOUT.connect == 10 and DEFAULT_TIMEOUT.read == 30 and DEFAULT_TIMEOUT.pool is not None
    assert c._http.timeout == DEFAULT_TIMEOUT
    assert AzureClient(timeout=5.0).timeout == httpx.Timeout(5.0)  # a number: all four, as before
    run(c.aclose())


class SilentServer:
    """A real socket server that accepts connections, reads, and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.conns: list[socket.socket] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            self.conns.append(conn)  # kept open, never answered

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=2)
        for conn in self.conns:
            conn.close()
        self.sock.close()


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_server_that_accepts_and_never_answers_fails_within_the_read_timeout(method):
    server = SilentServer()
    ep = f"http://127.0.0.1:{server.port}"
    timeout = httpx.Timeout(connect=2.0, read=0.3, write=2.0, pool=2.0)

    async def go():
        async with AzureClient(tls=False, timeout=timeout, sleep=FakeTime().sleep) as c:
            return await c.request(method, f"{ep}/documentintelligence/documentModels", endpoint=ep, key=KEY,
                                   what=WHAT, json={} if method == "POST" else None)

    start = time.monotonic()
    try:
        with pytest.raises(ResponseLostError) as info:
            run(go())
    finally:
        server.close()
    elapsed = time.monotonic() - start
    # GET: tried twice (a timeout rarely heals), POST: once (it may have been received); never the full 8 attempts
    assert server.accepted == (2 if method == "GET" else 1)
    assert elapsed < 0.3 * server.accepted + 2.0
    assert "within 0.3 s" in str(info.value) and "ReadTimeout" in str(info.value) and WHAT in str(info.value)


# -- Retry-After and the budget --------------------------------------------------------------------------------------
def test_retry_after_of_a_day_is_capped():
    handler = Counting(lambda r: httpx.Response(429, headers={"Retry-After": "86400"})
                       if handler.calls == 1 else httpx.Response(200, json={}))
    fake = FakeTime()

    async def go():
        async with _client(handler, fake) as c:
            return await _request(c)

    assert run(go()).status_code == 200
    assert fake.now - 100.0 == pytest.approx(60.0)  # the endpoint paused 60 s, not a day
    assert handler.calls == 2

    handler2 = Counting(lambda r: httpx.Response(503, headers={"Retry-After": "86400"})
                        if handler2.calls == 1 else httpx.Response(200, json={}))
    fake2 = FakeTime()

    async def go2():
        async with _client(handler2, fake2, max_retry_after=7) as c:
            return await _request(c)

    run(go2())
    assert fake2.sleeps == [7]


def test_the_whole_retry_loop_has_a_total_budget():
    handler = Counting(lambda r: httpx.Response(503, headers={"Retry-After": "4"}))
    fake = FakeTime()

    async def go():
        async with _client(handler, fake, retry_budget=10) as c:
            await _request(c)

    with pytest.raises(ServiceError) as info:
        run(go())
    assert handler.calls == 3  # at 0, 4 and 8 s; a fourth would start at 12 s, past the budget
    assert "retry budget of 10 s" in str(info.value) and "3 attempts" in str(info.value)


def test_throttled_to_the_end_is_still_a_throttled_error():
    handler = Counting(lambda r: httpx.Response(429, headers={"Retry-After": "1"}))

    async def go():
        async with _client(handler, max_attempts=3) as c:
            await _request(c)

    with pytest.raises(ThrottledError, match="gave up after 3 attempts"):
        run(go())
    assert handler.calls == 3


def test_auth_errors_are_not_retried():
    handler = Counting(lambda r: httpx.Response(401, json={"error": {"code": "401", "message": "denied"}}))

    async def go():
        async with _client(handler) as c:
            await _request(c)

    with pytest.raises(AuthError):
        run(go())
    assert handler.calls == 1


# -- errors that cannot heal -----------------------------------------------------------------------------------------
def _never(request: httpx.Request) -> httpx.Response:  # pragma: no cover - must not be reached
    raise AssertionError("nothing may be sent")


@pytest.mark.parametrize("key,problem", [
    (KEY + "\n", "trailing whitespace"),
    (" " + KEY, "leading or trailing whitespace"),
    (KEY + " ", "whitespace"),
    ("bounded-tëst-key-9931", "non-ASCII"),
    ("bounded\x00key", "control character"),
])
def test_a_key_http_cannot_carry_is_one_clear_error_and_never_shown(key, problem):
    handler = Counting(_never)
    fake = FakeTime()

    async def go():
        async with _client(handler, fake) as c:
            await _request(c, key=key)

    with pytest.raises(ServiceError) as info:
        run(go())
    text = str(info.value)
    assert WHAT in text and "API key" in text and problem.split()[-1] in text and "nothing was sent" in text
    assert key.strip() not in text and "bounded" not in text
    assert handler.calls == 0 and fake.sleeps == []


def test_h11_refusing_a_header_is_not_retried_and_the_key_is_not_repeated():
    """Whatever slips past the client's own check: h11's message quotes the header value; drplan's never does."""
    handler = Counting(lambda r: (_ for _ in ()).throw(httpx.LocalProtocolError(f"Illegal header value b'{KEY} '")))

    async def go():
        async with _client(handler) as c:
            await _request(c)

    with pytest.raises(ServiceError) as info:
        run(go())
    assert handler.calls == 1 and KEY not in str(info.value) and "nothing was sent" in str(info.value)
    assert not isinstance(info.value, ResponseLostError)


@pytest.mark.parametrize("url", [
    f"{EP}/documentintelligence/documentModels\n?api-version=1",  # a newline inside the URL
    f"{EP}/documentintelligence/documentModels\x7f",
])
def test_invalid_url_is_one_clear_error_without_retries(url):
    handler = Counting(_never)
    fake = FakeTime()

    async def go():
        async with _client(handler, fake) as c:
            await _request(c, url=url)

    with pytest.raises(ServiceError) as info:
        run(go())
    assert "is not a valid URL" in str(info.value) and WHAT in str(info.value)
    assert handler.calls == 0 and fake.sleeps == []


def test_a_scheme_httpx_cannot_speak_is_one_clear_error():
    fake = FakeTime()

    async def go():
        async with AzureClient(sleep=fake.sleep, clock=fake.clock) as c:  # the real transport raises it
            await _request(c, url="ftp://res.example.com/x", endpoint="ftp://res.example.com")

    with pytest.raises(ServiceError, match="is not an http:// or https:// URL") as info:
        run(go())
    assert fake.sleeps == [] and not isinstance(info.value, ResponseLostError)


@pytest.mark.parametrize("endpoint", ["https://res..example.com", "https://my res.example.com",
                                      "https://res.example.com-", "https://" + "a" * 64 + ".example.com"])
def test_a_malformed_host_is_refused_before_any_lookup(endpoint):
    handler = Counting(_never)

    async def go():
        async with _client(handler) as c:
            await _request(c, url=f"{endpoint}/x", endpoint=endpoint)

    with pytest.raises(ServiceError, match="host name .* malformed") as info:
        run(go())
    assert "nothing was sent" in str(info.value) and handler.calls == 0


def test_an_endpoint_that_is_not_a_url_is_named_as_such():
    async def go():
        async with _client(Counting(_never)) as c:
            await _request(c, url="not a url", endpoint="not a url")

    with pytest.raises(ServiceError, match="endpoint 'not a url' is not an absolute http"):
        run(go())


def _dns_failure(request: httpx.Request) -> httpx.Response:
    try:
        raise socket.gaierror(-2, "Name or service not known")
    except socket.gaierror as exc:
        raise httpx.ConnectError("[Errno -2] Name or service not known", request=request) from exc


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_host_that_does_not_resolve_is_tried_at_most_twice(method):
    handler = Counting(_dns_failure)

    async def go():
        async with _client(handler) as c:
            await _request(c, method, json={} if method == "POST" else None)

    with pytest.raises(ServiceError) as info:
        run(go())
    text = str(info.value)
    assert handler.calls == 2
    assert "does not resolve" in text and "res.example.com" in text and "nothing was sent" in text
    assert "may have taken effect" not in text and not isinstance(info.value, ResponseLostError)


def test_a_refused_connection_is_tried_at_most_twice_and_says_nothing_was_sent():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    ep = f"http://127.0.0.1:{port}"
    fake = FakeTime()

    async def go():
        async with AzureClient(tls=False, sleep=fake.sleep, clock=fake.clock) as c:
            await c.request("POST", f"{ep}/x:copyTo", endpoint=ep, key=KEY, what=WHAT, json={})

    with pytest.raises(ServiceError) as info:
        run(go())
    text = str(info.value)
    assert "refused the connection" in text and "nothing was sent" in text and "may have taken effect" not in text
    assert len(fake.sleeps) == 1 and "2 attempts" in text


def test_a_dropped_connection_after_sending_still_may_have_taken_effect():
    handler = Counting(lambda r: (_ for _ in ()).throw(httpx.RemoteProtocolError("peer closed", request=r)))

    async def go():
        async with _client(handler) as c:
            await _request(c, "POST", json={})

    with pytest.raises(ResponseLostError, match="may have taken effect"):
        run(go())
    assert handler.calls == 1


# -- one place maps every httpx failure -------------------------------------------------------------------------------
def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_subclasses(sub))
    return out


@pytest.mark.parametrize("cls", [c for c in _subclasses(httpx.RequestError) if c.__module__.startswith("httpx")],
                         ids=lambda c: c.__name__)
def test_every_httpx_request_error_is_mapped(cls):
    request = httpx.Request("GET", URL)
    err = azerrors.error_from_transport(cls("boom", request=request), WHAT, url=URL, timeout=DEFAULT_TIMEOUT)
    assert isinstance(err, ServiceError) and str(err).startswith(WHAT + ": ")
    sent = not azerrors.never_sent(cls("x", request=request))
    assert ("may have taken effect" in str(err)) == sent, str(err)
    assert ("nothing was sent" in str(err)) == (not sent), str(err)


def test_request_build_errors_are_mapped():
    err = azerrors.error_from_request(httpx.InvalidURL("Invalid port"), WHAT, "http://[::1/x")
    assert "is not a valid URL" in str(err) and "nothing was sent" in str(err)
    err = azerrors.error_from_request(UnicodeEncodeError("ascii", "é", 0, 1, "no"), WHAT, URL)
    assert "character HTTP cannot carry" in str(err) and "nothing was sent" in str(err)


def test_never_sent_and_slow_to_heal_classification():
    request = httpx.Request("GET", URL)
    assert azerrors.never_sent(httpx.ConnectError("x", request=request))
    assert azerrors.never_sent(httpx.ConnectTimeout("x", request=request))
    assert not azerrors.never_sent(httpx.ReadError("x", request=request))
    assert not azerrors.never_sent(httpx.ReadTimeout("x", request=request))
    assert azerrors.cannot_heal(httpx.UnsupportedProtocol("x", request=request))
    assert not azerrors.cannot_heal(httpx.ConnectError("x", request=request))
    assert azerrors.slow_to_heal(httpx.ReadTimeout("x", request=request))
    assert not azerrors.slow_to_heal(httpx.ReadError("x", request=request))
