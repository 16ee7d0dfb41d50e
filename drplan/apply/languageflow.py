"""Language projects, journaled (contracts §6): in progress."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drplan.apply.executor import Executor


async def run_language_change(ex: "Executor", change: dict[str, Any], entry: dict[str, Any] | None) -> None:
    raise NotImplementedError("Language projects are not applied yet")
