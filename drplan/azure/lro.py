"""Polling long-running operations: the one poller every family uses (issue 14), with every wait bounded (issue 19).

Decisions are free of I/O and the async part is a thin shell (the azure-core habit, STYLE.md):

* :func:`parse_status` reads one poll answer: status words are normalised in one place, and a missing or unknown
  status is a :class:`ServiceError`, never "still running" (that polled forever).
* :func:`next_delay` picks the wait before the next poll: the service's ``Retry-After`` when it sends one, capped at
  ``min(max_interval, max_retry_after)`` (so ``Retry-After: 86400`` cannot stall an apply); otherwise an adaptive
  interval that starts small and grows by ``growth`` per poll up to ``interval``, or (:func:`elapsed_wait`) a
  fraction of the time the operation has run so far (Language jobs and Document Intelligence copies send no
  Retry-After: short operations are seen promptly, long ones are not polled hard).
* :func:`poll` waits at most ``deadline`` seconds for one operation, then raises :class:`OperationTimeoutError` naming
  the operation URL (never its query) and what to do.

:func:`normalise_status` stays for callers that *scan* lists of operations or jobs: there an unknown word is
:attr:`OpStatus.UNKNOWN` (not terminal), never an error, and never mistaken for running or done.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from drplan.azure.auth import Credential
from drplan.azure.client import MAX_RETRY_AFTER, AzureClient, retry_after_seconds
from drplan.azure.errors import (
    AnswerShapeError,
    json_object,
    list_field,
    object_field,
    reading_answer,
    text_field,
)
from drplan.azure.urls import display
from drplan.errors import OperationTimeoutError, ServiceError

#: How long :func:`poll` waits for one operation when neither its caller nor the client names a deadline. Copies of
#: custom models take seconds to minutes; half an hour leaves a wide margin, and a run that hits it can be run again
#: (apply resumes a journaled operation instead of starting another).
DEFAULT_DEADLINE = 1800.0
#: The first wait when the service sends no Retry-After (no operation is done the instant it starts).
DEFAULT_START_INTERVAL = 0.25
#: How much the wait grows per poll without Retry-After (1.5: 0.25, 0.375, 0.56, 0.84, 1 s with ``interval=1``).
GROWTH = 1.5
#: The shortest wait between polls: a ``Retry-After: 0`` never turns into a busy loop.
MIN_WAIT = 0.1
#: With ``learn``, after the first poll (at the learnt duration) found the operation still running: the wait is this
#: fraction of the time it has run (issue 18: a copy is seen at most ~10 % after it ended, with one or two more polls).
LEARNT_MISS_FRACTION = 0.1
#: With ``learn``, an operation already done at the first poll: the next first poll comes this much earlier (tracks a
#: faster service). Every miss costs a poll for each operation in flight, so the probing is gentle (2 %, was 5 %).
LEARNT_SHRINK = 0.98


class OpStatus(str, enum.Enum):
    NOT_STARTED = "notStarted"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    #: Only from :func:`normalise_status`: a word drplan does not know (or no status at all). Not terminal; poll
    #: never returns it (it raises instead).
    UNKNOWN = "unknown"

    @property
    def terminal(self) -> bool:
        return self in (OpStatus.SUCCEEDED, OpStatus.FAILED, OpStatus.CANCELED)


#: Every status word of the four families' operations and jobs, lower-cased and without "_" (contracts §2.7, §6):
#: DI / FR v3 / FR v2.1 operations, Content Understanding (PascalCase), Language jobs (TextAuthoringOperationStatus).
_STATUS = {
    "notstarted": OpStatus.NOT_STARTED,
    "running": OpStatus.RUNNING,
    "inprogress": OpStatus.RUNNING,
    "cancelling": OpStatus.RUNNING,  # Language: on its way to "cancelled", not there yet
    "succeeded": OpStatus.SUCCEEDED,
    "completed": OpStatus.SUCCEEDED,  # 2024-02-29-preview enum (contracts §2.7)
    "failed": OpStatus.FAILED,
    # Language: some of the job's tasks failed. Not a success: the result is incomplete, so drplan treats it as failed
    # (the job's own word is kept in every message, from the body).
    "partiallycompleted": OpStatus.FAILED,
    "canceled": OpStatus.CANCELED,
    "cancelled": OpStatus.CANCELED,
    "skipped": OpStatus.CANCELED,
}
_KNOWN = "notStarted, running, succeeded, failed, canceled (and their spellings in each family)"


def normalise_status(value: Any) -> OpStatus:
    """The status a word names, or :attr:`OpStatus.UNKNOWN` for a word drplan does not know, a non-string or None.
    For scanning lists; :func:`parse_status` is the strict reading of a poll answer."""
    if not isinstance(value, str):
        return OpStatus.UNKNOWN
    return _STATUS.get(value.replace("_", "").lower(), OpStatus.UNKNOWN)


def parse_status(body: dict[str, Any], *, url: str, what: str) -> OpStatus:
    """The status of one poll answer; a ServiceError when it has none or one drplan does not know."""
    subject = f"the operation at {display(url)}"
    if "status" not in body or body["status"] is None or body["status"] == "":
        keys = ", ".join(sorted(str(k) for k in body)[:10]) or "none"
        raise ServiceError(f"{what}: {subject} answered without a status (its fields: {keys}); drplan cannot tell "
                           "whether it is still running and stops waiting: check the operation on the service")
    raw = body["status"]
    status = normalise_status(raw)
    if status is OpStatus.UNKNOWN:
        shown = raw if isinstance(raw, str) else repr(raw)
        shown = shown if len(shown) <= 100 else shown[:100] + "…(truncated)"
        raise ServiceError(
            f"{what}: {subject} answered status '{shown}', which drplan does not know (it knows {_KNOWN}); drplan "
            "stops waiting rather than guess whether it is still running: check the operation on the service, and "
            "that the resource's api_version is one drplan supports")
    return status


def check_envelope(body: dict[str, Any]) -> None:
    """The fields every family reads from a poll answer, checked for their type once, here: ``error`` (an object
    whose ``code``, ``message`` and ``innererror`` chain are strings and objects), ``errors`` and ``warnings`` (lists),
    ``result`` (an object), ``percentCompleted`` (a number). Raises AnswerShapeError (inside ``reading_answer``)."""
    err = object_field(body, "error")
    depth = 0
    while err and depth < 32:
        depth += 1
        text_field(err, "code", where="error")
        text_field(err, "message", where="error")
        err = object_field(err, "innererror", where="error")
    list_field(body, "errors")
    list_field(body, "warnings")
    result = object_field(body, "result")
    object_field(result, "trainingStatus", where="result")
    pct = body.get("percentCompleted")
    if pct is not None and (isinstance(pct, bool) or not isinstance(pct, int | float)):
        raise AnswerShapeError("the field 'percentCompleted' is not a number")


def next_delay(*, retry_after: float | None, adaptive: float, cap: float, remaining: float) -> float:
    """Seconds to wait before the next poll: ``retry_after`` (the service's, None when it sent none) capped at
    ``cap``, else ``adaptive``; never under :data:`MIN_WAIT`, never past the deadline (``remaining`` seconds away), so
    the last poll happens at the deadline."""
    wait = min(cap, retry_after) if retry_after is not None else adaptive
    return max(0.0, min(max(MIN_WAIT, wait), remaining))


def elapsed_wait(elapsed: float, *, fraction: float, floor: float, ceiling: float) -> float:
    """The wait before the next poll of an operation that has run ``elapsed`` seconds and sends no Retry-After:
    ``fraction`` of that time, between ``floor`` and ``ceiling``. The operation is seen at most ``fraction`` of its
    duration (and ``ceiling`` seconds) after it ended, with about ``log(T / floor) / log(1 + fraction)`` polls for a
    T-second operation below the ceiling: tight for short ones, few for long ones (a 10-minute job at 0.2, floor
    0.1 s, ceiling 30 s: 52 polls, not 600 at a fixed second)."""
    return min(max(floor, fraction * elapsed), max(floor, ceiling))


def _retry_after(response: httpx.Response) -> float | None:
    value = retry_after_seconds(response, -1.0)
    return None if value < 0 else value


async def poll(
    client: AzureClient,
    url: str,
    *,
    endpoint: str,
    key: Credential,
    what: str,
    interval: float = 1.0,
    max_interval: float = 10.0,
    on_progress: Callable[[OpStatus, dict[str, Any]], None] | None = None,
    sleep: Callable[[float], Any] | None = None,
    first_delay: float = 0.0,
    start_interval: float | None = None,
    deadline: float | None = None,
    max_retry_after: float | None = None,
    growth: float = GROWTH,
    clock: Callable[[], float] | None = None,
    learn: str | None = None,
    fraction: float | None = None,
) -> dict[str, Any]:
    """GET ``url`` until the operation is terminal; return the final body (succeeded, failed or canceled: the caller
    decides what a failure means).

    * ``first_delay``: the Retry-After of the answer that started the operation (a poll before it is wasted), capped
      like any Retry-After.
    * Without Retry-After the wait starts at ``start_interval`` (None: :data:`DEFAULT_START_INTERVAL`) and grows by
      ``growth`` per poll up to ``interval``. A Retry-After is obeyed up to ``min(max_interval, max_retry_after)``
      (``max_retry_after`` None: the client's, else :data:`~drplan.azure.client.MAX_RETRY_AFTER`).
    * ``deadline``: seconds for the whole wait (None: the client's ``operation_deadline``, else
      :data:`DEFAULT_DEADLINE`); past it, :class:`OperationTimeoutError`. Time counts on ``clock`` (None: the
      client's), and never less than the time slept.
    * ``sleep`` None: the client's sleep (one injectable sleep for tests).
    * ``learn``: a name for this kind of operation (e.g. "copy"). Services that send no Retry-After (Document
      Intelligence copies) are waited for as long as such operations took on this endpoint before: the first poll
      comes at the learnt duration (shrunk by :data:`LEARNT_SHRINK` each time it was already done then, so it tracks a faster
      service), and the duration seen is remembered for the next one. When it is not done then, the next polls
      follow :func:`elapsed_wait` at :data:`LEARNT_MISS_FRACTION` (tight: it is due). Nothing is learnt across runs.
    * ``fraction``: without Retry-After, wait ``fraction`` of the time the operation has run (:func:`elapsed_wait`,
      between ``start_interval`` and ``interval``) instead of growing by ``growth`` per poll (Language jobs, which
      send no Retry-After and take from seconds to hours).
    * A missing or unknown status, or an answer that is not a JSON object: :class:`ServiceError`.
    """
    do_sleep: Callable[[float], Awaitable[Any]] = sleep or getattr(client, "sleep", None) or asyncio.sleep
    now: Callable[[], float] = clock or getattr(client, "clock", None) or time.monotonic
    if deadline is None:
        deadline = getattr(client, "operation_deadline", None)
        deadline = DEFAULT_DEADLINE if deadline is None else deadline
    if max_retry_after is None:
        max_retry_after = getattr(client, "max_retry_after", None)
        max_retry_after = MAX_RETRY_AFTER if max_retry_after is None else max_retry_after
    cap = min(max_interval, max_retry_after)
    started, slept = now(), 0.0

    def elapsed() -> float:
        return max(now() - started, slept)

    async def pause(seconds: float) -> None:
        nonlocal slept
        if seconds > 0:
            await do_sleep(seconds)
            slept += seconds

    learnt: dict[str, float] | None = getattr(client, "learnt_durations", None) if learn else None
    learn_key = f"{endpoint}|{learn}"
    expected = learnt.get(learn_key, 0.0) if learnt is not None else 0.0
    if first_delay <= 0 and expected > 0:
        first_delay = expected
    if first_delay > 0:
        await pause(min(cap, first_delay, deadline))
    floor = min(interval, DEFAULT_START_INTERVAL if start_interval is None else start_interval)
    adaptive = floor
    if fraction is None and expected > 0:
        fraction, floor = LEARNT_MISS_FRACTION, MIN_WAIT
    polls = 0
    while True:
        polls += 1
        response = await client.request("GET", url, endpoint=endpoint, key=key, what=what)
        subject = f"the operation at {display(url)}"
        body = json_object(response, what=what, subject=subject)
        status = parse_status(body, url=url, what=what)
        with reading_answer(what, subject):
            check_envelope(body)
            if on_progress:
                on_progress(status, body)
        if status.terminal:
            if learnt is not None and status is OpStatus.SUCCEEDED:
                # Done at the first look: the service may be faster than learnt, probe a little earlier next time.
                learnt[learn_key] = LEARNT_SHRINK * expected if polls == 1 and expected > 0 else elapsed()
            return body
        remaining = deadline - elapsed()
        if remaining <= 0:
            raise OperationTimeoutError(
                f"{what}: the operation at {display(url)} is still {body.get('status')!s} after {elapsed():.0f} s, "
                f"past its deadline of {deadline:g} s; drplan stopped waiting, but the operation may still be running "
                "on the service: run the same command again later to pick it up (apply resumes a journaled "
                "operation instead of starting another), or check it on the service")
        if fraction is not None:
            adaptive = elapsed_wait(elapsed(), fraction=fraction, floor=floor, ceiling=interval)
        await pause(next_delay(retry_after=_retry_after(response), adaptive=adaptive, cap=cap, remaining=remaining))
        if fraction is None:
            adaptive = min(interval, adaptive * growth)


__all__ = ["DEFAULT_DEADLINE", "OpStatus", "elapsed_wait", "next_delay", "normalise_status", "parse_status", "poll"]
