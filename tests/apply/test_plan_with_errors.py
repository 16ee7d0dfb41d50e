"""A plan whose ``errors`` is non-empty is never applied, whatever its ``applyable`` says (issue 19): the digest
check stays, so this is a plan re-sealed by hand."""

from __future__ import annotations

import asyncio

import pytest

from drplan.apply.executor import Executor
from drplan.errors import NotApplyableError
from drplan.plan.model import Plan, PlanOptions, PlanState, SpecRef


class _NoManager:
    state = None


def test_errors_win_over_applyable_true():
    plan = Plan("1.1", "test", "x", SpecRef("dr.toml", "sha256:x"), PlanState(None, 0), PlanOptions(), {}, [], {},
                errors=["r/west/document-model/m: something is wrong"], applyable=True, digest="sha256:x")
    with pytest.raises(NotApplyableError, match="something is wrong"):
        asyncio.run(Executor(plan, _NoManager(), client=None).run())  # type: ignore[arg-type]
