"""The Content Understanding adapter on the wire (respx): paging, /defaults merge-patch, both copy flows' bodies,
status codes the live service and the spec disagree on (200/201/202), and secrets kept out of errors."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import respx

from drplan.azure.client import AzureClient
from drplan.errors import ServiceError
from drplan.families.base import Connection
from drplan.families.content_understanding.adapter import AnalyzersAdapter, referenced_analyzers
from drplan.redact import redact
from drplan.spec.model import AssetKind

EP = "https://cu.example"
BASE = f"{EP}/contentunderstanding"


def adapter(client: AzureClient) -> AnalyzersAdapter:
    return AnalyzersAdapter(client, Connection(name="cu", family="content-understanding", endpoint=EP,
                                               api_version="2025-11-01", region="eastus",
                                               resource_id="/subscriptions/s/x/accounts/cu", key="k-secret"))


def run(coro):
    return asyncio.run(coro)


@respx.mock
def test_inventory_follows_next_link_and_reads_defaults():
    route = respx.get(f"{BASE}/analyzers").mock(side_effect=[
        httpx.Response(200, json={"value": [{"analyzerId": "a", "status": "ready", "createdAt": "2025-01-01T00:00:00Z",
                                             "lastModifiedAt": "2025-01-01T00:00:00Z", "models": {"completion": "m"}}],
                                  "nextLink": f"{BASE}/analyzers?skip=1"}),
        httpx.Response(200, json={"value": [
            {"analyzerId": "b", "status": "creating", "createdAt": "2025-01-01T00:00:00Z",
             "lastModifiedAt": "2025-01-01T00:00:00Z", "processingLocation": "global", "dynamicFieldSchema": False},
            {"analyzerId": "prebuilt-document", "status": "ready", "createdAt": "2025-01-01T00:00:00Z",
             "lastModifiedAt": "2025-01-01T00:00:00Z"}]}),
    ])
    respx.get(f"{BASE}/defaults").mock(return_value=httpx.Response(200, json={"modelDeployments": {"m": "d"}}))

    async def go():
        async with AzureClient() as client:
            return await adapter(client).inventory(frozenset({AssetKind.ANALYZER}))

    inv = run(go())
    assert sorted(k[1] for k in inv.assets if k[0] is AssetKind.ANALYZER) == ["a", "b"]
    assert inv.defaults == {"m": "d"}
    assert route.calls[1].request.url.params["api-version"] == "2025-11-01"  # re-appended to the nextLink
    assert inv.get(AssetKind.MODEL_DEPLOYMENT, "m").fingerprint == "deployment=d"
    b = inv.get(AssetKind.ANALYZER, "b")
    assert b.status == "creating" and b.detail["definition"] == {}  # spec defaults mean "absent"


@respx.mock
def test_defaults_patch_is_a_merge_patch():
    route = respx.patch(f"{BASE}/defaults").mock(
        return_value=httpx.Response(200, json={"modelDeployments": {"gpt-4.1": "dr", "keep": "x"}}))

    async def go():
        async with AzureClient() as client:
            return await adapter(client).set_defaults({"gpt-4.1": "dr"})

    assert run(go()) == {"gpt-4.1": "dr", "keep": "x"}
    req = route.calls.last.request
    assert req.headers["content-type"] == "application/merge-patch+json"
    assert json.loads(req.content) == {"modelDeployments": {"gpt-4.1": "dr"}}


@pytest.mark.parametrize("status", [200, 201, 202])
@respx.mock
def test_copy_accepts_each_documented_status_and_sends_allow_replace(status):
    route = respx.post(f"{BASE}/analyzers/inv:copy").mock(return_value=httpx.Response(
        status, json={"analyzerId": "inv", "status": "creating"},
        headers={"operation-location": f"{BASE}/analyzers/inv/operations/1?api-version=2025-11-01"}))

    async def go():
        async with AzureClient() as client:
            return await adapter(client).copy("inv", {"sourceAnalyzerId": "inv"}, allow_replace=True)

    url, _ = run(go())
    assert url.endswith("/operations/1?api-version=2025-11-01")
    assert route.calls.last.request.url.params["allowReplace"] == "true"


@respx.mock
def test_token_and_encryption_key_never_leave_memory():
    respx.post(f"{BASE}/analyzers/inv:getCopyAuthorization").mock(return_value=httpx.Response(200, json={
        "source": f"{BASE}/analyzers/inv", "authorizationToken": "tok-SECRET-123", "expiresAt": "2030-01-01T00:00:00Z"}))
    respx.post(f"{BASE}/analyzers/inv:copy").mock(return_value=httpx.Response(
        400, json={"error": {"code": "InvalidRequest", "message": "bad token tok-SECRET-123 with key enc-KEY-9",
                             "innererror": {"code": "InvalidDecryptionKey"}}}))

    async def go():
        async with AzureClient() as client:
            a = adapter(client)
            token = await a.copy_token("inv", target_url="https://t/contentunderstanding/analyzers/inv",
                                       encryption_key="enc-KEY-9")
            assert "tok-SECRET-123" not in repr(token)
            await a.copy("inv", {"authorizationToken": token.token}, allow_replace=False)

    with pytest.raises(ServiceError) as info:
        run(go())
    text = redact(str(info.value))
    assert "tok-SECRET-123" not in text and "enc-KEY-9" not in text
    assert info.value.inner_code == "InvalidDecryptionKey"


def test_referenced_analyzers_skip_prebuilt():
    defn = {"baseAnalyzerId": "custom-base",
            "config": {"contentCategories": {"a": {"analyzerId": "x"}, "b": {"analyzerId": "prebuilt-layout"},
                                             "c": {"description": "no analyzer"}}}}
    assert referenced_analyzers(defn) == ["custom-base", "x"]


def test_sas_tokens_in_a_definition_never_reach_plans_or_state():
    from drplan.families.content_understanding.adapter import definition

    item = {"analyzerId": "a", "knowledgeSources": [{
        "kind": "labeledData", "fileListPath": "list.jsonl",
        "containerUrl": "https://acct.blob.core.windows.net/train?sv=2024-01-01&se=2030&sp=rl&sig=SeCrEt%2Bsig"}]}
    text = json.dumps(definition(item))
    assert "SeCrEt" not in text and "sig=" not in text
    assert "https://acct.blob.core.windows.net/train?<SAS token removed by drplan>" in text
    plain = {"analyzerId": "a", "knowledgeSources": [{"containerUrl": "https://acct.blob.core.windows.net/train"}]}
    assert definition(plain)["knowledgeSources"][0]["containerUrl"] == "https://acct.blob.core.windows.net/train"
