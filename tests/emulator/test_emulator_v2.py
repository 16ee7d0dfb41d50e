"""Form Recognizer v2.1 / v2.0 in the emulator, over real HTTP with httpx (contracts §4; emulator README
"Form Recognizer v2.1 / v2.0").

The emulator runs as a subprocess (``drplan.emulator.launch.start_emulator``). Every response on a v2 service route
is validated against ``formrecognizer-v2.1.json`` / ``formrecognizer-v2.0.json`` by an httpx event hook
(``openapi_validation.check_exchange``), which also checks that v2 backend errors carry ``x-ms-cs-error-code``.
Time-dependent behaviour (copy progress, expiry, retention) is driven with ``POST /_emulator/clock``.
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
import emulator_fixtures  # noqa: E402
import openapi_validation as ov  # noqa: E402
from emulator_fixtures import _fresh, admin, http  # noqa: E402,F401

from drplan.emulator.config import ConfigError, parse_config  # noqa: E402

SUB = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts"
KEYS = {"src": "key-src", "dst": "key-dst", "cmk": "key-cmk", "full": "key-full"}
REGIONS = {"src": "eastus", "dst": "westus", "cmk": "eastus2", "full": "northeurope"}

INVOICE = "0b6f0e62-4b1c-4f0e-9d64-6c1f3a0d2a01"
COMPOSED = "1c7a1f73-5c2d-4a1f-8e75-7d2a4b1e3b02"
LEGACY = "2d8b2a84-6d3e-4b2a-9f86-8e3b5c2f4c03"
CREATING = "3e9c3b95-7e4f-4c3b-8a97-9f4c6d305d04"
INVALID = "4fad4ca6-8f50-4d4c-9ba8-a05d7e416e05"
SECRET = "5abe5db7-9061-4e5d-8cb9-b16e8f527f06"
ONLY_ONE = "6bcf6ec8-a172-4f6e-9dca-c27f90638007"
SRC_IDS = sorted([INVOICE, COMPOSED, LEGACY, CREATING, INVALID])  # + one generated id

TTL = 3600
RETENTION = 600
CONFIG = f"""
seed = 11

[settings]
page_size = 2
copy_seconds = 0.2
authorization_ttl_seconds = {TTL}
operation_retention_seconds = {RETENTION}
retry_after_seconds = 1

[accounts.src]
region = "eastus"
key = "key-src"
resource_id = "{SUB}/src"

[[accounts.src.v2_models]]
model_id = "{INVOICE.upper()}"
model_name = "invoices"
created = "2021-03-01T10:00:00Z"
last_updated = "2021-03-01T10:05:00Z"

[[accounts.src.v2_models]]
model_id = "{COMPOSED}"
model_name = "composed"
is_composed = true
created = "2021-04-01T10:00:00Z"

[[accounts.src.v2_models]]
model_id = "{LEGACY}"
api_version = "2.0"
created = "2020-06-01T08:00:00Z"
last_updated = "2020-06-01T08:01:00Z"

[[accounts.src.v2_models]]
model_id = "{CREATING}"
status = "creating"

[[accounts.src.v2_models]]
model_id = "{INVALID}"
status = "invalid"

[[accounts.src.v2_models]]
model_name = "generated"

[[accounts.src.models]]
model_id = "v3-model"

[accounts.dst]
region = "westus"
key = "key-dst"
resource_id = "{SUB}/dst"
model_limit = 10

[accounts.cmk]
region = "eastus2"
key = "key-cmk"
resource_id = "{SUB}/cmk"
encryption = "customer-managed"

[[accounts.cmk.v2_models]]
model_id = "{SECRET}"
created = "2021-01-01T00:00:00Z"

[accounts.full]
region = "northeurope"
key = "key-full"
resource_id = "{SUB}/full"
model_limit = 1

[[accounts.full.v2_models]]
model_id = "{ONLY_ONE}"
"""

AUTH_ERROR = {  # the 2021 recording of a copy to a bad target (errors.V2_AUTHORIZATION_ERROR_CODE)
    "code": "2024",
    "message": "Could not retrieve authorization metadata. If this issue persists use a different target model to copy into.",
}
INVALID_CLAIMS = "Authorization failure due to missing or invalid authorization claims"
APIM_NOT_FOUND = {"error": {"code": "404", "message": "Resource not found"}}
SEVEN_DIGITS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")
WHOLE_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


# --- fixtures ------------------------------------------------------------------------------------------------------


emu = emulator_fixtures.emulator_fixture(CONFIG, "emulator-v2")


class Conformance(emulator_fixtures.Conformance):
    """Every v2 response against its OpenAPI file, v2 backend errors carry ``x-ms-cs-error-code`` equal to the
    body's code (contracts §1), and a failed copy result carries its first error's code in ``ms-azure-ai-errorcode``
    (the 2021 recording, drplan/emulator/errors.py)."""

    def extra_checks(self, response: httpx.Response, exchange: ov.Exchange, body: Any) -> None:
        gateway = response.status_code in (401, 429) or body == APIM_NOT_FOUND
        if response.status_code >= 400 and not gateway:
            code = body["error"]["code"] if isinstance(body, dict) else None
            if response.headers.get("x-ms-cs-error-code") != code:
                self.problems.append(f"{exchange.method} {exchange.url} -> {exchange.status}: x-ms-cs-error-code "
                                     f"{response.headers.get('x-ms-cs-error-code')!r} != body code {code!r}")
        if response.status_code == 200 and isinstance(body, dict) and (body.get("copyResult") or {}).get("errors"):
            code = body["copyResult"]["errors"][0]["code"]  # a failed copy result: ms-azure-ai-errorcode [R 2021]
            if response.headers.get("ms-azure-ai-errorcode") != code or "x-ms-cs-error-code" in response.headers:
                self.problems.append(f"{exchange.method} {exchange.url}: ms-azure-ai-errorcode "
                                     f"{response.headers.get('ms-azure-ai-errorcode')!r} != first error code {code!r}")


@pytest.fixture(scope="module")
def conformance() -> Conformance:
    return Conformance()


class V2:
    """One account through one v2 version segment, with its key."""

    def __init__(self, http: httpx.Client, emu, account: str, version: str = "v2.1") -> None:
        self.http, self.emu, self.account, self.version = http, emu, account, version
        self.base = f"{emu.account_url(account)}/formrecognizer/{version}"

    def request(self, method: str, path: str, *, key: str | None = None, **kw: Any) -> httpx.Response:
        headers = {"Ocp-Apim-Subscription-Key": KEYS[self.account] if key is None else key, **kw.pop("headers", {})}
        return self.http.request(method, f"{self.base}/{path}" if path else self.base, headers=headers, **kw)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def authorize(self) -> tuple[dict[str, Any], httpx.Response]:
        r = self.request("POST", "custom/models/copyAuthorization")
        assert r.status_code == 201, r.text
        return r.json(), r

    def copy(self, model_id: str, auth: dict[str, Any], target: str = "dst", *, region: str | None = None,
             resource_id: str | None = None, **kw: Any) -> httpx.Response:
        body = {
            "targetResourceId": resource_id or f"{SUB}/{target}",
            "targetResourceRegion": region or REGIONS[target],
            "copyAuthorization": auth,
        }
        return self.request("POST", f"custom/models/{model_id}/copy", json=body, **kw)

    def poll(self, accepted: httpx.Response) -> httpx.Response:
        r = self.http.get(accepted.headers["Operation-Location"], headers={"Ocp-Apim-Subscription-Key": KEYS[self.account]})
        assert r.status_code == 200, r.text
        return r

    def list_all(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Follow nextLink to the end; return (models, pages)."""
        pages = []
        r = self.get("custom/models", params={"op": "full"})
        while True:
            assert r.status_code == 200, r.text
            pages.append(r.json())
            link = r.json()["nextLink"]
            if link == "":
                break
            assert link.startswith(f"{self.base}/custom/models?"), link
            assert set(parse_qs(urlsplit(link).query)) == {"nextLink", "op"}
            r = self.http.get(link, headers={"Ocp-Apim-Subscription-Key": KEYS[self.account]})
        return [m for p in pages for m in p["modelList"]], pages

    def summary(self) -> dict[str, Any]:
        r = self.get("custom/models", params={"op": "summary"})
        assert r.status_code == 200, r.text
        assert set(r.json()) == {"summary"}
        return r.json()["summary"]


def advance(admin: httpx.Client, seconds: float) -> None:
    r = admin.post("/_emulator/clock", json={"advance_seconds": seconds})
    assert r.status_code == 200, r.text


def emulator_now(admin: httpx.Client) -> float:
    return datetime.fromisoformat(admin.get("/_emulator/clock").json()["now"].replace("Z", "+00:00")).timestamp()


def set_faults(admin: httpx.Client, **values: Any) -> None:
    r = admin.put("/_emulator/faults", json=values)
    assert r.status_code == 200, r.text


def error_of(r: httpx.Response) -> tuple[int, str, str]:
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body  # flat v2 envelope
    return r.status_code, body["error"]["code"], body["error"]["message"]


def copy_and_finish(admin, src: V2, model_id: str, auth: dict[str, Any], target: str = "dst", **kw: Any) -> dict[str, Any]:
    accepted = src.copy(model_id, auth, target, **kw)
    assert accepted.status_code == 202, accepted.text
    advance(admin, 1)
    return src.poll(accepted).json()


# --- list / get / delete -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v2.1", "v2.0", "v2.0-preview"])
def test_list_pages_with_summary_and_an_empty_last_next_link(http, emu, version):
    src = V2(http, emu, "src", version)
    models, pages = src.list_all()
    assert len(pages) == 3 and pages[-1]["nextLink"] == ""  # 6 models, pages of 2; spec example: "" on the last page
    ids = [m["modelId"] for m in models]
    assert ids == sorted(ids) and set(SRC_IDS) < set(ids) and len(ids) == 6
    assert all(p["summary"]["count"] == 6 and p["summary"]["limit"] == 500 for p in pages)
    by_id = {m["modelId"]: m for m in models}
    assert by_id[CREATING]["status"] == "creating" and by_id[INVALID]["status"] == "invalid"
    invoice = by_id[INVOICE]  # the config's upper-case spelling is normalised
    assert (invoice["createdDateTime"], invoice["lastUpdatedDateTime"]) == ("2021-03-01T10:00:00Z", "2021-03-01T10:05:00Z")
    if version == "v2.1":
        assert invoice["modelName"] == "invoices" and invoice["attributes"] == {"isComposed": False}
        assert by_id[COMPOSED]["attributes"] == {"isComposed": True}
        assert "modelName" not in by_id[CREATING]
    else:  # v2.0's ModelInfo has neither modelName nor attributes (the OpenAPI hook enforces it too)
        assert all("modelName" not in m and "attributes" not in m for m in models)


def test_summary_only_and_op_is_required(http, emu):
    src = V2(http, emu, "src")
    summary = src.summary()
    assert (summary["count"], summary["limit"]) == (6, 500) and WHOLE_SECONDS.match(summary["lastUpdatedDateTime"])
    assert V2(http, emu, "full", "v2.0").summary()["limit"] == 1
    for params in ({}, {"op": "everything"}):
        r = src.get("custom/models", params=params)
        assert error_of(r)[:2] == (400, "1002") and r.headers["x-ms-cs-error-code"] == "1002"
    r = src.get("custom/models", params={"op": "full", "nextLink": "!!!"})
    assert error_of(r)[:2] == (400, "1002")


def test_get_model_shapes(http, emu):
    src = V2(http, emu, "src")
    ready = src.get(f"custom/models/{INVOICE}", params={"includeKeys": "true"}).json()
    assert ready["modelInfo"]["modelId"] == INVOICE and ready["modelInfo"]["status"] == "ready"
    train = ready["trainResult"]
    assert train["modelId"] == INVOICE and train["errors"] == [] and len(train["trainingDocuments"]) == 5
    assert [f["fieldName"] for f in train["fields"]] == ["VendorName", "DocumentDate", "Total"]
    composed = src.get(f"custom/models/{COMPOSED}").json()
    assert "trainResult" not in composed and len(composed["composedTrainResults"]) == 2
    assert all(uuid.UUID(t["modelId"]) for t in composed["composedTrainResults"])
    assert src.get(f"custom/models/{CREATING}").json() == {"modelInfo": src.get(f"custom/models/{CREATING}").json()["modelInfo"]}
    invalid = src.get(f"custom/models/{INVALID}").json()
    assert invalid["trainResult"]["errors"][0]["code"] == "2012"
    assert src.get(f"custom/models/{INVOICE.upper()}").json()["modelInfo"]["modelId"] == INVOICE
    legacy = V2(http, emu, "src", "v2.0").get(f"custom/models/{LEGACY}").json()
    assert "modelId" not in legacy["trainResult"] and "attributes" not in legacy["modelInfo"]  # v2.0 shapes


def test_missing_model_is_404_1022(http, emu):
    src = V2(http, emu, "src")
    missing = str(uuid.uuid4())
    for r in (src.get(f"custom/models/{missing}"), src.request("DELETE", f"custom/models/{missing}")):
        assert r.json() == {"error": {"code": "1022", "message": f"Model with 'id={missing}' not found."}}
        assert r.status_code == 404 and r.headers["x-ms-cs-error-code"] == "1022"
    assert error_of(src.get("custom/models/not-a-uuid")) == (404, "1022", "Model with 'id=not-a-uuid' not found.")


def test_a_v21_model_read_through_v20_is_400_1027(http, emu):
    r = V2(http, emu, "src", "v2.0").get(f"custom/models/{INVOICE}")
    assert error_of(r) == (
        400,
        "1027",
        "The Form Recognizer API version used to create the model and the current API version used for GET model are incompatible.",
    )
    assert V2(http, emu, "src", "v2.0-preview").get(f"custom/models/{LEGACY}").status_code == 200
    assert V2(http, emu, "src", "v2.1").get(f"custom/models/{LEGACY}").status_code == 200  # backwards compatible


def test_delete_then_404_and_the_summary_moves(http, emu, admin):
    src = V2(http, emu, "src")
    before = src.summary()
    advance(admin, 120)
    r = src.request("DELETE", f"custom/models/{INVALID}")
    assert r.status_code == 204 and r.content == b""
    assert src.get(f"custom/models/{INVALID}").status_code == 404
    assert src.request("DELETE", f"custom/models/{INVALID}").status_code == 404
    after = src.summary()
    assert after["count"] == before["count"] - 1 and after["lastUpdatedDateTime"] > before["lastUpdatedDateTime"]


def test_v2_and_v3_stores_are_separate(http, emu):
    v3 = http.get(f"{emu.account_url('src')}/formrecognizer/documentModels", params={"api-version": "2023-07-31"},
                  headers={"Ocp-Apim-Subscription-Key": KEYS["src"]})
    v3_ids = set()
    while True:
        v3_ids |= {m["modelId"] for m in v3.json()["value"]}
        if not v3.json().get("nextLink"):
            break
        v3 = http.get(v3.json()["nextLink"], headers={"Ocp-Apim-Subscription-Key": KEYS["src"]})
    assert "v3-model" in v3_ids and not (v3_ids & set(SRC_IDS))
    assert "v3-model" not in {m["modelId"] for m in V2(http, emu, "src").list_all()[0]}
    info = http.get(f"{emu.account_url('src')}/documentintelligence/info", params={"api-version": "2024-11-30"},
                    headers={"Ocp-Apim-Subscription-Key": KEYS["src"]})
    assert info.json()["customDocumentModels"]["count"] == 1


# --- copy ----------------------------------------------------------------------------------------------------------


def test_copy_end_to_end(http, emu, admin):
    src, dst = V2(http, emu, "src"), V2(http, emu, "dst")
    now = emulator_now(admin)
    auth, authorized = dst.authorize()
    assert set(auth) == {"modelId", "accessToken", "expirationDateTimeTicks"}
    new_id = auth["modelId"]
    assert str(uuid.UUID(new_id)) == new_id
    assert authorized.headers["Location"] == f"{dst.base}/custom/models/{new_id}"
    assert isinstance(auth["expirationDateTimeTicks"], int) and abs(auth["expirationDateTimeTicks"] - (now + TTL)) <= 2  # epoch s
    # reserved: invisible (not listed, not counted) until a copy with it is accepted
    assert error_of(http.get(authorized.headers["Location"], headers={"Ocp-Apim-Subscription-Key": KEYS["dst"]}))[:2] == (404, "1022")
    assert dst.summary()["count"] == 0 and dst.list_all()[0] == []

    accepted = src.copy(INVOICE, auth)
    assert accepted.status_code == 202 and accepted.content == b""
    location = accepted.headers["Operation-Location"]
    assert re.fullmatch(re.escape(f"{src.base}/custom/models/{INVOICE}/copyresults/") + r"[0-9a-f-]{36}", location), location
    first = src.poll(accepted).json()
    assert first["status"] == "notStarted" and first["copyResult"] == {"modelId": new_id}  # modelId present at once [R]
    assert WHOLE_SECONDS.match(first["createdDateTime"]) and first["createdDateTime"] == first["lastUpdatedDateTime"]
    creating = dst.get(f"custom/models/{new_id}").json()
    assert creating["modelInfo"]["status"] == "creating" and set(creating) == {"modelInfo"}
    assert [(m["modelId"], m["status"]) for m in dst.list_all()[0]] == [(new_id, "creating")]
    assert dst.summary()["count"] == 1

    advance(admin, 0.1)
    running = src.poll(accepted).json()
    assert running["status"] == "running" and SEVEN_DIGITS.match(running["createdDateTime"])
    assert SEVEN_DIGITS.match(running["lastUpdatedDateTime"])
    advance(admin, 1)
    done = src.poll(accepted)
    assert done.json()["status"] == "succeeded" and done.json()["copyResult"] == {"modelId": new_id}
    assert "x-ms-cs-error-code" not in done.headers
    # the spec spelling of the path (copyResults) answers the same
    camel = http.get(location.replace("/copyresults/", "/copyResults/"), headers={"Ocp-Apim-Subscription-Key": KEYS["src"]})
    assert camel.json() == done.json()

    copied = dst.get(f"custom/models/{new_id}").json()
    assert copied["modelInfo"] == {
        "modelId": new_id,
        "status": "ready",
        "createdDateTime": "2021-03-01T10:00:00Z",  # kept from the source, like lastUpdatedDateTime [R v2.0-preview]
        "lastUpdatedDateTime": "2021-03-01T10:05:00Z",
        "modelName": "invoices",
        "attributes": {"isComposed": False},
    }
    assert copied["trainResult"]["modelId"] == new_id
    assert src.get(f"custom/models/{INVOICE}").status_code == 200  # the source is untouched
    assert dst.summary()["count"] == 1


def test_copy_keeps_composed_attributes(http, emu, admin):
    src, dst = V2(http, emu, "src"), V2(http, emu, "dst")
    auth, _ = dst.authorize()
    assert copy_and_finish(admin, src, COMPOSED, auth)["status"] == "succeeded"
    info = dst.get(f"custom/models/{auth['modelId']}").json()
    assert info["modelInfo"]["attributes"] == {"isComposed": True} and len(info["composedTrainResults"]) == 2


@pytest.mark.parametrize("version", ["v2.0", "v2.0-preview"])
def test_copy_through_v20_paths(http, emu, admin, version):
    src, dst = V2(http, emu, "src", version), V2(http, emu, "dst", version)
    auth, authorized = dst.authorize()
    assert authorized.headers["Location"] == f"{emu.account_url('dst')}/formrecognizer/{version}/custom/models/{auth['modelId']}"
    accepted = src.copy(LEGACY, auth)
    assert accepted.headers["Operation-Location"].startswith(f"{emu.account_url('src')}/formrecognizer/{version}/custom/models/{LEGACY}/copyresults/")
    advance(admin, 1)
    assert src.poll(accepted).json()["status"] == "succeeded"
    copied = dst.get(f"custom/models/{auth['modelId']}").json()["modelInfo"]
    assert copied["createdDateTime"] == "2020-06-01T08:00:00Z" and "modelName" not in copied


def test_unused_authorization_expires_without_a_trace(http, emu, admin):
    src, dst = V2(http, emu, "src"), V2(http, emu, "dst")
    auth, authorized = dst.authorize()
    advance(admin, TTL + 1)
    assert dst.get(f"custom/models/{auth['modelId']}").status_code == 404
    assert dst.list_all()[0] == [] and dst.summary()["count"] == 0
    r = src.copy(INVOICE, auth)
    status, code, message = error_of(r)
    assert (status, code) == (400, "1002") and message.startswith(INVALID_CLAIMS) and "expired" in message
    assert dst.get(f"custom/models/{auth['modelId']}").status_code == 404


def test_authorization_is_single_use(http, emu, admin):
    src, dst = V2(http, emu, "src"), V2(http, emu, "dst")
    auth, _ = dst.authorize()
    assert copy_and_finish(admin, src, INVOICE, auth)["status"] == "succeeded"
    again = src.copy(COMPOSED, auth)
    assert again.status_code == 202  # the reuse is only found when the target is asked for the metadata
    advance(admin, 1)
    failed = src.poll(again)
    assert failed.json()["status"] == "failed"
    assert failed.json()["copyResult"] == {"modelId": auth["modelId"], "errors": [AUTH_ERROR]}
    assert failed.headers["ms-azure-ai-errorcode"] == "2024"  # as recorded live (2021)
    assert dst.get(f"custom/models/{auth['modelId']}").json()["modelInfo"]["modelName"] == "invoices"  # untouched


@pytest.mark.parametrize(
    "edit",
    [
        {"modelId": "00000000-0000-4000-8000-000000000000"},
        {"expirationDateTimeTicks": 86400},
        {"accessToken": "forged"},
    ],
)
def test_edited_authorization_is_400_1002_and_not_consumed(http, emu, admin, edit):
    src, dst = V2(http, emu, "src"), V2(http, emu, "dst")
    auth, _ = dst.authorize()
    assert error_of(src.copy(INVOICE, {**auth, **edit})) == (400, "1002", INVALID_CLAIMS)
    assert copy_and_finish(admin, src, INVOICE, auth)["status"] == "succeeded"


def test_lazy_validation_of_the_target(http, emu, admin):
    """contracts §4 [R]: a syntactically valid but wrong target is accepted, then the copy fails."""
    src, dst = V2(http, emu, "src"), V2(http, emu, "dst")
    auth, _ = dst.authorize()
    for kw in ({"resource_id": f"{SUB}/nobody"}, {"region": "centralus"}, {"resource_id": f"{SUB}/full", "region": "northeurope"}):
        accepted = src.copy(INVOICE, auth, **kw)
        assert accepted.status_code == 202, accepted.text
        result = src.poll(accepted).json()
        assert result["status"] == "notStarted" and result["copyResult"] == {"modelId": auth["modelId"]}
        assert dst.get(f"custom/models/{auth['modelId']}").status_code == 404  # nothing reserved on the target
        advance(admin, 1)
        failed = src.poll(accepted).json()
        assert failed["status"] == "failed" and failed["copyResult"]["errors"] == [AUTH_ERROR]
        assert src.poll(accepted).headers["ms-azure-ai-errorcode"] == "2024"  # a bad target: "2024" [R]
        assert SEVEN_DIGITS.match(failed["createdDateTime"]) and SEVEN_DIGITS.match(failed["lastUpdatedDateTime"])
    assert copy_and_finish(admin, src, INVOICE, auth)["status"] == "succeeded"  # the authorization was never used


def test_malformed_copy_requests_are_400_1002(http, emu):
    src, dst = V2(http, emu, "src"), V2(http, emu, "dst")
    auth, _ = dst.authorize()
    good = {"targetResourceId": f"{SUB}/dst", "targetResourceRegion": "westus", "copyAuthorization": auth}
    bodies = [
        {k: v for k, v in good.items() if k != "targetResourceId"},
        {k: v for k, v in good.items() if k != "copyAuthorization"},
        {**good, "targetResourceId": "resource_id"},
        {**good, "targetResourceId": f"{SUB}/dst/extra"},
        {**good, "targetResourceRegion": "West US"},
        {**good, "targetResourceRegion": ""},
        {**good, "copyAuthorization": {k: v for k, v in auth.items() if k != "accessToken"}},
        {**good, "copyAuthorization": {**auth, "expirationDateTimeTicks": str(auth["expirationDateTimeTicks"])}},
        {**good, "copyAuthorization": {**auth, "expirationDateTimeTicks": 2**63}},
        [good],
    ]
    for body in bodies:
        r = src.request("POST", f"custom/models/{INVOICE}/copy", json=body)
        assert error_of(r)[:2] == (400, "1002"), (body, r.text)
    r = src.request("POST", f"custom/models/{INVOICE}/copy", content=b"{nope", headers={"content-type": "application/json"})
    assert error_of(r)[:2] == (400, "1002")
    r = src.request("POST", f"custom/models/{INVOICE}/copy")
    assert error_of(r)[:2] == (400, "1002")
    assert src.copy(INVOICE, auth).status_code == 202  # none of the above used the authorization


def test_copy_of_a_missing_or_unready_source(http, emu):
    src, dst = V2(http, emu, "src"), V2(http, emu, "dst")
    auth, _ = dst.authorize()
    missing = str(uuid.uuid4())
    assert error_of(src.copy(missing, auth)) == (404, "1022", f"Model with 'id={missing}' not found.")
    for model_id in (CREATING, INVALID):
        assert error_of(src.copy(model_id, auth))[:2] == (400, "1002")
    assert error_of(V2(http, emu, "dst").copy(INVOICE, auth))[:2] == (404, "1022")  # the model lives on src


def test_customer_managed_key_downgrade_needs_the_header(http, emu, admin):
    cmk, dst = V2(http, emu, "cmk"), V2(http, emu, "dst")
    auth, _ = dst.authorize()
    accepted = cmk.copy(SECRET, auth)
    assert accepted.status_code == 202
    assert dst.get(f"custom/models/{auth['modelId']}").json()["modelInfo"]["status"] == "creating"
    advance(admin, 1)
    failed = cmk.poll(accepted)
    [error] = failed.json()["copyResult"]["errors"]
    assert error["code"] == "DataProtectionTransformServiceError" and "downgrades" in error["message"]
    assert failed.headers["ms-azure-ai-errorcode"] == "DataProtectionTransformServiceError"
    assert dst.get(f"custom/models/{auth['modelId']}").status_code == 404  # a failed copy leaves nothing
    auth2, _ = dst.authorize()
    done = copy_and_finish(admin, cmk, SECRET, auth2, headers={"x-ms-forms-copy-degrade": "true"})
    assert done["status"] == "succeeded"
    # Microsoft-managed -> customer-managed needs no header
    auth3, _ = V2(http, emu, "cmk").authorize()
    assert copy_and_finish(admin, V2(http, emu, "src"), INVOICE, auth3, "cmk")["status"] == "succeeded"


def test_copy_into_a_full_target_fails(http, emu, admin):
    src, full = V2(http, emu, "src"), V2(http, emu, "full")
    auth, _ = full.authorize()
    accepted = src.copy(INVOICE, auth, "full")
    assert accepted.status_code == 202
    assert full.get(f"custom/models/{auth['modelId']}").status_code == 404
    advance(admin, 1)
    [error] = src.poll(accepted).json()["copyResult"]["errors"]
    assert error == {"code": "ModelLimitExceeded", "message": "The number of custom models has reached the limit of 1."}
    assert full.summary()["count"] == 1


def test_target_filled_out_of_band_while_copying_fails_at_the_end(http, emu, admin):
    src, dst = V2(http, emu, "src"), V2(http, emu, "dst")
    assert admin.put("/_emulator/settings", json={"copy_seconds": 5}).status_code == 200
    auth, _ = dst.authorize()
    accepted = src.copy(INVOICE, auth)
    for _ in range(10):  # admin seeds ignore the limit: 10 others + the creating model
        assert admin.post("/_emulator/accounts/dst/v2_models", json={}).status_code == 201
    assert dst.summary()["count"] == 11
    advance(admin, 6)
    assert src.poll(accepted).json()["copyResult"]["errors"][0]["code"] == "ModelLimitExceeded"
    assert dst.summary()["count"] == 10


def test_deleting_the_creating_target_fails_the_copy(http, emu, admin):
    src, dst = V2(http, emu, "src"), V2(http, emu, "dst")
    auth, _ = dst.authorize()
    accepted = src.copy(INVOICE, auth)
    assert dst.request("DELETE", f"custom/models/{auth['modelId']}").status_code == 204
    advance(admin, 1)
    [error] = src.poll(accepted).json()["copyResult"]["errors"]
    assert error["code"] == "ResourceResolverError" and auth["modelId"] in error["message"]
    assert dst.get(f"custom/models/{auth['modelId']}").status_code == 404


def test_copy_results_not_found_and_retention(http, emu, admin):
    src, dst = V2(http, emu, "src"), V2(http, emu, "dst")
    auth, _ = dst.authorize()
    accepted = src.copy(INVOICE, auth)
    result_id = accepted.headers["Operation-Location"].rsplit("/", 1)[1]
    missing = str(uuid.uuid4())
    assert error_of(src.get(f"custom/models/{INVOICE}/copyResults/{missing}")) == (404, "404", f"Copy result with 'id={missing}' not found.")
    assert error_of(src.get(f"custom/models/{COMPOSED}/copyResults/{result_id}"))[:2] == (404, "404")  # another model
    assert error_of(V2(http, emu, "dst").get(f"custom/models/{INVOICE}/copyResults/{result_id}"))[:2] == (404, "404")
    advance(admin, 1 + RETENTION - 5)
    assert src.poll(accepted).json()["status"] == "succeeded"
    advance(admin, 10)
    assert error_of(src.get(f"custom/models/{INVOICE}/copyresults/{result_id}"))[:2] == (404, "404")


# --- gateway answers, unknown routes, faults ------------------------------------------------------------------------


def test_gateway_answers_and_unknown_v2_routes(http, emu):
    src = V2(http, emu, "src")
    r = src.get("custom/models", params={"op": "full"}, key="wrong")
    assert r.status_code == 401 and r.json()["error"]["code"] == "401" and "x-ms-cs-error-code" not in r.headers
    assert r.headers["x-ms-region"] == "eastus" and uuid.UUID(r.headers["apim-request-id"])
    base = f"{emu.account_url('src')}/formrecognizer"
    key = {"Ocp-Apim-Subscription-Key": KEYS["src"]}
    cases = [
        http.get(f"{base}/v2.2/custom/models", params={"op": "full"}, headers=key),
        http.get(f"{base}/v2.1-preview.3/custom/models", params={"op": "full"}, headers=key),
        http.post(f"{base}/v2.1/custom/models/{INVOICE}/analyzeLayout", headers=key),  # no such route
        http.post(f"{base}/v2.1/custom/models", json={}, headers=key),  # training: not emulated
        http.put(f"{base}/v2.1/custom/models/{INVOICE}", headers=key),
        http.get(f"{base}/v2.1/custom/models/copyAuthorization", headers=key),  # a GET of model "copyAuthorization"
        http.get(f"{base}/v2.1/custom/models/{INVOICE}/copy", headers=key),
    ]
    for r in cases[:-2]:
        assert r.status_code == 404 and r.json() == APIM_NOT_FOUND, (r.request.url, r.text)
        assert "x-ms-cs-error-code" not in r.headers
    assert error_of(cases[-2])[:2] == (404, "1022")
    assert cases[-1].json() == APIM_NOT_FOUND


def test_faults_apply_to_v2_routes(http, emu, admin):
    src, dst = V2(http, emu, "src"), V2(http, emu, "dst")
    set_faults(admin, error_rate=1.0, routes=["v2:copyAuthorization"])
    r = dst.request("POST", "custom/models/copyAuthorization")
    assert error_of(r)[:2] == (503, "ServiceUnavailable") and r.headers["x-ms-cs-error-code"] == "ServiceUnavailable"
    assert dst.summary()["count"] == 0  # other routes unaffected
    set_faults(admin, error_rate=0.0, routes=[])

    set_faults(admin, operation_failure_rate=1.0)
    auth, _ = dst.authorize()
    failed = copy_and_finish(admin, src, INVOICE, auth)
    assert failed["copyResult"]["errors"] == [{"code": "InternalServerError", "message": "An unexpected error occurred."}]
    assert dst.get(f"custom/models/{auth['modelId']}").status_code == 404
    set_faults(admin, operation_failure_rate=0.0)

    auth, _ = dst.authorize()
    set_faults(admin, account="src", drop_after_rate=1.0, routes=["v2:copy"])
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        src.copy(INVOICE, auth)
    set_faults(admin, account="src", drop_after_rate=0.0)
    assert dst.get(f"custom/models/{auth['modelId']}").json()["modelInfo"]["status"] == "creating"  # the copy started
    advance(admin, 1)
    assert dst.get(f"custom/models/{auth['modelId']}").json()["modelInfo"]["status"] == "ready"

    set_faults(admin, account="dst", rate_limit_per_second=1)
    statuses = [dst.get("custom/models", params={"op": "summary"}) for _ in range(4)]
    throttled = [r for r in statuses if r.status_code == 429]
    assert throttled and throttled[0].headers["Retry-After"] == "1" and "x-ms-cs-error-code" not in throttled[0].headers
    set_faults(admin, account="dst", rate_limit_per_second=0)

    log = admin.get("/_emulator/requests").json()
    routes = {e["route"] for e in log}
    assert {"v2:copyAuthorization", "v2:copy", "v2:copyResults", "v2:custom/models:summary", "v2:custom/models:get"} <= routes
    assert [e["fault"] for e in log if e["route"] == "v2:copyAuthorization"][0] == "error"
    assert any(e["fault"] == "drop_after" and e["route"] == "v2:copy" and e["status"] == 202 for e in log)
    counters = admin.get("/_emulator/counters").json()
    assert counters["requests"]["dst"]["v2:copyAuthorization"] == 3 and counters["faults"]["src"]["drop_after"] == 1
    assert counters["throttled"]["dst"] == len(throttled)


def test_slow_mode_on_v2(http, emu, admin):
    src, dst = V2(http, emu, "src"), V2(http, emu, "dst")
    set_faults(admin, account="src", slow=True)
    auth, _ = dst.authorize()
    accepted = src.copy(INVOICE, auth)
    advance(admin, 1)  # 5x copy_seconds: slow copies take 10x
    assert src.poll(accepted).json()["status"] == "running"
    advance(admin, 1.1)
    assert src.poll(accepted).json()["status"] == "succeeded"


def test_unknown_fault_route_names_are_rejected_and_v2_names_accepted(emu, admin):
    assert admin.put("/_emulator/faults", json={"routes": ["v2:nope"]}).status_code == 400
    names = ["v2:custom/models:list", "v2:custom/models:summary", "v2:custom/models:get", "v2:custom/models:delete",
             "v2:copyAuthorization", "v2:copy", "v2:copyResults"]
    assert admin.put("/_emulator/faults", json={"routes": names}).json()["global"]["routes"] == names


# --- admin API -----------------------------------------------------------------------------------------------------


def test_admin_seed_remove_and_retrain_v2_models(http, emu, admin):
    src = V2(http, emu, "src")
    accounts = {a["name"]: a for a in admin.get("/_emulator/accounts").json()["accounts"]}
    assert set(SRC_IDS) < set(accounts["src"]["v2_models"]) and len(accounts["src"]["v2_models"]) == 6
    assert accounts["src"]["models"] == ["v3-model"]

    r = admin.post("/_emulator/accounts/src/v2_models", json={"model_name": "seeded", "created": "2022-01-01T00:00:00Z"})
    assert r.status_code == 201
    seeded = r.json()
    assert seeded["modelName"] == "seeded" and seeded["createdDateTime"] == seeded["lastUpdatedDateTime"] == "2022-01-01T00:00:00Z"
    assert src.get(f"custom/models/{seeded['modelId']}").status_code == 200
    assert admin.post("/_emulator/reset").status_code == 200  # generated ids are deterministic (seed, account, counter)
    assert admin.post("/_emulator/accounts/src/v2_models", json={"model_name": "seeded"}).json()["modelId"] == seeded["modelId"]

    assert admin.post("/_emulator/accounts/src/v2_models", json={"model_id": INVOICE}).status_code == 409
    auth, _ = V2(http, emu, "dst").authorize()
    assert admin.post("/_emulator/accounts/dst/v2_models", json={"model_id": auth["modelId"]}).status_code == 409  # reserved
    for body, key in (({"colour": "red"}, "v2_model.colour"), ({"model_id": "nope"}, "v2_model.model_id"),
                      ({"status": "done"}, "v2_model.status"), ({"is_composed": True, "api_version": "2.0"}, "v2_model.is_composed")):
        r = admin.post("/_emulator/accounts/src/v2_models", json=body)
        assert r.status_code == 400 and key in r.json()["error"]["message"], r.text
    assert admin.post("/_emulator/accounts/nobody/v2_models", json={}).status_code == 404

    # "retrain": a new lastUpdatedDateTime (drift a DR tool must notice)
    r = admin.patch(f"/_emulator/accounts/src/v2_models/{INVOICE}", json={"last_updated": "2023-05-05T05:05:05Z"})
    assert r.status_code == 200 and r.json()["lastUpdatedDateTime"] == "2023-05-05T05:05:05Z"
    assert src.get(f"custom/models/{INVOICE}").json()["modelInfo"]["lastUpdatedDateTime"] == "2023-05-05T05:05:05Z"
    advance(admin, 3600)
    r = admin.patch(f"/_emulator/accounts/src/v2_models/{INVOICE.upper()}", json={})
    assert datetime.fromisoformat(r.json()["lastUpdatedDateTime"].replace("Z", "+00:00")).timestamp() >= emulator_now(admin) - 2
    r = admin.patch(f"/_emulator/accounts/src/v2_models/{INVOICE}", json={"status": "invalid", "model_name": "renamed"})
    assert (r.json()["status"], r.json()["modelName"]) == ("invalid", "renamed")
    assert admin.patch(f"/_emulator/accounts/src/v2_models/{INVOICE}", json={"last_updated": "2000-01-01T00:00:00Z"}).status_code == 400
    assert admin.patch(f"/_emulator/accounts/src/v2_models/{uuid.uuid4()}", json={}).status_code == 404

    assert admin.delete(f"/_emulator/accounts/src/v2_models/{INVOICE}").status_code == 204
    assert src.get(f"custom/models/{INVOICE}").status_code == 404
    assert admin.delete(f"/_emulator/accounts/src/v2_models/{INVOICE}").status_code == 404
    assert admin.delete("/_emulator/accounts/src/v2_models/not-a-uuid").status_code == 404


def test_reset_restores_the_v2_state(http, emu, admin):
    src, dst = V2(http, emu, "src"), V2(http, emu, "dst")
    auth, _ = dst.authorize()
    copy_and_finish(admin, src, INVOICE, auth)
    src.request("DELETE", f"custom/models/{LEGACY}")
    assert admin.post("/_emulator/reset").status_code == 200
    assert dst.summary()["count"] == 0 and src.summary()["count"] == 6
    assert src.copy(INVOICE, auth).status_code == 400  # authorizations are gone too


def test_the_openapi_hook_checks_v2_responses(http, emu, conformance):
    """Guards against a silently disabled check."""
    before = conformance.checked
    src = V2(http, emu, "src")
    src.get("custom/models", params={"op": "full"})
    src.get("custom/models", params={"op": "summary"})
    src.get(f"custom/models/{INVOICE}")
    src.get(f"custom/models/{uuid.uuid4()}")  # an error body is checked against the 'default' response
    http.get(f"{emu.account_url('src')}/formrecognizer/v9.9/custom/models", headers={"Ocp-Apim-Subscription-Key": "key-src"})
    assert conformance.checked == before + 4


# --- the validator's v2 mapping, the config -------------------------------------------------------------------------


def test_validator_maps_v2_urls_and_is_strict_about_v20_shapes():
    base = "http://127.0.0.1:1/formrecognizer"
    json_ct = {"Content-Type": "application/json; charset=utf-8"}
    info = {"modelId": INVOICE, "status": "ready", "createdDateTime": "2021-01-01T00:00:00Z",
            "lastUpdatedDateTime": "2021-01-01T00:00:00Z", "modelName": "x", "attributes": {"isComposed": False}}
    page = {"summary": {"count": 1, "limit": 5, "lastUpdatedDateTime": "2021-01-01T00:00:00Z"}, "modelList": [info], "nextLink": ""}

    def check(method: str, url: str, status: int, body: Any = None, headers: dict[str, str] | None = None) -> ov.Checked:
        import json as _json

        raw = b"" if body is None else _json.dumps(body).encode()
        return ov.check_exchange(ov.Exchange(method, url, status, headers if headers is not None else json_ct, body, raw_body=raw))

    c = check("GET", f"{base}/v2.1/custom/models?op=full", 200, page)
    assert (c.spec.operation_id, c.problems) == ("CustomModels_List", [])
    c = check("GET", f"{base}/v2.1/custom/models?op=summary", 200, {"summary": page["summary"]})
    assert (c.spec.operation_id, c.problems) == ("CustomModels_GetSummary", [])
    c = check("GET", f"{base}/v2.0-preview/custom/models?op=full", 200, page)
    assert c.spec.operation_id == "ListCustomModels" and any("'modelName'" in p for p in c.problems)
    c = check("GET", f"{base}/v2.1/custom/models/{INVOICE}/copyresults/{uuid.uuid4()}", 200,
              {"status": "notStarted", "createdDateTime": "2021-01-01T00:00:00Z",
               "lastUpdatedDateTime": "2021-01-01T00:00:00.1234567Z", "copyResult": {"modelId": INVOICE}})
    assert (c.spec.operation_id, c.problems) == ("CustomModels_GetCopyResult", [])
    c = check("POST", f"{base}/v2.1/custom/models/copyAuthorization", 201,
              {"modelId": INVOICE, "accessToken": "t", "expirationDateTimeTicks": 1600198528})
    assert c.spec.operation_id == "CustomModels_AuthorizeModelCopy" and any("Location missing" in p for p in c.problems)
    c = check("GET", f"{base}/v2.1/custom/models/{INVOICE}", 404, {"error": {"code": "1022", "message": "m", "innererror": {}}})
    assert any("'innererror' was unexpected" in p for p in c.problems)  # v2's envelope is flat
    c = check("GET", f"{base}/v2.1/custom/models", 200, page)  # no op: no spec operation
    assert c.spec is None
    c = check("GET", f"{base}/v2.9/custom/models?op=full", 200, page)
    assert c.spec is None and "no spec for formrecognizer v2.9" in c.problems[0]


@pytest.mark.parametrize(
    ("entry", "where"),
    [
        ({"model_id": "abc"}, "v2_models[0].model_id"),
        ({"colour": 1}, "v2_models[0].colour"),
        ({"status": "ok"}, "v2_models[0].status"),
        ({"model_name": "x" * 1025}, "v2_models[0].model_name"),
        ({"created": "2021-01-02T00:00:00Z", "last_updated": "2021-01-01T00:00:00Z"}, "v2_models[0].last_updated"),
        ({"is_composed": "yes"}, "v2_models[0].is_composed"),
        ({"api_version": "2.2"}, "v2_models[0].api_version"),
    ],
)
def test_v2_config_errors_name_the_key(entry: dict[str, Any], where: str):
    with pytest.raises(ConfigError) as info:
        parse_config({"accounts": {"a": {"region": "eastus", "key": "k", "v2_models": [entry]}}}, source="emu.toml")
    assert str(info.value).startswith(f"emu.toml: accounts.a.{where}: "), str(info.value)


def test_v2_config_rejects_duplicate_ids():
    mid = str(uuid.uuid4())
    with pytest.raises(ConfigError, match=r"accounts\.a\.v2_models\[1\]\.model_id: duplicate"):
        parse_config({"accounts": {"a": {"region": "eastus", "key": "k", "v2_models": [{"model_id": mid}, {"model_id": mid.upper()}]}}})
    ok = parse_config({"accounts": {"a": {"region": "eastus", "key": "k", "v2_models": [{}, {"model_id": mid.upper()}]}}})
    assert [s.model_id for s in ok.accounts["a"].v2_models] == [None, mid]

