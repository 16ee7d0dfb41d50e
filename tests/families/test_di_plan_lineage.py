"""Copies identified by lineage, not by timestamps (issue 13): the planner's decisions for Document Intelligence /
Form Recognizer v3 on both service behaviours (a copy that keeps its source's createdDateTime, pre-2024; a copy that
gets its own, 2024 on), from the state first and from the copy's lineage tags when the state has no record."""

from __future__ import annotations

import dataclasses

from helpers import arm_id, inventory, make_spec, model, rule

from drplan.families.document_intelligence.adapter import fingerprint
from drplan.lineage import Lineage, read_lineage_tags, same_fingerprint, tag_value
from drplan.plan.drift import find_drift
from drplan.plan.planner import build_plan
from drplan.render.human import render_plan, summary_line
from drplan.state.model import State

T0 = "2024-01-01T00:00:00Z"  # the source's createdDateTime
COPY_T = "2024-08-01T19:08:17Z"  # a copy's own createdDateTime (2024 service)
T1 = "2024-09-01T00:00:00Z"
ADDR = "r/west/document-model/m1"
LINEAGE = "11111111-2222-3333-4444-555555555555"


def plan_for(invs, state=None, *, existed=None):
    st = state or State.new()
    return build_plan(make_spec(rule()), invs, st, state_existed=existed if existed is not None else state is not None,
                      created_at="2026-01-01T00:00:00+00:00")


def tagged(created, *, state=LINEAGE, source="m1", version=T0, resource=None):
    tags = Lineage(state, resource or arm_id("src"), source, fingerprint(version)).tags()
    return dataclasses.replace(model("m1", created), tags=tags, lineage=read_lineage_tags(tags))


def recorded(target_created=None, source_time=T0):
    rec = {"rule": "r", "kind": "document-model", "source_resource": "src", "source_id": "m1",
           "source_fingerprint": fingerprint(source_time), "target_resource": "west", "target_id": "m1",
           "copied_at": "2024-08-01T19:08:20Z"}
    if target_created:
        rec["target_fingerprint"] = fingerprint(target_created)
    return rec


def state_with(*records):
    st = State(lineage=LINEAGE, serial=3)
    for rec in records:
        st.resources[ADDR] = rec
    return st


def change(plan):
    return next(c for c in plan.changes if c.address == ADDR)


def test_in_sync_by_state_when_the_copy_has_its_own_created_time():
    plan = plan_for({"src": inventory("src", model("m1", T0)), "west": inventory("west", tagged(COPY_T))},
                    state_with(recorded(COPY_T)))
    c = change(plan)
    assert c.actions == ["no-op"] and not c.errors and "in sync" in c.reason
    assert summary_line(plan) == "No changes. 1 copy in sync."


def test_in_sync_by_state_when_the_copy_kept_the_source_time():
    plan = plan_for({"src": inventory("src", model("m1", T0)), "west": inventory("west", tagged(T0))},
                    state_with(recorded(T0)))
    assert change(plan).actions == ["no-op"] and not change(plan).errors


def test_a_copy_rebuilt_out_of_band_is_drift_in_plan_and_check():
    st = state_with(recorded(COPY_T))
    plan = plan_for({"src": inventory("src", model("m1", T0)), "west": inventory("west", model("m1", T1))}, st)
    c = change(plan)
    assert c.actions == ["delete", "create"] and c.flags.drift
    assert "rebuilt or replaced out of band" in c.reason
    kinds = [f.kind for f in find_drift(plan, st.resources)]
    assert kinds == ["copy-changed"]  # the source did not change: target drift only, listed once


def test_source_rebuilt_is_a_replace():
    plan = plan_for({"src": inventory("src", model("m1", T1)), "west": inventory("west", tagged(COPY_T))},
                    state_with(recorded(COPY_T)))
    c = change(plan)
    assert c.actions == ["delete", "create"] and not c.flags.drift
    assert "rebuilt since the copy" in c.reason


def test_older_record_without_target_fingerprint_still_in_sync_by_its_tags():
    plan = plan_for({"src": inventory("src", model("m1", T0)), "west": inventory("west", tagged(COPY_T))},
                    state_with(recorded()))
    assert change(plan).actions == ["no-op"]


def test_lost_state_copy_found_by_tags_is_recorded_not_copied():
    plan = plan_for({"src": inventory("src", model("m1", T0)), "west": inventory("west", tagged(COPY_T))})
    c = change(plan)
    assert c.actions == ["no-op"] and not c.errors and plan.applyable
    rec = c.settings["refresh_record"]
    assert rec["adopted"] == "lineage-tags" and rec["target_fingerprint"] == fingerprint(COPY_T)
    assert rec["lineage"]["source_id"] == "m1" and rec["lineage"]["state"] == LINEAGE
    assert "apply will update 1 state record" in summary_line(plan)


def test_copy_of_another_state_is_an_error_naming_both_lineages():
    other = "99999999-0000-0000-0000-000000000000"
    plan = plan_for({"src": inventory("src", model("m1", T0)), "west": inventory("west", tagged(COPY_T, state=other))},
                    State(lineage=LINEAGE, serial=1))
    c = change(plan)
    assert c.actions == ["no-op"] and not plan.applyable
    assert other in c.errors[0] and LINEAGE in c.errors[0] and "drplan adopt" in c.errors[0]


def test_copy_of_another_source_is_an_error():
    plan = plan_for({"src": inventory("src", model("m1", T0)),
                     "west": inventory("west", tagged(COPY_T, resource=arm_id("elsewhere")))})
    assert "copy of m1" in change(plan).errors[0] and "elsewhere" in change(plan).errors[0]


def test_untagged_copy_with_equal_created_time_is_foreign():
    plan = plan_for({"src": inventory("src", model("m1", T0)), "west": inventory("west", model("m1", T0))})
    c = change(plan)
    assert c.errors and "carries no drplan lineage" in c.errors[0]
    text = render_plan(plan)
    assert "No changes" not in text and "cannot be applied" in text.splitlines()[-1]


def test_lost_state_and_older_source_version_in_tags_is_a_replace():
    plan = plan_for({"src": inventory("src", model("m1", T1)), "west": inventory("west", tagged(COPY_T, version=T0))})
    assert change(plan).actions == ["delete", "create"]


def test_fingerprint_compatibility_and_tag_limits():
    assert same_fingerprint(fingerprint(T0), fingerprint(T0, "2024-01-02T00:00:00Z"))  # an older record lacks modified=
    assert not same_fingerprint(fingerprint(T0), fingerprint(T1))
    assert not same_fingerprint("created=x", "digest=y")  # nothing shared: not the same version
    long_id = "/subscriptions/" + "x" * 300
    tag = tag_value(long_id)
    assert len(tag) <= 256 and tag.startswith("sha256:")
    a = Lineage(LINEAGE, long_id, "m1", "created=1")
    assert read_lineage_tags(a.tags()) is not None and read_lineage_tags(a.tags()).same_version(a)
    assert all(len(k) <= 128 and len(v) <= 256 for k, v in a.tags().items())
    assert read_lineage_tags({"drplan-lineage": LINEAGE}) is None  # partial lineage is not drplan's


def test_no_state_recovers_the_one_lineage_its_copies_name():
    plan = plan_for({"src": inventory("src", model("m1", T0)), "west": inventory("west", tagged(COPY_T))})
    assert plan.state.lineage is None and plan.state.recover_lineage == LINEAGE


def test_no_state_and_copies_of_several_states_is_an_error():
    other = "99999999-0000-0000-0000-000000000000"
    spec = make_spec(rule(targets=("west", "north")))
    invs = {"src": inventory("src", model("m1", T0)), "west": inventory("west", tagged(COPY_T)),
            "north": inventory("north", tagged(COPY_T, state=other))}
    plan = build_plan(spec, invs, State.new(), state_existed=False, created_at="2026-01-01T00:00:00+00:00")
    assert plan.state.recover_lineage is None and len(plan.errors) == 2
    assert all(LINEAGE in e and other in e and "drplan adopt" in e for e in plan.errors)


def test_unfinished_journal_entry_is_shown_by_plan_and_check():
    st = state_with()
    st.journal[ADDR] = {"step": "copy-requested", "updated": "2026-12-04T10:00:00.000Z", "action": "create"}
    plan = plan_for({"src": inventory("src", model("m1", T0)), "west": inventory("west", tagged(COPY_T))}, st)
    c = change(plan)
    # found by its lineage, unfinished in the journal: the plan records it (and is never "no changes")
    assert any("stopped at step 'copy-requested'" in w and "record it:" in w for w in c.warnings)
    assert c.settings["unfinished"]["step"] == "copy-requested" and "[unfinished apply: record it]" in c.reason
    findings = find_drift(plan, st.resources, st.journal)
    assert ("unfinished", ADDR) in {(f.kind, f.address) for f in findings}
