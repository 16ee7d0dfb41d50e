"""Document Intelligence v4 / Form Recognizer v3 apply steps (drplan/families/document_intelligence/apply.py), in
process against the emulator: the journal is written before each side effect, every crash point resumes to exactly
one copy, a 409 on authorize finds our own copy, a lost copyTo answer finds its operation, a replace deletes then
copies."""

from __future__ import annotations

import json

import pytest
from apply_support import Killed, account_block, arm_id, fault_once, journal_at, resource_block

from drplan.errors import ApplyError
from drplan.lineage import Lineage

API = "2024-11-30"
ADDR = "prod/west/document-model/invoice"
CONFIG = """
seed = 1
[settings]
copy_seconds = 0.0
retry_after_seconds = 0
""" + account_block("src", extra="""
    [[accounts.src.models]]
    model_id = "invoice"
    description = "Invoices"
    created = "2024-03-04T09:15:00Z"
    tags = { team = "ap" }
    """) + account_block("west", region="westus2")
SPEC = "version = 1\n" + resource_block("src", family="document-intelligence", api_version=API) + resource_block(
    "west", family="document-intelligence", api_version=API, region="westus2") + """
[[replicate]]
name = "prod"
source = "src"
targets = ["west"]
models = ["invoice"]
"""
SOURCE_VERSION = "created=2024-03-04T09:15:00.000Z;modified=2024-03-04T09:15:00.000Z"


@pytest.fixture
def env(emulated):
    return emulated(CONFIG, SPEC)


def west_models(env) -> dict[str, dict]:
    r = env.get("west", "/documentintelligence/documentModels", **{"api-version": API})
    assert r.status_code == 200
    return {m["modelId"]: m for m in r.json()["value"] if not m["modelId"].startswith("prebuilt-")}


def accepted_copies(env) -> int:
    """copyTo requests the source accepted (202), whether or not their answer reached drplan."""
    return len(env.log("documentModels:copyTo", status=202))


def assert_converged(env) -> dict:
    """One copy of invoice on west, recorded with its lineage; nothing in flight; the apply complete."""
    state = env.state()
    assert state["journal"] == {}
    assert [a["status"] for a in state["applies"]] == ["complete"]
    rec = state["resources"][ADDR]
    assert rec["lineage"] == {"state": state["lineage"], "source_resource": arm_id("src"), "source_id": "invoice",
                              "source_version": SOURCE_VERSION}
    models = west_models(env)
    assert list(models) == ["invoice"]
    assert models["invoice"]["tags"]["drplan-lineage"] == state["lineage"]
    assert rec["target_fingerprint"].startswith("created=" + models["invoice"]["createdDateTime"][:19])
    assert accepted_copies(env) == 1, "exactly one copyTo per change, whatever was interrupted"
    return rec


def test_a_copy_journals_each_step_before_its_side_effect_and_records_lineage(env):
    plan = env.plan()
    assert [(c.address, c.actions) for c in plan.changes] == [(ADDR, ["create"])]
    seen = env.watch_journal()
    result = env.execute(plan)
    assert result.applied == [ADDR] and not result.failed

    # What was on disk when each side effect reached the service: the step that says what may have happened.
    (at_authorize,) = journal_at(seen, "documentModels:authorizeCopy", ADDR)
    assert at_authorize["step"] == "authorizing" and at_authorize["target_id"] == "invoice"
    assert at_authorize["action"] == "create" and at_authorize["plan_digest"] == plan.digest
    assert at_authorize["authorized_at"]
    (at_copy,) = journal_at(seen, "documentModels:copyTo", ADDR)
    assert at_copy["step"] == "copy-requested"
    assert at_copy["target_location"].startswith("http://west.emulator/documentintelligence/documentModels/invoice")
    assert at_copy["authorization_expires"] and at_copy["authorized_at"] == at_authorize["authorized_at"]
    polls = journal_at(seen, "operations:get", ADDR)
    assert polls and all(e["step"] == "copying" and e["operation_url"] for e in polls)
    assert "token" not in json.dumps(seen).lower()  # the authorization is never written down

    rec = assert_converged(env)
    assert rec["operation_url"] == polls[0]["operation_url"] and rec["lineage_tags"] is True
    assert rec["plan_digest"] == plan.digest and rec["source_fingerprint"] == SOURCE_VERSION
    copy = west_models(env)["invoice"]
    # The copy carries the source's description and tags plus its lineage, so a lost state can still tell it.
    lineage = Lineage(env.state()["lineage"], arm_id("src"), "invoice", SOURCE_VERSION)
    assert copy["tags"] == {"team": "ap", **lineage.tags()} and copy["description"] == "Invoices"


#: Each crash point of the copy and the journal step it leaves behind.
POINTS = {
    "after-journal-authorizing": "authorizing",
    "after-copy-sent": "copy-requested",
    "after-journal-copying": "copying",
    "after-copy-done": "copying",
}


@pytest.mark.parametrize("point,step", POINTS.items())
def test_resume_from_each_journal_step_converges_with_one_copy(env, point, step):
    plan = env.plan()
    with pytest.raises(Killed):
        env.execute(plan, crash_at=point)
    assert env.journal_steps() == {ADDR: step}
    assert [a["status"] for a in env.state()["applies"]] == ["in-progress"]
    events: list[dict] = []
    result = env.execute(plan, events=events)
    assert result.applied == [ADDR]
    if point != "after-journal-authorizing":
        assert any(e.get("step") == "resuming" and f"'{step}'" in e["message"] for e in events)
    assert_converged(env)


@pytest.mark.parametrize("point", ["after-authorize", "after-journal-copy-requested"])
def test_resume_after_an_unused_authorization_explains_the_reservation_then_converges(env, point):
    """The authorization died with the process: the id stays reserved until it expires (1 h). The resume says so,
    copies nothing, and once the reservation expired it copies exactly once."""
    plan = env.plan()
    with pytest.raises(Killed):
        env.execute(plan, crash_at=point)
    with pytest.raises(ApplyError) as exc:
        env.execute(plan)
    assert "reserved by an earlier copy authorization that was never used" in str(exc.value)
    assert "An interrupted apply asked for that authorization at" in str(exc.value)
    assert accepted_copies(env) == 0 and west_models(env) == {}
    assert env.journal_steps() == {ADDR: "authorizing"}
    env.app.clock.advance(3700)
    env.execute(plan)
    assert_converged(env)


def test_resume_when_the_journaled_operation_aged_out_asks_the_target(env):
    """A copying entry whose operation is gone (retention): the target holds our copy by its lineage tags."""
    plan = env.plan()
    with pytest.raises(Killed):
        env.execute(plan, crash_at="after-copy-done")
    env.app.clock.advance(2 * 86400)  # past operation_retention_seconds
    env.execute(plan)
    assert_converged(env)
    assert env.log("operations:get", status=404), "the journaled operation was looked up and found gone"


def test_a_409_on_authorize_with_our_copy_already_there_records_it(env):
    """Between the resume's look at the target and authorize, our own earlier copy lands (it carries this
    state's lineage for the planned source version): the 409 is answered by recording it, copying nothing."""
    plan = env.plan()
    with pytest.raises(Killed):
        env.execute(plan, crash_at="after-journal-authorizing")
    seeded: list[dict] = []

    async def our_copy_lands(account, request):
        body = json.loads(await request.body())
        seeded.append(await env.aadmin("POST", "accounts/west/models", {
            "model_id": body["modelId"], "created": "2025-01-01T00:00:00Z", "tags": body["tags"]}))

    env.on_route("documentModels:authorizeCopy", our_copy_lands)
    result = env.execute(plan)
    assert result.applied == [ADDR] and len(seeded) == 1
    assert [e["status"] for e in env.log("documentModels:authorizeCopy")] == [409]
    assert env.count("src", "documentModels:copyTo") == 0
    rec = env.state()["resources"][ADDR]
    assert "operation_url" not in rec and rec["target_fingerprint"].startswith("created=2025-01-01T00:00:00")
    assert rec["lineage"]["state"] == env.state()["lineage"] and env.state()["journal"] == {}


def test_a_409_on_authorize_with_a_foreign_model_is_an_error_that_names_it(env):
    plan = env.plan()

    async def someone_else_creates_it(account, request):
        await env.aadmin("POST", "accounts/west/models", {"model_id": "invoice", "created": "2025-01-01T00:00:00Z"})

    env.on_route("documentModels:authorizeCopy", someone_else_creates_it)
    with pytest.raises(ApplyError) as exc:
        env.execute(plan)
    assert "not this apply's copy of the planned source version" in exc.value.failures[ADDR]
    assert env.count("src", "documentModels:copyTo") == 0
    assert ADDR not in env.state()["resources"]


def test_a_lost_copyto_answer_finds_the_operation_instead_of_copying_again(env):
    env.faults({"drop_after_rate": 1.0, "routes": ["documentModels:copyTo"]}, account="src")
    plan = env.plan()
    seen = env.watch_journal()
    result = env.execute(plan)
    assert result.applied == [ADDR]
    assert [e["fault"] for e in env.log("documentModels:copyTo")] == ["drop_after"]  # the answer was lost
    assert env.count("src", "operations:list") >= 1  # ... and found in the source's operations
    (listed,) = journal_at(seen, "operations:list", ADDR)
    assert listed["step"] == "copy-requested"
    rec = assert_converged(env)
    assert rec["operation_url"].startswith("http://src.emulator/documentintelligence/operations/")


def test_a_dropped_authorize_is_resent_and_the_first_apply_copies_once(env):
    """issue 19: the connection dropped before the target saw authorizeCopy; the resend gets the authorization."""
    fault_once(env, "west", "documentModels:authorizeCopy", "drop")
    events: list[dict] = []
    assert env.execute(env.plan(), events=events).applied == [ADDR]
    assert [e["fault"] for e in env.log("documentModels:authorizeCopy")] == ["drop", None]
    assert any(e.get("level") == "warning" and "asking again" in e["message"] for e in events)
    assert_converged(env)


def test_a_lost_authorize_answer_is_resent_and_a_409_then_names_the_lost_reservation(env):
    """issue 19: authorizeCopy ran but its answer was lost: the resend finds the id reserved by an authorization
    drplan never received (contracts §2.4, azure-sdk-for-net #51813); the change fails saying so, nothing is copied,
    and an apply after the reservation expired copies it once."""
    fault_once(env, "west", "documentModels:authorizeCopy", "drop_after")
    plan = env.plan()
    with pytest.raises(ApplyError) as exc:
        env.execute(plan)
    message = exc.value.failures[ADDR]
    assert "reserved" in message and "answer to this apply's own authorizeCopy was lost" in message
    assert [e["status"] for e in env.log("documentModels:authorizeCopy")] == [200, 409]
    assert env.count("src", "documentModels:copyTo") == 0 and west_models(env) == {}
    env.admin("POST", "clock", {"advance_seconds": 3601})  # the lost authorization expires, the id is free again
    assert env.execute(plan).applied == [ADDR]
    assert accepted_copies(env) == 1 and list(west_models(env)) == ["invoice"]


def rebuild_source(env, created: str = "2025-02-02T00:00:00Z") -> None:
    env.admin("DELETE", "accounts/src/models/invoice")
    env.admin("POST", "accounts/src/models", {"model_id": "invoice", "created": created, "tags": {"team": "ap"}})


def test_replace_deletes_the_old_copy_then_copies_the_new_version(env):
    env.execute(env.plan())
    rebuild_source(env)
    plan = env.plan()
    (change,) = plan.changes
    assert change.actions == ["delete", "create"]
    seen = env.watch_journal()
    env.execute(plan)
    (at_delete,) = journal_at(seen, "documentModels:delete", ADDR)
    assert at_delete["step"] == "deleting" and at_delete["action"] == "replace"
    (at_authorize,) = journal_at(seen, "documentModels:authorizeCopy", ADDR)
    assert at_authorize["step"] == "authorizing"  # the delete was recorded done before the copy started
    rec = env.state()["resources"][ADDR]
    assert rec["source_fingerprint"].startswith("created=2025-02-02")
    assert west_models(env)["invoice"]["tags"]["drplan-source-version"].startswith("created=2025-02-02")
    assert accepted_copies(env) == 2  # the first apply's and the replace's


def test_a_replace_whose_copyto_is_lost_never_takes_the_replaced_copys_operation_for_its_own(env):
    """issue 19 (found by the fault storm): minutes after the first copy, the source is rebuilt and replaced; the
    replace's copyTo connection drops before the handler. The search for its operation allows 10 minutes of clock
    skew, so the first copy's operation (same target location, succeeded) matched: drplan waited on it, found no model
    (the replace had deleted it) and failed, with its own authorization left unused. That operation is the state
    record's: it is excluded, no operation is found, and copyTo is resent with the same authorization."""
    env.execute(env.plan())
    rebuild_source(env)
    plan = env.plan()
    fault_once(env, "src", "documentModels:copyTo", "drop")
    assert env.execute(plan).applied == [ADDR]
    assert [e["fault"] for e in env.log("documentModels:copyTo")] == [None, "drop", None]
    assert west_models(env)["invoice"]["tags"]["drplan-source-version"].startswith("created=2025-02-02")
    assert env.state()["journal"] == {} and accepted_copies(env) == 2


def test_replace_killed_after_the_delete_resumes_by_deleting_again_then_copying(env):
    env.execute(env.plan())
    rebuild_source(env)
    plan = env.plan()
    with pytest.raises(Killed):
        env.execute(plan, crash_at="after-delete")
    assert env.journal_steps() == {ADDR: "deleting"} and west_models(env) == {}
    env.execute(plan)
    assert [e["status"] for e in env.log("documentModels:delete")] == [204, 404]  # a second delete is harmless
    assert env.state()["journal"] == {} and list(west_models(env)) == ["invoice"]
    assert env.state()["resources"][ADDR]["source_fingerprint"].startswith("created=2025-02-02")
    assert accepted_copies(env) == 2


def test_a_lost_copyto_answer_with_no_operation_found_is_resent_with_the_same_authorization(env):
    """issue 19: the connection dropped before copyTo took effect, so no operation shows on the source and the
    target holds nothing; the apply resends copyTo with the authorization it holds in memory (single use, so a
    resend can never start a second copy) and succeeds in the first apply, with one copy."""
    fault_once(env, "src", "documentModels:copyTo", "drop")
    bodies: list[bytes] = []

    async def copy_request(account, request):
        bodies.append(await request.body())

    env.on_route("documentModels:copyTo", copy_request)
    events: list[dict] = []
    result = env.execute(env.plan(), events=events)
    assert result.applied == [ADDR]
    assert [e["fault"] for e in env.log("documentModels:copyTo")] == ["drop", None]
    assert env.count("src", "operations:list") >= 1  # looked before resending
    assert env.count("west", "documentModels:authorizeCopy") == 1  # the same authorization, not a new one
    assert len(bodies) == 1  # the handler saw only the resend (the drop came before it)
    assert any(e.get("level") == "warning" and "sending copyTo again" in e["message"] for e in events)
    assert_converged(env)


def test_copyto_is_sent_at_most_three_times_when_every_answer_is_lost(env):
    """The resend is bounded: three lost sends end the step with the last error (no copy started: a later apply
    starts over once the id frees up)."""
    fault_once(env, "src", "documentModels:copyTo", "drop", times=3)
    with pytest.raises(ApplyError) as exc:
        env.execute(env.plan())
    assert "no answer came back" in exc.value.failures[ADDR]
    assert [e["fault"] for e in env.log("documentModels:copyTo")] == ["drop"] * 3
    assert accepted_copies(env) == 0 and west_models(env) == {}
