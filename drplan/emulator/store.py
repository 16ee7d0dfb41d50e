"""What every family's store shares: the accounts (their configs, found by name or by ARM resource id), the run-time
``[settings]``, the clock, the timing of accepted operations (copy duration, slow mode, injected failures) and
:class:`SortedIds`, the id-ordered record table that list pages are cut from.

Each family keeps its own records in its service module (``services/<family>.py``: DI/FR v3 models, classifiers and
copy operations; v2.x models; CU analyzers; Language projects); none of them knows about HTTP wire shapes or fault
dice beyond :meth:`Store.operation_timing`. All time comes from the :class:`~.clock.Clock`.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .clock import Clock
from .config_base import AccountConfig, EmulatorConfig, Faults, Settings


class OperationFaults(Protocol):
    """The part of ``faults.FaultInjector`` the stores use: an account's effective faults, the duration of a copy
    under them, and the ``operation_failure_rate`` draw."""

    def effective(self, account: str) -> Faults: ...

    def copy_duration(self, base_seconds: float, faults: Faults) -> float: ...

    def operation_fails(self, account: str, faults: Faults) -> bool: ...


class Store:
    """The accounts, settings and clock every family shares. Not thread-safe; the app runs on one event loop."""

    def __init__(self, config: EmulatorConfig, clock: Clock, faults: OperationFaults) -> None:
        self.config = config
        self.clock = clock
        self.faults = faults
        self.accounts: dict[str, AccountConfig] = dict(config.accounts)
        self.by_resource_id: dict[str, str] = {acc.resource_id.lower(): name for name, acc in config.accounts.items()}
        self.reset()

    def reset(self) -> None:
        """Back to the config file's settings."""
        self.settings: Settings = dataclasses.replace(self.config.settings)

    def now(self) -> float:
        return self.clock.now()

    def account_at(self, resource_id: str, region: str) -> str | None:
        """The account with ARM id ``resource_id`` (any case) in ``region`` (any case), None if there is none."""
        name = self.by_resource_id.get(resource_id.lower())
        if name is None or self.accounts[name].region != region.lower():
            return None
        return name

    def operation_timing(self, account: str) -> tuple[float, Callable[[], bool]]:
        """An operation accepted now on ``account``: how long it takes (``copy_seconds``, ten times that in slow mode)
        and the ``operation_failure_rate`` draw. Call the draw once, only when the operation is really accepted (after
        every synchronous check), so the fault sequence stays deterministic."""
        faults = self.faults.effective(account)
        duration = self.faults.copy_duration(self.settings.copy_seconds, faults)
        return duration, lambda: self.faults.operation_fails(account, faults)


class SortedIds:
    """A dict of records plus its keys kept sorted, so list pages are found with bisect (O(log n))."""

    def __init__(self) -> None:
        self.items: dict[str, Any] = {}
        self.order: list[str] = []

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, key: str) -> bool:
        return key in self.items

    def get(self, key: str) -> Any:
        return self.items.get(key)

    def put(self, key: str, value: Any) -> None:
        if key not in self.items:
            bisect.insort(self.order, key)
        self.items[key] = value

    def pop(self, key: str) -> Any:
        value = self.items.pop(key)
        del self.order[bisect.bisect_left(self.order, key)]
        return value

    def remove(self, key: str) -> bool:
        """Drop ``key`` if it is there; True when something was removed."""
        if key not in self.items:
            return False
        self.pop(key)
        return True

    def after(self, key: str | None, limit: int) -> list[str]:
        start = 0 if key is None else bisect.bisect_right(self.order, key)
        return self.order[start : start + limit]

    def has_after(self, key: str) -> bool:
        return bisect.bisect_right(self.order, key) < len(self.order)


@dataclass
class Page:
    """One page of a list: the records and the key to continue after (None on the last page)."""

    items: list[Any]
    next_after: str | None
