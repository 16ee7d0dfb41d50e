"""Content Understanding apply steps (drplan/families/content_understanding/apply.py), in process against the
emulator: the GA grant flow (grant on the source, copy on the target, poll) journaled before each side effect and
recorded with the deployments each model role uses; the /defaults update the copies depend on; resume from each
step with exactly one accepted copy per analyzer."""

from __future__ import annotations

import pytest
from apply_support import Killed, account_block, arm_id, fault_once, journal_at, resource_block

from drplan.errors import ApplyError, StalePlanError
from drplan.plan.planfile import load_plan, save_plan

API = "2025-11-01"
INVOICE, ROUTER = "cu/cunorth/analyzer/invoice", "cu/cunorth/analyzer/router"
DEFAULT = "cu/cunorth/model-deployment/gpt-4.1"
CONFIG = """
seed = 11
[settings]
copy_seconds = 0.0
retry_after_seconds = 0
""" + account_block("cusrc", extra="""
    token_flow = true
    deployments = { "gpt41-east" = "gpt-4.1", "te3l-east" = "text-embedding-3-large" }
    model_deployments = { "gpt-4.1" = "gpt41-east", "text-embedding-3-large" = "te3l-east" }

    [[accounts.cusrc.analyzers]]
    analyzer_id = "invoice"
    description = "Invoices"
    tags = { team = "ap" }
    base_analyzer_id = "prebuilt-document"
    models = { completion = "gpt-4.1", embedding = "text-embedding-3-large" }
    field_schema = { name = "invoice", fields = { total = { type = "number", description = "Total" } } }

    [[accounts.cusrc.analyzers]]
    analyzer_id = "router"
    base_analyzer_id = "prebuilt-document"
    models = { completion = "gpt-4.1", embedding = "text-embedding-3-large" }
    config = { enableSegment = true, contentCategories = { invoice = { analyzerId = "invoice" } } }
    """) + account_block("cunorth", region="northeurope", extra="""
    token_flow = true
    deployments = { "gpt41-n" = "gpt-4.1", "te3l-n" = "text-embedding-3-large" }
    model_deployments = { "text-embedding-3-large" = "te3l-n" }
    """)
SPEC = "version = 1\n" + resource_block("cusrc", family="content-understanding", api_version=API,
                                        extra='copy_flow = "grant"\n') + resource_block(
    "cunorth", family="content-understanding", api_version=API, region="northeurope",
    extra='copy_flow = "grant"\n') + """
[[replicate]]
name = "cu"
source = "cusrc"
targets = ["cunorth"]
analyzers = ["invoice", "router"]

[replicate.deployments.cunorth]
completion = "gpt41-n"
"""
DEPLOYMENTS = {"completion": {"model": "gpt-4.1", "deployment": "gpt41-n"},
               "embedding": {"model": "text-embedding-3-large", "deployment": "te3l-n"}}
DEFINITION = ("description", "tags", "baseAnalyzerId", "config", "fieldSchema", "models")


@pytest.fixture
def env(emulated):
    return emulated(CONFIG, SPEC)


def analyzers(env, account: str) -> dict[str, dict]:
    r = env.get(account, "/contentunderstanding/analyzers", **{"api-version": API})
    assert r.status_code == 200
    return {a["analyzerId"]: a for a in r.json()["value"]}


def defaults(env, account: str) -> dict[str, str]:
    return env.get(account, "/contentunderstanding/defaults", **{"api-version": API}).json()["modelDeployments"]


def accepted_copies(env) -> int:
    return len([e for e in env.log("cu:copy") if e["status"] in (201, 202)])  # GA answers 201, the token flow 202


def assert_converged(env) -> dict:
    state = env.state()
    assert state["journal"] == {} and state["applies"][-1]["status"] == "complete"
    source, copies = analyzers(env, "cusrc"), analyzers(env, "cunorth")
    assert set(copies) == {"invoice", "router"}
    for aid in ("invoice", "router"):
        assert copies[aid]["status"] == "ready"
        assert all(copies[aid].get(k) == source[aid].get(k) for k in DEFINITION), aid
        rec = state["resources"][f"cu/cunorth/analyzer/{aid}"]
        assert rec["deployments"] == DEPLOYMENTS
        assert rec["target_fingerprint"] == rec["source_fingerprint"] == rec["lineage"]["source_version"]
        assert rec["lineage"]["state"] == state["lineage"] and rec["lineage"]["source_resource"] == arm_id("cusrc")
    assert state["resources"][DEFAULT]["value"] == "gpt41-n" and defaults(env, "cunorth")["gpt-4.1"] == "gpt41-n"
    assert accepted_copies(env) == 2, "one accepted copy per analyzer"
    return state


def test_ga_grant_flow_copies_after_the_defaults_update_and_records_the_deployments(env):
    plan = env.plan()
    actions = {c.address: c.actions for c in plan.changes}
    assert actions == {INVOICE: ["create"], ROUTER: ["create"], DEFAULT: ["update"]}
    assert {c.address: c.depends_on for c in plan.changes}[ROUTER] == [INVOICE, DEFAULT]
    seen = env.watch_journal()
    events: list[dict] = []
    result = env.execute(plan, parallelism=10, events=events)
    assert sorted(result.applied) == sorted(actions)

    (at_patch,) = journal_at(seen, "cu:defaults:patch", DEFAULT)
    assert at_patch["step"] == "setting-default" and at_patch["action"] == "update"
    grants = journal_at(seen, "cu:grantCopyAuthorization", INVOICE)
    assert grants[0]["step"] == "granting" and grants[0]["target_id"] == "invoice"
    copies = [j for j in journal_at(seen, "cu:copy", INVOICE) if j]
    assert [j["step"] for j in copies] == ["copy-requested"]
    polls = [j for j in journal_at(seen, "cu:operations:get", INVOICE) if j]
    assert polls and all(j["step"] == "copying" and j["operation_url"] for j in polls)

    # depends_on: /defaults first, the router after the analyzer it routes to
    done = [e["address"] for e in events if e["type"] == "change_done"]
    assert done.index(DEFAULT) < done.index(INVOICE) < done.index(ROUTER)
    copy_order = [e["path"].rsplit("/", 1)[-1].split(":")[0] for e in env.log("cu:copy")]
    assert copy_order == ["invoice", "router"]

    state = assert_converged(env)
    rec = state["resources"][INVOICE]
    assert rec["operation_url"] == polls[0]["operation_url"] and rec["plan_digest"] == plan.digest
    assert env.count("cusrc", "cu:grantCopyAuthorization") == 2 and env.count("cunorth", "cu:defaults:patch") == 1
    assert all(c.actions == ["no-op"] for c in env.plan().changes)


def test_defaults_moved_since_the_plan_are_refused_before_any_side_effect(env):
    plan = env.plan()
    r = env.request("cunorth", "PATCH", "/contentunderstanding/defaults", params={"api-version": API},
                    json={"modelDeployments": {"text-embedding-3-large": "te3l-other"}},
                    headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    with pytest.raises(StalePlanError) as exc:
        env.execute(plan)
    assert "cunorth /defaults text-embedding-3-large is now te3l-other; the plan expected te3l-n" in str(exc.value)
    assert env.count("cusrc", "cu:grantCopyAuthorization") == 0 and env.count("cunorth", "cu:copy") == 0
    assert env.count("cunorth", "cu:defaults:patch") == 1  # only the out-of-band one
    assert "gpt-4.1" not in defaults(env, "cunorth") and not env.state_path.exists()


@pytest.mark.parametrize("point,step", [
    ("after-journal-granting", "granting"),
    ("after-copy-sent", "copy-requested"),
    ("after-journal-copying", "copying"),
    ("after-copy-done", "copying"),
])
def test_resume_from_each_step_converges_with_one_copy_per_analyzer(env, point, step):
    # Copies take 0.3 s: long enough to be running when the apply is killed. The client's sleeps move the emulator's
    # clock (no wait); the one real wait is the resume's look at a ``creating`` analyzer (``wait_asset`` sleeps with
    # asyncio.sleep, not the client's sleep).
    env.app.store.settings.copy_seconds = 0.3
    plan = env.plan()
    with pytest.raises(Killed):
        env.execute(plan, crash_at=point)
    # /defaults first (parallelism 1), then the invoice copy was interrupted
    assert env.journal_steps() == {INVOICE: step}
    assert env.state()["applies"][-1]["done"] == [DEFAULT]
    operation = env.state()["journal"][INVOICE].get("operation_url")
    events: list[dict] = []
    result = env.execute(plan, events=events)
    assert result.skipped == [DEFAULT] and sorted(result.applied) == [INVOICE, ROUTER]
    state = assert_converged(env)
    if step == "copying":  # the journaled operation was polled, not a new copy started
        assert state["resources"][INVOICE]["operation_url"] == operation
    assert env.count("cunorth", "cu:defaults:patch") == 1
    assert any(e.get("step") == "resuming" and e["address"] == INVOICE for e in events)


def test_a_lost_grant_answer_is_resent_and_the_first_apply_copies_once(env):
    """issue 19: the grant ran on the source but its answer was lost; resending it is safe (server-side state naming
    the target, replaced by the next grant, no secret), so the same apply goes on and copies each analyzer once."""
    fault_once(env, "cusrc", "cu:grantCopyAuthorization", "drop_after")
    events: list[dict] = []
    result = env.execute(env.plan(), events=events)
    assert sorted(result.applied) == sorted([INVOICE, ROUTER, DEFAULT])
    grants = env.log("cu:grantCopyAuthorization")
    assert [e["fault"] for e in grants][:2] == ["drop_after", None] and len(grants) == 3  # one resent, + router
    assert any(e.get("level") == "warning" and "sending the grant again" in e["message"] for e in events)
    assert_converged(env)


@pytest.mark.parametrize("fault", ["drop", "drop_after"])
def test_a_lost_copy_answer_looks_at_the_target_then_resends_and_copies_once(env, fault):
    """issue 19: a :copy whose connection dropped. Before the target saw it ("drop"): the target shows no analyzer,
    so :copy is sent again (safe: the id is fixed). After ("drop_after"): the target shows the analyzer creating with
    the planned definition: drplan waits for it, no second :copy."""
    fault_once(env, "cunorth", "cu:copy", fault)
    events: list[dict] = []
    result = env.execute(env.plan(), events=events)
    assert sorted(result.applied) == sorted([INVOICE, ROUTER, DEFAULT])
    copies = env.log("cu:copy")
    assert copies[0]["fault"] == fault
    assert len([e for e in copies if e["status"] in (200, 201, 202)]) == 2  # one accepted copy per analyzer
    assert any("sending :copy again" in e["message"] for e in events) == (fault == "drop")
    assert_converged(env)


# --- description / tags: PATCH in place, no recopy (issue 17 point 9) -----------------------------------------------

def _edit_source_invoice(env) -> None:
    r = env.request("cusrc", "PATCH", "/contentunderstanding/analyzers/invoice", params={"api-version": API},
                    json={"description": "Invoices v2", "tags": {"team": None, "cost": "42"}},
                    headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text


def test_a_description_and_tags_change_is_patched_in_place_not_recopied(env):
    env.execute(env.plan())
    copied_at = env.state()["resources"][INVOICE]["copied_at"]
    _edit_source_invoice(env)
    plan = env.plan()
    (change,) = [c for c in plan.changes if c.action.value != "no-op"]
    assert change.address == INVOICE and change.actions == ["update"] and change.steps == ["patch"]
    assert "description and tags changed on the source: PATCH, no recopy" in change.reason
    assert change.settings == {"patch": {"description": "Invoices v2", "tags": {"team": None, "cost": "42"}}}
    assert not change.flags.drift
    save_plan(plan, env.tmp_path / "plan.json")  # the plan and state schemas know the step names
    plan = load_plan(env.tmp_path / "plan.json")
    seen = env.watch_journal()
    result = env.execute(plan)
    assert result.applied == [INVOICE]
    (at_patch,) = journal_at(seen, "cu:analyzers:patch", INVOICE)
    assert at_patch["step"] == "patching" and at_patch["action"] == "update"
    state = assert_converged(env)  # still exactly one accepted copy per analyzer: nothing was recopied
    assert env.count("cunorth", "cu:grantCopyAuthorization") + env.count("cusrc", "cu:grantCopyAuthorization") == 2
    rec = state["resources"][INVOICE]
    assert rec["copied_at"] == copied_at and rec["plan_digest"] == plan.digest
    assert analyzers(env, "cunorth")["invoice"]["tags"] == {"cost": "42"}
    assert all(c.actions == ["no-op"] for c in env.plan().changes)


def test_replace_requested_recopies_instead_of_patching(env):
    """plan --replace (issue 17): the description-only change is copied again with allowReplace, never PATCHed."""
    env.execute(env.plan())
    _edit_source_invoice(env)
    plan = env.plan(replace=(INVOICE,))
    (c,) = [c for c in plan.changes if c.address == INVOICE]
    assert c.actions == ["delete", "create"] and c.reason.startswith("replace requested (--replace)")
    env.execute(plan)
    assert accepted_copies(env) == 3 and env.count("cunorth", "cu:analyzers:patch") == 0
    state = env.state()
    assert state["journal"] == {} and state["applies"][-1]["status"] == "complete"
    assert analyzers(env, "cunorth")["invoice"]["tags"] == {"cost": "42"}
    assert all(c.actions == ["no-op"] for c in env.plan().changes)


@pytest.mark.parametrize("point,replan", [("after-journal-patching", False), ("after-patch-sent", True)])
def test_a_killed_patch_converges_on_reapply_or_replan(env, point, replan):
    env.execute(env.plan())
    _edit_source_invoice(env)
    plan = env.plan()
    with pytest.raises(Killed):
        env.execute(plan, crash_at=point)
    assert env.journal_steps() == {INVOICE: "patching"}
    if replan:  # the PATCH landed: the new plan finishes the journal entry (verify + record), no new PATCH
        again = env.plan()
        (c,) = [c for c in again.changes if c.address == INVOICE]
        assert c.actions == ["no-op"] and c.settings["unfinished"]["step"] == "patching"
        env.execute(again)
    else:
        env.execute(plan)
    assert_converged(env)
    assert env.count("cunorth", "cu:analyzers:patch") == 1
    assert all(c.actions == ["no-op"] for c in env.plan().changes)


def test_a_refused_patch_fails_the_change_and_says_how_to_recopy(env, monkeypatch):
    """PATCH is [S] only (no recording): if the service refuses it, apply never recopies on its own."""
    from drplan.emulator.services import content_understanding as emu_cu

    async def refuse(service, call):
        raise emu_cu.cu_error(405, "MethodNotAllowed", "The requested method is not allowed.")

    env.execute(env.plan())
    _edit_source_invoice(env)
    plan = env.plan()
    monkeypatch.setitem(emu_cu._HANDLERS, "cu:analyzers:patch", refuse)
    with pytest.raises(ApplyError) as exc:
        env.execute(plan)
    message = exc.value.failures[INVOICE]
    assert "405" in message and "refused to update the description and tags of analyzer 'invoice' in place" in message
    assert f"To recopy it instead, run drplan plan --replace {INVOICE}" in message
    assert accepted_copies(env) == 2 and env.count("cunorth", "cu:analyzers:delete") == 0
