"""The planner's side of renames and orphans (issue 17 point 6): [[moved]] blocks followed on a view of the state,
and the records no rule claims, in every renderer."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from helpers import inventory, make_spec, model, resource, rule

from drplan.families.document_intelligence.adapter import fingerprint
from drplan.plan.model import Action
from drplan.plan.moves import moved_view
from drplan.plan.planfile import seal
from drplan.plan.planner import build_plan
from drplan.render.human import render_plan
from drplan.render.jsonout import render_plan_json
from drplan.render.markdown import render_markdown
from drplan.spec.model import Family, Move
from drplan.state.model import State

T0 = "2024-01-01T00:00:00Z"


def record(rule_name: str, target: str, asset: str) -> dict:
    return {"rule": rule_name, "kind": "document-model", "source_resource": "src", "source_id": asset,
            "source_fingerprint": fingerprint(T0), "target_resource": target, "target_id": asset,
            "target_fingerprint": fingerprint(T0), "copied_at": "2024-03-01T00:00:00Z"}


def state_of(*records: tuple[str, str, str]) -> State:
    st = State(lineage="11111111-2222-3333-4444-555555555555", serial=3)
    for r, t, a in records:
        st.resources[f"{r}/{t}/document-model/{a}"] = record(r, t, a)
    return st


def plan_of(spec, st, allow_delete=False, **inv):
    invs = {"src": inventory("src", model("a", T0), model("b", T0)),
            "west": inventory("west", model("a", T0), model("b", T0)), "north": inventory("north")}
    invs.update(inv)
    return seal(build_plan(spec, invs, st, state_existed=True, allow_delete=allow_delete,
                           created_at="2026-11-23T12:00:00+00:00"))


def test_a_moved_rule_plans_no_ops_that_say_where_from():
    spec = dataclasses.replace(make_spec(rule("new", models=("a", "b"))), moves=(Move("old", "new", 0),))
    st = state_of(("old", "west", "a"), ("old", "west", "b"))
    plan = plan_of(spec, st)
    assert [(c.address, c.action, c.settings.get("moved_from")) for c in plan.changes] == [
        ("new/west/document-model/a", Action.NO_OP, "old/west/document-model/a"),
        ("new/west/document-model/b", Action.NO_OP, "old/west/document-model/b")]
    assert plan.changes[0].reason.startswith("moved from old/west/document-model/a (moved[0] in the spec); ")
    assert sorted(st.resources) == ["old/west/document-model/a", "old/west/document-model/b"]  # untouched
    assert "Plan: 0 to create, 0 to replace, 0 to delete, 2 unchanged, 2 to move in state." in render_plan(plan)


def test_a_move_whose_records_are_gone_does_nothing_and_a_taken_address_is_a_plan_error():
    spec = dataclasses.replace(make_spec(rule("new", models=("a",))), moves=(Move("old", "new", 0),))
    plan = plan_of(spec, state_of(("new", "west", "a")))
    assert [c.settings for c in plan.changes] == [{}] and plan.applyable
    assert "No changes. 1 copy in sync." in render_plan(plan)
    plan = plan_of(spec, state_of(("new", "west", "a"), ("old", "west", "a")))
    assert not plan.applyable
    assert plan.errors == ["moved[0]: cannot move old/west/document-model/a to new/west/document-model/a: "
                           "new/west/document-model/a is already recorded in the state; forget one of them (drplan "
                           "state rm) and plan again"]


def test_the_most_specific_block_wins():
    moves = (Move("old", "new", 0), Move("old/west/document-model/b", "other/west/document-model/b", 1))
    view = moved_view(moves, state_of(("old", "west", "a"), ("old", "west", "b")))
    assert view.moved == {"new/west/document-model/a": ("old/west/document-model/a", 0),
                          "other/west/document-model/b": ("old/west/document-model/b", 1)}
    assert view.state.resources["other/west/document-model/b"]["rule"] == "other" and not view.errors


def test_records_no_rule_claims_are_kept_deleted_or_unreachable():
    spec = make_spec(rule("new", models=("a",)))  # the rule "gone" was removed; north left the spec too
    spec = dataclasses.replace(spec, resources={k: v for k, v in spec.resources.items() if k != "north"})
    st = state_of(("new", "west", "a"), ("gone", "west", "b"), ("gone", "north", "b"))
    kept = plan_of(spec, st)
    by = {c.address: c for c in kept.changes}
    orphan = by["gone/west/document-model/b"]
    assert orphan.action is Action.NO_OP and orphan.settings == {"orphaned": "gone"}
    assert orphan.reason.startswith("kept: orphaned: recorded in state by rule 'gone', which is no longer in the spec")
    assert "drplan state rm gone/west/document-model/b" in orphan.reason and "--allow-delete" in orphan.reason
    assert "[[moved]] from = 'gone'" in orphan.warnings[0]
    far = by["gone/north/document-model/b"]
    assert far.action is Action.NO_OP and "'north' is no longer in the spec either, so drplan has no endpoint" in far.reason
    text = render_plan(kept)
    assert "No changes. 1 copy in sync. 2 state records no rule claims (orphaned: kept; see the warnings)." in text
    assert "orphaned: rule 'gone' is no longer in the spec" in text
    md = render_markdown(kept)
    assert "**Orphaned:** 2 state records of rule(s) `gone`" in md and "gone/west/document-model/b" in md

    deleted = plan_of(spec, st, allow_delete=True)
    by = {c.address: c for c in deleted.changes}
    assert by["gone/west/document-model/b"].action is Action.DELETE
    assert by["gone/west/document-model/b"].preconditions == [{"type": "target_fingerprint",
                                                              "fingerprint": fingerprint(T0)}]
    assert by["gone/north/document-model/b"].action is Action.NO_OP  # no endpoint, no key: never a delete
    doc = json.loads(render_plan_json(deleted))
    assert {c["address"]: (c["actions"], c["settings"]) for c in doc["changes"] if c["rule"] == "gone"} == {
        "gone/west/document-model/b": (["delete"], {"orphaned": "gone"}),
        "gone/north/document-model/b": (["no-op"], {"orphaned": "gone"})}
    assert "Plan: 0 to create, 0 to replace, 1 to delete, 2 unchanged. 1 state record no rule claims" in \
        render_plan(deleted)


def test_a_stale_duplicate_is_never_deleted():
    # The rule was renamed without a moved block: the new rule plans the same copy; the old record must not delete it.
    spec = make_spec(rule("new", models=("a",)))
    plan = plan_of(spec, state_of(("new", "west", "a"), ("old", "west", "a")), allow_delete=True)
    stale = plan.change("old/west/document-model/a")
    assert stale is not None and stale.action is Action.NO_OP and not stale.preconditions
    assert "is now planned by new/west/document-model/a" in stale.reason and plan.applyable


def test_a_record_on_a_resource_now_of_another_family_is_kept():
    spec = make_spec(rule("new", models=("a",)), resources=[
        resource("src"), resource("west", region="westus"),
        dataclasses.replace(resource("north", region="northeurope"), family=Family.LANGUAGE, api_version="2023-04-01")],
        tmp=Path("/tmp"))
    plan = plan_of(spec, state_of(("new", "west", "a"), ("gone", "north", "b")), allow_delete=True)
    kept = plan.change("gone/north/document-model/b")
    assert kept is not None and kept.action is Action.NO_OP and "now of another family (language)" in kept.reason


def test_an_orphan_changed_on_the_target_since_it_was_recorded_is_never_deleted():
    # The record says drplan made b at T0; the asset at that id now has another fingerprint (rebuilt or replaced out
    # of band, maybe someone else's model): --allow-delete keeps it and says why.
    spec = make_spec(rule("new", models=("a",)))
    st = state_of(("new", "west", "a"), ("gone", "west", "b"))
    st.resources["gone/west/document-model/b"]["target_fingerprint"] = fingerprint("2023-01-01T00:00:00Z")
    plan = plan_of(spec, st, allow_delete=True)
    kept = plan.change("gone/west/document-model/b")
    assert kept is not None and kept.action is Action.NO_OP and not kept.preconditions
    assert "changed on the target since drplan recorded the copy" in kept.reason
    assert "drplan does not delete it" in kept.warnings[0] and "drplan state rm gone/west/document-model/b" in kept.reason
    assert plan.summary["delete"] == 0 and plan.applyable
