"""The one operation poller (drplan.azure.lro.poll, issue 14) and its bounds (issue 19): Retry-After honoured but
capped, an adaptive interval where the service sends none, a deadline that ends in OperationTimeoutError naming the
operation, and a missing, unknown or unreadable status that is an error, never "still running". All on a fake clock."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from drplan.azure.client import AzureClient
from drplan.azure.lro import OpStatus, next_delay, normalise_status, parse_status, poll
from drplan.errors import OperationTimeoutError, ServiceError

EP = "https://res.example.com"
OP = f"{EP}/documentintelligence/operations/op-1?api-version=2024-11-30"
KEY = "lro-test-key-0042"


class FakeTime:
    """A sleep that advances a clock, recording every wait."""

    def __init__(self) -> None:
        self.now = 500.0
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds

    def clock(self) -> float:
        return self.now


class Script:
    """Answers poll requests from a list (the last answer repeats); counts them."""

    def __init__(self, *answers: httpx.Response) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        answer = self.answers[min(self.calls, len(self.answers)) - 1]
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)


def _json(status: str | None = "running", headers: dict[str, str] | None = None, **extra) -> httpx.Response:
    body = dict(extra)
    if status is not None:
        body["status"] = status
    return httpx.Response(200, json=body, headers=headers or {})


def _poll(script: Script, fake: FakeTime | None = None, client_kw: dict | None = None, **kw):
    fake = fake or FakeTime()

    async def go():
        async with AzureClient(transport=httpx.MockTransport(script), sleep=fake.sleep, clock=fake.clock,
                               **(client_kw or {})) as client:
            return await poll(client, OP, endpoint=EP, key=KEY, what="src: copy operation for m1", **kw)

    return asyncio.run(go())


def test_retry_after_is_honoured():
    fake = FakeTime()
    body = _poll(Script(_json(headers={"Retry-After": "3"}), _json("succeeded")), fake)
    assert body["status"] == "succeeded" and fake.sleeps == [3.0]


def test_retry_after_of_a_day_is_capped():
    fake = FakeTime()
    script = Script(_json(headers={"Retry-After": "86400"}), _json(headers={"Retry-After": "86400"}),
                    _json("succeeded"))
    _poll(script, fake, first_delay=86400)
    assert fake.sleeps == [10.0, 10.0, 10.0]  # max_interval caps every Retry-After, first_delay included

    fake = FakeTime()
    _poll(Script(_json(headers={"Retry-After": "86400"}), _json("succeeded")), fake, max_interval=3600,
          max_retry_after=45)
    assert fake.sleeps == [45.0]

    fake = FakeTime()  # the client's cap is the default
    _poll(Script(_json(headers={"Retry-After": "86400"}), _json("succeeded")), fake, max_interval=3600,
          client_kw={"max_retry_after": 20})
    assert fake.sleeps == [20.0]


def test_retry_after_zero_is_not_a_busy_loop():
    fake = FakeTime()
    _poll(Script(_json(headers={"Retry-After": "0"}), _json("succeeded")), fake)
    assert fake.sleeps == [0.1]


def test_adaptive_interval_without_retry_after():
    fake = FakeTime()
    script = Script(*[_json("running")] * 7, _json("succeeded"))
    _poll(script, fake, interval=1.0)
    assert fake.sleeps == [0.25, 0.375, 0.5625, 0.84375, 1.0, 1.0, 1.0]
    assert script.calls == 8

    fake = FakeTime()  # Language jobs: from a tenth of a second, doubling
    _poll(Script(*[_json("notStarted")] * 5, _json("succeeded")), fake, interval=1.0, start_interval=0.1, growth=2)
    assert fake.sleeps == [0.1, 0.2, 0.4, 0.8, 1.0]


def test_deadline_ends_in_a_timeout_error_naming_the_operation():
    fake = FakeTime()
    script = Script(_json("running"))
    with pytest.raises(OperationTimeoutError) as info:
        _poll(script, fake, interval=5.0, deadline=30)
    text = str(info.value)
    assert "src: copy operation for m1" in text
    assert f"{EP}/documentintelligence/operations/op-1" in text and "api-version" not in text  # no query string
    assert "30 s" in text and "run the same command again" in text and "running" in text
    assert isinstance(info.value, ServiceError)
    assert sum(fake.sleeps) == pytest.approx(30.0)  # the last poll happens at the deadline, not after it
    assert fake.now - 500.0 == pytest.approx(30.0)


def test_client_operation_deadline_is_the_default():
    fake = FakeTime()
    with pytest.raises(OperationTimeoutError, match="deadline of 12 s"):
        _poll(Script(_json("running", headers={"Retry-After": "5"})), fake, client_kw={"operation_deadline": 12})
    assert fake.sleeps == [5.0, 5.0, 2.0]


def test_deadline_holds_even_when_the_clock_does_not_move():
    """Time slept counts even if the clock given is frozen (a test's fake sleep with a real or fake clock)."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def go():
        async with AzureClient(transport=httpx.MockTransport(Script(_json("running")))) as client:
            await poll(client, OP, endpoint=EP, key=KEY, what="w", sleep=sleep, clock=lambda: 0.0, deadline=5)

    with pytest.raises(OperationTimeoutError):
        asyncio.run(go())
    assert sum(slept) == pytest.approx(5.0)


@pytest.mark.parametrize("status", ["weird", "RUNNING_LATER", "done", 5, ["running"]])
def test_unknown_status_is_an_error_not_running(status):
    script = Script(httpx.Response(200, json={"status": status}))
    with pytest.raises(ServiceError) as info:
        _poll(script)
    text = str(info.value)
    assert "which drplan does not know" in text and "answered status '" in text
    assert f"{EP}/documentintelligence/operations/op-1" in text and "api-version" not in text
    assert script.calls == 1  # no second poll: not "still running"


def test_unknown_status_message_matches_the_issue():
    with pytest.raises(ServiceError, match=r"the operation at https://res\.example\.com/documentintelligence/"
                                           r"operations/op-1 answered status 'weird', which drplan does not know"):
        _poll(Script(_json("weird")))


@pytest.mark.parametrize("body", [{}, {"status": None}, {"status": ""}, {"percentCompleted": 10}])
def test_missing_status_is_an_error(body):
    script = Script(httpx.Response(200, json=body))
    with pytest.raises(ServiceError, match="answered without a status"):
        _poll(script)
    assert script.calls == 1


@pytest.mark.parametrize("answer,expect", [
    (httpx.Response(200, text="<html>gateway</html>", headers={"content-type": "text/html"}), "not JSON"),
    (httpx.Response(200, content=b""), "not JSON"),
    (httpx.Response(200, content=b"\xff\xfe\x00garbage"), "not JSON"),
    (httpx.Response(200, json=["running"]), "JSON list"),
    (httpx.Response(200, json="running"), "JSON string"),
    (httpx.Response(200, content=b"null"), "JSON null"),
    (httpx.Response(200, content=b"[" * 100000 + b"]" * 100000), "nested too deeply"),
])
def test_unreadable_answer_is_a_clear_service_error(answer, expect):
    with pytest.raises(ServiceError) as info:
        _poll(Script(answer))
    assert expect in str(info.value) and "the operation at" in str(info.value)


def test_terminal_failures_are_returned_for_the_caller():
    body = _poll(Script(_json("running"), _json("failed", error={"code": "X"})))
    assert body["status"] == "failed"
    body = _poll(Script(_json("Canceled")))
    assert body["status"] == "Canceled"


def test_progress_sees_every_answer():
    seen: list[OpStatus] = []
    _poll(Script(_json("notStarted"), _json("running"), _json("succeeded")),
          on_progress=lambda status, body: seen.append(status))
    assert seen == [OpStatus.NOT_STARTED, OpStatus.RUNNING, OpStatus.SUCCEEDED]


@pytest.mark.parametrize("word,status", [
    ("notStarted", OpStatus.NOT_STARTED), ("NotStarted", OpStatus.NOT_STARTED), ("not_started", OpStatus.NOT_STARTED),
    ("running", OpStatus.RUNNING), ("Running", OpStatus.RUNNING), ("inProgress", OpStatus.RUNNING),
    ("cancelling", OpStatus.RUNNING),
    ("succeeded", OpStatus.SUCCEEDED), ("Succeeded", OpStatus.SUCCEEDED), ("completed", OpStatus.SUCCEEDED),
    ("failed", OpStatus.FAILED), ("Failed", OpStatus.FAILED), ("partiallyCompleted", OpStatus.FAILED),
    ("canceled", OpStatus.CANCELED), ("cancelled", OpStatus.CANCELED), ("skipped", OpStatus.CANCELED),
    ("weird", OpStatus.UNKNOWN), ("", OpStatus.UNKNOWN), (None, OpStatus.UNKNOWN), (7, OpStatus.UNKNOWN),
])
def test_status_words_are_normalised_in_one_place(word, status):
    assert normalise_status(word) is status


def test_unknown_is_never_terminal_and_parse_status_is_strict():
    assert not OpStatus.UNKNOWN.terminal
    assert parse_status({"status": "Succeeded"}, url=OP, what="w") is OpStatus.SUCCEEDED
    with pytest.raises(ServiceError):
        parse_status({"status": "unknown"}, url=OP, what="w")  # the word "unknown" itself is not a status either


def test_next_delay_decisions():
    assert next_delay(retry_after=None, adaptive=0.4, cap=10, remaining=100) == 0.4
    assert next_delay(retry_after=86400, adaptive=0.4, cap=10, remaining=100) == 10
    assert next_delay(retry_after=0, adaptive=0.4, cap=10, remaining=100) == 0.1
    assert next_delay(retry_after=5, adaptive=0.4, cap=10, remaining=2) == 2  # never past the deadline


def test_copy_duration_is_learnt_where_the_service_sends_no_retry_after():
    """Copies that take 1 s: the first is found by the adaptive interval; later ones are polled once, at the learnt
    duration (probing 5 % earlier each time it was already done), instead of three or four times."""
    fake = FakeTime()

    class Timed:
        """A copy operation that succeeds 1 s after it started (the fake clock)."""

        def __init__(self) -> None:
            self.started = fake.now
            self.calls = 0

        def __call__(self, request: httpx.Request) -> httpx.Response:
            self.calls += 1
            done = fake.now - self.started >= 1.0
            return httpx.Response(200, json={"status": "succeeded" if done else "running"})

    current: list[Timed] = []

    async def go():
        polls = []
        transport = httpx.MockTransport(lambda request: current[-1](request))
        async with AzureClient(transport=transport, sleep=fake.sleep, clock=fake.clock) as client:
            for _ in range(6):
                current.append(Timed())
                await poll(client, OP, endpoint=EP, key=KEY, what="copy", learn="copy")
                polls.append(current[-1].calls)
            return polls, dict(client.learnt_durations)

    polls, learnt = asyncio.run(go())
    assert polls[0] >= 3  # nothing learnt yet: adaptive polling
    assert sum(polls[1:]) <= len(polls[1:]) + 2  # then about one poll per copy
    assert 0.9 <= learnt[f"{EP}|copy"] <= 1.5


def test_elapsed_wait_decisions():
    """A fraction of the time run so far, between the floor and the ceiling (issue 18)."""
    from drplan.azure.lro import elapsed_wait

    assert elapsed_wait(0.2, fraction=0.2, floor=0.1, ceiling=30) == 0.1
    assert elapsed_wait(5.0, fraction=0.2, floor=0.1, ceiling=30) == pytest.approx(1.0)
    assert elapsed_wait(3600, fraction=0.2, floor=0.1, ceiling=30) == 30
    assert elapsed_wait(10, fraction=0.2, floor=0.5, ceiling=0.2) == 0.5  # a ceiling under the floor: the floor


@pytest.mark.parametrize("duration,most_polls", [(1.0, 12), (600.0, 52)])
def test_elapsed_schedule_is_tight_for_short_jobs_and_light_for_long_ones(duration, most_polls):
    """A job that takes T seconds is seen at most a fifth of T after its end, with ~log(T) polls: a 1 s job within
    0.2 s in at most 12 polls, a 10-minute one with 52 polls (a fixed 1 s interval: 600)."""
    fake = FakeTime()
    start = fake.now
    calls: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(fake.now)
        return httpx.Response(200, json={"status": "succeeded" if fake.now - start >= duration else "running"})

    async def go():
        async with AzureClient(transport=httpx.MockTransport(answer), sleep=fake.sleep, clock=fake.clock) as client:
            return await poll(client, OP, endpoint=EP, key=KEY, what="job", interval=30.0, first_delay=0.1,
                              start_interval=0.1, fraction=0.2)

    assert asyncio.run(go())["status"] == "succeeded"
    late = calls[-1] - start - duration
    assert 0 <= late <= 0.2 * duration + 0.11
    assert len(calls) <= most_polls


def test_a_learnt_first_poll_that_is_early_is_followed_tightly():
    """Learnt 1 s, the copy takes 1.3 s: after the first poll the waits are a tenth of the time run (not 0.25 s
    growing), so the copy is seen within ~10 % of its end."""
    fake = FakeTime()
    calls: list[float] = []
    start = fake.now

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(fake.now - start)
        return httpx.Response(200, json={"status": "succeeded" if fake.now - start >= 1.3 else "running"})

    async def go():
        async with AzureClient(transport=httpx.MockTransport(answer), sleep=fake.sleep, clock=fake.clock) as client:
            client.learnt_durations[f"{EP}|copy"] = 1.0
            await poll(client, OP, endpoint=EP, key=KEY, what="copy", learn="copy")
            return client.learnt_durations[f"{EP}|copy"]

    learnt = asyncio.run(go())
    assert calls[0] == pytest.approx(1.0)
    assert [round(b - a, 3) for a, b in zip(calls, calls[1:], strict=False)] == [0.1, 0.11, 0.121]
    assert 1.3 <= calls[-1] <= 1.3 * 1.1 and learnt == pytest.approx(calls[-1])
