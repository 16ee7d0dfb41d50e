"""Content Understanding analyzers (contracts §5): the GA grant flow (grantCopyAuthorization on the source, :copy on
the target) or the token flow, per-target model deployments (/defaults keys), and analyzers copied after the
analyzers they route to."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from drplan.apply.context import ApplyContext
from drplan.azure.client import AzureClient
from drplan.families.base import BaseFamily, Connection
from drplan.families.content_understanding import apply, drill, plan
from drplan.families.content_understanding.adapter import AnalyzersAdapter
from drplan.plan.context import PlanContext
from drplan.plan.model import Action, Change, Source, Target
from drplan.spec.model import AssetKind, Resource, Rule


class ContentUnderstanding(BaseFamily):
    protocol = "cu"
    title = "Content Understanding"
    selectors = ("analyzers",)
    options = ("deployments", "encryption_key_env", "decryption_key_env")
    kinds = (AssetKind.ANALYZER, AssetKind.MODEL_DEPLOYMENT)
    #: Several rules may set one /defaults key, as long as they agree on its value.
    shared_kinds = frozenset({AssetKind.MODEL_DEPLOYMENT})
    resource_options = ("copy_flow",)
    #: The target's real model deployments (Resource Manager), checked at plan time (issue 15).
    control_plane_collections = ("deployments",)

    def adapter(self, client: AzureClient, conn: Connection) -> AnalyzersAdapter:
        return AnalyzersAdapter(client, conn)

    def rule_kinds(self, rule: Rule) -> frozenset[AssetKind]:
        return frozenset(self.kinds)

    def rule_errors(self, where: str, raw: Mapping[str, Any], src: Resource,
                    targets: Sequence[Resource], *, check_env: bool = True) -> list[str]:
        out = []
        for j, tgt in enumerate(targets):
            if src.copy_flow != tgt.copy_flow:
                out.append(f"{where}.targets[{j}]: {src.name!r} uses copy_flow = {src.copy_flow!r} but {tgt.name!r} "
                           f"uses {tgt.copy_flow!r}; a rule's source and targets must use the same Content "
                           "Understanding copy flow")
        for t in raw.get("deployments", {}):
            if t not in raw["targets"]:
                out.append(f"{where}.deployments.{t}: {t!r} is not one of this rule's targets "
                           f"({', '.join(raw['targets'])}); overrides are per target")
        token = src.copy_flow == "token"
        for key in ("encryption_key_env", "decryption_key_env"):
            env = raw.get(key)
            if env and not token:
                out.append(f"{where}.{key}: only the token copy flow encrypts its token; {src.name!r} uses "
                           "copy_flow = \"grant\" (remove the key, or set copy_flow = \"token\")")
            elif env and check_env and not os.environ.get(env):
                out.append(f"{where}.{key}: environment variable {env} is not set; export the key in it")
        if raw.get("decryption_key_env") and not raw.get("encryption_key_env"):
            out.append(f"{where}.decryption_key_env: set encryption_key_env too (the source encrypts the token with "
                       "it)")
        return out

    def plan_rule(self, ctx: PlanContext, rule: Rule) -> tuple[list[Change], list[str]]:
        return plan.plan_analyzers(ctx.spec, rule, ctx.inventories, ctx.state, forced=ctx.replace_requested)

    def orphan(self, ctx: PlanContext, rule: Rule, addr: str, rec: Mapping[str, Any],
               target: Target) -> Change | None:
        if rec["kind"] != AssetKind.MODEL_DEPLOYMENT.value:
            return None
        # A /defaults key is resource-wide: other analyzers may rely on it, so drplan never removes it.
        tname = rec["target_resource"]
        note = (f"no longer managed: no analyzer rule {rule.name!r} copies to {tname!r} needs its deployment override for "
                f"{rec['target_id']} any more; the /defaults key is left as it is (other analyzers may use it); "
                f"drplan state rm {addr} stops tracking it")
        source = Source(rec["source_resource"], rec["source_id"], rec["source_fingerprint"])
        return Change(addr, rule.name, AssetKind.MODEL_DEPLOYMENT, Action.NO_OP, note, source, target,
                      warnings=[note])

    async def apply_change(self, ctx: ApplyContext, change: Change, entry: dict[str, Any] | None) -> None:
        if change.kind is AssetKind.MODEL_DEPLOYMENT:
            await apply.run_set_default(ctx, change)
        elif change.action is Action.UPDATE or (change.action is Action.NO_OP and entry is not None
                                                 and entry.get("step") == "patching"):
            await apply.run_cu_patch(ctx, change, entry)
        else:
            await apply.run_cu_copy(ctx, change, entry)

    failover_ids = staticmethod(drill.failover_ids)
    drill_sample = staticmethod(drill.drill_sample)
    probe = staticmethod(drill.probe)


FAMILY = ContentUnderstanding()
