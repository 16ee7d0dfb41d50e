"""A fault storm over every family at once, in process (issue 19; the full-size run is benchmarks/bench_faults.py).

Document Intelligence v4 models and classifiers, Form Recognizer v3 and v2.1 models, Content Understanding analyzers
and Language custom NER projects (49 changes) are applied in one plan while every service request meets the
emulator's faults (fixed seed): 30 % answered 429 or 503 (half each, half of them with ``Retry-After``) and 5 % of
connections lost, half before the handler ran (nothing happened) and half after it (the side effect happened, the
answer is lost). On top of the dice, every request that starts something (authorize, grant, copy, export, import,
train) loses its answer once after the handler and once before it, so each hard case is met in every run.

The executor behind ``drplan apply PLAN`` runs on simulated time (:class:`VirtualTime`: Retry-After pauses, backoffs,
polls and authorization lifetimes keep their proportions without real waiting), ~2.5 s in all.

Asserted: an apply fails only changes whose DI v4 / FR v3 ``authorizeCopy`` answer was lost after the service reserved
the id (the documented bound: the id stays reserved by an authorization drplan never received until it expires,
contracts §2.4), so the first apply finishes everything else and the re-run after the expiry the rest; each source
is copied exactly once per target; no target asset lacks a state record (no orphan); and no key or copy token shows
in the events, the errors, the log records or the state.
"""
from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import logging
import random
from collections import Counter
from collections.abc import Coroutine
from typing import Any

import pytest
from apply_support import Env, account_block, resource_block

from drplan.apply.executor import ApplyResult, Executor
from drplan.azure.client import AzureClient
from drplan.core import state_manager
from drplan.emulator.faults import Decision
from drplan.errors import ApplyError

pytestmark = pytest.mark.timeout(60)

SEED = 3
#: (DI v4 models, DI v4 classifiers, FR v3 models, FR v2.1 models, CU analyzers, Language projects) at the source.
SIZES = (8, 3, 6, 6, 6, 3)
CU_ACCOUNT = """
    deployments = { "gpt41" = "gpt-4.1", "te3l" = "text-embedding-3-large" }
    model_deployments = { "gpt-4.1" = "gpt41", "text-embedding-3-large" = "te3l" }
    """
#: Effective shares per request: the emulator draws drop, then error, then drop-after, each on its own number.
DROP, ERROR, DROP_AFTER = 0.025, 0.30, 0.025


def storm(on: bool = True) -> dict[str, Any]:
    if not on:
        return {"error_rate": 0.0, "drop_rate": 0.0, "drop_after_rate": 0.0}
    error_rate = ERROR / (1 - DROP)
    return {"drop_rate": DROP, "error_rate": error_rate, "drop_after_rate": DROP_AFTER / ((1 - DROP) * (1 - error_rate)),
            "throttle_share": 0.5, "retry_after_share": 0.5}


def v2_id(i: int) -> str:
    return f"22222222-0000-4000-8000-{i:012d}"


def config(sizes: tuple[int, ...] = SIZES) -> str:
    di_models, di_classifiers, v3_models, v2_models, analyzers, projects = sizes
    text = f"seed = {SEED}\n[settings]\ncopy_seconds = 0.5\nretry_after_seconds = 1\npage_size = 50\n"
    src = CU_ACCOUNT
    src += "".join(f'[[accounts.src.models]]\nmodel_id = "model-{i:02d}"\ncreated = "2024-01-01T00:00:00Z"\n'
                   for i in range(di_models))
    src += "".join(f'[[accounts.src.classifiers]]\nclassifier_id = "router-{i:02d}"\n'
                   'created = "2024-01-01T00:00:00Z"\n' for i in range(di_classifiers))
    src += "".join(f'[[accounts.src.v2_models]]\nmodel_id = "{v2_id(i)}"\nmodel_name = "legacy-{i:02d}-v2"\n'
                   'created = "2021-01-01T00:00:00Z"\n' for i in range(v2_models))
    src += "".join(f'[[accounts.src.analyzers]]\nanalyzer_id = "analyzer-{i:02d}"\n'
                   'base_analyzer_id = "prebuilt-document"\n'
                   'models = { completion = "gpt-4.1", embedding = "text-embedding-3-large" }\n'
                   f'field_schema = {{ name = "a{i}", fields = {{ total = {{ type = "number" }} }} }}\n'
                   for i in range(analyzers))
    src += "".join(f'[[accounts.src.language_projects]]\nproject_name = "project-{i:02d}"\n'
                   'created = "2025-01-01T00:00:00Z"\nentities = ["Party", "Date"]\n'
                   'documents = [ { location = "d1.txt", labels = [{ category = "Party", offset = 0, length = 4 }] } ]\n'
                   for i in range(projects))
    v3 = "".join(f'[[accounts.v3src.models]]\nmodel_id = "form-{i:02d}"\ncreated = "2024-01-01T00:00:00Z"\n'
                 'api_version = "2023-07-31"\n' for i in range(v3_models))
    text += account_block("src", extra=src) + account_block("t1", region="westus2", extra=CU_ACCOUNT)
    text += account_block("t2", region="northeurope", extra=CU_ACCOUNT)
    text += account_block("v3src", extra=v3) + account_block("v3t1", region="westus2")
    return text


def spec() -> str:
    text = "version = 1\n[defaults]\nparallelism = 12\n"
    for acc, region in (("src", "eastus"), ("t1", "westus2"), ("t2", "northeurope")):
        for fam, family, api in (("di", "document-intelligence", "2024-11-30"),
                                 ("cu", "content-understanding", "2025-11-01"),
                                 ("v2", "form-recognizer", "2.1"), ("lang", "language", "2023-04-01")):
            block = resource_block(acc, family=family, api_version=api, region=region)
            text += block.replace(f"[resources.{acc}]", f"[resources.{fam}-{acc}]")
    for acc, region in (("v3src", "eastus"), ("v3t1", "westus2")):
        text += resource_block(acc, family="form-recognizer", api_version="2023-07-31", region=region)
    return text + """
[[replicate]]
name = "di"
source = "di-src"
targets = ["di-t1", "di-t2"]
models = ["model-*"]
classifiers = ["router-*"]

[[replicate]]
name = "v3"
source = "v3src"
targets = ["v3t1"]
models = ["form-*"]

[[replicate]]
name = "v2"
source = "v2-src"
targets = ["v2-t1"]
models = ["legacy-*"]

[[replicate]]
name = "cu"
source = "cu-src"
targets = ["cu-t1", "cu-t2"]
analyzers = ["analyzer-*"]

[[replicate]]
name = "ner"
source = "lang-src"
targets = ["lang-t1"]
projects = ["project-*"]

[replicate.train]
model_label = "dr"
training_config_version = "2022-05-01"
deployment = "prod"
"""


def target_assets(env: Env) -> list[tuple[str, str, str, str]]:
    """Every custom asset on the target accounts, read with the faults off: (account, kind, id, what it copies).
    What it copies: the lineage tag's source id (DI v4 / FR v3 models), the kept model name (FR v2.1, whose copy id
    is minted), else the id (fixed by the plan)."""
    out = []
    for acc in ("t1", "t2", "v3t1"):
        for kind, path, key in (("document-model", "documentModels", "modelId"),
                                ("document-classifier", "documentClassifiers", "classifierId")):
            body = env.get(acc, f"/documentintelligence/{path}", **{"api-version": "2024-11-30"}).json()
            out += [(acc, kind, m[key], (m.get("tags") or {}).get("drplan-source-id") or m[key])
                    for m in body["value"] if not m[key].startswith("prebuilt-")]
            assert not body.get("nextLink")
        body = env.get(acc, "/formrecognizer/v2.1/custom/models", op="full").json()
        out += [(acc, "custom-model", m["modelId"], m.get("modelName") or m["modelId"])
                for m in body.get("modelList") or []]
        body = env.get(acc, "/contentunderstanding/analyzers", **{"api-version": "2025-11-01"}).json()
        out += [(acc, "analyzer", a["analyzerId"], a["analyzerId"]) for a in body["value"]
                if not a["analyzerId"].startswith("prebuilt-")]
        body = env.get(acc, "/language/authoring/analyze-text/projects", **{"api-version": "2023-04-01"}).json()
        out += [(acc, "language-project", p["projectName"], p["projectName"]) for p in body["value"]]
    return out


class VirtualTime:
    """Simulated time for the client and the emulator together: a sleep waits until the simulated clock reaches its
    deadline, and the clock jumps to the earliest deadline once every task is waiting (nothing runnable is left
    after a few turns of the event loop). Concurrent sleeps overlap as they do in real time, so Retry-After pauses,
    backoffs, polling and authorization lifetimes keep their proportions, at no real waiting."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.now = 0.0
        self._waiting: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def clock(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass with nothing running (between two applies)."""
        self.env.app.clock.advance(seconds)
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (self.now + seconds, next(self._seq), future))
        await future

    async def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        task = asyncio.ensure_future(coro)
        while not task.done():
            for _ in range(30):  # let everything runnable run (in-process requests need a few turns each)
                await asyncio.sleep(0)
                if task.done():
                    break
            else:
                self._wake_earliest()
        return task.result()

    def _wake_earliest(self) -> None:
        while self._waiting and self._waiting[0][2].done():  # a cancelled sleeper
            heapq.heappop(self._waiting)
        if not self._waiting:
            return
        deadline = self._waiting[0][0]
        if deadline > self.now:
            self.env.app.clock.advance(deadline - self.now)
            self.now = deadline
        while self._waiting and self._waiting[0][0] <= self.now:
            future = heapq.heappop(self._waiting)[2]
            if not future.done():
                future.set_result(None)


def run(env: Env, plan: Any, events: list[dict[str, Any]], vt: VirtualTime) -> tuple[ApplyResult | None, str, float]:
    """One ``drplan apply PLAN`` (the executor behind the CLI) on simulated time: (result, error, seconds)."""

    async def go() -> ApplyResult:
        manager = state_manager(plan.state.location)
        with manager.locked("apply"):
            async with AzureClient(transport=env.transport, tls=False, sleep=vt.sleep, clock=vt.clock) as client:
                return await Executor(plan, manager, client, emit=events.append, poll_interval=1.0).run()

    started = vt.now
    try:
        return asyncio.run(vt.run(go())), "", vt.now - started
    except ApplyError as exc:
        return None, str(exc), vt.now - started


#: The POSTs that start something (a reservation, a grant, a copy, a job): a lost answer there is the hard case.
STARTERS = ("documentModels:authorizeCopy", "documentClassifiers:authorizeCopy", "documentModels:copyTo",
            "documentClassifiers:copyTo", "v2:copyAuthorization", "v2:copy", "cu:grantCopyAuthorization", "cu:copy",
            "language:export", "language:import", "language:train")
AUTHORIZE = ("documentModels:authorizeCopy", "documentClassifiers:authorizeCopy")
#: The deletes of a replace: a lost answer there is resent (DELETE is idempotent; a 404 then means done).
DELETES = ("documentModels:delete", "documentClassifiers:delete", "v2:custom/models:delete")
#: DI v4 / FR v3 authorizations live 1 h (emulator default, as in every recording, contracts §2.4).
DI_AUTHORIZATION_TTL = 3600.0


class Storm:
    """The storm on one emulator, and what it saw: the copy tokens drplan sent (to look for them in the output), the
    DI v4 / FR v3 ids whose authorizeCopy answer was lost after the handler ran, and each apply's outcome.

    Whatever the dice do, the first request of every route that starts something loses its answer after the handler
    ran, and the second is dropped before it (their own dice are still drawn, so the rest of the storm is unchanged):
    each hard case is met in every run."""

    def __init__(self, env: Env, plan: Any) -> None:
        self.env, self.plan = env, plan
        self.vt = VirtualTime(env)
        self.tokens: list[str] = []
        self.events: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.applies: list[dict[str, Any]] = []
        self.lost_authorizations: set[tuple[str, str]] = set()  # (account, id)
        self.forced = {route: [Decision.DROP_AFTER, Decision.DROP] for route in STARTERS}
        self.address_of = {(c.target.resource.split("-")[-1], c.target.id): c.address for c in plan.changes}

        async def keep_token(account: str, request: Any) -> None:  # the copy tokens drplan held (in memory only)
            body = json.loads(await request.body() or b"{}")
            self.tokens.extend(str(v["accessToken"]) for v in (body, body.get("copyAuthorization") or {})
                               if "accessToken" in v)

        for route in ("documentModels:copyTo", "documentClassifiers:copyTo", "v2:copy"):
            env.on_route(route, keep_token)
        drop, decide = env.app._drop_connection, env.app.faults.decide

        async def note_lost_authorization(request: Any, account: str, route: str, status: int | None,
                                          fault: str) -> None:
            if route in AUTHORIZE and fault == "drop_after":
                body = json.loads(await request.body())
                self.lost_authorizations.add((account, body.get("modelId") or body.get("classifierId")))
            await drop(request, account, route, status, fault)

        def decide_with_lost_answers_per_starter(account: str, route: str, faults: Any) -> Decision:
            decision = decide(account, route, faults)
            if self.forced.get(route) and faults.drop_after_rate > 0:
                return self.forced[route].pop(0)
            return decision

        env.app._drop_connection = note_lost_authorization  # type: ignore[method-assign]
        env.app.faults.decide = decide_with_lost_answers_per_starter  # type: ignore[method-assign]

    def apply_until_done(self, changes: set[str]) -> None:
        """``drplan apply PLAN`` under the storm, re-run (as a pipeline does) until every change is done, at most
        three times. The documented bound (contracts §2.4): a DI v4 / FR v3 authorizeCopy whose answer was lost
        *after* the service reserved the id leaves the id reserved by an authorization drplan never received (a
        second authorizeCopy answers 409) until it expires. Only such changes may fail an apply; so the first apply
        finishes everything else, and the re-run after that expiry the rest (unless its own answer is lost again)."""
        env = self.env
        env.faults(storm())
        for _ in range(3):
            self.lost_authorizations.clear()
            before = self.done()
            _, error, seconds = run(env, self.plan, self.events, self.vt)
            self.errors.append(error)
            done = self.done()
            self.applies.append({"done": len(done - before), "seconds": seconds,
                                 "lost_authorizations": len(self.lost_authorizations)})
            failed = changes - done
            assert failed <= {self.address_of[(acc, tid)] for acc, tid in self.lost_authorizations}, error
            if not failed:
                break
            self.vt.advance(DI_AUTHORIZATION_TTL)
        env.faults(storm(False))
        assert len(self.applies) <= 2 or self.applies[1]["lost_authorizations"], self.applies
        assert self.applies[0]["done"] >= len(changes) - self.applies[0]["lost_authorizations"]
        assert all(a["seconds"] < 600 for a in self.applies), self.applies  # simulated: no wait without bound

    def done(self) -> set[str]:
        """The changes the state's record of this plan's apply lists as done."""
        if not self.env.state_path.exists():
            return set()
        return next((set(a["done"]) for a in self.env.state()["applies"] if a["plan_digest"] == self.plan.digest),
                    set())

    def assert_it_was_a_storm(self) -> None:
        """Many 429s and 503s of each kind, lost connections before and after the handler, and a lost answer on
        every request that starts something."""
        faults = Counter(k for per in self.env.app.faults.counts.values() for k, n in per.items() for _ in range(n))
        assert min(faults[k] for k in ("error_429", "error_429_retry_after", "error_503",
                                       "error_503_retry_after")) >= 5, faults
        assert faults["drop"] >= 5 and faults["drop_after"] >= 5, faults
        assert all(len(left) < 2 for left in self.forced.values()), self.forced  # (a found job needs no resend)


def assert_converged(env: Env, storm_: Storm, changes: set[str], keys: set[str], log: str) -> None:
    """The apply record is complete with every change, the journal empty; exactly one copy per source and target,
    each claimed by a state record (no duplicate, no orphan); a new plan has nothing to do; and no key or copy token
    shows in the events (what the CLI prints), the errors, the log records (HTTP traces, retry warnings) or the
    state."""
    state = env.state()
    assert state["applies"][-1]["status"] == "complete" and set(state["applies"][-1]["done"]) == changes
    assert state["journal"] == {}
    assets = target_assets(env)
    copies = Counter((acc, kind, of) for acc, kind, _, of in assets)
    assert {k: n for k, n in copies.items() if n > 1} == {}, "duplicates"
    claimed = {(r["target_resource"].split("-")[-1], r["target_id"]) for r in state["resources"].values()}
    assert [a for a in assets if (a[0], a[2]) not in claimed] == [], "orphans"
    assert len(assets) == len(state["resources"])
    assert {c.action.value for c in env.plan().changes} == {"no-op"}
    text = json.dumps(storm_.events) + json.dumps(state) + log + "".join(storm_.errors)
    assert storm_.tokens and [s for s in (*keys, *storm_.tokens) if s in text] == []


@pytest.fixture
def seeded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("drplan.azure.client.random", random.Random(SEED))  # the backoff jitter, reproducible


def test_a_fault_storm_over_every_family_converges_without_duplicates_orphans_or_secrets(emulated, caplog, seeded):
    env = emulated(config(), spec())
    plan = env.plan()
    changes = {c.address for c in plan.changes if c.action.value != "no-op"}
    di_models, di_classifiers, v3_models, v2_models, analyzers, projects = SIZES
    assert len(changes) == 2 * (di_models + di_classifiers) + v3_models + v2_models + 2 * analyzers + projects
    caplog.set_level(logging.DEBUG, logger="drplan")
    storm_ = Storm(env, plan)
    storm_.apply_until_done(changes)
    storm_.assert_it_was_a_storm()
    assert len(target_assets(env)) == len(changes)
    assert_converged(env, storm_, changes, {f"apply-test-key-{a}" for a in env.accounts}, caplog.text)


def test_replaces_and_updates_ride_out_the_storm_old_copies_deleted_once(emulated, caplog, seeded):
    """Every source rebuilt after a first, calm apply: DI v4 / FR v3 replaces delete the old copy, then copy (same
    id); FR v2.1 copies into a new minted id first and deletes the old copy last; CU copies with allowReplace; the
    Language project is imported (replacing it), trained and deployed again. Under the storm (deletes lose answers too), the old
    copies end deleted and the new ones recorded, once each."""
    sizes = (3, 1, 2, 3, 2, 1)
    env = emulated(config(sizes), spec())
    env.execute(env.plan(), parallelism=12)
    admin = env.admin
    for i in range(sizes[0]):  # a rebuild is delete + build: a new createdDateTime
        admin("DELETE", f"accounts/src/models/model-{i:02d}")
        admin("POST", "accounts/src/models", {"model_id": f"model-{i:02d}", "created": "2024-06-01T00:00:00Z"})
    admin("DELETE", "accounts/src/classifiers/router-00")
    admin("POST", "accounts/src/classifiers", {"classifier_id": "router-00", "created": "2024-06-01T00:00:00Z"})
    for i in range(sizes[2]):
        admin("DELETE", f"accounts/v3src/models/form-{i:02d}")
        admin("POST", "accounts/v3src/models", {"model_id": f"form-{i:02d}", "created": "2024-06-01T00:00:00Z",
                                                "api_version": "2023-07-31"})
    for i in range(sizes[3]):
        admin("PATCH", f"accounts/src/v2_models/{v2_id(i)}", {"last_updated": "2021-06-01T00:00:00Z"})
    for i in range(sizes[4]):
        admin("POST", "accounts/src/analyzers", {"replace": True,
            "analyzer_id": f"analyzer-{i:02d}", "base_analyzer_id": "prebuilt-document",
            "models": {"completion": "gpt-4.1", "embedding": "text-embedding-3-large"},
            "field_schema": {"name": f"a{i}", "fields": {"total": {"type": "number"}, "due": {"type": "date"}}}})
    admin("POST", "accounts/src/language/projects", {
        "replace": True, "project_name": "project-00", "entities": ["Party", "Date", "Amount"],
        "documents": [{"location": "d1.txt", "labels": [{"category": "Amount", "offset": 0, "length": 4}]}]})
    plan = env.plan()
    changes = {c.address for c in plan.changes if c.action.value != "no-op"}
    actions = Counter(c.action.value for c in plan.changes if c.address in changes)
    assert actions == {"replace": 2 * (sizes[0] + sizes[1]) + sizes[2] + sizes[3] + 2 * sizes[4] + 1}, actions
    old_v2 = {r["target_id"] for r in env.state()["resources"].values() if r["target_resource"] == "v2-t1"}
    caplog.set_level(logging.DEBUG, logger="drplan")
    storm_ = Storm(env, plan)
    storm_.forced.update({route: [Decision.DROP_AFTER, Decision.DROP] for route in DELETES})
    storm_.apply_until_done(changes)
    storm_.assert_it_was_a_storm()
    assert_converged(env, storm_, changes, {f"apply-test-key-{a}" for a in env.accounts}, caplog.text)
    new_v2 = {r["target_id"] for r in env.state()["resources"].values() if r["target_resource"] == "v2-t1"}
    assert len(new_v2) == sizes[3] and not new_v2 & old_v2  # new minted ids; the old copies are gone (no orphan)
