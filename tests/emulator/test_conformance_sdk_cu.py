"""Conformance of the emulator's Content Understanding API with the official SDK (contracts §5).

Driven ONLY through ``azure.ai.contentunderstanding.ContentUnderstandingClient`` (api-version 2025-11-01, the SDK's
default) plus plain ``httpx`` for the emulator's admin API. Every response the SDK receives is recorded by a
``raw_response_hook`` and validated against ``contentunderstanding-2025-11-01.json`` (``openapi_validation.py``).
Nothing from drplan's own client code is used.

The SDK's documented cross-resource copy: ``grant_copy_authorization`` on the SOURCE client, then
``begin_copy_analyzer`` on the TARGET client, whose poller polls the target's ``Operation-Location``. The SDK accepts
only 200/201 on ``:copy`` (it rejects the spec's 202), which is why the emulator answers 201 (contracts §5.3).

One deliberate departure from the spec, checked instead of excused: the ``:grantCopyAuthorization`` answer has the
shape of the live service's recordings, ``{targetAzureResourceId, targetRegion, expiresAt}`` (no ``source``, which the
spec's CopyAuthorization lists as required; sources cited in ``drplan/emulator/services/content_understanding.py`` at
the grant route). The SDK 1.1.0 model ``CopyAuthorization`` has no ``target_region`` attribute; being a mapping over
the JSON it still exposes ``grant["targetRegion"]``, and its ``source`` is None against the live service as it is here.
"""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
import emulator_fixtures
import openapi_validation as ov
from azure.ai.contentunderstanding import ContentUnderstandingClient
from emulator_fixtures import _reset, admin, emulator_fixture, sdk_clients  # noqa: F401

SUB = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg-dr/providers/Microsoft.CognitiveServices/accounts"
ACCOUNTS = {"src": "eastus", "dst": "westus2", "bare": "westus"}
KEYS = {name: f"key-{name}" for name in ACCOUNTS}
AUTH_TTL = 3600
MODELS = {"completion": "gpt-4.1", "embedding": "text-embedding-3-large"}
STANDARD = """deployments = { "gpt41" = "gpt-4.1", "emb3l" = "text-embedding-3-large" }
model_deployments = { "gpt-4.1" = "gpt41", "text-embedding-3-large" = "emb3l" }
"""
BULK = [f"bulk-{i}" for i in range(1, 5)]

CONFIG = f"""
seed = 9

[settings]
page_size = 2
copy_seconds = 0.3
authorization_ttl_seconds = {AUTH_TTL}
""" + "".join(
    f"""
[accounts.{name}]
region = "{region}"
key = "{KEYS[name]}"
resource_id = "{SUB}/{name}"
{STANDARD if name != "bare" else ""}
"""
    for name, region in ACCOUNTS.items()
) + """
[[accounts.src.analyzers]]
analyzer_id = "invoice"
description = "Invoices"
tags = { team = "ap" }
base_analyzer_id = "prebuilt-document"
models = { completion = "gpt-4.1", embedding = "text-embedding-3-large" }
config = { enableOcr = true, enableLayout = true }
field_schema = { name = "invoice", fields = { total = { type = "number", description = "Total" } } }
created = "2025-01-01T00:00:00Z"
""" + "".join(f"""
[[accounts.src.analyzers]]
analyzer_id = "{aid}"
""" for aid in BULK) + """
[[accounts.dst.analyzers]]
analyzer_id = "taken"
"""
SRC_IDS = sorted(["invoice", *BULK])


#: The live grant answer (cu.py, grant route) lacks the spec's required ``source``: the one spec problem tolerated.
GRANT_SOURCE_PROBLEM = re.compile(r"^POST /analyzers/[^ ]+:grantCopyAuthorization -> 200 .*'source' is a required property")


def spec_problems(exchanges: list[ov.Exchange]) -> list[str]:
    """OpenAPI problems of ``exchanges``, minus the recorded grant shape's missing ``source``."""
    return [p for p in ov.conformance_problems(exchanges) if not GRANT_SOURCE_PROBLEM.search(p)]


class Recorder(emulator_fixtures.Recorder):
    """Every response the CU SDK receives."""

    def assert_conformant(self, min_exchanges: int = 1) -> None:
        assert len(self.exchanges) >= min_exchanges, f"only {len(self.exchanges)} exchanges recorded"
        checked = [e for e in self.exchanges if e.status != 401]  # gateway 401: the emulator's shared shape
        unmapped = [e for e in checked if ov.check_exchange(e).spec is None]
        assert not unmapped, [f"{e.method} {e.url}" for e in unmapped]
        problems = spec_problems(checked)
        assert not problems, "responses violate the OpenAPI contract:\n" + "\n".join(problems)
        for e in self.exchanges:
            assert e.header("apim-request-id"), f"{e.method} {e.url}: no apim-request-id"
            uuid.UUID(e.header("apim-request-id"))  # a GUID, every response (contracts §1 [R])
            if urlsplit(e.url).path.endswith(":grantCopyAuthorization") and e.status == 200:
                assert set(e.body) == {"targetAzureResourceId", "targetRegion", "expiresAt"}, e.body  # [R] shape
            account = emulator_fixtures.account_of(e.url)
            assert e.header("x-ms-region") == ACCOUNTS[account]
            sent = e.request_headers.get("x-ms-client-request-id")
            assert sent is None or e.header("x-ms-client-request-id") == sent
            if e.status >= 400 and e.status != 401:
                assert e.header("x-ms-error-code") == e.body["error"]["code"], (e.url, e.status)


emu = emulator_fixture(CONFIG, "emulator-sdk-cu")


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def cuc(emu, rec) -> Iterator[Callable[..., ContentUnderstandingClient]]:
    def build(account: str, *, key: str | None = None) -> ContentUnderstandingClient:
        return ContentUnderstandingClient(
            emu.account_url(account),
            AzureKeyCredential(key or KEYS[account]),
            raw_response_hook=rec.hook,
            polling_interval=0.1,
        )

    yield from sdk_clients(build)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def test_sdk_cross_resource_copy_flow(cuc, rec):
    src, dst = cuc("src"), cuc("dst")
    grant = src.grant_copy_authorization("invoice", target_azure_resource_id=f"{SUB}/dst", target_region="westus2")
    assert grant.target_azure_resource_id == f"{SUB}/dst" and grant["targetRegion"] == "westus2"
    assert grant.source is None  # not sent by the live service either (module docstring)
    remaining = (_utc(grant.expires_at) - datetime.now(timezone.utc)).total_seconds()
    assert AUTH_TTL - 30 < remaining <= AUTH_TTL + 1
    [granted] = rec.matching("POST", "/analyzers/invoice:grantCopyAuthorization")
    assert granted.body["expiresAt"].endswith("+00:00")  # .NET round-trip form, as recorded

    poller = dst.begin_copy_analyzer(
        "invoice-dr", source_analyzer_id="invoice", source_azure_resource_id=f"{SUB}/src", source_region="eastus"
    )
    copied = poller.result(timeout=30)
    assert copied.analyzer_id == "invoice-dr" and copied.status == "ready"
    assert copied.models == MODELS and copied.description == "Invoices" and copied.tags == {"team": "ap"}
    assert copied.base_analyzer_id == "prebuilt-document" and copied.field_schema.fields["total"].type == "number"
    [accepted] = rec.matching("POST", "/analyzers/invoice-dr:copy")
    assert accepted.status == 201 and accepted.body["status"] == "creating"
    location = accepted.header("Operation-Location")
    assert location.startswith(f"{dst._config.endpoint}/contentunderstanding/analyzers/invoice-dr/operations/")
    polls = rec.matching("GET", "/analyzers/invoice-dr/operations/")
    assert polls and polls[-1].body["status"] == "Succeeded" and polls[-1].body["result"]["status"] == "ready"

    fetched = dst.get_analyzer("invoice-dr")
    source = src.get_analyzer("invoice")
    assert fetched.status == "ready" and fetched.config.enable_ocr is True
    assert _utc(fetched.created_at) > _utc(source.created_at)  # a new analyzer, created now

    with pytest.raises(HttpResponseError) as used:  # the grant is single use
        dst.begin_copy_analyzer("again", source_analyzer_id="invoice", source_azure_resource_id=f"{SUB}/src",
                                source_region="eastus")
    assert used.value.status_code == 403 and used.value.error.code == "Forbidden"
    rec.assert_conformant(min_exchanges=5)


def test_sdk_grant_answer_shape_region_default_and_request_ids(cuc, rec):
    """The grant answer as recorded [R]; targetRegion defaults to the source's own region [S]; every answer, success or
    error, carries an apim-request-id GUID and echoes the x-ms-client-request-id the SDK sent [S]."""
    src, dst = cuc("src"), cuc("dst")
    rid = str(uuid.uuid4())
    grant = src.grant_copy_authorization("invoice", target_azure_resource_id=f"{SUB}/dst",
                                         headers={"x-ms-client-request-id": rid})
    assert grant.as_dict() == {"targetAzureResourceId": f"{SUB}/dst", "targetRegion": "eastus",
                               "expiresAt": grant["expiresAt"]}  # no region sent: the current (source's) region
    with pytest.raises(HttpResponseError) as wrong_region:  # ... which is not the target's (westus2)
        dst.begin_copy_analyzer("r", source_analyzer_id="invoice", source_azure_resource_id=f"{SUB}/src",
                                source_region="eastus", headers={"x-ms-client-request-id": rid})
    assert wrong_region.value.status_code == 403 and wrong_region.value.error.innererror["code"] == "CopyAuthorizationRegionMismatch"
    assert wrong_region.value.response.headers["x-ms-error-code"] == "Forbidden"
    src.grant_copy_authorization("invoice", target_azure_resource_id=f"{SUB}/dst", target_region="westus2")
    dst.begin_copy_analyzer("r", source_analyzer_id="invoice", source_azure_resource_id=f"{SUB}/src",
                            source_region="eastus").result(timeout=30)
    dst.delete_analyzer("r", headers={"x-ms-client-request-id": rid})
    echoed = [e for e in rec.exchanges if e.request_headers.get("x-ms-client-request-id") == rid]
    assert [(e.method, e.status) for e in echoed] == [("POST", 200), ("POST", 403), ("DELETE", 204)]
    assert all(e.header("x-ms-client-request-id") == rid for e in echoed)
    assert len({e.header("apim-request-id") for e in rec.exchanges}) == len(rec.exchanges)  # one per response
    rec.assert_conformant(min_exchanges=6)


def test_sdk_same_resource_copy_and_allow_replace(cuc, rec):
    src = cuc("src")
    copied = src.begin_copy_analyzer("invoice-2", source_analyzer_id="invoice").result(timeout=30)
    assert copied.status == "ready" and copied.models == MODELS
    with pytest.raises(ResourceExistsError) as exists:
        src.begin_copy_analyzer("invoice-2", source_analyzer_id="bulk-1")
    assert exists.value.status_code == 409 and exists.value.error.code == "Conflict"
    replaced = src.begin_copy_analyzer("invoice-2", source_analyzer_id="bulk-1", allow_replace=True).result(timeout=30)
    assert replaced.status == "ready" and replaced.models is None
    rec.assert_conformant(min_exchanges=5)


def test_sdk_list_get_create_update_delete(cuc, rec):
    src = cuc("src")
    listed = list(src.list_analyzers())
    assert [a.analyzer_id for a in listed] == SRC_IDS
    assert len(rec.matching("GET", "/contentunderstanding/analyzers")) == 3  # pages of 2: nextLink was followed
    invoice = src.get_analyzer("invoice")
    assert invoice.status == "ready" and _utc(invoice.created_at) == datetime(2025, 1, 1, tzinfo=timezone.utc)

    created = src.begin_create_analyzer(
        "made-by-sdk", {"description": "sdk", "baseAnalyzerId": "prebuilt-document", "models": MODELS,
                        "fieldSchema": {"fields": {"n": {"type": "string"}}}}
    ).result(timeout=30)
    assert created.analyzer_id == "made-by-sdk" and created.status == "ready" and created.description == "sdk"

    updated = src.update_analyzer("made-by-sdk", {"description": "changed", "tags": {"x": "1"}})
    assert updated.description == "changed" and updated.tags == {"x": "1"}
    assert _utc(updated.last_modified_at) >= _utc(created.last_modified_at)
    src.delete_analyzer("made-by-sdk")
    with pytest.raises(ResourceNotFoundError) as missing:
        src.get_analyzer("made-by-sdk")
    assert missing.value.status_code == 404 and missing.value.error.code == "NotFound"
    rec.assert_conformant(min_exchanges=8)


def test_sdk_defaults(cuc, rec):
    dst = cuc("dst")
    assert dst.get_defaults().model_deployments == {"gpt-4.1": "gpt41", "text-embedding-3-large": "emb3l"}
    after = dst.update_defaults(model_deployments={"gpt-4.1": "newGpt41", "gpt-4o": "g4o"})
    assert after.model_deployments == {"gpt-4.1": "newGpt41", "text-embedding-3-large": "emb3l", "gpt-4o": "g4o"}
    [patch] = rec.matching("PATCH", "/contentunderstanding/defaults")
    assert patch.request_headers["Content-Type"] == "application/merge-patch+json"
    after = dst.update_defaults(model_deployments={"gpt-4o": None})
    assert after.model_deployments == {"gpt-4.1": "newGpt41", "text-embedding-3-large": "emb3l"}
    rec.assert_conformant(min_exchanges=3)


def test_sdk_service_errors(cuc, rec, admin):
    dst, bare = cuc("dst"), cuc("bare")
    with pytest.raises(HttpResponseError) as no_grant:
        dst.begin_copy_analyzer("x", source_analyzer_id="invoice", source_azure_resource_id=f"{SUB}/src",
                                source_region="eastus")
    assert no_grant.value.status_code == 403 and no_grant.value.error.code == "Forbidden"
    with pytest.raises(ResourceNotFoundError):
        cuc("src").grant_copy_authorization("nope", target_azure_resource_id=f"{SUB}/dst")

    cuc("src").grant_copy_authorization("invoice", target_azure_resource_id=f"{SUB}/bare", target_region="westus")
    with pytest.raises(HttpResponseError) as no_deployment:
        bare.begin_copy_analyzer("x", source_analyzer_id="invoice", source_azure_resource_id=f"{SUB}/src",
                                 source_region="eastus")
    assert no_deployment.value.status_code == 400 and no_deployment.value.error.code == "InvalidRequest"
    assert no_deployment.value.error.innererror["code"] == "ModelDeploymentNotFound"

    assert admin.put("/_emulator/faults", json={"account": "dst", "operation_failure_rate": 1.0}).status_code == 200
    poller = dst.begin_copy_analyzer("doomed", source_analyzer_id="taken")  # same resource: no grant needed
    with pytest.raises(HttpResponseError):
        poller.result(timeout=30)
    assert rec.matching("GET", "/analyzers/doomed/operations/")[-1].body["status"] == "Failed"
    assert dst.get_analyzer("doomed").status == "failed"

    with pytest.raises(ClientAuthenticationError) as denied:
        cuc("src", key="wrong").get_analyzer("invoice")
    assert denied.value.status_code == 401
    rec.assert_conformant(min_exchanges=6)
