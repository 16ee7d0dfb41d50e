"""Plain-text rendering of a plan for terminals and CI logs, built only from the plan's public JSON."""

from __future__ import annotations

from drplan.plan.model import Action, Plan
from drplan.render.counts import copies_phrase
from drplan.render.details import details, moved_from, orphaned_by, reviewable
from drplan.render.facts import fact_summaries

SYMBOL = {Action.CREATE: "+", Action.REPLACE: "-/+", Action.DELETE: "-", Action.UPDATE: "~", Action.NO_OP: " "}
VERB = {Action.CREATE: "create", Action.REPLACE: "replace", Action.DELETE: "delete", Action.UPDATE: "update",
        Action.NO_OP: "no change"}


def summary_line(plan: Plan) -> str:
    s = plan.summary
    update = f"{s['update']} to update, " if s.get("update") else ""
    moves = sum(moved_from(c) is not None for c in plan.changes)
    move = f", {moves} to move in state" if moves else ""
    counts = (f"{s['create']} to create, {update}{s['replace']} to replace, {s['delete']} to delete, "
              f"{s['no-op']} unchanged{move}")
    # never "in sync" alone while the state holds records no rule claims (issue 17)
    orphaned = sum(orphaned_by(c) is not None and c.action is Action.NO_OP for c in plan.changes)
    kept = (f" {orphaned} state record{'' if orphaned == 1 else 's'} no rule claims (orphaned: kept; see the "
            "warnings)." if orphaned else "")
    if plan.errors:  # never "No changes ... in sync" next to errors (issue 13)
        n = len(plan.errors)
        return f"The plan has {n} error{'' if n == 1 else 's'} and cannot be applied ({counts})."
    if not (s["create"] or s["replace"] or s["delete"] or s.get("update") or moves):
        records = sum(bool(c.settings.get("refresh_record")) for c in plan.changes)
        tail = f" apply will update {records} state record{'' if records == 1 else 's'}." if records else ""
        in_sync = copies_phrase(c for c in plan.changes  # copies as drill counts them; a kept orphan is none
                                if c.action is Action.NO_OP and orphaned_by(c) is None)
        return f"No changes. {in_sync} in sync.{tail}{kept}"
    return f"Plan: {counts}.{kept}"


def render_plan(plan: Plan, *, verbose: bool = False) -> str:
    lines: list[str] = []
    changes = plan.changes
    shown = [c for c in changes if verbose or reviewable(c)]
    for c in shown:
        action = c.action
        moved = " (moved)" if moved_from(c) and action is Action.NO_OP else ""
        lines.append(f"  {SYMBOL[action]:>3} {c.address}  ({VERB[action]}{moved})")
        src, tgt = c.source, c.target
        if c.kind == "model-deployment":
            lines.append(f"        {tgt.resource} /defaults")
        elif action is not Action.DELETE:
            lines.append(f"        {src.resource}/{src.id} -> {tgt.resource}/{tgt.id}")
        else:
            lines.append(f"        {tgt.resource}/{tgt.id}" + ("" if tgt.exists else " (already gone on the target)"))
        lines.append(f"        reason: {c.reason}")
        for label, text in details(c):
            lines.append(f"        {label}: {text}")
        if c.diff:
            lines.append("        changes:")
            lines.extend(f"          {d}" for d in c.diff)
        if c.flags.encryption_downgrade:
            lines.append("        flag: ENCRYPTION DOWNGRADE (customer-managed key -> Microsoft-managed key)")
        if c.flags.destructive:
            lines.append("        flag: DESTRUCTIVE (overwrites the target's data)")
        if c.flags.drift:
            lines.append("        flag: drift (the target changed out of band)")
        for w in c.warnings:
            lines.append(f"        warning: {w}")
        for e in c.errors:
            lines.append(f"        ERROR: {e}")
    hidden = len(changes) - len(shown)
    if hidden:
        seen = {id(c) for c in shown}
        lines.append(f"  ({copies_phrase((c for c in changes if id(c) not in seen), 'unchanged')} not shown; "
                     "use --verbose)")
    out = []
    if lines:
        s = plan.summary
        busy = s["create"] + s["replace"] + s["delete"] + s.get("update", 0) + sum(bool(moved_from(c)) for c in changes)
        out.append("drplan will perform the following changes:\n" if busy else "")
        out.extend(lines)
        out.append("")
    facts = fact_summaries(plan.resources)
    if facts:  # issue 15: what was read live, what was taken from the spec
        out.append("Resource facts (live: read from Azure Resource Manager; spec/default: unverified):")
        out.extend(f"  {line}" for line in facts)
        out.append("")
    if plan.options.replace:  # issue 17: what the reviewer asked to copy again, whatever the changes say
        out.append(f"Replace requested (--replace): {', '.join(plan.options.replace)}")
    for w in plan.warnings:
        out.append(f"Warning: {w}")
    if plan.errors:
        out.append("The plan has errors and cannot be applied:")
        out.extend(f"  - {e}" for e in plan.errors)
    out.append(summary_line(plan))
    return "\n".join(x for x in out if x is not None).strip("\n") + "\n"
