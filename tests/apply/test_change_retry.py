"""Transient failures retried within one apply (drplan/apply/resend.py ``run_retrying``, issue 19): which errors
count as transient, the per-change and apply-wide bounds, and a copy whose polls kept failing past the client's own
retries finishing in the same apply, resumed from its journal with exactly one copy."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from apply_support import account_block, resource_block

from drplan.apply.resend import RetryBudget, is_transient, run_retrying
from drplan.errors import (
    ApplyStepError,
    AuthError,
    ConflictError,
    NotFoundError,
    OperationFailedError,
    ResponseLostError,
    ServiceError,
    StalePlanError,
)

API = "2024-11-30"
ADDR = "prod/west/document-model/invoice"
CONFIG = """
seed = 1
[settings]
copy_seconds = 0.0
retry_after_seconds = 0
""" + account_block("src", extra="""
    [[accounts.src.models]]
    model_id = "invoice"
    created = "2024-03-04T09:15:00Z"
    """) + account_block("west", region="westus2")
SPEC = "version = 1\n" + resource_block("src", family="document-intelligence", api_version=API) + resource_block(
    "west", family="document-intelligence", api_version=API, region="westus2") + """
[[replicate]]
name = "prod"
source = "src"
targets = ["west"]
models = ["invoice"]
"""


@pytest.mark.parametrize(("error", "transient"), [
    (ServiceError("x", status=503), True),
    (ServiceError("x", status=429), True),
    (ServiceError("x", status=500), True),
    (ResponseLostError("x"), True),
    (ApplyStepError("x", transient=True), True),
    (ApplyStepError("x"), False),
    (ServiceError("x", status=400), False),
    (ServiceError("x"), False),  # nothing sent (refused connection, bad host): not healed by a re-run
    (AuthError("x", status=401), False),
    (NotFoundError("x", status=404), False),
    (ConflictError("x", status=409), False),
    (OperationFailedError("x", status=503), False),
    (StalePlanError("x"), False),
])
def test_what_counts_as_transient(error, transient):
    assert is_transient(error) is transient


def test_run_retrying_is_bounded_per_change_and_per_apply():
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)

    def failing(times: int, error: Exception) -> Any:
        calls = [0]

        async def run() -> None:
            calls[0] += 1
            if calls[0] <= times:
                raise error
        run.calls = calls  # type: ignore[attr-defined]
        return run

    budget = RetryBudget(10)
    assert budget.total == 5  # the minimum; 10 % of 10 changes is 1
    ok = failing(2, ServiceError("busy", status=503))
    asyncio.run(run_retrying(ok, budget=budget, sleep=sleep))
    assert ok.calls == [3] and slept == [2.0, 4.0] and budget.used == 2

    too_many = failing(3, ServiceError("busy", status=503))
    with pytest.raises(ServiceError):
        asyncio.run(run_retrying(too_many, budget=budget, sleep=sleep))
    assert too_many.calls == [3] and budget.used == 4

    permanent = failing(1, ConflictError("taken", status=409))
    with pytest.raises(ConflictError):
        asyncio.run(run_retrying(permanent, budget=budget, sleep=sleep))
    assert permanent.calls == [1] and budget.used == 4

    spent = failing(5, ResponseLostError("lost"))
    with pytest.raises(ResponseLostError):
        asyncio.run(run_retrying(spent, budget=budget, sleep=sleep))
    assert spent.calls == [2] and budget.used == 5  # one re-run left in the apply's budget, then the error stands


def test_a_copy_whose_polls_fail_past_the_client_retries_is_resumed_in_the_same_apply(emulated):
    """Every poll of the copy operation answers 503 until the client gives up (8 attempts): the change ends in a
    transient error, is run again from its journal ("copying", operation URL) and finishes; one copyTo in all."""
    env = emulated(CONFIG, SPEC)
    plan = env.plan()
    env.faults({"error_rate": 1.0, "routes": ["operations:get"]}, account="src")
    injected = env.app.faults.injected_error
    left = [8]

    def counting(account: str, faults: Any, retry_after: int) -> Any:
        left[0] -= 1
        if left[0] <= 0:
            env.faults({"error_rate": 0.0, "routes": []}, account="src")
        return injected(account, faults, retry_after)

    env.app.faults.injected_error = counting  # type: ignore[method-assign]
    events: list[dict[str, Any]] = []
    result = env.execute(plan, events=events)
    assert result.applied == [ADDR] and not result.failed
    retried = [e for e in events if e.get("step") == "retrying"]
    assert len(retried) == 1 and "HTTP 503" in retried[0]["message"] and "re-run 1" in retried[0]["message"]
    assert [e["step"] for e in events if e.get("address") == ADDR and e.get("type") == "step"].count("resuming") == 1
    assert len(env.log("documentModels:copyTo", status=202)) == 1
    state = env.state()
    assert state["journal"] == {} and ADDR in state["resources"]
