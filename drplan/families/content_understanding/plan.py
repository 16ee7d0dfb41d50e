"""Planning Content Understanding analyzers (contracts §5): which analyzers to copy, which deployment each model role
will use on each target and why, the /defaults keys the GA flow needs set first, and the copy order.

Pure: inventories in, changes out. How the target resolves a model (§5.3): an analyzer's ``models`` maps a role
(completion, embedding) to a model name; the target resource maps model names to its deployments in ``/defaults``.
The GA copy body cannot carry a deployment, so an override in the rule becomes a planned ``/defaults`` change on the
target (its own reviewable change, applied first); the token flow carries overrides in the copy body (§5.4).
What a deployment serves is not visible through the CU API: drplan reads the target's real deployments from Resource
Manager (issue 15, ``Inventory.live``); without control-plane access it infers it from the target's ``/defaults`` (a
deployment registered there for model M serves M) and says the check is unverified.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drplan.controlplane import Deployment
from drplan.families.base import Asset, Inventory
from drplan.plan.addresses import address, matches
from drplan.plan.context import REPLACE_REQUESTED
from drplan.plan.diffs import diff_lines
from drplan.plan.model import Action, Change, Source, Target
from drplan.spec.model import AssetKind, Rule, Spec
from drplan.state.model import State

ANALYZER = AssetKind.ANALYZER
DEFAULT = AssetKind.MODEL_DEPLOYMENT


def selected(rule: Rule, asset_id: str) -> bool:
    return matches([asset_id], rule.analyzers, rule.exclude)


def _source_block(rule: Rule, asset: Asset) -> Source:
    # The definition itself stays out of the plan (it would be repeated per target); reviewers see its digest, the
    # models in ``deployments`` and, for a replace, the diff.
    return Source(rule.source, asset.id, asset.fingerprint, asset.created, asset.description,
                  dict(sorted(asset.tags.items())))


def plan_analyzers(spec: Spec, rule: Rule, inventories: dict[str, Inventory], state: State, *,
                   forced: Callable[[str], bool] = lambda addr: False) -> tuple[list[Change], list[str]]:
    """Every change one CU rule implies: analyzer copies and the /defaults keys they need (GA flow). ``forced(addr)``:
    plan --replace names this address (PlanContext.replace_requested); asked only where drplan's own copy is in
    sync or would only be PATCHed, which then takes the replace path a changed source takes (allowReplace)."""
    src_inv = inventories[rule.source]
    flow = spec.resources[rule.source].copy_flow or "grant"
    sources = sorted((a for a in src_inv.assets.values() if a.kind is ANALYZER and selected(rule, a.id)),
                     key=lambda a: a.id)
    warnings: list[str] = []
    if not sources:
        warnings.append(f"rule {rule.name!r}: no analyzer on {rule.source!r} matches the rule's selection")
    changes: list[Change] = []
    selected_ids = {a.id for a in sources}
    for tname in rule.targets:
        tgt_inv = inventories[tname]
        overrides = rule.deployments.get(tname, {})
        defaults = dict(tgt_inv.defaults or {})
        # GA flow: an override for a role becomes /defaults[model] = deployment on the target, for every model an
        # analyzer copied here uses in that role.
        planned: dict[str, str] = {}
        if flow == "grant":
            for asset in sources:
                for role, model in sorted(asset.detail.get("definition", {}).get("models", {}).items()):
                    if role in overrides:
                        planned.setdefault(model, overrides[role])
        live = _live_deployments(tgt_inv)
        default_changes = {model: _default_change(rule, tname, model, dep, defaults, state, live)
                           for model, dep in sorted(planned.items())}
        changes.extend(default_changes.values())
        for asset in sources:
            changes.append(_analyzer_change(spec, rule, asset, tname, tgt_inv, state, flow, overrides, planned,
                                            default_changes, selected_ids, forced))
    return changes, warnings


#: What a PATCH can change on an analyzer (contracts §5.2: everything else is create-only).
MUTABLE_KEYS = ("description", "tags")


def mutable_patch(current: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any] | None:
    """The merge-patch body that turns ``current`` into ``wanted`` (normalised definitions), or None when they
    differ in a create-only field too (or not at all). Tags are patched key by key (a removed tag is ``None``,
    JSON merge-patch); an absent description is sent as the empty string (the definition treats both alike)."""
    rest_now = {k: v for k, v in current.items() if k not in MUTABLE_KEYS}
    rest_wanted = {k: v for k, v in wanted.items() if k not in MUTABLE_KEYS}
    if rest_now != rest_wanted:
        return None
    patch: dict[str, Any] = {}
    if current.get("description", "") != wanted.get("description", ""):
        patch["description"] = wanted.get("description", "")
    tags_now, tags_wanted = current.get("tags") or {}, wanted.get("tags") or {}
    if tags_now != tags_wanted:
        patch["tags"] = {**{k: None for k in sorted(tags_now) if k not in tags_wanted},
                         **{k: v for k, v in sorted(tags_wanted.items()) if tags_now.get(k) != v}}
    return patch or None


def _live_deployments(inv: Inventory) -> dict[str, Deployment] | None:
    """The account's deployments as Resource Manager lists them (name -> deployment); None: not read."""
    if inv.live is None or inv.live.deployments is None:
        return None
    return {d.name: d for d in inv.live.deployments}


def _listing(live: dict[str, Deployment]) -> str:
    return ", ".join(f"{d.name} ({d.model})" for d in live.values()) or "none"


def _default_change(rule: Rule, tname: str, model: str, deployment: str, defaults: dict[str, str],
                    state: State, live: dict[str, Deployment] | None) -> Change:
    addr = address(rule.name, tname, DEFAULT, model)
    current = defaults.get(model)
    target = Target(tname, model, current is not None, f"deployment={current}" if current else None)
    source = Source(rule.source, model, f"deployment={deployment}")
    settings = {"model": model, "deployment": deployment, "previous": current}
    if current == deployment:
        return Change(addr, rule.name, DEFAULT, Action.NO_OP,
                      f"{tname!r} /defaults already maps {model} to {deployment}", source, target, settings=settings,
                      steps=[])
    pre = [{"type": "target_defaults", "resource": tname, "models": {model: current}}]
    warnings = []
    if current is not None:
        warnings.append(f"changes the resource-wide default of {tname!r} for {model} from {current} to {deployment}: "
                        "every analyzer there that uses this model switches deployment")
    reason = (f"the rule maps this model's role to deployment {deployment} on {tname!r}; the GA copy resolves "
              f"models through the target's /defaults, so set {model} -> {deployment} there first")
    errors = []
    if live is not None and deployment not in live:
        # Planned only with deployments that exist: /defaults would otherwise point the model at nothing.
        errors.append(f"deployment {deployment!r} does not exist on {tname!r} (Resource Manager lists: "
                      f"{_listing(live)}); the /defaults change would map model {model} to it: create a deployment "
                      f"of {model} named {deployment} on {tname!r}, or set the rule's deployments.{tname} override to "
                      "an existing one")
    ch = Change(addr, rule.name, DEFAULT, Action.UPDATE, reason, source, target, preconditions=pre,
                warnings=warnings, errors=errors, settings=settings, steps=["set-default"])
    ch.flags.deployment_overrides = True
    if addr in state.resources and state.resources[addr].get("value") not in (None, current):
        ch.flags.drift = True
    return ch


def _resolve(role: str, model: str, *, flow: str, overrides: dict[str, str], planned: dict[str, str],
             defaults: dict[str, str], live: dict[str, Deployment] | None) -> dict[str, Any]:
    """Which deployment the target will use for ``model`` in ``role``, why, and which model it serves there: read
    live from Resource Manager (``exists`` says whether it is there at all), else inferred from /defaults."""
    found = _pick(role, model, flow=flow, overrides=overrides, planned=planned, defaults=defaults)
    if live is not None and found["deployment"] is not None:
        dep = live.get(found["deployment"])
        found.update(target_model=dep.model if dep else None, exists=dep is not None, checked="live",
                     **({"target_version": dep.version} if dep and dep.version else {}))
    return found  # no "checked": inferred from /defaults (the plan warns the control plane was not read)


def _pick(role: str, model: str, *, flow: str, overrides: dict[str, str], planned: dict[str, str],
          defaults: dict[str, str]) -> dict[str, Any]:
    serves: dict[str, str] = {}
    for m, d in defaults.items():
        serves.setdefault(d, m)
    if role in overrides and flow == "token":
        dep = overrides[role]
        return {"model": model, "deployment": dep, "via": "override", "target_model": serves.get(dep)}
    if model in planned:
        dep = planned[model]
        return {"model": model, "deployment": dep, "via": "planned-default", "target_model": serves.get(dep)}
    current = defaults.get(model)
    if current is None:
        return {"model": model, "deployment": None, "via": "missing", "target_model": None}
    return {"model": model, "deployment": current, "via": "target-defaults", "target_model": model}


def _analyzer_change(spec: Spec, rule: Rule, asset: Asset, tname: str, tgt_inv: Inventory, state: State, flow: str,
                     overrides: dict[str, str], planned: dict[str, str], default_changes: dict[str, Change],
                     selected_ids: set[str], forced: Callable[[str], bool]) -> Change:
    target_id = rule.rename.get(asset.id, asset.id)
    addr = address(rule.name, tname, ANALYZER, target_id)
    observed = tgt_inv.get(ANALYZER, target_id)
    recorded = state.resources.get(addr)
    ours = recorded is not None and recorded.get("target_id") == target_id
    defn = asset.detail.get("definition", {})
    target = Target(tname, target_id, observed is not None, observed.fingerprint if observed else None)
    defaults = dict(tgt_inv.defaults or {})
    live = _live_deployments(tgt_inv)
    deployments = {role: _resolve(role, model, flow=flow, overrides=overrides, planned=planned, defaults=defaults,
                                  live=live)
                   for role, model in sorted(defn.get("models", {}).items())}
    errors: list[str] = []
    warnings: list[str] = []
    depends: list[str] = []
    for role, d in deployments.items():
        if d["via"] == "missing":
            same = sorted(n for n, dep in (live or {}).items() if dep.model == d["model"])
            hint = (f"Resource Manager lists deployment(s) of {d['model']} there: {', '.join(same)}; set "
                    f"deployments.{tname}.{role} = \"{same[0]}\" on the rule, or add {d['model']} -> {same[0]} to "
                    "the target's /defaults" if same else
                    f"deploy the model on {tname!r} and add it to the target's /defaults, or set "
                    f"deployments.{tname}.{role} = \"<deployment>\" on the rule")
            errors.append(
                f"{tname!r} lacks a deployment for model {d['model']} (role {role}): its /defaults has no entry for "
                f"it and rule {rule.name!r} sets no override; {hint}"
            )
            continue
        if d.get("exists") is False:
            errors.append(
                f"{tname!r} has no deployment {d['deployment']!r}, which the {role} role (model {d['model']}) "
                f"would use (Resource Manager lists: {_listing(live or {})}); create a deployment of {d['model']} "
                f"named {d['deployment']} on {tname!r}, or point the role at an existing deployment of it"
            )
            continue
        if d["via"] == "planned-default":
            depends.append(default_changes[d["model"]].address)
        if d["target_model"] is None and live is None:
            warnings.append(f"deployment {d['deployment']} ({role}) is not registered in the /defaults of {tname!r}, "
                            f"so drplan cannot see which model it serves; the service checks it against {d['model']} "
                            "when the copy runs")
        elif d["target_model"] != d["model"]:
            if role == "embedding":
                errors.append(
                    f"embedding model mismatch: the analyzer uses {d['model']}, but deployment {d['deployment']} on "
                    f"{tname!r} serves {d['target_model']}; the service refuses a copy with a different embedding "
                    "model (HTTP 400): point the embedding role at a deployment of the same model"
                )
            else:
                warnings.append(
                    f"chat completion model differs: the analyzer uses {d['model']}, deployment {d['deployment']} on "
                    f"{tname!r} serves {d['target_model']}; the copy succeeds with a service warning, and results "
                    "may differ from the source's"
                )
    for ref in asset.detail.get("references", []):
        if ref in rule.rename:
            errors.append(f"references analyzer {ref!r}, which rule {rule.name!r} renames on the target; the copied "
                          "definition would still name the old id: do not rename referenced analyzers")
        elif ref in selected_ids:
            depends.append(address(rule.name, tname, ANALYZER, ref))
        elif tgt_inv.get(ANALYZER, ref) is None:
            errors.append(f"references custom analyzer {ref!r}, which rule {rule.name!r} does not copy and "
                          f"{tname!r} does not have; add {ref!r} to the rule's analyzers")
    overridden = any(d["via"] in ("override", "planned-default") for d in deployments.values())

    src_pre = {"type": "source_fingerprint", "resource": rule.source, "id": asset.id, "fingerprint": asset.fingerprint}
    needed = {d["model"]: d["deployment"] for d in deployments.values() if d["via"] == "target-defaults"}
    pre = [src_pre] + ([{"type": "target_defaults", "resource": tname, "models": needed}] if needed else [])
    label = f"{rule.source}/{asset.id}"

    def change(action: Action, reason: str, extra_pre: list[dict[str, Any]] | None = None, *,
               diff: list[str] | None = None) -> Change:
        ch = Change(addr, rule.name, ANALYZER, action, reason, _source_block(rule, asset), target,
                    warnings=warnings if action is not Action.NO_OP else [],
                    errors=errors if action is not Action.NO_OP else [],
                    preconditions=pre + (extra_pre or []) if action is not Action.NO_OP else [],
                    depends_on=sorted(set(depends)) if action is not Action.NO_OP else [],
                    steps=["grant" if flow == "grant" else "authorize", "copy"] if action is not Action.NO_OP else [],
                    deployments=deployments, diff=diff or [])
        ch.flags.deployment_overrides = overridden
        if flow == "token" and action is not Action.NO_OP and rule.encryption_key_env:
            ch.settings = {"encryption_key_env": rule.encryption_key_env,
                           "decryption_key_env": rule.decryption_key_env or rule.encryption_key_env}
        return ch

    if observed is None:
        if recorded is not None:
            ch = change(Action.CREATE, f"drift: the copy recorded in state (made {recorded['copied_at']}) is missing "
                        f"on {tname!r}; copy {label} again", [{"type": "target_absent"}])
            ch.flags.drift = True
            return ch
        return change(Action.CREATE, f"{tname!r} has no analyzer {target_id!r}; copy {label}",
                      [{"type": "target_absent"}])
    tgt_pre = [{"type": "target_fingerprint", "fingerprint": observed.fingerprint}]
    if observed.fingerprint == asset.fingerprint and observed.status == "ready":
        if ours and forced(addr):
            return change(Action.REPLACE, f"{REPLACE_REQUESTED}: the analyzer on {tname!r} has the source's "
                          f"definition; copy {label} again over it (allowReplace)", tgt_pre)
        return change(Action.NO_OP, f"in sync: the analyzer on {tname!r} has the source's definition")
    if observed.fingerprint == asset.fingerprint and observed.status == "creating" and addr in state.journal:
        # drplan's own copy, still being made by an apply that was killed (the journal says it copied here): the
        # plan finishes it (planner._resolve_unfinished) instead of calling it foreign (issue 19).
        return change(Action.NO_OP, f"being copied: the analyzer on {tname!r} is being created with the source's "
                      "definition by an interrupted apply")
    diff = diff_lines(observed.detail.get("definition", {}), defn)
    if recorded is None or not ours:
        ch = change(Action.NO_OP, f"{tname!r} already has an analyzer {target_id!r} that drplan did not copy", diff=diff)
        ch.errors.append(
            f"{tname!r} already has an analyzer {target_id!r} with another definition ({observed.fingerprint}) that "
            f"is not recorded in state as a copy of {label}; drplan will not overwrite an analyzer it did not create: "
            "delete it on the target or map the source elsewhere with rename")
        return ch
    if observed.status != "ready":
        ch = change(Action.REPLACE, f"the copy on {tname!r} is {observed.status}; copy {label} again over it "
                    "(allowReplace)", tgt_pre, diff=diff)
        ch.flags.drift = True
        return ch
    drift = recorded.get("source_fingerprint") != observed.fingerprint
    patch = mutable_patch(observed.detail.get("definition", {}), defn)
    if patch is not None:
        # Only description and/or tags differ: the service updates those in place (PATCH, contracts §5.1/§5.2
        # [S]), so the copy is kept (issue 17 point 9). Apply verifies the result with a GET.
        what = " and ".join(k for k in ("description", "tags") if k in patch)
        who = "on the target, out of band" if drift else "on the source"
        if forced(addr):
            ch = change(Action.REPLACE, f"{REPLACE_REQUESTED}: only the {what} changed {who}, which a PATCH would "
                        f"update in place; copy {label} again over it (allowReplace)", tgt_pre, diff=diff)
            ch.flags.drift = drift
            return ch
        ch = change(Action.UPDATE, f"{what} changed {who}: PATCH, no recopy (only description and tags are "
                    f"mutable; the rest of the definition equals {label})", tgt_pre, diff=diff)
        ch.steps = ["patch"]
        ch.settings = {"patch": patch}
        ch.flags.drift = drift
        return ch
    why = ("the analyzer on the target was changed out of band" if drift
           else "the source analyzer changed since the copy")
    ch = change(Action.REPLACE, f"{why}: its definition differs from {label} ({len(diff)} difference(s)); copy again "
                "over it (allowReplace)", tgt_pre, diff=diff)
    ch.flags.drift = drift
    return ch
