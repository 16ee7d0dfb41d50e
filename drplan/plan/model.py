"""Plan vocabulary. The JSON spelling of every enum is fixed here, once.

``PLAN_FORMAT_VERSION`` is bumped whenever an older drplan could misread a newer plan (apply refuses plans whose
format_version it does not know).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

#: 1.1: Content Understanding and Language changes (kinds analyzer, model-deployment, language-project; the
#: "update" action; depends_on, steps, deployments, settings, diff). A 1.0 plan is a valid 1.1 plan.
PLAN_FORMAT_VERSION = "1.1"


class Action(str, enum.Enum):
    CREATE = "create"
    REPLACE = "replace"
    DELETE = "delete"
    UPDATE = "update"  # in place: a CU target's /defaults key, or retrain/redeploy a Language project
    NO_OP = "no-op"

    @property
    def actions(self) -> list[str]:
        """Terraform's ``actions`` list: a replace is delete-then-create (models are immutable, contracts §2.4)."""
        return list(_ACTIONS[self.value])  # keyed by the plain string: str-Enum hashing is slow on hot paths

    @classmethod
    def from_actions(cls, actions: list[str]) -> Action:
        try:
            return _BY_ACTIONS[tuple(actions)]
        except KeyError:
            raise ValueError(f"unknown actions {actions!r}") from None


#: A replace that copies first and deletes the old copy afterwards: used where the new copy gets a new id (FR v2.x),
#: so there is never a moment without a DR copy.
CREATE_BEFORE_DESTROY = ["create", "delete"]

_ACTIONS: dict[str, tuple[str, ...]] = {
    "create": ("create",),
    "replace": ("delete", "create"),
    "delete": ("delete",),
    "update": ("update",),
    "no-op": ("no-op",),
}
_BY_ACTIONS: dict[tuple[str, ...], Action] = {v: Action(k) for k, v in _ACTIONS.items()}
_BY_ACTIONS[tuple(CREATE_BEFORE_DESTROY)] = Action.REPLACE


@dataclass
class Change:
    """One planned change to one address. ``reason`` and ``warnings`` are for reviewers; the executor never branches
    on them."""

    address: str
    rule: str
    kind: str
    action: Action
    reason: str
    source: dict[str, Any]
    target: dict[str, Any]
    flags: dict[str, bool] = field(default_factory=lambda: {"encryption_downgrade": False, "drift": False})
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    preconditions: list[dict[str, Any]] = field(default_factory=list)
    create_before_destroy: bool = False
    #: Addresses that must be applied before this one (a CU analyzer after the /defaults keys and the analyzers it
    #: references). Only the executor's ordering depends on it.
    depends_on: list[str] = field(default_factory=list)
    #: The ordered steps apply will run (Language: export, import, train, deploy), for reviewers and the executor.
    steps: list[str] = field(default_factory=list)
    #: CU: per model role, the model, the deployment the target will use and why.
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Family-specific inputs apply uses exactly as reviewed (CU /defaults value, Language train/deploy settings).
    settings: dict[str, Any] = field(default_factory=dict)
    #: A readable summary of what changed in the definition (deepdiff), one line per difference.
    diff: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        actions = self.action.actions
        if self.action is Action.REPLACE and self.create_before_destroy:
            actions = list(CREATE_BEFORE_DESTROY)
        return {
            "address": self.address,
            "rule": self.rule,
            "kind": self.kind,
            "actions": actions,
            "reason": self.reason,
            "source": self.source,
            "target": self.target,
            "flags": self.flags,
            "warnings": self.warnings,
            "errors": self.errors,
            "preconditions": self.preconditions,
            **{k: v for k, v in (("depends_on", self.depends_on), ("steps", self.steps),
                                 ("deployments", self.deployments), ("settings", self.settings),
                                 ("diff", self.diff)) if v},
        }


def change_action(change: dict[str, Any]) -> Action:
    return Action.from_actions(change["actions"])
