"""Language custom NER projects (contracts §6): export from the source, import into each target, then train and
deploy there when the rule asks; versions are the exported assets' digest."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from drplan.azure.client import AzureClient
from drplan.errors import StateError
from drplan.families.base import BaseFamily, Connection, Inventory
from drplan.families.language import apply, drill, plan
from drplan.families.language.adapter import ProjectsAdapter
from drplan.families.language.details import fetch_details
from drplan.plan.context import PlanContext
from drplan.plan.model import Change
from drplan.spec.model import AssetKind, Rule, Spec
from drplan.state.model import State


class Language(BaseFamily):
    protocol = "language"
    title = "Language"
    selectors = ("projects",)
    options = ("train",)
    kinds = (AssetKind.LANGUAGE_PROJECT,)

    def adapter(self, client: AzureClient, conn: Connection) -> ProjectsAdapter:
        return ProjectsAdapter(client, conn)

    def rule_kinds(self, rule: Rule) -> frozenset[AssetKind]:
        return frozenset(self.kinds)

    def plan_rule(self, ctx: PlanContext, rule: Rule) -> tuple[list[Change], list[str]]:
        return plan.plan_projects(ctx.spec, rule, ctx.inventories, ctx.state, forced=ctx.replace_requested)

    async def prepare_plan(self, client: AzureClient, conns: Mapping[str, Connection], spec: Spec,
                           inventories: dict[str, Inventory], state: State, *, targets: tuple[str, ...],
                           excludes: tuple[str, ...], emit: Callable[[dict[str, Any]], None] | None) -> None:
        """Export the projects the state cannot vouch for; read the target's models where a rule trains."""
        wanted = plan.language_fetches(spec, inventories, state, targets=targets, excludes=excludes)
        if wanted:
            await fetch_details(client, conns, inventories, wanted.exports, wanted.training, emit=emit)

    async def apply_change(self, ctx: Any, change: Change, entry: dict[str, Any] | None) -> None:
        await apply.run_language_change(ctx, change, entry)

    async def adopt_evidence(self, client: AzureClient, conns: Mapping[str, Connection], spec: Spec,
                             change: Change, state: State, *,
                             assert_copy: bool) -> tuple[str | bool, dict[str, Any]]:
        """A project's version is its content: adopt when the exports were compared at plan time and are equal."""
        src, tgt = change.source, change.target
        digest = src.extra.get("content_digest")
        if not digest or tgt.extra.get("content_digest") != digest:
            raise StateError(f"{change.address}: {tgt.resource}/{tgt.id} does not hold the same assets as "
                             f"{src.resource}/{src.id}; refusing to adopt it")
        return True, {"source_modified": src.fingerprint.removeprefix("modified="),
                      "target_modified": tgt.extra.get("modified") or "", "content_digest": digest}

    failover_ids = staticmethod(drill.failover_ids)
    drill_sample = staticmethod(drill.drill_sample)
    probe = staticmethod(drill.probe)


FAMILY = Language()
