"""Moving state records to a new address: ``drplan state mv`` and the spec's ``[[moved]]`` blocks (issue 17).

One rewrite (:func:`move_record`) serves all three users: ``state mv`` (under the lock, then persisted), the planner
(on a view of the state, so a renamed rule plans against the records it had: no recopy), and apply (the records of
the plan's moved changes, persisted in the apply's first state write). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from drplan.spec.model import Move
from drplan.state.model import State


def move_record(state: State, old: str, new: str) -> bool:
    """Record under ``new`` what ``state`` records under ``old`` (its resource record and journal entry), with the
    record's ``rule`` and ``target_resource`` taken from ``new``. The caller has checked that ``new`` is free.
    Returns False when nothing is recorded under ``old``. The record is copied, never changed in place."""
    rule, target = new.split("/")[:2]
    moved = False
    if old in state.resources:
        rec = dict(state.resources.pop(old))
        rec["rule"], rec["target_resource"] = rule, target
        state.resources[new] = rec
        moved = True
    if old in state.journal:
        state.journal[new] = state.journal.pop(old)
        moved = True
    return moved


@dataclass
class MovedView:
    """The state as the spec's moved blocks see it: ``state`` has every moved record at its new address (a copy: the
    real state is untouched); ``moved`` maps each new address to (old address, the block's index); ``errors`` are
    moves that cannot be made (the new address is already recorded, or two records would land on one address)."""

    state: State
    moved: dict[str, tuple[str, int]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def moved_view(moves: Sequence[Move], state: State) -> MovedView:
    """Follow ``moves`` over ``state``'s records and journal entries. The most specific block naming an address wins
    (an address over a rule/target over a rule). A block whose ``from`` has no records does nothing."""
    view = State(state.lineage, state.serial, dict(state.resources), dict(state.journal), state.applies)
    out = MovedView(view)
    if not moves:
        return out
    ordered = sorted(moves, key=lambda m: -m.parts)
    plan: dict[str, tuple[str, Move]] = {}  # new -> (old, block)
    for old in sorted(set(state.resources) | set(state.journal)):
        m = next((m for m in ordered if m.destination(old) is not None), None)
        if m is None:
            continue
        new = m.destination(old)
        assert new is not None
        if new in plan:
            other, first = plan[new]
            out.errors.append(f"moved[{first.index}] and moved[{m.index}] both move a record to {new} (from {other} "
                              f"and {old}); make the blocks name different places")
            continue
        plan[new] = (old, m)
    leaving = {old for old, _ in plan.values()}
    for new, (old, m) in sorted(plan.items()):
        if (new in state.resources or new in state.journal) and new not in leaving:
            out.errors.append(f"moved[{m.index}]: cannot move {old} to {new}: {new} is already recorded in the state; "
                              f"forget one of them (drplan state rm) and plan again")
            continue
    if out.errors:
        return out
    # Take every moved record out first, then put them back at their new addresses: a swap is not a collision.
    taken = State(state.lineage)
    for old, _ in plan.values():
        if old in view.resources:
            taken.resources[old] = view.resources.pop(old)
        if old in view.journal:
            taken.journal[old] = view.journal.pop(old)
    for new, (old, m) in sorted(plan.items()):
        move_record(taken, old, new)
        if new in taken.resources:
            view.resources[new] = taken.resources.pop(new)
        if new in taken.journal:
            view.journal[new] = taken.journal.pop(new)
        out.moved[new] = (old, m.index)
    return out


#: ``Change.settings`` keys the planner sets (core, never a family's): ``moved_from`` — the address a moved block
#: takes the record from (apply moves it, reviewers see it); ``orphaned`` — the removed rule that recorded an
#: address no rule claims. ORPHANED starts the reason and warning of such a change (the planner's wording).
MOVED_FROM = "moved_from"
ORPHANED_KEY = "orphaned"
ORPHANED = "orphaned: recorded in state by rule"
