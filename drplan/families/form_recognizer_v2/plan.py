"""Form Recognizer v2.x planning: the target id is minted by the service (contracts §4), so the address names the
source model and the state maps it to the copy; versions are lastUpdatedDateTime."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drplan.families.base import Asset, Inventory
from drplan.families.documents import plan_copies
from drplan.plan.addresses import address
from drplan.plan.context import REPLACE_REQUESTED, PlanContext
from drplan.plan.model import Action, Change, Source, Target
from drplan.spec.model import AssetKind, Rule

KINDS = frozenset({AssetKind.CUSTOM_MODEL})


def plan_rule(ctx: PlanContext, rule: Rule) -> tuple[list[Change], list[str]]:
    def one(rule: Rule, asset: Asset, source: Source, tname: str, tgt_inv: Inventory) -> Change:
        addr = address(rule.name, tname, asset.kind, asset.id)
        return _plan_one(rule, addr, asset, source, tname, tgt_inv, ctx.state.resources.get(addr),
                         forced=ctx.replace_requested)

    return plan_copies(ctx, rule, KINDS if rule.models else frozenset(), one)


def _plan_one(rule: Rule, addr: str, asset: Asset, src: Source, tname: str, tgt_inv: Inventory,
                 recorded: dict[str, Any] | None, *, forced: Callable[[str], bool] = lambda addr: False) -> Change:
    """``forced(addr)``: plan --replace names this address; asked only where the recorded copy is in sync, which then
    takes the replace path a retrained source takes (copy again under a new id, then delete the old copy)."""
    label = f"{rule.source}/{asset.id}" + (f" ({asset.name})" if asset.name else "")
    kind = asset.kind
    tid = recorded["target_id"] if recorded else ""
    observed = tgt_inv.get(asset.kind, tid) if tid else None
    target = Target(tname, tid, observed is not None, observed.fingerprint if observed else None)
    src_pre = {"type": "source_fingerprint", "resource": rule.source, "id": asset.id, "fingerprint": asset.fingerprint}
    if recorded is None:
        return Change(addr, rule.name, kind, Action.CREATE,
                      f"no copy of {label} on {tname!r} is recorded in state; copy it (the target service picks the "
                      "new model id)", src, target, preconditions=[src_pre])
    if observed is None:
        ch = Change(addr, rule.name, kind, Action.CREATE,
                    f"drift: the copy {tid} recorded in state (made {recorded['copied_at']}) is missing on {tname!r}; "
                    "copy it again (under a new id)", src, target, preconditions=[src_pre, {"type": "target_absent"}])
        ch.flags.drift = True
        return ch
    tgt_pre = {"type": "target_fingerprint", "fingerprint": observed.fingerprint}
    if observed.status != "ready":
        ch = Change(addr, rule.name, kind, Action.REPLACE,
                    f"the copy {tid} on {tname!r} is {observed.status}; copy again, then delete it",
                    src, target, preconditions=[src_pre, tgt_pre], create_before_destroy=True)
        ch.flags.drift = True
        return ch
    if recorded.get("source_fingerprint") == asset.fingerprint and forced(addr):
        return Change(addr, rule.name, kind, Action.REPLACE,
                      f"{REPLACE_REQUESTED}: the copy {tid} on {tname!r} is in sync with the source version "
                      f"{asset.fingerprint.split('=', 1)[-1]}; copy again, then delete the old copy",
                      src, target, preconditions=[src_pre, tgt_pre], create_before_destroy=True)
    if recorded.get("source_fingerprint") == asset.fingerprint:
        return Change(addr, rule.name, kind, Action.NO_OP,
                      f"in sync: the copy {tid} on {tname!r} was made from the source version "
                      f"{asset.fingerprint.split('=', 1)[-1]}", src, target)
    return Change(addr, rule.name, kind, Action.REPLACE,
                  f"the source model was retrained since the copy (lastUpdatedDateTime now "
                  f"{asset.fingerprint.split('=', 1)[-1]}, the copy {tid} was made from "
                  f"{recorded.get('source_fingerprint', '?').split('=', 1)[-1]}); copy again, then delete the old copy",
                  src, target, preconditions=[src_pre, tgt_pre], create_before_destroy=True)
