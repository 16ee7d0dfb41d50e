"""Entra ID for the AI services: bearer tokens instead of keys, fetched once per expiry, never shown."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import httpx
import pytest
import respx

from drplan.azure.auth import SCOPE, EntraToken, shared_entra_token
from drplan.azure.client import AzureClient
from drplan.errors import AuthError
from drplan.families.base import Connection
from drplan.families.document_intelligence.adapter import DocumentModelsAdapter
from drplan.redact import redact
from drplan.spec.model import AssetKind


class FakeCredential:
    def __init__(self, lifetime: float = 3600.0, fail: Exception | None = None) -> None:
        self.calls: list[str] = []
        self.lifetime = lifetime
        self.fail = fail

    def get_token(self, scope: str):
        self.calls.append(scope)
        if self.fail:
            raise self.fail
        return SimpleNamespace(token=f"eyJ-token-{len(self.calls)}", expires_on=int(time.time() + self.lifetime))


def adapter(client: AzureClient, cred: EntraToken) -> DocumentModelsAdapter:
    return DocumentModelsAdapter(client, Connection(name="di", family="document-intelligence",
                                                    endpoint="https://di.example", api_version="2024-11-30",
                                                    region="eastus", resource_id="/subscriptions/s/x", key=cred))


@respx.mock
def test_bearer_token_sent_instead_of_a_key_and_cached():
    route = respx.get("https://di.example/documentintelligence/documentModels/m").mock(
        return_value=httpx.Response(200, json={"modelId": "m", "createdDateTime": "2024-01-01T00:00:00Z"}))
    fake = FakeCredential()
    cred = EntraToken(fake)

    async def go():
        async with AzureClient() as client:
            a = adapter(client, cred)
            for _ in range(3):
                await a.get(AssetKind.DOCUMENT_MODEL, "m")

    asyncio.run(go())
    assert fake.calls == [SCOPE]  # one token for three requests
    for call in route.calls:
        assert call.request.headers["authorization"] == "Bearer eyJ-token-1"
        assert "ocp-apim-subscription-key" not in call.request.headers
    assert "eyJ-token-1" not in redact("token eyJ-token-1") and "eyJ" not in repr(cred)


@respx.mock
def test_token_near_expiry_is_renewed():
    respx.get("https://di.example/documentintelligence/documentModels/m").mock(
        return_value=httpx.Response(200, json={"modelId": "m", "createdDateTime": "2024-01-01T00:00:00Z"}))
    fake = FakeCredential(lifetime=60)  # inside the 5-minute margin: every request needs a fresh one

    async def go():
        async with AzureClient() as client:
            a = adapter(client, EntraToken(fake))
            await a.get(AssetKind.DOCUMENT_MODEL, "m")
            await a.get(AssetKind.DOCUMENT_MODEL, "m")

    asyncio.run(go())
    assert len(fake.calls) == 2


def test_a_credential_that_cannot_sign_in_is_one_clear_error():
    cred = EntraToken(FakeCredential(fail=RuntimeError("DefaultAzureCredential failed to retrieve a token\nmore")))

    async def go():
        async with AzureClient() as client:
            await adapter(client, cred).get(AssetKind.DOCUMENT_MODEL, "m")

    with pytest.raises(AuthError) as info:
        asyncio.run(go())
    msg = str(info.value)
    assert "cannot get an Entra ID token for https://cognitiveservices.azure.com/.default" in msg
    assert "DefaultAzureCredential failed to retrieve a token" in msg and "more" not in msg
    assert "Cognitive Services User" in msg


def test_each_run_has_its_own_token_source():
    """One token source serves every resource of a run; a second run in the same process (the CLI run in-process by
    the tests) gets a fresh one: no token, credential or lock (bound to the first run's event loop) carried over."""

    async def two_lookups():
        return shared_entra_token(), shared_entra_token()

    first, again = asyncio.run(two_lookups())
    second, _ = asyncio.run(two_lookups())
    assert first is again and second is not first
