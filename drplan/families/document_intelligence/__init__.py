"""Document Intelligence v4 and Form Recognizer v3 custom models and classifiers: one service, one model store, one
authorizeCopy / copyTo / poll protocol (contracts §2, §3); only the path prefix and the api-versions differ."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from drplan.azure.client import AzureClient
from drplan.families.base import BaseFamily, Connection
from drplan.families.document_intelligence import adopt, apply, drill, plan
from drplan.families.document_intelligence.adapter import DocumentModelsAdapter
from drplan.spec.model import AssetKind, Resource, Rule

#: Classifier copy exists from 2024-07-31-preview / 2024-11-30 on (contracts §2.4, §2.7).
CLASSIFIER_COPY_VERSIONS = frozenset({"2024-11-30"})


class DocumentIntelligence(BaseFamily):
    protocol = "di"
    title = "Document Intelligence / Form Recognizer v3"
    selectors = ("models", "classifiers")
    options = ("allow_encryption_downgrade",)
    kinds = (AssetKind.DOCUMENT_MODEL, AssetKind.DOCUMENT_CLASSIFIER)
    quota_kinds = frozenset({AssetKind.DOCUMENT_MODEL})

    def adapter(self, client: AzureClient, conn: Connection) -> DocumentModelsAdapter:
        return DocumentModelsAdapter(client, conn)

    def rule_kinds(self, rule: Rule) -> frozenset[AssetKind]:
        return plan.rule_kinds(rule)

    def rule_errors(self, where: str, raw: Mapping[str, Any], src: Resource,
                    targets: Sequence[Resource], *, check_env: bool = True) -> list[str]:
        if not raw.get("classifiers"):
            return []
        out = []
        for role, res in [("source", src)] + [(f"targets[{j}]", t) for j, t in enumerate(targets)]:
            if res.api_version not in CLASSIFIER_COPY_VERSIONS:
                out.append(f"{where}.classifiers: classifier copy needs api_version 2024-11-30 on every resource, "
                           f"but the {role} {res.name!r} uses {res.api_version}; set resources.{res.name}.api_version "
                           "= \"2024-11-30\" or remove classifiers from this rule")
        return out

    plan_rule = staticmethod(plan.plan_rule)
    apply_change = staticmethod(apply.apply_change)
    adopt_evidence = staticmethod(adopt.adopt_evidence)
    failover_ids = staticmethod(drill.failover_ids)
    drill_sample = staticmethod(drill.drill_sample)
    probe = staticmethod(drill.probe)


FAMILY = DocumentIntelligence()
