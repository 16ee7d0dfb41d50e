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
