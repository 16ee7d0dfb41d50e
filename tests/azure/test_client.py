"""Focused client tests with respx: retries, Retry-After, lost answers, error mapping, paging, redaction."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import respx

from drplan.azure.client import AzureClient, retry_after_seconds
from drplan.azure.paging import ensure_api_version, iterate_pages
from drplan.errors import (
    AuthError,
    ConflictError,
    NotFoundError,
    ResponseLostError,
    ServiceError,
)
from drplan.redact import register_secret

EP = "https://res.example/documentintelligence"
KEY = "client-test-key-7781"


class Sleeps:
    """A fake sleep that advances a fake clock (give both to AzureClient)."""

    def __init__(self) -> None:
        self.calls: list[float] = []
        self.now = 1000.0

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def _fake():
    s = Sleeps()
    return {"sleep": s, "clock": s.clock}


def run(coro):
    return asyncio.run(coro)


async def _req(client, method="GET", url=f"{EP}/documentModels?api-version=2024-11-30", **kw):
    return await client.request(method, url, endpoint="https://res.example", key=KEY, what="res: op", **kw)


@respx.mock
def test_429_waits_retry_after_then_succeeds():
    route = respx.get(f"{EP}/documentModels").mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "3"}, json={"error": {"code": "429", "message": "slow down"}}),
        httpx.Response(200, json={"value": []}),
    ])
    sleeps = Sleeps()

    async def go():
        async with AzureClient(sleep=sleeps, clock=sleeps.clock) as c:
            r = await _req(c)
            return r, c.stats

    r, stats = run(go())
    assert r.status_code == 200 and route.call_count == 2
    assert sleeps.calls == [3.0]
    assert stats.throttled == 1
    assert route.calls[0].request.headers["Ocp-Apim-Subscription-Key"] == KEY


@respx.mock
def test_post_429_is_retried_but_a_dropped_post_is_not():
    route = respx.post(f"{EP}/documentModels/m:copyTo").mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "1"}),
        httpx.ReadError("connection reset"),
    ])

    async def go():
        async with AzureClient(**_fake()) as c:
            await _req(c, "POST", f"{EP}/documentModels/m:copyTo?api-version=2024-11-30", json={}, ok=(202,))

    with pytest.raises(ResponseLostError, match="may have taken effect"):
        run(go())
    assert route.call_count == 2


@respx.mock
def test_dropped_get_is_retried():
    route = respx.get(f"{EP}/documentModels").mock(side_effect=[
        httpx.RemoteProtocolError("dropped"), httpx.Response(200, json={"value": []})])

    async def go():
        async with AzureClient(**_fake()) as c:
            return await _req(c)

    assert run(go()).status_code == 200 and route.call_count == 2


@respx.mock
@pytest.mark.parametrize("status,body,exc,text", [
    (404, {"error": {"code": "NotFound", "message": "Resource not found.",
                     "innererror": {"code": "ModelNotFound", "message": "The requested model was not found."}}},
     NotFoundError, "HTTP 404 NotFound/ModelNotFound"),
    (409, {"error": {"code": "Conflict", "message": "conflict",
                     "innererror": {"code": "ModelExists", "message": "A model with the provided name already exists."}}},
     ConflictError, "ModelExists"),
    (401, {"error": {"code": "401", "message": "Access denied due to invalid subscription key."}}, AuthError,
     "check the key"),
    (400, {"error": {"code": "1002", "message": "Authorization failure due to missing or invalid authorization claims"}},
     ServiceError, "HTTP 400 1002"),
])
def test_errors_are_typed_and_readable(status, body, exc, text):
    respx.get(f"{EP}/documentModels").mock(return_value=httpx.Response(status, json=body,
                                                                       headers={"apim-request-id": "rid-1"}))

    async def go():
        async with AzureClient(**_fake()) as c:
            await _req(c)

    with pytest.raises(exc) as info:
        run(go())
    assert text in str(info.value)
    assert "res: op" in str(info.value) and "rid-1" in str(info.value)
    assert info.value.status == status


@respx.mock
def test_error_messages_never_carry_the_key_or_a_token():
    register_secret(KEY)
    register_secret("tok-abcdef-123456")
    respx.get(f"{EP}/documentModels").mock(return_value=httpx.Response(
        400, json={"error": {"code": "InvalidRequest", "message": f"bad key {KEY} and token tok-abcdef-123456"}}))

    async def go():
        async with AzureClient(**_fake()) as c:
            await _req(c)

    with pytest.raises(ServiceError) as info:
        run(go())
    assert KEY not in str(info.value) and "tok-abcdef-123456" not in str(info.value)


@respx.mock
def test_paging_follows_next_link_and_reappends_api_version():
    second = respx.get(f"{EP}/documentModels", params={"nextLink": "p2", "api-version": "2024-11-30"}).mock(
        return_value=httpx.Response(200, json={"value": [{"modelId": "b"}], "nextLink": None}))
    respx.get(f"{EP}/documentModels", params={"api-version": "2024-11-30"}).mock(
        return_value=httpx.Response(200, json={"value": [{"modelId": "a"}], "nextLink": f"{EP}/documentModels?nextLink=p2"}))

    async def go():
        async with AzureClient(**_fake()) as c:
            return [i["modelId"] async for i in iterate_pages(
                c, f"{EP}/documentModels?api-version=2024-11-30", endpoint="https://res.example", key=KEY,
                api_version="2024-11-30", what="list")]

    assert run(go()) == ["a", "b"]
    assert second.called


def test_ensure_api_version_and_retry_after_parsing():
    assert ensure_api_version("https://x/y?nextLink=a", "v1") == "https://x/y?nextLink=a&api-version=v1"
    assert ensure_api_version("https://x/y?api-version=v2", "v1") == "https://x/y?api-version=v2"
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "7"}), 1.0) == 7.0
    assert retry_after_seconds(httpx.Response(429, headers={"retry-after-ms": "250"}), 1.0) == 0.25
    assert retry_after_seconds(httpx.Response(429), 1.5) == 1.5


@respx.mock
def test_limiter_learns_a_rate_from_429_and_spaces_requests():
    """After a 429 the endpoint pauses for Retry-After and then sends at most ~85 % of the rate it had reached."""
    calls = {"n": 0}

    def answer(request):
        calls["n"] += 1
        if calls["n"] == 5:
            return httpx.Response(429, headers={"Retry-After": "1"})
        return httpx.Response(200, json={"value": []})

    respx.get(f"{EP}/documentModels").mock(side_effect=answer)
    fake = Sleeps()

    async def go():
        async with AzureClient(sleep=fake, clock=fake.clock) as c:
            for _ in range(4):  # 4 requests at t=1000, the 5th throttled: 5 over the shortest span (1 s)
                await _req(c)
            start = fake.now
            for _ in range(6):
                await _req(c)
            return c._limiters["https://res.example"], fake.now - start

    limiter, elapsed = run(go())
    assert limiter.rate is not None and limiter.rate < 4.5
    # 1 s Retry-After, then the 6 requests (one retried): a second's worth of tokens (4.25) at once, the rest paced
    assert elapsed >= 1 + (6 - 4.25) / 4.5


def test_limiter_cuts_once_per_burst():
    """429s answering requests sent before the last cut pause the endpoint but do not cut the rate again (issue 18:
    the requests in flight at the first 429 each cut 15 % more, and apply ran at half the service's rate)."""
    from drplan.azure.client import AdaptiveLimiter

    fake = Sleeps()

    async def go():
        lim = AdaptiveLimiter(8, fake.clock, fake)
        sent = [await lim.acquire() for _ in range(4)]
        for _ in range(3):
            await lim.release()
        fake.now += 0.5
        await lim.release(throttled_for=1.0, sent_at=sent[0])  # the first 429: cut to 85 % of 4/s
        first = lim.rate, lim.limit
        await lim.acquire()
        await lim.release(throttled_for=1.0, sent_at=sent[1])  # sent before the cut: no new cut
        after_old = lim.rate, lim.limit
        fake.now += 1.0
        third = await lim.acquire()
        await lim.release(throttled_for=1.0, sent_at=third)  # sent after the cut: cut again
        return first, after_old, (lim.rate, lim.limit)

    first, after_old, after_new = run(go())
    assert first == (pytest.approx(0.85 * 4), 4)
    assert after_old == first
    assert after_new[0] < first[0] and after_new[1] == 2


def test_plain_http_client_refuses_https_urls():
    """A client made without TLS (all endpoints plain http) never sends a key over unverified TLS."""

    async def go():
        async with AzureClient(tls=False, **_fake()) as c:
            await _req(c)

    with pytest.raises(ServiceError, match="refusing to send the key"):
        run(go())


@pytest.mark.parametrize("status,body,headers,expect", [
    (400, {"error": {"code": "1002", "message": "Invalid request."}}, {}, "does not name a real account"),
    (400, {"error": {"code": "InvalidRequest", "message": "x", "innererror": {"code": "ModelNotReady"}}}, {},
     "source model is not ready"),
    (400, {"error": {"message": "Could not retrieve authorization metadata."}}, {"ms-azure-ai-errorcode": "2024"},
     "error 2024"),
])
def test_error_codes_with_a_fixed_meaning_are_explained(status, body, headers, expect):
    from drplan.azure.errors import error_from_response

    err = error_from_response(httpx.Response(status, json=body, headers=headers), "src: copy m1")
    assert expect in str(err) and err.code in ("1002", "InvalidRequest", "2024")
