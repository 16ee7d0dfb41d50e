"""Document Intelligence v4 / Form Recognizer v3 planning: models and classifiers, identified by lineage
(drplan/lineage.py), never by comparing a copy's timestamps with its source's (issue 13)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drplan.families.base import Asset, Inventory
from drplan.families.documents import plan_copies, selected
from drplan.lineage import Lineage, same_fingerprint
from drplan.plan.addresses import address
from drplan.plan.context import REPLACE_REQUESTED, PlanContext
from drplan.plan.model import Action, Change, Source, Target
from drplan.spec.model import AssetKind, Encryption, Rule, Spec


def rule_kinds(rule: Rule) -> frozenset[AssetKind]:
    return frozenset(({AssetKind.DOCUMENT_MODEL} if rule.models else set())
                     | ({AssetKind.DOCUMENT_CLASSIFIER} if rule.classifiers else set()))


def plan_rule(ctx: PlanContext, rule: Rule) -> tuple[list[Change], list[str]]:
    lineage = ctx.memo.get("di-lineage")
    if lineage is None:
        lineage = ctx.memo["di-lineage"] = LineageContext(ctx)
        if lineage.recover:
            ctx.recover_lineage = lineage.recover

    def one(rule: Rule, asset: Asset, source: Source, tname: str, tgt_inv: Inventory) -> Change:
        target_id = rule.rename.get(asset.id, asset.id)
        addr = address(rule.name, tname, asset.kind, target_id)
        return _plan_one(rule, addr, asset, source, target_id, tname, tgt_inv.get(asset.kind, target_id),
                         ctx.state.resources.get(addr), lineage, journaled=addr in ctx.state.journal,
                         forced=ctx.replace_requested)

    return plan_copies(ctx, rule, rule_kinds(rule), one)


def _plan_one(rule: Rule, addr: str, asset: Asset, src: Source, target_id: str, tname: str, observed: Asset | None,
              recorded: dict[str, Any] | None, lineage: LineageContext, *, journaled: bool = False,
              forced: Callable[[str], bool] = lambda addr: False) -> Change:
    """DI v4 / FR v3 models and classifiers: decide by lineage (services/lineage.py), never by comparing the copy's
    timestamps with the source's. The state decides first; the copy's lineage tags when the state has no record.
    ``forced(addr)``: plan --replace names this address; asked only where drplan's own copy is in sync, which then
    takes the replace path a rebuilt source takes (delete the copy, copy again)."""
    kind = asset.kind
    label = "model" if asset.kind is AssetKind.DOCUMENT_MODEL else "classifier"
    target = Target(tname, target_id, observed is not None, observed.fingerprint if observed else None)
    src_pre = {"type": "source_fingerprint", "resource": rule.source, "id": asset.id, "fingerprint": asset.fingerprint}
    version = _version_text(asset.fingerprint)
    if observed is None:
        if recorded is not None:
            ch = Change(addr, rule.name, kind, Action.CREATE,
                        f"drift: the copy recorded in state (made {recorded['copied_at']}) is missing on {tname!r}; "
                        "copy it again", src, target, preconditions=[src_pre, {"type": "target_absent"}])
            ch.flags.drift = True
            return ch
        return Change(addr, rule.name, kind, Action.CREATE,
                      f"{tname!r} has no {label} {target_id!r}; copy {rule.source}/{asset.id} ({version})",
                      src, target, preconditions=[src_pre, {"type": "target_absent"}])
    tgt_pre = {"type": "target_fingerprint", "fingerprint": observed.fingerprint}
    want = lineage.of(rule, asset)
    if recorded is not None and recorded.get("target_id") == target_id:
        made_from = str(recorded.get("source_fingerprint", ""))
        seen = recorded.get("target_fingerprint")
        if seen:
            rebuilt = not same_fingerprint(str(seen), observed.fingerprint)
        elif observed.lineage is not None:  # a record of an older drplan: the tags tell
            rebuilt = not (observed.lineage.same_source(want)
                           and same_fingerprint(observed.lineage.source_version, made_from))
        else:  # an older drplan recorded only copies that kept their source's createdDateTime (pre-2024 service)
            seen = made_from
            rebuilt = not same_fingerprint(made_from, observed.fingerprint)
        if rebuilt:
            ch = Change(addr, rule.name, kind, Action.REPLACE,
                        f"drift: the copy {target_id!r} on {tname!r} was rebuilt or replaced out of band (it is now "
                        f"{_version_text(observed.fingerprint)}; drplan recorded "
                        f"{_version_text(str(seen)) if seen else 'another copy'}); delete it and copy "
                        f"{rule.source}/{asset.id} again", src, target, preconditions=[src_pre, tgt_pre])
            ch.flags.drift = True
            ch.warnings.append("the target copy differs from the one recorded in state (changed out of band)")
            return ch
        if same_fingerprint(made_from, asset.fingerprint) and forced(addr):
            return Change(addr, rule.name, kind, Action.REPLACE,
                          f"{REPLACE_REQUESTED}: the copy on {tname!r} is in sync with the source version {version}; "
                          f"delete it and copy {rule.source}/{asset.id} again", src, target,
                          preconditions=[src_pre, tgt_pre])
        if same_fingerprint(made_from, asset.fingerprint):
            return Change(addr, rule.name, kind, Action.NO_OP,
                          f"in sync: the copy on {tname!r} was made from the source version {version} "
                          "(recorded in state)", src, target)
        return Change(addr, rule.name, kind, Action.REPLACE,
                      f"the source {label} was rebuilt since the copy: the copy on {tname!r} was made from "
                      f"{_version_text(made_from)}, the source is now {version}; delete the old copy and copy again",
                      src, target, preconditions=[src_pre, tgt_pre])
    # No record in this state: the copy's own lineage tags (a lost state, a crash before recording, adopt).
    tags = observed.lineage
    if tags is None and journaled and lineage.state_id and looks_copied(observed, asset):
        # No tags (a classifier copy shows none), but this state's journal says an apply was copying here, and the
        # target kept what a copy keeps of its source: the interrupted apply's own copy (as apply judges it).
        record = lineage.found_record(rule, addr, asset, target_id, tname, observed,
                                      made_by=lineage.of(rule, asset))
        note = (f"not recorded in state: {tname!r}/{target_id} is the copy an interrupted apply of this state was "
                f"making (the journal says so, and it kept the source's expirationDateTime and docTypes); apply "
                "records it, copying nothing")
        return Change(addr, rule.name, kind, Action.NO_OP, f"in sync: {note}", src, target, warnings=[note],
                      preconditions=[tgt_pre], settings={"refresh_record": record})
    if tags is None:
        if looks_copied(observed, asset):
            hint = (f"it looks like a copy of {rule.source}/{asset.id} (the same expirationDateTime and docTypes, "
                    f"which a copy keeps; a classifier copy shows no tags): drplan adopt {addr} records it")
        else:
            hint = (f"delete it on the target, map the source elsewhere with rename, or, if it is a copy of "
                    f"{rule.source}/{asset.id}, record it with drplan adopt {addr}")
        return Change(addr, rule.name, kind, Action.NO_OP,
                      f"{tname!r} already has a {label} {target_id!r} that drplan did not copy (created "
                      f"{observed.created}, no drplan lineage tags)", src, target,
                      errors=[f"{tname!r} already has a {label} {target_id!r} (created {observed.created}) that "
                              f"carries no drplan lineage and is not recorded in state; drplan will not overwrite a "
                              f"model it did not create: {hint}"])
    if not tags.same_source(want):
        return Change(addr, rule.name, kind, Action.NO_OP,
                      f"{tname!r}/{target_id} is a copy of another source", src, target,
                      errors=[f"{tname!r} already has a {label} {target_id!r} whose lineage says it is a "
                              f"{tags.describe()}; this rule copies {rule.source}/{asset.id} "
                              f"({want.source_resource}) there: map one of them elsewhere with rename"])
    if lineage.state_id is None and len(lineage.found) > 1:
        return Change(addr, rule.name, kind, Action.NO_OP,
                      f"{tname!r}/{target_id} carries the lineage of one of several drplan states", src, target,
                      errors=[f"there is no state, and the copies this spec addresses carry the lineage of several "
                              f"drplan states ({', '.join(sorted(lineage.found))}); drplan cannot tell which one was "
                              f"its own: restore the state, or record this copy with drplan adopt {addr}"])
    if lineage.state_id is not None and tags.state != lineage.state_id:
        return Change(addr, rule.name, kind, Action.NO_OP,
                      f"{tname!r}/{target_id} was copied by another drplan state", src, target,
                      errors=[f"{tname!r}/{target_id} was copied by another drplan state (lineage {tags.state}); "
                              f"this state is lineage {lineage.state_id}. drplan does not take over another "
                              f"state's copies silently: drplan adopt {addr} records it here, or point this spec at "
                              "the state that made it"])
    if same_fingerprint(tags.source_version, asset.fingerprint) and forced(addr):
        return Change(addr, rule.name, kind, Action.REPLACE,
                      f"{REPLACE_REQUESTED}: the lineage tags of the copy on {tname!r} say it is drplan's copy of "
                      f"{rule.source}/{asset.id} ({version}, not recorded in state); delete it and copy again",
                      src, target, preconditions=[src_pre, tgt_pre])
    if same_fingerprint(tags.source_version, asset.fingerprint):
        record = lineage.found_record(rule, addr, asset, target_id, tname, observed)
        note = (f"not recorded in state: {tname!r}/{target_id} is found by its lineage tags to be drplan's copy of "
                f"{rule.source}/{asset.id} ({version}, made by state {tags.state}); apply records it, copying nothing")
        return Change(addr, rule.name, kind, Action.NO_OP, f"in sync by its lineage tags; {note}", src, target,
                      warnings=[note], preconditions=[tgt_pre], settings={"refresh_record": record})
    return Change(addr, rule.name, kind, Action.REPLACE,
                  f"the source {label} was rebuilt since the copy: the lineage tags of the copy on {tname!r} say it "
                  f"was made from {_version_text(tags.source_version)}, the source is now {version} (not recorded "
                  "in state); delete the old copy and copy again", src, target, preconditions=[src_pre, tgt_pre])


def _lineages_found(spec: Spec, inventories: dict[str, Inventory]) -> set[str]:
    """The state lineage ids stamped on the DI / FR v3 copies this spec addresses (target id after rename, copied
    from the rule's source asset)."""
    found: set[str] = set()
    for rule in spec.rules:
        if spec.resources[rule.source].protocol != "di":  # rules of this family only
            continue
        kinds = rule_kinds(rule)
        for asset in inventories[rule.source].assets.values():
            if asset.kind not in kinds or not selected(rule, asset):
                continue
            for tname in rule.targets:
                copy = inventories[tname].get(asset.kind, rule.rename.get(asset.id, asset.id))
                if copy is not None and copy.lineage is not None and copy.lineage.source_id == asset.id:
                    found.add(copy.lineage.state)
    return found


def looks_copied(copy: Asset, source: Asset) -> bool:
    """The documented heuristic for an untagged copy: the same expirationDateTime and docTypes digest as the source
    (a copy keeps both, contracts §2.4). Never createdDateTime (a copy gets its own since 2024)."""
    return bool(copy.expires and copy.content_digest and copy.expires == source.expires
                and copy.content_digest == source.content_digest)


def _version_text(fingerprint: str) -> str:
    """``created=A;modified=B`` -> ``created A, modified B`` for reviewers."""
    return ", ".join(part.replace("=", " ", 1) for part in fingerprint.split(";") if part) or "(unknown version)"


class LineageContext:
    """What the planner needs to judge lineage: this state's lineage id and the spec's resources.

    With no state (a first run, or a lost state), the copies this spec addresses may carry lineage tags: if they all
    name one state, that state was lost; the plan says so (``recover``) and apply re-creates the state with that
    lineage id, so the copies stay this state's (and ``drplan adopt`` of the untagged ones does not make the tagged
    ones "another state's"). If they name several, drplan cannot tell which is its own: each is a plan error."""

    def __init__(self, ctx: PlanContext) -> None:
        self.spec = ctx.spec
        self.state_id: str | None = ctx.state.lineage if ctx.state_existed else None
        self.recover: str | None = None
        self.found: set[str] = set()
        if not ctx.state_existed:
            self.found = _lineages_found(ctx.spec, ctx.inventories)
            if len(self.found) == 1:
                self.recover = self.state_id = next(iter(self.found))

    def source_ref(self, name: str) -> str:
        res = self.spec.resources[name]
        return res.resource_id or res.endpoint

    def of(self, rule: Rule, asset: Asset) -> Lineage:
        return Lineage(self.state_id or "", self.source_ref(rule.source), asset.id, asset.fingerprint)

    def found_record(self, rule: Rule, addr: str, asset: Asset, target_id: str, tname: str,
                     observed: Asset, *, made_by: Lineage | None = None) -> dict[str, Any]:
        """The state record of a copy found by its lineage tags (what apply records for it); ``made_by``: the
        lineage of an untagged copy the journal vouches for."""
        lineage = made_by or observed.lineage
        assert lineage is not None
        src, tgt = self.spec.resources[rule.source], self.spec.resources[tname]
        return {
            "rule": rule.name, "kind": asset.kind.value, "source_resource": rule.source, "source_id": asset.id,
            "source_fingerprint": asset.fingerprint, "target_resource": tname,
            "target_resource_id": tgt.resource_id, "target_id": target_id, "copied_at": observed.created,
            "source_encryption": src.encryption.value, "target_encryption": tgt.encryption.value,
            "encryption_downgrade": src.encryption is Encryption.CUSTOMER_MANAGED
            and tgt.encryption is Encryption.MICROSOFT_MANAGED, "lineage": lineage.to_dict(),
            "target_fingerprint": observed.fingerprint, "lineage_tags": made_by is None,
            "adopted": "lineage-tags" if made_by is None else "journal",
        }
