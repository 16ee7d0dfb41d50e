"""Planning Language projects (contracts §6): export from the source, import into each target, then train and deploy
there when the rule asks. Pure: inventories and state in, changes out.

What a change is, per (project x target), address ``<rule>/<target>/language-project/<target name>``:

* ``create``: the target lacks the project (``drift`` when the state recorded a copy there). Steps export, import
  [, train [, deploy]].
* ``replace``: the source's exported assets differ from the target's. The import replaces the same-named project on
  the target, so the change is flagged ``destructive``; ``diff`` says exactly what changes (language_assets.summarise);
  ``drift`` when the target was changed out of band since drplan imported it.
* ``update``: the assets are in sync, but the rule's training is not satisfied on the target (the model label is
  missing, was trained before the project was last modified, or with another training config version; or the
  deployment is missing or serves another model). Steps train [, deploy] or just deploy.
* ``no-op``: in sync. When both projects' lastModifiedDateTime equal what the state recorded at the last apply,
  nothing is exported at all; otherwise the two exports are compared.
* an error (no-op that blocks the plan): the target has a same-named project drplan did not import whose assets
  differ; drplan will not overwrite it.

lastModifiedDateTime has whole seconds (contracts §6.2 examples): an out-of-band edit in the very second drplan's
import finished looks unchanged to the state check, and stays unseen until the project changes again. Apply never
imports content the plan did not show (the content digest is checked at export time).

The exports (and the target's models and deployments) are fetched between refresh and planning by
drplan.refresh.fetch_language_details, for exactly what :func:`language_fetches` asks: the planner and that fetch
agree through this one function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from drplan.families.base import Asset, Inventory
from drplan.families.language.assets import (
    category_noun,
    content_digest,
    counts,
    summarise,
)
from drplan.plan.addresses import address, address_selected, matches
from drplan.plan.context import REPLACE_REQUESTED
from drplan.plan.model import Action, Change, Source, Target
from drplan.spec.model import AssetKind, Rule, Spec
from drplan.state.model import State

KIND = AssetKind.LANGUAGE_PROJECT
#: A training config version that names no fixed version: the trained model reports the one it resolved to.
FLOATING_CONFIG = frozenset({"latest"})


def _address(rule: str, target: str, target_id: str) -> str:
    return address(rule, target, KIND, target_id)


def selected(rule: Rule, name: str) -> bool:
    return matches([name], rule.projects, rule.exclude)


def _modified(asset: Asset | None) -> str:
    return str(asset.detail.get("modified") or "") if asset is not None else ""


def in_sync_by_state(recorded: dict[str, Any] | None, source: Asset, target: Asset | None) -> bool:
    """Neither project changed since drplan last imported: no export needed to know they are in sync."""
    return (recorded is not None and target is not None and recorded.get("target_id") == target.id
            and bool(recorded.get("source_modified")) and recorded.get("source_modified") == _modified(source)
            and bool(recorded.get("target_modified")) and recorded.get("target_modified") == _modified(target))


@dataclass
class LanguageFetches:
    """What planning needs beyond the list APIs: exports of (resource, project), and the models and deployments of
    (target resource, project)."""

    exports: set[tuple[str, str]] = field(default_factory=set)
    training: set[tuple[str, str]] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.exports or self.training)


def language_fetches(spec: Spec, inventories: dict[str, Inventory], state: State, *,
                     targets: tuple[str, ...] = (), excludes: tuple[str, ...] = ()) -> LanguageFetches:
    """Which projects to export at plan time: a source (and its target copy, if any) whenever the state does not
    vouch that neither changed since the last import; and the target's models/deployments when the rule trains."""
    out = LanguageFetches()
    for rule in spec.rules:
        if spec.resources[rule.source].protocol != "language" or rule.source not in inventories:
            continue
        for asset in inventories[rule.source].assets.values():
            if asset.kind is not KIND or not selected(rule, asset.id):
                continue
            tid = rule.rename.get(asset.id, asset.id)
            for tname in rule.targets:
                addr = _address(rule.name, tname, tid)
                if tname not in inventories or not address_selected(addr, targets, excludes):
                    continue
                observed = inventories[tname].get(KIND, tid)
                if not in_sync_by_state(state.resources.get(addr), asset, observed):
                    out.exports.add((rule.source, asset.id))
                    if observed is not None:
                        out.exports.add((tname, tid))
                if rule.train is not None and observed is not None:
                    out.training.add((tname, tid))
    return out


def plan_projects(spec: Spec, rule: Rule, inventories: dict[str, Inventory], state: State, *,
                  forced: Callable[[str], bool] = lambda addr: False) -> tuple[list[Change], list[str]]:
    """``forced(addr)``: plan --replace names this address (PlanContext.replace_requested); asked only where the
    project drplan imported is in sync or only needs training, which then takes the replace path changed assets take
    (export, import over it, train, deploy)."""
    src_inv = inventories[rule.source]
    sources = sorted((a for a in src_inv.assets.values() if a.kind is KIND and selected(rule, a.id)),
                     key=lambda a: a.id)
    warnings: list[str] = []
    if not sources:
        warnings.append(f"rule {rule.name!r}: no project on {rule.source!r} matches the rule's selection")
    changes = [_plan_one(rule, asset, tname, inventories[tname], state, forced) for tname in rule.targets
               for asset in sources]
    return changes, warnings


def _settings(rule: Rule) -> dict[str, Any]:
    if rule.train is None:
        return {}
    out: dict[str, Any] = {"model_label": rule.train.model_label,
                           "training_config_version": rule.train.training_config_version}
    if rule.train.deployment:
        out["deployment"] = rule.train.deployment
    return out


def _train_steps(rule: Rule) -> list[str]:
    if rule.train is None:
        return []
    return ["train"] + (["deploy"] if rule.train.deployment else [])


def _training_gap(rule: Rule, observed: Asset) -> tuple[list[str], str]:
    """The steps the rule's training still needs on the target project, and why (([], "") when satisfied)."""
    train = rule.train
    if train is None:
        return [], ""
    models = observed.detail.get("models")
    deployments = observed.detail.get("deployments")
    if models is None or deployments is None:
        return _train_steps(rule), "drplan did not read the target's models and deployments"
    model = models.get(train.model_label)
    modified = _modified(observed)
    why = ""
    if model is None:
        why = f"the target project has no model {train.model_label!r}"
    elif modified and model["trained"] and model["trained"] < modified:
        why = (f"model {train.model_label!r} was trained at {model['trained']}, before the project's assets last "
               f"changed ({modified})")
    elif (train.training_config_version not in FLOATING_CONFIG and model.get("training_config_version")
          and model["training_config_version"] != train.training_config_version):
        why = (f"model {train.model_label!r} was trained with training config {model['training_config_version']}; "
               f"the rule asks for {train.training_config_version}")
    if why:
        return _train_steps(rule), why
    if train.deployment:
        dep = deployments.get(train.deployment)
        if dep is None:
            return ["deploy"], f"the target project has no deployment {train.deployment!r}"
        if dep.get("modelId") != model.get("modelId"):
            return ["deploy"], (f"deployment {train.deployment!r} serves model {dep.get('modelId')}, not "
                                f"{train.model_label!r} ({model.get('modelId')})")
    return [], ""


def storage_warning(exported: dict[str, Any], tname: str) -> str | None:
    docs = counts(exported)["documents"]
    if not docs:
        return None
    container = (exported.get("metadata") or {}).get("storageInputContainerName") or "(unnamed)"
    return (f"the project's {docs} document(s) live in blob container {container!r} of the source resource's "
            "storage account: drplan copies the project's labels and metadata, not the documents. The storage "
            f"account of {tname!r} must hold a container {container!r} with the same files (replicate it "
            "separately, e.g. object replication or GRS), or training there fails")


def _plan_one(rule: Rule, asset: Asset, tname: str, tgt_inv: Inventory, state: State,
              forced: Callable[[str], bool]) -> Change:
    tid = rule.rename.get(asset.id, asset.id)
    addr = _address(rule.name, tname, tid)
    observed = tgt_inv.get(KIND, tid)
    recorded = state.resources.get(addr)
    ours = recorded is not None and recorded.get("target_id") == tid
    src_export = asset.detail.get("exported")
    digest = content_digest(src_export) if src_export else None
    label = f"{rule.source}/{asset.id}"
    source = Source(rule.source, asset.id, asset.fingerprint, asset.created, asset.description,
                    dict(sorted(asset.tags.items())))
    if digest:
        source.extra["content_digest"] = digest
    target = Target(tname, tid, observed is not None, observed.fingerprint if observed else None,
                    {"modified": _modified(observed) or None})
    settings = _settings(rule)
    src_pre = {"type": "source_fingerprint", "resource": rule.source, "id": asset.id, "fingerprint": asset.fingerprint}
    pre = [src_pre] + ([{"type": "source_content", "resource": rule.source, "id": asset.id,
                         "content_digest": digest}] if digest else [])
    chain = ["export", "import"] + _train_steps(rule)

    def change(action: Action, reason: str, **kw: Any) -> Change:
        return Change(addr, rule.name, KIND, action, reason, source, target, **kw)

    def missing_export(which: str) -> Change:
        err = (asset.detail.get("export_error") if which == "source" else
               (observed.detail.get("export_error") if observed else None))
        return change(Action.NO_OP, f"cannot compare {label} with {tname}/{tid}",
                      errors=[f"the {which} project could not be exported at plan time"
                              + (f": {err}" if err else "") + "; run drplan plan again"])

    if observed is None:
        if src_export is None:
            return missing_export("source")
        n = counts(src_export)
        noun = category_noun(src_export)
        what = (f"{n['categories']} {noun} categor{'y' if n['categories'] == 1 else 'ies'}, {n['documents']} "
                f"document(s), {n['labels']} label(s)")
        if recorded is not None:
            reason = (f"drift: the project recorded in state (imported {recorded.get('copied_at', '?')}) is missing on "
                      f"{tname!r}; export {label} and import it again ({what})")
        else:
            reason = f"{tname!r} has no project {tid!r}; export {label} and import it there ({what})"
        if rule.train is not None:
            reason += "; then " + _train_text(rule)
        ch = change(Action.CREATE, reason, preconditions=pre + [{"type": "target_absent"}], steps=chain,
                    settings=settings)
        ch.flags.drift = recorded is not None
        warning = storage_warning(src_export, tname)
        if warning:
            ch.warnings.append(warning)
        return ch

    tgt_pre = {"type": "target_fingerprint", "fingerprint": observed.fingerprint}

    def forced_replace(why: str) -> Change:
        reason = (f"{REPLACE_REQUESTED}: {why}; export {label} and import it over {tname}/{tid} again (destructive: "
                  "the import replaces the target project's metadata and labels)")
        if rule.train is not None:
            reason += "; then " + _train_text(rule)
        ch = change(Action.REPLACE, reason, preconditions=pre + [tgt_pre], steps=chain, settings=settings)
        ch.flags.destructive = True
        warning = storage_warning(src_export, tname) if src_export else None
        if warning:
            ch.warnings.append(warning)
        return ch

    if in_sync_by_state(recorded, asset, observed):
        if forced(_address(rule.name, tname, tid)):
            # Not exported at plan time (the state vouches for both): the assets are those the last import recorded,
            # which apply checks the fresh export against.
            recorded_digest = (recorded or {}).get("content_digest")
            if recorded_digest and not digest:
                source.extra["content_digest"] = recorded_digest
                pre.append({"type": "source_content", "resource": rule.source, "id": asset.id,
                            "content_digest": recorded_digest})
            return forced_replace(f"neither {label} nor {tname}/{tid} changed since drplan imported it "
                                  f"({(recorded or {}).get('copied_at', '?')})")
        return _sync_or_update(rule, change, observed, pre + [tgt_pre], settings,
                               f"in sync: neither {label} nor {tname}/{tid} changed since drplan imported it "
                               f"({(recorded or {}).get('copied_at', '?')})", unfinished=addr in state.journal)
    if src_export is None:
        return missing_export("source")
    tgt_export = observed.detail.get("exported")
    if tgt_export is not None:
        target.extra["content_digest"] = content_digest(tgt_export)
    if tgt_export is None:
        return missing_export("target")
    if content_digest(tgt_export) == digest:
        if ours and forced(addr):
            return forced_replace(f"the exported assets of {label} and {tname}/{tid} are identical")
        ch = _sync_or_update(rule, change, observed, pre + [tgt_pre], settings,
                             f"in sync: the exported assets of {label} and {tname}/{tid} are identical",
                             unfinished=addr in state.journal)
        if ours and ch.action is Action.NO_OP:
            # A save without edits moved lastModifiedDateTime: apply records the new times (after checking them
            # live), so later plans know the pair is in sync without exporting it again.
            ch.reason += ("; their lastModifiedDateTime moved since the last apply, which records the new times so "
                          "later plans need not export them again")
            ch.preconditions = [src_pre, tgt_pre]
            ch.settings = {"refresh_record": {"source_modified": _modified(asset),
                                              "target_modified": _modified(observed), "content_digest": digest}}
        return ch
    diff = summarise(tgt_export, src_export)
    if not ours:
        ch = change(Action.NO_OP, f"{tname!r} already has a project {tid!r} that drplan did not import", diff=diff)
        ch.errors.append(
            f"{tname!r} already has a project {tid!r} whose assets differ from {label}'s ({len(diff)} difference(s)) "
            "and that is not recorded in state as a copy of it; drplan will not overwrite a project it did not "
            "create (an import replaces it): delete it on the target, or map the source elsewhere with rename")
        return ch
    assert recorded is not None  # ours
    drift = recorded.get("target_modified") != _modified(observed)
    source_moved = recorded.get("source_modified") != _modified(asset)
    if drift and not source_moved:
        why = (f"drift: {tname}/{tid} was changed out of band since drplan imported it (lastModifiedDateTime "
               f"{_modified(observed)}, recorded {recorded.get('target_modified')})")
    elif drift:
        why = (f"the source project changed since the last import (lastModifiedDateTime {_modified(asset)}) and "
               f"{tname}/{tid} was also changed out of band")
    else:
        why = (f"the source project changed since the last import (lastModifiedDateTime {_modified(asset)}, "
               f"imported from {recorded.get('source_modified')})")
    reason = (f"{why}: {len(diff)} difference(s); export {label} and import it over {tname}/{tid} (destructive: "
              "the import replaces the target project's metadata and labels)")
    if rule.train is not None:
        reason += "; then " + _train_text(rule)
    ch = change(Action.REPLACE, reason, preconditions=pre + [tgt_pre], steps=chain, settings=settings, diff=diff)
    ch.flags.destructive = True
    ch.flags.drift = drift
    warning = storage_warning(src_export, tname)
    if warning:
        ch.warnings.append(warning)
    return ch


def _train_text(rule: Rule) -> str:
    assert rule.train is not None
    text = f"train model {rule.train.model_label!r} there"
    if rule.train.deployment:
        text += f" and deploy it as {rule.train.deployment!r}"
    return text


def _sync_or_update(rule: Rule, change: Callable[..., Change], observed: Asset, pre: list[dict[str, Any]], settings: dict[str, Any],
                    in_sync: str, *, unfinished: bool = False) -> Change:
    steps, why = _training_gap(rule, observed)
    if not steps:
        train = rule.train
        if train is not None:
            in_sync += f"; model {train.model_label!r} is current"
            if train.deployment:
                in_sync += f" and deployed as {train.deployment!r}"
        # Finishing an unfinished journal entry (planner._resolve_unfinished), apply verifies and records the
        # training and deployment the rule asks for.
        return change(Action.NO_OP, in_sync, settings=settings if unfinished else {})
    what = "train and deploy" if steps == ["train", "deploy"] else steps[0]
    return change(Action.UPDATE, f"{in_sync}, but {why}; {what} on the target", preconditions=pre, steps=steps,
                  settings=settings)
