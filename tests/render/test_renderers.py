"""Golden tests of the reviewer outputs (human, Markdown, JSON), and the comment-size limit."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import inventory, make_spec, model, resource, rule

from drplan.families.document_intelligence.adapter import fingerprint
from drplan.plan.planfile import seal
from drplan.plan.planner import build_plan
from drplan.render.human import render_plan
from drplan.render.jsonout import render_plan_json
from drplan.render.markdown import COMMENT_LIMIT, render_markdown
from drplan.schemas import first_error
from drplan.spec.model import Encryption
from drplan.state.model import State

GOLDEN = Path(__file__).parent / "golden"
T0, T1 = "2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z"


def sample_plan() -> dict:
    """A plan with every kind of change: create, replace, delete, no-op, downgrade, an error, a warning."""
    res = [resource("src", encryption=Encryption.CUSTOMER_MANAGED), resource("west", region="westus"),
           resource("north", region="northeurope", encryption=Encryption.CUSTOMER_MANAGED)]
    spec = make_spec(rule("prod", targets=("west", "north"), allow_encryption_downgrade=True, prune=True),
                     rule("legacy", targets=("north",), models=("old-*",)),
                     resources=res, tmp=Path("/work/specs"))
    state = State(lineage="11111111-2222-3333-4444-555555555555", serial=4)
    for addr, tid, tname in (("prod/north/document-model/invoice", "invoice", "north"),
                             ("prod/north/document-model/gone", "gone", "north"),
                             ("prod/west/document-model/receipt", "receipt", "west")):
        state.resources[addr] = {"rule": "prod", "kind": "document-model", "source_resource": "src", "source_id": tid,
                                 "source_fingerprint": fingerprint(T0), "target_resource": tname, "target_id": tid,
                                 "copied_at": "2024-03-01T00:00:00Z"}
    invs = {
        "src": inventory("src", model("invoice", T1), model("receipt", T0), model("old-form", T0)),
        "west": inventory("west", model("receipt", T0), count=1, limit=500),
        "north": inventory("north", model("invoice", T0), model("gone", T0), model("old-form", T1), count=3, limit=500),
    }
    doc = build_plan(spec, invs, state, state_existed=True, allow_delete=True,
                     created_at="2026-11-23T12:00:00+00:00")
    doc.drplan_version = "0.0.0-test"
    return seal(doc)


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed; review and regenerate with UPDATE_GOLDEN=1"


def test_sample_plan_covers_every_case_and_validates():
    plan = sample_plan()
    actions = {tuple(c.actions) for c in plan.changes}
    assert actions == {("create",), ("delete", "create"), ("delete",), ("no-op",)}
    assert plan.applyable is False and plan.errors
    assert first_error("plan.schema.json", plan.to_dict()) is None


def test_markdown_golden(monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    check_golden("plan.md", render_markdown(sample_plan(), plan_file="plan.json"))


def test_human_golden():
    check_golden("plan.txt", render_plan(sample_plan(), verbose=True))


def test_json_golden():
    text = render_plan_json(sample_plan())
    check_golden("plan.json", text)
    doc = json.loads(text)
    # Terraform-like vocabulary policy tools read
    assert {"format_version", "changes", "applyable", "errors", "summary", "digest"} <= set(doc)
    assert all({"address", "actions", "reason"} <= set(c) for c in doc["changes"])


def test_markdown_banners():
    md = render_markdown(sample_plan())
    assert "**Not applyable:**" in md
    assert "**Destructive:** 1 replace(s)" in md and "1 delete(s)" in md
    assert "**Encryption downgrade:** 2 copies" in md
    assert str(sample_plan().digest) in md
    assert "```diff\n- created=2024-01-01T00:00:00.000Z\n+ created=2024-02-01T00:00:00.000Z\n```" in md


@pytest.mark.parametrize("n", [1000, 5000])
def test_large_plan_fits_a_pr_comment(n):
    spec = make_spec(rule(targets=("west", "north")), tmp=Path("/work/specs"))
    invs = {"src": inventory("src", *[model(f"model-with-a-rather-long-name-{i:05d}") for i in range(n // 2)]),
            "west": inventory("west"), "north": inventory("north")}
    plan = seal(build_plan(spec, invs, State.new(), state_existed=False, created_at="2026-11-23T12:00:00+00:00"))
    assert len(plan.changes) == n
    md = render_markdown(plan)
    assert len(md) <= COMMENT_LIMIT
    assert "listed one per line to fit a comment" in md
    assert plan.digest in md  # the footer survives truncation
