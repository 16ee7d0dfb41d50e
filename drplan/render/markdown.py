"""Markdown for a pull-request comment, built only from the plan's public JSON.

Banners first (destructive, security-relevant, not applyable), then one collapsible section per change, unchanged
copies folded, and the plan digest so a reviewer can pin what they approved. The result always fits GitHub's
65,536-character comment limit: long diffs are truncated, and past a budget the remaining changes collapse to one
line each, then to a count, each time with a note saying so.
"""

from __future__ import annotations

import html

from drplan.plan.model import Action, Change, Plan
from drplan.render.details import details, moved_from, orphaned_by, reviewable
from drplan.render.facts import fact_lines

COMMENT_LIMIT = 65_536
_BUDGET = COMMENT_LIMIT - 2_000  # room for the footer and the truncation notes
_DIFF_LINES = 40
_LIST_ERRORS = 20
_LIST_WARNINGS = 10
#: How the document families word a downgrade the rule refuses (drplan/families/documents.py, a plan error): only a
#: flagged change without it is "allowed by the rule" (tests/render/test_markdown_review.py builds both through the
#: family's own function, so the two cannot drift apart).
DOWNGRADE_REFUSED = "encryption downgrade refused"

VERB = {Action.CREATE: "create", Action.REPLACE: "replace", Action.DELETE: "delete", Action.UPDATE: "update",
        Action.NO_OP: "no change"}
ICON = {Action.CREATE: "+", Action.REPLACE: "-/+", Action.DELETE: "-", Action.UPDATE: "~", Action.NO_OP: "="}


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _summary(plan: Plan) -> str:
    s = plan.summary
    update = f"**{s['update']}** to update, " if s.get("update") else ""
    moves = sum(moved_from(c) is not None for c in plan.changes)
    return (f"**{s['create']}** to create, {update}**{s['replace']}** to replace, **{s['delete']}** to delete, "
            f"**{s['no-op']}** unchanged" + (f", **{moves}** to move in state" if moves else ""))


def _refused_downgrade(change: Change) -> bool:
    return any(str(e).startswith(DOWNGRADE_REFUSED) for e in change.errors)


def _banners(plan: Plan, see: str) -> list[str]:
    out: list[str] = []
    changes = plan.changes
    destructive = [c for c in changes if c.action in (Action.REPLACE, Action.DELETE)
                   or (c.flags.destructive and c.action is not Action.NO_OP)]
    flagged = [c for c in changes if c.flags.encryption_downgrade and c.action is not Action.NO_OP]
    refused = [c for c in flagged if _refused_downgrade(c)]
    downgrades = [c for c in flagged if not _refused_downgrade(c)]
    if plan.errors:
        out += ["> [!CAUTION]", f"> **Not applyable:** this plan has {len(plan.errors)} error(s); "
                "`drplan apply` will refuse it.", ">"]
        out += [f"> - {_esc(e)}" for e in plan.errors[:_LIST_ERRORS]]
        if len(plan.errors) > _LIST_ERRORS:
            out.append(f"> - … and {len(plan.errors) - _LIST_ERRORS} more error(s) not listed here; "
                       f"`{see}` lists them all")
        out.append("")
    if refused:
        n = len(refused)
        rules = ", ".join(sorted({f"`{c.rule}`" for c in refused}))
        out += ["> [!CAUTION]", f"> **Encryption downgrade refused:** {n} cop{'y' if n == 1 else 'ies'} would go from "
                "a customer-managed key to Microsoft-managed keys, and the rule does not allow it. Fix: encrypt the "
                "target with a customer-managed key, or set `allow_encryption_downgrade = true` on the rule "
                f"({rules}) and plan again.", ""]
    if destructive:
        n_rep = sum(c.action is not Action.DELETE for c in destructive)
        n_del = len(destructive) - n_rep
        out += ["> [!WARNING]", f"> **Destructive:** {n_rep} replace(s) overwrite or delete a copy before copying "
                f"again; {n_del} delete(s) remove copies.", ""]
    moved = [c for c in changes if moved_from(c)]
    if moved:
        n = len(moved)
        out += ["> [!NOTE]", f"> **Moved:** {n} state record{'' if n == 1 else 's'} move to a new address "
                "(`[[moved]]` blocks in the spec); their copies are kept, not copied again.", ""]
    kept = [c for c in changes if orphaned_by(c) and c.action is Action.NO_OP]
    if kept:
        n = len(kept)
        rules = ", ".join(sorted({f"`{orphaned_by(c)}`" for c in kept}))
        out += ["> [!WARNING]", f"> **Orphaned:** {n} state record{'' if n == 1 else 's'} of rule(s) {rules}, no "
                "longer in the spec, are kept: forget them with `drplan state rm`, delete the copies with `drplan "
                "plan --allow-delete` (a target setting several rules may share is never deleted), or add a "
                "`[[moved]]` block if the rule was renamed.", ""]
    if downgrades:
        out += ["> [!IMPORTANT]", f"> **Encryption downgrade:** {len(downgrades)} cop{'y' if len(downgrades) == 1 else 'ies'}"
                " go from a customer-managed key to Microsoft-managed keys (allowed by the rule; sent with "
                "`x-ms-forms-copy-degrade: true`).", ""]
    return out


def _diff(change: Change) -> list[str]:
    """A small diff of what changed for a replace: the version the copy was made from -> the source now."""
    lines: list[str] = [str(x) for x in change.diff]
    if not lines and change.action is Action.REPLACE and change.target.fingerprint:
        # no definition diff (DI/FR models are immutable): the version the copy was made from -> the source now
        lines = [f"- {change.target.fingerprint}", f"+ {change.source.fingerprint}"]
    if not lines:
        return []
    note = []
    if len(lines) > _DIFF_LINES:
        note = [f"_(diff truncated: {len(lines) - _DIFF_LINES} more line(s) in the plan JSON)_", ""]
        lines = lines[:_DIFF_LINES]
    return ["```diff", *lines, "```", *note]


def _section(change: Change) -> str:
    action = change.action
    src, tgt = change.source, change.target
    moved = " (moved)" if moved_from(change) and action is Action.NO_OP else ""
    body = [f"<details><summary><code>{ICON[action]}</code> <code>{_esc(change.address)}</code> — "
            f"{VERB[action]}{moved}</summary>", ""]
    if change.kind == "model-deployment":
        body.append(f"- **Target:** `{tgt.resource}` /defaults")
    elif action is not Action.DELETE:
        body.append(f"- **Source → target:** `{src.resource}/{src.id}` → `{tgt.resource}/{tgt.id}`")
    else:
        body.append(f"- **Target:** `{tgt.resource}/{tgt.id}`")
    body.append(f"- **Reason:** {_esc(change.reason)}")
    flags = [name.replace("_", " ") for name, on in change.flags.to_dict().items() if on]
    if flags:
        body.append(f"- **Flags:** {', '.join(flags)}")
    for label, text in details(change):
        body.append(f"- **{label.capitalize()}:** {_esc(text)}")
    for w in change.warnings:
        body.append(f"- ⚠️ {_esc(w)}")
    for e in change.errors:
        body.append(f"- ❌ **{_esc(e)}**")
    diff = _diff(change)
    if diff:
        body += ["", *diff]
    body += ["", "</details>", ""]
    return "\n".join(body)


def _cut_summary(cut: list[Change]) -> str:
    """What was cut, by action and problems: ``12 more change(s) (10 create, 2 replace; 1 with errors)``."""
    by: dict[str, int] = {}
    for c in cut:
        verb = VERB[c.action]
        by[verb] = by.get(verb, 0) + 1
    parts = ", ".join(f"{n} {verb}" for verb, n in by.items())
    with_errors = sum(bool(c.errors) for c in cut)
    with_warnings = sum(bool(c.warnings) for c in cut)
    extra = "".join([f"; {with_errors} with errors" if with_errors else "",
                     f"; {with_warnings} with warnings" if with_warnings else ""])
    return f"{len(cut)} more change(s) ({parts}{extra})"


def _line(change: Change) -> str:
    action = change.action
    old = moved_from(change)
    return f"- `{ICON[action]}` `{change.address}` — {VERB[action]}" + (f" (moved from `{old}`)" if old else "")


def _footer(plan: Plan, plan_file: str | None) -> list[str]:
    made = (f"Plan digest `{plan.digest}` · made {plan.created_at} by drplan {plan.drplan_version} "
            f"from `{_esc(plan.spec.path)}` (spec `{plan.spec.digest[:19]}…`) · state serial "
            f"{plan.state.serial}" + (f" · targeting `{' '.join(plan.options.target or [])}`"
                                              if plan.options.target else "")
            + (f" · replace requested (`--replace`): `{' '.join(plan.options.replace)}`"
               if plan.options.replace else ""))
    if plan_file is None:
        how = ("This plan was not saved (no `-o`): save it with `drplan plan SPEC -o plan.json` to apply exactly what "
               "was reviewed.")
    elif not plan.applyable:
        how = (f"Saved as `{_esc(plan_file)}`; `drplan apply {_esc(plan_file)}` refuses it until the errors are fixed "
               "and the plan is made again.")
    else:
        how = (f"Apply exactly this plan with `drplan apply {_esc(plan_file)} --digest {plan.digest}` after "
               "review; apply refuses it if it was edited (digest) or the state moved on.")
    return ["---", made, "", how]


def _facts(plan: Plan) -> list[str]:
    """Issue 15: each resource's facts and their provenance, folded (lines capped, so the comment stays in budget)."""
    groups = fact_lines(plan.resources)
    if not groups:
        return []
    live = sum(1 for r in plan.resources.values() if (r.get("control_plane") or {}).get("read"))
    out = [f"<details><summary>Resource facts: {live} of {len(groups)} resource(s) read live from Azure Resource "
           "Manager</summary>", ""]
    for head, items in groups:
        out.append(f"- **{_esc(head)}**")
        out.extend(f"  - {_esc(item if len(item) <= 300 else item[:297] + '...')}" for item in items)
    return out + ["", "</details>", ""]


def render_markdown(plan: Plan, *, plan_file: str | None = None) -> str:
    """The comment. ``plan_file``: where the plan is saved (named in the footer), None when it was not saved."""
    see = f"drplan show {plan_file}" if plan_file else "drplan plan SPEC -o plan.json; drplan show plan.json"
    head = [f"### drplan plan: {_summary(plan)}", ""] + _banners(plan, see)
    foot = _footer(plan, plan_file)
    for w in plan.warnings[:_LIST_WARNINGS]:
        head.append(f"- ⚠️ {_esc(w)}")
    if len(plan.warnings) > _LIST_WARNINGS:
        head.append(f"- ⚠️ … and {len(plan.warnings) - _LIST_WARNINGS} more warning(s) not listed here; `{see}` "
                    "lists them all")
    if plan.warnings:
        head.append("")
    head.extend(_facts(plan))
    budget = _BUDGET - len("\n".join(head)) - len("\n".join(foot))
    body: list[str] = []
    changes = [c for c in plan.changes if reviewable(c)]
    listed = {id(c) for c in changes}
    noops = [c for c in plan.changes if id(c) not in listed]
    if not changes and not plan.errors:
        body.append("No changes: every selected copy is in sync.\n")
    compact_from = None
    for i, c in enumerate(changes):
        section = _section(c)
        if len(section) + 1 > budget:
            compact_from = i
            break
        body.append(section)
        budget -= len(section) + 1
    if compact_from is not None:
        body.append(f"_The remaining {len(changes) - compact_from} change(s) are listed one per line to fit a "
                    f"comment (their reason, flags, warnings, errors and diff are cut); `{see}` has every detail._\n")
        for j, c in enumerate(changes[compact_from:], start=compact_from):
            line = _line(c)
            if len(line) + 400 > budget:
                body.append(f"\n_… and {_cut_summary(changes[j:])} not shown (comment size limit); `{see}` lists "
                            "them._\n")
                break
            body.append(line)
            budget -= len(line) + 1
        body.append("")
    if noops:
        listing = [f"`{c.address}`" for c in noops]
        shown: list[str] = []
        for item in listing:
            if len(item) + 2 > budget - 200:
                break
            shown.append(item)
            budget -= len(item) + 2
        more = (f" … and {len(noops) - len(shown)} more not listed (comment size limit; `{see} -v` lists them)"
                if len(shown) < len(noops) else "")
        body += [f"<details><summary>{len(noops)} unchanged cop{'y' if len(noops) == 1 else 'ies'}</summary>", "",
                 ", ".join(shown) + more, "", "</details>", ""]
    text = "\n".join(head + body + foot) + "\n"
    if len(text) > COMMENT_LIMIT:  # the budget above should prevent it; never post a comment GitHub rejects
        text = text[: COMMENT_LIMIT - 80] + "\n\n_(truncated to fit a comment; see the plan JSON)_\n"
    return text
