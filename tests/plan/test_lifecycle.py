"""Lifecycle warnings (issue 17 point 8): a source or copy whose expirationDateTime (Asset.expires) falls within the
rule's window, or has passed, is a warning on its change, with the date and what to do."""

from __future__ import annotations

from dataclasses import replace

from helpers import inventory, make_spec, model, rule

from drplan.families.document_intelligence.adapter import fingerprint
from drplan.plan.lifecycle import EXPIRY
from drplan.plan.planner import build_plan
from drplan.state.model import State

NOW = "2026-01-01T00:00:00+00:00"


def _plan(spec, invs):
    return build_plan(spec, invs, State.new(), state_existed=False, created_at=NOW)


def _expiry(plan):
    return [w for c in plan.changes for w in c.warnings if w.startswith(EXPIRY)]


def test_source_expiring_in_10_days_warns_with_threshold_30_not_5():
    src = replace(model("m1"), expires="2026-01-11T00:00:00Z")
    invs = {"src": inventory("src", src), "west": inventory("west")}
    warned = _expiry(_plan(replace(make_spec(rule()), expiry_warning_days=30), invs))
    assert warned == [f"{EXPIRY} the source src/m1 expires on 2026-01-11 00:00 UTC (in 10 day(s)); rebuild (retrain) "
                      "the model on the source before then, then plan and apply to recopy it (a copy keeps its "
                      "source's expiry)"]
    assert _expiry(_plan(replace(make_spec(rule()), expiry_warning_days=5), invs)) == []
    # the rule's own threshold wins over the spec's
    assert _expiry(_plan(replace(make_spec(rule(expiry_warning_days=5)), expiry_warning_days=30), invs)) == []
    assert len(_expiry(_plan(replace(make_spec(rule(expiry_warning_days=30)), expiry_warning_days=5), invs))) == 1


def test_expired_source_warns_even_with_threshold_0():
    src = replace(model("m1"), expires="2025-12-01T00:00:00Z")
    invs = {"src": inventory("src", src), "west": inventory("west")}
    warned = _expiry(_plan(replace(make_spec(rule()), expiry_warning_days=0), invs))
    assert len(warned) == 1 and "expired on 2025-12-01 00:00 UTC (31 day(s) ago)" in warned[0], warned


def test_copy_expiring_is_named_and_recopy_suggested():
    created = "2024-01-01T00:00:00Z"
    src = replace(model("m1", created), expires="2027-06-01T00:00:00Z")  # rebuilt: a later expiry
    copy = replace(model("m1", created), expires="2026-01-20T00:00:00Z")
    plan = _plan(make_spec(rule()), {"src": inventory("src", src), "west": inventory("west", copy)})
    assert _expiry(plan) == [f"{EXPIRY} the copy west/m1 expires on 2026-01-20 00:00 UTC (in 19 day(s)); recopy it "
                             "from the source (plan and apply)"]
    assert copy.fingerprint == fingerprint(created)


def test_source_and_copy_with_one_expiry_are_one_warning():
    src = replace(model("m1"), expires="2026-01-05T00:00:00Z")
    copy = replace(model("m1"), expires="2026-01-05T00:00:00Z")
    warned = _expiry(_plan(make_spec(rule()), {"src": inventory("src", src), "west": inventory("west", copy)}))
    assert len(warned) == 1 and "the source src/m1 and its copy west/m1 expires" not in warned[0]
    assert warned[0].startswith(f"{EXPIRY} the source src/m1 and its copy west/m1 expire on 2026-01-05"), warned


def test_no_expiration_date_no_warning():
    invs = {"src": inventory("src", model("m1")), "west": inventory("west", model("m1"))}
    plan = _plan(replace(make_spec(rule()), expiry_warning_days=3650), invs)
    assert plan.changes and _expiry(plan) == []
