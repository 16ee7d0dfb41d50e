"""The control-plane reader (drplan/azure/arm.py, issue 15) against scripted Resource Manager answers: parsing,
paging, 429 retried after Retry-After, 403 naming the Reader role and the resource id, 404 naming the field, a network
failure or a foreign nextLink turning into an unverified (not failed) plan, and the token registered as a secret."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from drplan.azure.arm import ARM_API_VERSION, StaticToken, management_url_for, read_account
from drplan.azure.client import AzureClient
from drplan.controlplane import AccountFacts, Unread
from drplan.errors import AuthError
from drplan.redact import redact
from drplan.spec.model import Encryption

MGMT = "https://management.azure.com"
RID = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/acct"
ACCOUNT = {"id": RID, "location": "swedencentral", "kind": "AIServices", "sku": {"name": "S0"},
           "properties": {"endpoint": "https://acct.cognitiveservices.azure.com/", "publicNetworkAccess": "Disabled",
                          "encryption": {"keySource": "Microsoft.KeyVault",
                                         "keyVaultProperties": {"keyName": "k", "keyVaultUri": "https://v/"}}}}


def deployment(name: str, model: str) -> dict:
    return {"name": name, "sku": {"name": "GlobalStandard", "capacity": 50},
            "properties": {"model": {"format": "OpenAI", "name": model, "version": "2024-08-06"}}}


def run(handler, *, collections=("deployments",), token="arm-unit-token-5150"):
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    async def go():
        slept: list[float] = []
        now = [0.0]

        async def sleep(s: float) -> None:  # a virtual clock: waiting moves it
            slept.append(s)
            now[0] += s

        async with AzureClient(transport=httpx.MockTransport(record), sleep=sleep, clock=lambda: now[0]) as client:
            reading = await read_account(client, "acct", RID, management_url=MGMT,
                                         key=StaticToken(token, env="ARM_TOKEN"), collections=collections,
                                         where="dr.toml")
        return reading, slept

    reading, slept = asyncio.run(go())
    return reading, seen, slept


def test_reads_the_account_and_pages_its_deployments_after_a_429():
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer arm-unit-token-5150"
        assert request.url.params["api-version"] == ARM_API_VERSION
        calls["n"] += 1
        if calls["n"] == 1:
            return httpx.Response(429, headers={"Retry-After": "2"}, json={"error": {"code": "TooManyRequests"}})
        if request.url.path == RID:
            return httpx.Response(200, json=ACCOUNT)
        if request.url.params.get("$skipToken") == "1":
            return httpx.Response(200, json={"value": [deployment("emb", "text-embedding-3-large")]})
        return httpx.Response(200, json={"value": [deployment("chat", "gpt-4o")],
                                         "nextLink": f"{MGMT}{RID}/deployments?api-version={ARM_API_VERSION}&$skipToken=1"})

    reading, seen, slept = run(handler)
    assert isinstance(reading, AccountFacts)
    assert sum(slept) >= 2.0 and len(seen) == 4  # Retry-After honoured: one retry, then account + 2 pages
    assert reading.encryption is Encryption.CUSTOMER_MANAGED and reading.key_vault_key
    assert (reading.location, reading.kind, reading.sku, reading.public_network_access) == (
        "swedencentral", "AIServices", "S0", "Disabled")
    assert [(d.name, d.model, d.version, d.sku, d.capacity) for d in reading.deployments or ()] == [
        ("chat", "gpt-4o", "2024-08-06", "GlobalStandard", 50), ("emb", "text-embedding-3-large", "2024-08-06",
                                                                 "GlobalStandard", 50)]
    assert "arm-unit-token-5150" not in redact("token arm-unit-token-5150 leaked")


def test_an_account_without_an_encryption_block_is_microsoft_managed():
    body = json.loads(json.dumps(ACCOUNT))
    del body["properties"]["encryption"]
    reading, _, _ = run(lambda r: httpx.Response(200, json=body), collections=())
    assert isinstance(reading, AccountFacts)
    assert reading.encryption is Encryption.MICROSOFT_MANAGED and reading.deployments is None


def test_403_names_the_reader_role_and_the_resource_id():
    reading, seen, _ = run(lambda r: httpx.Response(403, json={"error": {"code": "AuthorizationFailed",
                                                                          "message": "no"}}))
    assert isinstance(reading, Unread) and reading.error is None and len(seen) == 1  # never retried
    assert "Reader role" in reading.reason and RID in reading.reason


def test_404_is_a_plan_error_naming_the_field():
    reading, _, _ = run(lambda r: httpx.Response(404, json={"error": {"code": "ResourceNotFound", "message": "x"}}))
    assert isinstance(reading, Unread) and reading.error is not None
    assert reading.error.startswith("dr.toml: resources.acct.resource_id: ") and RID in reading.error


def test_no_network_leaves_the_plan_unverified():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    reading, _, _ = run(handler)
    assert isinstance(reading, Unread) and reading.error is None
    assert "could not be read" in reading.reason


def test_a_foreign_next_link_gets_no_token():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == RID:
            return httpx.Response(200, json=ACCOUNT)
        return httpx.Response(200, json={"value": [], "nextLink": "https://evil.example/steal"})

    reading, seen, _ = run(handler)
    assert isinstance(reading, Unread)
    assert all(r.url.host == "management.azure.com" for r in seen)


def test_management_url_follows_the_endpoints_cloud():
    assert management_url_for("https://x.cognitiveservices.azure.com") == MGMT
    assert management_url_for("https://x.cognitiveservices.azure.us") == "https://management.usgovcloudapi.net"
    assert management_url_for("https://x.cognitiveservices.azure.cn") == "https://management.chinacloudapi.cn"
    assert management_url_for("") == MGMT  # only a resource_id: the public cloud unless [control_plane] says
    assert management_url_for("http://127.0.0.1:8080") is None


def test_an_unset_token_variable_is_named_not_reported_as_a_bad_header():
    with pytest.raises(AuthError, match="environment variable ARM_TOKEN_FOR_TEST .*not set or empty"):
        asyncio.run(StaticToken("", env="ARM_TOKEN_FOR_TEST").token())
    assert asyncio.run(StaticToken(" tok\n", env="ARM_TOKEN_FOR_TEST").token()) == "tok"
