"""Azure AI Language authoring (analyze-text custom projects) in the emulator, over real HTTP with httpx (contracts §1,
§6; emulator README "Language authoring").

The emulator runs as a subprocess (``drplan.emulator.launch.start_emulator``). Every response on a Language route that
the official spec defines (``language-authoring-2023-04-01.json`` / ``-2022-05-01.json`` with their ``common.json``)
is validated by an httpx event hook (``openapi_validation.check_exchange``); the export result (not a spec path) is
validated against the ``ExportedProject`` definition. Backend errors must carry ``x-ms-error-code``. Job progress and
retention are driven with ``POST /_emulator/clock`` (``copy_seconds = 10``: a job is notStarted for 2 s, then
running, then terminal at 10 s).
"""

from __future__ import annotations

import re
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import emulator_fixtures  # noqa: E402
import openapi_validation as ov  # noqa: E402
from emulator_fixtures import _fresh, admin, http  # noqa: E402,F401

from drplan.emulator.config import ROUTES, ConfigError, parse_config  # noqa: E402
from drplan.emulator.services.language import ROUTE_NAMES  # noqa: E402

KEYS = {"src": "key-src", "dst": "key-dst"}
REGIONS = {"src": "eastus", "dst": "westus"}
V23, V22, V24P, V25P = "2023-04-01", "2022-05-01", "2024-11-15-preview", "2025-05-15-preview"
#: Served versions with no spec file in contracts/ -> the file their answers are checked against: the official SDK's
#: default 2025-05-15-preview has the 2024-11-15-preview shapes (evidence in drplan/emulator/services/language.py).
SPEC_STAND_IN = {V25P: V24P}
APIM_NOT_FOUND = {"error": {"code": "404", "message": "Resource not found"}}
JOB_ID = re.compile(r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})_(\d{18})$")
MODEL_ID = re.compile(r"^(.+)-(\d{8}T\d{6})-([0-9a-f]{32})$")
COPY_SECONDS = 10

CONFIG = f"""
seed = 5

[settings]
page_size = 2
copy_seconds = {COPY_SECONDS}

[accounts.src]
region = "eastus"
key = "key-src"

[[accounts.src.language_projects]]
project_name = "contracts-ner"
description = "Contract entities"
storage_input_container = "contracts-docs"
settings = {{ confidenceThreshold = 0.25 }}
created = "2025-01-01T00:00:00Z"
last_modified = "2025-01-02T00:00:00Z"
entities = ["Party", "Date", "Amount"]
documents = [
  {{ location = "doc1.txt", labels = [ {{ category = "Party", offset = 0, length = 8 }}, {{ category = "Date", offset = 20, length = 10 }} ] }},
  {{ location = "doc2.txt", language = "de", dataset = "Test", labels = [ {{ category = "Amount", offset = 5, length = 3 }} ], region_offset = 2, region_length = 40 }},
  {{ location = "doc3.txt" }},
]
trained_models = [ {{ label = "v1", trained = "2025-01-03T00:00:00Z" }} ]
deployments = [ {{ name = "production", model_label = "v1", deployed = "2025-01-03T01:00:00Z" }} ]

[[accounts.src.language_projects]]
project_name = "alpha"

[[accounts.src.language_projects]]
project_name = "beta"
language = "fr"
multilingual = true
documents = [ {{ location = "t.txt", dataset = "Test" }} ]

[[accounts.src.language_projects]]
project_name = "tickets"
project_kind = "CustomSingleLabelClassification"
classes = ["Bug", "Question"]
documents = [ {{ location = "a.txt", classes = ["Bug"] }}, {{ location = "b.txt", dataset = "Test" }} ]

[accounts.dst]
region = "westus"
key = "key-dst"

[[accounts.dst.language_projects]]
project_name = "contracts-ner"
language = "en"
created = "2024-06-01T00:00:00Z"
entities = ["Old"]
documents = [ {{ location = "old.txt", labels = [ {{ category = "Old", offset = 0, length = 3 }} ] }} ]
trained_models = [ {{ label = "old-model", trained = "2024-06-02T00:00:00Z", model_id = "old-model-20240602T000000-0123456789abcdef0123456789abcdef" }} ]
deployments = [ {{ name = "production", model_label = "old-model" }} ]
"""

CONTRACTS_METADATA = {
    "createdDateTime": "2025-01-01T00:00:00Z",
    "lastModifiedDateTime": "2025-01-02T00:00:00Z",
    "lastTrainedDateTime": "2025-01-03T00:00:00Z",
    "lastDeployedDateTime": "2025-01-03T01:00:00Z",
    "projectKind": "CustomEntityRecognition",
    "storageInputContainerName": "contracts-docs",
    "settings": {"confidenceThreshold": 0.25},
    "projectName": "contracts-ner",
    "multilingual": False,
    "description": "Contract entities",
    "language": "en",
}
CONTRACTS_ASSETS = {
    "projectKind": "CustomEntityRecognition",
    "entities": [{"category": "Party"}, {"category": "Date"}, {"category": "Amount"}],
    "documents": [
        {"location": "doc1.txt", "language": "en", "dataset": "Train", "entities": [
            {"regionOffset": 0, "regionLength": 30, "labels": [
                {"category": "Party", "offset": 0, "length": 8}, {"category": "Date", "offset": 20, "length": 10}]}]},
        {"location": "doc2.txt", "language": "de", "dataset": "Test", "entities": [
            {"regionOffset": 2, "regionLength": 40, "labels": [{"category": "Amount", "offset": 5, "length": 3}]}]},
        {"location": "doc3.txt", "language": "en", "dataset": "Train", "entities": []},
    ],
}


# --- fixtures and helpers ------------------------------------------------------------------------------------------


emu = emulator_fixtures.emulator_fixture(CONFIG, "emulator-language")


class Conformance(emulator_fixtures.Conformance):
    """Spec-defined Language responses against their OpenAPI file; backend errors carry ``x-ms-error-code`` equal to
    the body's code. Gateway answers (401, 429, APIM's 404) come from APIM, not the Language backend: their numeric
    codes are not in the backend's ``ErrorCode`` enum, so they are not checked against it."""

    def hook(self, response: httpx.Response) -> None:
        """As the base hook; answers at a version in ``SPEC_STAND_IN`` are checked against its stand-in's file."""
        url = response.request.url
        stand_in = SPEC_STAND_IN.get(url.params.get("api-version", ""))
        if stand_in is None or "/_emulator/" in url.path:
            super().hook(response)
            return
        response.read()
        body: Any = response.json() if response.content.strip() else None
        if self.skip(response, body):
            return
        exchange = ov.Exchange(method=response.request.method, url=str(url.copy_set_param("api-version", stand_in)),
                               status=response.status_code, headers=dict(response.headers), body=body,
                               request_headers=dict(response.request.headers), raw_body=response.content)
        checked = ov.check_exchange(exchange)
        if checked.spec is None:  # e.g. the export's resultUrl: not a spec path (checked by ``exported``)
            return
        self.checked += 1
        self.problems += checked.problems
        self.extra_checks(response, exchange, body)

    def skip(self, response: httpx.Response, body: Any) -> bool:
        if response.status_code in (401, 429) or body == APIM_NOT_FOUND:
            if "x-ms-error-code" in response.headers:
                self.problems.append(f"{response.request.url}: gateway answer with x-ms-error-code")
            return True
        return False

    def extra_checks(self, response: httpx.Response, exchange: ov.Exchange, body: Any) -> None:
        if response.status_code >= 400:
            code = body["error"]["code"] if isinstance(body, dict) else None
            if response.headers.get("x-ms-error-code") != code:
                self.problems.append(f"{exchange.method} {exchange.url} -> {exchange.status}: x-ms-error-code "
                                     f"{response.headers.get('x-ms-error-code')!r} != body code {code!r}")


@pytest.fixture(scope="module")
def conformance() -> Conformance:
    return Conformance()


class Lang:
    """One account's Language authoring API at one api-version, with its key."""

    def __init__(self, http: httpx.Client, emu, account: str, api_version: str = V23) -> None:
        self.http, self.emu, self.account, self.api_version = http, emu, account, api_version
        self.base = f"{emu.account_url(account)}/language/authoring/analyze-text/projects"

    def request(self, method: str, path: str = "", *, key: str | None = None, params: dict[str, Any] | None = None,
                **kw: Any) -> httpx.Response:
        headers = {"Ocp-Apim-Subscription-Key": KEYS[self.account] if key is None else key, **kw.pop("headers", {})}
        query = {"api-version": self.api_version, **(params or {})}
        return self.http.request(method, f"{self.base}/{path}" if path else self.base, params=query, headers=headers, **kw)

    def get(self, path: str = "", **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def url(self, url: str) -> httpx.Response:
        """GET an absolute URL the emulator handed out (operation-location, resultUrl, nextLink), as is."""
        return self.http.get(url, headers={"Ocp-Apim-Subscription-Key": KEYS[self.account]})

    def start(self, method: str, path: str, **kw: Any) -> str:
        r = self.request(method, path, **kw)
        assert r.status_code == 202, r.text
        assert r.content == b""
        return r.headers["operation-location"]

    def export(self, project: str) -> str:
        return self.start("POST", f"{project}/:export", params={"stringIndexType": "Utf16CodeUnit"})

    def list_all(self, path: str = "", **params: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        pages = [self.get(path, params=params).json()]
        while pages[-1].get("nextLink") is not None:
            link = pages[-1]["nextLink"]
            assert link.startswith(f"{self.base}/{path}".rstrip("/") + "?"), link
            assert parse_qs(urlsplit(link).query)["api-version"] == [self.api_version]
            r = self.url(link)
            assert r.status_code == 200, r.text
            pages.append(r.json())
        return [item for page in pages for item in page["value"]], pages


def advance(admin: httpx.Client, seconds: float) -> None:
    r = admin.post("/_emulator/clock", json={"advance_seconds": seconds})
    assert r.status_code == 200, r.text


def emulator_now(admin: httpx.Client) -> float:
    return datetime.fromisoformat(admin.get("/_emulator/clock").json()["now"].replace("Z", "+00:00")).timestamp()


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def set_faults(admin: httpx.Client, **values: Any) -> None:
    r = admin.put("/_emulator/faults", json=values)
    assert r.status_code == 200, r.text


def finish(admin: httpx.Client, lang: Lang, location: str) -> dict[str, Any]:
    advance(admin, COPY_SECONDS + 1)
    r = lang.url(location)
    assert r.status_code == 200, r.text
    assert r.json()["status"] in ("succeeded", "failed", "cancelled"), r.json()
    return r.json()


def exported(admin: httpx.Client, lang: Lang, project: str) -> dict[str, Any]:
    state = finish(admin, lang, lang.export(project))
    assert state["status"] == "succeeded", state
    r = lang.url(state["resultUrl"])
    assert r.status_code == 200, r.text
    spec_file = f"language-authoring-{SPEC_STAND_IN.get(lang.api_version, lang.api_version)}.json"
    problems = ov.load_spec(spec_file).definition_errors("TextAnalysisAuthoringExportedProject", r.json())
    assert not problems, problems
    return r.json()


def error(r: httpx.Response) -> dict[str, Any]:
    assert r.headers.get("x-ms-error-code") == r.json()["error"]["code"], (r.headers, r.text)
    return r.json()["error"]


def not_found_body(name: str) -> dict[str, Any]:
    return {"code": "ProjectNotFound", "message": "The specified project was not found.", "details": [{"code": "ProjectNotFound", "message": name}]}


# --- projects: list, get, patch, delete ----------------------------------------------------------------------------


@pytest.mark.parametrize("api_version", [V23, V22])
def test_list_projects_pages_with_absolute_next_links(http, emu, api_version):
    src = Lang(http, emu, "src", api_version)
    items, pages = src.list_all()
    assert [p["projectName"] for p in items] == ["alpha", "beta", "contracts-ner", "tickets"]
    assert [len(p["value"]) for p in pages] == [2, 2] and pages[-1]["nextLink"] is None  # page_size = 2
    assert parse_qs(urlsplit(pages[0]["nextLink"]).query) == {"api-version": [api_version], "skip": ["2"]}
    assert items[2] == CONTRACTS_METADATA

    # top / skip / maxpagesize, and their continuation
    items, pages = src.list_all(top=3, maxpagesize=1)
    assert [p["projectName"] for p in items] == ["alpha", "beta", "contracts-ner"] and len(pages) == 3
    assert parse_qs(urlsplit(pages[0]["nextLink"]).query) == {"api-version": [api_version], "skip": ["1"], "top": ["2"], "maxpagesize": ["1"]}
    items, _ = src.list_all(skip=3)
    assert [p["projectName"] for p in items] == ["tickets"]
    assert src.get(params={"top": 0}).json() == {"value": [], "nextLink": None}
    for bad in ({"top": "-1"}, {"skip": "x"}, {"maxpagesize": "0"}):
        r = src.get(params=bad)
        assert r.status_code == 400 and error(r)["code"] == "InvalidArgument", r.text
    assert Lang(http, emu, "dst", api_version).list_all()[0][0]["projectName"] == "contracts-ner"


def test_get_project_defaults_from_the_config(http, emu, admin):
    src = Lang(http, emu, "src")
    assert src.get("contracts-ner").json() == CONTRACTS_METADATA
    alpha = src.get("alpha").json()
    started = admin.get("/_emulator/clock").json()["now"]
    assert alpha == {
        "createdDateTime": alpha["createdDateTime"],
        "lastModifiedDateTime": alpha["createdDateTime"],
        "projectKind": "CustomEntityRecognition",
        "storageInputContainerName": "alpha-docs",
        "projectName": "alpha",
        "multilingual": False,
        "language": "en",
    }
    assert abs(ts(alpha["createdDateTime"]) - ts(started)) < 60  # default: the emulator's start (reset) time
    beta = src.get("beta").json()
    assert (beta["language"], beta["multilingual"]) == ("fr", True)


def test_missing_project_is_404_project_not_found_everywhere(http, emu):
    src = Lang(http, emu, "src")
    calls = [
        src.get("nope"),
        src.request("DELETE", "nope"),
        src.request("POST", "nope/:export", params={"stringIndexType": "Utf16CodeUnit"}),
        src.request("POST", "nope/:train", json={"modelLabel": "m", "trainingConfigVersion": "2022-05-01"}),
        src.get("nope/models"),
        src.get("nope/models/v1"),
        src.get("nope/deployments"),
        src.get("nope/deployments/production"),
        src.request("PUT", "nope/deployments/production", json={"trainedModelLabel": "v1"}),
        src.get("nope/train/jobs"),
    ]
    for r in calls:
        assert r.status_code == 404 and r.json() == {"error": not_found_body("nope")}, (r.request.url, r.text)
        assert r.headers["x-ms-error-code"] == "ProjectNotFound"
    assert Lang(http, emu, "src").get("CONTRACTS-NER").status_code == 404  # names are case-sensitive


def test_patch_creates_201_then_merge_patches_200(http, emu, admin):
    src = Lang(http, emu, "src")
    body = {"projectKind": "CustomEntityRecognition", "storageInputContainerName": "c1", "language": "en",
            "projectName": "ignored-the-url-wins", "description": "first", "settings": {"confidenceThreshold": 0.5}}
    r = src.request("PATCH", "fresh", json=body, headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["projectName"] == "fresh" and created["createdDateTime"] == created["lastModifiedDateTime"]
    assert "lastTrainedDateTime" not in created and created["settings"] == {"confidenceThreshold": 0.5}
    assert exported(admin, src, "fresh")["assets"] == {"projectKind": "CustomEntityRecognition", "entities": [], "documents": []}

    advance(admin, 60)
    r = src.request("PATCH", "fresh", json={"description": "second", "settings": None, "multilingual": True})
    assert r.status_code == 200, r.text
    updated = r.json()
    assert updated["description"] == "second" and updated["multilingual"] is True and "settings" not in updated
    assert updated["createdDateTime"] == created["createdDateTime"]
    assert ts(updated["lastModifiedDateTime"]) >= ts(created["lastModifiedDateTime"]) + 60
    r = src.request("PATCH", "fresh", json={"description": None})
    assert "description" not in r.json() and r.json()["storageInputContainerName"] == "c1"

    r = src.request("PATCH", "fresh", json={"projectKind": "CustomMultiLabelClassification"})
    assert r.status_code == 400 and error(r)["innererror"]["code"] == "InvalidParameterValue"
    r = src.request("PATCH", "other", json={"projectKind": "CustomEntityRecognition", "language": "en"})
    assert r.status_code == 400 and error(r) == {"code": "InvalidRequest", "message": "Invalid request body.", "innererror": {
        "code": "InvalidRequestBodyFormat", "message": "The parameter storageInputContainerName is required."}}
    r = src.request("PATCH", "other", json={"projectKind": "Nope", "language": "en", "storageInputContainerName": "c"})
    assert r.status_code == 400 and error(r)["innererror"]["code"] == "InvalidParameterValue"
    r = src.request("PATCH", "other", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and error(r)["innererror"]["code"] == "InvalidRequestBodyFormat"
    r = src.request("PATCH", "x" * 101, json={"projectKind": "CustomEntityRecognition", "language": "en", "storageInputContainerName": "c"})
    assert r.status_code == 400
    assert src.get("other").status_code == 404


def test_delete_project_is_a_deletion_job(http, emu, admin):
    src = Lang(http, emu, "src")
    location = src.start("DELETE", "alpha")
    m = re.fullmatch(rf"{re.escape(src.base)}/global/deletion-jobs/([^?]+)\?api-version={V23}", location)
    assert m and JOB_ID.match(m.group(1)), location
    state = src.url(location).json()
    assert state["status"] == "notStarted" and state["jobId"] == m.group(1)
    assert src.get("alpha").status_code == 200  # still there until the job ends
    advance(admin, 3)
    assert src.url(location).json()["status"] == "running"
    state = finish(admin, src, location)
    assert state["status"] == "succeeded" and "errors" not in state
    assert src.get("alpha").status_code == 404
    assert src.request("DELETE", "alpha").status_code == 404
    names = {a["name"]: a for a in admin.get("/_emulator/accounts").json()["accounts"]}["src"]["language_projects"]
    assert names == ["beta", "contracts-ner", "tickets"]


# --- export ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("api_version", [V23, V22])
def test_export_poll_and_result_round_trip(http, emu, admin, api_version):
    src = Lang(http, emu, "src", api_version)
    now = emulator_now(admin)
    location = src.export("contracts-ner")
    m = re.fullmatch(rf"{re.escape(src.base)}/contracts-ner/export/jobs/([^/?]+)\?api-version={api_version}", location)
    assert m, location
    job_id = m.group(1)
    _, ticks = JOB_ID.match(job_id).groups()  # type: ignore[union-attr]
    assert abs(int(ticks) / 10**7 - 62135596800 - now) < 5  # .NET ticks of the creation time

    first = src.url(location).json()
    assert first == {"jobId": job_id, "createdDateTime": first["createdDateTime"], "lastUpdatedDateTime": first["createdDateTime"],
                     "expirationDateTime": first["expirationDateTime"], "status": "notStarted"}
    assert ts(first["expirationDateTime"]) - ts(first["createdDateTime"]) == 7 * 86400
    advance(admin, 3)
    running = src.url(location).json()
    assert running["status"] == "running" and "resultUrl" not in running
    assert src.url(f"{src.base}/contracts-ner/export/jobs/{job_id}/result?api-version={api_version}").status_code == 404  # not yet
    advance(admin, COPY_SECONDS)
    done = src.url(location).json()
    assert done["status"] == "succeeded"
    assert done["resultUrl"] == f"{src.base}/contracts-ner/export/jobs/{job_id}/result?api-version={api_version}"
    assert ts(done["lastUpdatedDateTime"]) == ts(done["createdDateTime"]) + COPY_SECONDS or \
        abs(ts(done["lastUpdatedDateTime"]) - ts(done["createdDateTime"]) - COPY_SECONDS) <= 1
    result = src.url(done["resultUrl"])
    assert result.status_code == 200 and result.headers["content-type"].startswith("application/json")
    meta = {k: v for k, v in CONTRACTS_METADATA.items() if not k.endswith("DateTime")}
    assert result.json() == {"projectFileVersion": api_version, "stringIndexType": "Utf16CodeUnit", "metadata": meta,
                             "assets": CONTRACTS_ASSETS}
    problems = ov.load_spec(f"language-authoring-{api_version}.json").definition_errors("TextAnalysisAuthoringExportedProject", result.json())
    assert not problems, problems
    assert http.get(done["resultUrl"], headers={"Ocp-Apim-Subscription-Key": "wrong"}).status_code == 401  # same key


def test_export_needs_string_index_type(http, emu):
    src = Lang(http, emu, "src")
    r = src.request("POST", "contracts-ner/:export")
    assert r.status_code == 400 and error(r) == {"code": "InvalidArgument", "message": "Invalid argument.", "innererror": {
        "code": "InvalidParameterValue", "message": "The parameter stringIndexType is required."}}
    r = src.request("POST", "contracts-ner/:export", params={"stringIndexType": "TextElements_v8"})
    assert r.status_code == 400 and error(r)["code"] == "InvalidArgument"
    r = src.request("POST", "contracts-ner/:export", params={"stringIndexType": "Utf16CodeUnit", "assetKind": "x", "trainedModelLabel": "v1"})
    assert r.status_code == 202  # accepted and ignored


def test_export_is_a_snapshot_taken_when_accepted(http, emu, admin):
    src = Lang(http, emu, "src")
    location = src.export("contracts-ner")
    r = admin.post("/_emulator/accounts/src/language/projects", json={
        "project_name": "contracts-ner", "replace": True, "entities": ["Party", "Date", "Amount", "Term"],
        "documents": [{"location": "doc1.txt", "labels": [{"category": "Term", "offset": 1, "length": 4}]}]})
    assert r.status_code == 200, r.text
    old = src.url(finish(admin, src, location)["resultUrl"]).json()
    assert old["assets"] == CONTRACTS_ASSETS
    new = exported(admin, src, "contracts-ner")
    assert [e["category"] for e in new["assets"]["entities"]] == ["Party", "Date", "Amount", "Term"]
    assert new["assets"]["documents"] == [{"location": "doc1.txt", "language": "en", "dataset": "Train", "entities": [
        {"regionOffset": 0, "regionLength": 5, "labels": [{"category": "Term", "offset": 1, "length": 4}]}]}]


def test_classification_project_round_trip(http, emu, admin):
    src, dst = Lang(http, emu, "src"), Lang(http, emu, "dst")
    body = exported(admin, src, "tickets")
    assert body["assets"] == {"projectKind": "CustomSingleLabelClassification", "classes": [{"category": "Bug"}, {"category": "Question"}],
                              "documents": [{"location": "a.txt", "language": "en", "dataset": "Train", "class": {"category": "Bug"}},
                                            {"location": "b.txt", "language": "en", "dataset": "Test"}]}
    assert finish(admin, dst, dst.start("POST", "tickets/:import", json=body))["status"] == "succeeded"
    again = exported(admin, dst, "tickets")
    assert again["assets"] == body["assets"] and again["metadata"]["projectKind"] == "CustomSingleLabelClassification"


# --- import ----------------------------------------------------------------------------------------------------------


def test_import_creates_a_project_and_the_url_name_wins(http, emu, admin):
    src, dst = Lang(http, emu, "src"), Lang(http, emu, "dst")
    body = exported(admin, src, "contracts-ner")
    body["metadata"]["projectName"] = "some-other-name"
    location = dst.start("POST", "copied/:import", json=body)
    assert re.fullmatch(rf"{re.escape(dst.base)}/copied/import/jobs/[^/?]+\?api-version={V23}", location), location
    assert dst.url(location).json()["status"] == "notStarted"
    assert dst.get("copied").status_code == 404  # appears when the job ends
    state = finish(admin, dst, location)
    assert state["status"] == "succeeded" and set(state) == {"jobId", "createdDateTime", "lastUpdatedDateTime", "expirationDateTime", "status"}
    project = dst.get("copied").json()
    assert project["projectName"] == "copied"
    assert project["createdDateTime"] == project["lastModifiedDateTime"]
    assert abs(ts(project["lastModifiedDateTime"]) - ts(state["createdDateTime"]) - COPY_SECONDS) <= 1  # = completion
    assert "lastTrainedDateTime" not in project and "lastDeployedDateTime" not in project  # models are not copied
    assert dst.get("copied/models").json() == {"value": [], "nextLink": None}
    assert {k: project[k] for k in ("description", "settings", "storageInputContainerName", "language")} == {
        "description": "Contract entities", "settings": {"confidenceThreshold": 0.25}, "storageInputContainerName": "contracts-docs", "language": "en"}
    assert exported(admin, dst, "copied")["assets"] == CONTRACTS_ASSETS


def test_import_replaces_an_existing_project_but_keeps_its_models(http, emu, admin):
    src, dst = Lang(http, emu, "src"), Lang(http, emu, "dst")
    before = dst.get("contracts-ner").json()
    assert before["createdDateTime"] == "2024-06-01T00:00:00Z" and before["lastTrainedDateTime"] == "2024-06-02T00:00:00Z"
    body = exported(admin, src, "contracts-ner")
    state = finish(admin, dst, dst.start("POST", "contracts-ner/:import", json=body))
    assert state["status"] == "succeeded"
    after = dst.get("contracts-ner").json()
    assert after["createdDateTime"] == "2024-06-01T00:00:00Z"  # kept
    assert after["description"] == "Contract entities" and after["storageInputContainerName"] == "contracts-docs"
    assert after["lastTrainedDateTime"] == before["lastTrainedDateTime"]  # importing does not train ...
    assert ts(after["lastModifiedDateTime"]) > ts(after["lastTrainedDateTime"])  # ... so the assets are newer
    assert exported(admin, dst, "contracts-ner")["assets"] == CONTRACTS_ASSETS  # assets replaced entirely
    assert [m["label"] for m in dst.get("contracts-ner/models").json()["value"]] == ["old-model"]
    deployment = dst.get("contracts-ner/deployments/production").json()
    assert deployment["modelId"] == "old-model-20240602T000000-0123456789abcdef0123456789abcdef"


def test_import_without_assets_creates_an_empty_project(http, emu, admin):
    dst = Lang(http, emu, "dst", V22)
    body = {"projectFileVersion": "2022-05-01", "stringIndexType": "Utf16CodeUnit",
            "metadata": {"projectKind": "CustomEntityRecognition", "storageInputContainerName": "c", "language": "en"}}
    assert finish(admin, dst, dst.start("POST", "bare/:import", json=body))["status"] == "succeeded"
    assert exported(admin, dst, "bare")["assets"] == {"projectKind": "CustomEntityRecognition", "entities": [], "documents": []}


META = {"projectKind": "CustomEntityRecognition", "storageInputContainerName": "c", "language": "en", "projectName": "p"}


@pytest.mark.parametrize(
    ("body", "code", "inner", "message"),
    [
        ({"stringIndexType": "Utf16CodeUnit", "metadata": META}, "InvalidRequest", "InvalidRequestBodyFormat", "The parameter projectFileVersion is required."),
        ({"projectFileVersion": "2023-04-01", "metadata": META}, "InvalidRequest", "InvalidRequestBodyFormat", "The parameter stringIndexType is required."),
        ({"projectFileVersion": "2023-04-01", "stringIndexType": "Utf16CodeUnit"}, "InvalidRequest", "InvalidRequestBodyFormat", "The parameter metadata is required."),
        ({"projectFileVersion": "2023-04-01", "stringIndexType": "Utf16CodeUnit", "metadata": {**META, "language": None}},
         "InvalidRequest", "InvalidRequestBodyFormat", "The parameter language is required."),
        ({"projectFileVersion": "2023-04-01", "stringIndexType": "Utf16CodeUnit", "metadata": "x"}, "InvalidRequest", "InvalidRequestBodyFormat", None),
        ({"projectFileVersion": "2023-04-01", "stringIndexType": "TextElements_v8", "metadata": META}, "InvalidRequest", "InvalidParameterValue", None),
        ({"projectFileVersion": "2023-04-01", "stringIndexType": "Utf16CodeUnit", "metadata": {**META, "projectKind": "CustomHealthcare"}},
         "InvalidRequest", "InvalidParameterValue", None),
        ({"projectFileVersion": "2023-04-01", "stringIndexType": "Utf16CodeUnit", "metadata": META,
          "assets": {"projectKind": "CustomSingleLabelClassification"}}, "InvalidRequest", "InvalidParameterValue", None),
        ({"projectFileVersion": "2023-04-01", "stringIndexType": "Utf16CodeUnit", "metadata": META,
          "assets": {"projectKind": "CustomEntityRecognition", "documents": {"a": 1}}}, "InvalidRequest", "InvalidRequestBodyFormat", None),
        ({"projectFileVersion": "2023-04-01", "stringIndexType": "Utf16CodeUnit", "metadata": META,
          "assets": {"projectKind": "CustomEntityRecognition", "documents": [{"entities": [{"labels": [{"offset": "3"}]}]}]}},
         "InvalidRequest", "InvalidRequestBodyFormat", None),
        ([1, 2], "InvalidRequest", "InvalidRequestBodyFormat", None),
    ],
)
def test_bad_import_bodies_are_400(http, emu, body, code, inner, message):
    dst = Lang(http, emu, "dst")
    r = dst.request("POST", "p/:import", json=body)
    assert r.status_code == 400, r.text
    err = error(r)
    assert (err["code"], err["innererror"]["code"]) == (code, inner)
    if message:
        assert err["innererror"]["message"] == message
    assert dst.get("p").status_code == 404


def test_empty_or_non_json_import_body_is_400(http, emu):
    dst = Lang(http, emu, "dst")
    r = dst.request("POST", "p/:import")
    assert r.status_code == 400 and error(r)["innererror"]["code"] == "EmptyRequest"
    r = dst.request("POST", "p/:import", content=b"<xml/>", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and error(r)["innererror"]["code"] == "InvalidRequestBodyFormat"


@pytest.mark.parametrize(
    ("assets", "why"),
    [
        ({"projectKind": "CustomEntityRecognition", "entities": [{"category": "Party"}],
          "documents": [{"location": "d.txt", "entities": [{"regionOffset": 0, "regionLength": 9, "labels": [{"category": "Nope", "offset": 0, "length": 3}]}]}]},
         "entity 'Nope'"),
        ({"projectKind": "CustomEntityRecognition", "entities": [{"category": "Party"}],
          "documents": [{"location": "d.txt", "entities": [{"regionOffset": 5, "regionLength": 2, "labels": [{"category": "Party", "offset": 0, "length": 3}]}]}]},
         "outside its entity region"),
        ({"projectKind": "CustomEntityRecognition", "entities": [{"category": "Party"}], "documents": [{"dataset": "Train"}]},
         "needs a location"),
    ],
)
def test_semantically_bad_import_fails_the_job(http, emu, admin, assets, why):
    dst = Lang(http, emu, "dst")
    body = {"projectFileVersion": "2023-04-01", "stringIndexType": "Utf16CodeUnit", "metadata": META, "assets": assets}
    state = finish(admin, dst, dst.start("POST", "contracts-ner/:import", json=body))
    assert state["status"] == "failed"
    [err] = state["errors"]
    assert (err["code"], err["message"], err["innererror"]["code"]) == ("InvalidRequest", "The imported project is invalid.", "InvalidDocument")
    assert why in err["innererror"]["message"]
    assert dst.get("contracts-ner").json()["createdDateTime"] == "2024-06-01T00:00:00Z"  # untouched
    assert exported(admin, dst, "contracts-ner")["assets"]["entities"] == [{"category": "Old"}]


def test_import_normalises_regions_and_drops_unknown_fields(http, emu, admin):
    dst = Lang(http, emu, "dst")
    body = {"projectFileVersion": "2024-11-15-preview", "stringIndexType": "Utf16CodeUnit",
            "metadata": {**META, "settings": {"confidenceThreshold": 0.1, "isLabelingLocked": True}},
            "assets": {"projectKind": "CustomEntityRecognition", "entities": [{"category": "A", "description": "later versions"}],
                       "documents": [{"location": "d.txt", "language": "en", "dataset": "Train",
                                      "entities": [{"labels": [{"category": "A", "offset": 2, "length": 3}]}]}]}}
    assert finish(admin, dst, dst.start("POST", "norm/:import", json=body))["status"] == "succeeded"
    out = exported(admin, dst, "norm")
    assert out["assets"]["entities"] == [{"category": "A"}]
    assert out["assets"]["documents"][0]["entities"] == [{"regionOffset": 0, "regionLength": 5, "labels": [{"category": "A", "offset": 2, "length": 3}]}]
    assert dst.get("norm").json()["settings"] == {"confidenceThreshold": 0.1}  # the 2023-04-01 schema's one setting


# --- train, models ---------------------------------------------------------------------------------------------------


def test_train_progress_model_and_job_list(http, emu, admin):
    src = Lang(http, emu, "src")
    location = src.start("POST", "contracts-ner/:train", json={
        "modelLabel": "v2", "trainingConfigVersion": "2022-05-01",
        "evaluationOptions": {"kind": "percentage", "trainingSplitPercentage": 80, "testingSplitPercentage": 20}})
    assert re.fullmatch(rf"{re.escape(src.base)}/contracts-ner/train/jobs/[^/?]+\?api-version={V23}", location), location
    state = src.url(location).json()
    assert state["status"] == "notStarted"
    assert state["result"]["trainingStatus"] == {"percentComplete": 0, "status": "notStarted"}
    assert state["result"]["modelLabel"] == "v2" and state["result"]["trainingConfigVersion"] == "2022-05-01"
    assert ts(state["result"]["estimatedEndDateTime"]) - ts(state["createdDateTime"]) in (COPY_SECONDS, COPY_SECONDS + 1)
    advance(admin, 5)
    state = src.url(location).json()
    assert state["status"] == "running" and state["result"]["trainingStatus"]["status"] == "running"
    assert 0 < state["result"]["trainingStatus"]["percentComplete"] < 100
    assert state["result"]["evaluationStatus"] == {"percentComplete": 0, "status": "notStarted"}
    advance(admin, 4)
    state = src.url(location).json()
    assert state["status"] == "running" and state["result"]["trainingStatus"]["status"] == "succeeded"
    assert state["result"]["evaluationStatus"]["status"] == "running"
    assert src.get("contracts-ner/models/v2").status_code == 404  # not before the job ends
    state = finish(admin, src, location)
    assert state["status"] == "succeeded"
    assert state["result"]["trainingStatus"]["percentComplete"] == state["result"]["evaluationStatus"]["percentComplete"] == 100

    model = src.get("contracts-ner/models/v2").json()
    m = MODEL_ID.match(model["modelId"])
    assert m and m.group(1) == "v2" and m.group(2) == datetime.fromtimestamp(ts(model["lastTrainedDateTime"]), timezone.utc).strftime("%Y%m%dT%H%M%S")
    assert model["label"] == "v2" and model["modelTrainingConfigVersion"] == "2022-05-01" and model["hasSnapshot"] is True
    assert model["lastTrainingDurationInSeconds"] == COPY_SECONDS and re.fullmatch(r"\d{4}-\d\d-\d\d", model["modelExpirationDate"])
    project = src.get("contracts-ner").json()
    assert project["lastTrainedDateTime"] == model["lastTrainedDateTime"]
    assert project["lastModifiedDateTime"] == CONTRACTS_METADATA["lastModifiedDateTime"]  # training changes no asset
    assert [x["label"] for x in src.get("contracts-ner/models").json()["value"]] == ["v1", "v2"]
    assert "hasSnapshot" not in Lang(http, emu, "src", V22).get("contracts-ner/models/v2").json()  # 2023-04-01 on

    jobs, _ = src.list_all("contracts-ner/train/jobs")
    assert [j["jobId"] for j in jobs] == [state["jobId"]] and jobs[0]["result"]["modelLabel"] == "v2"
    assert src.get("beta/train/jobs").json() == {"value": [], "nextLink": None}


def test_retraining_a_label_overwrites_it_and_latest_resolves(http, emu, admin):
    src = Lang(http, emu, "src")
    old = src.get("contracts-ner/models/v1").json()
    assert MODEL_ID.match(old["modelId"]) and old["lastTrainedDateTime"] == "2025-01-03T00:00:00Z"
    state = finish(admin, src, src.start("POST", "contracts-ner/:train", json={"modelLabel": "v1", "trainingConfigVersion": "latest"}))
    assert state["status"] == "succeeded" and state["result"]["trainingConfigVersion"] == "2022-05-01"
    new = src.get("contracts-ner/models/v1").json()
    assert new["modelId"] != old["modelId"] and ts(new["lastTrainedDateTime"]) > ts(old["lastTrainedDateTime"])
    # the existing deployment keeps serving the model it was deployed with
    assert src.get("contracts-ner/deployments/production").json()["modelId"] == old["modelId"]


def test_training_validation_and_failures(http, emu, admin):
    src = Lang(http, emu, "src")
    for body, inner in (({"trainingConfigVersion": "2022-05-01"}, "InvalidRequestBodyFormat"),
                        ({"modelLabel": "m"}, "InvalidRequestBodyFormat"),
                        ({"modelLabel": "m", "trainingConfigVersion": "1999-01-01"}, "InvalidParameterValue"),
                        ({"modelLabel": "m", "trainingConfigVersion": "2022-05-01", "evaluationOptions": {"kind": "random"}}, "InvalidParameterValue"),
                        ({"modelLabel": "m", "trainingConfigVersion": "2022-05-01",
                          "evaluationOptions": {"trainingSplitPercentage": 70, "testingSplitPercentage": 20}}, "InvalidParameterValue"),
                        (None, "EmptyRequest")):
        r = src.request("POST", "contracts-ner/:train", json=body) if body is not None else src.request("POST", "contracts-ner/:train")
        assert r.status_code == 400 and error(r)["innererror"]["code"] == inner, (body, r.text)
    # no training documents: alpha has none, beta only Test ones
    for project in ("alpha", "beta"):
        state = finish(admin, src, src.start("POST", f"{project}/:train", json={"modelLabel": "m", "trainingConfigVersion": "2022-05-01"}))
        assert state["status"] == "failed" and state["result"]["trainingStatus"]["status"] == "failed"
        [err] = state["errors"]
        assert err["code"] == "InvalidRequest" and err["innererror"]["code"] == "MissingInputDocuments"
        assert src.get(f"{project}/models").json()["value"] == [] and "lastTrainedDateTime" not in src.get(project).json()


def test_cancel_a_training_job(http, emu, admin):
    src = Lang(http, emu, "src")
    location = src.start("POST", "contracts-ner/:train", json={"modelLabel": "v9", "trainingConfigVersion": "2022-05-01"})
    job_id = src.url(location).json()["jobId"]
    cancel = src.start("POST", f"contracts-ner/train/jobs/{job_id}/:cancel")
    assert cancel == location
    assert finish(admin, src, location)["status"] == "cancelled"
    assert src.get("contracts-ner/models/v9").status_code == 404
    r = src.request("POST", f"contracts-ner/train/jobs/{job_id}/:cancel")
    assert r.status_code == 400 and error(r)["code"] == "InvalidRequest"


def test_delete_model(http, emu):
    src = Lang(http, emu, "src")
    r = src.request("DELETE", "contracts-ner/models/v1")
    assert r.status_code == 204 and r.content == b""
    r = src.get("contracts-ner/models/v1")
    assert r.status_code == 404 and error(r) == {"code": "NotFound", "message": "The specified trained model was not found.",
                                                 "details": [{"code": "NotFound", "message": "v1"}]}
    assert src.request("DELETE", "contracts-ner/models/v1").status_code == 404
    assert src.get("contracts-ner/deployments/production").status_code == 200  # deployments hold their own model


def test_training_config_versions(http, emu):
    src = Lang(http, emu, "src")
    r = src.get("global/training-config-versions", params={"projectKind": "CustomEntityRecognition"})
    [version] = r.json()["value"]
    assert version["trainingConfigVersion"] == "2022-05-01" and r.json()["nextLink"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", version["modelExpirationDate"])
    r = src.get("global/training-config-versions")
    assert r.status_code == 400 and error(r)["innererror"]["message"] == "The parameter projectKind is required."
    assert src.get("global/training-config-versions", params={"projectKind": "Nope"}).status_code == 400


# --- deployments -----------------------------------------------------------------------------------------------------


def test_deploy_then_delete_the_deployment(http, emu, admin):
    src = Lang(http, emu, "src")
    r = src.request("PUT", "contracts-ner/deployments/staging", json={"trainedModelLabel": "nope"})
    assert r.status_code == 404 and error(r)["details"] == [{"code": "NotFound", "message": "nope"}]
    r = src.request("PUT", "contracts-ner/deployments/staging", json={})
    assert r.status_code == 400 and error(r)["innererror"]["message"] == "The parameter trainedModelLabel is required."
    location = src.start("PUT", "contracts-ner/deployments/staging", json={"trainedModelLabel": "v1"})
    assert re.fullmatch(rf"{re.escape(src.base)}/contracts-ner/deployments/staging/jobs/[^/?]+\?api-version={V23}", location), location
    assert src.get("contracts-ner/deployments/staging").status_code == 404  # not before the job ends
    state = finish(admin, src, location)
    assert state["status"] == "succeeded"
    model = src.get("contracts-ner/models/v1").json()
    deployment = src.get("contracts-ner/deployments/staging").json()
    assert deployment == {"deploymentName": "staging", "modelId": model["modelId"], "lastTrainedDateTime": model["lastTrainedDateTime"],
                          "lastDeployedDateTime": deployment["lastDeployedDateTime"], "deploymentExpirationDate": model["modelExpirationDate"],
                          "modelTrainingConfigVersion": "2022-05-01"}
    assert src.get("contracts-ner").json()["lastDeployedDateTime"] == deployment["lastDeployedDateTime"]
    names = [d["deploymentName"] for d in src.list_all("contracts-ner/deployments")[0]]
    assert names == ["production", "staging"]

    location = src.start("DELETE", "contracts-ner/deployments/staging")
    assert "/contracts-ner/deployments/staging/jobs/" in location
    assert src.get("contracts-ner/deployments/staging").status_code == 200
    assert finish(admin, src, location)["status"] == "succeeded"
    r = src.get("contracts-ner/deployments/staging")
    assert r.status_code == 404 and error(r)["message"] == "The specified deployment was not found."
    assert src.request("DELETE", "contracts-ner/deployments/staging").status_code == 404


# --- 2024-11-15-preview (served for the official SDK's begin_import) ----------------------------------------------------


def test_2024_11_15_preview_shapes(http, emu, admin):
    pv = Lang(http, emu, "src", "2024-11-15-preview")
    items, pages = pv.list_all()
    assert len(items) == 4 and "nextLink" not in pages[-1]  # optional and not nullable in the TypeSpec file
    assert pv.get("contracts-ner/deployments/production").json()["assignedResources"] == []
    assert pv.get("contracts-ner/models/v1").json()["hasSnapshot"] is True
    r = pv.request("PATCH", "x", json={"projectKind": "CustomEntityRecognition", "language": "en"})
    assert r.status_code == 400 and error(r) == {"code": "InvalidRequest", "message": "The parameter storageInputContainerName is required.",
                                                 "innererror": {"code": "InvalidRequestBodyFormat"}}  # InnerError has no message there
    body = exported(admin, pv, "contracts-ner")
    assert body["projectFileVersion"] == "2024-11-15-preview" and body["assets"] == CONTRACTS_ASSETS
    r = pv.request("POST", "c2/:import", json=body, headers={"format": "aml"})
    assert r.status_code == 400 and error(r)["code"] == "InvalidRequest"
    assert finish(admin, pv, pv.start("POST", "c2/:import", json=body, headers={"format": "json"}))["status"] == "succeeded"
    bad = {**body, "assets": {**body["assets"], "entities": []}}
    state = finish(admin, pv, pv.start("POST", "c3/:import", json=bad))
    assert state["status"] == "failed" and state["errors"][0]["innererror"] == {"code": "InvalidDocument"}
    assert "not one of the project's entities" in state["errors"][0]["message"]
    same_job = Lang(http, emu, "src").url(f"{pv.base}/c3/import/jobs/{state['jobId']}?api-version={V23}").json()
    assert same_job["errors"][0]["innererror"]["message"] == state["errors"][0]["message"]  # read through 2023-04-01


# --- 2025-05-15-preview (the official SDK's default api-version) -----------------------------------------------------


def test_2025_05_15_preview_has_the_2024_11_15_preview_shapes(http, emu, admin, conformance):
    """The SDK's default version works on every route drplan and the SDK use, with the TypeSpec shapes; each answer is
    checked against language-authoring-2024-11-15-preview.json by the module's hook (``SPEC_STAND_IN``)."""
    before = conformance.checked
    v25 = Lang(http, emu, "src", V25P)
    items, pages = v25.list_all()
    assert [p["projectName"] for p in items] == ["alpha", "beta", "contracts-ner", "tickets"]
    assert "nextLink" not in pages[-1] and len(pages) == 2
    assert v25.get("contracts-ner").json() == CONTRACTS_METADATA
    assert v25.get("contracts-ner/deployments/production").json()["assignedResources"] == []
    assert v25.get("contracts-ner/models/v1").json()["hasSnapshot"] is True
    assert v25.get("contracts-ner/train/jobs").status_code == 200
    body = exported(admin, v25, "contracts-ner")
    assert body["projectFileVersion"] == V25P and body["assets"] == CONTRACTS_ASSETS

    dst = Lang(http, emu, "dst", V25P)
    location = dst.start("POST", "copy/:import", json=body)  # no format header: json, as the SDK sends it [R]
    assert location.startswith(f"{dst.base}/copy/import/jobs/") and location.endswith(f"?api-version={V25P}")
    assert finish(admin, dst, location)["status"] == "succeeded"
    old_file = {**body, "projectFileVersion": V22, "metadata": {**body["metadata"], "settings": {}}}  # as recorded [R]
    assert finish(admin, dst, dst.start("POST", "copy2/:import", json=old_file))["status"] == "succeeded"
    r = dst.request("POST", "copy3/:import", json=body, headers={"format": "aml"})
    assert r.status_code == 400 and error(r)["innererror"] == {"code": "InvalidParameterValue"}  # no message there
    train = dst.start("POST", "copy/:train", json={"modelLabel": "m1", "trainingConfigVersion": "2022-05-01"})
    state = finish(admin, dst, train)
    assert state["status"] == "succeeded" and state["result"]["trainingStatus"]["status"] == "succeeded"
    deploy = dst.start("PUT", "copy/deployments/production", json={"trainedModelLabel": "m1"})
    assert finish(admin, dst, deploy)["status"] == "succeeded"
    assert dst.get("copy/deployments/production").json()["modelId"] == dst.get("copy/models/m1").json()["modelId"]
    assert finish(admin, dst, dst.start("DELETE", "copy2"))["status"] == "succeeded"
    r = dst.get("copy2")
    assert r.status_code == 404 and error(r) == not_found_body("copy2")
    assert conformance.checked - before >= 15  # really checked, not skipped as an unknown version


def test_every_answer_carries_request_ids(http, emu, admin):
    """apim-request-id (a GUID, new per answer) on every Language answer [contracts §1; R: every response of the
    SDK recordings cited in language.py]; x-ms-client-request-id echoed when sent (the emulator's shared rule: the
    Language specs declare no such header, and the SDK recordings never send one); x-ms-error-code = the error code on
    backend errors [S: the 2024-11-15-preview file's ``default`` answers]."""
    answers: list[httpx.Response] = []

    def send(lang: Lang, method: str, path: str = "", **kw: Any) -> httpx.Response:
        rid = str(uuid.uuid4())
        r = lang.request(method, path, headers={"x-ms-client-request-id": rid, **kw.pop("headers", {})}, **kw)
        assert r.headers.get("x-ms-client-request-id") == rid, (method, path, r.status_code, r.headers)
        answers.append(r)
        return r

    for version, doomed in ((V23, "alpha"), (V25P, "beta")):
        src = Lang(http, emu, "src", version)
        assert send(src, "GET").status_code == 200
        assert send(src, "GET", "contracts-ner").status_code == 200
        assert send(src, "PATCH", f"new-{version}", json={"projectKind": "CustomEntityRecognition", "language": "en",
                                                            "storageInputContainerName": "c"}).status_code == 201
        assert send(src, "POST", "contracts-ner/:export", params={"stringIndexType": "Utf16CodeUnit"}).status_code == 202
        assert send(src, "DELETE", doomed).status_code == 202
        assert send(src, "GET", "nope").status_code == 404
        assert send(src, "POST", "x/:import", json={}).status_code == 400
        assert send(src, "POST", "contracts-ner/:export").status_code == 400  # no stringIndexType
    assert send(Lang(http, emu, "src"), "DELETE", "contracts-ner/models/v1").status_code == 204
    assert send(Lang(http, emu, "src"), "GET", key="wrong").status_code == 401  # gateway: no x-ms-error-code
    ids = [r.headers["apim-request-id"] for r in answers]
    assert all(str(uuid.UUID(i)) == i for i in ids) and len(set(ids)) == len(ids)
    for r in answers:
        if r.status_code >= 400 and r.status_code != 401:
            assert r.headers["x-ms-error-code"] == r.json()["error"]["code"], (r.request.url, r.headers)
        else:
            assert "x-ms-error-code" not in r.headers
    r = Lang(http, emu, "src").get("contracts-ner")  # nothing sent, nothing echoed
    assert "x-ms-client-request-id" not in r.headers and uuid.UUID(r.headers["apim-request-id"])


# --- jobs: lookup, retention ---------------------------------------------------------------------------------------


def test_jobs_are_found_only_through_their_own_path_and_expire_after_7_days(http, emu, admin):
    src = Lang(http, emu, "src")
    location = src.export("contracts-ner")
    job_id = src.url(location).json()["jobId"]
    for path in (f"beta/export/jobs/{job_id}", f"contracts-ner/import/jobs/{job_id}", f"contracts-ner/train/jobs/{job_id}",
                 f"global/deletion-jobs/{job_id}", f"contracts-ner/deployments/production/jobs/{job_id}",
                 f"contracts-ner/export/jobs/{uuid.uuid4()}_638000000000000000"):
        r = src.get(path)
        assert r.status_code == 404 and error(r)["code"] == "OperationNotFound", (path, r.text)
    state = finish(admin, src, location)
    advance(admin, 7 * 86400 - COPY_SECONDS - 10)
    assert src.url(location).status_code == 200 and src.url(state["resultUrl"]).status_code == 200
    advance(admin, 20)
    r = src.url(location)
    assert r.status_code == 404 and error(r) == {"code": "OperationNotFound", "message": "The specified job was not found.",
                                                 "details": [{"code": "OperationNotFound", "message": job_id}]}
    assert src.url(state["resultUrl"]).status_code == 404


# --- gateway answers, faults -----------------------------------------------------------------------------------------


def test_gateway_answers_and_unknown_routes(http, emu):
    src = Lang(http, emu, "src")
    r = src.get(key="wrong")
    assert r.status_code == 401 and r.json()["error"]["code"] == "401" and "x-ms-error-code" not in r.headers
    assert r.headers["x-ms-region"] == "eastus" and uuid.UUID(r.headers["apim-request-id"])
    key = {"Ocp-Apim-Subscription-Key": KEYS["src"]}
    base = src.base
    cases = [
        http.get(base, params={"api-version": "2023-11-15-preview"}, headers=key),  # exists upstream, not served
        http.get(base, params={"api-version": "2023-04-15-preview"}, headers=key),
        http.get(base, headers=key),  # no api-version
        http.post(f"{base}/contracts-ner/deployments/:swap", params={"api-version": V23}, json={}, headers=key),
        http.post(f"{base}/contracts-ner/:copy", params={"api-version": V23}, json={}, headers=key),
        http.get(f"{base}/global/languages", params={"api-version": V23}, headers=key),
        http.post(f"{base}/contracts-ner", params={"api-version": V23}, headers=key),
        http.get(f"{emu.account_url('src')}/language/analyze-text/jobs", params={"api-version": V23}, headers=key),
    ]
    for r in cases:
        assert r.status_code == 404 and r.json() == APIM_NOT_FOUND, (r.request.url, r.text)
        assert "x-ms-error-code" not in r.headers
    r = http.get(base, params={"api-version": V23}, headers={**key, "x-ms-client-request-id": "abc"})
    assert r.headers["x-ms-client-request-id"] == "abc"


def test_faults_apply_to_language_routes(http, emu, admin):
    src, dst = Lang(http, emu, "src"), Lang(http, emu, "dst")
    set_faults(admin, error_rate=1.0, routes=["language:export"])
    r = src.request("POST", "contracts-ner/:export", params={"stringIndexType": "Utf16CodeUnit"})
    assert r.status_code == 503 and error(r)["code"] == "ServiceUnavailable"
    assert src.get("contracts-ner").status_code == 200  # other routes unaffected
    set_faults(admin, error_rate=0.0, routes=[])

    set_faults(admin, account="src", operation_failure_rate=1.0)
    state = finish(admin, src, src.export("contracts-ner"))
    assert state["status"] == "failed" and state["errors"] == [{"code": "InternalServerError", "message": "An unexpected error occurred."}]
    assert "resultUrl" not in state
    set_faults(admin, account="src", operation_failure_rate=0.0)

    body = exported(admin, src, "contracts-ner")
    set_faults(admin, account="dst", drop_after_rate=1.0, routes=["language:import"])
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        dst.request("POST", "dropped/:import", json=body)
    set_faults(admin, account="dst", drop_after_rate=0.0, routes=[])
    advance(admin, COPY_SECONDS + 1)
    assert dst.get("dropped").status_code == 200  # the import ran although its answer was lost

    set_faults(admin, account="dst", rate_limit_per_second=1)
    statuses = [dst.get() for _ in range(4)]
    throttled = [r for r in statuses if r.status_code == 429]
    assert throttled and throttled[0].headers["Retry-After"] == "1" and "x-ms-error-code" not in throttled[0].headers
    set_faults(admin, account="dst", rate_limit_per_second=0)

    log = admin.get("/_emulator/requests").json()
    routes = {e["route"] for e in log}
    assert {"language:export", "language:export:job", "language:export:result", "language:import", "language:projects:get",
            "language:projects:list"} <= routes
    assert [e["fault"] for e in log if e["route"] == "language:export"][0] == "error"
    assert any(e["fault"] == "drop_after" and e["route"] == "language:import" and e["status"] == 202 for e in log)
    counters = admin.get("/_emulator/counters").json()
    assert counters["faults"]["src"]["operation_failure"] == 1 and counters["faults"]["dst"]["drop_after"] == 1
    assert counters["throttled"]["dst"] == len(throttled)


def test_slow_mode_makes_jobs_ten_times_longer(http, emu, admin):
    src = Lang(http, emu, "src")
    set_faults(admin, account="src", slow=True)
    location = src.export("contracts-ner")
    advance(admin, COPY_SECONDS * 5)
    assert src.url(location).json()["status"] == "running"
    advance(admin, COPY_SECONDS * 5 + 1)
    assert src.url(location).json()["status"] == "succeeded"


def test_language_route_names_are_accepted_by_the_fault_filter(emu, admin):
    assert set(ROUTE_NAMES) <= set(ROUTES)
    r = admin.put("/_emulator/faults", json={"routes": list(ROUTE_NAMES)})
    assert r.status_code == 200 and r.json()["global"]["routes"] == list(ROUTE_NAMES)
    assert admin.put("/_emulator/faults", json={"routes": ["language:nope"]}).status_code == 400


# --- admin API, reset ------------------------------------------------------------------------------------------------


def test_admin_seed_replace_and_remove(http, emu, admin):
    src = Lang(http, emu, "src")
    entry = {"project_name": "seeded", "entities": ["A"], "created": "2025-02-01T00:00:00Z",
             "documents": [{"location": "x.txt", "labels": [{"category": "A", "offset": 0, "length": 1}]}],
             "trained_models": [{"label": "m1", "trained": "2025-02-02T00:00:00Z"}]}
    r = admin.post("/_emulator/accounts/src/language/projects", json=entry)
    assert r.status_code == 201, r.text
    assert r.json()["projectName"] == "seeded" and r.json()["lastTrainedDateTime"] == "2025-02-02T00:00:00Z"
    assert src.get("seeded").json() == r.json()
    assert admin.post("/_emulator/accounts/src/language/projects", json=entry).status_code == 409

    # "add an entity and relabel a document on the source"
    advance(admin, 3600)
    r = admin.post("/_emulator/accounts/src/language/projects", json={
        "project_name": "seeded", "replace": True, "entities": ["A", "B"],
        "documents": [{"location": "x.txt", "labels": [{"category": "B", "offset": 0, "length": 2}]}]})
    assert r.status_code == 200, r.text
    replaced = r.json()
    assert replaced["createdDateTime"] == "2025-02-01T00:00:00Z"  # kept
    assert abs(ts(replaced["lastModifiedDateTime"]) - emulator_now(admin)) < 5  # = now
    assert replaced["lastTrainedDateTime"] == "2025-02-02T00:00:00Z"  # models kept: now older than the assets
    assert [m["label"] for m in src.get("seeded/models").json()["value"]] == ["m1"]
    assets = exported(admin, src, "seeded")["assets"]
    assert assets["entities"] == [{"category": "A"}, {"category": "B"}]
    assert assets["documents"][0]["entities"][0]["labels"] == [{"category": "B", "offset": 0, "length": 2}]
    r = admin.post("/_emulator/accounts/src/language/projects", json={"project_name": "brand-new", "replace": True})
    assert r.status_code == 201

    for body, key in (({"project_name": "x", "colour": 1}, "language_project.colour"),
                      ({}, "language_project.project_name"),
                      ({"project_name": "x", "documents": [{"location": "a", "labels": [{"category": "Z", "offset": 0, "length": 1}]}]},
                       "language_project.documents[0].labels[0].category"),
                      ({"project_name": "x", "replace": "yes"}, "language_project.replace")):
        r = admin.post("/_emulator/accounts/src/language/projects", json=body)
        assert r.status_code == 400 and key in r.json()["error"]["message"], r.text
    assert admin.post("/_emulator/accounts/nobody/language/projects", json={"project_name": "x"}).status_code == 404

    assert admin.delete("/_emulator/accounts/src/language/projects/seeded").status_code == 204
    assert src.get("seeded").status_code == 404
    assert admin.delete("/_emulator/accounts/src/language/projects/seeded").status_code == 404
    accounts = {a["name"]: a for a in admin.get("/_emulator/accounts").json()["accounts"]}
    assert accounts["src"]["language_projects"] == ["alpha", "beta", "brand-new", "contracts-ner", "tickets"]
    assert accounts["dst"]["language_projects"] == ["contracts-ner"]


def test_reset_restores_the_language_state(http, emu, admin):
    src, dst = Lang(http, emu, "src"), Lang(http, emu, "dst")
    finish(admin, dst, dst.start("POST", "contracts-ner/:import", json=exported(admin, src, "contracts-ner")))
    location = src.start("DELETE", "alpha")
    advance(admin, COPY_SECONDS + 1)
    assert src.get("alpha").status_code == 404
    assert admin.post("/_emulator/reset").status_code == 200
    assert src.get("alpha").status_code == 200
    assert dst.get("contracts-ner").json()["createdDateTime"] == "2024-06-01T00:00:00Z"
    assert exported(admin, dst, "contracts-ner")["assets"]["entities"] == [{"category": "Old"}]
    assert src.url(location).status_code == 404  # jobs are gone too


def test_the_openapi_hook_checks_language_responses(http, emu, conformance):
    """Guards against a silently disabled check."""
    before = conformance.checked
    src = Lang(http, emu, "src")
    src.get()
    src.get("contracts-ner")
    src.get("contracts-ner/models")
    src.get("nope")  # an error body is checked against the 'default' response
    src.get(key="wrong")  # a gateway answer: not checked
    Lang(http, emu, "src", "2099-01-01").get()  # no spec
    assert conformance.checked == before + 4


def test_validator_maps_language_urls_and_resolves_common_refs():
    base = "http://127.0.0.1:1/language/authoring/analyze-text/projects"

    def check(method: str, url: str, status: int, body: Any) -> ov.Checked:
        return ov.check_exchange(ov.Exchange(method, url, status, {"Content-Type": "application/json"}, body))

    c = check("GET", f"{base}/p?api-version={V23}", 404, {"error": {"code": "ProjectNotFound", "message": "m", "details": [{"code": "X", "message": "y"}]}})
    assert c.spec is not None and c.spec.operation_id == "TextAnalysisAuthoring_GetProject"
    assert any("'X' is not one of" in p for p in c.problems)  # common.json's ErrorCode enum is applied
    c = check("GET", f"{base}/p/models/m?api-version={V23}", 200, {"label": "m", "modelId": "x", "lastTrainedDateTime": "2025-01-01T00:00:00Z",
                                                                     "lastTrainingDurationInSeconds": 1, "modelExpirationDate": "2026-01-01",
                                                                     "modelTrainingConfigVersion": "2022-05-01"})
    assert any("'hasSnapshot' is a required property" in p for p in c.problems)
    c = check("GET", f"{base}/p/models/m?api-version={V22}", 200, {"label": "m", "modelId": "x", "lastTrainedDateTime": "2025-01-01T00:00:00Z",
                                                                     "lastTrainingDurationInSeconds": 1, "modelExpirationDate": "2026-01-01",
                                                                     "modelTrainingConfigVersion": "2022-05-01", "hasSnapshot": True})
    assert any("'hasSnapshot' was unexpected" in p for p in c.problems)
    c = check("DELETE", f"{base}/p?api-version={V23}", 202, None)
    assert any("operation-location missing" in p for p in c.problems)
    assert check("GET", f"{base}/p/export/jobs/j/result?api-version={V23}", 200, {}).spec is None


# --- config ----------------------------------------------------------------------------------------------------------


def _config_with(entry: Any) -> dict[str, Any]:
    return {"accounts": {"a": {"region": "eastus", "key": "k", "language_projects": [entry]}}}


@pytest.mark.parametrize(
    ("entry", "where"),
    [
        ({}, "language_projects[0].project_name"),
        ({"project_name": "bad name"}, "language_projects[0].project_name"),
        ({"project_name": "p", "colour": 1}, "language_projects[0].colour"),
        ({"project_name": "p", "project_kind": "CustomHealthcare"}, "language_projects[0].project_kind"),
        ({"project_name": "p", "multilingual": "no"}, "language_projects[0].multilingual"),
        ({"project_name": "p", "settings": {"confidenceThreshold": 2}}, "language_projects[0].settings.confidenceThreshold"),
        ({"project_name": "p", "settings": {"other": 1}}, "language_projects[0].settings.other"),
        ({"project_name": "p", "created": "yesterday"}, "language_projects[0].created"),
        ({"project_name": "p", "created": "2025-01-02T00:00:00Z", "last_modified": "2025-01-01T00:00:00Z"}, "language_projects[0].last_modified"),
        ({"project_name": "p", "entities": ["A", "A"]}, "language_projects[0].entities"),
        ({"project_name": "p", "classes": ["A"]}, "language_projects[0].classes"),
        ({"project_name": "p", "documents": [{"labels": []}]}, "language_projects[0].documents[0].location"),
        ({"project_name": "p", "documents": [{"location": "a", "dataset": "Dev"}]}, "language_projects[0].documents[0].dataset"),
        ({"project_name": "p", "entities": ["A"], "documents": [{"location": "a", "labels": [{"category": "B", "offset": 0, "length": 1}]}]},
         "language_projects[0].documents[0].labels[0].category"),
        ({"project_name": "p", "entities": ["A"], "documents": [{"location": "a", "labels": [{"category": "A", "offset": -1, "length": 1}]}]},
         "language_projects[0].documents[0].labels[0].offset"),
        ({"project_name": "p", "entities": ["A"], "documents": [{"location": "a", "labels": [{"category": "A", "offset": 0}]}]},
         "language_projects[0].documents[0].labels[0].length"),
        ({"project_name": "p", "entities": ["A"], "documents": [{"location": "a", "region_length": 1,
                                                                  "labels": [{"category": "A", "offset": 0, "length": 3}]}]},
         "language_projects[0].documents[0].labels[0]"),
        ({"project_name": "p", "documents": [{"location": "a"}, {"location": "a"}]}, "language_projects[0].documents[1].location"),
        ({"project_name": "p", "project_kind": "CustomSingleLabelClassification", "classes": ["A", "B"],
          "documents": [{"location": "a", "classes": ["A", "B"]}]}, "language_projects[0].documents[0].classes"),
        ({"project_name": "p", "trained_models": [{"training_config_version": "2022-05-01"}]}, "language_projects[0].trained_models[0].label"),
        ({"project_name": "p", "trained_models": [{"label": "m"}, {"label": "m"}]}, "language_projects[0].trained_models[1].label"),
        ({"project_name": "p", "created": "2025-01-02T00:00:00Z", "trained_models": [{"label": "m", "trained": "2025-01-01T00:00:00Z"}]},
         "language_projects[0].trained_models[0].trained"),
        ({"project_name": "p", "deployments": [{"name": "prod", "model_label": "m"}]}, "language_projects[0].deployments[0].model_label"),
        ({"project_name": "p", "trained_models": [{"label": "m"}], "deployments": [{"model_label": "m"}]}, "language_projects[0].deployments[0].name"),
    ],
)
def test_language_config_errors_name_the_key(entry: dict[str, Any], where: str):
    with pytest.raises(ConfigError) as info:
        parse_config(_config_with(entry), source="emu.toml")
    assert str(info.value).startswith(f"emu.toml: accounts.a.{where}: "), str(info.value)


def test_language_config_rejects_duplicate_projects_and_defaults():
    with pytest.raises(ConfigError, match=r"accounts\.a\.language_projects\[1\]\.project_name: duplicate"):
        parse_config({"accounts": {"a": {"region": "eastus", "key": "k", "language_projects": [{"project_name": "p"}, {"project_name": "p"}]}}})
    with pytest.raises(ConfigError, match=r"accounts\.a\.language_projects: must be an array"):
        parse_config({"accounts": {"a": {"region": "eastus", "key": "k", "language_projects": {"project_name": "p"}}}})
    [seed] = parse_config(_config_with({"project_name": "p"})).accounts["a"].language_projects
    assert (seed.project_kind, seed.language, seed.storage_input_container, seed.multilingual) == ("CustomEntityRecognition", "en", "p-docs", False)
    assert seed.assets == {"projectKind": "CustomEntityRecognition", "entities": [], "documents": []}
