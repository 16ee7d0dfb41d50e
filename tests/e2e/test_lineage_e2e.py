"""Copies identified by lineage, not by timestamps (issue 13), end to end: the real CLI against an emulator whose
targets behave like the service today (a copy gets its own createdDateTime) and like the service before 2024 (a copy
keeps its source's): plan -> apply -> plan converges on both; a lost state finds the copies by their lineage tags; a
hand-made copy stays foreign until adopted; a copy rebuilt out of band is drift; a lost copy operation is found by its
full target URL when two targets hold the same id."""

from __future__ import annotations

import json

import pytest
from e2e_support import SUB, emulator_fixtures, read_json

from drplan.lineage import TAGS

KEYS = {"lsrc": "lineage-key-src-5a5a", "lnew": "lineage-key-new-6b6b", "lkeep": "lineage-key-keep-7c7c",
        "lfrsrc": "lineage-key-frsrc-8d8d", "lfrnew": "lineage-key-frnew-9e9e", "lfrkeep": "lineage-key-frkeep-0f0f"}
ENV = {f"KEY_{n.upper()}": k for n, k in KEYS.items()}
MODELS = {"invoice", "receipt"}

CONFIG = f"""
seed = 11

[settings]
page_size = 2
# 0: a copy has ended when drplan first polls it, so an apply does not sit out drplan's 1 s poll interval.
# test_lost_copy_operation_is_found_by_its_full_target_url makes copies slow, so they are resumed while running.
copy_seconds = 0
retry_after_seconds = 0

[accounts.lsrc]
region = "eastus"
key = "{KEYS['lsrc']}"

[[accounts.lsrc.models]]
model_id = "invoice"
description = "Invoices"
created = "2024-03-04T09:15:00Z"
expires = "2027-03-04T09:15:00Z"
tags = {{ team = "ap" }}

[[accounts.lsrc.models]]
model_id = "receipt"
created = "2024-04-11T14:02:00Z"
expires = "2027-04-11T14:02:00Z"

[[accounts.lsrc.classifiers]]
classifier_id = "router"
created = "2024-05-02T10:00:00Z"
doc_types = ["invoice", "receipt"]

[accounts.lnew]                 # today's service: a copy gets its own createdDateTime
region = "westus2"
key = "{KEYS['lnew']}"

[accounts.lkeep]                # the service before 2024: a copy keeps its source's createdDateTime
region = "northeurope"
key = "{KEYS['lkeep']}"
copy_keeps_created = true

[accounts.lfrsrc]               # Form Recognizer v3: the same copy protocol under /formrecognizer
region = "eastus2"
key = "{KEYS['lfrsrc']}"

[[accounts.lfrsrc.models]]
model_id = "form-a"
created = "2023-09-01T00:00:00Z"
api_version = "2023-07-31"

[accounts.lfrnew]
region = "westus3"
key = "{KEYS['lfrnew']}"

[accounts.lfrkeep]
region = "centralus"
key = "{KEYS['lfrkeep']}"
copy_keeps_created = true
"""

lineage_emulator, lemu = emulator_fixtures(CONFIG, "lineage_emulator")


def _resource(name: str, emu, region: str, family: str = "document-intelligence", api: str = "2024-11-30") -> str:
    return f"""
[resources.{name}]
family = "{family}"
endpoint = "{emu.endpoint(name)}"
region = "{region}"
resource_id = "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/{name}"
api_version = "{api}"
key_env = "KEY_{name.upper()}"
"""


@pytest.fixture
def spec(tmp_path, lemu):
    text = "version = 1\n" + _resource("lsrc", lemu, "eastus") + _resource("lnew", lemu, "westus2") \
        + _resource("lkeep", lemu, "northeurope") + """
[[replicate]]
name = "prod"
source = "lsrc"
targets = ["lnew", "lkeep"]
models = ["*"]
classifiers = ["router"]
"""
    (tmp_path / "dr.toml").write_text(text, encoding="utf-8")
    return tmp_path / "dr.toml"


@pytest.fixture
def run(drplan):
    return lambda *args, **kw: drplan(*args, env={**ENV, **kw.pop("env", {})}, keys=False, **kw)


def models(emu, account: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    url = emu.url_of(account, "documentintelligence/documentModels?api-version=2024-11-30")
    while url:
        r = emu.http.get(url, headers={"Ocp-Apim-Subscription-Key": KEYS[account]})
        r.raise_for_status()
        out.update({m["modelId"]: m for m in r.json()["value"] if not m["modelId"].startswith("prebuilt-")})
        url = r.json().get("nextLink")
        if url and "api-version" not in url:
            url += "&api-version=2024-11-30"
    return out


def copies_sent(emu) -> int:
    return emu.route_count("lsrc", "documentModels:copyTo") + emu.route_count("lsrc", "documentClassifiers:copyTo")


def test_plan_apply_plan_converges_on_both_service_behaviours(lemu, spec, run, tmp_path):
    r = run("plan", "dr.toml", "-o", "plan.json", "--detailed-exitcode")
    assert r.code == 2 and "Plan: 6 to create" in r.out, r.text
    r = run("apply", "plan.json")
    assert r.code == 0 and "Apply complete: 6 change(s) applied." in r.out, r.text
    src, new, keep = models(lemu, "lsrc"), models(lemu, "lnew"), models(lemu, "lkeep")
    for mid in MODELS:
        assert new[mid]["createdDateTime"] != src[mid]["createdDateTime"]  # the copy's own time
        assert keep[mid]["createdDateTime"] == src[mid]["createdDateTime"]  # the older behaviour
        for copy in (new[mid], keep[mid]):
            assert copy["expirationDateTime"] == src[mid]["expirationDateTime"]
            assert set(TAGS) <= set(copy["tags"]) and copy["tags"]["drplan-source-id"] == mid
    assert new["invoice"]["tags"]["team"] == "ap" and new["invoice"]["description"] == "Invoices"
    r = run("plan", "dr.toml", "--detailed-exitcode")
    assert r.code == 0 and "No changes. 6 copies in sync." in r.out, r.text
    state = read_json(tmp_path / "drplan.state.json")
    rec = state["resources"]["prod/lnew/document-model/invoice"]
    assert rec["lineage"] == {"state": state["lineage"], "source_id": "invoice",
                              "source_resource": rec["lineage"]["source_resource"],
                              "source_version": rec["source_fingerprint"]}
    assert rec["lineage"]["source_resource"].endswith("/accounts/lsrc") and rec["lineage_tags"] is True
    assert rec["target_fingerprint"].startswith("created=" + new["invoice"]["createdDateTime"][:19])
    assert run("check", "dr.toml").code == 0


def test_lost_state_finds_the_copies_by_their_tags(lemu, spec, run, tmp_path):
    """Models carry lineage tags: found and recorded, nothing copied. Classifier copies show no tags
    (DocumentClassifierDetails has none): each is a plan error that names the heuristic match and the adopt command;
    nothing destructive either way."""
    assert run("apply", "dr.toml", "--auto-approve").code == 0
    sent = copies_sent(lemu)
    (tmp_path / "drplan.state.json").unlink()
    r = run("plan", "dr.toml", "-o", "plan.json")
    assert "found by its lineage tags" in r.out and "apply will update" not in r.out, r.text
    plan = read_json(tmp_path / "plan.json")
    assert all(c["actions"] == ["no-op"] for c in plan["changes"])  # nothing destructive
    models_ = [c for c in plan["changes"] if c["kind"] == "document-model"]
    assert len(models_) == 4 and all(not c["errors"] and c["settings"]["refresh_record"] for c in models_)
    routers = [c["address"] for c in plan["changes"] if c["kind"] == "document-classifier"]
    assert all("looks like a copy" in e and "drplan adopt" in e for e in plan["errors"]) and len(plan["errors"]) == 2
    for addr in routers:
        r = run("adopt", "dr.toml", addr)
        assert r.code == 0 and "expirationDateTime and docTypes digest equal" in r.out, r.text
    r = run("plan", "dr.toml", "-o", "plan.json", "--detailed-exitcode")
    assert r.code == 0 and "No changes. 6 copies in sync. apply will update 4 state records." in r.out, r.text
    r = run("apply", "plan.json")
    assert r.code == 0, r.text
    state = read_json(tmp_path / "drplan.state.json")
    assert len(state["resources"]) == 6
    assert sorted(rec["adopted"] for rec in state["resources"].values()) == ["heuristic"] * 2 + ["lineage-tags"] * 4
    assert copies_sent(lemu) == sent  # nothing copied again
    r = run("plan", "dr.toml", "--detailed-exitcode")
    assert r.code == 0 and "No changes. 6 copies in sync." in r.out and "will update" not in r.out, r.text


def test_hand_made_copy_stays_foreign_until_adopted(lemu, spec, run, tmp_path):
    lemu.admin("POST", "accounts/lnew/models", {"model_id": "invoice", "created": "2024-03-04T09:15:00Z"})
    r = run("plan", "dr.toml", "-o", "plan.json")
    assert r.code == 1 or "cannot be applied" in r.out, r.text
    assert "carries no drplan lineage" in r.text and "No changes" not in r.text
    addr = "prod/lnew/document-model/invoice"
    r = run("adopt", "dr.toml", addr)
    assert r.code == 1 and "no drplan lineage tags" in r.err and "--assert-copy" in r.err, r.text
    r = run("adopt", "dr.toml", addr, "--assert-copy")
    assert r.code == 0 and "--assert-copy says so" in r.out, r.text
    state = read_json(tmp_path / "drplan.state.json")
    assert state["resources"][addr]["adopted"] == "asserted"
    r = run("plan", "dr.toml")
    assert r.code == 0 and "cannot be applied" not in r.out, r.text


def test_copy_by_an_older_drplan_is_adopted_by_the_heuristic(lemu, spec, run, tmp_path):
    """No tags, but the same expirationDateTime and docTypes as the source (what a copy keeps)."""
    lemu.admin("POST", "accounts/lkeep/models", {"model_id": "receipt", "created": "2024-04-11T14:02:00Z",
                                                 "expires": "2027-04-11T14:02:00Z", "doc_types": ["receipt"]})
    r = run("adopt", "dr.toml", "prod/lkeep/document-model/receipt")
    assert r.code == 0 and "expirationDateTime and docTypes digest equal" in r.out, r.text
    rec = read_json(tmp_path / "drplan.state.json")["resources"]["prod/lkeep/document-model/receipt"]
    assert rec["adopted"] == "heuristic" and rec["lineage_tags"] is False


def test_copy_rebuilt_out_of_band_is_drift(lemu, spec, run, tmp_path):
    assert run("apply", "dr.toml", "--auto-approve").code == 0
    # Someone deletes the copy and builds another under the same id: a new createdDateTime, same id.
    lemu.admin("DELETE", "accounts/lnew/models/receipt")
    lemu.admin("POST", "accounts/lnew/models", {"model_id": "receipt", "created": "2025-01-01T00:00:00Z"})
    r = run("plan", "dr.toml", "--detailed-exitcode")
    assert r.code == 2 and "rebuilt or replaced out of band" in r.out and "drift" in r.out, r.text
    r = run("check", "dr.toml", "--format", "json")
    assert r.code == 2, r.text
    findings = json.loads(r.out)["findings"]
    assert [(f["address"], f["kind"]) for f in findings] == [("prod/lnew/document-model/receipt", "copy-changed")]
    assert run("apply", "dr.toml", "--auto-approve").code == 0
    assert run("plan", "dr.toml", "--detailed-exitcode").code == 0


def test_lost_copy_operation_is_found_by_its_full_target_url(lemu, spec, run, tmp_path):
    """Two targets hold the same id, so the source's two copy operations have the same resourceLocation path (the
    account is in the host only). Applies killed between sending copyTo and journaling it, first towards lnew, then
    towards lkeep: resuming lnew's copy while both still run must poll lnew's operation, not the newer one of lkeep."""
    # both copies still run when the resume looks: a plan and a process start after the first copy began (about half
    # a second; a copy that ended before would still be found, but this case would not be tested)
    lemu.admin("PUT", "settings", {"copy_seconds": 2})
    crash = {"DRPLAN_TEST_CRASH_AT": "after-copy-sent"}
    for name, target in (("a.json", "lnew"), ("b.json", "lkeep")):
        r = run("plan", "dr.toml", "-o", name, "--target", f"prod/{target}/document-model/invoice")
        assert r.code == 0, r.text
        assert run("apply", name, env=crash).code == 137
    r = run("apply", "a.json")
    assert r.code == 0, r.text
    state = read_json(tmp_path / "drplan.state.json")
    op_url = state["resources"]["prod/lnew/document-model/invoice"]["operation_url"]
    op = lemu.http.get(op_url, headers={"Ocp-Apim-Subscription-Key": KEYS["lsrc"]}).json()
    assert op["resourceLocation"].startswith(lemu.endpoint("lnew") + "/"), op
    assert run("apply", "b.json").code == 0
    assert lemu.route_count("lsrc", "documentModels:copyTo") == 2  # one per target: no duplicate


def test_form_recognizer_v3_converges_on_both_service_behaviours(lemu, run, tmp_path):
    fr = {"family": "form-recognizer", "api": "2023-07-31"}
    text = "version = 1\n" + _resource("lfrsrc", lemu, "eastus2", **fr) + _resource("lfrnew", lemu, "westus3", **fr) \
        + _resource("lfrkeep", lemu, "centralus", **fr) + """
[[replicate]]
name = "forms"
source = "lfrsrc"
targets = ["lfrnew", "lfrkeep"]
models = ["form-a"]
"""
    (tmp_path / "dr.toml").write_text(text, encoding="utf-8")
    r = run("apply", "dr.toml", "--auto-approve")
    assert r.code == 0 and "2 change(s) applied" in r.out, r.text
    r = run("plan", "dr.toml", "--detailed-exitcode")
    assert r.code == 0 and "No changes. 2 copies in sync." in r.out, r.text
    state = read_json(tmp_path / "drplan.state.json")
    assert {rec["lineage_tags"] for rec in state["resources"].values()} == {True}
