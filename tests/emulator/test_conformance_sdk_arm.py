"""Conformance of the emulator's management (Azure Resource Manager) API with the official
``azure-mgmt-cognitiveservices`` client (issue 15): accounts.get and deployments.list (paged) against a real emulator
process, a token from a credential the client asks, and its errors for 401 / 403 / 404. Nothing from drplan's own
client code is used; only plain ``httpx`` for the admin API."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient

from drplan.emulator.launch import start_emulator

SUB = "11111111-2222-3333-4444-555555555555"
TOKEN = "arm-conformance-token"
CONFIG = f"""
[settings]
page_size = 2

[management]
token = "{TOKEN}"

[accounts.cmk]
region = "eastus"
key = "k-cmk"
resource_id = "/subscriptions/{SUB}/resourceGroups/rg-dr/providers/Microsoft.CognitiveServices/accounts/cmk"
encryption = "customer-managed"
kind = "AIServices"
deployments = {{ gpt41 = "gpt-4.1", emb3l = {{ model = "text-embedding-3-large", version = "1", sku = "GlobalStandard", capacity = 150 }}, gpt4o = "gpt-4o" }}

[accounts.plain]
region = "westus2"
key = "k-plain"
resource_id = "/subscriptions/{SUB}/resourceGroups/rg-dr/providers/Microsoft.CognitiveServices/accounts/plain"
kind = "FormRecognizer"
public_network_access = "Disabled"

[accounts.hidden]
region = "northeurope"
key = "k-hidden"
resource_id = "/subscriptions/{SUB}/resourceGroups/rg-dr/providers/Microsoft.CognitiveServices/accounts/hidden"
arm_readable = false
"""


class Credential:
    """A TokenCredential (what DefaultAzureCredential is to the SDK) handing out a fixed token."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    cfg = tmp_path_factory.mktemp("arm") / "emulator.toml"
    cfg.write_text(CONFIG, encoding="utf-8")
    with start_emulator(cfg) as proc:
        httpx.post(f"{proc.url}/_emulator/reset").raise_for_status()
        yield proc.url


def client(url: str, token: str = TOKEN) -> CognitiveServicesManagementClient:
    # The emulator speaks plain http: the SDK's bearer policy refuses that unless told (enforce_https=False below).
    return CognitiveServicesManagementClient(Credential(token), SUB, base_url=url, api_version="2024-10-01")


def test_sdk_reads_accounts(emulator: str) -> None:
    c = client(emulator)
    cmk = c.accounts.get("rg-dr", "cmk", enforce_https=False)
    assert cmk.location == "eastus" and cmk.kind == "AIServices" and cmk.sku.name == "S0"
    assert cmk.properties.encryption.key_source == "Microsoft.KeyVault"
    assert cmk.properties.encryption.key_vault_properties.key_name
    assert cmk.properties.endpoint.startswith("http://127.0.0.1:") and cmk.properties.endpoint.endswith("/")
    plain = c.accounts.get("rg-dr", "plain", enforce_https=False)
    assert plain.properties.encryption is None  # Microsoft-managed: no encryption block
    assert plain.kind == "FormRecognizer" and plain.properties.public_network_access == "Disabled"


def test_sdk_lists_deployments_across_pages(emulator: str) -> None:
    c = client(emulator)
    deployments = {d.name: d for d in c.deployments.list("rg-dr", "cmk", enforce_https=False)}
    assert sorted(deployments) == ["emb3l", "gpt41", "gpt4o"]  # page_size 2: two pages, the SDK follows nextLink
    emb = deployments["emb3l"]
    assert (emb.properties.model.name, emb.properties.model.version, emb.sku.name, emb.sku.capacity) == (
        "text-embedding-3-large", "1", "GlobalStandard", 150)
    one = c.deployments.get("rg-dr", "cmk", "gpt41", enforce_https=False)
    assert one.properties.model.name == "gpt-4.1"


def test_admin_api_creates_and_deletes_deployments(emulator: str) -> None:
    c = client(emulator)
    r = httpx.put(f"{emulator}/_emulator/accounts/plain/deployments/te3", json={"model": "text-embedding-3-small"})
    assert r.status_code == 201
    try:
        assert [d.name for d in c.deployments.list("rg-dr", "plain", enforce_https=False)] == ["te3"]
    finally:
        assert httpx.delete(f"{emulator}/_emulator/accounts/plain/deployments/te3").status_code == 204
    assert list(c.deployments.list("rg-dr", "plain", enforce_https=False)) == []


def test_sdk_sees_arm_errors(emulator: str) -> None:
    with pytest.raises(ClientAuthenticationError) as denied:
        client(emulator, "wrong").accounts.get("rg-dr", "cmk", enforce_https=False)
    assert denied.value.error.code == "InvalidAuthenticationToken"
    with pytest.raises(HttpResponseError) as forbidden:
        client(emulator).accounts.get("rg-dr", "hidden", enforce_https=False)
    assert forbidden.value.status_code == 403 and forbidden.value.error.code == "AuthorizationFailed"
    assert "Microsoft.CognitiveServices/accounts/read" in forbidden.value.message
    with pytest.raises(ResourceNotFoundError) as missing:
        client(emulator).accounts.get("rg-dr", "nope", enforce_https=False)
    assert missing.value.error.code == "ResourceNotFound"
