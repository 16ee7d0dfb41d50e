"""Independent conformance check of the drplan HTTP emulator.

The emulator (``drplan.emulator``) is driven ONLY through the official Azure SDKs
(azure-ai-documentintelligence for DI v4, azure-ai-formrecognizer for FR v3) and plain ``httpx`` for its admin API.
Every response the SDKs receive is recorded by a pipeline hook and validated against the official OpenAPI files in
``shared/contracts/openapi`` (see ``openapi_validation.py`` for what is checked and what is relaxed).
Nothing from drplan's own client code (``drplan.azure``, ``drplan.services``) is used here.

Contract references ("contracts §x") are to ``shared/contracts/README.md``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)

if str(Path(__file__).resolve().parent) not in sys.path:  # no __init__.py in tests/: import the helper by path
    sys.path.insert(0, str(Path(__file__).resolve().parent))
import emulator_fixtures  # noqa: E402
import openapi_validation as ov  # noqa: E402
from azure.ai.documentintelligence import DocumentIntelligenceAdministrationClient  # noqa: E402
from azure.ai.formrecognizer import DocumentModelAdministrationClient  # noqa: E402
from emulator_fixtures import _reset, admin, emulator_fixture, sdk_clients  # noqa: E402,F401

# --------------------------------------------------------------------------------------------------- configuration

SUB = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg-dr/providers/Microsoft.CognitiveServices/accounts"
ACCOUNTS: dict[str, dict[str, Any]] = {
    # a Microsoft-managed source with enough models to need several list pages
    "src": {"region": "eastus", "key": "key-src", "encryption": "microsoft-managed", "model_limit": 500},
    # a customer-managed-key source (copy to an unencrypted target is a downgrade, contracts §2.4)
    "cmk": {"region": "centralus", "key": "key-cmk", "encryption": "customer-managed", "model_limit": 500},
    # the Microsoft-managed DR target
    "dst": {"region": "westus2", "key": "key-dst", "encryption": "microsoft-managed", "model_limit": 500},
    # a small target: model_limit 2 with one model, i.e. room for exactly one copy
    "tiny": {"region": "northeurope", "key": "key-tiny", "encryption": "microsoft-managed", "model_limit": 2},
    # a target that behaves like the service before 2024: its copies keep the source's createdDateTime
    "keep": {"region": "uksouth", "key": "key-keep", "encryption": "microsoft-managed", "model_limit": 500,
             "copy_keeps_created": True},
}
PAGE_SIZE = 3
AUTH_TTL = 3600  # DI v4 / FR v3 authorizations: 1 h by default (every recording, contracts §2.4; issue 13)
RETENTION = 7200
INVOICE_CREATED = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
RECEIPT_CREATED = datetime(2023, 9, 1, 8, 30, tzinfo=timezone.utc)
LEGACY_CREATED = datetime(2022, 10, 1, 12, 0, tzinfo=timezone.utc)
SECURE_CREATED = datetime(2024, 3, 3, 3, 3, 3, tzinfo=timezone.utc)
ROUTER_CREATED = datetime(2024, 5, 2, 10, 0, tzinfo=timezone.utc)
BULK_IDS = [f"bulk-{i:02d}" for i in range(1, 8)]
SRC_MODEL_IDS = ["invoice-2024", "receipt-v3", "legacy-2022", *BULK_IDS]

CONFIG = f"""
seed = 7

[settings]
page_size = {PAGE_SIZE}
copy_seconds = 0.2
operation_retention_seconds = {RETENTION}
retry_after_seconds = 1

[faults]
latency_ms = 0
rate_limit_per_second = 0
error_rate = 0.0
drop_rate = 0.0
operation_failure_rate = 0.0
slow = false
""" + "".join(
    f"""
[accounts.{name}]
region = "{a['region']}"
key = "{a['key']}"
resource_id = "{SUB}/{name}"
encryption = "{a['encryption']}"
model_limit = {a['model_limit']}
""" + ("copy_keeps_created = true\n" if a.get("copy_keeps_created") else "")
    for name, a in ACCOUNTS.items()
) + """
[[accounts.src.models]]
model_id = "invoice-2024"
description = "Invoices"
created = "2024-05-01T10:00:00Z"
api_version = "2024-11-30"
build_mode = "template"
tags = { team = "ap" }
doc_types = ["invoice-2024"]

[[accounts.src.models]]
model_id = "receipt-v3"
description = "Receipts"
created = "2023-09-01T08:30:00Z"
api_version = "2023-07-31"
build_mode = "template"
doc_types = ["receipt-v3"]

[[accounts.src.models]]
model_id = "legacy-2022"
description = "Built with v3.0"
created = "2022-10-01T12:00:00Z"
api_version = "2022-08-31"
build_mode = "template"
doc_types = ["legacy-2022"]
""" + "".join(
    f"""
[[accounts.src.models]]
model_id = "{mid}"
created = "2024-01-0{i}T00:00:00Z"
api_version = "2024-11-30"
"""
    for i, mid in enumerate(BULK_IDS, start=1)
) + """
[[accounts.src.classifiers]]
classifier_id = "router"
description = "Routes documents"
created = "2024-05-02T10:00:00Z"
doc_types = ["invoice", "receipt"]

[[accounts.cmk.models]]
model_id = "secure-model"
description = "Encrypted"
created = "2024-03-03T03:03:03Z"
api_version = "2024-11-30"
doc_types = ["secure-model"]

[[accounts.dst.models]]
model_id = "existing-model"
created = "2024-02-02T00:00:00Z"
api_version = "2024-11-30"

[[accounts.tiny.models]]
model_id = "only-one"
created = "2024-02-02T00:00:00Z"
api_version = "2024-11-30"
"""

DI_V4 = "2024-11-30"
DI_PREVIEW = "2024-02-29-preview"
FR_VERSIONS = ["2023-07-31", "2022-08-31"]


# --------------------------------------------------------------------------------------------------- recording

class Recorder(emulator_fixtures.Recorder):
    """Every response the DI and FR SDKs receive; DI/FR responses carry the common headers (contracts §1)."""

    def assert_conformant(self, min_exchanges: int = 1) -> None:
        assert len(self.exchanges) >= min_exchanges, f"only {len(self.exchanges)} exchanges recorded"
        problems = ov.conformance_problems(self.exchanges)
        assert not problems, "responses violate the OpenAPI contract:\n" + "\n".join(problems)
        for e in self.exchanges:
            # contracts §1 common headers; emulator README: every response carries these
            assert e.header("apim-request-id"), f"{e.method} {e.url} -> {e.status}: no apim-request-id"
            account = emulator_fixtures.account_of(e.url)
            assert e.header("x-ms-region") == ACCOUNTS[account]["region"], (
                f"{e.method} {e.url} -> {e.status}: x-ms-region {e.header('x-ms-region')!r}")


# --------------------------------------------------------------------------------------------------- fixtures

emu = emulator_fixture(CONFIG, "emulator")


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def di(emu, rec) -> Iterator[Callable[..., DocumentIntelligenceAdministrationClient]]:
    def build(account: str, *, key: str | None = None, api_version: str = DI_V4, **kw: Any):
        return DocumentIntelligenceAdministrationClient(
            endpoint=emu.account_url(account),
            credential=AzureKeyCredential(key or ACCOUNTS[account]["key"]),
            api_version=api_version,
            raw_response_hook=rec.hook,
            polling_interval=0.1,
            **kw,
        )

    yield from sdk_clients(build)


@pytest.fixture
def fr(emu, rec) -> Iterator[Callable[..., DocumentModelAdministrationClient]]:
    def build(account: str, api_version: str, **kw: Any):
        return DocumentModelAdministrationClient(
            emu.account_url(account),
            AzureKeyCredential(ACCOUNTS[account]["key"]),
            api_version=api_version,
            raw_response_hook=rec.hook,
            polling_interval=0.1,
            **kw,
        )

    yield from sdk_clients(build)


# --------------------------------------------------------------------------------------------------- helpers

def _utc(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _inner_code(err: HttpResponseError) -> str | None:
    inner = (err.error.innererror or {}) if err.error else {}
    return inner.get("code")


# Where each documented copy failure surfaces. The contracts allow both (§2.6 last line: "some of these surface
# asynchronously"); these are the emulator's documented choices (drplan/emulator/README.md, "Decisions where the
# contracts are silent": "Copy checks, in order" and "Customer-managed key"): the "1002" authorization checks and the
# model limit are checked when :copyTo is called (HTTP 400 -> HttpResponseError from begin_*); the CMK downgrade is
# accepted (202) and fails the copy *operation* (status "failed" + error -> HttpResponseError from .result()).
FAILURE_MODE = {
    "consumed": "sync",
    "expired": "sync",
    "edited": "sync",
    "model_limit": "sync",
    "downgrade": "async",
}


def expect_copy_failure(begin: Callable[[], Any]) -> tuple[HttpResponseError, str]:
    """A documented copy failure may surface synchronously (error status on ``:copyTo``, raised by ``begin_*``) or
    asynchronously (operation ``status: failed`` + ``error``, raised by ``.result()``) – contracts §2.6 last line.
    Returns the error and which of the two it was."""
    try:
        poller = begin()
    except HttpResponseError as exc:
        return exc, "sync"
    with pytest.raises(HttpResponseError) as info:
        poller.result(timeout=30)
    assert poller.status().lower() == "failed"
    return info.value, "async"


def assert_http_400_if_sync(err: HttpResponseError, mode: str) -> None:
    if mode == "sync":
        assert err.status_code == 400, err.status_code


def _now_s() -> datetime:
    """Now, to the second (the emulator's timestamps have whole seconds; its clock is real time after a reset)."""
    return datetime.now(timezone.utc).replace(microsecond=0)


def assert_new_created(created: datetime, source_created: datetime, before: datetime) -> None:
    """A copy's createdDateTime is its own (the copy's completion time), not the source's: the service since 2024
    (contracts §2.4 [R][SX]; issue 13 point 1)."""
    assert _utc(created) != source_created
    assert before <= _utc(created) <= _now_s(), (created, before)


def clock(admin: httpx.Client, seconds: float) -> None:
    r = admin.post("/_emulator/clock", json={"advance_seconds": seconds})
    assert r.status_code in (200, 204), r.text


def operation_id_from(rec: Recorder) -> str:
    [copy] = [e for e in rec.exchanges if e.method == "POST" and ":copyTo" in e.url and e.status == 202]
    location = copy.header("Operation-Location")
    assert location, "202 without Operation-Location"
    return urlsplit(location).path.rsplit("/", 1)[-1]


# =================================================================================================== helper unit tests

GOOD_AUTH = {
    "targetResourceId": f"{SUB}/dst",
    "targetResourceRegion": "westus2",
    "targetModelId": "target-model",
    "targetModelLocation": "https://dst.cognitiveservices.azure.com/documentintelligence/documentModels/target-model?api-version=2024-11-30",
    "accessToken": "opaque",
    "expirationDateTime": "2024-06-01T10:00:00Z",
}
GOOD_COPY_OP = {
    "operationId": "31466125739_6b2e5b8c-7c3f-4a8f-8b3d-0c9c3f1e2a11",
    "status": "succeeded",
    "percentCompleted": 100,
    "createdDateTime": "2024-05-20T10:00:00Z",
    "lastUpdatedDateTime": "2024-05-20T10:00:05.1234567Z",
    "kind": "documentModelCopyTo",
    "resourceLocation": "https://dst.cognitiveservices.azure.com/documentintelligence/documentModels/target-model?api-version=2024-11-30",
    "apiVersion": "2024-11-30",
    "result": {
        "modelId": "target-model",
        "createdDateTime": "2024-05-01T10:00:00Z",
        "apiVersion": "2024-11-30",
        "buildMode": "template",
        "docTypes": {"target-model": {"buildMode": "template", "fieldSchema": {"Total": {"type": "number"}},
                                      "fieldConfidence": {"Total": 0.9}}},
    },
}
CONFLICT_BODY = {  # contracts §2.6, exact 409 body
    "error": {
        "code": "Conflict",
        "message": "The request could not be completed due to a conflict with the current state of the target resource.",
        "innererror": {"code": "ModelExists", "message": "A model with the provided name already exists."},
    }
}
MODEL_NOT_FOUND_BODY = {  # contracts §2.5
    "error": {
        "code": "NotFound",
        "message": "Resource not found.",
        "innererror": {"code": "ModelNotFound", "message": "The requested model was not found."},
    }
}
DI_COPY_OVERLOAD = "/operations/{operationId}?_overload=getDocumentModelCopyToOperation"


def test_helper_accepts_known_good_bodies():
    di = ov.load_spec("documentintelligence-2024-11-30.json")
    di.validate("/documentModels:authorizeCopy", "POST", 200, GOOD_AUTH)
    di.validate(DI_COPY_OVERLOAD, "GET", 200, GOOD_COPY_OP)
    di.validate("/operations", "GET", 200, {"value": [{k: v for k, v in GOOD_COPY_OP.items() if k != "result"}]})
    di.validate("/documentModels:authorizeCopy", "POST", 409, CONFLICT_BODY)  # 'default' response
    di.validate("/documentModels/{modelId}", "DELETE", 204, None)
    di.validate("/info", "GET", 200, {"customDocumentModels": {"count": 3, "limit": 500}})
    fr = ov.load_spec("formrecognizer-2022-08-31.json")
    # a model of the shared v3/v4 store built with a newer version, listed through 2022-08-31 (contracts §3)
    fr.validate("/documentModels", "GET", 200, {"value": [
        {"modelId": "invoice-2024", "createdDateTime": "2024-05-01T10:00:00Z", "apiVersion": "2024-11-30"}]})
    fr.validate("/operations", "GET", 200, {"value": [{k: v for k, v in GOOD_COPY_OP.items() if k != "result"}]})


def test_helper_rejects_missing_required_field():
    di = ov.load_spec("documentintelligence-2024-11-30.json")
    body = {k: v for k, v in GOOD_AUTH.items() if k != "accessToken"}
    with pytest.raises(AssertionError, match="'accessToken' is a required property"):
        di.validate("/documentModels:authorizeCopy", "POST", 200, body)
    with pytest.raises(AssertionError, match="'message' is a required property"):
        di.validate("/documentModels/{modelId}", "GET", 404, {"error": {"code": "NotFound"}})
    # required field of the discriminated sub-type's result (DocumentModelDetails.createdDateTime)
    op = GOOD_COPY_OP | {"result": {"modelId": "target-model"}}
    with pytest.raises(AssertionError, match="/result: 'createdDateTime' is a required property"):
        di.validate(DI_COPY_OVERLOAD, "GET", 200, op)


def test_helper_rejects_bad_enum_format_discriminator_and_unknown_fields():
    di = ov.load_spec("documentintelligence-2024-11-30.json")
    schema = di.response(DI_COPY_OVERLOAD, "GET", 200).schema
    assert any("'Succeeded' is not one of" in p for p in di.errors(schema, GOOD_COPY_OP | {"status": "Succeeded"}))
    assert any("is not a 'date-time'" in p for p in di.errors(schema, GOOD_COPY_OP | {"createdDateTime": "today"}))
    assert any("is not a 'uri'" in p for p in di.errors(schema, GOOD_COPY_OP | {"resourceLocation": "dst/models"}))
    misspelt = {"error": {"code": "NotFound", "message": "m", "innerError": {"code": "ModelNotFound"}}}
    assert any("'innerError' was unexpected" in p
               for p in di.errors(di.response("/info", "GET", 404).schema, misspelt))
    # discriminator: a documentClassifierCopyTo item must carry a classifier (not a model) as result
    listed = {"value": [GOOD_COPY_OP | {"kind": "documentClassifierCopyTo"}]}
    problems = di.errors(di.response("/operations", "GET", 200).schema, listed)
    assert any("'classifierId' is a required property" in p for p in problems), problems


def test_helper_maps_urls_to_spec_operations():
    base = "http://127.0.0.1:1"
    json_ct = {"Content-Type": "application/json; charset=utf-8"}

    def ex(method, path, status, body=None, headers=None):
        import json as _json
        raw = b"" if body is None else _json.dumps(body).encode()
        return ov.Exchange(method, base + path, status, headers if headers is not None else json_ct, body,
                           raw_body=raw)

    c = ov.check_exchange(ex("POST", "/documentintelligence/documentModels:authorizeCopy?api-version=2024-11-30",
                             200, GOOD_AUTH))
    assert (c.spec.operation_id, c.problems) == ("DocumentModels_AuthorizeModelCopy", [])
    c = ov.check_exchange(ex("GET", "/documentintelligence/operations/1_a?api-version=2024-11-30", 200, GOOD_COPY_OP))
    assert (c.spec.operation_id, c.problems) == ("MiscellaneousOperations_GetDocumentModelCopyToOperation", [])
    c = ov.check_exchange(ex("GET", "/formrecognizer/documentModels?nextLink=abc&api-version=2023-07-31", 200,
                             {"value": [{"modelId": "m1", "createdDateTime": "2024-01-01T00:00:00Z"}]}))
    assert (c.spec.operation_id, c.problems) == ("DocumentModels_ListModels", [])
    loc = {"Operation-Location": base + "/documentintelligence/operations/1_a?api-version=2024-11-30",
           "Retry-After": "1"}
    c = ov.check_exchange(ex("POST", "/documentintelligence/documentModels/m.1:copyTo?api-version=2024-11-30",
                             202, None, loc))
    assert (c.spec.operation_id, c.problems) == ("DocumentModels_CopyModelTo", [])
    c = ov.check_exchange(ex("POST", "/documentintelligence/documentModels/m.1:copyTo?api-version=2024-11-30",
                             202, None, {"Retry-After": "soon"}))
    assert any("Operation-Location missing" in p for p in c.problems)
    assert any("Retry-After = 'soon' is not an integer" in p for p in c.problems)
    c = ov.check_exchange(ex("GET", "/documentintelligence/documentModels?api-version=2099-01-01", 200, {"value": []}))
    assert c.spec is None and "no spec" in c.problems[0]


# =================================================================================================== DI v4 (2024-11-30)

def test_di_model_copy_flow(emu, admin, di, rec):
    src, dst = di("src"), di("dst")
    before = _now_s()
    auth = dst.authorize_model_copy(
        {"modelId": "copied-invoice", "description": "DR copy of invoices", "tags": {"dr": "yes"}}
    )
    # contracts §2.2 / §2.4.1: target's own ARM id + region, the requested id, its future location, a token
    assert auth.target_resource_id == f"{SUB}/dst"
    assert auth.target_resource_region == "westus2"
    assert auth.target_model_id == "copied-invoice"
    assert auth.target_model_location.startswith(
        emu.account_url("dst") + "/documentintelligence/documentModels/copied-invoice")
    assert auth.access_token
    exp = _utc(auth.expiration_date_time)
    assert before + timedelta(seconds=AUTH_TTL - 120) <= exp <= before + timedelta(seconds=AUTH_TTL + 120)

    poller = src.begin_copy_model_to("invoice-2024", auth, polling_interval=0.1)
    result = poller.result(timeout=30)
    assert poller.status() == "succeeded"
    assert result.model_id == "copied-invoice"

    # contracts §2.3: 202 + Operation-Location on the SOURCE; no Retry-After, as live (issue 13)
    [accepted] = rec.matching("POST", "/documentModels/invoice-2024:copyTo", 202)
    location = accepted.header("Operation-Location")
    assert location.startswith(emu.account_url("src") + "/documentintelligence/operations/")
    assert parse_qs(urlsplit(location).query)["api-version"] == [DI_V4]
    assert accepted.header("Retry-After") is None
    polls = rec.matching("GET", "/documentintelligence/operations/", 200)
    assert polls and polls[-1].body["status"] == "succeeded" and polls[-1].body["percentCompleted"] == 100
    assert polls[-1].body["kind"] == "documentModelCopyTo"

    # contracts §2.4 "what the copied model looks like"
    # (recordings 2024: a NEW createdDateTime; expirationDateTime and modifiedDateTime kept; tags/description from
    # authorizeCopy, not the source's)
    model = dst.get_model("copied-invoice")
    source = src.get_model("invoice-2024")
    assert model.model_id == "copied-invoice"
    assert_new_created(model.created_date_time, INVOICE_CREATED, before)
    assert model.expiration_date_time == source.expiration_date_time is not None
    assert model.modified_date_time == source.modified_date_time is not None
    assert model.description == "DR copy of invoices"
    assert model.tags == {"dr": "yes"}
    assert model.api_version == "2024-11-30"
    assert "copied-invoice" in model.doc_types and "invoice-2024" not in model.doc_types
    # the source still has its model, unchanged
    assert (source.description, source.tags, _utc(source.created_date_time)) == ("Invoices", {"team": "ap"}, INVOICE_CREATED)

    # the operation lives on the source (contracts §2.3)
    op_id = operation_id_from(rec)
    op = src.get_operation(op_id)
    assert (op.operation_id, op.status, op.kind) == (op_id, "succeeded", "documentModelCopyTo")
    assert op.resource_location.startswith(emu.account_url("dst") + "/documentintelligence/documentModels/copied-invoice")
    assert op.result.model_id == "copied-invoice" and op.result.created_date_time == model.created_date_time
    with pytest.raises(ResourceNotFoundError) as info:
        dst.get_operation(op_id)
    assert info.value.status_code == 404
    rec.assert_conformant(min_exchanges=7)


def test_di_classifier_copy_flow(emu, di, fr, rec):
    src, dst = di("src"), di("dst")
    before = _now_s()
    auth = dst.authorize_classifier_copy(
        {"classifierId": "router-dr", "description": "DR router", "tags": {"dr": "yes"}}
    )
    assert auth.target_classifier_id == "router-dr"
    assert auth.target_resource_id == f"{SUB}/dst"
    assert auth.target_resource_region == "westus2"
    assert auth.target_classifier_location.startswith(
        emu.account_url("dst") + "/documentintelligence/documentClassifiers/router-dr")

    poller = src.begin_copy_classifier_to("router", auth, polling_interval=0.1)
    result = poller.result(timeout=30)
    assert poller.status() == "succeeded"
    assert result.classifier_id == "router-dr"

    exp = _utc(auth.expiration_date_time)
    assert before + timedelta(seconds=AUTH_TTL - 120) <= exp <= before + timedelta(seconds=AUTH_TTL + 120)  # 1 h

    # 2024-11-30 classifier-copy recording (contracts §2.4, issue 13 point 2): createdDateTime new; modifiedDateTime
    # and expirationDateTime kept; docTypes kept whole (sourceKind and blob source included)
    classifier, source = dst.get_classifier("router-dr"), src.get_classifier("router")
    assert_new_created(classifier.created_date_time, ROUTER_CREATED, before)
    assert classifier.modified_date_time == source.modified_date_time is not None
    assert classifier.expiration_date_time == source.expiration_date_time is not None
    assert classifier.description == "DR router"
    assert set(classifier.doc_types) == {"invoice", "receipt"}
    assert classifier.as_dict()["docTypes"] == source.as_dict()["docTypes"]
    assert classifier.doc_types["invoice"].source_kind == "azureBlob"
    assert classifier.doc_types["invoice"].azure_blob_source.prefix == "invoice/"
    assert [c.classifier_id for c in dst.list_classifiers()] == ["router-dr"]

    op = src.get_operation(operation_id_from(rec))
    assert (op.kind, op.status) == ("documentClassifierCopyTo", "succeeded")
    assert op.result.classifier_id == "router-dr"
    # the 2024-11-30 copy-operation overload used for validation (brief: getDocumentClassifierCopyToOperation)
    polls = rec.matching("GET", "/documentintelligence/operations/", 200)
    assert {ov.check_exchange(p).spec.operation_id for p in polls} == {
        "MiscellaneousOperations_GetDocumentClassifierCopyToOperation"}

    # OperationKind of 2024-02-29-preview and FR 2023-07-31 has no documentClassifierCopyTo: such operations must not
    # leak into their lists (the schema check enforces the enum; emulator README "Operations")
    assert op.operation_id not in {o.operation_id for o in di("src", api_version=DI_PREVIEW).list_operations()}
    assert op.operation_id not in {o.operation_id for o in fr("src", "2023-07-31").list_operations()}

    dst.delete_classifier("router-dr")
    with pytest.raises(ResourceNotFoundError):
        dst.get_classifier("router-dr")
    rec.assert_conformant(min_exchanges=9)


def test_di_list_models_follows_next_link_and_delete(emu, di, rec):
    src = di("src")
    ids = [m.model_id for m in src.list_models()]
    assert len(ids) == len(set(ids)), "a model listed twice across pages"
    assert set(SRC_MODEL_IDS) <= set(ids)
    assert "prebuilt-read" in ids and "prebuilt-layout" in ids  # emulator README / contracts §2.5
    pages = rec.matching("GET", "/documentintelligence/documentModels", 200)
    assert len(pages) >= 2  # the SDK followed nextLink
    assert sum(len(p.body["value"]) for p in pages) == len(ids)
    for page in pages[:-1]:
        assert len(page.body["value"]) == PAGE_SIZE
        assert page.body["nextLink"].startswith(emu.account_url("src") + "/documentintelligence/documentModels")
    assert not pages[-1].body.get("nextLink")
    # full DocumentModelDetails in v4 lists (contracts §2.5)
    by_id = {m["modelId"]: m for p in pages for m in p.body["value"]}
    assert "invoice-2024" in by_id["invoice-2024"]["docTypes"]

    src.delete_model("bulk-01")
    assert [e.status for e in rec.matching("DELETE", "/documentModels/bulk-01")] == [204]
    with pytest.raises(ResourceNotFoundError) as info:
        src.get_model("bulk-01")
    assert info.value.error.code == "NotFound" and _inner_code(info.value) == "ModelNotFound"
    with pytest.raises(ResourceNotFoundError) as info:
        src.delete_model("bulk-01")
    assert info.value.status_code == 404
    assert "bulk-01" not in {m.model_id for m in src.list_models()}
    rec.assert_conformant(min_exchanges=len(pages) + 4)


def test_di_resource_details_counts_custom_models_only(di, rec):
    info = di("src").get_resource_details()
    assert (info.custom_document_models.count, info.custom_document_models.limit) == (len(SRC_MODEL_IDS), 500)
    tiny = di("tiny").get_resource_details()
    assert (tiny.custom_document_models.count, tiny.custom_document_models.limit) == (1, 2)
    rec.assert_conformant(min_exchanges=2)


def test_di_operations_list_get_and_retention(emu, admin, di, rec):
    src, dst = di("src"), di("dst")
    auth = dst.authorize_model_copy({"modelId": "ops-copy"})
    src.begin_copy_model_to("receipt-v3", auth, polling_interval=0.1).result(timeout=30)
    op_id = operation_id_from(rec)

    listed = list(src.list_operations())
    mine = [o for o in listed if o.operation_id == op_id]
    assert len(mine) == 1
    assert (mine[0].kind, mine[0].status) == ("documentModelCopyTo", "succeeded")
    assert [o.operation_id for o in dst.list_operations()] == []
    op = src.get_operation(op_id)
    assert _utc(op.last_updated_date_time) >= _utc(op.created_date_time)

    with pytest.raises(ResourceNotFoundError) as info:
        src.get_operation("no-such-operation")
    assert info.value.status_code == 404 and info.value.error.code == "NotFound"

    # contracts §2.3: finished operations are kept for the retention period, then GET -> 404 (OperationNotFound)
    clock(admin, RETENTION + 60)
    with pytest.raises(ResourceNotFoundError) as info:
        src.get_operation(op_id)
    assert info.value.error.code == "NotFound" and _inner_code(info.value) == "OperationNotFound"
    assert op_id not in {o.operation_id for o in src.list_operations()}
    rec.assert_conformant(min_exchanges=8)


def test_di_preview_api_version_copy_and_info(emu, di, rec):
    src, dst = di("src", api_version=DI_PREVIEW), di("dst", api_version=DI_PREVIEW)
    auth = dst.authorize_model_copy({"modelId": "preview-copy", "description": "via preview"})
    assert auth.target_model_id == "preview-copy"
    result = src.begin_copy_model_to("invoice-2024", auth, polling_interval=0.1).result(timeout=30)
    assert result.model_id == "preview-copy"
    assert dst.get_model("preview-copy").description == "via preview"
    info = dst.get_resource_details()
    assert info.custom_document_models.count == 2
    [info_ex] = rec.matching("GET", "/documentintelligence/info", 200)
    assert "customNeuralDocumentModelBuilds" in info_ex.body  # required by the preview schema (contracts §2.7)
    assert all(parse_qs(urlsplit(e.url).query)["api-version"] == [DI_PREVIEW] for e in rec.exchanges)
    rec.assert_conformant(min_exchanges=5)


# =================================================================================================== FR v3

FR_SOURCE = {"2023-07-31": ("receipt-v3", RECEIPT_CREATED), "2022-08-31": ("legacy-2022", LEGACY_CREATED)}


@pytest.mark.parametrize("api_version", FR_VERSIONS)
def test_fr_v3_copy_list_get_delete(emu, fr, rec, api_version):
    src, dst = fr("src", api_version), fr("dst", api_version)
    source_id, created = FR_SOURCE[api_version]
    before = _now_s()
    target_id = "fr-copy-" + api_version.replace("-", "")
    target = dst.get_copy_authorization(model_id=target_id, description="FR DR copy", tags={"via": "fr"})
    assert target["targetModelId"] == target_id
    assert target["targetResourceId"] == f"{SUB}/dst"
    assert target["targetResourceRegion"] == "westus2"

    poller = src.begin_copy_document_model_to(source_id, target=target, polling_interval=0.1)
    model = poller.result(timeout=30)
    assert model.model_id == target_id
    assert_new_created(model.created_on, created, before)
    assert (model.description, model.tags) == ("FR DR copy", {"via": "fr"})
    expires = target["expirationDateTime"]
    expires = _utc(expires if isinstance(expires, datetime) else datetime.fromisoformat(expires.replace("Z", "+00:00")))
    assert before + timedelta(seconds=AUTH_TTL - 120) <= expires <= before + timedelta(seconds=AUTH_TTL + 120)  # 1 h
    [accepted] = rec.matching("POST", f"/formrecognizer/documentModels/{source_id}:copyTo", 202)
    location = accepted.header("Operation-Location")
    assert location.startswith(emu.account_url("src") + "/formrecognizer/operations/")
    assert parse_qs(urlsplit(location).query)["api-version"] == [api_version]

    got = dst.get_document_model(target_id)
    assert got.model_id == target_id and got.created_on == model.created_on
    assert got.expires_on == src.get_document_model(source_id).expires_on  # kept (None on 2022-08-31)
    assert got.doc_types and target_id in got.doc_types

    listed = [m.model_id for m in dst.list_document_models()]
    assert {"existing-model", target_id} <= set(listed)
    all_src = [m.model_id for m in src.list_document_models()]
    assert set(SRC_MODEL_IDS) <= set(all_src) and len(all_src) == len(set(all_src))
    src_pages = [e for e in rec.matching("GET", "/formrecognizer/documentModels", 200) if emulator_fixtures.account_of(e.url) == "src" and "value" in e.body]
    assert len(src_pages) >= 2  # nextLink followed
    assert all("docTypes" not in m for p in src_pages for m in p.body["value"])  # summaries (contracts §3)

    details = dst.get_resource_details()
    assert (details.custom_document_models.count, details.custom_document_models.limit) == (2, 500)
    if api_version == "2023-07-31":
        assert details.neural_document_model_quota is not None
        # classifiers: list/get only on 2023-07-31 (contracts §3), full DocumentClassifierDetails items
        assert [c.classifier_id for c in src.list_document_classifiers()] == ["router"]
        router = src.get_document_classifier("router")
        assert _utc(router.created_on) == ROUTER_CREATED and set(router.doc_types) == {"invoice", "receipt"}

    op_id = operation_id_from(rec)
    ops = {o.operation_id: o for o in src.list_operations()}
    assert ops[op_id].kind == "documentModelCopyTo" and ops[op_id].status == "succeeded"
    op = src.get_operation(op_id)
    assert op.status == "succeeded" and op.result.model_id == target_id

    dst.delete_document_model(target_id)
    with pytest.raises(ResourceNotFoundError) as info:
        dst.get_document_model(target_id)
    assert info.value.error.code == "NotFound" and _inner_code(info.value) == "ModelNotFound"
    assert all(parse_qs(urlsplit(e.url).query)["api-version"] == [api_version] for e in rec.exchanges)
    rec.assert_conformant(min_exchanges=12)


def test_v3_and_v4_share_one_model_store(di, fr, rec):
    """contracts §3 last bullet / emulator README: a model copied through v4 is visible through FR v3."""
    dst4 = di("dst")
    auth = dst4.authorize_model_copy({"modelId": "shared-store"})
    di("src").begin_copy_model_to("invoice-2024", auth, polling_interval=0.1).result(timeout=30)
    model = fr("dst", "2023-07-31").get_document_model("shared-store")
    assert model.model_id == "shared-store" and model.api_version == "2024-11-30"
    rec.assert_conformant(min_exchanges=4)


# =================================================================================================== documented failures

def test_reusing_a_consumed_authorization_fails(di, rec):
    src, dst = di("src"), di("dst")
    auth = dst.authorize_model_copy({"modelId": "single-use"})
    first = src.begin_copy_model_to("invoice-2024", auth, polling_interval=0.1).result(timeout=30)
    # contracts §2.4 "Single use" + §2.6: 400 / code "1002" ("Couldn't retrieve authorization metadata")
    err, mode = expect_copy_failure(lambda: src.begin_copy_model_to("receipt-v3", auth, polling_interval=0.1))
    assert mode == FAILURE_MODE["consumed"]
    assert_http_400_if_sync(err, mode)
    assert err.error.code == "1002", err
    assert "authorization metadata" in err.error.message.lower()
    assert dst.get_model("single-use").created_date_time == first.created_date_time  # first copy untouched
    rec.assert_conformant()


def test_expired_authorization_fails(admin, di, rec):
    src, dst = di("src"), di("dst")
    auth = dst.authorize_model_copy({"modelId": "too-late"})
    clock(admin, AUTH_TTL + 60)
    err, mode = expect_copy_failure(lambda: src.begin_copy_model_to("invoice-2024", auth, polling_interval=0.1))
    assert mode == FAILURE_MODE["expired"]
    assert_http_400_if_sync(err, mode)
    assert err.error.code == "1002", err  # contracts §2.6: expired token -> 1002
    with pytest.raises(ResourceNotFoundError):
        dst.get_model("too-late")
    rec.assert_conformant()


def test_edited_authorization_fails(di, rec):
    src, dst = di("src"), di("dst")
    auth = dst.authorize_model_copy({"modelId": "edited"})
    tampered = dict(auth) | {"targetModelId": "edited-other"}
    err, mode = expect_copy_failure(lambda: src.begin_copy_model_to("invoice-2024", tampered, polling_interval=0.1))
    assert mode == FAILURE_MODE["edited"]
    assert_http_400_if_sync(err, mode)
    assert err.error.code == "1002", err  # contracts §2.4.2 / §2.6: any edit of the payload
    rec.assert_conformant()


def test_second_authorization_for_a_reserved_id_conflicts(di, fr, rec):
    dst = di("dst")
    dst.authorize_model_copy({"modelId": "reserved-id"})
    with pytest.raises(ResourceExistsError) as info:
        dst.authorize_model_copy({"modelId": "reserved-id"})
    # contracts §2.4: 409 Conflict; the inner code is not recorded live, the emulator README documents ModelExists
    assert info.value.status_code == 409 and info.value.error.code == "Conflict"
    assert _inner_code(info.value) == "ModelExists"
    # the reserved id is not a model (contracts §2.4, azure-sdk-for-net #51813)
    assert "reserved-id" not in {m.model_id for m in dst.list_models()}
    with pytest.raises(ResourceExistsError) as info:
        fr("dst", "2023-07-31").get_copy_authorization(model_id="reserved-id")
    assert info.value.status_code == 409
    rec.assert_conformant(min_exchanges=4)


@pytest.mark.parametrize("sdk", ["di", "fr-2023-07-31", "fr-2022-08-31"])
def test_authorizing_an_existing_model_id_is_model_exists(di, fr, rec, sdk):
    with pytest.raises(ResourceExistsError) as info:
        if sdk == "di":
            di("dst").authorize_model_copy({"modelId": "existing-model"})
        else:
            fr("dst", sdk[3:]).get_copy_authorization(model_id="existing-model")
    err = info.value
    # contracts §2.6 exact 409 body
    assert err.status_code == 409
    assert (err.error.code, _inner_code(err)) == ("Conflict", "ModelExists")
    [ex] = rec.exchanges
    assert ex.body == CONFLICT_BODY
    rec.assert_conformant()


def test_cmk_to_microsoft_managed_copy_without_degrade_header_is_refused(di, rec):
    cmk, dst = di("cmk"), di("dst")
    auth = dst.authorize_model_copy({"modelId": "from-cmk"})
    err, mode = expect_copy_failure(lambda: cmk.begin_copy_model_to("secure-model", auth, polling_interval=0.1))
    assert mode == FAILURE_MODE["downgrade"]
    # contracts §2.4 CMK bullet + §2.6: "1002" with the downgrade message, or DataProtectionTransformServiceError
    assert err.error.code in ("1002", "DataProtectionTransformServiceError"), err
    assert "downgrades to a less secure data protection scheme" in err.error.message
    with pytest.raises(ResourceNotFoundError):
        dst.get_model("from-cmk")
    # the failed operation: 200 GET with status "failed" + error, no result (contracts §2.3)
    op = cmk.get_operation(operation_id_from(rec))
    assert (op.kind, op.status, op.error.code) == ("documentModelCopyTo", "failed", err.error.code)
    assert op.result is None
    [listed] = [o for o in cmk.list_operations() if o.operation_id == op.operation_id]
    assert listed.status == "failed"
    rec.assert_conformant(min_exchanges=5)


def test_cmk_to_microsoft_managed_copy_with_degrade_header_succeeds(di, rec):
    cmk, dst = di("cmk"), di("dst")
    auth = dst.authorize_model_copy({"modelId": "from-cmk-ok"})
    result = cmk.begin_copy_model_to(
        "secure-model", auth, headers={"x-ms-forms-copy-degrade": "true"}, polling_interval=0.1
    ).result(timeout=30)
    assert result.model_id == "from-cmk-ok"
    assert _utc(dst.get_model("from-cmk-ok").created_date_time) != SECURE_CREATED  # the copy's own (issue 13)
    [copy] = rec.matching("POST", ":copyTo")
    assert copy.request_headers.get("x-ms-forms-copy-degrade") == "true"
    rec.assert_conformant(min_exchanges=4)


def test_microsoft_managed_to_cmk_needs_no_header(di, rec):
    """Only encrypted -> unencrypted is a downgrade (contracts §2.4)."""
    auth = di("cmk").authorize_model_copy({"modelId": "upgrade"})
    assert di("src").begin_copy_model_to("invoice-2024", auth, polling_interval=0.1).result(timeout=30).model_id == "upgrade"
    rec.assert_conformant()


def test_copy_keeps_created_when_the_target_account_says_so(di, rec):
    """``copy_keeps_created = true`` (account "keep"): the service before 2024 – a 2023 recording (api
    2023-10-31-preview) shows the copy with the source's createdDateTime (contracts §2.4 [R])."""
    src, keep = di("src"), di("keep")
    auth = keep.authorize_model_copy({"modelId": "kept-invoice", "tags": {"lineage": "x"}})
    model = src.begin_copy_model_to("invoice-2024", auth, polling_interval=0.1).result(timeout=30)
    assert _utc(model.created_date_time) == INVOICE_CREATED
    assert model.tags == {"lineage": "x"} and model.description is None  # still from the authorization
    assert model.expiration_date_time == src.get_model("invoice-2024").expiration_date_time
    auth = keep.authorize_classifier_copy({"classifierId": "kept-router"})
    classifier = src.begin_copy_classifier_to("router", auth, polling_interval=0.1).result(timeout=30)
    assert _utc(classifier.created_date_time) == ROUTER_CREATED
    # the default (copies into dst) is unchanged: a new createdDateTime
    auth = di("dst").authorize_model_copy({"modelId": "new-invoice"})
    fresh = src.begin_copy_model_to("invoice-2024", auth, polling_interval=0.1).result(timeout=30)
    assert _utc(fresh.created_date_time) != INVOICE_CREATED
    rec.assert_conformant(min_exchanges=9)


@pytest.mark.parametrize("api_version", FR_VERSIONS)
def test_fr_v3_copy_of_a_model_that_is_not_ready_is_model_not_ready(admin, fr, rec, api_version):
    """Issue 13: FR v3 copyTo from a model that is not ready answers ModelNotReady (contracts §2.6:
    InvalidRequest / ModelNotReady, 400). The model is seeded with ``ready = false`` (still being built)."""
    r = admin.post("/_emulator/accounts/src/models", json={"model_id": "half-built", "api_version": api_version, "ready": False})
    assert r.status_code == 201, r.text
    target = fr("dst", api_version).get_copy_authorization(model_id="never-copied")
    with pytest.raises(HttpResponseError) as info:
        fr("src", api_version).begin_copy_document_model_to("half-built", target=target, polling_interval=0.1)
    err = info.value
    assert err.status_code == 400
    assert (err.error.code, _inner_code(err)) == ("InvalidRequest", "ModelNotReady")
    with pytest.raises(ResourceNotFoundError):
        fr("dst", api_version).get_document_model("never-copied")
    rec.assert_conformant(min_exchanges=3)


def test_copy_of_an_unknown_source_model_is_404(di, rec):
    auth = di("dst").authorize_model_copy({"modelId": "ghost-copy"})
    with pytest.raises(ResourceNotFoundError) as info:
        di("src").begin_copy_model_to("no-such-model", auth, polling_interval=0.1)
    err = info.value
    assert err.status_code == 404
    assert (err.error.code, _inner_code(err)) == ("NotFound", "ModelNotFound")
    assert rec.exchanges[-1].body == MODEL_NOT_FOUND_BODY  # contracts §2.5, recorded body
    rec.assert_conformant()


def test_copy_into_a_full_target_fails_with_model_limit(di, rec):
    """contracts §2.5: over the limit -> 400 InvalidRequest / inner DocumentModelLimit (applied to copy [INF]).
    tiny has room for one more model; copies in flight count (emulator README "Copy checks")."""
    src, tiny = di("src"), di("tiny")
    first = tiny.authorize_model_copy({"modelId": "fills-the-last-slot"})
    second = tiny.authorize_model_copy({"modelId": "one-too-many"})
    poller = src.begin_copy_model_to("invoice-2024", first, polling_interval=0.1)  # accepted, in flight

    err, mode = expect_copy_failure(lambda: src.begin_copy_model_to("receipt-v3", second, polling_interval=0.1))
    assert mode == FAILURE_MODE["model_limit"]
    assert_http_400_if_sync(err, mode)
    assert (err.error.code, _inner_code(err)) == ("InvalidRequest", "DocumentModelLimit"), err

    assert poller.result(timeout=30).model_id == "fills-the-last-slot"
    details = tiny.get_resource_details().custom_document_models
    assert (details.count, details.limit) == (2, 2)
    third = tiny.authorize_model_copy({"modelId": "still-too-many"})
    err, mode = expect_copy_failure(lambda: src.begin_copy_model_to("receipt-v3", third, polling_interval=0.1))
    assert mode == FAILURE_MODE["model_limit"]
    assert (err.error.code, _inner_code(err)) == ("InvalidRequest", "DocumentModelLimit"), err
    assert "one-too-many" not in {m.model_id for m in tiny.list_models()}
    rec.assert_conformant(min_exchanges=8)


def test_unknown_api_version_is_apim_404(di, rec):
    """Emulator README "Service API": unknown api-version -> 404 {"error":{"code":"404",...}} like APIM."""
    with pytest.raises(ResourceNotFoundError) as info:
        di("src", api_version="2099-01-01").get_resource_details()
    assert info.value.status_code == 404 and info.value.error.code == "404"
    [ex] = rec.exchanges
    assert ex.body == {"error": {"code": "404", "message": "Resource not found"}}


def test_wrong_key_is_401(di, rec):
    with pytest.raises(ClientAuthenticationError) as info:
        di("src", key="not-the-key").get_resource_details()
    assert info.value.status_code == 401 and info.value.error.code == "401"
    rec.assert_conformant()


# =================================================================================================== throttling

def test_sdk_retries_absorb_throttling(emu, admin, di, fr, rec):
    r = admin.put("/_emulator/settings", json={"retry_after_seconds": 1})
    assert r.status_code in (200, 204), r.text
    r = admin.put("/_emulator/faults", json={"rate_limit_per_second": 3})
    assert r.status_code in (200, 204), r.text
    # empty dst's token bucket (until it answers 429) so that the SDK's POST authorizeCopy right after meets a 429
    # with Retry-After: the official SDKs retry a POST only then
    info_url = emu.account_url("dst") + "/documentintelligence/info"  # dst's own origin
    for _ in range(50):
        r = admin.get(info_url, params={"api-version": DI_V4},
                      headers={"Ocp-Apim-Subscription-Key": ACCOUNTS["dst"]["key"]})
        if r.status_code == 429:
            break
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    src, dst = di("src"), di("dst")
    auth = dst.authorize_model_copy({"modelId": "throttled-copy"})
    result = src.begin_copy_model_to("invoice-2024", auth, polling_interval=0.1).result(timeout=30)
    assert result.model_id == "throttled-copy"
    # the DI list unthrottled (each 429 costs the test a second of Retry-After), the FR SDK's list throttled again
    r = admin.put("/_emulator/faults", json={"rate_limit_per_second": 0})
    assert r.status_code in (200, 204), r.text
    ids = [m.model_id for m in src.list_models()]
    assert set(SRC_MODEL_IDS) <= set(ids)
    r = admin.put("/_emulator/faults", json={"rate_limit_per_second": 3})
    assert r.status_code in (200, 204), r.text
    fr_ids = [m.model_id for m in fr("src", "2023-07-31").list_document_models()]
    # prebuilt sets differ per api-version (e.g. prebuilt-businessCard is v3 only); the custom models are the same
    assert sorted(i for i in fr_ids if not i.startswith("prebuilt-")) == sorted(SRC_MODEL_IDS)

    throttled = [e for e in rec.exchanges if e.status == 429]
    assert throttled, "no 429 reached the SDK"
    for e in throttled:  # contracts §1 Throttling
        assert e.header("Retry-After") == "1"
        assert e.body["error"]["code"] == "429"
    assert any(e.method == "POST" for e in throttled), "the POST authorizeCopy was not throttled"
    assert any("/formrecognizer/" in e.url for e in throttled), "the FR SDK's list was not throttled"
    counters = admin.get("/_emulator/counters").json()
    assert sum(counters["throttled"].values()) >= len(throttled) > 0
    rec.assert_conformant(min_exchanges=6)
