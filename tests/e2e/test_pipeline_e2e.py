"""Pull-request and pipeline moments: Markdown/JSON outputs, JSON events, drift checks, targeting."""

from __future__ import annotations

import json

from e2e_support import read_json

ONE_TARGET = dict(classifiers="[]", targets='["west"]')


def test_check_exit_codes_and_findings(emu, spec_file, drplan, tmp_path):
    spec_file(**ONE_TARGET)
    r = drplan("check", "dr.toml")
    assert r.code == 2 and "not-copied" in r.out  # nothing copied yet
    assert drplan("apply", "dr.toml", "--auto-approve").code == 0
    r = drplan("check", "dr.toml")
    assert r.code == 0 and "In sync: 3 copies" in r.out

    emu.admin("DELETE", "accounts/west/models/po")  # copy deleted out of band
    emu.admin("DELETE", "accounts/src/models/receipt-2024")  # source retrained (rebuilt)
    emu.admin("POST", "accounts/src/models", {"model_id": "receipt-2024", "created": "2025-05-05T00:00:00Z"})
    # the copy rebuilt out of band on the target (its own createdDateTime moved): target drift, not a source change
    emu.admin("DELETE", "accounts/west/models/invoice-2024")
    emu.admin("POST", "accounts/west/models", {"model_id": "invoice-2024", "created": "2025-06-06T00:00:00Z"})
    r = drplan("check", "dr.toml", "--format", "json")
    assert r.code == 2, r.text
    findings = json.loads(r.out)["findings"]
    assert sorted((f["address"], f["kind"]) for f in findings) == [  # one entry per address (issue 17)
        ("prod/west/document-model/invoice-2024", "copy-changed"),
        ("prod/west/document-model/po", "copy-missing"),
        ("prod/west/document-model/receipt-2024", "source-rebuilt")]
    assert read_json(tmp_path / "drplan.state.json")["serial"] > 0
    state_before = (tmp_path / "drplan.state.json").read_bytes()
    assert (tmp_path / "drplan.state.json").read_bytes() == state_before  # check is read-only

    r = drplan("check", "dr.toml", env={"KEY_WEST": "bad-key-123456"})
    assert r.code == 1 and "HTTP 401" in r.err


def test_check_reports_an_encryption_mode_change(emu, spec_file, drplan):
    spec_file(**ONE_TARGET)
    assert drplan("apply", "dr.toml", "--auto-approve").code == 0
    # The target lost its customer-managed key (the spec now says so): copies made under CMK are flagged.
    path = spec_file(**ONE_TARGET)
    lines = path.read_text().split("\n")
    i = lines.index("[resources.west]")
    j = next(k for k in range(i, len(lines)) if lines[k].startswith("encryption"))
    lines[j] = 'encryption = "microsoft-managed"'
    path.write_text("\n".join(lines))
    r = drplan("check", "dr.toml")
    assert r.code == 2, r.text
    assert "encryption-changed" in r.out and "was customer-managed when the copy was made" in r.out


def test_targeting_is_recorded_and_apply_cannot_widen_it(emu, spec_file, drplan, tmp_path):
    spec_file()
    r = drplan("plan", "dr.toml", "-o", "plan.json", "--target", "prod/west/*", "--exclude", "*/router")
    assert r.code == 0, r.text
    plan = read_json(tmp_path / "plan.json")
    assert plan["options"]["target"] == ["prod/west/*"] and plan["options"]["exclude"] == ["*/router"]
    assert {c["address"] for c in plan["changes"]} == {
        "prod/west/document-model/invoice-2024", "prod/west/document-model/receipt-2024", "prod/west/document-model/po"}
    assert "targeting is in effect" in r.out

    r = drplan("apply", "plan.json", "--target", "*")
    assert r.code == 1 and "apply cannot widen or change them" in r.err
    assert emu.models("west") == {}
    r = drplan("apply", "plan.json", "--target", "prod/west/*", "--exclude", "*/router")
    assert r.code == 0, r.text
    assert set(emu.models("west")) == {"invoice-2024", "receipt-2024", "po"} and emu.models("north") == {}


def test_markdown_and_json_outputs(emu, spec_file, drplan, tmp_path):
    spec_file(targets='["west", "plain"]', rule_extra="allow_encryption_downgrade = true\n")
    r = drplan("plan", "dr.toml", "-o", "plan.json", "--format", "markdown")
    assert r.code == 0, r.text
    assert r.out.startswith("### drplan plan: **8** to create")
    assert "**Encryption downgrade:** 4 copies" in r.out
    plan = read_json(tmp_path / "plan.json")
    assert plan["digest"] in r.out
    r = drplan("show", "plan.json", "--format", "markdown")
    assert r.code == 0 and plan["digest"] in r.out
    r = drplan("show", "plan.json", "--format", "json")
    assert json.loads(r.out) == plan


def test_json_event_streams(emu, spec_file, drplan):
    spec_file(**ONE_TARGET)
    r = drplan("plan", "dr.toml", "-o", "plan.json", "--json")
    assert r.code == 0
    events = [json.loads(line) for line in r.out.splitlines()]  # every stdout line is an event
    assert {"refresh", "planned_change", "plan_summary", "summary"} <= {e["type"] for e in events}
    assert all({"timestamp", "level", "message", "type"} <= set(e) for e in events)
    assert events[-1]["type"] == "summary" and events[-1]["exit_code"] == 0 and events[-1]["counts"]["create"] == 3
    r = drplan("apply", "plan.json", "--json")
    assert r.code == 0, r.text
    events = [json.loads(line) for line in r.out.splitlines()]
    assert sum(e["type"] == "change_done" for e in events) == 3
    assert any(e.get("operation_url", "").startswith(emu.endpoint("src") + "/") for e in events)  # the source's origin
    assert all(e.get("address") for e in events if e["type"] not in ("apply_summary", "summary"))
    assert events[-1]["type"] == "summary" and events[-1]["counts"]["applied"] == 3 and events[-1]["exit_code"] == 0
