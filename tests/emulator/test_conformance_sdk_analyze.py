"""The emulator's analyze endpoints (issue 16), driven ONLY through the official SDKs' analyze calls, every response
validated against the OpenAPI files: DocumentIntelligenceClient.begin_analyze_document (models and classifiers),
Form Recognizer's DocumentAnalysisClient (v3) and FormRecognizerClient (v2.1), ContentUnderstandingClient
begin_analyze / begin_analyze_binary. The Language runtime is in no contract file: raw HTTP, shape checks only.

What the drills rely on: answers are deterministic from the asset's definition and the input, so an identical asset
on another account (a faithful copy) answers exactly alike, and one of another version answers differently."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
import emulator_fixtures  # noqa: E402
import openapi_validation as ov  # noqa: E402
from azure.ai.contentunderstanding import ContentUnderstandingClient  # noqa: E402
from azure.ai.documentintelligence import DocumentIntelligenceClient  # noqa: E402
from azure.ai.formrecognizer import DocumentAnalysisClient, FormRecognizerClient  # noqa: E402
from emulator_fixtures import _reset, admin, emulator_fixture, sdk_clients  # noqa: E402,F401

from drplan.samples import DOCUMENT_PDF  # noqa: E402

KEYS = {"src": "key-an-src", "dst": "key-an-dst"}
V2_ID = "5f0c1c52-8f3c-4b9e-9a59-6a0c3f8a1e01"
MODEL = 'model_id = "invoice"\ncreated = "2024-03-04T09:15:00Z"\nexpires = "2026-03-04T09:15:00Z"\ndoc_types = ["invoice", "receipt"]'
CONFIG = f"""
seed = 5
[settings]
copy_seconds = 0.2
retry_after_seconds = 0

[accounts.src]
region = "eastus"
key = "{KEYS['src']}"
deployments = {{ "gpt41" = "gpt-4.1", "te3" = "text-embedding-3-large" }}
model_deployments = {{ "gpt-4.1" = "gpt41", "text-embedding-3-large" = "te3" }}
[[accounts.src.models]]
{MODEL}
[[accounts.src.classifiers]]
classifier_id = "router"
created = "2024-05-02T10:00:00Z"
doc_types = ["invoice", "receipt"]
[[accounts.src.v2_models]]
model_id = "{V2_ID}"
model_name = "forms"
created = "2021-01-01T00:00:00Z"
[[accounts.src.analyzers]]
analyzer_id = "fields"
base_analyzer_id = "prebuilt-document"
models = {{ completion = "gpt-4.1", embedding = "text-embedding-3-large" }}
field_schema = {{ name = "inv", fields = {{ total = {{ type = "number" }}, vendor = {{ type = "string" }} }} }}

[accounts.dst]
region = "westus2"
key = "{KEYS['dst']}"
deployments = {{ "gpt41" = "gpt-4.1", "te3" = "text-embedding-3-large" }}
model_deployments = {{ "gpt-4.1" = "gpt41", "text-embedding-3-large" = "te3" }}
[[accounts.dst.models]]
{MODEL}
[[accounts.dst.models]]
model_id = "invoice-old"
created = "2023-03-04T09:15:00Z"
expires = "2025-03-04T09:15:00Z"
doc_types = ["invoice", "receipt"]
[[accounts.dst.analyzers]]
analyzer_id = "fields"
base_analyzer_id = "prebuilt-document"
models = {{ completion = "gpt-4.1", embedding = "text-embedding-3-large" }}
field_schema = {{ name = "inv", fields = {{ total = {{ type = "number" }}, vendor = {{ type = "string" }} }} }}
description = "descriptions and tags do not change answers"
[[accounts.dst.analyzers]]
analyzer_id = "fields-v0"
base_analyzer_id = "prebuilt-document"
models = {{ completion = "gpt-4.1", embedding = "text-embedding-3-large" }}
field_schema = {{ name = "inv", fields = {{ total = {{ type = "number" }} }} }}
"""

emu = emulator_fixture(CONFIG, "emulator-sdk-analyze")


class Recorder(emulator_fixtures.Recorder):
    def assert_conformant(self) -> None:
        assert self.exchanges
        unmapped = [f"{e.method} {e.url}" for e in self.exchanges if ov.check_exchange(e).spec is None]
        assert not unmapped, unmapped
        problems = ov.conformance_problems(self.exchanges)
        assert not problems, "responses violate the OpenAPI contract:\n" + "\n".join(problems)


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


def _clients(emu, rec, cls) -> Iterator[Callable[..., object]]:
    def build(account: str, **kw: object) -> object:
        return cls(emu.account_url(account), AzureKeyCredential(KEYS[account]), raw_response_hook=rec.hook,
                   polling_interval=0.05, **kw)

    yield from sdk_clients(build)


@pytest.fixture
def dic(emu, rec):
    yield from _clients(emu, rec, DocumentIntelligenceClient)


@pytest.fixture
def dac(emu, rec):
    yield from _clients(emu, rec, DocumentAnalysisClient)


@pytest.fixture
def frc(emu, rec):
    yield from _clients(emu, rec, FormRecognizerClient)


@pytest.fixture
def cuc(emu, rec):
    yield from _clients(emu, rec, ContentUnderstandingClient)


def test_di_v4_model_and_classifier_analyze(dic, rec):
    src = dic("src").begin_analyze_document("invoice", DOCUMENT_PDF).result()
    copy = dic("dst").begin_analyze_document("invoice", DOCUMENT_PDF).result()
    older = dic("dst").begin_analyze_document("invoice-old", DOCUMENT_PDF).result()
    assert src.model_id == "invoice" and src.documents and src.documents[0].fields
    assert src.documents[0].as_dict() == copy.documents[0].as_dict()  # the same definition answers alike
    assert older.documents[0].as_dict() != src.documents[0].as_dict()  # another version differently
    again = dic("src").begin_analyze_document("invoice", DOCUMENT_PDF + b"\n% another document").result()
    assert again.documents[0].as_dict() != src.documents[0].as_dict()
    routed = dic("src").begin_classify_document("router", DOCUMENT_PDF).result()
    assert routed.documents[0].doc_type in ("invoice", "receipt")
    posts = rec.matching("POST", ":analyze", 202)
    assert posts and all(e.header("Retry-After") is not None for e in posts)  # declared by the DI v4 spec
    rec.assert_conformant()


def test_di_v4_errors(dic, rec):
    with pytest.raises(ResourceNotFoundError):
        dic("src").begin_analyze_document("nope", DOCUMENT_PDF)
    with pytest.raises(HttpResponseError) as info:
        dic("src").begin_analyze_document("invoice", b"just some text, not a document")
    assert info.value.status_code == 400 and info.value.error.innererror["code"] == "InvalidContent"
    rec.assert_conformant()


def test_fr_v3_document_analysis_client(dac, rec):
    for version in ("2023-07-31", "2022-08-31"):
        src = dac("src", api_version=version).begin_analyze_document("invoice", DOCUMENT_PDF).result()
        copy = dac("dst", api_version=version).begin_analyze_document("invoice", DOCUMENT_PDF).result()
        assert src.documents[0].to_dict() == copy.documents[0].to_dict()
    assert all(e.header("Retry-After") is None for e in rec.matching("POST", ":analyze", 202))  # none in FR v3's spec
    rec.assert_conformant()


def test_fr_v21_form_recognizer_client(frc, rec):
    forms = frc("src").begin_recognize_custom_forms(V2_ID, DOCUMENT_PDF).result()
    assert forms[0].form_type == f"custom:{V2_ID}" and set(forms[0].fields) == {"VendorName", "DocumentDate", "Total"}
    with pytest.raises(HttpResponseError):
        frc("src").begin_recognize_custom_forms("00000000-0000-0000-0000-000000000000", DOCUMENT_PDF).result()
    rec.assert_conformant()


def test_cu_analyze_and_analyze_binary(cuc, rec):
    from azure.ai.contentunderstanding.models import AnalysisInput

    src = cuc("src").begin_analyze_binary("fields", DOCUMENT_PDF).result()
    copy = cuc("dst").begin_analyze("fields", inputs=[AnalysisInput(data=DOCUMENT_PDF, mime_type="application/pdf")]).result()
    other = cuc("dst").begin_analyze_binary("fields-v0", DOCUMENT_PDF).result()
    fields = {k: dict(v) for k, v in src.contents[0].fields.items()}
    assert set(fields) == {"total", "vendor"}
    assert fields == {k: dict(v) for k, v in copy.contents[0].fields.items()}
    assert set(other.contents[0].fields) == {"total"}
    with pytest.raises(ResourceNotFoundError):
        cuc("src").begin_analyze_binary("missing", DOCUMENT_PDF)
    rec.assert_conformant()


def test_language_runtime_custom_ner_job(emu, admin):
    """Raw HTTP: a CustomEntityRecognition job on a deployment; its shape (no contract file covers the runtime)."""
    admin.post("/_emulator/accounts/src/language/projects", json={
        "project_name": "ner", "entities": ["Party", "Amount"], "storage_input_container": "docs",
        "documents": [{"location": "a.txt", "labels": [{"category": "Party", "offset": 0, "length": 5}]}],
        "trained_models": [{"label": "v1"}], "deployments": [{"name": "prod", "model_label": "v1"}]}).raise_for_status()
    base = f"{emu.account_url('src')}/language/analyze-text/jobs?api-version=2023-04-01"
    headers = {"Ocp-Apim-Subscription-Key": KEYS["src"]}

    def run(deployment: str) -> dict:
        body = {"displayName": "drill", "analysisInput": {"documents": [{"id": "1", "language": "en",
                                                                         "text": "Contoso pays Fabrikam 100 USD"}]},
                "tasks": [{"kind": "CustomEntityRecognition", "taskName": "t",
                           "parameters": {"projectName": "ner", "deploymentName": deployment}}]}
        r = httpx.post(base, json=body, headers=headers)
        assert r.status_code == 202 and "retry-after" not in r.headers
        url = r.headers["operation-location"]
        for _ in range(100):
            job = httpx.get(url, headers=headers).json()
            if job["status"] not in ("notStarted", "running"):
                return job
            time.sleep(0.05)
        raise AssertionError("job never finished")

    job = run("prod")
    assert job["status"] == "succeeded"
    item = job["tasks"]["items"][0]
    assert item["kind"] == "CustomEntityRecognitionLROResults" and item["results"]["deploymentName"] == "prod"
    assert {e["category"] for e in item["results"]["documents"][0]["entities"]} <= {"Party", "Amount"}
    again = run("prod")["tasks"]["items"][0]["results"]
    assert again == item["results"]  # deterministic
    failed = run("missing")
    assert failed["status"] == "failed" and failed["errors"][0]["innererror"]["code"] == "DeploymentNotFound"
