"""Language apply steps (drplan/families/language/apply.py), in process against the emulator: export on the source,
import, train and deploy on the target, each job journaled the moment the service names it, and the project recorded
with its model and deployment; a killed apply resumes at its step without repeating what was done (one import, one
training per project)."""

from __future__ import annotations

import pytest
from apply_support import Killed, account_block, arm_id, fault_once, journal_at, resource_block

from drplan.errors import StalePlanError

API = "2023-04-01"
ADDR = "ner/ldst/language-project/contracts"
CONFIG = """
seed = 11
[settings]
copy_seconds = 0.0
retry_after_seconds = 0
""" + account_block("lsrc", extra="""
    [[accounts.lsrc.language_projects]]
    project_name = "contracts"
    description = "Contract parties and dates"
    storage_input_container = "contracts-docs"
    created = "2025-01-01T00:00:00Z"
    last_modified = "2025-01-02T00:00:00Z"
    settings = { confidenceThreshold = 0.6 }
    entities = ["Party", "Date"]
    documents = [
      { location = "doc1.txt", labels = [{ category = "Party", offset = 0, length = 5 },
                                         { category = "Date", offset = 10, length = 10 }] },
      { location = "doc2.txt", dataset = "Test", labels = [{ category = "Date", offset = 3, length = 8 }] },
    ]
    """) + account_block("ldst", region="westus2")
SPEC = "version = 1\n" + resource_block("lsrc", family="language", api_version=API) + resource_block(
    "ldst", family="language", api_version=API, region="westus2") + """
[[replicate]]
name = "ner"
source = "lsrc"
targets = ["ldst"]
projects = ["contracts"]

[replicate.train]
model_label = "dr"
training_config_version = "2022-05-01"
deployment = "prod"
"""
JOBS = ("language:export", "language:import", "language:train", "language:deployments:put")


@pytest.fixture
def env(emulated):
    return emulated(CONFIG, SPEC)


def _get(env, path: str) -> dict:
    r = env.get("ldst", f"/language/authoring/analyze-text/{path}", **{"api-version": API})
    assert r.status_code == 200, r.text
    return r.json()


def assert_replicated(env, plan) -> dict:
    """One project with one model 'dr' trained after its import and one deployment 'prod' serving it; recorded."""
    state = env.state()
    assert state["journal"] == {} and state["applies"][-1]["status"] == "complete"
    project = _get(env, "projects/contracts")
    models = _get(env, "projects/contracts/models")["value"]
    deployments = _get(env, "projects/contracts/deployments")["value"]
    assert [m["label"] for m in models] == ["dr"] and [d["deploymentName"] for d in deployments] == ["prod"]
    assert deployments[0]["modelId"] == models[0]["modelId"]
    assert models[0]["lastTrainedDateTime"] >= project["lastModifiedDateTime"]
    rec = state["resources"][ADDR]
    (change,) = plan.changes
    assert rec["content_digest"] == change.source.extra["content_digest"] and rec["content_digest"].startswith("sha256:")
    assert rec["model_label"] == "dr" and rec["deployment"] == "prod" and rec["trained_at"]
    assert rec["source_modified"] == "2025-01-02T00:00:00.000Z" and rec["target_modified"]
    assert rec["lineage"] == {"state": state["lineage"], "source_resource": arm_id("lsrc"), "source_id": "contracts",
                              "source_version": change.source.fingerprint}
    return rec


def job_counts(env) -> dict[str, int]:
    return {route: env.count("lsrc" if route == "language:export" else "ldst", route) for route in JOBS}


def test_export_import_train_deploy_each_journaled_then_recorded(env):
    plan = env.plan()
    (change,) = plan.changes
    assert change.actions == ["create"] and change.steps == ["export", "import", "train", "deploy"]
    exports_at_plan = env.count("lsrc", "language:export")  # the planner exported once, to compare content
    seen = env.watch_journal()
    env.execute(plan)
    # The step is on disk before each job is asked for; the job's URL once it is known, before it is polled.
    assert [j["step"] for j in journal_at(seen, "language:export", ADDR)] == ["exporting"]
    assert [j["step"] for j in journal_at(seen, "language:import", ADDR)] == ["importing"]
    (at_train,) = journal_at(seen, "language:train", ADDR)
    assert at_train["step"] == "training" and "train_url" not in at_train
    (at_deploy,) = journal_at(seen, "language:deployments:put", ADDR)
    assert at_deploy["step"] == "deploying" and at_deploy["trained_at"]
    assert at_deploy["content_digest"] == change.source.extra["content_digest"] and at_deploy["target_modified"]
    assert all(j and j.get("import_url") for j in journal_at(seen, "language:import:job", ADDR))
    assert all(j and j.get("train_url") for j in journal_at(seen, "language:train:job", ADDR))
    assert all(j and j.get("deploy_url") for j in journal_at(seen, "language:deployments:job", ADDR))
    assert job_counts(env) == {"language:export": exports_at_plan + 1, "language:import": 1, "language:train": 1,
                               "language:deployments:put": 1}
    assert_replicated(env, plan)
    assert [c.actions for c in env.plan().changes] == [["no-op"]]


def test_replace_requested_exports_imports_trains_and_deploys_again(env):
    """plan --replace (issue 17) of a project in sync by state (nothing exported at plan time): the whole chain runs
    again, the fresh export checked against the digest the state recorded; the next plan has no changes."""
    env.execute(env.plan())
    env.app.clock.advance(60)  # later (the virtual clock): the new model is trained after the old one
    before = job_counts(env)
    plan = env.plan(replace=(ADDR,))
    (change,) = plan.changes
    assert change.actions == ["delete", "create"] and change.reason.startswith("replace requested (--replace)")
    assert env.count("lsrc", "language:export") == before["language:export"]  # the state vouched: no export
    env.execute(plan)
    assert job_counts(env) == {k: v + 1 for k, v in before.items()}
    state = env.state()
    assert state["journal"] == {} and state["resources"][ADDR]["content_digest"] == change.source.extra[
        "content_digest"]
    assert [c.actions for c in env.plan().changes] == [["no-op"]]


@pytest.mark.parametrize("point,step,again", [
    # after the import: no second export or import; one training
    ("after-import-done", "imported", {"language:export": 0, "language:import": 0, "language:train": 1}),
    # the training was asked for but its URL never journaled: the job is found, not started twice
    ("after-train-sent", "training", {"language:export": 0, "language:import": 0, "language:train": 0}),
    ("after-train-done", "trained", {"language:export": 0, "language:import": 0, "language:train": 0}),
    # an import whose URL was journaled is polled, not sent again
    ("after-import-journaled", "importing", {"language:export": 0, "language:import": 0, "language:train": 1}),
    ("after-deploy-journaled", "deploying", {"language:export": 0, "language:import": 0, "language:train": 0}),
])
def test_resume_after_a_kill_continues_at_its_step(env, point, step, again):
    plan = env.plan()
    with pytest.raises(Killed):
        env.execute(plan, crash_at=point)
    assert env.journal_steps() == {ADDR: step}
    before = job_counts(env)
    events: list[dict] = []
    env.execute(plan, events=events)
    assert any(e.get("step") == "resuming" and f"'{step}'" in e["message"] for e in events)
    after = job_counts(env)
    assert {route: after[route] - before[route] for route in again} == again
    assert after["language:train"] == 1, "one training per project, never two"
    assert_replicated(env, plan)


def test_a_source_changed_since_the_plan_is_refused_before_anything_is_imported(env):
    plan = env.plan()
    env.admin("POST", "accounts/lsrc/language/projects", {
        "replace": True, "project_name": "contracts", "entities": ["Party", "Date", "Amount"],
        "storage_input_container": "contracts-docs"})
    with pytest.raises(StalePlanError, match="lsrc/contracts changed since the plan"):
        env.execute(plan)
    assert env.count("ldst", "language:import") == 0 and env.count("lsrc", "language:export") == 1


@pytest.mark.parametrize("account,route,fault,times", [
    ("lsrc", "language:export", "drop_after", 2),  # two exports lost in a row: a third is asked for, one is read
    ("ldst", "language:import", "drop", 2),  # nothing reached the target twice: the third import runs
    ("ldst", "language:import", "drop_after", 1),  # the lost import ran: a second one replaces it, same content
    ("ldst", "language:train", "drop", 1),  # no training job started: looked for, none found, sent again
    ("ldst", "language:train", "drop_after", 1),  # the training started: found by its label, never sent twice
])
def test_lost_job_answers_are_resent_where_safe_and_the_first_apply_finishes(env, account, route, fault, times):
    """issue 19: a lost answer to export, import or train does not fail the change: export and import are resent
    (an export changes nothing; an import replaces the same-named project with the same content), a training is
    looked for first and sent again only when none is running. One training per project, whatever was lost."""
    plan = env.plan()
    before = job_counts(env)
    fault_once(env, account, route, fault, times=times)
    events: list[dict] = []
    result = env.execute(plan, events=events)
    assert result.applied == [ADDR]
    resends = [e for e in events if e.get("level") == "warning" and "again in" in e.get("message", "")]
    sends = env.count(account, route) - before[route]
    assert sends == (times + 1 if route != "language:train" or fault == "drop" else 1)
    assert len(resends) == sends - 1
    assert len([e for e in env.log("language:train") if e["fault"] != "drop"]) == 1, "one training started"
    assert_replicated(env, plan)
