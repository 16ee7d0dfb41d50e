"""Content Understanding end to end: the real CLI against a real emulator process. Both copy flows, deployments
that differ per target, /defaults changes planned and applied first, plan errors (missing deployment, embedding
mismatch), a completion-mismatch warning that still applies, a changed analyzer replaced with a readable diff, a wrong
decryption key, copy order for a router analyzer, and kill-and-resume with no duplicate."""

from __future__ import annotations

import json
import re
import textwrap

import pytest
from e2e_support import SLOW_COPY, SUB, Emu, emulator_fixtures, read_json

KEYS = {"cusrc": "cu-key-src-5a5a5a", "cuwest": "cu-key-west-6b6b6b", "cunorth": "cu-key-north-7c7c7c"}
TOKEN_KEY = "token-key-9d9d9d-secret"
ENV = {f"KEY_{n.upper()}": k for n, k in KEYS.items()} | {"CU_TOKEN_KEY": TOKEN_KEY}
API = "2025-11-01"

CONFIG = f"""
seed = 11
[settings]
# 0: a copy has ended when drplan first polls it, so an apply does not sit out drplan's 1 s poll interval.
# The module's real-process test puts copy_seconds back up (SLOW_COPY), so the poll loop runs there.
copy_seconds = 0
retry_after_seconds = 0
authorization_ttl_seconds = 3600
page_size = 2

[accounts.cusrc]
region = "eastus"
key = "{KEYS['cusrc']}"
resource_id = "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/cusrc"
token_flow = true
deployments = {{ "gpt41-east" = "gpt-4.1", "te3l-east" = "text-embedding-3-large" }}
model_deployments = {{ "gpt-4.1" = "gpt41-east", "text-embedding-3-large" = "te3l-east" }}

[[accounts.cusrc.analyzers]]
analyzer_id = "invoice"
description = "Invoices"
tags = {{ team = "ap" }}
base_analyzer_id = "prebuilt-document"
models = {{ completion = "gpt-4.1", embedding = "text-embedding-3-large" }}
field_schema = {{ name = "invoice", fields = {{ total = {{ type = "number", description = "Total" }} }} }}

[[accounts.cusrc.analyzers]]
analyzer_id = "receipt"
base_analyzer_id = "prebuilt-document"
models = {{ completion = "gpt-4.1", embedding = "text-embedding-3-large" }}
field_schema = {{ name = "receipt", fields = {{ merchant = {{ type = "string" }} }} }}

[[accounts.cusrc.analyzers]]
analyzer_id = "router"
base_analyzer_id = "prebuilt-document"
models = {{ completion = "gpt-4.1", embedding = "text-embedding-3-large" }}
config = {{ enableSegment = true, contentCategories = {{ invoice = {{ analyzerId = "invoice" }}, receipt = {{ analyzerId = "receipt" }} }} }}

[[accounts.cusrc.analyzers]]
analyzer_id = "scratch"
base_analyzer_id = "prebuilt-document"

[accounts.cuwest]
region = "westus2"
key = "{KEYS['cuwest']}"
resource_id = "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/cuwest"
token_flow = true
deployments = {{ "gpt41-w" = "gpt-4.1", "te3l-w" = "text-embedding-3-large", "gpt4o-w" = "gpt-4o" }}
model_deployments = {{ "gpt-4.1" = "gpt41-w", "text-embedding-3-large" = "te3l-w", "gpt-4o" = "gpt4o-w" }}

[accounts.cunorth]
region = "northeurope"
key = "{KEYS['cunorth']}"
resource_id = "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/cunorth"
token_flow = true
deployments = {{ "gpt41-n" = "gpt-4.1", "te3l-n" = "text-embedding-3-large", "te3s-n" = "text-embedding-3-small" }}
model_deployments = {{ "text-embedding-3-large" = "te3l-n", "text-embedding-3-small" = "te3s-n" }}
"""
SELECTED = {"invoice", "receipt", "router"}


cu_emulator, emu = emulator_fixtures(CONFIG, "cu_emulator")


def analyzers(emu: Emu, account: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    url = emu.url_of(account, f"contentunderstanding/analyzers?api-version={API}")
    while url:
        r = emu.http.get(url, headers={"Ocp-Apim-Subscription-Key": KEYS[account]})
        r.raise_for_status()
        body = r.json()
        out.update({a["analyzerId"]: a for a in body["value"]})
        url = body.get("nextLink")
    return out


def defaults(emu: Emu, account: str) -> dict[str, str]:
    r = emu.http.get(emu.url_of(account, f"contentunderstanding/defaults?api-version={API}"),
                     headers={"Ocp-Apim-Subscription-Key": KEYS[account]})
    r.raise_for_status()
    return r.json()["modelDeployments"]


DEFINITION = ("description", "tags", "baseAnalyzerId", "config", "fieldSchema", "models")


def same_definition(a: dict, b: dict) -> bool:
    return all(a.get(k) == b.get(k) for k in DEFINITION)


@pytest.fixture
def cu_spec(tmp_path, emu):
    def write(flow: str = "grant", rule_extra: str = "", north: str = 'completion = "gpt41-n"') -> str:
        text = "version = 1\n"
        for name, region in (("cusrc", "eastus"), ("cuwest", "westus2"), ("cunorth", "northeurope")):
            text += textwrap.dedent(f"""
                [resources.{name}]
                family = "content-understanding"
                endpoint = "{emu.endpoint(name)}"
                region = "{region}"
                resource_id = "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/{name}"
                api_version = "{API}"
                key_env = "KEY_{name.upper()}"
                copy_flow = "{flow}"
                """)
        text += textwrap.dedent("""
            [[replicate]]
            name = "cu"
            source = "cusrc"
            targets = ["cuwest", "cunorth"]
            analyzers = ["invoice", "receipt", "router"]
            """) + textwrap.dedent(rule_extra)
        if north:
            text += f"\n[replicate.deployments.cunorth]\n{north}\n"
        (tmp_path / "dr.toml").write_text(text, encoding="utf-8")
        return "dr.toml"

    return write


def assert_converged(emu: Emu, tmp_path) -> None:
    state = read_json(tmp_path / "drplan.state.json")
    assert state["journal"] == {}
    for addr, rec in state["resources"].items():  # every family answers "where did this copy come from" alike
        if "/analyzer/" in addr:
            assert rec["lineage"]["state"] == state["lineage"] and rec["lineage"]["source_resource"].endswith("/cusrc")
            assert rec["lineage"]["source_version"] == rec["source_fingerprint"] == rec["target_fingerprint"]
    source = analyzers(emu, "cusrc")
    for target in ("cuwest", "cunorth"):
        copies = analyzers(emu, target)
        assert set(copies) == SELECTED, copies  # exactly the selected analyzers: no duplicate, nothing else
        for aid, a in copies.items():
            assert a["status"] == "ready"
            assert same_definition(a, source[aid]), (a, source[aid])


def test_ga_flow_copies_with_per_target_deployments_then_no_op(emu, cu_spec, drplan, tmp_path):
    """Content Understanding end to end: every run a real process, copies polled while they run."""
    emu.admin("PUT", "settings", SLOW_COPY)
    cu_spec()
    r = drplan("plan", "dr.toml", "-o", "plan.json", "--detailed-exitcode", "-v", env=ENV, process=True)
    assert r.code == 2, r.text
    assert "Plan: 6 to create, 1 to update" in r.out, r.out
    assert "scratch" not in r.out
    # reviewers see which deployment each model role uses on each target, and why
    assert "completion: model gpt-4.1 -> deployment gpt41-w (the target's /defaults)" in r.out
    assert "completion: model gpt-4.1 -> deployment gpt41-n (the target's /defaults, as this plan sets it)" in r.out
    assert "/defaults 'gpt-4.1': (unset) -> gpt41-n" in r.out
    plan = read_json(tmp_path / "plan.json")
    changes = {c["address"]: c for c in plan["changes"]}
    assert changes["cu/cunorth/analyzer/router"]["depends_on"] == [
        "cu/cunorth/analyzer/invoice", "cu/cunorth/analyzer/receipt", "cu/cunorth/model-deployment/gpt-4.1"]
    md = drplan("show", "plan.json", "--format", "markdown", env=ENV, process=True)
    assert "gpt41-n" in md.out and "as this plan sets it" in md.out

    r = drplan("apply", "plan.json", env=ENV, process=True)
    assert r.code == 0, r.text
    assert_converged(emu, tmp_path)
    assert defaults(emu, "cunorth")["gpt-4.1"] == "gpt41-n"
    # the router was copied after the analyzers it routes to
    log = [e for e in emu.admin("GET", "requests") if e["account"] == "cunorth" and e["route"] == "cu:copy"]
    order = [e["path"].rsplit("/", 1)[-1].split(":")[0] for e in log]
    assert order.index("router") > max(order.index("invoice"), order.index("receipt")), order
    state = read_json(tmp_path / "drplan.state.json")
    rec = state["resources"]["cu/cunorth/analyzer/invoice"]
    assert rec["deployments"]["completion"] == {"model": "gpt-4.1", "deployment": "gpt41-n"}
    assert state["resources"]["cu/cunorth/model-deployment/gpt-4.1"]["value"] == "gpt41-n"

    r = drplan("plan", "dr.toml", "--detailed-exitcode", env=ENV, process=True)
    assert r.code == 0 and "No changes" in r.out, r.text
    assert drplan("check", "dr.toml", env=ENV, process=True).code == 0


def test_missing_deployment_and_embedding_mismatch_are_not_applyable(emu, cu_spec, drplan, tmp_path):
    cu_spec(north="")
    r = drplan("plan", "dr.toml", "-o", "plan.json", env=ENV)
    assert r.code == 1, r.text
    assert "'cunorth' lacks a deployment for model gpt-4.1 (role completion)" in r.out
    assert drplan("apply", "plan.json", env=ENV).code == 1
    assert analyzers(emu, "cunorth") == {}

    cu_spec(north='completion = "gpt41-n"\nembedding = "te3s-n"')
    r = drplan("plan", "dr.toml", "-o", "plan.json", env=ENV)
    assert r.code == 1, r.text
    assert "embedding model mismatch: the analyzer uses text-embedding-3-large, but deployment te3s-n on 'cunorth' " \
           "serves text-embedding-3-small" in r.out
    a = drplan("apply", "plan.json", env=ENV)
    assert a.code == 1 and "cannot be applied" in a.text
    assert analyzers(emu, "cunorth") == {} and analyzers(emu, "cuwest") == {}


def test_completion_mismatch_warns_and_applies(emu, cu_spec, drplan, tmp_path):
    cu_spec(rule_extra='[replicate.deployments.cuwest]\ncompletion = "gpt4o-w"\n')
    r = drplan("plan", "dr.toml", "-o", "plan.json", env=ENV)
    assert r.code == 0, r.text
    assert "chat completion model differs: the analyzer uses gpt-4.1, deployment gpt4o-w on 'cuwest' serves gpt-4o" in r.out
    r = drplan("apply", "plan.json", env=ENV)
    assert r.code == 0, r.text
    assert "the service warns" in r.text
    west = analyzers(emu, "cuwest")
    assert set(west) == SELECTED and any(w.get("code") == "CompletionModelMismatch" for w in west["invoice"]["warnings"])
    assert defaults(emu, "cuwest")["gpt-4.1"] == "gpt4o-w"


def test_changed_analyzer_shows_a_diff_and_is_replaced(emu, cu_spec, drplan, tmp_path):
    cu_spec()
    assert drplan("apply", "dr.toml", "--auto-approve", env=ENV).code == 0
    emu.admin("POST", "accounts/cusrc/analyzers", {
        "analyzer_id": "invoice", "replace": True, "description": "Invoices", "tags": {"team": "ap"},
        "base_analyzer_id": "prebuilt-document",
        "models": {"completion": "gpt-4.1", "embedding": "text-embedding-3-large"},
        "field_schema": {"name": "invoice", "fields": {"total": {"type": "number", "description": "Grand total"},
                                                       "vendor": {"type": "string"}}}})
    r = drplan("plan", "dr.toml", "-o", "plan.json", "--detailed-exitcode", env=ENV)
    assert r.code == 2, r.text
    assert "Plan: 0 to create, 0 to replace" not in r.out and "2 to replace" in r.out
    assert '~ fieldSchema.fields.total.description: "Total" -> "Grand total"' in r.out
    assert '+ fieldSchema.fields.vendor: {"type": "string"}' in r.out
    md = drplan("show", "plan.json", "--format", "markdown", env=ENV).out
    assert "```diff" in md and "Grand total" in md
    r = drplan("apply", "plan.json", env=ENV)
    assert r.code == 0, r.text
    assert_converged(emu, tmp_path)
    assert analyzers(emu, "cuwest")["invoice"]["fieldSchema"]["fields"]["vendor"] == {"type": "string"}


def test_token_flow_with_encrypted_token_and_overrides_in_the_body(emu, cu_spec, drplan, tmp_path):
    cu_spec("token", rule_extra='encryption_key_env = "CU_TOKEN_KEY"\n')
    r = drplan("plan", "dr.toml", "-o", "plan.json", env=ENV)
    assert r.code == 0, r.text
    assert "Plan: 6 to create, 0 to replace" in r.out  # overrides travel in the copy body: no /defaults change
    assert "completion: model gpt-4.1 -> deployment gpt41-n (override in the rule)" in r.out
    r = drplan("apply", "plan.json", env=ENV)
    assert r.code == 0, r.text
    assert_converged(emu, tmp_path)
    assert "gpt-4.1" not in defaults(emu, "cunorth")
    for path in ("plan.json", "drplan.state.json"):
        assert TOKEN_KEY not in (tmp_path / path).read_text()
    assert TOKEN_KEY not in r.text


def test_wrong_decryption_key_is_a_clear_error(emu, cu_spec, drplan, tmp_path):
    cu_spec("token", rule_extra='encryption_key_env = "CU_TOKEN_KEY"\ndecryption_key_env = "CU_OTHER_KEY"\n')
    env = {**ENV, "CU_OTHER_KEY": "not-the-token-key-000"}
    assert drplan("plan", "dr.toml", "-o", "plan.json", env=env).code == 0
    r = drplan("apply", "plan.json", env=env)
    assert r.code == 1, r.text
    assert "InvalidDecryptionKey" in r.text
    assert "decryption_key_env must hold the key the token was encrypted with" in r.text
    assert "Traceback" not in r.text
    for secret in (TOKEN_KEY, "not-the-token-key-000"):
        assert secret not in r.text and secret not in (tmp_path / "drplan.state.json").read_text()
    assert analyzers(emu, "cuwest") == {}
    # fixed: the same plan resumes and converges
    r = drplan("apply", "plan.json", env={**env, "CU_OTHER_KEY": TOKEN_KEY})
    assert r.code == 0, r.text
    assert_converged(emu, tmp_path)


@pytest.mark.parametrize("flow,point", [
    ("grant", "after-journal-granting"), ("grant", "after-authorize"), ("grant", "after-copy-sent"),
    ("grant", "after-journal-copying"), ("grant", "after-copy-done"), ("token", "after-authorize"),
    ("token", "after-copy-sent"),
])
def test_kill_and_resume_converges_without_duplicates(flow, point, emu, cu_spec, drplan, tmp_path):
    cu_spec(flow)
    assert drplan("plan", "dr.toml", "-o", "plan.json", env=ENV).code == 0
    r = drplan("apply", "plan.json", "--parallelism", "1", env={**ENV, "DRPLAN_TEST_CRASH_AT": point})
    assert r.code == 137, r.text
    journal = read_json(tmp_path / "drplan.state.json")["journal"]
    assert journal, "the killed apply left its progress in the journal"
    assert "authorizationToken" not in json.dumps(journal)
    r = drplan("apply", "plan.json", env=ENV)
    assert r.code == 0, r.text
    assert_converged(emu, tmp_path)
    assert drplan("plan", "dr.toml", "--detailed-exitcode", env=ENV).code == 0


def test_apply_refuses_when_the_targets_defaults_moved_since_the_plan(emu, cu_spec, drplan, tmp_path):
    """Apply uses exactly the deployments the reviewed plan shows: if the target's /defaults changed since, the plan
    is stale (exit 3) and nothing is copied."""
    cu_spec()
    assert drplan("plan", "dr.toml", "-o", "plan.json", env=ENV).code == 0
    r = emu.http.patch(emu.url_of("cuwest", f"contentunderstanding/defaults?api-version={API}"),
                       json={"modelDeployments": {"text-embedding-3-large": "te3l-other"}},
                       headers={"Ocp-Apim-Subscription-Key": KEYS["cuwest"],
                                "Content-Type": "application/merge-patch+json"})
    r.raise_for_status()
    r = drplan("apply", "plan.json", env=ENV)
    assert r.code == 3, r.text
    assert "cuwest /defaults text-embedding-3-large is now te3l-other; the plan expected te3l-w" in r.text
    assert analyzers(emu, "cuwest") == {} and analyzers(emu, "cunorth") == {}
    for key in KEYS.values():
        assert key not in r.text and key not in (tmp_path / "plan.json").read_text()


def test_out_of_band_changes_are_drift_that_check_reports_and_apply_repairs(emu, cu_spec, drplan, tmp_path):
    cu_spec()
    assert drplan("apply", "dr.toml", "--auto-approve", env=ENV).code == 0
    emu.admin("DELETE", "accounts/cuwest/analyzers/receipt")
    emu.admin("POST", "accounts/cunorth/analyzers", {
        "analyzer_id": "invoice", "replace": True, "base_analyzer_id": "prebuilt-document",
        "models": {"completion": "gpt-4.1", "embedding": "text-embedding-3-large"}, "description": "edited by hand"})
    r = drplan("check", "dr.toml", env=ENV)
    assert r.code == 2, r.text
    assert "copy-missing" in r.out and "cu/cuwest/analyzer/receipt" in r.out
    assert "copy-changed" in r.out and "cu/cunorth/analyzer/invoice" in r.out
    r = drplan("plan", "dr.toml", "-o", "plan.json", env=ENV)
    assert "the analyzer on the target was changed out of band" in r.out
    assert '~ description: "edited by hand" -> "Invoices"' in r.out
    assert drplan("apply", "plan.json", env=ENV).code == 0
    assert_converged(emu, tmp_path)
    r = drplan("check", "dr.toml", env=ENV)
    assert r.code == 0, r.text
    # counted as drill counts: the /defaults keys are target settings, not copies (issue 17 point 9)
    assert re.search(r"In sync: \d+ copies and \d+ target settings? match the spec", r.out), r.out


def test_lost_answers_and_throttling_still_converge_without_duplicates(emu, cu_spec, drplan, tmp_path):
    """Every copy's answer is lost after the target accepted it (the copy runs), and the accounts throttle: apply
    looks at the target instead of copying blindly again, and converges."""
    cu_spec()
    emu.admin("PUT", "faults", {"drop_after_rate": 1.0, "routes": ["cu:copy"]})
    emu.admin("PUT", "faults", {"account": "cuwest", "rate_limit_per_second": 4})
    emu.admin("PUT", "settings", {"retry_after_seconds": 1, "page_size": 50})  # one page per list: fewer requests
    assert drplan("plan", "dr.toml", "-o", "plan.json", env=ENV).code == 0
    r = drplan("apply", "plan.json", env=ENV)
    assert r.code == 0, r.text
    counts = emu.counters()
    sent = [e for e in emu.admin("GET", "requests") if e["route"] == "cu:copy" and e["status"] != 429]
    emu.admin("PUT", "faults", {"account": "cuwest", "rate_limit_per_second": 0})  # so the test can read freely
    assert_converged(emu, tmp_path)
    # one copy request per analyzer and target was taken: a lost answer is never blindly retried (a 429 is: the
    # service did not take that request)
    assert len(sent) == 6, sent
    assert counts["throttled"].get("cuwest", 0) > 0  # and the throttled account was honoured (429 + Retry-After)
    assert drplan("plan", "dr.toml", "--detailed-exitcode", env=ENV).code == 0
