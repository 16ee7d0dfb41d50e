"""Resending a request whose answer was lost, for the few apply steps where that is safe (issue 19).

The HTTP client never repeats a POST whose connection dropped after sending (``ResponseLostError``: "it may have
taken effect"): in general a second send could start a second copy. A family's apply step that knows a resend
*cannot* do harm (the request is idempotent server-side state, or each call mints a fresh, unused, expiring
reservation) wraps it in :func:`resend_if_lost`, and says at the call why it is safe. Family-agnostic: no family
imports here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from drplan.errors import ResponseLostError

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
