"""Planning Language projects (contracts §6): in progress."""

from __future__ import annotations

from drplan.plan.model import Change
from drplan.services.base import Inventory
from drplan.spec.model import Rule, Spec
from drplan.state.model import State


def plan_projects(spec: Spec, rule: Rule, inventories: dict[str, Inventory], state: State) -> tuple[list[Change], list[str]]:
    raise NotImplementedError("Language projects are not planned yet")
