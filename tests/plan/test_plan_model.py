"""The typed plan (drplan.plan.model, issue 14): JSON only at the file boundary, and the JSON unchanged by it.

* Every family's plan survives ``to_dict -> from_dict -> to_dict`` unchanged, and its typed fields are typed.
* Plans saved as format 1.1 before the plan was typed in memory (tests/plan/fixtures, written by drplan at commit
  4d0d5fe from tests/plan_scenarios.py) still load, pass the digest and schema checks, and serialise back to the
  same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from plan_scenarios import family_plans

from drplan.fsutil import readable_json
from drplan.plan.model import Action, Change, Flags, Plan, Source, Target
from drplan.plan.planfile import compute_digest, load_plan, save_plan
from drplan.spec.model import AssetKind

FIXTURES = Path(__file__).parent / "fixtures"
PLANS = family_plans()


@pytest.mark.parametrize("family", sorted(PLANS))
def test_every_familys_plan_round_trips_unchanged(family: str) -> None:
    plan = PLANS[family]
    doc = plan.to_dict()
    again = Plan.from_dict(json.loads(json.dumps(doc)))
    assert again == plan
    assert again.to_dict() == doc
    assert readable_json(again.to_dict()) == readable_json(doc)
    assert compute_digest(doc) == plan.digest
    for c in again.changes:
        assert isinstance(c, Change) and isinstance(c.kind, AssetKind) and isinstance(c.action, Action)
        assert isinstance(c.source, Source) and isinstance(c.target, Target) and isinstance(c.flags, Flags)


def test_the_family_plans_cover_what_the_format_carries() -> None:
    """The round trip above is only worth what these plans hold: every action spelling, every optional key."""
    changes = [c.to_dict() for p in PLANS.values() for c in p.changes]
    assert {tuple(c["actions"]) for c in changes} == {("create",), ("delete", "create"), ("create", "delete"),
                                                      ("delete",), ("update",), ("no-op",)}
    assert {c["kind"] for c in changes} >= {"document-model", "custom-model", "analyzer", "model-deployment",
                                            "language-project"}
    for key in ("depends_on", "steps", "deployments", "settings", "diff"):
        assert any(key in c for c in changes), key
    assert {k for c in changes for k in c["flags"]} == {"encryption_downgrade", "drift", "deployment_overrides",
                                                         "destructive"}
    assert {k for c in changes for k in c["source"]} >= {"content_digest"}
    assert {k for c in changes for k in c["target"]} >= {"modified", "content_digest"}


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("plan-1.1-*.json")), ids=lambda p: p.stem)
def test_a_1_1_plan_saved_before_the_typed_model_loads_and_saves_byte_identical(path: Path, tmp_path: Path) -> None:
    raw = path.read_bytes()
    plan = load_plan(path)  # format, digest and schema checks on the raw JSON, then typed
    assert plan.format_version == "1.1" and plan.digest == json.loads(raw)["digest"]
    assert plan.to_dict() == json.loads(raw)
    out = tmp_path / path.name
    save_plan(plan, out)
    assert out.read_bytes() == raw


def test_optional_keys_stay_absent_and_present_false_stays_false() -> None:
    """``None`` in the typed plan means "not in the JSON": a flag saved as false must not vanish, nor appear."""
    change = Change("r/west/analyzer/a", "r", AssetKind.ANALYZER, Action.NO_OP, "in sync",
                    Source("src", "a", "sha256:1"), Target("west", "a", True, "sha256:1"),
                    Flags(deployment_overrides=False))
    doc = change.to_dict()
    assert doc["flags"] == {"encryption_downgrade": False, "drift": False, "deployment_overrides": False}
    assert not {"depends_on", "steps", "deployments", "settings", "diff"} & set(doc)
    assert Change.from_dict(doc).to_dict() == doc
    replace = Change.from_dict({**doc, "actions": ["create", "delete"]})
    assert replace.action is Action.REPLACE and replace.create_before_destroy
    assert replace.to_dict()["actions"] == ["create", "delete"]
