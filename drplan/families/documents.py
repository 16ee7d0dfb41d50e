"""What Document Intelligence / Form Recognizer v3 and Form Recognizer v2.x plan alike: which source models and
classifiers a rule selects, the source block of a change, and the encryption-downgrade rule (contracts §2.4: a copy
from a customer-managed-key resource to one without needs ``x-ms-forms-copy-degrade: true``)."""

from __future__ import annotations

from collections.abc import Callable

from drplan.families.base import Asset, Inventory
from drplan.plan.addresses import matches
from drplan.plan.context import PlanContext
from drplan.plan.model import Action, Change, Source
from drplan.spec.model import AssetKind, Encryption, Rule, Spec

#: plan_one(rule, asset, its source block, target resource name, target inventory) -> the change of that asset on
#: that target
PlanOne = Callable[[Rule, Asset, Source, str, Inventory], Change]


def selected(rule: Rule, asset: Asset) -> bool:
    """Ids or globs; an FR v2.x model (whose id is a server-made UUID) may also be selected by its modelName."""
    patterns = rule.classifiers if asset.kind is AssetKind.DOCUMENT_CLASSIFIER else rule.models
    return matches([asset.id] + ([asset.name] if asset.name else []), patterns, rule.exclude)


def source_block(spec: Spec, rule: Rule, asset: Asset) -> Source:
    block = Source(rule.source, asset.id, asset.fingerprint, asset.created, asset.description,
                   dict(sorted(asset.tags.items())))
    # What a copy keeps from its source (contracts §2.4): apply recognises its own untagged copy by them (a classifier
    # copy shows no tags: DocumentClassifierDetails has none).
    if asset.expires:
        block.extra["expires"] = asset.expires
    if asset.content_digest:
        block.extra["content_digest"] = asset.content_digest
    return block



def plan_copies(ctx: PlanContext, rule: Rule, kinds: frozenset[AssetKind], plan_one: PlanOne) -> tuple[list[Change], list[str]]:
    """Every change of one rule: ``plan_one`` per selected source asset and target, then the downgrade rule."""
    spec, inventories = ctx.spec, ctx.inventories
    changes: list[Change] = []
    warnings: list[str] = []
    src_res = spec.resources[rule.source]
    sources = sorted((a for a in inventories[rule.source].assets.values() if a.kind in kinds and selected(rule, a)),
                     key=lambda a: (a.kind.value, a.id))
    if not sources:
        warnings.append(f"rule {rule.name!r}: no model or classifier on {rule.source!r} matches the rule's selection")
    for tname in rule.targets:
        tgt_res = spec.resources[tname]
        downgrade = src_res.encryption is Encryption.CUSTOMER_MANAGED and tgt_res.encryption is Encryption.MICROSOFT_MANAGED
        for asset in sources:
            change = plan_one(rule, asset, source_block(spec, rule, asset), tname, inventories[tname])
            if downgrade and change.action is not Action.NO_OP:
                _flag_downgrade(change, rule, tname)
            changes.append(change)
    return changes, warnings


def _flag_downgrade(change: Change, rule: Rule, tname: str) -> None:
    change.flags.encryption_downgrade = True
    if rule.allow_encryption_downgrade:
        change.warnings.append(
            f"encryption downgrade: {rule.source!r} uses a customer-managed key and {tname!r} does not; "
            "the copy will be sent with x-ms-forms-copy-degrade: true (allowed by the rule)")
    else:
        change.errors.append(
            f"encryption downgrade refused: {rule.source!r} uses a customer-managed key and {tname!r} "
            f"does not; set allow_encryption_downgrade = true on rule {rule.name!r} to accept it, or "
            "encrypt the target with a customer-managed key")
