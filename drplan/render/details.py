"""What a change says beyond source/target/reason, as (label, text) pairs: shared by the human and Markdown
renderers so the two show reviewers the same facts (CU deployments, Language steps, dependencies, diffs)."""

from __future__ import annotations

from drplan.plan.model import Change
from drplan.plan.moves import MOVED_FROM, ORPHANED_KEY

_VIA = {
    "override": "override in the rule",
    "target-defaults": "the target's /defaults",
    "planned-default": "the target's /defaults, as this plan sets it",
    "missing": "NO DEPLOYMENT",
}


def deployment_lines(change: Change) -> list[str]:
    """One line per model role: which deployment the copy will use on the target, and why."""
    out = []
    for role, d in sorted(change.deployments.items()):
        text = f"{role}: model {d['model']} -> deployment {d['deployment'] or '(none)'} ({_VIA[d['via']]})"
        if d.get("target_model") and d["target_model"] != d["model"]:
            text += f"; that deployment serves {d['target_model']}"
        out.append(text)
    return out


def moved_from(change: Change) -> str | None:
    """The address a ``[[moved]]`` block takes this change's state record from (None: not moved)."""
    old = change.settings.get(MOVED_FROM)
    return str(old) if old else None


def orphaned_by(change: Change) -> str | None:
    """The removed rule whose state record this change is about (None: a rule of the spec claims it)."""
    rule = change.settings.get(ORPHANED_KEY)
    return str(rule) if rule else None


def reviewable(change: Change) -> bool:
    """Shown to reviewers even without --verbose: not in sync, or with errors or warnings, or moved in state."""
    return (change.action.value != "no-op" or bool(change.errors) or bool(change.warnings)
            or moved_from(change) is not None)


def details(change: Change) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    old = moved_from(change)
    if old:
        out.append(("moved", f"from {old} (apply moves the state record; the copy itself is untouched)"))
    if orphaned_by(change):
        out.append(("orphaned", f"rule {orphaned_by(change)!r} is no longer in the spec and no [[moved]] block "
                                "takes its records"))
    if change.steps:
        out.append(("steps", " -> ".join(change.steps)))
    for line in deployment_lines(change):
        out.append(("deployment", line))
    settings = change.settings
    if change.kind == "model-deployment" and "model" in settings:  # a kept orphan's settings name only its rule
        before = settings.get("previous")
        out.append(("sets", f"/defaults {settings['model']!r}: {before or '(unset)'} -> {settings['deployment']}"
                    " (resource-wide: every analyzer on the target that uses this model)"))
    elif settings.get("model_label"):
        text = f"train model {settings['model_label']!r} (training config {settings['training_config_version']})"
        if settings.get("deployment"):
            text += f", deploy it as {settings['deployment']!r}"
        out.append(("train", text))
    if change.depends_on:
        out.append(("after", ", ".join(change.depends_on)))
    return out
