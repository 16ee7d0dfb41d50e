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
    #: Addresses plan --replace names (issue 17): recopied even when in sync or only to be updated in place.
    replace: frozenset[str] = frozenset()
    #: The requested addresses a family forced a recopy of (through :meth:`replace_requested`).
    replaced: set[str] = field(default_factory=set)

    def replace_requested(self, address: str) -> bool:
        """Whether ``--replace`` names ``address``. A family asks where it would otherwise plan a no-op or an
        in-place update of a copy it made, and plans its own replace (reason :data:`REPLACE_REQUESTED`) when the
        answer is yes; the planner reports a requested address no family replaced (a typo, a change that cannot be
        recopied)."""
        if address in self.replace:
            self.replaced.add(address)
            return True
        return False


#: The reason a family gives a replace only ``--replace`` asked for (the reason is for reviewers; nothing branches on
#: it).
REPLACE_REQUESTED = "replace requested (--replace)"
