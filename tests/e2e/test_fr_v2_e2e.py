"""Form Recognizer v2.1: server-picked target ids, journaled the moment they are minted; create-before-destroy
replace; kill-and-resume leaves exactly one ready copy per target and no blank model."""

from __future__ import annotations

import textwrap

import pytest
from e2e_support import SLOW_COPY, SUB, Emu, emulator_fixtures, read_json

KEYS = {"v2src": "v2-key-src-1234567", "v2a": "v2-key-a-7654321", "v2b": "v2-key-b-1122334"}
ENV = {f"KEY_{n.upper()}": k for n, k in KEYS.items()}
SRC_IDS = {"11111111-1111-4111-8111-111111111111": "invoices-v2", "22222222-2222-4222-8222-222222222222": "receipts-v2"}

CONFIG = f"""
seed = 5
[settings]
# 0: a copy has ended when drplan first polls it, so an apply does not sit out drplan's 1 s poll interval.
# The module's real-process test puts copy_seconds back up (SLOW_COPY), so the poll loop runs there.
copy_seconds = 0
retry_after_seconds = 0
authorization_ttl_seconds = 3600

[accounts.v2src]
resource_id = "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/v2src"
region = "eastus"
key = "{KEYS['v2src']}"
model_limit = 20

[[accounts.v2src.v2_models]]
model_id = "11111111-1111-4111-8111-111111111111"
model_name = "invoices-v2"
created = "2021-01-01T00:00:00Z"
last_updated = "2021-01-02T00:00:00Z"

[[accounts.v2src.v2_models]]
model_id = "22222222-2222-4222-8222-222222222222"
model_name = "receipts-v2"
created = "2021-02-01T00:00:00Z"
last_updated = "2021-02-02T00:00:00Z"

[[accounts.v2src.v2_models]]
model_id = "33333333-3333-4333-8333-333333333333"
model_name = "scratch"
created = "2021-03-01T00:00:00Z"

[accounts.v2a]
resource_id = "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/v2a"
region = "westus2"
key = "{KEYS['v2a']}"
model_limit = 20

[accounts.v2b]
resource_id = "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/v2b"
region = "northeurope"
key = "{KEYS['v2b']}"
model_limit = 20
"""


v2_emulator, emu2 = emulator_fixtures(CONFIG, "v2_emulator")


def v2_models(emu: Emu, account: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    url = emu.url_of(account, "formrecognizer/v2.1/custom/models?op=full")
    while url:
        r = emu.http.get(url, headers={"Ocp-Apim-Subscription-Key": KEYS[account]})
        r.raise_for_status()
        body = r.json()
        out.update({m["modelId"]: m for m in body.get("modelList") or []})
        url = body.get("nextLink") or None
    return out


@pytest.fixture
def v2_spec(tmp_path, emu2):
    text = "version = 1\n"
    for name, region in (("v2src", "eastus"), ("v2a", "westus2"), ("v2b", "northeurope")):
        text += textwrap.dedent(f"""
            [resources.{name}]
            family = "form-recognizer"
            endpoint = "{emu2.endpoint(name)}"
            region = "{region}"
            resource_id = "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/{name}"
            api_version = "2.1"
            key_env = "KEY_{name.upper()}"
            """)
    text += '\n[[replicate]]\nname = "forms"\nsource = "v2src"\ntargets = ["v2a", "v2b"]\nmodels = ["*-v2"]\n'
    (tmp_path / "dr.toml").write_text(text)
    return tmp_path / "dr.toml"


def assert_one_ready_copy_each(emu2, tmp_path):
    state = read_json(tmp_path / "drplan.state.json")
    assert state["journal"] == {}
    assert all(rec["lineage"]["source_resource"].endswith("/v2src") and rec["target_fingerprint"]
               for rec in state["resources"].values())
    for target in ("v2a", "v2b"):
        models = v2_models(emu2, target)
        assert len(models) == 2, models  # no duplicate, no blank left behind
        assert all(m["status"] == "ready" for m in models.values())
        assert sorted(m.get("modelName") for m in models.values()) == ["invoices-v2", "receipts-v2"]
        recorded = {r["target_id"] for a, r in state["resources"].items() if a.startswith(f"forms/{target}/")}
        assert recorded == set(models)


def test_copy_to_two_targets_then_no_op(emu2, v2_spec, drplan, tmp_path):
    """Form Recognizer v2.1 end to end: every run a real process, copies polled while they run."""
    emu2.admin("PUT", "settings", SLOW_COPY)
    r = drplan("plan", "dr.toml", "-o", "plan.json", "--detailed-exitcode", env=ENV, process=True)
    assert r.code == 2, r.text
    assert "Plan: 4 to create" in r.out and "target service picks the new model id" in r.out
    assert "scratch" not in r.out
    r = drplan("apply", "plan.json", env=ENV, process=True)
    assert r.code == 0, r.text
    assert_one_ready_copy_each(emu2, tmp_path)
    assert drplan("apply", "plan.json", env=ENV, process=True).code == 0  # re-apply: already applied
    r = drplan("plan", "dr.toml", "--detailed-exitcode", env=ENV, process=True)
    assert r.code == 0, r.text
    assert_one_ready_copy_each(emu2, tmp_path)


@pytest.mark.parametrize("point", ["after-authorize", "after-copy-sent", "after-journal-copying",
                                   "after-journal-authorizing"])
def test_kill_and_resume_leaves_no_blank_model(point, emu2, v2_spec, drplan, tmp_path):
    assert drplan("plan", "dr.toml", "-o", "plan.json", env=ENV).code == 0
    r = drplan("apply", "plan.json", "--parallelism", "1", env={**ENV, "DRPLAN_TEST_CRASH_AT": point})
    assert r.code == 137, r.text
    if point == "after-authorize":
        entry = next(iter(read_json(tmp_path / "drplan.state.json")["journal"].values()))
        assert entry["step"] == "copy-requested" and entry["target_id"]  # the minted id was journaled at once
    r = drplan("apply", "plan.json", env=ENV)
    assert r.code == 0, r.text
    assert drplan("plan", "dr.toml", "--detailed-exitcode", env=ENV).code == 0
    assert_one_ready_copy_each(emu2, tmp_path)


def test_retrained_source_is_replaced_create_before_destroy(emu2, v2_spec, drplan, tmp_path):
    assert drplan("apply", "dr.toml", "--auto-approve", env=ENV).code == 0
    before = {a: r["target_id"] for a, r in read_json(tmp_path / "drplan.state.json")["resources"].items()}
    emu2.admin("PATCH", "accounts/v2src/v2_models/11111111-1111-4111-8111-111111111111",
               {"last_updated": "2022-06-01T00:00:00Z"})
    r = drplan("plan", "dr.toml", "-o", "plan.json", "--format", "json", env=ENV)
    assert r.code == 0, r.text
    plan = read_json(tmp_path / "plan.json")
    replaced = [c for c in plan["changes"] if c["actions"] == ["create", "delete"]]
    assert len(replaced) == 2 and all("retrained" in c["reason"] for c in replaced)
    assert drplan("apply", "plan.json", env=ENV).code == 0
    after = {a: r["target_id"] for a, r in read_json(tmp_path / "drplan.state.json")["resources"].items()}
    changed = {a for a in before if before[a] != after[a]}
    assert changed == {"forms/v2a/custom-model/11111111-1111-4111-8111-111111111111",
                       "forms/v2b/custom-model/11111111-1111-4111-8111-111111111111"}
    assert_one_ready_copy_each(emu2, tmp_path)  # the old copies were deleted


def test_out_of_band_deletion_is_drift(emu2, v2_spec, drplan, tmp_path):
    assert drplan("apply", "dr.toml", "--auto-approve", env=ENV).code == 0
    state = read_json(tmp_path / "drplan.state.json")
    victim = state["resources"]["forms/v2a/custom-model/22222222-2222-4222-8222-222222222222"]["target_id"]
    emu2.admin("DELETE", f"accounts/v2a/v2_models/{victim}")
    r = drplan("check", "dr.toml", env=ENV)
    assert r.code == 2 and "copy-missing" in r.out
    assert drplan("apply", "dr.toml", "--auto-approve", env=ENV).code == 0
    assert_one_ready_copy_each(emu2, tmp_path)


def test_reused_authorization_gives_the_documented_error(emu2):
    """The adapter against the emulator: a consumed copy authorization is refused with code 1002 (contracts §4)."""
    import asyncio

    from drplan.azure.client import AzureClient
    from drplan.errors import ServiceError
    from drplan.families.base import Connection
    from drplan.families.form_recognizer_v2.adapter import FormRecognizerV2Adapter

    def conn(name: str, region: str) -> Connection:
        return Connection(name=name, family="form-recognizer", endpoint=emu2.endpoint(name), api_version="2.1",
                          region=region, key=KEYS[name],
                          resource_id=f"/subscriptions/{SUB}/resourceGroups/rg/providers/"
                                      f"Microsoft.CognitiveServices/accounts/{name}")

    async def go():
        async with AzureClient() as client:
            src = FormRecognizerV2Adapter(client, conn("v2src", "eastus"))
            tgt_conn = conn("v2a", "westus2")
            tgt = FormRecognizerV2Adapter(client, tgt_conn)
            auth = await tgt.copy_authorization()
            first = await src.copy("11111111-1111-4111-8111-111111111111", auth, target=tgt_conn)
            await src.wait(first.operation_url, what="copy", interval=0.1)
            try:
                second = await src.copy("22222222-2222-4222-8222-222222222222", auth, target=tgt_conn)
            except ServiceError as exc:
                return exc
            body = await src.wait(second.operation_url, what="copy", interval=0.1)
            return body

    outcome = asyncio.run(go())
    if isinstance(outcome, Exception):
        assert outcome.code == "1002", outcome
    else:  # lazy validation: accepted, then failed with the documented copyResult error
        assert outcome["status"] == "failed" and outcome["copyResult"]["errors"], outcome
