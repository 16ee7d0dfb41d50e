"""Form Recognizer v2.1 apply steps (drplan/families/form_recognizer_v2/apply.py), in process against the emulator:
the target mints the copy's id, which is journaled before the copy is requested; resume looks at that id (ready:
done; blank, invalid or gone: deleted and copied again); a replace copies first and deletes the old copy last."""

from __future__ import annotations

import json

import pytest
from apply_support import Killed, account_block, arm_id, fault_once, journal_at, resource_block

SRC_ID = "11111111-1111-4111-8111-111111111111"
ADDR = f"forms/v2a/custom-model/{SRC_ID}"
CONFIG = """
seed = 5
[settings]
copy_seconds = 0.0
retry_after_seconds = 0
authorization_ttl_seconds = 3600
""" + account_block("v2src", extra=f"""
    [[accounts.v2src.v2_models]]
    model_id = "{SRC_ID}"
    model_name = "invoices-v2"
    created = "2021-01-01T00:00:00Z"
    last_updated = "2021-01-02T00:00:00Z"
    """) + account_block("v2a", region="westus2")
SPEC = "version = 1\n" + resource_block("v2src", family="form-recognizer", api_version="2.1") + resource_block(
    "v2a", family="form-recognizer", api_version="2.1", region="westus2") + """
[[replicate]]
name = "forms"
source = "v2src"
targets = ["v2a"]
models = ["*-v2"]
"""


@pytest.fixture
def env(emulated):
    return emulated(CONFIG, SPEC)


def target_models(env) -> dict[str, dict]:
    r = env.get("v2a", "/formrecognizer/v2.1/custom/models", op="full")
    assert r.status_code == 200
    return {m["modelId"]: m for m in r.json().get("modelList") or []}


def copies_requested(env) -> list[str]:
    """The minted target ids of the copy requests the source received, in order."""
    return [b["copyAuthorization"]["modelId"] for b in env.copy_bodies]


@pytest.fixture
def watched(env):
    """Record each copy request's body (it names the minted id) and the journal on disk when it arrived."""
    env.copy_bodies = []
    env.copy_journals = []

    async def copy_request(account, request):
        env.copy_bodies.append(json.loads(await request.body()))
        env.copy_journals.append(env.state()["journal"].get(ADDR))

    env.on_route("v2:copy", copy_request)
    return env


def assert_one_ready_copy(env, target_id: str) -> dict:
    state = env.state()
    assert state["journal"] == {} and state["applies"][-1]["status"] == "complete"
    rec = state["resources"][ADDR]
    assert rec["target_id"] == target_id and rec["target_name"] == "invoices-v2"
    assert rec["lineage"] == {"state": state["lineage"], "source_resource": arm_id("v2src"), "source_id": SRC_ID,
                              "source_version": rec["source_fingerprint"]}
    models = target_models(env)
    assert list(models) == [target_id], "exactly one copy, no blank model left behind"
    assert models[target_id]["status"] == "ready" and models[target_id]["modelName"] == "invoices-v2"
    return rec


def test_the_minted_id_is_journaled_before_the_copy_is_requested(watched):
    env = watched
    seen = env.watch_journal()
    env.execute(env.plan())
    (at_authorize,) = journal_at(seen, "v2:copyAuthorization", ADDR)
    assert at_authorize["step"] == "authorizing" and "target_id" not in at_authorize
    (minted,) = copies_requested(env)
    (at_copy,) = env.copy_journals
    assert at_copy["step"] == "copy-requested" and at_copy["target_id"] == minted
    assert at_copy["authorization_expires"]  # the expiry, never the access token
    assert "accessToken" not in json.dumps(seen) and env.copy_bodies[0]["copyAuthorization"]["accessToken"] \
        not in env.state_path.read_text()
    rec = assert_one_ready_copy(env, minted)
    assert rec["operation_url"].lower().startswith(
        f"http://v2src.emulator/formrecognizer/v2.1/custom/models/{SRC_ID}/copyresults/")
    assert rec["target_fingerprint"]


@pytest.mark.parametrize("blank", ["gone", "creating", "invalid"])
def test_resume_from_copy_requested_with_a_blank_target_deletes_it_and_copies_again(watched, blank):
    """Killed after the id was minted and journaled, before the copy was asked for: whatever the target shows at
    that id (nothing: the emulator keeps an unused reservation invisible; or a blank / invalid model) is never
    adopted: it is deleted, and a fresh authorization is copied into."""
    env = watched
    plan = env.plan()
    with pytest.raises(Killed):
        env.execute(plan, crash_at="after-authorize")
    entry = env.state()["journal"][ADDR]
    assert entry["step"] == "copy-requested"
    first = entry["target_id"]
    if blank != "gone":
        env.app.clock.advance(3601)  # the unused reservation lapses; a model shows at the minted id
        env.admin("POST", "accounts/v2a/v2_models", {"model_id": first, "status": blank})
    env.execute(plan)
    deletes = env.log("v2:custom/models:delete")
    assert [e["path"].rsplit("/", 1)[-1] for e in deletes] == [first]
    assert [e["status"] for e in deletes] == [404 if blank == "gone" else 204]
    (second,) = copies_requested(env)  # exactly one copy, into a newly minted id
    assert second != first
    assert env.count("v2a", "v2:copyAuthorization") == 2
    assert_one_ready_copy(env, second)


def test_resume_from_copy_requested_when_the_copy_landed_finishes_it(watched):
    """Killed after the copy was sent, before ``copying`` was journaled: the minted id is a ready copy, so the
    resume records it: no delete, no second authorization, no second copy."""
    env = watched
    plan = env.plan()
    with pytest.raises(Killed):
        env.execute(plan, crash_at="after-copy-sent")
    assert env.journal_steps() == {ADDR: "copy-requested"}
    env.execute(plan)
    (minted,) = copies_requested(env)
    assert env.count("v2a", "v2:custom/models:delete") == 0 and env.count("v2a", "v2:copyAuthorization") == 1
    assert_one_ready_copy(env, minted)


def test_resume_from_copy_requested_with_a_copy_still_running_finishes_it(watched):
    """Killed after the copy was accepted, before ``copying`` was journaled, while the copy still runs: the minted id
    shows a ``creating`` model only once a copy into it was accepted, so the resume waits for that copy and records
    it (issue 19: finish, never delete our own in-flight copy): one authorization, one copy, no delete."""
    env = watched
    env.app.store.settings.copy_seconds = 30.0  # virtual: the client's sleeps move the emulator's clock
    plan = env.plan()
    with pytest.raises(Killed):
        env.execute(plan, crash_at="after-copy-sent")
    first = env.state()["journal"][ADDR]["target_id"]
    assert target_models(env)[first]["status"] == "creating"
    env.execute(plan)
    (only,) = copies_requested(env)
    assert only == first and env.count("v2a", "v2:custom/models:delete") == 0
    assert env.count("v2a", "v2:copyAuthorization") == 1
    assert_one_ready_copy(env, first)


def test_resume_from_copying_waits_for_the_running_copy(watched):
    env = watched
    env.app.store.settings.copy_seconds = 30.0
    plan = env.plan()
    with pytest.raises(Killed):
        env.execute(plan, crash_at="after-journal-copying")
    entry = env.state()["journal"][ADDR]
    assert entry["step"] == "copying" and target_models(env)[entry["target_id"]]["status"] == "creating"
    env.execute(plan)
    assert copies_requested(env) == [entry["target_id"]]  # waited for, not copied again
    rec = assert_one_ready_copy(env, entry["target_id"])
    assert rec["operation_url"] == entry["operation_url"]


def test_a_retrained_source_is_replaced_create_before_destroy(watched):
    env = watched
    env.execute(env.plan())
    (old,) = copies_requested(env)
    env.admin("PATCH", f"accounts/v2src/v2_models/{SRC_ID}", {"last_updated": "2022-06-01T00:00:00Z"})
    plan = env.plan()
    (change,) = plan.changes
    assert change.actions == ["create", "delete"] and change.target.id == old
    seen = env.watch_journal()
    env.execute(plan)
    _, new = copies_requested(env)
    (at_delete,) = journal_at(seen, "v2:custom/models:delete", ADDR)
    # The old copy is deleted only once the new one is ready, and the journal says which is which.
    assert at_delete["step"] == "deleting-old" and at_delete["target_id"] == new and at_delete["old_target_id"] == old
    rec = assert_one_ready_copy(env, new)
    assert "2022-06-01" in rec["source_fingerprint"]


def test_a_lost_copy_authorization_answer_is_resent_and_the_first_apply_copies_once(watched):
    """issue 19: copyAuthorization minted an id but its answer was lost; resending is safe (each call mints a new
    unused id; the lost one is never listed and expires by itself), so the same apply copies once, into the id
    it received and journaled."""
    env = watched
    fault_once(env, "v2a", "v2:copyAuthorization", "drop_after")
    events: list[dict] = []
    result = env.execute(env.plan(), events=events)
    assert result.applied == [ADDR]
    assert [e["fault"] for e in env.log("v2:copyAuthorization")] == ["drop_after", None]
    assert any(e.get("level") == "warning" and "asking again" in e["message"] for e in events)
    (minted,) = copies_requested(env)  # one copy request, into the second minted id
    assert env.copy_journals[0]["target_id"] == minted
    assert_one_ready_copy(env, minted)  # the lost reservation is not a model: nothing to clean up
    assert env.count("v2a", "v2:custom/models:delete") == 0


@pytest.mark.parametrize("fault", ["drop", "drop_after"])
def test_a_lost_copy_answer_looks_at_the_minted_id_then_resends_with_the_same_authorization(watched, fault):
    """issue 19: the copy request's connection is lost. Before the handler (nothing started): the minted model shows
    no copy, so the copy is sent again with the same single-use authorization into the same minted id. After it (the
    copy started): the minted model shows it, so drplan waits for it; any resend would have been refused as used.
    Either way the first apply ends with one copy, in the minted id, and nothing deleted."""
    env = watched
    fault_once(env, "v2src", "v2:copy", fault)
    events: list[dict] = []
    result = env.execute(env.plan(), events=events)
    assert result.applied == [ADDR]
    assert [e["fault"] for e in env.log("v2:copy")] == [fault] + ([None] if fault == "drop" else [])
    minted = env.copy_bodies[0]["copyAuthorization"]["modelId"]
    assert set(copies_requested(env)) == {minted} and env.count("v2a", "v2:copyAuthorization") == 1
    resent = [e for e in events if e.get("level") == "warning" and "same authorization" in e.get("message", "")]
    assert len(resent) == (1 if fault == "drop" else 0)
    assert_one_ready_copy(env, minted)
    assert env.count("v2a", "v2:custom/models:delete") == 0
