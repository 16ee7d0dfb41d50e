"""Content Understanding analyzers in the emulator, over real HTTP with httpx (contracts §5; emulator README
"Content Understanding").

The emulator runs as a subprocess (``drplan.emulator.launch.start_emulator``). Every response on a CU route that the
official OpenAPI files define is validated against ``contentunderstanding-2025-11-01.json`` /
``contentunderstanding-2025-05-01-preview.json`` by an httpx event hook (``openapi_validation.check_exchange``), which
also checks that every CU backend error carries ``x-ms-error-code`` equal to the body's code. The one spec problem
tolerated is the ``:grantCopyAuthorization`` answer's missing ``source``: the emulator answers the shape of the live
service's recordings instead (``drplan/emulator/services/content_understanding.py``, grant route). Time-dependent
behaviour (operation progress, grant/token expiry, retention) is driven with ``POST /_emulator/clock``.
"""

from __future__ import annotations

import re
import sys
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import emulator_fixtures
import openapi_validation as ov
from emulator_fixtures import _fresh, admin, http  # noqa: F401

from drplan.emulator.config import ConfigError, parse_config

GA, PREVIEW = "2025-11-01", "2025-05-01-preview"
SUB = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts"
REGIONS = {"src": "eastus", "dst": "westus2", "nodeploy": "westus", "mismatch": "centralus", "chatdiff": "northeurope",
           "legacy": "eastus2"}
KEYS = {name: f"key-{name}" for name in REGIONS}
TTL = 3600
RETENTION = 600
MODELS = {"completion": "gpt-4.1", "embedding": "text-embedding-3-large"}
STANDARD = """deployments = { "gpt41" = "gpt-4.1", "emb3l" = "text-embedding-3-large" }
model_deployments = { "gpt-4.1" = "gpt41", "text-embedding-3-large" = "emb3l" }"""
FIELD_SCHEMA = {"name": "invoice", "fields": {"total": {"type": "number", "description": "Total"}}}


def _account(name: str, extra: str = "") -> str:
    return f"""
[accounts.{name}]
region = "{REGIONS[name]}"
key = "{KEYS[name]}"
resource_id = "{SUB}/{name}"
{extra}
"""


CONFIG = f"""
seed = 5

[settings]
page_size = 2
copy_seconds = 1.0
authorization_ttl_seconds = {TTL}
operation_retention_seconds = {RETENTION}
""" + _account("src", STANDARD + "\ntoken_flow = true") + """
[[accounts.src.analyzers]]
analyzer_id = "invoice"
description = "Invoices"
tags = { team = "ap" }
base_analyzer_id = "prebuilt-document"
models = { completion = "gpt-4.1", embedding = "text-embedding-3-large" }
config = { enableOcr = true, enableLayout = true, returnDetails = true }
field_schema = { name = "invoice", fields = { total = { type = "number", description = "Total" } } }
processing_location = "global"
created = "2025-01-01T00:00:00Z"

[[accounts.src.analyzers]]
analyzer_id = "receipt"
description = "Receipts"
config = { enableOcr = true }
created = 2025-02-01T08:30:00Z
knowledge_sources = [{ kind = "labeledData", containerUrl = "https://example.blob.core.windows.net/labels", fileListPath = "files.jsonl" }]

[[accounts.src.analyzers]]
analyzer_id = "alpha"

[[accounts.src.analyzers]]
analyzer_id = "beta"
dynamic_field_schema = true

[[accounts.src.analyzers]]
analyzer_id = "building"
status = "creating"
""" + _account("dst", STANDARD + "\ntoken_flow = true") + """
[[accounts.dst.analyzers]]
analyzer_id = "taken"
description = "already here"
""" + _account("nodeploy") + _account("mismatch", """deployments = { "chat" = "gpt-4o", "emb" = "text-embedding-3-small", "emb3l" = "text-embedding-3-large" }
model_deployments = { "gpt-4.1" = "chat", "text-embedding-3-large" = "emb" }
token_flow = true""") + _account("chatdiff", """deployments = { "chat" = "gpt-4o", "emb3l" = "text-embedding-3-large" }
model_deployments = { "gpt-4.1" = "chat", "text-embedding-3-large" = "emb3l" }""") + _account("legacy", STANDARD)

SRC_IDS = ["alpha", "beta", "building", "invoice", "receipt"]
#: The live grant answer has no ``source`` although the spec requires one (cu.py): the one spec problem tolerated.
GRANT_SOURCE_PROBLEM = re.compile(r"^POST /analyzers/[^ ]+:grantCopyAuthorization -> 200 .*'source' is a required property")
#: ``expiresAt`` of a grant as recorded: .NET round-trip form, up to 7 fractional digits, ``+00:00``.
NET_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?\+00:00$")
APIM_NOT_FOUND = {"error": {"code": "404", "message": "Resource not found"}}


# --- fixtures ------------------------------------------------------------------------------------------------------


emu = emulator_fixtures.emulator_fixture(CONFIG, "emulator-cu")


class Conformance(emulator_fixtures.Conformance):
    """Every CU response against its OpenAPI file; every CU backend error carries ``x-ms-error-code`` = body code."""

    def __init__(self) -> None:
        super().__init__()
        self.cu_checked = 0

    def hook(self, response: httpx.Response) -> None:
        is_cu = "/contentunderstanding/" in response.request.url.path
        if is_cu and response.status_code in (401, 429):
            return  # gateway answers keep the emulator's shared shapes (no x-ms-error-code; README)
        super().hook(response)
        self.problems = [p for p in self.problems if not GRANT_SOURCE_PROBLEM.search(p)]
        if not is_cu or response.status_code < 400:
            return
        body = response.json()
        code = body["error"]["code"]
        self.cu_checked += 1
        if response.headers.get("x-ms-error-code") != code:
            self.problems.append(f"{response.request.method} {response.request.url} -> {response.status_code}: "
                                 f"x-ms-error-code {response.headers.get('x-ms-error-code')!r} != body code {code!r}")


@pytest.fixture(scope="module")
def conformance() -> Conformance:
    return Conformance()


class CU:
    """One account's Content Understanding endpoint with its key."""

    def __init__(self, http: httpx.Client, emu, account: str, api_version: str = GA) -> None:
        self.http, self.emu, self.account, self.api_version = http, emu, account, api_version
        self.endpoint = emu.account_url(account)
        self.base = f"{self.endpoint}/contentunderstanding"

    def url(self, path: str) -> str:
        return f"{self.base}/{path}"

    def request(self, method: str, path: str, *, key: str | None = None, params: dict[str, str] | None = None,
                **kw: Any) -> httpx.Response:
        headers = {"Ocp-Apim-Subscription-Key": KEYS[self.account] if key is None else key, **kw.pop("headers", {})}
        query = {"api-version": self.api_version, **(params or {})}
        return self.http.request(method, self.url(path), params=query, headers=headers, **kw)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def analyzer(self, analyzer_id: str) -> dict[str, Any]:
        r = self.get(f"analyzers/{analyzer_id}")
        assert r.status_code == 200, r.text
        return r.json()

    def follow(self, url: str) -> httpx.Response:
        return self.http.get(url, headers={"Ocp-Apim-Subscription-Key": KEYS[self.account]})

    def grant(self, analyzer_id: str, target: str, **body: Any) -> httpx.Response:
        payload = {"targetAzureResourceId": f"{SUB}/{target}", "targetRegion": REGIONS[target], **body}
        return self.request("POST", f"analyzers/{analyzer_id}:grantCopyAuthorization", json=payload)

    def copy(self, target_id: str, source_id: str, source: str | None = None, *, allow_replace: bool | None = None,
             **body: Any) -> httpx.Response:
        payload: dict[str, Any] = {"sourceAnalyzerId": source_id}
        if source is not None:
            payload.update(sourceAzureResourceId=f"{SUB}/{source}", sourceRegion=REGIONS[source])
        payload.update(body)
        params = {"allowReplace": str(allow_replace).lower()} if allow_replace is not None else None
        return self.request("POST", f"analyzers/{target_id}:copy", params=params, json=payload)

    def token(self, analyzer_id: str, **body: Any) -> dict[str, Any]:
        r = self.request("POST", f"analyzers/{analyzer_id}:getCopyAuthorization", json=body)
        assert r.status_code == 200, r.text
        return r.json()


def cu(http, emu, account: str, api_version: str = GA) -> CU:
    return CU(http, emu, account, api_version)


def advance(admin: httpx.Client, seconds: float) -> None:
    r = admin.post("/_emulator/clock", json={"advance_seconds": seconds})
    assert r.status_code == 200, r.text


def emulator_now(admin: httpx.Client) -> float:
    return ts(admin.get("/_emulator/clock").json()["now"])


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def error_of(r: httpx.Response) -> tuple[int, str, str | None, str]:
    body = r.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert r.headers.get("x-ms-error-code") == err["code"]
    return r.status_code, err["code"], (err.get("innererror") or {}).get("code"), err["message"]


def set_faults(admin: httpx.Client, **values: Any) -> None:
    r = admin.put("/_emulator/faults", json=values)
    assert r.status_code == 200, r.text


def finish(admin: httpx.Client, target: CU, accepted: httpx.Response) -> dict[str, Any]:
    """Move the clock past the operation and poll it once; returns the operation status body."""
    advance(admin, 2)
    r = target.follow(accepted.headers["Operation-Location"])
    assert r.status_code == 200, r.text
    return r.json()


def definition(analyzer: dict[str, Any]) -> dict[str, Any]:
    skip = {"analyzerId", "status", "createdAt", "lastModifiedAt", "warnings"}
    return {k: v for k, v in analyzer.items() if k not in skip}


# --- list / get ----------------------------------------------------------------------------------------------------


def test_list_pages_with_an_absolute_next_link(http, emu, conformance):
    src = cu(http, emu, "src")
    r = src.get("analyzers")
    pages = [r.json()]
    while "nextLink" in pages[-1]:
        link = pages[-1]["nextLink"]
        parts = urlsplit(link)
        assert link.startswith(f"{src.base}/analyzers?") and set(parse_qs(parts.query)) == {"nextLink", "api-version"}
        r = src.follow(link)
        assert r.status_code == 200, r.text
        pages.append(r.json())
    assert [len(p["value"]) for p in pages] == [2, 2, 1]
    assert [a["analyzerId"] for p in pages for a in p["value"]] == SRC_IDS  # custom analyzers only, by id
    bad = src.get("analyzers", params={"nextLink": "!!"})
    assert error_of(bad)[:3] == (400, "InvalidRequest", "InvalidParameter")
    assert conformance.checked >= 4


def test_get_analyzer_full_shape_and_preview_shape(http, emu):
    invoice = cu(http, emu, "src").analyzer("invoice")
    assert invoice == {
        "analyzerId": "invoice",
        "description": "Invoices",
        "tags": {"team": "ap"},
        "status": "ready",
        "createdAt": "2025-01-01T00:00:00Z",
        "lastModifiedAt": "2025-01-01T00:00:00Z",
        "baseAnalyzerId": "prebuilt-document",
        "config": {"enableOcr": True, "enableLayout": True, "returnDetails": True},
        "fieldSchema": FIELD_SCHEMA,
        "processingLocation": "global",
        "models": MODELS,
    }
    assert cu(http, emu, "src").analyzer("alpha").keys() == {"analyzerId", "status", "createdAt", "lastModifiedAt"}
    beta = cu(http, emu, "src").analyzer("beta")
    assert beta["dynamicFieldSchema"] is True
    receipt = cu(http, emu, "src").analyzer("receipt")
    assert receipt["createdAt"] == "2025-02-01T08:30:00Z"  # a TOML date-time
    assert receipt["knowledgeSources"] == [{"kind": "labeledData", "containerUrl": "https://example.blob.core.windows.net/labels",
                                            "fileListPath": "files.jsonl"}]
    assert cu(http, emu, "src").analyzer("building")["status"] == "creating"
    preview = cu(http, emu, "src", PREVIEW).analyzer("invoice")  # no models / dynamicFieldSchema in the preview
    assert "models" not in preview and preview["fieldSchema"] == FIELD_SCHEMA
    assert "dynamicFieldSchema" not in cu(http, emu, "src", PREVIEW).analyzer("beta")


def test_missing_analyzer_and_unknown_routes(http, emu):
    src = cu(http, emu, "src")
    r = src.get("analyzers/nope")
    assert error_of(r) == (404, "NotFound", None, "Analyzer 'nope' not found.")
    for path in ("analyzers/nope:frobnicate", "analyzers/a/b", "widgets"):
        r = src.get(path)
        assert r.status_code == 404 and r.json() == APIM_NOT_FOUND and r.headers["x-ms-error-code"] == "404"
    for version in ("2024-11-30", "2026-06-01-preview", None):
        r = http.get(src.url("analyzers"), params={"api-version": version} if version else {},
                     headers={"Ocp-Apim-Subscription-Key": KEYS["src"]})
        assert r.status_code == 404 and r.json() == APIM_NOT_FOUND
    assert src.get("analyzers", key="wrong").status_code == 401


def test_every_answer_carries_request_ids(http, emu, admin):
    """apim-request-id (a GUID, new per answer) on every CU answer [contracts §1, R: every response of the CU SDK
    recordings cited in cu.py]; x-ms-client-request-id echoed when sent [S: declared on the CU operations' answers];
    x-ms-error-code = the error code on backend errors [S: every operation's ``default`` answer]."""
    src = cu(http, emu, "src")
    answers: list[tuple[httpx.Response, bool]] = []  # (answer, a CU backend error?)

    def send(method: str, path: str, **kw: Any) -> httpx.Response:
        rid = str(uuid.uuid4())
        r = src.request(method, path, headers={"x-ms-client-request-id": rid}, **kw)
        assert r.headers.get("x-ms-client-request-id") == rid, (method, path, r.status_code, r.headers)
        answers.append((r, r.status_code >= 400 and r.status_code not in (401, 429)))
        return r

    assert send("GET", "analyzers/invoice").status_code == 200
    assert send("GET", "analyzers").status_code == 200
    created = send("PUT", "analyzers/ids", json={"baseAnalyzerId": "prebuilt-document"})
    assert created.status_code == 201
    advance(admin, 2)
    op_path = urlsplit(created.headers["Operation-Location"]).path.split("/contentunderstanding/", 1)[1]
    assert send("GET", op_path).status_code == 200
    assert send("PATCH", "analyzers/ids", json={"description": "d"}).status_code == 200
    assert send("DELETE", "analyzers/ids").status_code == 204
    assert send("GET", "defaults").status_code == 200
    assert send("POST", "analyzers/invoice:grantCopyAuthorization", json={"targetAzureResourceId": f"{SUB}/dst"}).status_code == 200
    assert send("POST", "analyzers/invoice:grantCopyAuthorization", json={}).status_code == 400
    assert send("GET", "analyzers/nope").status_code == 404
    assert send("POST", "analyzers/x:copy", json={"sourceAnalyzerId": "nope"}).status_code == 404
    assert send("GET", "widgets").status_code == 404  # APIM's 404 on a CU route: x-ms-error-code "404" too (README)
    assert send("GET", "analyzers", key="wrong").status_code == 401  # gateway: no x-ms-error-code
    ids = [r.headers["apim-request-id"] for r, _ in answers]
    assert all(str(uuid.UUID(i)) == i for i in ids) and len(set(ids)) == len(ids)
    for r, backend_error in answers:
        if backend_error:
            assert r.headers["x-ms-error-code"] == r.json()["error"]["code"], (r.request.url, r.headers)
        elif r.status_code < 400:
            assert "x-ms-error-code" not in r.headers
    r = src.get("analyzers/invoice")  # nothing sent, nothing echoed
    assert "x-ms-client-request-id" not in r.headers and uuid.UUID(r.headers["apim-request-id"])


# --- defaults ------------------------------------------------------------------------------------------------------


def test_defaults_merge_patch_with_null_removal(http, emu):
    src = cu(http, emu, "src")
    r = src.get("defaults")
    assert r.json() == {"modelDeployments": {"gpt-4.1": "gpt41", "text-embedding-3-large": "emb3l"}}
    r = src.request("PATCH", "defaults", content=b'{"modelDeployments": {"gpt-4.1": "newGpt41", "gpt-4o": "g4o"}}',
                    headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    assert r.json() == {"modelDeployments": {"gpt-4.1": "newGpt41", "text-embedding-3-large": "emb3l", "gpt-4o": "g4o"}}
    r = src.request("PATCH", "defaults", json={"modelDeployments": {"gpt-4o": None, "missing": None}})  # application/json
    assert r.json()["modelDeployments"] == {"gpt-4.1": "newGpt41", "text-embedding-3-large": "emb3l"}
    assert src.get("defaults").json()["modelDeployments"] == r.json()["modelDeployments"]
    assert src.request("PATCH", "defaults", json={}).json() == r.json()  # an empty patch changes nothing
    for bad in ({"modelDeployments": {"x": 1}}, {"modelDeployments": ["x"]}, {"other": {}}, ["x"]):
        assert error_of(src.request("PATCH", "defaults", json=bad))[:3] == (400, "InvalidRequest", "InvalidParameter")
    r = src.request("PATCH", "defaults", content=b"x=1", headers={"Content-Type": "text/plain"})
    assert error_of(r)[:2] == (415, "UnsupportedMediaType")
    r = src.request("PATCH", "defaults", json={"modelDeployments": None})
    assert r.json() == {"modelDeployments": {}}
    assert cu(http, emu, "dst").get("defaults").json()["modelDeployments"]["gpt-4.1"] == "gpt41"  # per account
    assert cu(http, emu, "nodeploy").get("defaults").json() == {"modelDeployments": {}}


# --- PUT / PATCH / DELETE / operations --------------------------------------------------------------------------------


def test_put_creates_through_an_operation(http, emu, admin):
    dst = cu(http, emu, "dst")
    body = {"description": "new", "tags": {"a": "1"}, "baseAnalyzerId": "prebuilt-document",
            "fieldSchema": FIELD_SCHEMA, "models": MODELS, "status": "ready", "analyzerId": "ignored"}
    before = emulator_now(admin)
    r = dst.request("PUT", "analyzers/fresh", json=body)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["status"] == "creating" and created["analyzerId"] == "fresh" and created["description"] == "new"
    assert created["createdAt"] == created["lastModifiedAt"] and abs(ts(created["createdAt"]) - before) < 5
    location = r.headers["Operation-Location"]
    assert location.startswith(f"{dst.base}/analyzers/fresh/operations/") and location.endswith(f"?api-version={GA}")
    first = dst.follow(location).json()
    assert first["status"] in ("NotStarted", "Running") and set(first) == {"id", "status"}
    assert dst.analyzer("fresh")["status"] == "creating"
    done = finish(admin, dst, r)
    assert done["status"] == "Succeeded" and done["id"] == location.split("/operations/")[1].split("?")[0]
    assert done["result"]["status"] == "ready" and definition(done["result"]) == definition(created)
    assert dst.analyzer("fresh")["status"] == "ready"

    again = dst.request("PUT", "analyzers/fresh", json={"description": "v2"})
    assert error_of(again)[:3] == (409, "Conflict", "AnalyzerExists")
    replaced = dst.request("PUT", "analyzers/fresh", params={"allowReplace": "true"}, json={"description": "v2"})
    assert replaced.status_code == 200 and replaced.json()["status"] == "creating"
    assert ts(replaced.json()["lastModifiedAt"]) > ts(created["lastModifiedAt"])
    assert finish(admin, dst, replaced)["result"]["description"] == "v2"
    assert "models" not in dst.analyzer("fresh")  # replaced whole, not merged


def test_put_validation_and_deployment_checks(http, emu):
    dst, nodeploy = cu(http, emu, "dst"), cu(http, emu, "nodeploy")
    cases = [
        ("analyzers/bad%20id", {}, "InvalidParameter"),
        ("analyzers/ok", {"unknownKey": 1}, "InvalidParameter"),
        ("analyzers/ok", {"tags": {"a": 1}}, "InvalidParameter"),
        ("analyzers/ok", {"processingLocation": "moon"}, "InvalidParameter"),
        ("analyzers/ok", {"fieldSchema": {"name": "no fields"}}, "InvalidParameter"),
        ("analyzers/ok", {"baseAnalyzerId": "bad id"}, "InvalidParameter"),
    ]
    for path, body, inner in cases:
        assert error_of(dst.request("PUT", path, json=body))[:3] == (400, "InvalidRequest", inner), (path, body)
    assert error_of(dst.request("PUT", "analyzers/ok", content=b"{nope"))[:3] == (400, "InvalidRequest", "InvalidParameter")
    assert error_of(dst.request("PUT", "analyzers/ok", params={"allowReplace": "maybe"}, json={}))[0] == 400
    status, code, inner, message = error_of(nodeploy.request("PUT", "analyzers/ok", json={"models": MODELS}))
    assert (status, code, inner) == (400, "InvalidRequest", "ModelDeploymentNotFound")
    assert "completion" in message and "gpt-4.1" in message
    assert nodeploy.get("analyzers/ok").status_code == 404  # nothing created
    # the preview has no models; its own keys (mode) are accepted there and not shown through GA
    pv = cu(http, emu, "nodeploy", PREVIEW)
    assert error_of(pv.request("PUT", "analyzers/ok", json={"models": MODELS}))[0] == 400
    r = pv.request("PUT", "analyzers/ok", json={"mode": "standard", "description": "p"})
    assert r.status_code == 201 and r.json()["mode"] == "standard"
    assert "mode" not in nodeploy.analyzer("ok")


def test_patch_merges_description_and_tags(http, emu, admin):
    src = cu(http, emu, "src")
    before = src.analyzer("invoice")
    advance(admin, 5)
    r = src.request("PATCH", "analyzers/invoice", content=b'{"description": "Invoices v2", "tags": {"team": null, "cost": "42"}}',
                    headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["description"] == "Invoices v2" and after["tags"] == {"cost": "42"}
    assert after["createdAt"] == before["createdAt"] and ts(after["lastModifiedAt"]) > ts(before["lastModifiedAt"])
    assert definition(after) == {**definition(before), "description": "Invoices v2", "tags": {"cost": "42"}}
    r = src.request("PATCH", "analyzers/invoice", json={"description": None})
    assert "description" not in r.json()
    for bad in ({"models": {}}, {"tags": ["x"]}, {"description": 3}):
        assert error_of(src.request("PATCH", "analyzers/invoice", json=bad))[:3] == (400, "InvalidRequest", "InvalidParameter")
    assert error_of(src.request("PATCH", "analyzers/nope", json={}))[:2] == (404, "NotFound")
    r = src.request("PATCH", "analyzers/invoice", content=b"description=x", headers={"Content-Type": "text/plain"})
    assert error_of(r)[:2] == (415, "UnsupportedMediaType")


def test_delete(http, emu):
    src = cu(http, emu, "src")
    r = src.request("DELETE", "analyzers/alpha")
    assert r.status_code == 204 and r.content == b""
    assert error_of(src.get("analyzers/alpha"))[:2] == (404, "NotFound")
    assert error_of(src.request("DELETE", "analyzers/alpha"))[:2] == (404, "NotFound")


def test_operation_lookup_and_retention(http, emu, admin):
    dst = cu(http, emu, "dst")
    accepted = dst.request("PUT", "analyzers/kept", json={})
    location = accepted.headers["Operation-Location"]
    op_id = location.split("/operations/")[1].split("?")[0]
    assert error_of(dst.get("analyzers/kept/operations/unknown"))[:2] == (404, "NotFound")
    assert error_of(dst.get(f"analyzers/taken/operations/{op_id}"))[:2] == (404, "NotFound")  # another analyzer's
    assert error_of(cu(http, emu, "src").get(f"analyzers/kept/operations/{op_id}"))[:2] == (404, "NotFound")
    assert cu(http, emu, "dst", PREVIEW).get(f"analyzers/kept/operations/{op_id}").json()["id"] == op_id
    assert finish(admin, dst, accepted)["status"] == "Succeeded"
    advance(admin, RETENTION + 1)
    assert error_of(dst.follow(location))[:2] == (404, "NotFound")


def test_delete_while_creating_fails_the_operation(http, emu, admin):
    dst = cu(http, emu, "dst")
    accepted = dst.request("PUT", "analyzers/short-lived", json={})
    assert dst.request("DELETE", "analyzers/short-lived").status_code == 204
    done = finish(admin, dst, accepted)
    assert done["status"] == "Failed" and done["error"]["code"] == "Conflict" and "result" not in done
    assert dst.get("analyzers/short-lived").status_code == 404


# --- GA copy -------------------------------------------------------------------------------------------------------


def test_cross_resource_copy_happy_path_and_single_use(http, emu, admin):
    src, dst = cu(http, emu, "src"), cu(http, emu, "dst")
    before = emulator_now(admin)
    g = src.grant("invoice", "dst")
    assert g.status_code == 200, g.text
    grant = g.json()  # the recorded shape (cu.py): the target echoed, no source, no token
    assert grant == {"targetAzureResourceId": f"{SUB}/dst", "targetRegion": "westus2", "expiresAt": grant["expiresAt"]}
    assert NET_TIME.match(grant["expiresAt"]), grant["expiresAt"]
    assert abs(ts(grant["expiresAt"]) - (before + TTL)) < 5

    accepted = dst.copy("invoice-dr", "invoice", "src")
    assert accepted.status_code == 201, accepted.text
    body = accepted.json()
    assert body["analyzerId"] == "invoice-dr" and body["status"] == "creating" and "warnings" not in body
    location = accepted.headers["Operation-Location"]
    assert location.startswith(f"{dst.base}/analyzers/invoice-dr/operations/") and location.endswith(f"?api-version={GA}")
    done = finish(admin, dst, accepted)
    assert done["status"] == "Succeeded" and done["result"]["status"] == "ready"
    source, target = src.analyzer("invoice"), dst.analyzer("invoice-dr")
    assert target["status"] == "ready" and definition(target) == definition(source)
    assert target["createdAt"] == body["createdAt"] != source["createdAt"] and target["lastModifiedAt"] == target["createdAt"]

    again = dst.copy("invoice-dr2", "invoice", "src")  # the grant was consumed by the accepted copy
    assert error_of(again)[:3] == (403, "Forbidden", "CopyAuthorizationUsed")
    assert src.grant("invoice", "dst").status_code == 200  # a new grant replaces the used one
    assert dst.copy("invoice-dr2", "invoice", "src").status_code == 201


def test_same_resource_copy_needs_no_grant(http, emu, admin):
    src = cu(http, emu, "src")
    accepted = src.copy("invoice-copy", "invoice")  # only sourceAnalyzerId: this resource, this region
    assert accepted.status_code == 201, accepted.text
    assert finish(admin, src, accepted)["status"] == "Succeeded"
    assert definition(src.analyzer("invoice-copy")) == definition(src.analyzer("invoice"))
    explicit = src.copy("invoice-copy2", "invoice", "src")  # naming itself explicitly is the same
    assert explicit.status_code == 201
    assert error_of(src.copy("invoice", "invoice", allow_replace=True))[:3] == (400, "InvalidRequest", "InvalidParameter")


def test_grant_expiry_replacement_and_region(http, emu, admin):
    src, dst = cu(http, emu, "src"), cu(http, emu, "dst")
    assert error_of(dst.copy("x", "invoice", "src"))[:3] == (403, "Forbidden", "CopyAuthorizationNotFound")
    assert src.grant("invoice", "dst").status_code == 200
    advance(admin, TTL + 1)
    assert error_of(dst.copy("x", "invoice", "src"))[:3] == (403, "Forbidden", "CopyAuthorizationExpired")
    assert src.grant("invoice", "dst").status_code == 200  # replaces the expired grant
    assert src.grant("invoice", "nodeploy").status_code == 200  # grants are per target resource
    assert error_of(dst.copy("x", "receipt", "src"))[:3] == (403, "Forbidden", "CopyAuthorizationNotFound")  # per analyzer
    assert src.grant("receipt", "dst", targetRegion="westeurope").status_code == 200
    assert error_of(dst.copy("x", "receipt", "src"))[:3] == (403, "Forbidden", "CopyAuthorizationRegionMismatch")
    r = src.request("POST", "analyzers/receipt:grantCopyAuthorization", json={"targetAzureResourceId": f"{SUB}/DST"})
    assert r.status_code == 200 and r.json()["targetRegion"] == "eastus"  # no region: the current (source's) one [S]
    assert error_of(dst.copy("x", "receipt", "src"))[:3] == (403, "Forbidden", "CopyAuthorizationRegionMismatch")
    assert src.grant("receipt", "dst", targetAzureResourceId=f"{SUB}/DST", targetRegion="WestUS2").status_code == 200
    assert dst.copy("x", "receipt", "src").status_code == 201  # resource ids and regions compare case-insensitively
    assert dst.copy("y", "invoice", "src").status_code == 201


def test_grant_errors(http, emu):
    src = cu(http, emu, "src")
    assert error_of(src.grant("nope", "dst"))[:2] == (404, "NotFound")
    r = src.request("POST", "analyzers/invoice:grantCopyAuthorization", json={"targetRegion": "westus2"})
    assert error_of(r)[:3] == (400, "InvalidRequest", "MissingParameter")
    r = src.request("POST", "analyzers/invoice:grantCopyAuthorization", json={"targetAzureResourceId": 7})
    assert error_of(r)[:3] == (400, "InvalidRequest", "InvalidParameter")
    r = src.request("POST", "analyzers/invoice:grantCopyAuthorization")
    assert error_of(r)[:3] == (400, "InvalidRequest", "InvalidParameter")


def test_copy_checks_in_order(http, emu, admin):
    src, dst = cu(http, emu, "src"), cu(http, emu, "dst")
    assert error_of(dst.request("POST", "analyzers/x:copy", json={}))[:3] == (400, "InvalidRequest", "MissingParameter")
    assert error_of(dst.request("POST", "analyzers/x:copy", json={"sourceAnalyzerId": 5}))[:3] == (400, "InvalidRequest", "InvalidParameter")
    assert error_of(dst.request("POST", "analyzers/bad%20id:copy", json={"sourceAnalyzerId": "a"}))[0] == 400
    r = dst.copy("x", "invoice", sourceAzureResourceId=f"{SUB}/nowhere", sourceRegion="eastus")
    assert error_of(r)[:3] == (400, "InvalidRequest", "SourceResourceNotFound")
    r = dst.copy("x", "invoice", sourceAzureResourceId=f"{SUB}/src", sourceRegion="westus")  # wrong region
    assert error_of(r)[:3] == (400, "InvalidRequest", "SourceResourceNotFound")
    r = dst.copy("x", "invoice", sourceAzureResourceId=f"{SUB}/src")  # region defaults to the target's: not found
    assert error_of(r)[:3] == (400, "InvalidRequest", "SourceResourceNotFound")
    r = dst.copy("x", "invoice", sourceAzureResourceId=f"{SUB}/SRC", sourceRegion="EastUS")  # case-insensitive
    assert error_of(r)[:3] == (403, "Forbidden", "CopyAuthorizationNotFound")
    assert error_of(dst.copy("x", "nope", "src"))[:3] == (404, "NotFound", "SourceAnalyzerNotFound")
    assert error_of(dst.copy("x", "building", "src"))[:3] == (400, "InvalidRequest", "SourceAnalyzerNotReady")
    assert src.grant("invoice", "dst").status_code == 200
    assert error_of(dst.copy("taken", "invoice", "src"))[:3] == (409, "Conflict", "AnalyzerExists")
    assert error_of(dst.copy("taken", "invoice", "src", allow_replace=False))[0] == 409
    replaced = dst.copy("taken", "invoice", "src", allow_replace=True)  # the grant survived the failed attempts
    assert replaced.status_code == 201
    assert dst.analyzer("taken")["status"] == "creating"  # replaced at once
    assert finish(admin, dst, replaced)["result"]["description"] == "Invoices"


def test_deployment_checks_on_copy(http, emu, admin):
    src = cu(http, emu, "src")
    for target in ("nodeploy", "mismatch", "chatdiff"):
        assert src.grant("invoice", target).status_code == 200
    status, code, inner, message = error_of(cu(http, emu, "nodeploy").copy("x", "invoice", "src"))
    assert (status, code, inner) == (400, "InvalidRequest", "ModelDeploymentNotFound")
    assert "'completion'" in message and "'gpt-4.1'" in message and "none" in message

    status, code, inner, message = error_of(cu(http, emu, "mismatch").copy("x", "invoice", "src"))
    assert (status, code, inner) == (400, "InvalidRequest", "EmbeddingModelMismatch")
    assert "text-embedding-3-large" in message and "text-embedding-3-small" in message

    chatdiff = cu(http, emu, "chatdiff")
    accepted = chatdiff.copy("x", "invoice", "src")
    assert accepted.status_code == 201, accepted.text
    [warning] = accepted.json()["warnings"]
    assert warning["code"] == "CompletionModelMismatch" and "gpt-4o" in warning["message"] and "gpt-4.1" in warning["message"]
    done = finish(admin, chatdiff, accepted)
    assert done["result"]["warnings"] == [warning] and chatdiff.analyzer("x")["warnings"] == [warning]

    # a /defaults entry naming a deployment the account does not have
    nodeploy = cu(http, emu, "nodeploy")
    assert nodeploy.request("PATCH", "defaults", json={"modelDeployments": {"gpt-4.1": "ghost", "text-embedding-3-large": "e"}}).status_code == 200
    status, code, inner, message = error_of(nodeploy.copy("x", "invoice", "src"))
    assert inner == "ModelDeploymentNotFound" and "'ghost'" in message
    r = admin.put("/_emulator/accounts/nodeploy/deployments", json={"deployments": {"ghost": "gpt-4.1", "e": "text-embedding-3-large"}})
    assert r.status_code == 200 and r.json() == {"deployments": {"ghost": "gpt-4.1", "e": "text-embedding-3-large"}}
    assert nodeploy.copy("x", "invoice", "src").status_code == 201


def test_operation_failure_and_slow_faults(http, emu, admin):
    dst, src = cu(http, emu, "dst"), cu(http, emu, "src")
    set_faults(admin, account="dst", operation_failure_rate=1.0)
    assert src.grant("invoice", "dst").status_code == 200
    accepted = dst.copy("doomed", "invoice", "src")
    assert accepted.status_code == 201
    done = finish(admin, dst, accepted)
    assert done["status"] == "Failed" and done["error"] == {"code": "InternalServerError", "message": "An unexpected error occurred."}
    assert dst.analyzer("doomed")["status"] == "failed"
    set_faults(admin, account="dst", operation_failure_rate=0.0, slow=True)
    accepted = dst.request("PUT", "analyzers/slowpoke", json={})
    advance(admin, 5)  # 1 s x 10 in slow mode: still running
    assert dst.follow(accepted.headers["Operation-Location"]).json()["status"] == "Running"
    advance(admin, 6)
    assert dst.follow(accepted.headers["Operation-Location"]).json()["status"] == "Succeeded"


def test_route_faults_and_counters(http, emu, admin):
    src = cu(http, emu, "src")
    set_faults(admin, error_rate=1.0, routes=["cu:copy", "cu:defaults:get"])
    r = src.get("defaults")
    assert error_of(r)[:2] == (503, "ServiceUnavailable")
    assert src.copy("x", "invoice").status_code == 503
    assert src.get("analyzers").status_code == 200  # not a listed route
    counters = admin.get("/_emulator/counters").json()
    assert counters["requests"]["src"] == {"cu:defaults:get": 1, "cu:copy": 1, "cu:analyzers:list": 1}
    log = admin.get("/_emulator/requests").json()
    assert [(e["route"], e["status"], e["fault"]) for e in log] == [
        ("cu:defaults:get", 503, "error"), ("cu:copy", 503, "error"), ("cu:analyzers:list", 200, None)]
    set_faults(admin, error_rate=0.0, routes=[], drop_after_rate=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        src.copy("lost", "invoice")  # the copy happened, the answer was lost
    set_faults(admin, drop_after_rate=0.0)
    assert src.analyzer("lost")["analyzerId"] == "lost"


# --- token flow (contracts §5.4) -------------------------------------------------------------------------------------


def token_copy(target: CU, target_id: str, token: dict[str, Any], **body: Any) -> httpx.Response:
    payload = {"source": token["source"], "authorizationToken": token["authorizationToken"], **body}
    return target.request("POST", f"analyzers/{target_id}:copy", json=payload)


@pytest.mark.parametrize("api_version", [GA, PREVIEW])
def test_token_flow_with_target_lock(http, emu, admin, api_version):
    src, dst = cu(http, emu, "src", api_version), cu(http, emu, "dst", api_version)
    before = emulator_now(admin)
    target_url = f"{dst.base}/analyzers/invoice-dr"
    token = src.token("invoice", target=target_url)
    assert token["source"] == f"{src.base}/analyzers/invoice" and token["target"] == target_url
    assert len(token["authorizationToken"]) >= 32 and abs(ts(token["expiresAt"]) - (before + TTL)) < 5

    assert error_of(token_copy(dst, "elsewhere", token))[:3] == (403, "Forbidden", "TargetMismatch")
    assert error_of(token_copy(cu(http, emu, "mismatch", api_version), "invoice-dr", token))[2] == "TargetMismatch"
    accepted = token_copy(dst, "invoice-dr", token)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["analyzerId"] == "invoice-dr" and accepted.json()["status"] == "creating"
    location = accepted.headers["Operation-Location"]
    assert location.startswith(f"{dst.base}/analyzers/invoice-dr/operations/") and location.endswith(f"api-version={api_version}")
    assert finish(admin, dst, accepted)["status"] == "Succeeded"
    assert dst.analyzer("invoice-dr")["status"] == "ready"
    again = token_copy(dst, "invoice-dr", token)
    assert error_of(again)[:3] == (403, "Forbidden", "AuthorizationTokenUsed")


def test_token_flow_errors_encryption_and_overrides(http, emu, admin):
    src, dst = cu(http, emu, "src"), cu(http, emu, "dst")
    token = src.token("invoice")  # no target: any target analyzer
    assert "target" not in token
    forged = {**token, "authorizationToken": "forged"}
    assert error_of(token_copy(dst, "a", forged))[:3] == (403, "Forbidden", "InvalidAuthorizationToken")
    other = {**token, "source": f"{src.base}/analyzers/receipt"}  # a token for another analyzer
    assert error_of(token_copy(dst, "a", other))[2] == "InvalidAuthorizationToken"
    assert error_of(token_copy(dst, "a", {**token, "source": f"{src.base}/analyzers/nope"}))[:2] == (404, "NotFound")
    r = token_copy(dst, "a", {**token, "source": "http://elsewhere/contentunderstanding/analyzers/x"})
    assert error_of(r)[2] == "SourceResourceNotFound"
    assert error_of(dst.request("POST", "analyzers/a:copy", json={"authorizationToken": "t"}))[2] == "MissingParameter"
    assert error_of(token_copy(dst, "taken", token))[:3] == (409, "Conflict", "AnalyzerExists")
    assert error_of(token_copy(cu(http, emu, "mismatch"), "a", token))[2] == "EmbeddingModelMismatch"
    overridden = token_copy(cu(http, emu, "mismatch"), "a", token, deployments={"chatCompletion": "chat", "embedding": "emb3l"})
    assert overridden.status_code == 200, overridden.text  # the failed attempts did not use the token up
    assert overridden.json()["warnings"][0]["code"] == "CompletionModelMismatch"

    secret = src.token("invoice", encryptionKey="s3cret")
    assert error_of(token_copy(dst, "b", secret))[:3] == (400, "InvalidRequest", "InvalidDecryptionKey")
    assert error_of(token_copy(dst, "b", secret, decryptionKey="wrong"))[2] == "InvalidDecryptionKey"
    assert token_copy(dst, "b", secret, decryptionKey="s3cret").status_code == 200

    late = src.token("receipt")
    advance(admin, TTL + 1)
    assert error_of(token_copy(dst, "c", late))[:3] == (403, "Forbidden", "AuthorizationExpired")
    bad_target = src.request("POST", "analyzers/invoice:getCopyAuthorization", json={"target": "not a url"})
    assert error_of(bad_target)[:3] == (400, "InvalidRequest", "InvalidParameter")
    assert error_of(src.request("POST", "analyzers/nope:getCopyAuthorization", json={}))[:2] == (404, "NotFound")
    log = admin.get("/_emulator/requests").json()
    assert "s3cret" not in str(log) and secret["authorizationToken"] not in str(log)


def test_token_flow_off_and_preview_routes_answer_404(http, emu):
    legacy, src = cu(http, emu, "legacy"), cu(http, emu, "src")
    r = legacy.request("POST", "analyzers/x:getCopyAuthorization", json={})
    assert r.status_code == 404 and r.json() == APIM_NOT_FOUND
    token = src.token("invoice")
    r = token_copy(legacy, "x", token)  # token_flow = false on the target
    assert r.status_code == 404 and r.json() == APIM_NOT_FOUND
    pv = cu(http, emu, "src", PREVIEW)
    for method, path, body in (
        ("POST", "analyzers/invoice:grantCopyAuthorization", {"targetAzureResourceId": f"{SUB}/dst"}),
        ("POST", "analyzers/x:copy", {"sourceAnalyzerId": "invoice"}),  # the GA copy is not on the preview
        ("GET", "defaults", None),
        ("PATCH", "defaults", {"modelDeployments": {}}),
    ):
        r = pv.request(method, path, json=body)
        assert r.status_code == 404 and r.json() == APIM_NOT_FOUND, path


# --- admin API and config ------------------------------------------------------------------------------------------


def test_admin_seed_replace_remove_and_accounts(http, emu, admin):
    src = cu(http, emu, "src")
    body = {"analyzer_id": "seeded", "description": "Seeded", "models": MODELS, "tags": {"k": "v"},
            "field_schema": FIELD_SCHEMA, "created": "2025-03-01T00:00:00Z"}
    r = admin.post("/_emulator/accounts/src/analyzers", json=body)
    assert r.status_code == 201 and r.json()["createdAt"] == "2025-03-01T00:00:00Z"
    assert admin.post("/_emulator/accounts/src/analyzers", json=body).status_code == 409
    r = admin.post("/_emulator/accounts/src/analyzers", json={"analyzer_id": "seeded", "description": "Changed", "replace": True})
    assert r.status_code == 201
    changed = src.analyzer("seeded")
    assert changed["description"] == "Changed" and "models" not in changed
    assert changed["createdAt"] == "2025-03-01T00:00:00Z" and ts(changed["lastModifiedAt"]) > ts(changed["createdAt"])
    r = admin.post("/_emulator/accounts/src/analyzers", json={"analyzer_id": "seeded", "replace": True})
    assert ts(r.json()["lastModifiedAt"]) > ts(changed["lastModifiedAt"])  # every replace bumps it

    r = admin.post("/_emulator/accounts/src/analyzers", json={"analyzer_id": "x", "colour": "red"})
    assert r.status_code == 400 and "analyzer.colour" in r.json()["error"]["message"]
    assert admin.post("/_emulator/accounts/src/analyzers", json={"analyzer_id": "x", "replace": "yes"}).status_code == 400
    assert admin.post("/_emulator/accounts/ghost/analyzers", json={"analyzer_id": "x"}).status_code == 404
    assert admin.delete("/_emulator/accounts/src/analyzers/seeded").status_code == 204
    assert admin.delete("/_emulator/accounts/src/analyzers/seeded").status_code == 404
    assert src.get("analyzers/seeded").status_code == 404
    r = admin.put("/_emulator/accounts/src/deployments", json={"deployments": {"d": 1}})
    assert r.status_code == 400 and "deployments" in r.json()["error"]["message"]
    assert admin.put("/_emulator/accounts/src/deployments", json={"deployments": {"d": "m"}, "x": 1}).status_code == 400
    assert admin.put("/_emulator/accounts/src/deployments", json={"deployments": {"d": "m"}}).status_code == 200

    accounts = {a["name"]: a for a in admin.get("/_emulator/accounts").json()["accounts"]}
    assert accounts["src"]["analyzers"] == SRC_IDS and accounts["src"]["deployments"] == {"d": "m"}
    assert accounts["src"]["model_deployments"] == {"gpt-4.1": "gpt41", "text-embedding-3-large": "emb3l"}
    assert accounts["src"]["token_flow"] is True and accounts["legacy"]["token_flow"] is False
    assert accounts["nodeploy"]["analyzers"] == [] and accounts["nodeploy"]["deployments"] == {}

    assert admin.post("/_emulator/reset").status_code == 200
    accounts = {a["name"]: a for a in admin.get("/_emulator/accounts").json()["accounts"]}
    assert accounts["src"]["deployments"] == {"gpt41": "gpt-4.1", "emb3l": "text-embedding-3-large"}


def test_reset_restores_cu_state(http, emu, admin):
    src, dst = cu(http, emu, "src"), cu(http, emu, "dst")
    assert src.grant("invoice", "dst").status_code == 200
    assert dst.copy("copied", "invoice", "src").status_code == 201
    assert src.request("DELETE", "analyzers/alpha").status_code == 204
    assert src.request("PATCH", "defaults", json={"modelDeployments": None}).status_code == 200
    token = src.token("invoice")
    assert admin.post("/_emulator/reset").status_code == 200
    assert [a["analyzerId"] for a in src.get("analyzers", params={}).json()["value"]] == SRC_IDS[:2]
    assert dst.get("analyzers/copied").status_code == 404
    assert src.get("defaults").json()["modelDeployments"] == {"gpt-4.1": "gpt41", "text-embedding-3-large": "emb3l"}
    assert error_of(dst.copy("copied", "invoice", "src"))[2] == "CopyAuthorizationNotFound"  # grants are gone
    assert error_of(token_copy(dst, "copied", token))[2] == "InvalidAuthorizationToken"  # tokens too


def _config(extra: str) -> str:
    return f"""
[accounts.a]
region = "eastus"
key = "k"
{extra}
"""


@pytest.mark.parametrize("extra, path", [
    ('deployments = { "d" = 1 }', "accounts.a.deployments"),
    ('deployments = "d"', "accounts.a.deployments"),
    ('model_deployments = { "m" = "" }', "accounts.a.model_deployments"),
    ('token_flow = "yes"', "accounts.a.token_flow"),
    ('analyzers = "x"', "accounts.a.analyzers"),
    ('[[accounts.a.analyzers]]\ndescription = "no id"', "accounts.a.analyzers[0].analyzer_id"),
    ('[[accounts.a.analyzers]]\nanalyzer_id = "bad id"', "accounts.a.analyzers[0].analyzer_id"),
    ('[[accounts.a.analyzers]]\nanalyzer_id = "x"\ncolour = "red"', "accounts.a.analyzers[0].colour"),
    ('[[accounts.a.analyzers]]\nanalyzer_id = "x"\nprocessing_location = "moon"', "accounts.a.analyzers[0].processing_location"),
    ('[[accounts.a.analyzers]]\nanalyzer_id = "x"\nmodels = { completion = 4 }', "accounts.a.analyzers[0].models"),
    ('[[accounts.a.analyzers]]\nanalyzer_id = "x"\nconfig = "on"', "accounts.a.analyzers[0].config"),
    ('[[accounts.a.analyzers]]\nanalyzer_id = "x"\nconfig = { when = 2025-01-01T00:00:00Z }', "accounts.a.analyzers[0].config.when"),
    ('[[accounts.a.analyzers]]\nanalyzer_id = "x"\nfield_schema = 3', "accounts.a.analyzers[0].field_schema"),
    ('[[accounts.a.analyzers]]\nanalyzer_id = "x"\ntags = { a = 1 }', "accounts.a.analyzers[0].tags"),
    ('[[accounts.a.analyzers]]\nanalyzer_id = "x"\nstatus = "gone"', "accounts.a.analyzers[0].status"),
    ('[[accounts.a.analyzers]]\nanalyzer_id = "x"\ncreated = "yesterday"', "accounts.a.analyzers[0].created"),
    ('[[accounts.a.analyzers]]\nanalyzer_id = "x"\n[[accounts.a.analyzers]]\nanalyzer_id = "x"', "accounts.a.analyzers[1].analyzer_id"),
    ('colour = "red"', "accounts.a.colour"),
])
def test_config_errors_name_the_key(tmp_path, extra, path):
    import tomllib

    with pytest.raises(ConfigError) as info:
        parse_config(tomllib.loads(_config(extra)), source="emu.toml")
    assert f"emu.toml: {path}: " in str(info.value)


def test_config_defaults():
    import tomllib

    cfg = parse_config(tomllib.loads(_config("")), source="emu.toml")
    assert cfg.accounts["a"].cu.deployments == {} and cfg.accounts["a"].cu.token_flow is False
    assert cfg.accounts["a"].cu.analyzers == []
    assert all(name in ov.SPEC_BY_FAMILY_VERSION for name in (("contentunderstanding", GA), ("contentunderstanding", PREVIEW)))
