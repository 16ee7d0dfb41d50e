"""Kill apply at every step, re-apply, and converge: exactly one copy per target, no duplicate copy operation, no
orphaned reservation. Faults: throttling, dropped connections and lost answers, failing operations."""

from __future__ import annotations

import pytest
from e2e_support import read_json

MODELS = {"invoice-2024", "receipt-2024", "po"}
ONE_TARGET = dict(classifiers="[]", targets='["west"]')


def copy_requests(emu) -> list[dict]:
    return [e for e in emu.admin("GET", "requests") if e["route"] == "documentModels:copyTo" and e["status"] == 202]


def assert_converged(emu, drplan, tmp_path):
    r = drplan("plan", "dr.toml", "--detailed-exitcode")
    assert r.code == 0, r.text
    assert set(emu.models("west")) == MODELS
    # no duplicate: one accepted copyTo per model
    assert len(copy_requests(emu)) == len(MODELS)
    state = read_json(tmp_path / "drplan.state.json")
    assert state["journal"] == {} and len(state["resources"]) == len(MODELS)
    # no orphan: every id can be authorized again... by nobody but us; the target holds exactly the models
    info = emu.http.get(emu.url_of("west", "documentintelligence/info?api-version=2024-11-30"),
                        headers={"Ocp-Apim-Subscription-Key": "e2e-key-west-33bb44"}).json()
    assert info["customDocumentModels"]["count"] == len(MODELS)


@pytest.mark.parametrize("point", ["after-journal-authorizing", "after-copy-sent", "after-journal-copying",
                                   "after-copy-done"])
def test_kill_then_resume_converges(point, emu, spec_file, drplan, tmp_path):
    spec_file(**ONE_TARGET)
    assert drplan("plan", "dr.toml", "-o", "plan.json").code == 0
    r = drplan("apply", "plan.json", "--parallelism", "1", env={"DRPLAN_TEST_CRASH_AT": point})
    assert r.code == 137, r.text
    state = read_json(tmp_path / "drplan.state.json")
    assert state["journal"], "the journal must say what was in flight"
    # The killed apply could not release its lock; the resume below must take over a dead holder's lock by itself.
    assert (tmp_path / "drplan.state.json.lock").exists()
    r = drplan("apply", "plan.json")
    assert r.code == 0, r.text
    assert "resuming from journal step" in r.err or point == "after-journal-authorizing"
    assert_converged(emu, drplan, tmp_path)


@pytest.mark.parametrize("point", ["after-authorize", "after-journal-copy-requested"])
def test_kill_between_authorize_and_copy_explains_the_reservation(point, emu, spec_file, drplan, tmp_path):
    """The token died with the process; the service keeps the id reserved until the authorization expires
    (contracts §2.4). Resume says so, and converges once it has expired."""
    spec_file(**ONE_TARGET)
    assert drplan("plan", "dr.toml", "-o", "plan.json").code == 0
    r = drplan("apply", "plan.json", "--parallelism", "1", env={"DRPLAN_TEST_CRASH_AT": point})
    assert r.code == 137
    r = drplan("apply", "plan.json")
    assert r.code == 1, r.text
    assert "is reserved by an earlier copy authorization that was never used" in r.err
    assert "An interrupted apply asked for that authorization at" in r.err
    if point == "after-journal-copy-requested":
        assert "it expires at" in r.err  # the journal knew the expiry
    assert "Traceback" not in r.err
    # The other models were copied; only the reserved one waits.
    assert len(emu.models("west")) == len(MODELS) - 1
    emu.admin("POST", "clock", {"advance_seconds": 3700})  # past the 1 h authorization lifetime of the config
    r = drplan("apply", "plan.json")
    assert r.code == 0, r.text
    assert_converged(emu, drplan, tmp_path)


def test_kill_during_replace_after_delete_converges(emu, spec_file, drplan, tmp_path):
    spec_file(**ONE_TARGET)
    assert drplan("apply", "dr.toml", "--auto-approve").code == 0
    emu.admin("DELETE", "accounts/src/models/po")
    emu.admin("POST", "accounts/src/models", {"model_id": "po", "created": "2025-02-02T00:00:00Z"})
    assert drplan("plan", "dr.toml", "-o", "plan.json").code == 0
    r = drplan("apply", "plan.json", env={"DRPLAN_TEST_CRASH_AT": "after-delete"})
    assert r.code == 137
    assert "po" not in emu.models("west")
    r = drplan("apply", "plan.json")
    assert r.code == 0, r.text
    assert emu.models("west")["po"]["tags"]["drplan-source-version"].startswith("created=2025-02-02")
    assert drplan("plan", "dr.toml", "--detailed-exitcode").code == 0


def test_throttled_apply_completes(emu, spec_file, drplan, tmp_path):
    spec_file(**ONE_TARGET)
    # 1 s Retry-After on each 429; listing in one page per account keeps the request count (and so the test) short
    emu.admin("PUT", "settings", {"retry_after_seconds": 1, "page_size": 50})
    emu.admin("PUT", "faults", {"rate_limit_per_second": 4})
    r = drplan("apply", "dr.toml", "--auto-approve")
    assert r.code == 0, r.text
    assert sum(emu.counters()["throttled"].values()) > 0
    emu.admin("PUT", "faults", {"rate_limit_per_second": 0})
    assert_converged(emu, drplan, tmp_path)


def test_lost_copy_answers_and_503s_are_survived(emu, spec_file, drplan, tmp_path):
    """copyTo runs but its answer is lost (drop after the side effect): drplan finds the operation instead of
    copying twice. Injected 503s and dropped GETs are retried."""
    spec_file(**ONE_TARGET)
    emu.admin("PUT", "faults", {"drop_after_rate": 1.0, "routes": ["documentModels:copyTo"]})
    emu.admin("PUT", "faults", {"account": "west", "error_rate": 0.15, "drop_rate": 0.1, "drop_after_rate": 0.0,
                                "routes": ["documentModels:list", "documentModels:get", "info"]})
    r = drplan("apply", "dr.toml", "--auto-approve")
    assert r.code == 0, r.text
    assert emu.counters()["faults"]["src"]["drop_after"] == len(MODELS)  # every copyTo answer was lost
    emu.admin("PUT", "faults", {"drop_after_rate": 0.0, "routes": []})
    emu.admin("PUT", "faults", {"account": "west", "error_rate": 0.0, "drop_rate": 0.0, "routes": []})
    assert_converged(emu, drplan, tmp_path)


def test_failed_copy_operation_is_reported_and_retried_next_time(emu, spec_file, drplan, tmp_path):
    spec_file(**ONE_TARGET)
    emu.admin("PUT", "faults", {"account": "src", "operation_failure_rate": 1.0})
    r = drplan("apply", "dr.toml", "--auto-approve")
    assert r.code == 1
    assert "the copy operation ended failed" in r.err and "resumes them" in r.err
    emu.admin("PUT", "faults", {"account": "src", "operation_failure_rate": 0.0})
    r = drplan("apply", "dr.toml", "--auto-approve")
    assert r.code == 0, r.text
    assert set(emu.models("west")) == MODELS
