from __future__ import annotations

from helpers import inventory, make_spec, model, resource, rule

from drplan.plan.planner import build_plan
from drplan.spec.model import AssetKind, Encryption
from drplan.state.model import State

T0 = "2024-01-01T00:00:00Z"
T1 = "2024-02-01T00:00:00Z"


def plan_for(spec, invs, state=None, **kw):
    return build_plan(spec, invs, state or State.new(), state_existed=state is not None,
                      created_at="2026-01-01T00:00:00+00:00", **kw)


def by_addr(plan):
    return {c.address: c for c in plan.changes}


def record(addr_rule="r", target="west", tid="m1", fp_time=T0, src="m1"):
    from drplan.families.document_intelligence.adapter import fingerprint

    return {"rule": addr_rule, "kind": "document-model", "source_resource": "src", "source_id": src,
            "source_fingerprint": fingerprint(fp_time), "target_resource": target, "target_id": tid,
            "copied_at": "2024-03-01T00:00:00Z"}


def test_create_when_target_lacks_model():
    spec = make_spec(rule(targets=("west", "north")))
    plan = plan_for(spec, {"src": inventory("src", model("m1")), "west": inventory("west"), "north": inventory("north")})
    changes = by_addr(plan)
    assert set(changes) == {"r/west/document-model/m1", "r/north/document-model/m1"}
    c = changes["r/west/document-model/m1"]
    assert c.actions == ["create"]
    assert "'west' has no model 'm1'" in c.reason
    assert {"type": "target_absent"} in c.preconditions
    assert plan.summary == {"create": 2, "replace": 0, "delete": 0, "update": 0, "no-op": 0}
    assert plan.applyable is True


def test_no_op_when_copy_carries_source_created_time():
    spec = make_spec(rule())
    plan = plan_for(spec, {"src": inventory("src", model("m1")), "west": inventory("west", model("m1"))})
    assert by_addr(plan)["r/west/document-model/m1"].actions == ["no-op"]


def test_replace_when_source_rebuilt_since_copy():
    spec = make_spec(rule())
    state = State.new()
    state.resources["r/west/document-model/m1"] = record()
    plan = plan_for(spec, {"src": inventory("src", model("m1", T1)), "west": inventory("west", model("m1", T0))}, state)
    c = by_addr(plan)["r/west/document-model/m1"]
    assert c.actions == ["delete", "create"]
    assert "rebuilt" in c.reason
    assert c.flags.drift is False


def test_drift_when_recorded_copy_deleted_out_of_band():
    spec = make_spec(rule())
    state = State.new()
    state.resources["r/west/document-model/m1"] = record()
    plan = plan_for(spec, {"src": inventory("src", model("m1")), "west": inventory("west")}, state)
    c = by_addr(plan)["r/west/document-model/m1"]
    assert c.actions == ["create"]
    assert c.flags.drift is True
    assert "missing" in c.reason


def test_foreign_model_with_same_id_is_an_error_not_an_overwrite():
    spec = make_spec(rule())
    plan = plan_for(spec, {"src": inventory("src", model("m1", T1)), "west": inventory("west", model("m1", T0))})
    assert plan.applyable is False
    assert any("drplan did not create" in e or "will not overwrite" in e for e in plan.errors)


def test_encryption_downgrade_is_an_error_unless_allowed():
    res = [resource("src", encryption=Encryption.CUSTOMER_MANAGED), resource("west"), resource("north")]
    invs = {"src": inventory("src", model("m1")), "west": inventory("west")}
    plan = plan_for(make_spec(rule(), resources=res), invs)
    c = by_addr(plan)["r/west/document-model/m1"]
    assert c.flags.encryption_downgrade is True
    assert plan.applyable is False
    assert "allow_encryption_downgrade = true" in plan.errors[0]

    plan = plan_for(make_spec(rule(allow_encryption_downgrade=True), resources=res), invs)
    c = by_addr(plan)["r/west/document-model/m1"]
    assert c.flags.encryption_downgrade is True and plan.applyable is True
    assert "x-ms-forms-copy-degrade" in c.warnings[0]


def test_cmk_to_cmk_is_not_a_downgrade():
    res = [resource("src", encryption=Encryption.CUSTOMER_MANAGED),
           resource("west", encryption=Encryption.CUSTOMER_MANAGED), resource("north")]
    plan = plan_for(make_spec(rule(), resources=res), {"src": inventory("src", model("m1")), "west": inventory("west")})
    assert by_addr(plan)["r/west/document-model/m1"].flags.encryption_downgrade is False


def test_quota_exceeded_is_a_plan_error():
    spec = make_spec(rule())
    invs = {"src": inventory("src", model("a"), model("b"), model("c")), "west": inventory("west", count=8, limit=10)}
    plan = plan_for(spec, invs)
    assert plan.applyable is False
    assert "3 new model(s) planned but only 2 of its 10 custom model slots are free" in plan.errors[0]


def test_globs_exclude_and_rename():
    spec = make_spec(rule(models=("inv-*",), exclude=("*-draft",), rename={"inv-a": "inv-a-dr"}))
    invs = {"src": inventory("src", model("inv-a"), model("inv-draft"), model("other")), "west": inventory("west")}
    assert set(by_addr(plan_for(spec, invs))) == {"r/west/document-model/inv-a-dr"}


def test_classifiers_planned_with_their_own_kind():
    spec = make_spec(rule(models=(), classifiers=("router",)))
    invs = {"src": inventory("src", model("router", kind=AssetKind.DOCUMENT_CLASSIFIER), model("router")),
            "west": inventory("west")}
    assert set(by_addr(plan_for(spec, invs))) == {"r/west/document-classifier/router"}


def test_prune_needs_rule_flag_and_allow_delete():
    state = State.new()
    state.resources["r/west/document-model/gone"] = record(tid="gone", src="gone")
    invs = {"src": inventory("src", model("m1")), "west": inventory("west", model("m1"), model("gone"))}
    plan = plan_for(make_spec(rule(prune=True)), invs, state)
    assert by_addr(plan)["r/west/document-model/gone"].actions == ["no-op"]
    assert "--allow-delete" in by_addr(plan)["r/west/document-model/gone"].warnings[0]

    plan = plan_for(make_spec(rule(prune=True)), invs, state, allow_delete=True)
    assert by_addr(plan)["r/west/document-model/gone"].actions == ["delete"]

    plan = plan_for(make_spec(rule(prune=False)), invs, state, allow_delete=True)
    assert by_addr(plan)["r/west/document-model/gone"].actions == ["no-op"]


def test_two_rules_claiming_one_target_id_is_an_error():
    spec = make_spec(rule("a"), rule("b"))
    plan = plan_for(spec, {"src": inventory("src", model("m1")), "west": inventory("west")})
    assert plan.applyable is False
    assert any("claimed by several changes" in e for e in plan.errors)


def test_plan_records_state_lineage_and_serial():
    state = State.new()
    state.serial = 7
    plan = plan_for(make_spec(rule()), {"src": inventory("src"), "west": inventory("west")}, state)
    assert plan.state.lineage == state.lineage and plan.state.serial == 7
    assert plan.warnings  # the rule matches nothing: say so
