"""The pull-request comment says what is true (issue 17 point 3): a downgrade is "allowed by the rule" only when the
rule allows it, else "refused" with the fix; the footer names the real plan file; truncation says what was cut and
how to see it; errors and warnings appear in every format (human, Markdown, JSON)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from helpers import inventory, make_spec, model, resource, rule

from drplan.plan.model import Plan
from drplan.plan.planfile import seal
from drplan.plan.planner import build_plan
from drplan.render.human import render_plan
from drplan.render.jsonout import render_plan_json
from drplan.render.markdown import COMMENT_LIMIT, render_markdown
from drplan.spec.model import Encryption
from drplan.state.model import State

T0 = "2024-01-01T00:00:00Z"


def downgrade_plan(allow: bool, n_models: int = 2) -> Plan:
    """A CMK source copied to a Microsoft-managed target, through the document family's own planning (so the
    wording the renderer relies on is the family's)."""
    res = [resource("src", encryption=Encryption.CUSTOMER_MANAGED), resource("plain", region="westus")]
    spec = make_spec(rule("prod", targets=("plain",), allow_encryption_downgrade=allow), resources=res,
                     tmp=Path("/work/specs"))
    models = [model(f"m{i:04d}", T0) for i in range(n_models)]
    invs = {"src": inventory("src", *models), "plain": inventory("plain", limit=100_000)}
    doc = build_plan(spec, invs, State(lineage="11111111-2222-3333-4444-555555555555", serial=1), state_existed=True,
                     created_at="2026-11-23T12:00:00+00:00")
    doc.drplan_version = "0.0.0-test"
    return seal(doc)


def test_an_allowed_downgrade_says_allowed():
    md = render_markdown(downgrade_plan(allow=True), plan_file="out/dr-plan.json")
    assert "**Encryption downgrade:** 2 copies" in md and "allowed by the rule" in md
    assert "refused" not in md


def test_a_refused_downgrade_says_refused_with_the_fix_never_allowed():
    md = render_markdown(downgrade_plan(allow=False), plan_file="out/dr-plan.json")
    assert "allowed by the rule" not in md
    assert "**Encryption downgrade refused:** 2 copies" in md
    assert "`allow_encryption_downgrade = true` on the rule (`prod`)" in md and "customer-managed key" in md
    assert "**Not applyable:**" in md


def test_footer_names_the_real_plan_file():
    plan = downgrade_plan(allow=True)
    md = render_markdown(plan, plan_file="out/dr-plan.json")
    assert f"`drplan apply out/dr-plan.json --digest {plan.digest}`" in md and "plan.json`" not in md.replace(
        "dr-plan.json`", "")
    unsaved = render_markdown(plan)
    assert "not saved (no `-o`)" in unsaved and "drplan apply" not in unsaved
    refused = render_markdown(downgrade_plan(allow=False), plan_file="p.json")
    assert "`drplan apply p.json` refuses it until the errors are fixed" in refused


def test_truncation_lists_what_was_cut_and_how_to_see_it():
    plan = downgrade_plan(allow=False, n_models=1500)
    md = render_markdown(plan, plan_file="big.json")
    assert len(md) <= COMMENT_LIMIT
    assert "listed one per line to fit a comment (their reason, flags, warnings, errors and diff are cut)" in md
    assert "`drplan show big.json` has every detail" in md
    cut = [line for line in md.splitlines() if "not shown (comment size limit)" in line]
    assert cut and "create" in cut[0] and "with errors" in cut[0] and "`drplan show big.json` lists them" in cut[0]
    # the plan-level error list is capped too, and says so
    many = copy.deepcopy(plan)
    many.errors = [f"error {i}" for i in range(30)]
    many.warnings = [f"warning {i}" for i in range(15)]
    md = render_markdown(many, plan_file="big.json")
    assert "… and 10 more error(s) not listed here; `drplan show big.json` lists them all" in md
    assert "… and 5 more warning(s) not listed here" in md


def test_errors_and_warnings_appear_in_every_format():
    plan = downgrade_plan(allow=False)
    plan = copy.deepcopy(plan)
    plan.warnings.append("a plan-level warning")
    for text in (render_plan(plan), render_markdown(plan, plan_file="p.json"), render_plan_json(plan)):
        assert "encryption downgrade refused" in text and "a plan-level warning" in text
    assert json.loads(render_plan_json(plan))["errors"]
