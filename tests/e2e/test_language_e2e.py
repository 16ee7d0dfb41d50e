"""Language custom NER end to end (the real CLI against a real emulator process): export -> import -> train ->
deploy into a DR target; re-apply is a no-op; a source edit shows as exactly that diff in a destructive replace;
kill-and-resume at every job step converges to one project, one model label and one deployment per project."""

from __future__ import annotations

import textwrap
import time

import pytest
from e2e_support import SUB, Emu, emulator_fixtures, read_json

KEYS = {"lsrc": "lang-key-src-5f1e2d3c", "ldst": "lang-key-dst-9a8b7c6d"}
ENV = {f"KEY_{n.upper()}": k for n, k in KEYS.items()}
PROJECTS = ("contracts", "invoices")
RULE = "ner"
ARM = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts"

CONFIG = f"""
seed = 11
[settings]
copy_seconds = 0.05
retry_after_seconds = 0
page_size = 1

[accounts.lsrc]
resource_id = "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/lsrc"
region = "eastus"
key = "{KEYS['lsrc']}"

[[accounts.lsrc.language_projects]]
project_name = "contracts"
description = "Contract parties and dates"
storage_input_container = "contracts-docs"
created = "2025-01-01T00:00:00Z"
last_modified = "2025-01-02T00:00:00Z"
settings = {{ confidenceThreshold = 0.6 }}
entities = ["Party", "Date"]
documents = [
  {{ location = "doc1.txt", labels = [{{ category = "Party", offset = 0, length = 5 }},
                                      {{ category = "Date", offset = 10, length = 10 }}] }},
  {{ location = "doc2.txt", dataset = "Test", labels = [{{ category = "Date", offset = 3, length = 8 }}] }},
]

[[accounts.lsrc.language_projects]]
project_name = "invoices"
storage_input_container = "invoices-docs"
created = "2025-02-01T00:00:00Z"
entities = ["Vendor", "Total"]
documents = [
  {{ location = "inv1.txt", labels = [{{ category = "Vendor", offset = 0, length = 4 }},
                                      {{ category = "Total", offset = 20, length = 6 }}] }},
]

[[accounts.lsrc.language_projects]]
project_name = "scratch"
entities = ["X"]

[accounts.ldst]
resource_id = "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/ldst"
region = "westus2"
key = "{KEYS['ldst']}"
"""

#: The source's contracts project after "add an entity and relabel a document".
EDITED_CONTRACTS = {
    "replace": True, "project_name": "contracts", "description": "Contract parties and dates",
    "storage_input_container": "contracts-docs", "settings": {"confidenceThreshold": 0.6},
    "entities": ["Party", "Date", "Amount"],
    "documents": [
        {"location": "doc1.txt", "labels": [{"category": "Party", "offset": 0, "length": 5},
                                            {"category": "Amount", "offset": 10, "length": 10}]},
        {"location": "doc2.txt", "dataset": "Test", "labels": [{"category": "Date", "offset": 3, "length": 8}]},
    ],
}


lang_emulator, lemu = emulator_fixtures(CONFIG, "lang_emulator")


@pytest.fixture
def drplan(drplan, lemu):
    """Each CLI run starts a second of service time after the one before: the service's times are whole seconds, so a
    model trained in the same second as the one before it would not look newer. Real runs are minutes apart; runs in
    this process can be milliseconds apart."""

    def run(*args: str, **kwargs):
        lemu.admin("POST", "clock", {"advance_seconds": 1})
        return drplan(*args, **kwargs)

    return run


@pytest.fixture
def write_lang_spec(tmp_path, lemu):
    def write(projects: str = '["contracts", "inv*"]') -> None:
        text = "version = 1\n"
        for name, region in (("lsrc", "eastus"), ("ldst", "westus2")):
            text += textwrap.dedent(f"""
                [resources.{name}]
                family = "language"
                endpoint = "{lemu.endpoint(name)}"
                region = "{region}"
                resource_id = "{ARM}/{name}"
                api_version = "2023-04-01"
                key_env = "KEY_{name.upper()}"
                """)
        text += textwrap.dedent(f"""
            [[replicate]]
            name = "{RULE}"
            source = "lsrc"
            targets = ["ldst"]
            projects = {projects}

            [replicate.train]
            model_label = "dr"
            training_config_version = "2022-05-01"
            deployment = "prod"
            """)
        (tmp_path / "dr.toml").write_text(text, encoding="utf-8")

    return write


@pytest.fixture
def lang_spec(write_lang_spec):
    write_lang_spec()


# -- reading the emulator through the service API ----------------------------------------------------------------
def _get(emu: Emu, account: str, path: str) -> dict:
    r = emu.http.get(emu.url_of(account, f"language/authoring/analyze-text/{path}"),
                     params={"api-version": "2023-04-01"}, headers={"Ocp-Apim-Subscription-Key": KEYS[account]})
    r.raise_for_status()
    return r.json()


def _list(emu: Emu, account: str, path: str) -> list[dict]:
    out, body = [], _get(emu, account, path)
    while True:
        out.extend(body["value"])
        if not body.get("nextLink"):
            return out
        r = emu.http.get(body["nextLink"], headers={"Ocp-Apim-Subscription-Key": KEYS[account]})
        r.raise_for_status()
        body = r.json()


def projects(emu: Emu, account: str) -> dict[str, dict]:
    return {p["projectName"]: p for p in _list(emu, account, "projects")}


def route_count(emu: Emu, account: str, route: str) -> int:
    return emu.counters()["requests"].get(account, {}).get(route, 0)


def assert_replicated(emu: Emu, tmp_path, names=PROJECTS) -> None:
    """Exactly the selected projects on the target, each with one model 'dr' trained after its last import and one
    deployment 'prod' serving that model; the state records each and has nothing in flight."""
    target = projects(emu, "ldst")
    assert sorted(target) == sorted(names)
    for name in names:
        models = _list(emu, "ldst", f"projects/{name}/models")
        deployments = _list(emu, "ldst", f"projects/{name}/deployments")
        assert [m["label"] for m in models] == ["dr"], models
        assert [d["deploymentName"] for d in deployments] == ["prod"], deployments
        assert deployments[0]["modelId"] == models[0]["modelId"]
        assert models[0]["lastTrainedDateTime"] >= target[name]["lastModifiedDateTime"]
    state = read_json(tmp_path / "drplan.state.json")
    assert state["journal"] == {}
    recorded = {a: r for a, r in state["resources"].items() if a.startswith(f"{RULE}/ldst/language-project/")}
    assert sorted(recorded) == sorted(f"{RULE}/ldst/language-project/{n}" for n in names)
    for rec in recorded.values():
        assert rec["model_label"] == "dr" and rec["deployment"] == "prod"
        assert rec["content_digest"].startswith("sha256:")
        assert rec["lineage"]["state"] == state["lineage"] and rec["lineage"]["source_resource"].endswith("/lsrc")
    text = (tmp_path / "drplan.state.json").read_text()
    assert all(key not in text for key in KEYS.values())


def wait_for_job(emu: Emu, account: str, url: str, timeout: float = 30) -> dict:
    """Poll a job URL through the service API until the job has ended; return its last body."""
    deadline = time.monotonic() + timeout
    while True:
        r = emu.http.get(url, headers={"Ocp-Apim-Subscription-Key": KEYS[account]})
        r.raise_for_status()
        body = r.json()
        if body["status"] not in ("notStarted", "running") or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def plan_json(drplan, tmp_path, name: str = "plan.json") -> dict:
    r = drplan("plan", "dr.toml", "-o", name, env=ENV)
    assert r.code == 0, r.text
    return read_json(tmp_path / name)


# -- the tests -----------------------------------------------------------------------------------------------------
def test_replicate_two_projects_with_train_and_deploy_then_no_op(lemu, lang_spec, drplan, tmp_path):
    """Language end to end: every run a real process."""
    r = drplan("plan", "dr.toml", "-o", "plan.json", "--detailed-exitcode", env=ENV, process=True)
    assert r.code == 2, r.text
    assert "Plan: 2 to create" in r.out and "scratch" not in r.out
    assert "steps: export -> import -> train -> deploy" in r.out
    assert "blob container 'contracts-docs'" in r.out  # documents are not copied: say so
    plan = read_json(tmp_path / "plan.json")
    for c in plan["changes"]:
        assert c["actions"] == ["create"] and c["settings"] == {"model_label": "dr", "training_config_version":
                                                                "2022-05-01", "deployment": "prod"}
        assert c["source"]["content_digest"].startswith("sha256:")
    r = drplan("apply", "plan.json", env=ENV, process=True)
    assert r.code == 0, r.text
    assert_replicated(lemu, tmp_path)
    assert drplan("apply", "plan.json", env=ENV, process=True).code == 0  # re-apply: already applied
    exports = route_count(lemu, "lsrc", "language:export")
    r = drplan("plan", "dr.toml", "--detailed-exitcode", env=ENV, process=True)
    assert r.code == 0, r.text
    assert "No changes. 2 copies in sync." in r.out
    assert route_count(lemu, "lsrc", "language:export") == exports  # in sync by state: nothing was exported
    assert route_count(lemu, "ldst", "language:train") == 2
    assert_replicated(lemu, tmp_path)


def test_source_edit_is_planned_as_exactly_that_replace(lemu, lang_spec, drplan, tmp_path):
    assert drplan("apply", "dr.toml", "--auto-approve", env=ENV).code == 0
    lemu.admin("POST", "accounts/lsrc/language/projects", EDITED_CONTRACTS)  # + entity Amount, doc1 Date -> Amount
    plan = plan_json(drplan, tmp_path)
    by = {c["address"]: c for c in plan["changes"]}
    c = by[f"{RULE}/ldst/language-project/contracts"]
    assert c["actions"] == ["delete", "create"]
    assert c["flags"]["destructive"] is True and c["flags"]["drift"] is False
    assert c["diff"] == ["+ entity: Amount", "~ labels doc1.txt: Date -> Amount (10..20)"]
    assert c["steps"] == ["export", "import", "train", "deploy"]
    assert "the source project changed since the last import" in c["reason"]
    assert by[f"{RULE}/ldst/language-project/invoices"]["actions"] == ["no-op"]
    r = drplan("show", "plan.json", env=ENV)
    assert "DESTRUCTIVE" in r.out and "+ entity: Amount" in r.out
    r = drplan("apply", "plan.json", env=ENV)
    assert r.code == 0, r.text
    assert_replicated(lemu, tmp_path)
    assert drplan("plan", "dr.toml", "--detailed-exitcode", env=ENV).code == 0


def test_a_save_without_edits_is_exported_once_then_recorded(lemu, lang_spec, drplan, tmp_path):
    """lastModifiedDateTime moves but the content does not: the plan exports to find out, says no changes, and
    apply records the new times, so the next plan exports nothing."""
    assert drplan("apply", "dr.toml", "--auto-approve", env=ENV).code == 0
    lemu.admin("POST", "clock", {"advance_seconds": 2})
    same = {**EDITED_CONTRACTS, "entities": ["Party", "Date"], "documents": [
        {"location": "doc1.txt", "labels": [{"category": "Party", "offset": 0, "length": 5},
                                            {"category": "Date", "offset": 10, "length": 10}]},
        {"location": "doc2.txt", "dataset": "Test", "labels": [{"category": "Date", "offset": 3, "length": 8}]}]}
    lemu.admin("POST", "accounts/lsrc/language/projects", same)  # same content, new lastModifiedDateTime
    before = route_count(lemu, "lsrc", "language:export")
    r = drplan("plan", "dr.toml", "-o", "plan.json", "--detailed-exitcode", env=ENV)
    assert r.code == 0 and "No changes" in r.out, r.text
    assert route_count(lemu, "lsrc", "language:export") == before + 1  # exported to compare
    r = drplan("apply", "plan.json", env=ENV)
    assert r.code == 0 and "1 state record(s) refreshed" in r.out, r.text
    r = drplan("plan", "dr.toml", "--detailed-exitcode", env=ENV)
    assert r.code == 0, r.text
    assert route_count(lemu, "lsrc", "language:export") == before + 1  # known in sync: nothing exported
    assert_replicated(lemu, tmp_path)


def test_plan_made_before_the_source_changed_is_refused(lemu, lang_spec, drplan, tmp_path):
    assert drplan("plan", "dr.toml", "-o", "plan.json", env=ENV).code == 0
    lemu.admin("POST", "accounts/lsrc/language/projects", EDITED_CONTRACTS)
    r = drplan("apply", "plan.json", env=ENV)
    assert r.code == 3, r.text
    assert "lsrc/contracts changed since the plan" in r.err and "run drplan plan again" in r.err
    assert projects(lemu, "ldst") == {}  # nothing was imported


def test_drift_foreign_project_and_missing_deployment(lemu, lang_spec, drplan, tmp_path):
    # A same-named project drplan did not import, with other assets: an error, never an overwrite.
    lemu.admin("POST", "accounts/ldst/language/projects", {"project_name": "invoices", "entities": ["Vendor"]})
    r = drplan("plan", "dr.toml", "--detailed-exitcode", env=ENV)
    assert r.code == 1, r.text
    assert "drplan will not overwrite a project it did not create" in r.out and "+ entity: Total" in r.out
    lemu.admin("DELETE", "accounts/ldst/language/projects/invoices")
    assert drplan("apply", "dr.toml", "--auto-approve", env=ENV).code == 0

    # Changed on the target out of band: drift, replaced with the source's assets. (lastModifiedDateTime has whole
    # seconds: an edit in the very second of drplan's import would look unchanged, so let the clock move on.)
    lemu.admin("POST", "clock", {"advance_seconds": 2})
    lemu.admin("POST", "accounts/ldst/language/projects", {**EDITED_CONTRACTS, "entities": ["Party", "Date", "Extra"],
                                                           "documents": []})
    plan = plan_json(drplan, tmp_path)
    c = next(c for c in plan["changes"] if c["target"]["id"] == "contracts")
    assert c["actions"] == ["delete", "create"] and c["flags"]["drift"] is True and c["flags"]["destructive"]
    assert "- entity: Extra" in c["diff"] and any(d.startswith("+ document: doc1.txt") for d in c["diff"])

    # The deployment removed out of band: an update that only deploys.
    r = lemu.http.delete(lemu.url_of("ldst", "language/authoring/analyze-text/projects/invoices/deployments/prod"),
                         params={"api-version": "2023-04-01"}, headers={"Ocp-Apim-Subscription-Key": KEYS["ldst"]})
    assert r.status_code == 202
    assert drplan("apply", "plan.json", env=ENV).code == 0
    plan = plan_json(drplan, tmp_path, "plan2.json")
    c = next(c for c in plan["changes"] if c["target"]["id"] == "invoices")
    assert c["actions"] == ["update"] and c["steps"] == ["deploy"], c
    assert drplan("apply", "plan2.json", env=ENV).code == 0
    assert_replicated(lemu, tmp_path)


#: Every crash point of the Language flow (drplan/apply/executor.py _Crash) and the journal step it leaves.
CRASH_POINTS = {
    "after-journal-exporting": "exporting", "after-export-sent": "exporting", "after-export-done": "exported",
    "after-import-sent": "importing", "after-import-journaled": "importing", "after-import-done": "imported",
    "after-train-sent": "training", "after-train-journaled": "training", "after-train-done": "trained",
    "after-deploy-sent": "deploying", "after-deploy-journaled": "deploying",
}


def test_kill_at_every_step_then_resume_converges(lemu, write_lang_spec, drplan, tmp_path):
    """One plan over one project per crash point, applied one change at a time; each apply is killed at the next
    point. An apply first resumes the project the previous one left in the journal (so every resume path runs), and
    when that resume does not pass the next point (a journaled job is polled, not started), it finishes that project
    and the next, fresh one reaches it. The last apply completes everything."""
    names = [f"p{i:02d}" for i in range(len(CRASH_POINTS))]
    for name in names:
        lemu.admin("POST", "accounts/lsrc/language/projects", {
            "project_name": name, "entities": ["Thing"],
            "documents": [{"location": f"{name}.txt", "labels": [{"category": "Thing", "offset": 0, "length": 3}]}]})
    write_lang_spec('["p*"]')
    assert drplan("plan", "dr.toml", "-o", "plan.json", env=ENV).code == 0
    for point, step in CRASH_POINTS.items():
        r = drplan("apply", "plan.json", "--parallelism", "1", env={**ENV, "DRPLAN_TEST_CRASH_AT": point})
        assert r.code == 137, (point, r.text)
        journal = read_json(tmp_path / "drplan.state.json")["journal"]
        assert [e["step"] for e in journal.values()] == [step], (point, journal)
    r = drplan("apply", "plan.json", env=ENV)
    assert r.code == 0, r.text
    assert "resuming from journal step 'deploying'" in r.err
    assert_replicated(lemu, tmp_path, names)
    # Resume looked before it leapt: one training per project, never two (imports and deploy PUTs may repeat).
    assert route_count(lemu, "ldst", "language:train") == len(names)


def test_kill_with_changes_in_flight_then_resume_converges(lemu, lang_spec, drplan, tmp_path):
    assert drplan("plan", "dr.toml", "-o", "plan.json", env=ENV).code == 0
    r = drplan("apply", "plan.json", env={**ENV, "DRPLAN_TEST_CRASH_AT": "after-train-sent"})
    assert r.code == 137, r.text
    assert len(read_json(tmp_path / "drplan.state.json")["journal"]) == 2  # both projects were in flight
    r = drplan("apply", "plan.json", env=ENV)
    assert r.code == 0, r.text
    assert "resuming from journal step" in r.err
    assert_replicated(lemu, tmp_path)
    assert route_count(lemu, "ldst", "language:train") == 2


def test_a_new_plan_after_a_kill_waits_for_the_old_jobs_and_converges(lemu, lang_spec, drplan, tmp_path):
    """After a kill, a pipeline may plan afresh instead of re-applying the old plan: the new plan sees what the killed
    apply did (an imported project in sync: an update), waits for the jobs the old apply left, and converges."""
    assert drplan("plan", "dr.toml", "-o", "plan.json", env=ENV).code == 0
    r = drplan("apply", "plan.json", "--parallelism", "1", env={**ENV, "DRPLAN_TEST_CRASH_AT": "after-train-journaled"})
    assert r.code == 137, r.text
    # The pipeline plans once the killed apply's training has ended (then only the deployment is missing). Waited
    # for here, not left to the time a new process takes to start: a retraining that ends in the same second as the
    # killed one is not seen as newer (the service's times are whole seconds), and that race is not this test's.
    journal = read_json(tmp_path / "drplan.state.json")["journal"]
    wait_for_job(lemu, "ldst", journal[f"{RULE}/ldst/language-project/contracts"]["train_url"])
    plan = plan_json(drplan, tmp_path, "plan2.json")
    assert [c["actions"] for c in plan["changes"]] == [["update"], ["create"]]  # contracts imported, invoices not
    assert plan["changes"][0]["steps"] == ["deploy"]
    r = drplan("apply", "plan2.json", env=ENV)
    assert r.code == 0, r.text
    assert "of another plan's apply; waiting for its jobs" in r.err
    assert_replicated(lemu, tmp_path)
    assert route_count(lemu, "ldst", "language:import") == 2


def test_failed_jobs_are_reported_and_resumed(lemu, lang_spec, drplan, tmp_path):
    """A job that ends failed names itself and its errors; the journal keeps the step (without the failed job's URL)
    and the next apply of the same plan redoes that step only."""
    assert drplan("plan", "dr.toml", "-o", "plan.json", env=ENV).code == 0
    r = drplan("apply", "plan.json", "--parallelism", "1", env={**ENV, "DRPLAN_TEST_CRASH_AT": "after-import-done"})
    assert r.code == 137, r.text
    for account in ("lsrc", "ldst"):  # every job fails from now on (the fault has no route filter for jobs)
        lemu.admin("PUT", "faults", {"account": account, "operation_failure_rate": 1.0})
    r = drplan("apply", "plan.json", env=ENV)
    assert r.code == 1, r.text
    assert "ldst: the training job" in r.err and "ended failed: InternalServerError" in r.err
    assert "lsrc: the export job" in r.err and "resumes them" in r.err
    journal = read_json(tmp_path / "drplan.state.json")["journal"]
    contracts = journal[f"{RULE}/ldst/language-project/contracts"]
    assert contracts["step"] == "training" and "train_url" not in contracts and "failed" in contracts["note"]
    assert journal[f"{RULE}/ldst/language-project/invoices"]["step"] == "exporting"
    for account in ("lsrc", "ldst"):
        lemu.admin("PUT", "faults", {"account": account, "operation_failure_rate": 0.0})
    imports = route_count(lemu, "ldst", "language:import")
    r = drplan("apply", "plan.json", env=ENV)
    assert r.code == 0, r.text
    assert route_count(lemu, "ldst", "language:import") == imports + 1  # contracts resumed at training
    assert_replicated(lemu, tmp_path)


def test_adopt_takes_back_a_project_with_the_same_assets(lemu, lang_spec, drplan, tmp_path):
    assert drplan("apply", "dr.toml", "--auto-approve", env=ENV).code == 0
    addr = f"{RULE}/ldst/language-project/contracts"
    before = read_json(tmp_path / "drplan.state.json")["resources"][addr]
    assert drplan("state", "rm", addr, "--spec", "dr.toml", env=ENV).code == 0
    r = drplan("adopt", "dr.toml", addr, env=ENV)
    assert r.code == 0, r.text
    rec = read_json(tmp_path / "drplan.state.json")["resources"][addr]
    assert rec["adopted"] is True and rec["content_digest"] == before["content_digest"]
    assert rec["source_modified"] == before["source_modified"] and rec["target_modified"] == before["target_modified"]
    exports = route_count(lemu, "lsrc", "language:export")
    r = drplan("plan", "dr.toml", "--detailed-exitcode", env=ENV)
    assert r.code == 0, r.text
    assert route_count(lemu, "lsrc", "language:export") == exports  # in sync by the adopted record
    assert drplan("adopt", "dr.toml", addr, env=ENV).code == 0  # again: already recorded, a no-op


def test_lost_answers_on_every_job_step_still_converge(lemu, lang_spec, drplan, tmp_path):
    """Half of the export/import/train/deploy answers are lost after the service started the job: apply re-sends
    what is safe to re-send, fails with a clear message otherwise, and the next apply of the same plan converges."""
    lemu.admin("PUT", "faults", {"drop_after_rate": 0.5, "routes": [
        "language:export", "language:import", "language:train", "language:deployments:put"]})
    assert drplan("plan", "dr.toml", "-o", "plan.json", env=ENV).code == 0
    for _ in range(4):
        r = drplan("apply", "plan.json", env=ENV)
        assert r.code in (0, 1), r.text
        assert "Traceback" not in r.text
        if r.code == 0:
            break
    assert r.code == 0, r.text
    lost = [e["route"] for e in lemu.admin("GET", "requests") if e["fault"] == "drop_after"]
    assert len(lost) >= 3, lost  # answers really were lost
    lemu.admin("PUT", "faults", {"drop_after_rate": 0.0, "routes": []})
    assert_replicated(lemu, tmp_path)
    assert drplan("plan", "dr.toml", "--detailed-exitcode", env=ENV).code == 0


def test_source_edited_during_apply_in_the_plans_second_is_stale(lemu, lang_spec, drplan, tmp_path, monkeypatch):
    """The source is edited after apply checked it live, in the very second of the plan (lastModifiedDateTime has
    whole seconds, contracts §6.2, so the fingerprint cannot show it): the export's content digest does, and the apply
    exits 3 (stale plan) as documented, not 1, importing nothing."""
    from drplan.families.language.adapter import ProjectsAdapter

    assert drplan("plan", "dr.toml", "-o", "plan.json", "--target", "*/contracts", env=ENV).code == 0
    start_export = ProjectsAdapter.start_export

    async def edit_then_export(self, name: str):
        if name == "contracts":
            lemu.admin("POST", "accounts/lsrc/language/projects", EDITED_CONTRACTS)
        return await start_export(self, name)

    monkeypatch.setattr(ProjectsAdapter, "start_export", edit_then_export)
    r = drplan("apply", "plan.json", env=ENV)
    assert r.code == 3, r.text
    assert "lsrc/contracts changed since the plan was made" in r.err and "run drplan plan again" in r.err
    assert projects(lemu, "ldst") == {}


def test_source_edited_in_the_same_second_before_apply_is_stale(lemu, lang_spec, drplan, tmp_path):
    """issue 19: an edit that keeps lastModifiedDateTime (whole seconds, contracts §6.2: the same second as the
    version the plan saw; the emulator clock is not advanced) passes apply's live fingerprint check; the export's
    content digest catches it, and apply exits 3 (stale plan), importing nothing."""
    assert drplan("plan", "dr.toml", "-o", "plan.json", "--target", "*/contracts", env=ENV).code == 0
    planned = read_json(tmp_path / "plan.json")
    (change,) = [c for c in planned["changes"] if c["address"].endswith("/contracts")]
    lemu.admin("POST", "accounts/lsrc/language/projects", {**EDITED_CONTRACTS, "last_modified": "2025-01-02T00:00:00Z"})
    r = lemu.http.get(f"{lemu.endpoint('lsrc')}/language/authoring/analyze-text/projects/contracts",
                      params={"api-version": "2023-04-01"}, headers={"Ocp-Apim-Subscription-Key": KEYS["lsrc"]})
    assert r.json()["lastModifiedDateTime"] == "2025-01-02T00:00:00Z"  # the timestamp does not show the edit
    assert change["source"]["fingerprint"].startswith("modified=2025-01-02T00:00:00")
    r = drplan("apply", "plan.json", env=ENV)
    assert r.code == 3, r.text
    assert "lsrc/contracts changed since the plan was made: its assets now export as" in r.err  # the digest check
    assert projects(lemu, "ldst") == {}
