"""Polling long-running operations: status words normalised in one place; the interval honours Retry-After."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

from drplan.azure.client import AzureClient, retry_after_seconds


class OpStatus(str, enum.Enum):
    NOT_STARTED = "notStarted"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        return self in (OpStatus.SUCCEEDED, OpStatus.FAILED, OpStatus.CANCELED)


_STATUS = {
    "notstarted": OpStatus.NOT_STARTED,
    "running": OpStatus.RUNNING,
    "inprogress": OpStatus.RUNNING,
    "succeeded": OpStatus.SUCCEEDED,
    "completed": OpStatus.SUCCEEDED,  # 2024-02-29-preview enum (contracts §2.7)
    "failed": OpStatus.FAILED,
    "canceled": OpStatus.CANCELED,
    "cancelled": OpStatus.CANCELED,
    "skipped": OpStatus.CANCELED,
}


def normalise_status(value: str | None) -> OpStatus:
    return _STATUS.get((value or "").replace("_", "").lower(), OpStatus.RUNNING)


async def poll(
    client: AzureClient,
    url: str,
    *,
    endpoint: str,
    key: str,
    what: str,
    interval: float = 1.0,
    max_interval: float = 10.0,
    on_progress: Callable[[OpStatus, dict[str, Any]], None] | None = None,
    sleep: Callable[[float], Any] | None = None,
    first_delay: float = 0.0,
    start_interval: float | None = None,
) -> dict[str, Any]:
    """GET ``url`` until the operation is terminal; return the final body. ``first_delay`` is the Retry-After of the
    answer that started the operation (a poll before it is wasted: the service said when to come back).
    ``start_interval``: for services whose job answers carry no Retry-After (Language authoring, contracts §6), wait
    this long after the first poll and double the wait up to ``interval``, so short jobs finish promptly and long ones
    are not polled hard."""
    import asyncio

    do_sleep = sleep or asyncio.sleep
    if first_delay > 0:
        await do_sleep(min(max_interval, first_delay))
    wait = interval if start_interval is None else min(start_interval, interval)
    while True:
        response = await client.request("GET", url, endpoint=endpoint, key=key, what=what)
        body = response.json()
        status = normalise_status(body.get("status"))
        if on_progress:
            on_progress(status, body)
        if status.terminal:
            return body
        # Retry-After is honoured, with a small floor so a "0" never turns into a busy loop.
        await do_sleep(max(0.1, min(max_interval, retry_after_seconds(response, wait))))
        wait = min(interval, wait * 2)
