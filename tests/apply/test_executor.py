"""The executor (drplan/apply/executor.py) in process against the emulator, with plans from the real planner: what
it refuses before any side effect (errors, a stale state, a source changed since the plan), what it does once
(a finished plan), ordering (depends_on), the concurrency bound, the generic delete, and a lost state's lineage."""

from __future__ import annotations

import json

import pytest
from apply_support import Killed, account_block, arm_id, journal_at, resource_block

from drplan.errors import EXIT_STALE_PLAN, ApplyError, NotApplyableError, StalePlanError

API = "2024-11-30"
MODELS = ("m1", "m2", "m3", "m4", "m5", "m6")
CONFIG = """
seed = 2
[settings]
copy_seconds = 0.0
retry_after_seconds = 0
""" + account_block("src", extra="".join(f"""
    [[accounts.src.models]]
    model_id = "{m}"
    created = "2024-0{i + 1}-01T00:00:00Z"
    """ for i, m in enumerate(MODELS))) + account_block("west", region="westus2")


def spec(models: tuple[str, ...] = ("m1", "m2")) -> str:
    return "version = 1\n" + resource_block("src", family="document-intelligence", api_version=API) + resource_block(
        "west", family="document-intelligence", api_version=API, region="westus2") + f"""
[[replicate]]
name = "prod"
source = "src"
targets = ["west"]
models = {json.dumps(list(models))}
prune = true
"""


def addr(model: str) -> str:
    return f"prod/west/document-model/{model}"


def west_models(env) -> set[str]:
    r = env.get("west", "/documentintelligence/documentModels", **{"api-version": API})
    return {m["modelId"] for m in r.json()["value"] if not m["modelId"].startswith("prebuilt-")}


def side_effects(env) -> int:
    """Requests that change something on a service (authorize, copy, delete)."""
    return sum(env.count(a, r) for a in ("src", "west")
               for r in ("documentModels:authorizeCopy", "documentModels:copyTo", "documentModels:delete"))


@pytest.fixture
def env(emulated):
    return emulated(CONFIG, spec())


def test_a_plan_with_errors_is_refused_and_nothing_is_sent(env):
    # A model on the target that drplan did not copy (no lineage tags): the planner will not overwrite it.
    env.admin("POST", "accounts/west/models", {"model_id": "m2", "created": "2023-01-01T00:00:00Z"})
    plan = env.plan()
    assert not plan.applyable and any("drplan will not overwrite" in e for e in plan.errors)
    before = env.transport.requests
    with pytest.raises(NotApplyableError, match="the plan has errors and cannot be applied"):
        env.execute(plan)
    assert env.transport.requests == before and side_effects(env) == 0
    assert not env.state_path.exists()


def test_a_finished_plan_applied_again_is_a_no_op(env):
    plan = env.plan()
    first = env.apply(plan)  # through drplan.core.apply_plan, as the CLI does
    assert sorted(first.applied) == [addr("m1"), addr("m2")] and not first.already_applied
    stored = env.state_path.read_bytes()
    requests = env.transport.requests
    again = env.apply(plan)
    assert again.already_applied and again.applied == [] and again.failed == {}
    assert env.transport.requests == requests, "a finished plan sends nothing, not even a refresh"
    assert env.state_path.read_bytes() == stored  # serial unchanged: nothing written
    assert env.count("src", "documentModels:copyTo") == 2


def _another_apply_ran(env):
    env.spec_path.write_text(spec(("m1", "m2", "m3")))
    env.apply(env.plan())


def _state_replaced(env):
    doc = env.state()
    doc["lineage"] = "11111111-2222-4333-8444-555555555555"
    env.state_path.write_text(json.dumps(doc))


def _state_deleted(env):
    env.state_path.unlink()


@pytest.mark.parametrize("moved,message", [
    (_another_apply_ran, "(another apply ran since)"),
    (_state_replaced, "(a different state file)"),
    (_state_deleted, "does not exist; restore the state or run drplan plan again"),
])
def test_a_plan_from_another_state_or_serial_is_stale(env, moved, message):
    env.apply(env.plan())  # a state exists: lineage L, serial n
    env.admin("DELETE", "accounts/west/models/m1")  # so the next plan has work to do
    plan = env.plan()
    assert plan.state.lineage == env.state()["lineage"]
    moved(env)
    effects = side_effects(env)
    with pytest.raises(StalePlanError) as exc:
        env.execute(plan)
    assert exc.value.exit_code == EXIT_STALE_PLAN == 3
    assert message in str(exc.value) and "run drplan plan again" in str(exc.value)
    assert side_effects(env) == effects
    if env.state_path.exists():
        assert not any(a["plan_digest"] == plan.digest for a in env.state()["applies"])


def test_a_plan_made_without_state_is_stale_once_a_state_exists(env):
    plan = env.plan()
    assert plan.state.lineage is None
    env.spec_path.write_text(spec(("m1",)))
    env.apply(env.plan())  # another plan applied meanwhile: a state exists now
    with pytest.raises(StalePlanError, match="the plan was made when there was no state, but .* now exists"):
        env.execute(plan)
    assert env.count("src", "documentModels:copyTo") == 1  # only the other plan's copy


@pytest.mark.parametrize("violate,expected", [
    (lambda env: (env.admin("DELETE", "accounts/src/models/m2"),
                  env.admin("POST", "accounts/src/models", {"model_id": "m2", "created": "2025-05-05T00:00:00Z"})),
     "prod/west/document-model/m2: the source src/m2 changed since the plan"),
    (lambda env: env.admin("DELETE", "accounts/src/models/m2"),
     "prod/west/document-model/m2: the source src/m2 no longer exists"),
    (lambda env: env.admin("POST", "accounts/west/models", {"model_id": "m1", "created": "2025-05-05T00:00:00Z"}),
     "west/m1 now exists on the target"),
])
def test_violated_preconditions_are_refused_before_any_side_effect(env, violate, expected):
    plan = env.plan()
    violate(env)
    with pytest.raises(StalePlanError) as exc:
        env.execute(plan)
    assert exc.value.exit_code == 3
    assert expected in str(exc.value) and "the plan no longer matches the live resources" in str(exc.value)
    assert side_effects(env) == 0 and not env.state_path.exists()  # not even an apply record was written


def test_depends_on_orders_changes_and_a_failed_dependency_stops_its_dependents(emulated):
    env = emulated(CONFIG, spec(("m1", "m2", "m3")))
    plan = env.plan()
    by = {c.address: c for c in plan.changes}
    by[addr("m3")].depends_on = [addr("m1")]
    by[addr("m1")].depends_on = [addr("m2")]
    events: list[dict] = []
    env.execute(plan, parallelism=10, events=events)
    done = [e["address"] for e in events if e["type"] == "change_done"]
    assert done == [addr("m2"), addr("m1"), addr("m3")]
    started = [e["address"] for e in events if e.get("step") == "authorizing"]
    assert started == done, "a change starts only once what it depends on is done"


def test_a_failed_dependency_leaves_its_dependents_not_attempted(emulated):
    env = emulated(CONFIG, spec(("m1", "m2", "m3")))
    plan = env.plan()
    by = {c.address: c for c in plan.changes}
    by[addr("m2")].depends_on = [addr("m1")]
    by[addr("m3")].depends_on = [addr("m2")]

    async def foreign_model_appears(account, request):
        if json.loads(await request.body())["modelId"] == "m1":
            await env.aadmin("POST", "accounts/west/models", {"model_id": "m1", "created": "2025-01-01T00:00:00Z"})

    env.on_route("documentModels:authorizeCopy", foreign_model_appears)
    with pytest.raises(ApplyError) as exc:
        env.execute(plan, parallelism=10)
    failures = exc.value.failures
    assert "not this apply's copy" in failures[addr("m1")]
    assert failures[addr("m2")] == f"not attempted: it depends on {addr('m1')}, which failed"
    assert failures[addr("m3")] == f"not attempted: it depends on {addr('m2')}, which failed"
    assert env.count("west", "documentModels:authorizeCopy") == 1  # m2 and m3 never reached the service
    state = env.state()
    assert state["applies"][-1]["status"] == "failed" and state["applies"][-1]["done"] == []
    assert state["resources"] == {} and addr("m2") not in state["journal"] and addr("m3") not in state["journal"]


def test_a_dependency_ended_by_an_unexpected_error_does_not_release_its_dependents(emulated):
    """Not a DrplanError (a bug in a family's steps, or the test's crash point): the dependency is not done, so what
    depends on it must not start while the error ends the apply."""
    env = emulated(CONFIG, spec(("m1", "m2")))
    plan = env.plan()
    {c.address: c for c in plan.changes}[addr("m2")].depends_on = [addr("m1")]
    with pytest.raises(Killed):
        env.execute(plan, parallelism=10, crash_at="after-copy-sent")
    assert env.journal_steps() == {addr("m1"): "copy-requested"}
    assert env.count("west", "documentModels:authorizeCopy") == 1  # m1's only
    env.execute(plan)  # and the resume finishes both, in order
    assert west_models(env) == {"m1", "m2"} and env.state()["journal"] == {}


@pytest.mark.parametrize("parallelism", [1, 3])
def test_the_concurrency_bound_is_respected(emulated, parallelism):
    env = emulated(CONFIG, spec(MODELS))
    plan = env.plan()
    events: list[dict] = []
    in_flight: set[str] = set()
    peak = [0]

    def emit(event: dict) -> None:
        events.append(event)
        if event.get("step") == "authorizing":
            in_flight.add(event["address"])
        elif event["type"] in ("change_done", "change_failed"):
            in_flight.discard(event["address"])
        peak[0] = max(peak[0], len(in_flight))

    async def reset_peak(account, request):  # requests in flight from here on: only the changes' own
        if env.count("west", "documentModels:authorizeCopy") == 1:
            env.transport.max_in_flight = env.transport.in_flight

    env.on_route("documentModels:authorizeCopy", reset_peak)
    result = env.execute(plan, parallelism=parallelism, setup=lambda ex: setattr(ex, "emit", emit))
    assert len(result.applied) == len(MODELS)
    assert peak[0] == parallelism, f"at most (and, with {len(MODELS)} changes, exactly) {parallelism} at once"
    assert 1 <= env.transport.max_in_flight <= parallelism  # each change sends one request at a time
    assert west_models(env) == set(MODELS)


def test_a_prune_delete_is_journaled_then_recorded(env):
    env.apply(env.plan())
    env.admin("DELETE", "accounts/src/models/m2")  # the source is gone: with prune, its copy goes too
    plan = env.plan(allow_delete=True)
    (change,) = [c for c in plan.changes if c.actions != ["no-op"]]
    assert change.address == addr("m2") and change.actions == ["delete"]
    seen = env.watch_journal()
    with pytest.raises(Killed):
        env.execute(plan, crash_at="after-delete")
    (at_delete,) = journal_at(seen, "documentModels:delete", addr("m2"))
    assert at_delete["step"] == "deleting" and at_delete["action"] == "delete" and at_delete["target_id"] == "m2"
    assert env.journal_steps() == {addr("m2"): "deleting"} and addr("m2") in env.state()["resources"]
    env.execute(plan)  # resume: delete again (404 is fine), then drop the record
    state = env.state()
    assert state["journal"] == {} and addr("m2") not in state["resources"] and addr("m1") in state["resources"]
    assert state["applies"][-1]["done"] == [addr("m2")] and state["applies"][-1]["status"] == "complete"
    assert west_models(env) == {"m1"}
    assert [e["status"] for e in env.log("documentModels:delete")] == [204, 404]


def test_a_lost_state_is_recreated_with_the_lineage_its_copies_carry(env):
    env.apply(env.plan())
    lost = env.state()["lineage"]
    env.state_path.unlink()
    env.spec_path.write_text(spec(("m1", "m2", "m3")))  # and one more model to copy
    plan = env.plan()
    assert plan.state.lineage is None and plan.state.recover_lineage == lost
    actions = {c.address: c.actions for c in plan.changes}
    assert actions == {addr("m1"): ["no-op"], addr("m2"): ["no-op"], addr("m3"): ["create"]}
    result = env.apply(plan)
    assert result.applied == [addr("m3")] and sorted(result.refreshed) == [addr("m1"), addr("m2")]
    state = env.state()
    assert state["lineage"] == lost
    assert {a: r["lineage"]["state"] for a, r in state["resources"].items()} == {
        addr("m1"): lost, addr("m2"): lost, addr("m3"): lost}
    assert state["resources"][addr("m1")]["lineage"]["source_resource"] == arm_id("src")
    assert env.count("src", "documentModels:copyTo") == 3  # two before the loss, one now: nothing copied twice
    m3 = env.get("west", "/documentintelligence/documentModels/m3", **{"api-version": API}).json()
    assert m3["tags"]["drplan-lineage"] == lost
    assert all(c.actions == ["no-op"] for c in env.plan().changes)
