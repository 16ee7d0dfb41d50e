"""The planner: desired (spec) x observed (inventories) x recorded (state) -> changes. Pure: no I/O, no httpx."""

from __future__ import annotations

import fnmatch
from collections import Counter, defaultdict
from typing import Any

from drplan import __version__
from drplan.plan.cu import plan_analyzers
from drplan.plan.language import plan_projects
from drplan.plan.model import PLAN_FORMAT_VERSION, Action, Change
from drplan.services.base import Asset, Inventory
from drplan.services.lineage import Lineage, same_fingerprint
from drplan.spec.model import AssetKind, Encryption, Rule, Spec
from drplan.state.model import State


def address(rule: str, target: str, kind: AssetKind, target_id: str) -> str:
    return f"{rule}/{target}/{kind.value}/{target_id}"


def address_selected(addr: str, targets: tuple[str, ...], excludes: tuple[str, ...]) -> bool:
    """``--target``/``--exclude`` globs (fnmatch) over addresses; no targets means every address."""
    if targets and not any(fnmatch.fnmatchcase(addr, t) for t in targets):
        return False
    return not any(fnmatch.fnmatchcase(addr, e) for e in excludes)


def selected(rule: Rule, asset: Asset) -> bool:
    """Ids or globs; an FR v2.x model (whose id is a server-made UUID) may also be selected by its modelName."""
    patterns = rule.classifiers if asset.kind is AssetKind.DOCUMENT_CLASSIFIER else rule.models
    names = [asset.id] + ([asset.name] if asset.name else [])
    if not any(fnmatch.fnmatchcase(n, p) for n in names for p in patterns):
        return False
    return not any(fnmatch.fnmatchcase(n, p) for n in names for p in rule.exclude)


def kinds_of(rule: Rule, spec: Spec) -> frozenset[AssetKind]:
    proto = spec.resources[rule.source].protocol
    if proto == "cu":
        return frozenset({AssetKind.ANALYZER, AssetKind.MODEL_DEPLOYMENT})
    if proto == "language":
        return frozenset({AssetKind.LANGUAGE_PROJECT})
    if proto == "fr-v2":
        return frozenset({AssetKind.CUSTOM_MODEL} if rule.models else set())
    out = set()
    if rule.models:
        out.add(AssetKind.DOCUMENT_MODEL)
    if rule.classifiers:
        out.add(AssetKind.DOCUMENT_CLASSIFIER)
    return frozenset(out)


def _source_block(spec: Spec, rule: Rule, asset: Asset) -> dict[str, Any]:
    block = {
        "resource": rule.source,
        "id": asset.id,
        "fingerprint": asset.fingerprint,
        "created": asset.created,
        "description": asset.description,
        "tags": dict(sorted(asset.tags.items())),
    }
    # What a copy keeps from its source (contracts §2.4): apply recognises its own untagged copy by them (a classifier
    # copy shows no tags: DocumentClassifierDetails has none).
    if asset.expires:
        block["expires"] = asset.expires
    if asset.content_digest:
        block["content_digest"] = asset.content_digest
    return block


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
) -> dict[str, Any]:
    """Return the plan document (without its digest: see planfile.seal).

    ``targets``/``excludes`` are address globs: only matching changes enter the plan (recorded in its options, so
    apply cannot widen them)."""
    changes: list[Change] = []
    plan_errors: list[str] = []
    plan_warnings: list[str] = []
    desired: set[str] = set()
    lineage = LineageContext(spec, state, state_existed, inventories)

    for rule in spec.rules:
        proto = spec.resources[rule.source].protocol
        if proto == "cu":
            rule_changes, rule_warnings = plan_analyzers(spec, rule, inventories, state)
        elif proto == "language":
            rule_changes, rule_warnings = plan_projects(spec, rule, inventories, state)
        else:
            rule_changes, rule_warnings = _plan_models(spec, rule, inventories, state, lineage)
        changes.extend(rule_changes)
        plan_warnings.extend(rule_warnings)
        desired.update(c.address for c in rule_changes)

        # Copies this rule made earlier whose source is gone or no longer selected.
        for addr, rec in sorted(state.resources.items()):
            if rec["rule"] != rule.name or addr in desired:
                continue
            tname = rec["target_resource"]
            kind = AssetKind(rec["kind"])
            if tname not in spec.resources or tname not in inventories:
                plan_warnings.append(f"{addr}: recorded in state, but its target resource {tname!r} is no longer in the spec")
                continue
            observed = inventories[tname].get(kind, rec["target_id"])
            target = {"resource": tname, "id": rec["target_id"], "exists": observed is not None,
                      "fingerprint": observed.fingerprint if observed else None}
            source = {"resource": rec["source_resource"], "id": rec["source_id"],
                      "fingerprint": rec["source_fingerprint"], "created": "", "description": "", "tags": {}}
            if kind is AssetKind.MODEL_DEPLOYMENT:
                # A /defaults key is resource-wide: other analyzers may rely on it, so drplan never removes it.
                note = (f"no longer managed: no analyzer this rule copies to {tname!r} needs its deployment override for "
                        f"{rec['target_id']} any more; the /defaults key is left as it is (other analyzers may use it); "
                        f"drplan state rm {addr} stops tracking it")
                changes.append(Change(addr, rule.name, kind.value, Action.NO_OP, note, source, target,
                                      warnings=[note]))
                continue
            why = f"the source {rec['source_resource']}/{rec['source_id']} is gone or no longer selected by the rule"
            if rule.prune and allow_delete:
                pre = [{"type": "target_fingerprint", "fingerprint": observed.fingerprint}] if observed else [
                    {"type": "target_absent"}]
                changes.append(Change(addr, rule.name, kind.value, Action.DELETE,
                                      f"prune: {why}" + ("" if observed else "; the target copy is already gone, only the state record is removed"),
                                      source, target, preconditions=pre))
            else:
                hint = ("run plan with --allow-delete to delete it" if rule.prune
                        else "set prune = true on the rule and plan with --allow-delete to delete it")
                changes.append(Change(addr, rule.name, kind.value, Action.NO_OP, f"kept: {why}; {hint}",
                                      source, target, warnings=[f"orphaned copy: {why}; {hint}"]))

    for addr, rec in sorted(state.resources.items()):
        if rec["rule"] not in {r.name for r in spec.rules}:
            plan_warnings.append(f"{addr}: recorded in state by rule {rec['rule']!r}, which is no longer in the spec; left alone")

    if targets or excludes:
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
        changes = kept
        plan_warnings.append(
            f"targeting is in effect (--target {' '.join(targets) or '*'}"
            + (f", --exclude {' '.join(excludes)}" if excludes else "")
            + f"): {left_out} address(es) left out of this plan; the plan may not show everything the spec implies"
        )

    # Two changes must never produce the same target asset.
    claims: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for c in changes:
        if c.action in (Action.CREATE, Action.REPLACE, Action.UPDATE, Action.NO_OP) and c.target.get("id"):
            claims[(c.target["resource"], c.kind, c.target["id"])].append(c.address)
    for (tname, kind, tid), addrs in claims.items():
        if kind == AssetKind.MODEL_DEPLOYMENT.value:  # several rules may want the same /defaults value
            wanted = {c.settings.get("deployment") for c in changes if c.address in addrs}
            if len(wanted) > 1:
                for c in changes:
                    if c.address in addrs:
                        c.errors.append(f"{tname!r} /defaults {tid!r} is set to different deployments by several "
                                        f"rules ({', '.join(addrs)}); make the rules' deployments agree")
            continue
        if len(addrs) > 1:
            for c in changes:
                if c.address in addrs:
                    c.errors.append(f"{tname}/{kind}/{tid} is claimed by several changes ({', '.join(addrs)}); use rename")

    # Target model quota (GET /info, v2: op=summary): creates add a model; a replace deletes first, except a v2
    # replace, which copies before it deletes and so needs a free slot while it runs.
    counted = (AssetKind.DOCUMENT_MODEL.value, AssetKind.CUSTOM_MODEL.value)
    creates = Counter(c.target["resource"] for c in changes if c.kind in counted and (
        c.action is Action.CREATE or (c.action is Action.REPLACE and c.create_before_destroy)))
    deletes = Counter(c.target["resource"] for c in changes
                      if c.action is Action.DELETE and c.kind in counted and c.target.get("exists"))
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

    for addr in _cycle(changes):
        next(c for c in changes if c.address == addr).errors.append(
            "depends on itself through other changes (analyzers that reference each other in a cycle); drplan "
            "cannot order these copies")

    changes.sort(key=lambda c: c.address)
    for c in changes:
        plan_errors.extend(f"{c.address}: {e}" for e in c.errors)

    summary = Counter(c.action.value for c in changes)
    used = sorted({c.source["resource"] for c in changes} | {c.target["resource"] for c in changes}
                  | {r.source for r in spec.rules} | {t for r in spec.rules for t in r.targets})
    return {
        "format_version": PLAN_FORMAT_VERSION,
        "drplan_version": __version__,
        "created_at": created_at,
        "spec": {"path": str(spec.path), "digest": spec.digest},
        "state": {
            "backend": spec.state.backend,
            "path": str(spec.state.path),
            "lineage": state.lineage if state_existed else None,
            "serial": state.serial if state_existed else 0,
            **({"recover_lineage": lineage.recover} if lineage.recover else {}),
        },
        "options": {"allow_delete": allow_delete, "parallelism": spec.parallelism,
                    "per_endpoint_parallelism": spec.per_endpoint_parallelism,
                    "target": list(targets), "exclude": list(excludes)},
        "resources": {name: spec.resources[name].public() for name in used if name in spec.resources},
        "changes": [c.to_dict() for c in changes],
        "summary": {a.value: summary.get(a.value, 0) for a in Action},
        "warnings": plan_warnings,
        "errors": plan_errors,
        "applyable": not plan_errors,
    }


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


def _plan_models(spec: Spec, rule: Rule, inventories: dict[str, Inventory], state: State,
                 lineage: LineageContext) -> tuple[list[Change], list[str]]:
    """Document Intelligence / Form Recognizer models and classifiers of one rule."""
    changes: list[Change] = []
    warnings: list[str] = []
    src_res = spec.resources[rule.source]
    src_inv = inventories[rule.source]
    kinds = kinds_of(rule, spec)
    sources = sorted(
        (a for a in src_inv.assets.values() if a.kind in kinds and selected(rule, a)),
        key=lambda a: (a.kind.value, a.id)
    )
    if not sources:
        warnings.append(f"rule {rule.name!r}: no model or classifier on {rule.source!r} matches the rule's selection")
    for tname in rule.targets:
        tgt_res = spec.resources[tname]
        tgt_inv = inventories[tname]
        downgrade = src_res.encryption is Encryption.CUSTOMER_MANAGED and tgt_res.encryption is Encryption.MICROSOFT_MANAGED
        for asset in sources:
            if asset.kind is AssetKind.CUSTOM_MODEL:
                # The target id is minted by the service: the address names the source model, the state maps it
                # to the copy (contracts §4).
                addr = address(rule.name, tname, asset.kind, asset.id)
                change = _plan_v2_one(rule, addr, asset, tname, tgt_inv, state.resources.get(addr))
            else:
                target_id = rule.rename.get(asset.id, asset.id)
                addr = address(rule.name, tname, asset.kind, target_id)
                observed = tgt_inv.get(asset.kind, target_id)
                change = _plan_one(rule, addr, asset, target_id, tname, observed, state.resources.get(addr), lineage)
            change.source = _source_block(spec, rule, asset)
            if downgrade and change.action is not Action.NO_OP:
                change.flags["encryption_downgrade"] = True
                if rule.allow_encryption_downgrade:
                    change.warnings.append(
                        f"encryption downgrade: {rule.source!r} uses a customer-managed key and {tname!r} does not; "
                        "the copy will be sent with x-ms-forms-copy-degrade: true (allowed by the rule)"
                    )
                else:
                    change.errors.append(
                        f"encryption downgrade refused: {rule.source!r} uses a customer-managed key and {tname!r} "
                        f"does not; set allow_encryption_downgrade = true on rule {rule.name!r} to accept it, or "
                        "encrypt the target with a customer-managed key"
                    )
            changes.append(change)
    return changes, warnings


def _plan_v2_one(rule: Rule, addr: str, asset: Asset, tname: str, tgt_inv: Inventory,
                 recorded: dict[str, Any] | None) -> Change:
    label = f"{rule.source}/{asset.id}" + (f" ({asset.name})" if asset.name else "")
    kind = asset.kind.value
    tid = recorded["target_id"] if recorded else ""
    observed = tgt_inv.get(asset.kind, tid) if tid else None
    target = {"resource": tname, "id": tid, "exists": observed is not None,
              "fingerprint": observed.fingerprint if observed else None}
    src_pre = {"type": "source_fingerprint", "resource": rule.source, "id": asset.id, "fingerprint": asset.fingerprint}
    if recorded is None:
        return Change(addr, rule.name, kind, Action.CREATE,
                      f"no copy of {label} on {tname!r} is recorded in state; copy it (the target service picks the "
                      "new model id)", {}, target, preconditions=[src_pre])
    if observed is None:
        ch = Change(addr, rule.name, kind, Action.CREATE,
                    f"drift: the copy {tid} recorded in state (made {recorded['copied_at']}) is missing on {tname!r}; "
                    "copy it again (under a new id)", {}, target, preconditions=[src_pre, {"type": "target_absent"}])
        ch.flags["drift"] = True
        return ch
    tgt_pre = {"type": "target_fingerprint", "fingerprint": observed.fingerprint}
    if observed.status != "ready":
        ch = Change(addr, rule.name, kind, Action.REPLACE,
                    f"the copy {tid} on {tname!r} is {observed.status}; copy again, then delete it",
                    {}, target, preconditions=[src_pre, tgt_pre], create_before_destroy=True)
        ch.flags["drift"] = True
        return ch
    if recorded.get("source_fingerprint") == asset.fingerprint:
        return Change(addr, rule.name, kind, Action.NO_OP,
                      f"in sync: the copy {tid} on {tname!r} was made from the source version "
                      f"{asset.fingerprint.split('=', 1)[-1]}", {}, target)
    return Change(addr, rule.name, kind, Action.REPLACE,
                  f"the source model was retrained since the copy (lastUpdatedDateTime now "
                  f"{asset.fingerprint.split('=', 1)[-1]}, the copy {tid} was made from "
                  f"{recorded.get('source_fingerprint', '?').split('=', 1)[-1]}); copy again, then delete the old copy",
                  {}, target, preconditions=[src_pre, tgt_pre], create_before_destroy=True)


def _plan_one(rule: Rule, addr: str, asset: Asset, target_id: str, tname: str, observed: Asset | None,
              recorded: dict[str, Any] | None, lineage: LineageContext) -> Change:
    """DI v4 / FR v3 models and classifiers: decide by lineage (services/lineage.py), never by comparing the copy's
    timestamps with the source's. The state decides first; the copy's lineage tags when the state has no record."""
    kind = asset.kind.value
    label = "model" if asset.kind is AssetKind.DOCUMENT_MODEL else "classifier"
    target = {"resource": tname, "id": target_id, "exists": observed is not None,
              "fingerprint": observed.fingerprint if observed else None}
    src_pre = {"type": "source_fingerprint", "resource": rule.source, "id": asset.id, "fingerprint": asset.fingerprint}
    version = _version_text(asset.fingerprint)
    if observed is None:
        if recorded is not None:
            ch = Change(addr, rule.name, kind, Action.CREATE,
                        f"drift: the copy recorded in state (made {recorded['copied_at']}) is missing on {tname!r}; "
                        "copy it again", {}, target, preconditions=[src_pre, {"type": "target_absent"}])
            ch.flags["drift"] = True
            return ch
        return Change(addr, rule.name, kind, Action.CREATE,
                      f"{tname!r} has no {label} {target_id!r}; copy {rule.source}/{asset.id} ({version})",
                      {}, target, preconditions=[src_pre, {"type": "target_absent"}])
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
                        f"{rule.source}/{asset.id} again", {}, target, preconditions=[src_pre, tgt_pre])
            ch.flags["drift"] = True
            ch.warnings.append("the target copy differs from the one recorded in state (changed out of band)")
            return ch
        if same_fingerprint(made_from, asset.fingerprint):
            return Change(addr, rule.name, kind, Action.NO_OP,
                          f"in sync: the copy on {tname!r} was made from the source version {version} "
                          "(recorded in state)", {}, target)
        return Change(addr, rule.name, kind, Action.REPLACE,
                      f"the source {label} was rebuilt since the copy: the copy on {tname!r} was made from "
                      f"{_version_text(made_from)}, the source is now {version}; delete the old copy and copy again",
                      {}, target, preconditions=[src_pre, tgt_pre])
    # No record in this state: the copy's own lineage tags (a lost state, a crash before recording, adopt).
    tags = observed.lineage
    if tags is None:
        if looks_copied(observed, asset):
            hint = (f"it looks like a copy of {rule.source}/{asset.id} (the same expirationDateTime and docTypes, "
                    f"which a copy keeps; a classifier copy shows no tags): drplan adopt {addr} records it")
        else:
            hint = (f"delete it on the target, map the source elsewhere with rename, or, if it is a copy of "
                    f"{rule.source}/{asset.id}, record it with drplan adopt {addr}")
        return Change(addr, rule.name, kind, Action.NO_OP,
                      f"{tname!r} already has a {label} {target_id!r} that drplan did not copy (created "
                      f"{observed.created}, no drplan lineage tags)", {}, target,
                      errors=[f"{tname!r} already has a {label} {target_id!r} (created {observed.created}) that "
                              f"carries no drplan lineage and is not recorded in state; drplan will not overwrite a "
                              f"model it did not create: {hint}"])
    if not tags.same_source(want):
        return Change(addr, rule.name, kind, Action.NO_OP,
                      f"{tname!r}/{target_id} is a copy of another source", {}, target,
                      errors=[f"{tname!r} already has a {label} {target_id!r} whose lineage says it is a "
                              f"{tags.describe()}; this rule copies {rule.source}/{asset.id} "
                              f"({want.source_resource}) there: map one of them elsewhere with rename"])
    if lineage.state_id is None and len(lineage.found) > 1:
        return Change(addr, rule.name, kind, Action.NO_OP,
                      f"{tname!r}/{target_id} carries the lineage of one of several drplan states", {}, target,
                      errors=[f"there is no state, and the copies this spec addresses carry the lineage of several "
                              f"drplan states ({', '.join(sorted(lineage.found))}); drplan cannot tell which one was "
                              f"its own: restore the state, or record this copy with drplan adopt {addr}"])
    if lineage.state_id is not None and tags.state != lineage.state_id:
        return Change(addr, rule.name, kind, Action.NO_OP,
                      f"{tname!r}/{target_id} was copied by another drplan state", {}, target,
                      errors=[f"{tname!r}/{target_id} was copied by another drplan state (lineage {tags.state}); "
                              f"this state is lineage {lineage.state_id}. drplan does not take over another "
                              f"state's copies silently: drplan adopt {addr} records it here, or point this spec at "
                              "the state that made it"])
    if same_fingerprint(tags.source_version, asset.fingerprint):
        record = lineage.found_record(rule, addr, asset, target_id, tname, observed)
        note = (f"not recorded in state: {tname!r}/{target_id} is found by its lineage tags to be drplan's copy of "
                f"{rule.source}/{asset.id} ({version}, made by state {tags.state}); apply records it, copying nothing")
        return Change(addr, rule.name, kind, Action.NO_OP, f"in sync by its lineage tags; {note}", {}, target,
                      warnings=[note], preconditions=[tgt_pre], settings={"refresh_record": record})
    return Change(addr, rule.name, kind, Action.REPLACE,
                  f"the source {label} was rebuilt since the copy: the lineage tags of the copy on {tname!r} say it "
                  f"was made from {_version_text(tags.source_version)}, the source is now {version} (not recorded "
                  "in state); delete the old copy and copy again", {}, target, preconditions=[src_pre, tgt_pre])


def _lineages_found(spec: Spec, inventories: dict[str, Inventory]) -> set[str]:
    """The state lineage ids stamped on the DI / FR v3 copies this spec addresses (target id after rename, copied
    from the rule's source asset)."""
    found: set[str] = set()
    for rule in spec.rules:
        if spec.resources[rule.source].protocol != "di":  # the family whose copies carry lineage tags
            continue
        kinds = kinds_of(rule, spec)
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

    def __init__(self, spec: Spec, state: State, state_existed: bool, inventories: dict[str, Inventory]) -> None:
        self.spec = spec
        self.state_id: str | None = state.lineage if state_existed else None
        self.recover: str | None = None
        self.found: set[str] = set()
        if not state_existed:
            self.found = _lineages_found(spec, inventories)
            if len(self.found) == 1:
                self.recover = self.state_id = next(iter(self.found))

    def source_ref(self, name: str) -> str:
        res = self.spec.resources[name]
        return res.resource_id or res.endpoint

    def of(self, rule: Rule, asset: Asset) -> Lineage:
        return Lineage(self.state_id or "", self.source_ref(rule.source), asset.id, asset.fingerprint)

    def found_record(self, rule: Rule, addr: str, asset: Asset, target_id: str, tname: str,
                     observed: Asset) -> dict[str, Any]:
        """The state record of a copy found by its lineage tags (what apply records for it)."""
        assert observed.lineage is not None
        src, tgt = self.spec.resources[rule.source], self.spec.resources[tname]
        return {
            "rule": rule.name, "kind": asset.kind.value, "source_resource": rule.source, "source_id": asset.id,
            "source_fingerprint": asset.fingerprint, "target_resource": tname,
            "target_resource_id": tgt.resource_id, "target_id": target_id, "copied_at": observed.created,
            "source_encryption": src.encryption.value, "target_encryption": tgt.encryption.value,
            "encryption_downgrade": src.encryption is Encryption.CUSTOMER_MANAGED
            and tgt.encryption is Encryption.MICROSOFT_MANAGED, "lineage": observed.lineage.to_dict(),
            "target_fingerprint": observed.fingerprint, "lineage_tags": True, "adopted": "lineage-tags",
        }
