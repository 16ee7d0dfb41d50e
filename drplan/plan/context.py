"""PlanContext: what a family's planner reads (spec, inventories, state) and the few facts it reports back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drplan.families.base import Inventory
from drplan.spec.model import Spec
from drplan.state.model import State


@dataclass
class PlanContext:
    spec: Spec
    inventories: dict[str, Inventory]
    state: State
    #: False on a first run or after a lost state (``state`` is then a fresh, unsaved one).
    state_existed: bool
    #: A family may name the lineage id of a lost state its copies carry (DI lineage tags); apply re-creates the
    #: state with it (plan ``state.recover_lineage``).
    recover_lineage: str | None = None
    #: Per-family memo for one planning run (e.g. what a family computed once for all its rules).
    memo: dict[str, Any] = field(default_factory=dict)
