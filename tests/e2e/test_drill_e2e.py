"""drplan drill and drplan output end to end (issue 16): the demo's accounts (Document Intelligence models and a
classifier, Content Understanding analyzers, a Language NER project) plus Form Recognizer v2.1 models, copied by a
real apply; then drills that are ready, degraded and failed on every family, a drill with the source region down
and one against a throttling target, and the failover map in its three formats (v2.1 minted ids included)."""

from __future__ import annotations

import json
import re
from importlib import resources

import jsonschema
import pytest
from e2e_support import ROOT, Emu, emulator_fixtures, read_json

from drplan.cli.demo import DEMO_KEYS

#: output needs no resource key; the demo spec reads endpoints of two resources from Resource Manager
ARM_ONLY = {"DRPLAN_DEMO_ARM_TOKEN": DEMO_KEYS["DRPLAN_DEMO_ARM_TOKEN"]}

_pkg = resources.files("drplan.demo")
CONFIG = _pkg.joinpath("emulator.toml").read_text(encoding="utf-8") + """
[[accounts.contoso-eastus.v2_models]]
model_id = "7d3c8a52-0c5e-4b7e-9e52-3f2d6a1b9c01"
model_name = "claims-v2"
created = "2021-06-01T00:00:00Z"
"""
V2 = """
[resources.fr-eastus]
family = "form-recognizer"
endpoint = "{endpoint:contoso-eastus}"
region = "eastus"
resource_id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/contoso-eastus"
api_version = "2.1"
key_env = "DRPLAN_DEMO_EASTUS_KEY"

[resources.fr-westus2]
family = "form-recognizer"
endpoint = "{endpoint:contoso-westus2}"
region = "westus2"
resource_id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/contoso-westus2"
api_version = "2.1"
key_env = "DRPLAN_DEMO_WESTUS2_KEY"

[[replicate]]
name = "forms"
source = "fr-eastus"
targets = ["fr-westus2"]
models = ["claims-*"]
"""
SOURCE_V2 = "7d3c8a52-0c5e-4b7e-9e52-3f2d6a1b9c01"

drill_emulator, emu_d = emulator_fixtures(CONFIG, "drill_emulator")
KINDS = {"document-model", "document-classifier", "analyzer", "language-project", "custom-model"}


@pytest.fixture
def copied(emu_d: Emu, tmp_path, drplan):
    """The demo's spec plus a v2.1 rule, applied (copy_seconds 0: drills poll once)."""
    emu_d.admin("PUT", "settings", {"copy_seconds": 0})
    text = _pkg.joinpath("dr.toml.in").read_text(encoding="utf-8") + V2
    text = text.replace("{management}", emu_d.url)  # the emulator's management (ARM) API, as in the demo
    text = re.sub(r"\{endpoint:([A-Za-z0-9._-]+)\}", lambda m: emu_d.endpoint(m.group(1)), text)
    (tmp_path / "dr.toml").write_text(text, encoding="utf-8")
    r = drplan("apply", "dr.toml", "--auto-approve", "-q", env=DEMO_KEYS)
    assert r.code == 0, r.text
    return read_json(tmp_path / "drplan.state.json")


def drill(drplan, *args: str, env=None):
    r = drplan("drill", "dr.toml", "--format", "json", *args, env=env if env is not None else DEMO_KEYS)
    assert "Traceback" not in r.err, r.err
    body = json.loads(r.out)
    return r.code, {c["address"]: c for c in body["copies"]}, r


def test_drill_ready_degraded_failed_on_every_family_and_the_map(emu_d, copied, drplan, tmp_path):
    # -- ready: every copy answers like its source (exit 0)
    code, copies, _ = drill(drplan)
    assert code == 0, copies
    assert {c["kind"] for c in copies.values()} == KINDS
    assert all(c["verdict"] == "ready" and c["compared_with"] == "source" for c in copies.values())
    assert all(c["latency_ms"]["target"] is not None and c["recovery_point_age_seconds"] == 0 for c in copies.values())
    v2_target = next(r["target_id"] for a, r in copied["resources"].items() if a.startswith("forms/"))
    assert v2_target != SOURCE_V2  # minted by the target
    v2 = next(c for c in copies.values() if c["kind"] == "custom-model")
    assert v2["source"]["ids"] == {"model_id": SOURCE_V2} and v2["target"]["ids"] == {"model_id": v2_target}

    # -- the failover map: json (schema), env, markdown, filters
    r = drplan("output", "dr.toml", env=ARM_ONLY)  # no resource key needed (only the management token)
    assert r.code == 0, r.text
    fmap = json.loads(r.out)
    schema = json.loads((ROOT / "schemas" / "output.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(fmap, schema)
    assert {a["kind"] for a in fmap["assets"]} == KINDS
    claims = next(a for a in fmap["assets"] if a["kind"] == "custom-model")
    assert claims["primary"]["ids"] == {"model_id": SOURCE_V2}
    assert claims["secondaries"][0]["ids"] == {"model_id": v2_target}
    ner = next(a for a in fmap["assets"] if a["kind"] == "language-project")
    assert ner["secondaries"][0]["ids"] == {"project_name": "contract-entities", "deployment_name": "production"}
    assert all(k not in r.out for k in DEMO_KEYS.values())  # names of key variables, never keys
    assert r.out == drplan("output", "dr.toml", env=ARM_ONLY).out  # stable order
    env_out = drplan("output", "dr.toml", "--format", "env", "--rule", "forms", env=ARM_ONLY).out
    assert f"DRPLAN_FORMS_{SOURCE_V2.upper().replace('-', '_')}_SECONDARY_1_MODEL_ID={v2_target}" in env_out
    assert "DRPLAN_PRODUCTION" not in env_out
    md = drplan("output", "dr.toml", "--format", "markdown", "--region", "swedencentral", env=ARM_ONLY).out
    assert "| asset | role |" in md and "westus2 |" not in md
    r = drplan("output", "dr.toml", "--region", "mars", env=ARM_ONLY)
    assert r.code == 1 and "no copy matches" in r.err and "swedencentral" in r.err and "Traceback" not in r.err

    # -- degraded: one copy per family on westus2 now answers differently (another version / definition)
    west = "contoso-westus2"
    emu_d.admin("DELETE", f"accounts/{west}/models/invoice-2024")
    emu_d.admin("POST", f"accounts/{west}/models", {"model_id": "invoice-2024", "created": "2020-01-01T00:00:00Z",
                                                    "expires": "2022-01-01T00:00:00Z"})
    emu_d.admin("DELETE", f"accounts/{west}/v2_models/{v2_target}")
    emu_d.admin("POST", f"accounts/{west}/v2_models", {"model_id": v2_target, "model_name": "claims-v2",
                                                       "created": "2020-06-01T00:00:00Z"})
    emu_d.admin("DELETE", f"accounts/{west}/analyzers/invoice-fields")
    emu_d.admin("POST", f"accounts/{west}/analyzers", {
        "analyzer_id": "invoice-fields", "base_analyzer_id": "prebuilt-document",
        "models": {"completion": "gpt-4.1", "embedding": "text-embedding-3-large"},
        "field_schema": {"name": "invoice", "fields": {"total": {"type": "number"}}}})
    emu_d.admin("POST", f"accounts/{west}/language/projects", {
        "project_name": "contract-entities", "replace": True, "storage_input_container": "contracts-docs",
        "entities": ["Party"],
        "documents": [{"location": "contract-001.txt", "labels": [{"category": "Party", "offset": 0, "length": 12}]}],
        "trained_models": [{"label": "dr"}], "deployments": [{"name": "production", "model_label": "dr"}]})
    code, copies, r = drill(drplan, "--target", "westus2")
    assert code == 2, r.text
    assert all(c["target"]["region"] == "westus2" for c in copies.values())
    degraded = {c["kind"] for c in copies.values() if c["verdict"] == "degraded"}
    assert degraded == {"document-model", "custom-model", "analyzer", "language-project"}, copies
    assert all(c["differences"] for c in copies.values() if c["verdict"] == "degraded")
    assert copies["production/westus2/document-classifier/mailroom-router"]["verdict"] == "ready"
    human = drplan("drill", "dr.toml", "--target", "westus2", env=DEMO_KEYS)
    assert human.code == 2 and "DEGRADED" in human.out and "~ " in human.out

    # -- failed: the target's key is missing (every family), a copy deleted, a sample that is not a document
    env = {k: v for k, v in DEMO_KEYS.items() if k != "DRPLAN_DEMO_WESTUS2_KEY"}
    code, copies, r = drill(drplan, "--target", "westus2", env=env)
    assert code == 1
    assert {c["kind"] for c in copies.values()} == KINDS
    assert all(c["verdict"] == "failed" and "DRPLAN_DEMO_WESTUS2_KEY" in c["reason"] for c in copies.values())
    emu_d.admin("DELETE", f"accounts/{west}/models/receipt-2024")
    (tmp_path / "notes.txt").write_text("just text", encoding="utf-8")
    code, copies, r = drill(drplan, "--target", "westus2", "--sample", "notes.txt")
    assert code == 1
    by_kind = {c["kind"]: c for c in copies.values()}
    assert "not a document" in by_kind["analyzer"]["reason"] and "not a document" in by_kind["custom-model"]["reason"]
    assert by_kind["language-project"]["verdict"] != "failed"  # a .txt is what custom NER takes
    code, copies, r = drill(drplan, "--target", "westus2")
    gone = copies["production/westus2/document-model/receipt-2024"]
    assert gone["verdict"] == "failed" and "did not answer" in gone["reason"], gone
    assert "not found" in gone["reason"].lower() or "404" in gone["reason"], gone
    assert all(k not in r.out + r.err for k in DEMO_KEYS.values())

    # -- the source region is down: compared with the recorded fingerprint only, and said so; bounded in time
    emu_d.admin("PUT", "faults", {"account": "contoso-eastus", "error_rate": 1.0})
    code, copies, r = drill(drplan, "--target", "swedencentral", "--timeout", "3")
    emu_d.admin("PUT", "faults", {"account": "contoso-eastus", "error_rate": 0.0})
    assert code == 0, r.text
    assert all(c["compared_with"] == "recorded fingerprint" and "recorded fingerprint" in c["reason"]
               for c in copies.values())

    # -- a throttling target: 429 + Retry-After honoured, every copy still ready
    emu_d.admin("PUT", "faults", {"account": "contoso-swedencentral", "rate_limit_per_second": 3})
    code, copies, r = drill(drplan, "--target", "swedencentral", "--parallelism", "8")
    emu_d.admin("PUT", "faults", {"account": "contoso-swedencentral", "rate_limit_per_second": 0})
    assert code == 0, r.text
    assert emu_d.counters()["throttled"].get("contoso-swedencentral", 0) > 0

    r = drplan("drill", "dr.toml", "--target", "mars", env=DEMO_KEYS)
    assert r.code == 1 and "no copy there" in r.err and "Traceback" not in r.err
