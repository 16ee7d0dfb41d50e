"""Conformance of the emulator's Language authoring API with the official SDK (contracts §6).

Driven ONLY through ``azure.ai.textanalytics.authoring`` 1.0.0b1 (``TextAuthoringClient``,
``TextAuthoringProjectClient``) plus plain ``httpx`` for the emulator's admin API. Every response the SDK receives is
recorded by a ``raw_response_hook`` and validated against the official OpenAPI file of its api-version
(``language-authoring-2023-04-01.json`` + common, ``language-authoring-2024-11-15-preview.json``); the export result
(``resultUrl``, not a spec path) is validated against that version's ``ExportedProject`` definition.

api-versions: the SDK defaults to ``2025-05-15-preview``, which the emulator serves with the 2024-11-15-preview
shapes (``drplan/emulator/services/language.py`` ``LANGUAGE_VERSIONS`` cites the evidence); contracts/ has no spec
file for it, so its answers are validated against ``language-authoring-2024-11-15-preview.json``.
``test_the_sdk_default_api_version_end_to_end`` builds its clients without ``api_version`` (the way the SDK is
normally used: export, import, jobs, train, deploy, get/list, delete). The other tests pass ``api_version=``
explicitly: export, list, get, train and deploy use ``2023-04-01``. ``begin_import`` cannot be used below
``2024-11-15-preview`` in this SDK version: it always forwards ``format=None`` to a validator that rejects the
``format`` key for older versions (``test_the_sdk_cannot_import_with_2023_04_01`` pins this), so the explicit-version
imports use ``2024-11-15-preview``. The export result is fetched the way the SDK allows: ``begin_export(cls=...)``
hands back the final job state with ``resultUrl``, which is then fetched with ``send_request`` (same key credential).
"""

from __future__ import annotations

import sys
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
import emulator_fixtures  # noqa: E402
import openapi_validation as ov  # noqa: E402
from azure.ai.textanalytics.authoring import TextAuthoringClient, TextAuthoringProjectClient  # noqa: E402
from azure.ai.textanalytics.authoring.models import ExportedProject  # noqa: E402
from emulator_fixtures import _reset, admin, emulator_fixture, sdk_clients  # noqa: E402,F401

GA, PREVIEW, SDK_DEFAULT = "2023-04-01", "2024-11-15-preview", "2025-05-15-preview"
#: ``clients(..., api_version=DEFAULT)``: build the client without ``api_version`` (the SDK's own default).
DEFAULT = None
#: Versions with no spec file in contracts/ -> the file their answers are checked against (module docstring).
SPEC_STAND_IN = {SDK_DEFAULT: PREVIEW}
ACCOUNTS = {"primary": ("eastus", "key-primary"), "secondary": ("westus2", "key-secondary")}
CONFIG = """
seed = 9

[settings]
page_size = 2
copy_seconds = 0.1  # jobs still answer notStarted and running to 50 ms polls: those bodies are checked too

[accounts.primary]
region = "eastus"
key = "key-primary"

[[accounts.primary.language_projects]]
project_name = "contracts-ner"
description = "Contract entities"
storage_input_container = "contracts-docs"
settings = { confidenceThreshold = 0.4 }
created = "2025-01-01T00:00:00Z"
last_modified = "2025-01-02T00:00:00Z"
entities = ["Party", "Date", "Amount"]
documents = [
  { location = "doc1.txt", labels = [ { category = "Party", offset = 0, length = 8 }, { category = "Date", offset = 20, length = 10 } ] },
  { location = "doc2.txt", dataset = "Test", labels = [ { category = "Amount", offset = 3, length = 4 } ] },
]
trained_models = [ { label = "v1", trained = "2025-01-03T00:00:00Z" } ]
deployments = [ { name = "production", model_label = "v1" } ]

[[accounts.primary.language_projects]]
project_name = "invoices-ner"

[[accounts.primary.language_projects]]
project_name = "receipts-ner"

[accounts.secondary]
region = "westus2"
key = "key-secondary"

[[accounts.secondary.language_projects]]
project_name = "contracts-ner"
created = "2024-06-01T00:00:00Z"
entities = ["Old"]
trained_models = [ { label = "old", trained = "2024-06-02T00:00:00Z" } ]
"""


class Recorder(emulator_fixtures.Recorder):
    """Every response the Language authoring SDK receives."""

    def assert_conformant(self, min_exchanges: int = 1) -> None:
        assert len(self.exchanges) >= min_exchanges, f"only {len(self.exchanges)} exchanges recorded"
        problems: list[str] = []
        for e in self.exchanges:
            assert e.header("apim-request-id"), f"{e.method} {e.url}: no apim-request-id"
            uuid.UUID(e.header("apim-request-id"))  # a GUID on every answer (contracts §1 [R])
            account = emulator_fixtures.account_of(e.url)
            assert e.header("x-ms-region") == ACCOUNTS[account][0]
            if e.status == 401:  # APIM's answer, not the Language backend's: no spec error code, no x-ms-error-code
                assert e.header("x-ms-error-code") is None
                continue
            version = parse_qs(urlsplit(e.url).query)["api-version"][0]
            sent = e.request_headers.get("x-ms-client-request-id")
            assert sent is None or e.header("x-ms-client-request-id") == sent, (e.url, e.headers)
            if version in SPEC_STAND_IN:
                stand_in = SPEC_STAND_IN[version]
                e = replace(e, url=e.url.replace(f"api-version={version}", f"api-version={stand_in}"))
                version = stand_in
            if urlsplit(e.url).path.endswith("/result"):  # the export's resultUrl: not a spec path
                problems += ov.load_spec(f"language-authoring-{version}.json").definition_errors("TextAnalysisAuthoringExportedProject", e.body)
                continue
            checked = ov.check_exchange(e)
            assert checked.spec is not None, (e.method, e.url, checked.problems)
            problems += checked.problems
            if e.status >= 400:
                assert e.header("x-ms-error-code") == e.body["error"]["code"], (e.url, e.headers)
        assert not problems, "responses violate the OpenAPI contract:\n" + "\n".join(problems)


emu = emulator_fixture(CONFIG, "emulator-sdk-language")


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def clients(emu, rec):
    def build(account: str, project: str | None = None, api_version: str | None = GA, *, key: str | None = None):
        kw: dict[str, Any] = {"raw_response_hook": rec.hook, "polling_interval": 0.05}
        if api_version is not DEFAULT:
            kw["api_version"] = api_version
        credential = AzureKeyCredential(key or ACCOUNTS[account][1])
        if project is None:
            return TextAuthoringClient(emu.account_url(account), credential, **kw)
        return TextAuthoringProjectClient(emu.account_url(account), credential, project_name=project, **kw)

    yield from sdk_clients(build)


def export_project(make: Callable[..., Any], account: str, project: str, api_version: str | None = GA) -> dict[str, Any]:
    """begin_export -> final job state (``cls`` hands back the last polled response) -> GET resultUrl."""
    client = make(account, project, api_version)
    poller = client.project.begin_export(string_index_type="Utf16CodeUnit", cls=lambda pipeline_response, _d, _h: pipeline_response.http_response.json())
    state = poller.result(timeout=30)
    assert state["status"] == "succeeded" and poller.status() == "succeeded" and poller.done()
    response = client.send_request(HttpRequest("GET", state["resultUrl"]))
    response.raise_for_status()
    return response.json()


def test_the_sdk_cannot_import_with_2023_04_01(clients, rec):
    """Why the explicit-version imports use 2024-11-15-preview (module docstring): at 2023-04-01 the SDK refuses
    before sending anything, although ``format`` was never given. If this starts failing, the SDK was fixed and those
    imports can move to 2023-04-01. At its default version the same call goes out without a ``format`` header (the
    SDK only sends one when given), as in the SDK's own recording at that version (language.py)."""
    body = {"projectFileVersion": GA, "stringIndexType": "Utf16CodeUnit", "metadata": {}}
    with pytest.raises(ValueError, match="'format' is not available in API version 2023-04-01"):
        clients("secondary", "contracts-ner", GA).project.begin_import(body)
    assert rec.exchanges == []  # refused client-side
    with pytest.raises(HttpResponseError) as bad:  # reaches the emulator: the (empty) metadata is what is wrong
        clients("secondary", "contracts-ner", DEFAULT).project.begin_import(body)
    assert bad.value.status_code == 400 and bad.value.error.code == "InvalidRequest"
    [sent] = rec.matching("POST", "/contracts-ner/:import")
    assert "format" not in {k.lower() for k in sent.request_headers}
    assert f"api-version={SDK_DEFAULT}" in sent.url
    rec.assert_conformant(min_exchanges=1)


def test_the_sdk_default_api_version_end_to_end(clients, rec):
    """No ``api_version`` anywhere: the SDK's default (2025-05-15-preview) for export, import, the job polls, get/list,
    train, deploy and delete, and ``get_project_client`` (which drops any api_version given to its parent)."""
    exported = export_project(clients, "primary", "contracts-ner", DEFAULT)
    assert exported["projectFileVersion"] == SDK_DEFAULT and exported["stringIndexType"] == "Utf16CodeUnit"
    assert ExportedProject(exported).assets["entities"][0]["category"] == "Party"
    [accepted] = rec.matching("POST", "/contracts-ner/:export")
    assert accepted.status == 202 and accepted.header("operation-location").endswith(f"?api-version={SDK_DEFAULT}")

    target = clients("secondary", "contracts-copy", DEFAULT)
    target.project.begin_import(exported).result(timeout=30)
    [sent] = rec.matching("POST", "/contracts-copy/:import")
    assert sent.status == 202 and "format" not in {k.lower() for k in sent.request_headers}
    assert rec.matching("GET", "/contracts-copy/import/jobs/")[-1].body["status"] == "succeeded"
    copy = target.project.get_project()
    assert copy.project_name == "contracts-copy" and copy.description == "Contract entities"
    assert export_project(clients, "secondary", "contracts-copy", DEFAULT)["assets"] == exported["assets"]

    trained = target.project.begin_train({"modelLabel": "v1", "trainingConfigVersion": "2022-05-01"}).result(timeout=30)
    assert trained.model_label == "v1" and trained.training_status.status == "succeeded"
    assert [j.result.model_label for j in target.project.list_training_jobs()] == ["v1"]
    [model] = list(target.project.list_trained_models())
    assert model.label == "v1"
    target.deployment.begin_deploy_project("production", {"trainedModelLabel": "v1"}).result(timeout=30)
    deployed = target.deployment.get_deployment("production")
    assert deployed.model_id == model.model_id and deployed.assigned_resources == []
    assert [d.deployment_name for d in target.project.list_deployments()] == ["production"]

    via_parent = clients("secondary", api_version=GA).get_project_client("contracts-copy")  # drops the parent's GA
    try:  # a client of the SDK's own making: no hook of ours in its pipeline, so pass it per call
        assert via_parent.project.get_project(raw_response_hook=rec.hook).project_name == "contracts-copy"
    finally:
        via_parent.close()
    assert f"api-version={SDK_DEFAULT}" in rec.exchanges[-1].url
    default_account = clients("secondary", api_version=DEFAULT)
    assert sorted(p.project_name for p in default_account.list_projects()) == ["contracts-copy", "contracts-ner"]
    target.deployment.begin_delete_deployment("production").result(timeout=30)
    default_account.begin_delete_project("contracts-copy").result(timeout=30)
    with pytest.raises(ResourceNotFoundError) as gone:
        target.project.get_project()
    assert gone.value.error.code == "ProjectNotFound"
    assert gone.value.response.headers["x-ms-error-code"] == "ProjectNotFound"
    versions = {parse_qs(urlsplit(e.url).query)["api-version"][0] for e in rec.exchanges}
    assert versions == {SDK_DEFAULT}
    rec.assert_conformant(min_exchanges=20)


@pytest.mark.parametrize("export_version", [GA, PREVIEW])
def test_export_from_primary_and_import_into_secondary(clients, rec, export_version):
    exported = export_project(clients, "primary", "contracts-ner", export_version)
    assert exported["projectFileVersion"] == export_version and exported["stringIndexType"] == "Utf16CodeUnit"
    assert exported["metadata"] == {"projectKind": "CustomEntityRecognition", "storageInputContainerName": "contracts-docs",
                                    "settings": {"confidenceThreshold": 0.4}, "projectName": "contracts-ner", "multilingual": False,
                                    "description": "Contract entities", "language": "en"}
    model = ExportedProject(exported)  # the SDK's own model reads it
    assert model.metadata.project_name == "contracts-ner" and model.assets["entities"][0]["category"] == "Party"
    [accepted] = rec.matching("POST", "/contracts-ner/:export")
    assert accepted.status == 202 and accepted.header("operation-location").endswith(f"?api-version={export_version}")
    polls = [e for e in rec.matching("GET", "/contracts-ner/export/jobs/") if not urlsplit(e.url).path.endswith("/result")]
    assert polls[-1].body["status"] == "succeeded" and "resultUrl" in polls[-1].body

    # import under a new name (the URL's name wins over metadata.projectName) ...
    clients("secondary", "contracts-copy", PREVIEW).project.begin_import(exported).result(timeout=30)
    imports = rec.matching("GET", "/contracts-copy/import/jobs/")
    assert imports and imports[-1].body["status"] == "succeeded"

    target = clients("secondary")
    names = [p.project_name for p in target.list_projects()]
    assert names == ["contracts-copy", "contracts-ner"]
    copy = target.get_project("contracts-copy")
    assert copy.project_name == "contracts-copy" and copy.description == "Contract entities"
    assert copy.storage_input_container_name == "contracts-docs" and copy.settings.confidence_threshold == 0.4
    assert copy.last_trained_on is None  # trained models and deployments are not exported
    assert copy.created_on == copy.last_modified_on
    assert export_project(clients, "secondary", "contracts-copy")["assets"] == exported["assets"]
    project = clients("secondary", "contracts-copy").project
    assert project.get_project().project_name == "contracts-copy"
    assert list(project.list_trained_models()) == [] and list(project.list_deployments()) == []
    rec.assert_conformant(min_exchanges=12)


def test_import_replaces_the_target_project_and_a_retrain_redeploys(clients, rec):
    exported = export_project(clients, "primary", "contracts-ner")
    target = clients("secondary", "contracts-ner", PREVIEW)
    before = target.project.get_project()
    target.project.begin_import(exported).result(timeout=30)
    after = clients("secondary", "contracts-ner").project.get_project()
    assert after.created_on == before.created_on  # kept
    assert after.description == "Contract entities"
    assert after.last_trained_on == before.last_trained_on < after.last_modified_on  # assets now newer: retrain
    assert export_project(clients, "secondary", "contracts-ner")["assets"] == exported["assets"]  # replaced entirely

    project = clients("secondary", "contracts-ner")
    result = project.project.begin_train({"modelLabel": "v1", "trainingConfigVersion": "2022-05-01"}).result(timeout=30)
    assert result.model_label == "v1" and result.training_status.status == "succeeded"
    assert sorted(m.label for m in project.project.list_trained_models()) == ["old", "v1"]
    project.deployment.begin_deploy_project("production", {"trainedModelLabel": "v1"}).result(timeout=30)
    deployed = project.deployment.get_deployment("production")
    assert deployed.model_id == project.trained_model.get_trained_model("v1").model_id
    assert project.project.get_project().last_deployed_on is not None
    rec.assert_conformant(min_exchanges=10)


def test_list_projects_follows_next_links(clients, rec):
    for version in (GA, PREVIEW):
        names = [p.project_name for p in clients("primary", api_version=version).list_projects()]
        assert names == ["contracts-ner", "invoices-ner", "receipts-ner"]
    pages = rec.matching("GET", "/analyze-text/projects")
    assert len(pages) == 4  # page_size 2: two pages per version
    assert pages[0].body["nextLink"].startswith(f"{urlsplit(pages[0].url).scheme}://")  # absolute
    assert pages[1].body["nextLink"] is None and "nextLink" not in pages[3].body  # nullable in GA, omitted in preview
    rec.assert_conformant(min_exchanges=4)


def test_missing_projects_and_bad_keys_surface_as_typed_errors(clients, rec):
    with pytest.raises(ResourceNotFoundError) as missing:
        clients("primary").get_project("nope")
    assert missing.value.status_code == 404 and missing.value.error.code == "ProjectNotFound"
    assert missing.value.error.message == "The specified project was not found."
    with pytest.raises(ResourceNotFoundError):
        clients("primary", "nope").project.begin_export(string_index_type="Utf16CodeUnit")
    with pytest.raises(ResourceNotFoundError):
        clients("primary", "nope", PREVIEW).project.get_project()
    with pytest.raises(ClientAuthenticationError) as denied:
        clients("primary", key="wrong").get_project("contracts-ner")
    assert denied.value.status_code == 401
    rec.assert_conformant(min_exchanges=4)


def test_a_failing_import_job_raises_from_the_poller(clients, rec, admin):
    exported = export_project(clients, "primary", "contracts-ner")
    exported["assets"]["entities"] = [{"category": "Party"}]  # Date and Amount labels are now undeclared
    poller = clients("secondary", "contracts-ner", PREVIEW).project.begin_import(exported)
    with pytest.raises(HttpResponseError):
        poller.result(timeout=30)
    last = rec.matching("GET", "/contracts-ner/import/jobs/")[-1]
    assert last.body["status"] == "failed" and last.body["errors"][0]["innererror"] == {"code": "InvalidDocument"}
    assert clients("secondary").get_project("contracts-ner").description is None  # untouched

    with pytest.raises(HttpResponseError) as bad:
        clients("secondary", "other", PREVIEW).project.begin_import({"projectFileVersion": PREVIEW, "stringIndexType": "Utf16CodeUnit"})
    assert bad.value.status_code == 400 and bad.value.error.code == "InvalidRequest"
    assert "metadata" in bad.value.error.message
    rec.assert_conformant(min_exchanges=6)
