"""Conformance of the emulator's Form Recognizer v2.1 / v2.0 API with the official SDK (contracts §4).

Driven ONLY through ``azure.ai.formrecognizer.FormTrainingClient`` (api_version "2.1" and "2.0", the two values of
``FormRecognizerApiVersion``) plus plain ``httpx`` for the emulator's admin API. Every response the SDK receives is
recorded by a ``raw_response_hook`` and validated against ``formrecognizer-v2.1.json`` / ``formrecognizer-v2.0.json``
(``openapi_validation.py``). Nothing from drplan's own client code is used.

Where documented failures surface (emulator README, "Form Recognizer v2.1 / v2.0"): an edited or expired
authorization fails ``begin_copy_model`` itself (400 ``"1002"``); a reused authorization, an unresolvable target, a
full target and the customer-managed-key downgrade are accepted (202) and fail the copy operation, which the SDK
raises from ``.result()`` with the copy result's first error.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import pytest
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
import emulator_fixtures  # noqa: E402
import openapi_validation as ov  # noqa: E402
from azure.ai.formrecognizer import FormRecognizerApiVersion, FormTrainingClient  # noqa: E402
from emulator_fixtures import _reset, admin, emulator_fixture, sdk_clients  # noqa: E402,F401

SUB = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg-dr/providers/Microsoft.CognitiveServices/accounts"
ACCOUNTS: dict[str, dict[str, Any]] = {
    "src": {"region": "eastus", "key": "key-src", "encryption": "microsoft-managed", "model_limit": 500},
    "cmk": {"region": "centralus", "key": "key-cmk", "encryption": "customer-managed", "model_limit": 500},
    "dst": {"region": "westus2", "key": "key-dst", "encryption": "microsoft-managed", "model_limit": 500},
    "tiny": {"region": "northeurope", "key": "key-tiny", "encryption": "microsoft-managed", "model_limit": 1},
}
AUTH_TTL = 3600
INVOICE = "7bee575f-1df2-41b2-8467-626912792ffb"  # trained with v2.1, has a modelName
LEGACY = "c885a510-785f-402b-a69b-650d581331db"  # trained with v2.0
COMPOSED = "a0490d1a-e0d9-4e18-96ed-3bc4ad1df34c"
SECURE = "ff677acc-7b94-43ab-b77b-8d8e01a16f3b"
BULK = [f"00000000-0000-4000-8000-00000000000{i}" for i in range(1, 5)]
SOURCE = {"2.1": (INVOICE, "invoices", datetime(2021, 3, 1, 10, 0, tzinfo=timezone.utc)),
          "2.0": (LEGACY, None, datetime(2020, 5, 14, 0, 41, 51, tzinfo=timezone.utc))}

CONFIG = f"""
seed = 3

[settings]
page_size = 3
copy_seconds = 0.2
authorization_ttl_seconds = {AUTH_TTL}
operation_retention_seconds = 3600
""" + "".join(
    f"""
[accounts.{name}]
region = "{a['region']}"
key = "{a['key']}"
resource_id = "{SUB}/{name}"
encryption = "{a['encryption']}"
model_limit = {a['model_limit']}
"""
    for name, a in ACCOUNTS.items()
) + f"""
[[accounts.src.v2_models]]
model_id = "{INVOICE}"
model_name = "invoices"
created = "2021-03-01T10:00:00Z"
last_updated = "2021-03-01T10:00:07Z"

[[accounts.src.v2_models]]
model_id = "{LEGACY}"
api_version = "2.0"
created = "2020-05-14T00:41:51Z"
last_updated = "2020-05-14T00:41:58Z"

[[accounts.src.v2_models]]
model_id = "{COMPOSED}"
model_name = "composed"
is_composed = true
""" + "".join(
    f"""
[[accounts.src.v2_models]]
model_id = "{mid}"
api_version = "2.0"
"""
    for mid in BULK
) + f"""
[[accounts.cmk.v2_models]]
model_id = "{SECURE}"
api_version = "2.0"

[[accounts.tiny.v2_models]]
model_id = "{BULK[0]}"
"""
SRC_IDS = {INVOICE, LEGACY, COMPOSED, *BULK}


class Recorder(emulator_fixtures.Recorder):
    """Every response the v2 SDK receives (paths matched without regard to case)."""

    def matching(self, method: str, path_contains: str, status: int | None = None) -> list[ov.Exchange]:
        return [e for e in super().matching(method, "", status) if path_contains.lower() in urlsplit(e.url).path.lower()]

    def assert_conformant(self, min_exchanges: int = 1) -> None:
        assert len(self.exchanges) >= min_exchanges, f"only {len(self.exchanges)} exchanges recorded"
        unmapped = [e for e in self.exchanges if ov.check_exchange(e).spec is None and e.status != 401]
        assert not unmapped, [f"{e.method} {e.url}" for e in unmapped]
        problems = ov.conformance_problems(self.exchanges)
        assert not problems, "responses violate the OpenAPI contract:\n" + "\n".join(problems)
        for e in self.exchanges:
            assert e.header("apim-request-id"), f"{e.method} {e.url}: no apim-request-id"
            account = emulator_fixtures.account_of(e.url)
            assert e.header("x-ms-region") == ACCOUNTS[account]["region"]
            if e.status >= 400 and e.status not in (401, 429):  # v2 backend errors (contracts §1)
                assert e.header("x-ms-cs-error-code") == e.body["error"]["code"], (e.url, e.status)


emu = emulator_fixture(CONFIG, "emulator-sdk-v2")


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def ftc(emu, rec) -> Iterator[Callable[..., FormTrainingClient]]:
    def build(account: str, api_version: str = "2.1", *, key: str | None = None) -> FormTrainingClient:
        return FormTrainingClient(
            emu.account_url(account),
            AzureKeyCredential(key or ACCOUNTS[account]["key"]),
            api_version=api_version,
            raw_response_hook=rec.hook,
            polling_interval=0.1,
        )

    yield from sdk_clients(build)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def authorize(ftc, target: str, api_version: str, resource: str | None = None) -> dict[str, Any]:
    return ftc(target, api_version).get_copy_authorization(
        resource_region=ACCOUNTS[target]["region"], resource_id=f"{SUB}/{resource or target}"
    )


def expect_async_failure(rec: Recorder, poller_factory: Callable[[], Any]) -> HttpResponseError:
    """The copy is accepted (202) and its operation fails: the SDK's CopyPolling raises the copy result's first
    error from ``.result()`` (while reading the status, so the poller's own status never says "failed")."""
    poller = poller_factory()
    with pytest.raises(HttpResponseError) as info:
        poller.result(timeout=30)
    last = rec.matching("GET", "/copyresults/")[-1]
    assert last.body["status"] == "failed" and last.body["copyResult"]["errors"][0]["code"] == info.value.error.code
    # the code in ms-azure-ai-errorcode, as recorded live in 2021 (drplan/emulator/errors.py AI_ERROR_CODE_HEADER)
    assert last.header("ms-azure-ai-errorcode") == info.value.error.code
    return info.value


def test_the_sdk_knows_both_v2_versions():
    assert {v.value for v in FormRecognizerApiVersion} == {"2.1", "2.0"}


@pytest.mark.parametrize("api_version", ["2.1", "2.0"])
def test_copy_flow_list_properties_and_delete(emu, ftc, rec, api_version):
    source_id, model_name, created = SOURCE[api_version]
    src, dst = ftc("src", api_version), ftc("dst", api_version)
    target = dst.get_copy_authorization(resource_region="westus2", resource_id=f"{SUB}/dst")
    assert set(target) == {"modelId", "accessToken", "expirationDateTimeTicks", "resourceId", "resourceRegion"}
    now = datetime.now(timezone.utc).timestamp()
    assert abs(target["expirationDateTimeTicks"] - (now + AUTH_TTL)) < 30  # epoch seconds (contracts §4)
    [authorized] = rec.matching("POST", "/custom/models/copyAuthorization")
    assert authorized.status == 201
    assert authorized.header("Location") == f"{emu.account_url('dst')}/formrecognizer/v{api_version}/custom/models/{target['modelId']}"

    poller = src.begin_copy_model(source_id, target=target)
    info = poller.result(timeout=30)
    assert info.model_id == target["modelId"] and info.status == "ready"
    [accepted] = rec.matching("POST", f"/custom/models/{source_id}/copy")
    assert accepted.status == 202
    assert "/copyresults/" in accepted.header("Operation-Location")  # lowercase, as live
    polls = rec.matching("GET", "/copyresults/")
    assert polls[0].body["copyResult"]["modelId"] == target["modelId"] and polls[-1].body["status"] == "succeeded"

    model = dst.get_custom_model(target["modelId"])
    assert model.model_id == target["modelId"] and model.status == "ready"
    assert _utc(model.training_started_on) == created  # kept from the source [R]
    assert model.model_name == model_name
    assert model.submodels and set(model.submodels[0].fields) == {"VendorName", "DocumentDate", "Total"}
    assert [d.name for d in model.training_documents] == [f"Form_{i}.jpg" for i in range(1, 6)]
    if api_version == "2.1":
        assert model.properties.is_composed_model is False

    listed = list(src.list_custom_models())
    assert {m.model_id for m in listed} == SRC_IDS and len(listed) == len(SRC_IDS)
    src_lists = [e for e in rec.matching("GET", "/custom/models")
                 if emulator_fixtures.account_of(e.url) == "src" and urlsplit(e.url).path.endswith("/custom/models")]
    assert len(src_lists) >= 3  # pages of 3: nextLink was followed
    assert [m.model_id for m in dst.list_custom_models()] == [target["modelId"]]
    props = dst.get_account_properties()
    assert (props.custom_model_count, props.custom_model_limit) == (1, 500)

    dst.delete_model(target["modelId"])
    with pytest.raises(ResourceNotFoundError) as missing:
        dst.get_custom_model(target["modelId"])
    assert missing.value.error.code == "1022"
    assert missing.value.error.message == f"Model with 'id={target['modelId']}' not found."
    with pytest.raises(ResourceNotFoundError):
        dst.delete_model(target["modelId"])
    assert dst.get_account_properties().custom_model_count == 0
    assert all(f"/formrecognizer/v{api_version}/" in e.url for e in rec.exchanges)
    rec.assert_conformant(min_exchanges=12)


def test_composed_model_copies_with_its_attributes(ftc, rec):
    target = authorize(ftc, "dst", "2.1")
    ftc("src").begin_copy_model(COMPOSED, target=target).result(timeout=30)
    model = ftc("dst").get_custom_model(target["modelId"])
    assert model.properties.is_composed_model is True and model.model_name == "composed"
    assert len(model.submodels) == 2
    rec.assert_conformant(min_exchanges=4)


def test_reused_authorization_fails_the_copy(ftc, rec):
    src = ftc("src")
    target = authorize(ftc, "dst", "2.1")
    src.begin_copy_model(INVOICE, target=target).result(timeout=30)
    err = expect_async_failure(rec, lambda: src.begin_copy_model(COMPOSED, target=target))
    assert err.error.code == "2024"  # recorded 2021 (errors.V2_AUTHORIZATION_ERROR_CODE); "AuthorizationError" in 2020
    assert err.error.message.startswith("Could not retrieve authorization metadata.")
    assert ftc("dst").get_custom_model(target["modelId"]).model_name == "invoices"  # the first copy stays
    rec.assert_conformant()


def test_unknown_target_resource_fails_lazily(ftc, rec):
    target = authorize(ftc, "dst", "2.1", resource="no-such-account")  # the SDK just passes resource_id through
    err = expect_async_failure(rec, lambda: ftc("src").begin_copy_model(INVOICE, target=target))
    assert err.error.code == "2024"  # copy to a bad target: test_copy_model_fail recording (2021)
    assert err.error.message.startswith("Could not retrieve authorization metadata.")
    rec.assert_conformant()


def test_expired_authorization_is_rejected_at_once(admin, ftc, rec):
    target = authorize(ftc, "dst", "2.1")
    assert admin.post("/_emulator/clock", json={"advance_seconds": AUTH_TTL + 1}).status_code == 200
    with pytest.raises(HttpResponseError) as info:
        ftc("src").begin_copy_model(INVOICE, target=target)
    assert info.value.status_code == 400 and info.value.error.code == "1002" and "expired" in info.value.error.message
    rec.assert_conformant()


def test_edited_authorization_is_rejected_at_once(ftc, rec):
    target = authorize(ftc, "dst", "2.1")
    with pytest.raises(HttpResponseError) as info:
        ftc("src").begin_copy_model(INVOICE, target={**target, "expirationDateTimeTicks": 86400})
    assert info.value.status_code == 400 and info.value.error.code == "1002"
    ftc("src").begin_copy_model(INVOICE, target=target).result(timeout=30)  # not consumed by the failed attempt
    rec.assert_conformant()


def test_customer_managed_key_downgrade_fails_the_copy(ftc, rec):
    target = authorize(ftc, "dst", "2.0")
    err = expect_async_failure(rec, lambda: ftc("cmk", "2.0").begin_copy_model(SECURE, target=target))
    assert err.error.code == "DataProtectionTransformServiceError"
    rec.assert_conformant()


def test_full_target_fails_the_copy(ftc, rec):
    target = authorize(ftc, "tiny", "2.1")
    err = expect_async_failure(rec, lambda: ftc("src").begin_copy_model(INVOICE, target=target))
    assert err.error.code == "ModelLimitExceeded"
    props = ftc("tiny").get_account_properties()
    assert (props.custom_model_count, props.custom_model_limit) == (1, 1)
    rec.assert_conformant()


def test_typed_errors(ftc, rec):
    with pytest.raises(HttpResponseError) as incompatible:
        ftc("src", "2.0").get_custom_model(INVOICE)  # trained with v2.1 (azure-sdk-for-net #14607)
    assert incompatible.value.status_code == 400 and incompatible.value.error.code == "1027"
    with pytest.raises(ResourceNotFoundError):
        ftc("src").begin_copy_model("3fe12716-3902-45f3-9247-c0a4dfeedff8", target=authorize(ftc, "dst", "2.1"))
    with pytest.raises(ClientAuthenticationError) as denied:
        ftc("src", key="wrong").get_account_properties()
    assert denied.value.status_code == 401
    rec.assert_conformant(min_exchanges=4)
