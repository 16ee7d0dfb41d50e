"""Form Recognizer v2.1 / v2.0 custom models: the older, path-versioned copy protocol whose target id is minted by the
target service (contracts §4)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from drplan.azure.client import AzureClient
from drplan.families.base import BaseFamily, Connection
from drplan.families.form_recognizer_v2 import apply, drill, plan
from drplan.families.form_recognizer_v2.adapter import FormRecognizerV2Adapter
from drplan.spec.model import AssetKind, Resource, Rule


class FormRecognizerV2(BaseFamily):
    protocol = "fr-v2"
    title = "Form Recognizer v2.x"
    selectors = ("models",)
    options = ("allow_encryption_downgrade",)
    kinds = (AssetKind.CUSTOM_MODEL,)
    quota_kinds = frozenset({AssetKind.CUSTOM_MODEL})

    def adapter(self, client: AzureClient, conn: Connection) -> FormRecognizerV2Adapter:
        return FormRecognizerV2Adapter(client, conn)

    def rule_kinds(self, rule: Rule) -> frozenset[AssetKind]:
        return plan.KINDS if rule.models else frozenset()

    def rule_errors(self, where: str, raw: Mapping[str, Any], src: Resource,
                    targets: Sequence[Resource], *, check_env: bool = True) -> list[str]:
        out = []
        if raw.get("classifiers"):
            out.append(f"{where}.classifiers: Form Recognizer v2.x has no classifiers; remove classifiers from this rule")
        if raw.get("rename"):
            out.append(f"{where}.rename: Form Recognizer v2.x copies get ids chosen by the target service; "
                       "rename is not possible, remove it")
        return out

    plan_rule = staticmethod(plan.plan_rule)
    apply_change = staticmethod(apply.run_v2_copy)
    failover_ids = staticmethod(drill.failover_ids)
    drill_sample = staticmethod(drill.drill_sample)
    probe = staticmethod(drill.probe)


FAMILY = FormRecognizerV2()
