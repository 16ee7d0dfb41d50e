"""Riding out transient faults within one apply (issue 19): resending a request whose answer was lost, where that is
safe, and running a change again when it ended in a transient error.

The HTTP client never repeats a POST whose connection dropped after sending (``ResponseLostError``: "it may have
taken effect"): in general a second send could start a second copy. A family's apply step that knows a resend
*cannot* do harm (the request is idempotent server-side state, or each call mints a fresh, unused, expiring
reservation) wraps it in :func:`resend_if_lost`, and says at the call why it is safe.

A change whose run still ends in a transient error (:func:`is_transient`: the service kept answering 429/5xx, or kept
losing answers, past the client's own retries) is run again by the executor through :func:`run_retrying`, a few
seconds later, at most :data:`CHANGE_RETRIES` times, within an apply-wide :class:`RetryBudget`. Safe for the same
reason a second ``drplan apply`` of the plan is: the change resumes from its journal entry, and every family's resume
looks at the operation and the target before it sends anything (the kill-at-every-step tests). Family-agnostic: no
family imports here.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import TypeVar

from drplan.errors import (
    ApplyStepError,
    AuthError,
    ConflictError,
    DrplanError,
    ForeignHostError,
    NotFoundError,
    OperationFailedError,
    OperationTimeoutError,
    ResponseLostError,
    ServiceError,
)

T = TypeVar("T")

#: Sends of one request in all (the first and two resends): a connection that drops three times in a row is not a
#: transient fault, and the step fails with the last error (a later apply starts over).
RESEND_ATTEMPTS = 3
#: Seconds before the first resend; doubled before each further one (0.5 s, 1 s).
RESEND_BACKOFF = 0.5


def resend_delay(resend: int, backoff: float = RESEND_BACKOFF) -> float:
    """The pause before resend number ``resend`` (1-based)."""
    return backoff * float(2 ** (resend - 1))


async def resend_if_lost(
    send: Callable[[], Awaitable[T]],
    *,
    sleep: Callable[[float], Awaitable[None]],
    on_resend: Callable[[int, ResponseLostError, float], None] | None = None,
    attempts: int = RESEND_ATTEMPTS,
    backoff: float = RESEND_BACKOFF,
) -> T:
    """``await send()``; when its answer is lost (:class:`ResponseLostError`), wait and send again, ``attempts``
    times in all, then raise the last loss. Any other error is raised at once. ``on_resend(n, error, delay)`` is
    called before resend ``n`` (a warning step for the user). ``sleep``: the client's (injectable) sleep."""
    attempts = max(1, attempts)
    for attempt in range(1, attempts + 1):
        try:
            return await send()
        except ResponseLostError as exc:
            if attempt >= attempts:
                raise
            delay = resend_delay(attempt, backoff)
            if on_resend is not None:
                on_resend(attempt, exc, delay)
            await sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


#: Runs of one change after its first, within one apply, when each ended in a transient error.
CHANGE_RETRIES = 2
#: Seconds before a change's first re-run; doubled before the next (2 s, 4 s): long enough for a burst of faults to
#: pass, short next to the client's own per-request retries that already failed.
CHANGE_RETRY_DELAY = 2.0
#: HTTP statuses that say "try later" (the client retried them up to its attempt and time budget).
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def is_transient(exc: BaseException) -> bool:
    """Whether a change that ended with ``exc`` may well succeed if run again shortly: a service error with a
    "try later" status or a lost answer (after the client's own retries), or a family step that says so
    (``ApplyStepError(transient=True)``). Never a 4xx that cannot heal (401/403/404/409), a failed or timed-out
    operation, a refused foreign host, a stale plan, or anything that is not a DrplanError."""
    if isinstance(exc, ApplyStepError):
        return exc.transient
    if isinstance(exc, (AuthError, NotFoundError, ConflictError, ForeignHostError, OperationFailedError,
                        OperationTimeoutError)):
        return False
    if isinstance(exc, ResponseLostError):
        return True
    return isinstance(exc, ServiceError) and exc.status in TRANSIENT_STATUSES


class RetryBudget:
    """How many change re-runs one apply may spend in all: ``max(minimum, share x changes)``. When the service is
    down rather than flaky, every change fails transiently; the budget keeps such an apply from re-running them
    all (it ends, and says what failed, within a bounded time)."""

    def __init__(self, changes: int, *, share: float = 0.1, minimum: int = 5) -> None:
        self.total = max(minimum, math.ceil(share * changes))
        self.used = 0

    def take(self) -> bool:
        if self.used >= self.total:
            return False
        self.used += 1
        return True


async def run_retrying(
    run: Callable[[], Awaitable[None]],
    *,
    budget: RetryBudget,
    sleep: Callable[[float], Awaitable[None]],
    on_retry: Callable[[int, DrplanError, float], None] | None = None,
    retries: int = CHANGE_RETRIES,
    delay: float = CHANGE_RETRY_DELAY,
) -> None:
    """``await run()``; when it raises a transient DrplanError (:func:`is_transient`) and both ``retries`` and the
    apply's ``budget`` allow, wait and run it again (``run`` must resume from the journal). ``on_retry(n, error,
    delay)`` is called before re-run ``n``. The last error is raised as it was."""
    for attempt in range(retries + 1):
        try:
            await run()
            return
        except DrplanError as exc:
            if attempt >= retries or not is_transient(exc) or not budget.take():
                raise
            wait = delay * float(2 ** attempt)
            if on_retry is not None:
                on_retry(attempt + 1, exc, wait)
            await sleep(wait)
