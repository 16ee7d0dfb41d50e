from __future__ import annotations

import json

import pytest
from helpers import inventory, make_spec, model, rule

from drplan.errors import IncompatiblePlanError, PlanFileError, PlanTamperedError
from drplan.plan.planfile import load_plan, save_plan, seal
from drplan.plan.planner import build_plan
from drplan.state.model import State


@pytest.fixture
def plan(tmp_path):
    spec = make_spec(rule(), tmp=tmp_path)
    doc = build_plan(spec, {"src": inventory("src", model("m1")), "west": inventory("west")}, State.new(),
                     state_existed=False, created_at="2026-01-01T00:00:00+00:00")
    return seal(doc)


def test_round_trip_and_digest(plan, tmp_path):
    path = tmp_path / "plan.json"
    save_plan(plan, path)
    loaded = load_plan(path)
    assert loaded == plan
    assert loaded.digest.startswith("sha256:")
    # canonical: saving again yields identical bytes
    first = path.read_bytes()
    save_plan(loaded, path)
    assert path.read_bytes() == first


def test_tampered_plan_refused(plan, tmp_path):
    path = tmp_path / "plan.json"
    save_plan(plan, path)
    doc = json.loads(path.read_text())
    doc["changes"][0]["flags"]["encryption_downgrade"] = True  # a reviewer approved something else
    path.write_text(json.dumps(doc))
    with pytest.raises(PlanTamperedError, match="edited after it was made"):
        load_plan(path)


def test_unknown_format_version_refused(plan, tmp_path):
    doc = dict(plan.to_dict(), format_version="9.0")
    from drplan.plan.planfile import compute_digest

    doc["digest"] = compute_digest(doc)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(IncompatiblePlanError, match="format_version 9.0 is not supported"):
        load_plan(path)


def test_off_schema_plan_refused_even_with_matching_digest(plan, tmp_path):
    from drplan.plan.planfile import compute_digest

    doc = plan.to_dict()
    doc["changes"][0]["actions"] = ["teleport"]
    doc["digest"] = compute_digest(doc)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(IncompatiblePlanError, match="changes\\[0\\].actions"):
        load_plan(path)


def test_not_json_and_missing(tmp_path):
    (tmp_path / "dr.toml").write_text("version = 1")
    with pytest.raises(IncompatiblePlanError, match="not JSON"):
        load_plan(tmp_path / "dr.toml")
    with pytest.raises(PlanFileError, match="not found"):
        load_plan(tmp_path / "missing.json")


def test_plan_holds_no_secret_fields(plan):
    text = json.dumps(plan.to_dict()).lower()
    for word in ("accesstoken", "ocp-apim", "\"key\":"):
        assert word not in text


# Issue 18: seal and save stream the plan change by change; the bytes and the digest must be what the one-document
# encoders (fsutil.canonical_json, fsutil.readable_json) make, and seal's schema spot check must not let a typed plan
# through that the full check (load_plan) would refuse.


def _plans_to_check(tmp_path):
    from plan_scenarios import family_plans

    from drplan.plan.model import Plan

    plans = dict(family_plans())
    big = family_plans()["document-intelligence"]
    many = Plan.from_dict(big.to_dict())
    many.changes = [c for _ in range(1100) for c in big.changes]  # more than one batch of _BATCH changes
    plans["many"] = seal(many)
    empty = Plan.from_dict(big.to_dict())
    empty.changes = []
    plans["empty"] = seal(empty)
    return plans


def test_streamed_digest_and_file_equal_the_one_document_encodings(tmp_path):
    import hashlib

    from drplan.fsutil import canonical_json, readable_json
    from drplan.plan.planfile import compute_digest

    for name, plan in _plans_to_check(tmp_path).items():
        doc = plan.to_dict()
        body = {k: v for k, v in doc.items() if k != "digest"}
        assert plan.digest == compute_digest(doc) == "sha256:" + hashlib.sha256(canonical_json(body)).hexdigest(), name
        path = tmp_path / f"{name}.json"
        save_plan(plan, path)
        assert path.read_bytes() == readable_json(doc), name
        assert load_plan(path) == plan, name


def test_every_familys_typed_plan_passes_the_full_schema_check(tmp_path):
    """seal checks the header and one change per kind and action; this is the proof that the typed model builds
    plans the full check (what load_plan runs on untrusted files) accepts, change by change."""
    from drplan.schemas import first_error

    for name, plan in _plans_to_check(tmp_path).items():
        assert first_error("plan.schema.json", plan.to_dict()) is None, name


def test_seal_refuses_an_off_schema_change_and_names_it(plan):
    from drplan.plan.model import Plan

    bad = Plan.from_dict(plan.to_dict())
    bad.changes = [bad.changes[0], Plan.from_dict(plan.to_dict()).changes[0]]
    bad.changes[1].preconditions = [{"type": 7}]  # same kind and action as change 0: not in the spot sample alone
    bad.changes[0], bad.changes[1] = bad.changes[1], bad.changes[0]
    with pytest.raises(IncompatiblePlanError, match=r"the new plan: not a valid drplan plan at changes\[0\]"):
        seal(bad)


def test_a_plan_holding_a_lone_surrogate_is_refused_not_an_internal_error(tmp_path):
    from drplan.errors import IncompatiblePlanError

    path = tmp_path / "p.json"
    path.write_text('{"format_version": "1.0", "digest": "x", "warnings": ["\\ud800"]}')
    with pytest.raises(IncompatiblePlanError, match="invalid Unicode"):
        load_plan(path)
