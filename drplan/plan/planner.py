"""The planner: desired (spec) x observed (inventories) x recorded (state) -> changes. Pure: no I/O, no httpx.

Generic: each rule's changes come from its family (``Family.plan_rule``); what is the same for every family lives
here: records no rule plans any more (prune / keep), expiry warnings (``Asset.expires``), ``--target``/``--exclude``,
``--replace`` (each family forces its own replace, asked through ``PlanContext.replace_requested``), two changes claiming one target,
the target's model quota, ``depends_on`` cycles, the summary and the plan document.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Collection
from typing import Any

from drplan import __version__
from drplan.families import FAMILIES, family_of, family_of_kind
from drplan.families.base import Inventory
from drplan.lineage import same_fingerprint
from drplan.plan.addresses import address_selected
from drplan.plan.context import PlanContext
from drplan.plan.lifecycle import add_expiry_warnings
from drplan.plan.model import (
    PLAN_FORMAT_VERSION,
    Action,
    Change,
    Plan,
    PlanOptions,
    PlanState,
    Source,
    SpecRef,
    Target,
)
from drplan.plan.moves import MOVED_FROM, ORPHANED, ORPHANED_KEY, moved_view
from drplan.spec.model import AssetKind, Rule, Spec
from drplan.state.model import State


def build_plan(
    spec: Spec,
    inventories: dict[str, Inventory],
    state: State,
    *,
    state_existed: bool,
    allow_delete: bool = False,
    created_at: str,
    targets: tuple[str, ...] = (),
    excludes: tuple[str, ...] = (),
    replace: tuple[str, ...] = (),
) -> Plan:
    """Return the plan (without its digest: see planfile.seal).

    ``targets``/``excludes`` are address globs: only matching changes enter the plan (recorded in its options, so
    apply cannot widen them). ``replace``: exact addresses whose copy is copied again even when in sync (Terraform's
    ``-replace``); each must name a change its family recopies, else it is a plan error (a typo never passes)."""
    changes: list[Change] = []
    plan_errors: list[str] = []
    plan_warnings: list[str] = []
    # [[moved]] blocks: plan against the records at their new addresses (no recopy); apply moves them (issue 17).
    view = moved_view(spec.moves, state)
    plan_errors.extend(view.errors)
    state = view.state
    replace = tuple(dict.fromkeys(replace))  # repeated --replace: once
    ctx = PlanContext(spec, inventories, state, state_existed, replace=frozenset(replace))

    retired: list[Change] = []  # records no rule plans any more (kept, deleted, or the family's own way)
    for rule in spec.rules:
        rule_changes, rule_warnings = family_of(spec.resources[rule.source]).plan_rule(ctx, rule)
        changes.extend(rule_changes)
        plan_warnings.extend(rule_warnings)
        desired = {c.address for c in rule_changes}
        retired.extend(_orphans(ctx, rule, desired, allow_delete, plan_warnings))
    retired.extend(_unclaimed(ctx, allow_delete))
    _spare_claimed(changes, retired)
    changes.extend(retired)

    for c in changes:
        if c.address in view.moved:
            old, index = view.moved[c.address]
            c.settings[MOVED_FROM] = old
            c.reason = f"moved from {old} (moved[{index}] in the spec); {c.reason}"

    for c in changes:
        entry = state.journal.get(c.address)
        if entry is not None:  # a crash or failure left this address half-way: say what apply will do about it
            _resolve_unfinished(c, entry)

    if targets or excludes:
        changes = _targeted(changes, targets, excludes, plan_warnings)
    _claim_errors(changes, skip={c.address for c in retired if c.action is Action.NO_OP})
    if replace:
        plan_errors.extend(_replace_errors(changes, replace, ctx.replaced, targeted=bool(targets or excludes)))
    plan_errors.extend(_quota_errors(changes, inventories))
    for addr in _cycle(changes):
        next(c for c in changes if c.address == addr).errors.append(
            "depends on itself through other changes (analyzers that reference each other in a cycle); drplan "
            "cannot order these copies")

    changes.sort(key=lambda c: c.address)
    add_expiry_warnings(spec, changes, inventories, created_at)
    for c in changes:
        plan_errors.extend(f"{c.address}: {e}" for e in c.errors)

    summary = Counter(c.action.value for c in changes)
    used = sorted({c.source.resource for c in changes} | {c.target.resource for c in changes}
                  | {r.source for r in spec.rules} | {t for r in spec.rules for t in r.targets})
    return Plan(
        format_version=PLAN_FORMAT_VERSION,
        drplan_version=__version__,
        created_at=created_at,
        spec=SpecRef(str(spec.path), spec.digest),
        state=PlanState(state.lineage if state_existed else None, state.serial if state_existed else 0,
                        {"backend": spec.state.backend, "path": str(spec.state.path)},
                        ctx.recover_lineage or None),
        options=PlanOptions(allow_delete, spec.parallelism, spec.per_endpoint_parallelism, list(targets),
                            list(excludes), list(replace) if replace else None),
        resources={name: spec.resources[name].public() for name in used if name in spec.resources},
        changes=changes,
        summary={a.value: summary.get(a.value, 0) for a in Action},
        warnings=plan_warnings,
        errors=plan_errors,
        applyable=not plan_errors,
    )


def _resolve_unfinished(c: Change, entry: dict[str, Any]) -> None:
    """The journal holds an unfinished step for this address (an apply was killed or failed half-way). The family
    planned the change from what the target shows now; this says what apply does about the journal, and makes sure
    such a change is never "no changes" (issue 19):

    * record it: the copy is on the target (found by its lineage): apply records it and closes the journal entry;
    * finish it: the target already shows the planned copy (ready, or still being created by the interrupted
      apply): apply looks at the journaled operation and the target, waits for a copy still running, verifies it
      and records it (``settings.unfinished``: the executor runs the family's resume for this no-op);
    * finish it or copy again: the change itself (create / replace / update) resumes from the journal: the family
      looks at the journaled operation and the target first, and copies again only when nothing was started.
    A change with errors is not applyable anyway: the warning says what was left."""
    stopped = f"an earlier apply stopped at step {entry.get('step')!r} ({entry.get('updated', '?')})"
    if c.errors:
        c.warnings.append(f"{stopped}; fix the errors and plan again to finish it")
        return
    if c.action is Action.NO_OP:
        c.settings["unfinished"] = {"step": entry.get("step"), "updated": entry.get("updated")}
    if c.action is Action.NO_OP and c.settings.get("refresh_record"):
        how = "record it", "the copy is on the target; apply records it and closes the journal entry"
    elif c.action is Action.NO_OP:
        how = "finish it", ("the target already shows the planned copy; apply checks the interrupted operation and "
                            "the target, waits for the copy if it is still being made, and records it")
    else:
        how = "finish it or copy again", ("apply looks at the journaled operation and the target first, waits for "
                                          "a copy still running, and starts again only what was never started")
    c.warnings.append(f"{stopped}; {how[0]}: {how[1]}")
    c.reason += f" [unfinished apply: {how[0]}]"


def _orphans(ctx: PlanContext, rule: Rule, desired: set[str], allow_delete: bool,
             plan_warnings: list[str]) -> list[Change]:
    """Copies this rule made earlier whose source is gone or no longer selected: kept (with a warning), deleted
    (prune + --allow-delete), or handled by their family."""
    changes: list[Change] = []
    for addr, rec in sorted(ctx.state.resources.items()):
        if rec["rule"] != rule.name or addr in desired:
            continue
        why = f"the source {rec['source_resource']}/{rec['source_id']} is gone or no longer selected by the rule"
        hint = ("run plan with --allow-delete to delete it" if rule.prune
                else "set prune = true on the rule and plan with --allow-delete to delete it")
        change = _retire(ctx, rule, addr, rec, why=why, delete=rule.prune and allow_delete, hint=hint,
                         label="prune", warning="orphaned copy")
        if change is not None:
            changes.append(change)
    return changes


def _unclaimed(ctx: PlanContext, allow_delete: bool) -> list[Change]:
    """State records whose rule is no longer in the spec (removed, and no ``[[moved]]`` block took its records):
    shown as orphaned changes, never hidden behind "in sync" (issue 17). Kept (with how to forget or delete them),
    or, with --allow-delete, deleted on the target and forgotten; a record whose target resource left the spec too
    cannot be deleted (drplan has no endpoint or key for it) and says so."""
    rule_names = {r.name for r in ctx.spec.rules}
    changes: list[Change] = []
    for addr, rec in sorted(ctx.state.resources.items()):
        if rec["rule"] in rule_names:
            continue
        rest = "/".join(addr.split("/")[1:])
        # The renderers find these changes by settings.orphaned (the removed rule), never by this wording.
        why = f"{ORPHANED} {rec['rule']!r}, which is no longer in the spec"
        hint = (f"forget it with drplan state rm {addr} (the copy stays), or delete the copy with plan --allow-delete; "
                f"renamed the rule? add [[moved]] from = {rec['rule']!r} to = \"<new-rule>\" to the spec (or run "
                f"drplan state mv {addr} <new-rule>/{rest}) to keep the copy")
        gone = Rule(name=rec["rule"], source=rec["source_resource"], targets=(rec["target_resource"],))
        change = _retire(ctx, gone, addr, rec, why=why, delete=allow_delete, hint=hint)
        if change is not None:
            change.settings[ORPHANED_KEY] = rec["rule"]
            changes.append(change)
    return changes


def _retire(ctx: PlanContext, rule: Rule, addr: str, rec: dict[str, Any], *, why: str, delete: bool, hint: str,
            label: str | None = None, warning: str | None = None) -> Change | None:
    """The change of a record no rule plans any more: its family's own (a CU /defaults key is never removed), a
    delete (the copy on the target, then the record; the target must be as the plan saw it), or kept. A record whose
    target resource is no longer in the spec is kept: drplan has no endpoint or key to reach it."""
    spec, inventories = ctx.spec, ctx.inventories
    tname = rec["target_resource"]
    kind = AssetKind(rec["kind"])
    source = Source(rec["source_resource"], rec["source_id"], rec["source_fingerprint"])
    def warned(text: str) -> list[str]:
        return [f"{warning}: {text}" if warning else text]

    if tname in spec.resources and family_of(spec.resources[tname]) is not family_of_kind(kind):
        note = (f"{why}; the spec's resource {tname!r} is now of another family ({spec.resources[tname].family.value}),"
                f" so drplan cannot reach the {kind.value} {rec['target_id']!r} there: forget it with drplan state rm "
                f"{addr}")
        return Change(addr, rule.name, kind, Action.NO_OP, f"kept: {note}", source,
                      Target(tname, rec["target_id"], False, None), warnings=warned(note))
    if tname not in spec.resources or tname not in inventories:
        note = (f"{why}; its target resource {tname!r} is no longer in the spec either, so drplan has no endpoint or "
                f"key to delete the copy {rec['target_id']!r}: forget it with drplan state rm {addr} (the copy stays), "
                f"or put {tname!r} back in the spec to delete it with --allow-delete")
        return Change(addr, rule.name, kind, Action.NO_OP, f"kept: {note}", source,
                      Target(tname, rec["target_id"], False, None), warnings=warned(note))
    observed = inventories[tname].get(kind, rec["target_id"])
    target = Target(tname, rec["target_id"], observed is not None, observed.fingerprint if observed else None)
    own = family_of_kind(kind).orphan(ctx, rule, addr, rec, target)
    if own is not None:  # the family keeps some records its own way (a CU /defaults key is never removed)
        return own
    recorded = rec.get("target_fingerprint")
    if delete and observed is not None and recorded and not same_fingerprint(str(recorded), observed.fingerprint):
        # The asset at that id is not the copy drplan recorded (rebuilt, replaced or edited out of band since): it may
        # be someone else's work now, and drplan deletes only what it made.
        note = (f"{why}; but {tname}/{rec['target_id']} changed on the target since drplan recorded the copy "
                f"(recorded {recorded}, now {observed.fingerprint}), so drplan does not delete it: delete it by hand "
                f"if it is no longer needed, and forget the record with drplan state rm {addr}")
        return Change(addr, rule.name, kind, Action.NO_OP, f"kept: {note}", source, target, warnings=warned(note))
    if delete:
        pre = [{"type": "target_fingerprint", "fingerprint": observed.fingerprint}] if observed else [
            {"type": "target_absent"}]
        return Change(addr, rule.name, kind, Action.DELETE,
                      (f"{label}: {why}" if label else why) + ("" if observed else
                                           "; the target copy is already gone, only the state record is removed"),
                      source, target, preconditions=pre)
    return Change(addr, rule.name, kind, Action.NO_OP, f"kept: {why}; {hint}", source, target,
                  warnings=warned(f"{why}; {hint}"))


def _spare_claimed(planned: list[Change], retired: list[Change]) -> None:
    """A record no rule plans whose copy a planned change now claims (a rule renamed without a [[moved]] block, its
    copy found again by lineage under the new address): never delete that copy; keep the stale record, and say how
    to forget it."""
    claimed = {(c.target.resource, c.kind, c.target.id): c.address for c in planned
               if c.action is not Action.DELETE and c.target.id}
    for c in retired:
        other = claimed.get((c.target.resource, c.kind, c.target.id))
        if other is None or c.action not in (Action.DELETE, Action.NO_OP):
            continue
        note = (f"its copy {c.target.resource}/{c.target.id} is now planned by {other}, so this record is a stale "
                f"duplicate: forget it with drplan state rm {c.address} (the copy stays); a [[moved]] block moves "
                "such records instead")
        if c.action is Action.DELETE:
            c.action, c.preconditions = Action.NO_OP, []
            c.reason = f"kept, not deleted: {note}"
        else:
            c.reason = f"{c.reason}; {note}"
        c.warnings.append(note)


def _targeted(changes: list[Change], targets: tuple[str, ...], excludes: tuple[str, ...],
              plan_warnings: list[str]) -> list[Change]:
    by_addr = {c.address: c for c in changes}
    keep = {c.address for c in changes if address_selected(c.address, targets, excludes)}
    # Like Terraform, a targeted change brings what it depends on (a CU analyzer its /defaults keys and the
    # analyzers it references), so the plan is applyable on its own.
    todo = list(keep)
    while todo:
        for dep in by_addr[todo.pop()].depends_on:
            if dep in by_addr and dep not in keep:
                keep.add(dep)
                todo.append(dep)
    kept = [c for c in changes if c.address in keep]
    left_out = len(changes) - len(kept)
    plan_warnings.append(
        f"targeting is in effect (--target {' '.join(targets) or '*'}"
        + (f", --exclude {' '.join(excludes)}" if excludes else "")
        + f"): {left_out} address(es) left out of this plan; the plan may not show everything the spec implies"
    )
    return kept


def _replace_errors(changes: list[Change], replace: tuple[str, ...], replaced: Collection[str], *,
                    targeted: bool) -> list[str]:
    """``--replace`` addresses the families did not recopy. An address with no change in the plan is a plan error
    naming it (a typo must not pass silently); a change that copies anyway (a create, a replace for its own reason)
    needs nothing more; a change with errors keeps them (a forced replace never overrides a refusal); any other (a
    deletion, a kept record, a /defaults key, a copy drplan did not make) cannot be recopied: an error on it."""
    by_addr = {c.address: c for c in changes}
    errors: list[str] = []
    for addr in replace:
        c = by_addr.get(addr)
        if c is None:
            errors.append(
                f"--replace {addr}: no change in this plan has this address"
                + (" (or --target/--exclude left it out)" if targeted else "")
                + "; addresses are <rule>/<target>/<kind>/<id>, as drplan plan -v or drplan state list shows them")
        elif addr in replaced or c.errors or c.action is Action.REPLACE:
            continue
        elif c.action is Action.CREATE:
            c.warnings.append("--replace: the target has no copy to replace; this create copies it anyway")
        else:
            c.errors.append(f"--replace {addr}: drplan cannot copy this {c.kind.value} again (planned: "
                            f"{c.action.value}, {c.reason}); drop --replace {addr}")
    return errors


def _claim_errors(changes: list[Change], skip: Collection[str] = ()) -> None:
    """Two changes must never produce the same target asset (the errors go on the changes). ``skip``: kept records
    no rule plans, which produce nothing."""
    claims: dict[tuple[str, AssetKind, str], list[str]] = defaultdict(list)
    for c in changes:
        if c.action is not Action.DELETE and c.target.id and c.address not in skip:
            claims[(c.target.resource, c.kind, c.target.id)].append(c.address)
    for (tname, kind, tid), addrs in claims.items():
        if kind in family_of_kind(kind).shared_kinds:
            # Several rules may set one shared target setting (a CU /defaults key) as long as they agree.
            wanted = {json.dumps({k: v for k, v in c.settings.items() if k != MOVED_FROM}, sort_keys=True)
                      for c in changes if c.address in addrs}
            if len(wanted) > 1:
                for c in changes:
                    if c.address in addrs:
                        c.errors.append(f"{tname!r} {kind.value} {tid!r} is set to different values by several rules "
                                        f"({', '.join(addrs)}); make the rules' settings agree")
            continue
        if len(addrs) > 1:
            for c in changes:
                if c.address in addrs:
                    c.errors.append(f"{tname}/{kind.value}/{tid} is claimed by several changes ({', '.join(addrs)}); use rename")


def _quota_errors(changes: list[Change], inventories: dict[str, Inventory]) -> list[str]:
    """Target model quota (GET /info, v2: op=summary): creates add a model; a replace deletes first, except a
    create-before-destroy replace (v2), which needs a free slot while it runs."""
    plan_errors: list[str] = []
    counted = {k for f in FAMILIES.values() for k in f.quota_kinds}
    creates = Counter(c.target.resource for c in changes if c.kind in counted and (
        c.action is Action.CREATE or (c.action is Action.REPLACE and c.create_before_destroy)))
    deletes = Counter(c.target.resource for c in changes
                      if c.action is Action.DELETE and c.kind in counted and c.target.exists)
    for tname, n in sorted(creates.items()):
        inv = inventories[tname]
        if inv.model_limit is None or inv.model_count is None:
            continue
        free = inv.model_limit - inv.model_count + deletes.get(tname, 0)
        if n > free:
            plan_errors.append(
                f"target {tname!r}: {n} new model(s) planned but only {max(free, 0)} of its {inv.model_limit} custom "
                f"model slots are free ({inv.model_count} in use); raise the limit, delete models, or narrow the rules"
            )
    return plan_errors


def _cycle(changes: list[Change]) -> list[str]:
    """Addresses on a depends_on cycle (empty when the changes can be ordered)."""
    deps = {c.address: [d for d in c.depends_on] for c in changes}
    state: dict[str, int] = {}
    on_cycle: list[str] = []

    def visit(addr: str, stack: list[str]) -> None:
        state[addr] = 1
        for d in deps.get(addr, []):
            if state.get(d) == 1:
                on_cycle.extend(stack[stack.index(d):] if d in stack else [d])
            elif d in deps and d not in state:
                visit(d, stack + [d])
        state[addr] = 2

    for addr in sorted(deps):
        if addr not in state:
            visit(addr, [addr])
    return sorted(set(on_cycle))
