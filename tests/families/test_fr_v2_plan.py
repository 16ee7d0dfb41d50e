"""Planner cases for Form Recognizer v2.x, where the target id is minted by the service (contracts §4)."""

from __future__ import annotations

from pathlib import Path

from helpers import inventory, rule

from drplan.families.base import Asset
from drplan.families.form_recognizer_v2.adapter import fingerprint
from drplan.plan.planner import build_plan
from drplan.spec.model import AssetKind, Family, Resource, Spec, StateConfig
from drplan.state.model import State

SRC_ID = "11111111-1111-4111-8111-111111111111"
ADDR = f"r/west/custom-model/{SRC_ID}"
U1, U2 = "2021-01-02T00:00:00Z", "2022-06-01T00:00:00Z"


def v2res(name: str) -> Resource:
    return Resource(name=name, family=Family.FORM_RECOGNIZER, endpoint=f"https://{name}.example", region="eastus",
                    resource_id=f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/{name}",
                    api_version="2.1", key_env=f"K_{name.upper()}")


def spec(**kw) -> Spec:
    return Spec(path=Path("/tmp/dr.toml"), digest="sha256:" + "0" * 64,
                state=StateConfig(backend="local", path=Path("/tmp/s.json")),
                resources={n: v2res(n) for n in ("src", "west")}, rules=(rule(models=("inv*",), **kw),))


def v2model(mid: str, updated: str, name: str = "invoices", status: str = "ready") -> Asset:
    return Asset(kind=AssetKind.CUSTOM_MODEL, id=mid, created="2021-01-01T00:00:00.000Z",
                 fingerprint=fingerprint(updated), description=name, name=name, status=status)


def plan(state: State, target_models=()):
    invs = {"src": inventory("src", v2model(SRC_ID, U2 if state.serial == 2 else U1), v2model("x", U1, "other")),
            "west": inventory("west", *target_models)}
    return {c.address: c for c in build_plan(spec(), invs, state, state_existed=True,
                                                 created_at="2026-01-01T00:00:00+00:00").changes}


def recorded(tid: str = "copy-1", updated: str = U1) -> dict:
    return {"rule": "r", "kind": "custom-model", "source_resource": "src", "source_id": SRC_ID,
            "source_fingerprint": fingerprint(updated), "target_resource": "west", "target_id": tid,
            "copied_at": "2024-01-01T00:00:00Z"}


def test_selected_by_model_name_and_addressed_by_source_id():
    changes = plan(State.new())
    assert list(changes) == [ADDR]  # "other" is not selected by "inv*"
    c = changes[ADDR]
    assert c.actions == ["create"] and c.target.id == "" and "picks the new model id" in c.reason


def test_in_sync_when_recorded_copy_is_ready_and_source_unchanged():
    st = State.new()
    st.resources[ADDR] = recorded()
    assert plan(st, [v2model("copy-1", U1)])[ADDR].actions == ["no-op"]


def test_retrained_source_is_a_create_before_destroy_replace():
    st = State.new()
    st.serial = 2  # the source now has lastUpdatedDateTime U2
    st.resources[ADDR] = recorded()
    c = plan(st, [v2model("copy-1", U1)])[ADDR]
    assert c.actions == ["create", "delete"] and "retrained" in c.reason
    assert c.target.id == "copy-1"  # the copy to delete once the new one is ready


def test_deleted_or_invalid_copy_is_drift():
    st = State.new()
    st.resources[ADDR] = recorded()
    c = plan(st)[ADDR]
    assert c.actions == ["create"] and c.flags.drift
    c = plan(st, [v2model("copy-1", U1, status="invalid")])[ADDR]
    assert c.actions == ["create", "delete"] and c.flags.drift and "invalid" in c.reason
