"""drplan.failover (issue 16): an application's calls keep succeeding when the primary region dies, mid-run and
mid-poll. Two real emulator processes (the primary is killed outright: the point of the test)."""

from __future__ import annotations

import asyncio
import base64

import httpx
import pytest

from drplan import failover
from drplan.emulator.launch import start_emulator
from drplan.samples import DOCUMENT_PDF

MODEL = 'created = "2024-03-04T09:15:00Z"\nexpires = "2026-03-04T09:15:00Z"'


def _config(account: str, key: str, region: str, model_id: str) -> str:
    return (f'seed = 1\n[settings]\ncopy_seconds = 0.4\nretry_after_seconds = 0\n[accounts.{account}]\n'
            f'region = "{region}"\nkey = "{key}"\n[[accounts.{account}.models]]\nmodel_id = "{model_id}"\n{MODEL}\n'
            f'doc_types = ["{model_id}"]\n')  # a copy renames the docType named like the model (contracts §2.4)


@pytest.fixture
def regions(tmp_path):
    (tmp_path / "p.toml").write_text(_config("prim", "k-prim", "eastus", "invoice"), encoding="utf-8")
    (tmp_path / "s.toml").write_text(_config("sec", "k-sec", "westus2", "invoice-dr"), encoding="utf-8")
    with start_emulator(tmp_path / "p.toml") as prim, start_emulator(tmp_path / "s.toml") as sec:
        yield prim, sec


def _map(prim_url: str, sec_url: str) -> failover.FailoverMap:
    side = {"resource": "prim", "region": "eastus", "endpoint": prim_url, "ids": {"model_id": "invoice"},
            "credential": {"mode": "key", "key_env": "FO_PRIM_KEY"}}
    other = {"resource": "sec", "region": "westus2", "endpoint": sec_url, "ids": {"model_id": "invoice-dr"},
             "credential": {"mode": "key", "key_env": "FO_SEC_KEY"}}
    return failover.parse_map({"format_version": 1, "assets": [
        {"name": "prod/invoice", "kind": "document-model", "primary": side, "secondaries": [other]}]})


async def _analyze(http: httpx.AsyncClient, url: str, before_poll=None) -> dict:
    r = await http.post(url, json={"base64Source": base64.b64encode(DOCUMENT_PDF).decode()})
    assert r.status_code == 202, r.text
    location = r.headers["Operation-Location"]
    if before_poll:
        before_poll()
    for _ in range(100):
        body = (await http.get(location)).json()
        if body["status"] in ("succeeded", "failed"):
            return body
        await asyncio.sleep(0.1)
    raise AssertionError("never finished")


def test_calls_keep_succeeding_when_the_primary_is_killed(regions, monkeypatch):
    prim, sec = regions
    monkeypatch.setenv("FO_PRIM_KEY", "k-prim")
    monkeypatch.setenv("FO_SEC_KEY", "k-sec")
    fmap = _map(prim.account_url("prim"), sec.account_url("sec"))
    url = f"{prim.account_url('prim')}/documentintelligence/documentModels/invoice:analyze?api-version=2024-11-30"

    def kill() -> None:
        prim.process.kill()
        prim.process.wait(10)

    async def run() -> tuple[list[dict], failover.FailoverTransport]:
        async with failover.client(fmap, "prod/invoice", failures=1, cooldown=60) as http:
            transport = http._transport
            assert isinstance(transport, failover.FailoverTransport)
            results = [await _analyze(http, url) for _ in range(2)]  # the primary answers
            results.append(await _analyze(http, url, before_poll=kill))  # killed while its operation is polled
            results += [await _analyze(http, url) for _ in range(3)]  # the secondary answers; primary skipped
            return results, transport

    results, transport = asyncio.run(run())
    assert [r["status"] for r in results] == ["succeeded"] * 6
    docs = [r["analyzeResult"]["documents"][0] for r in results]
    assert docs[0]["fields"] == docs[-1]["fields"]  # the copy answers like its source
    assert {r["analyzeResult"]["modelId"] for r in results} == {"invoice", "invoice-dr"}  # ids rewritten per region
    regions_used = [region for region, _ in transport.attempts]
    first_west = regions_used.index("westus2")
    # Before the kill every request (POSTs and polls) went to the primary; the poll that found it dead was
    # replayed on the secondary, and the open circuit keeps every later request off the primary.
    assert set(regions_used[:first_west]) == {"eastus"} and first_west >= 4
    assert transport.attempts[first_west - 1][1] in ("ConnectError", "ReadError", "RemoteProtocolError")
    assert set(regions_used[first_west:]) == {"westus2"} and len(regions_used) - first_west >= 4


def test_bad_map_and_missing_key(tmp_path, monkeypatch):
    with pytest.raises(failover.FailoverMapError, match="not JSON"):
        (tmp_path / "m.json").write_text("{", encoding="utf-8")
        failover.load_map(tmp_path / "m.json")
    with pytest.raises(failover.FailoverMapError, match="format_version"):
        failover.parse_map({"assets": []})
    fmap = _map("http://127.0.0.1:9", "http://127.0.0.1:10")
    with pytest.raises(failover.FailoverMapError, match="no asset"):
        fmap.asset("nope")
    monkeypatch.delenv("FO_PRIM_KEY", raising=False)
    with pytest.raises(failover.FailoverMapError, match="FO_PRIM_KEY"):
        fmap.asset("prod/invoice").primary.key()
