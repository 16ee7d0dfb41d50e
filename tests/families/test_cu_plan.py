"""Content Understanding planning (pure): deployments per role and why, /defaults changes for the GA flow, errors
for missing deployments and embedding mismatches, warnings for completion mismatches, replace with a readable diff,
copy order for referenced analyzers."""

from __future__ import annotations

from dataclasses import replace

from helpers import arm_id, make_spec

from drplan.families.base import Inventory
from drplan.families.content_understanding.adapter import AnalyzersAdapter
from drplan.plan.planner import build_plan
from drplan.spec.model import Family, Resource, Rule
from drplan.state.model import State

MODELS = {"completion": "gpt-4.1", "embedding": "text-embedding-3-large"}
DEFAULTS = {"gpt-4.1": "gpt41", "text-embedding-3-large": "emb3l"}


def cu(name: str, region: str = "eastus", flow: str = "grant") -> Resource:
    return Resource(name=name, family=Family.CONTENT_UNDERSTANDING, endpoint=f"https://{name}.example",
                    region=region, resource_id=arm_id(name), api_version="2025-11-01", key_env=f"KEY_{name.upper()}",
                    copy_flow=flow)


def analyzer(aid: str, **defn) -> dict:
    body = {"analyzerId": aid, "status": "ready", "createdAt": "2025-01-01T00:00:00Z",
            "lastModifiedAt": "2025-01-01T00:00:00Z", "baseAnalyzerId": "prebuilt-document", "models": dict(MODELS),
            "fieldSchema": {"fields": {"total": {"type": "number", "description": "Total"}}}}
    body.update(defn)
    return body


def inv(name: str, *items: dict, defaults: dict | None = None) -> Inventory:
    out = Inventory(resource=name, defaults=dict(DEFAULTS if defaults is None else defaults))
    for item in items:
        a = AnalyzersAdapter.asset(item)
        out.assets[(a.kind, a.id)] = a
    return out


def spec_for(flow: str = "grant", **rule_kw) -> object:
    r = Rule(name="cu", source="src", targets=("west", "north"), analyzers=("*",), **rule_kw)
    return make_spec(r, resources=[cu("src", flow=flow), cu("west", "westus", flow), cu("north", "northeurope", flow)])


def plan_for(spec, invs, state=None):
    return build_plan(spec, invs, state or State.new(), state_existed=state is not None,
                      created_at="2026-01-01T00:00:00+00:00")


def by_addr(plan):
    return {c.address: c for c in plan.changes}


def test_create_shows_each_roles_deployment_from_the_target_defaults():
    plan = plan_for(spec_for(), {"src": inv("src", analyzer("inv")), "west": inv("west"), "north": inv("north")})
    c = by_addr(plan)["cu/west/analyzer/inv"]
    assert c.actions == ["create"]
    assert c.steps == ["grant", "copy"]
    assert c.deployments == {
        "completion": {"model": "gpt-4.1", "deployment": "gpt41", "via": "target-defaults", "target_model": "gpt-4.1"},
        "embedding": {"model": "text-embedding-3-large", "deployment": "emb3l", "via": "target-defaults",
                      "target_model": "text-embedding-3-large"},
    }
    assert {"type": "target_defaults", "resource": "west", "models": DEFAULTS} in c.preconditions
    assert "definition" not in c.source.to_dict()  # not repeated per target: the digest names it
    assert plan.applyable


def test_missing_deployment_is_an_error_naming_model_role_and_fix():
    invs = {"src": inv("src", analyzer("inv")), "west": inv("west", defaults={"gpt-4.1": "gpt41"}), "north": inv("north")}
    plan = plan_for(spec_for(), invs)
    assert not plan.applyable
    [err] = [e for e in plan.errors if e.startswith("cu/west/analyzer/inv")]
    assert "lacks a deployment for model text-embedding-3-large (role embedding)" in err
    assert "deployments.west.embedding" in err


def test_ga_override_becomes_a_planned_defaults_change_applied_first():
    spec = spec_for(deployments={"west": {"completion": "gpt41-dr"}})
    invs = {"src": inv("src", analyzer("inv")), "west": inv("west"), "north": inv("north")}
    plan = plan_for(spec, invs)
    changes = by_addr(plan)
    d = changes["cu/west/model-deployment/gpt-4.1"]
    assert d.actions == ["update"]
    assert d.settings == {"model": "gpt-4.1", "deployment": "gpt41-dr", "previous": "gpt41"}
    assert any("resource-wide default of" in w for w in d.warnings)
    a = changes["cu/west/analyzer/inv"]
    assert a.deployments["completion"]["via"] == "planned-default"
    assert a.deployments["completion"]["deployment"] == "gpt41-dr"
    assert a.depends_on == ["cu/west/model-deployment/gpt-4.1"]
    assert a.flags.deployment_overrides is True
    # north has no override: no defaults change there
    assert "cu/north/model-deployment/gpt-4.1" not in changes
    assert plan.summary["update"] == 1


def test_embedding_mismatch_is_an_error_completion_mismatch_a_warning():
    west_defaults = {**DEFAULTS, "text-embedding-3-small": "emb3s", "gpt-4o": "gpt4o"}
    spec = spec_for("token", deployments={"west": {"completion": "gpt4o", "embedding": "emb3s"}})
    invs = {"src": inv("src", analyzer("inv")), "west": inv("west", defaults=west_defaults), "north": inv("north")}
    plan = plan_for(spec, invs)
    c = by_addr(plan)["cu/west/analyzer/inv"]
    assert c.steps == ["authorize", "copy"]
    assert c.deployments["embedding"] == {"model": "text-embedding-3-large", "deployment": "emb3s",
                                             "via": "override", "target_model": "text-embedding-3-small"}
    assert any("embedding model mismatch" in e and "(HTTP 400)" in e for e in c.errors)
    assert any("chat completion model differs" in w and "gpt-4o" in w for w in c.warnings)
    assert not plan.applyable
    # the completion mismatch alone still applies
    spec = spec_for("token", deployments={"west": {"completion": "gpt4o"}})
    plan = plan_for(spec, invs)
    assert plan.applyable
    assert any("chat completion model differs" in w for w in by_addr(plan)["cu/west/analyzer/inv"].warnings)


def test_changed_source_is_a_replace_with_a_readable_diff():
    old = analyzer("inv")
    new = analyzer("inv", fieldSchema={"fields": {"total": {"type": "number", "description": "Grand total"},
                                                  "vendor": {"type": "string"}}})
    state = State.new()
    for t in ("west", "north"):
        state.resources[f"cu/{t}/analyzer/inv"] = {
            "rule": "cu", "kind": "analyzer", "source_resource": "src", "source_id": "inv",
            "source_fingerprint": AnalyzersAdapter.asset(old).fingerprint, "target_resource": t, "target_id": "inv",
            "copied_at": "2025-01-02T00:00:00Z"}
    invs = {"src": inv("src", new), "west": inv("west", old), "north": inv("north", old)}
    plan = plan_for(spec_for(), invs, state)
    c = by_addr(plan)["cu/west/analyzer/inv"]
    assert c.actions == ["delete", "create"]
    assert c.flags.drift is False
    assert c.diff == ['~ fieldSchema.fields.total.description: "Total" -> "Grand total"',
                         '+ fieldSchema.fields.vendor: {"type": "string"}']
    assert "the source analyzer changed since the copy" in c.reason


def test_in_sync_is_no_op_and_foreign_analyzer_is_an_error():
    a = analyzer("inv")
    plan = plan_for(spec_for(), {"src": inv("src", a), "west": inv("west", a), "north": inv("north", a)})
    assert plan.summary["no-op"] == 2 and plan.applyable
    other = analyzer("inv", description="made by hand")
    plan = plan_for(spec_for(), {"src": inv("src", a), "west": inv("west", other), "north": inv("north", a)})
    assert any("will not overwrite an analyzer it did not create" in e for e in plan.errors)


def test_referenced_analyzers_are_copied_first_or_must_exist():
    router = analyzer("router", config={"contentCategories": {"invoice": {"analyzerId": "inv"},
                                                              "other": {"analyzerId": "prebuilt-layout"}}})
    invs = {"src": inv("src", analyzer("inv"), router), "west": inv("west"), "north": inv("north")}
    plan = plan_for(spec_for(), invs)
    assert by_addr(plan)["cu/west/analyzer/router"].depends_on == ["cu/west/analyzer/inv"]
    spec = spec_for()
    spec = replace(spec, rules=(replace(spec.rules[0], analyzers=("router",)),))
    plan = plan_for(spec, invs)
    assert any("references custom analyzer 'inv', which rule 'cu' does not copy" in e for e in plan.errors)


def test_targeting_an_analyzer_brings_its_dependencies():
    spec = spec_for(deployments={"west": {"completion": "gpt41-dr"}})
    invs = {"src": inv("src", analyzer("inv")), "west": inv("west"), "north": inv("north")}
    plan = build_plan(spec, invs, State.new(), state_existed=False, created_at="x", targets=("cu/west/analyzer/inv",))
    assert sorted(by_addr(plan)) == ["cu/west/analyzer/inv", "cu/west/model-deployment/gpt-4.1"]


def test_a_defaults_key_no_longer_needed_is_left_alone_even_with_prune():
    spec = spec_for(prune=True)  # no overrides any more
    state = State.new()
    state.resources["cu/west/model-deployment/gpt-4.1"] = {
        "rule": "cu", "kind": "model-deployment", "source_resource": "src", "source_id": "gpt-4.1",
        "source_fingerprint": "deployment=gpt41", "target_resource": "west", "target_id": "gpt-4.1",
        "copied_at": "2025-01-02T00:00:00Z", "value": "gpt41"}
    a = analyzer("inv")
    invs = {"src": inv("src", a), "west": inv("west", a), "north": inv("north", a)}
    plan = build_plan(spec, invs, state, state_existed=True, created_at="x", allow_delete=True)
    c = by_addr(plan)["cu/west/model-deployment/gpt-4.1"]
    assert c.actions == ["no-op"]
    assert "left as it is" in c.reason and "drplan state rm cu/west/model-deployment/gpt-4.1" in c.reason
    assert plan.summary["delete"] == 0


def test_description_or_tags_only_is_an_in_place_update_anything_else_a_replace():
    """issue 17 point 9: description and tags are the only mutable fields (contracts §5.2): PATCH, no recopy."""
    old = analyzer("inv", description="Invoices", tags={"team": "ap"})
    state = State.new()
    for t in ("west", "north"):
        state.resources[f"cu/{t}/analyzer/inv"] = {
            "rule": "cu", "kind": "analyzer", "source_resource": "src", "source_id": "inv",
            "source_fingerprint": AnalyzersAdapter.asset(old).fingerprint, "target_resource": t, "target_id": "inv",
            "copied_at": "2025-01-02T00:00:00Z"}
    # the source lost its description; on west someone retagged the copy by hand
    src = analyzer("inv", tags={"team": "ap"})
    hand = analyzer("inv", description="Invoices", tags={"owner": "bob"})
    plan = plan_for(spec_for(), {"src": inv("src", src), "west": inv("west", hand), "north": inv("north", old)}, state)
    west, north = by_addr(plan)["cu/west/analyzer/inv"], by_addr(plan)["cu/north/analyzer/inv"]
    assert north.actions == west.actions == ["update"] and plan.applyable
    assert north.settings == {"patch": {"description": ""}} and north.steps == ["patch"] and not north.flags.drift
    assert north.reason.startswith("description changed on the source: PATCH, no recopy")
    assert west.settings == {"patch": {"description": "", "tags": {"owner": None, "team": "ap"}}}
    assert west.flags.drift and "description and tags changed on the target, out of band: PATCH" in west.reason
    assert {"type": "target_fingerprint", "fingerprint": AnalyzersAdapter.asset(hand).fingerprint} in west.preconditions
    # a create-only field changed too: still a full recopy (replace)
    both = analyzer("inv", description="Invoices v2", tags={"team": "ap"}, config={"enableOcr": True})
    plan = plan_for(spec_for(), {"src": inv("src", both), "west": inv("west", old), "north": inv("north", old)}, state)
    assert by_addr(plan)["cu/west/analyzer/inv"].actions == ["delete", "create"]
