"""plan --replace ADDRESS (issue 17, Terraform's -replace): each family recopies a copy it sees in sync (or would only
update in place) through its own replace path; an address with no change is a plan error; the option is recorded."""

from __future__ import annotations

from families.test_cu_plan import analyzer
from families.test_cu_plan import inv as cu_inv
from families.test_cu_plan import spec_for as cu_spec
from families.test_fr_v2_plan import ADDR as V2_ADDR
from families.test_fr_v2_plan import SRC_ID, U1, v2model
from families.test_fr_v2_plan import recorded as v2_record
from families.test_fr_v2_plan import spec as v2_spec
from families.test_language_plan import ADDR as LANG_ADDR
from families.test_language_plan import T1, TRAIN, deployment, exported, project
from families.test_language_plan import inv as lang_inv
from families.test_language_plan import model as lang_model
from families.test_language_plan import record as lang_record
from families.test_language_plan import spec_for as lang_spec
from helpers import inventory, make_spec, model, rule
from plan.test_planner import T0, plan_for, record

from drplan.families.content_understanding.adapter import AnalyzersAdapter
from drplan.families.language.assets import content_digest
from drplan.plan.model import Plan
from drplan.render.human import render_plan
from drplan.render.markdown import render_markdown
from drplan.state.model import State

DI = "r/west/document-model/m1"
REASON = "replace requested (--replace)"


def di_plan(**kw):
    state = State.new()
    state.resources[DI] = record()
    invs = {"src": inventory("src", model("m1", T0)), "west": inventory("west", model("m1", T0))}
    return plan_for(make_spec(rule()), invs, state, **kw)


def the(plan, addr):
    return {c.address: c for c in plan.changes}[addr]


def test_di_in_sync_copy_is_replaced_delete_then_copy_and_the_option_recorded():
    assert the(di_plan(), DI).actions == ["no-op"]
    plan = di_plan(replace=(DI, DI))
    c = the(plan, DI)
    assert c.actions == ["delete", "create"] and c.reason.startswith(f"{REASON}: the copy on 'west' is in sync")
    assert {"type": "target_fingerprint", "fingerprint": c.target.fingerprint} in c.preconditions
    assert plan.applyable and plan.summary["replace"] == 1
    assert plan.options.replace == [DI] and plan.to_dict()["options"]["replace"] == [DI]
    assert Plan.from_dict(plan.to_dict()).options.replace == [DI]
    assert "replace" not in di_plan().to_dict()["options"]  # plans without it read back byte-identical
    assert f"Replace requested (--replace): {DI}" in render_plan(plan)
    assert f"replace requested (`--replace`): `{DI}`" in render_markdown(plan, plan_file="p.json")


def test_di_copy_found_by_its_lineage_tags_is_replaced_too():
    from dataclasses import replace

    from drplan.lineage import Lineage

    spec = make_spec(rule())
    src = model("m1", T0)
    ref = spec.resources["src"].resource_id or spec.resources["src"].endpoint
    copy = replace(model("m1", T0), lineage=Lineage("lost-state", ref, "m1", src.fingerprint))
    invs = {"src": inventory("src", src), "west": inventory("west", copy)}
    assert the(plan_for(spec, invs), DI).actions == ["no-op"]
    plan = plan_for(spec, invs, replace=(DI,))
    c = the(plan, DI)
    assert c.actions == ["delete", "create"] and c.reason.startswith(REASON) and "lineage tags" in c.reason
    assert not c.settings.get("refresh_record") and plan.applyable


def test_an_address_with_no_change_is_a_plan_error_naming_it():
    typo = "r/west/document-model/m2"
    plan = di_plan(replace=(typo,))
    assert not plan.applyable
    assert any(e.startswith(f"--replace {typo}: no change in this plan has this address") for e in plan.errors)
    # left out by targeting: no change in this plan either, and the message says why it may be
    plan = di_plan(replace=(DI,), excludes=("r/west/*",))
    assert any(f"--replace {DI}: no change" in e and "--target/--exclude" in e for e in plan.errors)


def test_replace_never_overrides_an_error_and_a_create_needs_nothing_more():
    # a model drplan did not copy (no record, no lineage tags): the refusal stays, nothing is recopied
    invs = {"src": inventory("src", model("m1", T0)), "west": inventory("west", model("m1", "2023-01-01T00:00:00Z"))}
    plan = plan_for(make_spec(rule()), invs, replace=(DI,))
    c = the(plan, DI)
    assert c.actions == ["no-op"] and not plan.applyable and any("will not overwrite" in e for e in c.errors)
    # the target has no copy: the create copies it anyway
    plan = plan_for(make_spec(rule()), {"src": inventory("src", model("m1")), "west": inventory("west")},
                    replace=(DI,))
    assert the(plan, DI).actions == ["create"] and plan.applyable
    assert any("--replace" in w for w in the(plan, DI).warnings)


def test_a_change_that_cannot_be_copied_again_is_an_error():
    """A record kept for a rule no longer in the spec cannot be recopied: --replace of it is an error on it."""
    state = State.new()
    state.resources["gone/west/document-model/m1"] = record(addr_rule="gone")
    invs = {"src": inventory("src"), "west": inventory("west", model("m1", T0))}
    plan = plan_for(make_spec(rule()), invs, state, replace=("gone/west/document-model/m1",))
    assert not plan.applyable
    assert any("--replace gone/west/document-model/m1: drplan cannot copy this document-model again" in e
               for e in plan.errors)


def test_fr_v2_in_sync_copy_is_copied_again_then_the_old_one_deleted():
    state = State.new()
    state.resources[V2_ADDR] = v2_record()
    invs = {"src": inventory("src", v2model(SRC_ID, U1)), "west": inventory("west", v2model("copy-1", U1))}
    plan = plan_for(v2_spec(), invs, state, replace=(V2_ADDR,))
    c = the(plan, V2_ADDR)
    assert c.actions == ["create", "delete"] and c.reason.startswith(REASON) and c.target.id == "copy-1"
    assert plan.applyable


def _cu_state(a: dict) -> State:
    state = State.new()
    for t in ("west", "north"):
        state.resources[f"cu/{t}/analyzer/inv"] = {
            "rule": "cu", "kind": "analyzer", "source_resource": "src", "source_id": "inv",
            "source_fingerprint": AnalyzersAdapter.asset(a).fingerprint, "target_resource": t, "target_id": "inv",
            "copied_at": "2025-01-02T00:00:00Z"}
    return state


def test_cu_in_sync_and_description_only_copies_are_recopied_with_allow_replace():
    old = analyzer("inv", description="Invoices")
    new = analyzer("inv", description="Invoices (EU)")
    west, north = "cu/west/analyzer/inv", "cu/north/analyzer/inv"
    invs = {"src": cu_inv("src", new), "west": cu_inv("west", new), "north": cu_inv("north", old)}
    plan = plan_for(cu_spec(), invs, _cu_state(old), replace=(west, north))
    w, n = the(plan, west), the(plan, north)
    assert w.actions == n.actions == ["delete", "create"] and plan.applyable
    assert w.reason.startswith(f"{REASON}: the analyzer on 'west' has the source's definition")
    assert n.reason.startswith(f"{REASON}: only the description changed on the source, which a PATCH would")
    assert "patch" not in n.settings and n.steps == ["grant", "copy"]
    # a foreign analyzer with the source's definition (not recorded as drplan's copy) is never overwritten
    plan = plan_for(cu_spec(), {"src": cu_inv("src", new), "west": cu_inv("west", new), "north": cu_inv("north", new)},
                    replace=(west,))
    assert not plan.applyable and any(e.startswith(f"{west}: --replace {west}: drplan cannot copy") for e in plan.errors)


def test_language_in_sync_project_is_exported_and_imported_again_with_its_training():
    state = State.new()
    state.resources[LANG_ADDR] = lang_record()
    spec = lang_spec(train=TRAIN)
    invs = {"src": lang_inv("src", project()),
            "west": lang_inv("west", project(modified=T1, models=[lang_model()], deployments=[deployment()]))}
    plan = plan_for(spec, invs, state, replace=(LANG_ADDR,))
    c = the(plan, LANG_ADDR)
    assert c.actions == ["delete", "create"] and c.reason.startswith(REASON) and plan.applyable
    assert c.steps == ["export", "import", "train", "deploy"] and c.flags.destructive
    # not exported at plan time (the state vouches): apply checks the fresh export against the recorded digest
    assert c.source.extra["content_digest"] == content_digest(exported())
    # a project only needing training (an update) is recopied wholesale too
    invs["west"] = lang_inv("west", project(modified=T1, models=[], deployments=[]))
    c = the(plan_for(spec, invs, state, replace=(LANG_ADDR,)), LANG_ADDR)
    assert c.actions == ["delete", "create"] and c.reason.startswith(REASON)
