"""The emulator over real HTTP: a subprocess started with ``drplan.emulator.launch.start_emulator``, driven with
httpx. Covers the service semantics of contracts §1–3 (copy flow, errors, paging, operations, info), fault
injection, the admin API, the CLI and the import edge (the emulator imports nothing from the rest of drplan).

Every response on a service route that maps to an operation of the official OpenAPI files is validated against
them by an httpx event hook (``openapi_validation.check_exchange``, shared with the SDK conformance tests).
Time-dependent behaviour is driven with ``POST /_emulator/clock`` instead of sleeping.
"""

from __future__ import annotations

import ast
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from emulator_fixtures import Conformance, _fresh, admin, conformance, http  # noqa: E402,F401

from drplan.emulator import launch, server  # noqa: E402
from drplan.emulator.config import ConfigError, parse_config  # noqa: E402

DI = "documentintelligence"
FR = "formrecognizer"
V4 = "2024-11-30"
V4P = "2024-02-29-preview"
V31 = "2023-07-31"
V30 = "2022-08-31"

SUB = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts"
KEYS = {"src": "key-src", "dst": "key-dst", "cmk": "key-cmk", "full": "key-full"}

CONFIG = f"""
seed = 7

[settings]
page_size = 2
copy_seconds = 0.2
operation_retention_seconds = 600
retry_after_seconds = 1

[accounts.src]
region = "eastus"
key = "key-src"
resource_id = "{SUB}/src"

[[accounts.src.models]]
model_id = "invoice-2024"
description = "Invoices"
created = "2024-05-01T10:00:00Z"
api_version = "2023-07-31"
tags = {{ team = "ap" }}

[[accounts.src.models]]
model_id = "receipt-2023"
created = "2023-03-01T08:00:00Z"
expires = "2025-03-01T08:00:00Z"
api_version = "2022-08-31"
build_mode = "neural"
doc_types = ["receipt", "slip"]

[[accounts.src.classifiers]]
classifier_id = "router"
description = "Routes documents"
created = "2024-05-02T10:00:00Z"
doc_types = ["invoice", "receipt"]

[accounts.dst]
region = "westus"
key = "key-dst"
resource_id = "{SUB}/dst"
model_limit = 10

[accounts.cmk]
region = "eastus2"
key = "key-cmk"
encryption = "customer-managed"

[[accounts.cmk.models]]
model_id = "secret-model"
created = "2024-01-01T00:00:00Z"

[accounts.full]
region = "northeurope"
key = "key-full"
model_limit = 1

[[accounts.full.models]]
model_id = "only-one"
"""

PREBUILT_DI = ["prebuilt-idDocument", "prebuilt-invoice", "prebuilt-layout", "prebuilt-read", "prebuilt-receipt", "prebuilt-tax.us.w2"]
MODEL_EXISTS = {
    "error": {
        "code": "Conflict",
        "message": "The request could not be completed due to a conflict with the current state of the target resource.",
        "innererror": {"code": "ModelExists", "message": "A model with the provided name already exists."},
    }
}
MODEL_NOT_FOUND = {
    "error": {
        "code": "NotFound",
        "message": "Resource not found.",
        "innererror": {"code": "ModelNotFound", "message": "The requested model was not found."},
    }
}
APIM_NOT_FOUND = {"error": {"code": "404", "message": "Resource not found"}}
INVALID_CLAIMS = "Authorization failure due to missing or invalid authorization claims"


# --- fixtures ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def config_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("emulator") / "emulator.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def emu(config_path: Path):
    with launch.start_emulator(config_path) as proc:
        yield proc
    assert proc.process.poll() is not None, "the emulator process must be gone after stop()"


class Api:
    """One account through one path prefix and api-version, with its key."""

    def __init__(self, http: httpx.Client, emu, account: str, prefix: str = DI, version: str = V4) -> None:
        self.http, self.emu, self.account, self.prefix, self.version = http, emu, account, prefix, version
        self.base = f"{emu.account_url(account)}/{prefix}"

    def request(self, method: str, path: str, *, key: str | None = None, headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
        params = kw.pop("params", {"api-version": self.version})
        hdrs = {"Ocp-Apim-Subscription-Key": KEYS[self.account] if key is None else key, **(headers or {})}
        return self.http.request(method, f"{self.base}/{path}", params=params, headers=hdrs, **kw)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("POST", path, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", path, **kw)

    def authorize(self, model_id: str, **body: Any) -> dict[str, Any]:
        r = self.post("documentModels:authorizeCopy", json={"modelId": model_id, **body})
        assert r.status_code == 200, r.text
        return r.json()

    def copy(self, model_id: str, auth: dict[str, Any], **kw: Any) -> httpx.Response:
        return self.post(f"documentModels/{model_id}:copyTo", json=auth, **kw)

    def follow(self, response: httpx.Response) -> dict[str, Any]:
        """GET the Operation-Location of a 202."""
        r = self.http.get(response.headers["Operation-Location"], headers={"Ocp-Apim-Subscription-Key": KEYS[self.account]})
        assert r.status_code == 200, r.text
        return r.json()

    def list_all(self, collection: str) -> list[dict[str, Any]]:
        """Follow nextLink to the end; check each link is absolute, opaque and carries api-version."""
        items: list[dict[str, Any]] = []
        r = self.get(collection)
        while True:
            assert r.status_code == 200, r.text
            body = r.json()
            items += body["value"]
            link = body.get("nextLink")
            if not link:
                return items
            parts = urlsplit(link)
            assert link.startswith(f"{self.base}/{collection}?"), link
            assert set(parse_qs(parts.query)) == {"nextLink", "api-version"}
            assert parse_qs(parts.query)["api-version"] == [self.version]
            r = self.http.get(link, headers={"Ocp-Apim-Subscription-Key": KEYS[self.account]})


def advance(admin: httpx.Client, seconds: float) -> None:
    r = admin.post("/_emulator/clock", json={"advance_seconds": seconds})
    assert r.status_code == 200, r.text


def set_faults(admin: httpx.Client, **values: Any) -> None:
    r = admin.put("/_emulator/faults", json=values)
    assert r.status_code == 200, r.text


def error_of(r: httpx.Response) -> tuple[str, str | None]:
    err = r.json()["error"]
    return err["code"], (err.get("innererror") or {}).get("code")


# --- service basics ------------------------------------------------------------------------------------------------


def test_common_response_headers(http, emu):
    src = Api(http, emu, "src")
    crid = str(uuid.uuid4())
    r = src.get("documentModels/invoice-2024", headers={"x-ms-client-request-id": crid})
    assert r.status_code == 200
    assert uuid.UUID(r.headers["apim-request-id"])
    assert r.headers["x-ms-region"] == "eastus"
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.headers["x-ms-client-request-id"] == crid
    other = src.get("documentModels/invoice-2024")
    assert other.headers["apim-request-id"] != r.headers["apim-request-id"]
    assert "x-ms-client-request-id" not in other.headers
    missing = Api(http, emu, "dst").get("documentModels/nope")
    assert missing.headers["x-ms-region"] == "westus" and uuid.UUID(missing.headers["apim-request-id"])


def test_wrong_or_missing_key_is_401(http, emu):
    src = Api(http, emu, "src")
    for key in ("key-dst", ""):
        r = src.get("documentModels", key=key)
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "401"
    bearer = http.get(f"{src.base}/documentModels", params={"api-version": V4}, headers={"Authorization": "Bearer abc"})
    assert bearer.status_code == 401


def test_unknown_versions_routes_and_accounts_answer_apim_404(http, emu):
    src = Api(http, emu, "src")
    cases = [
        src.get("documentModels", params={"api-version": "2099-01-01"}),
        src.get("documentModels", params={}),
        Api(http, emu, "src", FR, V4).get("documentModels"),  # v4 version on the v3 prefix
        Api(http, emu, "src", DI, V31).get("documentModels"),
        src.get("documentModels/invoice-2024/extra"),
        src.request("PUT", "documentModels/invoice-2024"),
        src.post("documentModels/invoice-2024:frobnicate"),
        # a service path on the admin origin (the account is in the host only, never in the path)
        http.get(f"{emu.url}/{DI}/documentModels", params={"api-version": V4}, headers={"Ocp-Apim-Subscription-Key": KEYS["src"]}),
        http.get(f"{emu.account_url('src')}/accounts/src/{DI}/documentModels", params={"api-version": V4},
                 headers={"Ocp-Apim-Subscription-Key": KEYS["src"]}),  # the old /accounts/<name> shape is gone
        http.get(f"{emu.url}/elsewhere"),
        # classifier copy exists only on 2024-11-30 (contracts §2.7, §3)
        Api(http, emu, "dst", DI, V4P).post("documentClassifiers:authorizeCopy", json={"classifierId": "x1"}),
        Api(http, emu, "src", DI, V4P).post("documentClassifiers/router:copyTo", json={}),
        Api(http, emu, "dst", FR, V31).post("documentClassifiers:authorizeCopy", json={"classifierId": "x1"}),
        # FR 2022-08-31 has no classifiers at all
        Api(http, emu, "src", FR, V30).get("documentClassifiers"),
    ]
    for r in cases:
        assert r.status_code == 404, (r.request.url, r.text)
        assert r.json() == APIM_NOT_FOUND
        assert uuid.UUID(r.headers["apim-request-id"])  # on every answer, the gateway's too (contracts §1)
    assert Api(http, emu, "src", FR, V31).get("documentClassifiers").status_code == 200


def test_invalid_request_bodies(http, emu):
    dst = Api(http, emu, "dst")
    r = dst.post("documentModels:authorizeCopy", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and error_of(r) == ("InvalidArgument", "InvalidParameter")
    r = dst.post("documentModels:authorizeCopy", json={"description": "no id"})
    assert r.status_code == 400 and error_of(r) == ("InvalidArgument", "ParameterMissing")
    assert r.json()["error"]["innererror"]["message"] == "The parameter modelId is required."
    r = dst.post("documentModels:authorizeCopy", json={"modelId": "-bad start"})
    assert r.status_code == 400 and error_of(r) == ("InvalidArgument", "InvalidParameter")
    r = dst.post("documentModels:authorizeCopy", json={"modelId": "ok-id", "description": "x" * 4097})
    assert r.status_code == 400 and error_of(r) == ("InvalidArgument", "InvalidParameterLength")
    r = Api(http, emu, "src").copy("invoice-2024", {"targetResourceId": f"{SUB}/dst"})
    assert r.status_code == 400 and error_of(r) == ("InvalidArgument", "ParameterMissing")


# --- list / get / delete / info ------------------------------------------------------------------------------------


def test_di_list_pages_through_prebuilt_and_custom_models(http, emu):
    for version in (V4, V4P):
        src = Api(http, emu, "src", DI, version)
        items = src.list_all("documentModels")
        assert [m["modelId"] for m in items] == PREBUILT_DI + ["invoice-2024", "receipt-2023"]
        custom = {m["modelId"]: m for m in items if not m["modelId"].startswith("prebuilt-")}
        assert "docTypes" in custom["invoice-2024"]  # DI v4 lists full DocumentModelDetails (contracts §2.5)
        assert set(custom["receipt-2023"]["docTypes"]) == {"receipt", "slip"}
        assert custom["receipt-2023"]["buildMode"] == "neural"


def test_fr_list_returns_summaries_and_get_returns_details(http, emu):
    for version in (V31, V30):
        src = Api(http, emu, "src", FR, version)
        items = src.list_all("documentModels")
        ids = [m["modelId"] for m in items]
        assert {"prebuilt-document", "prebuilt-businessCard", "invoice-2024", "receipt-2023"} <= set(ids)
        assert all("docTypes" not in m for m in items)  # DocumentModelSummary (contracts §3)
        details = src.get("documentModels/invoice-2024").json()
        assert details["docTypes"]["invoice-2024"]["fieldSchema"]
        assert details["tags"] == {"team": "ap"} and details["apiVersion"] == V31
        assert ("expirationDateTime" in details) == (version == V31)  # 2022-08-31 has no expiry field


def test_page_boundary_survives_changes_between_pages(http, emu, admin):
    src = Api(http, emu, "src")
    first = src.get("documentModels").json()
    assert [m["modelId"] for m in first["value"]] == PREBUILT_DI[:2]
    for model_id in ("aaa-new", "zzz-new"):
        assert admin.post("/_emulator/accounts/src/models", json={"model_id": model_id}).status_code == 201
    rest: list[str] = []
    link = first["nextLink"]
    while link:
        body = http.get(link, headers={"Ocp-Apim-Subscription-Key": KEYS["src"]}).json()
        rest += [m["modelId"] for m in body["value"]]
        link = body.get("nextLink")
    assert rest == PREBUILT_DI[2:] + ["aaa-new", "invoice-2024", "receipt-2023", "zzz-new"]
    bad = http.get(f"{src.base}/documentModels", params={"nextLink": "!!!", "api-version": V4}, headers={"Ocp-Apim-Subscription-Key": KEYS["src"]})
    assert bad.status_code == 400


def test_get_missing_model_is_404_model_not_found(http, emu):
    for prefix, version in ((DI, V4), (DI, V4P), (FR, V31), (FR, V30)):
        r = Api(http, emu, "src", prefix, version).get("documentModels/no-such-model")
        assert r.status_code == 404 and r.json() == MODEL_NOT_FOUND


def test_delete_model_then_404_and_prebuilt_is_read_only(http, emu):
    src = Api(http, emu, "src")
    r = src.delete("documentModels/invoice-2024")
    assert r.status_code == 204 and r.content == b""
    assert src.get("documentModels/invoice-2024").status_code == 404
    again = src.delete("documentModels/invoice-2024")
    assert again.status_code == 404 and again.json() == MODEL_NOT_FOUND
    assert Api(http, emu, "src", FR, V31).get("documentModels/invoice-2024").status_code == 404  # one shared store
    prebuilt = src.delete("documentModels/prebuilt-read")
    assert prebuilt.status_code == 400 and error_of(prebuilt) == ("InvalidRequest", "ModelReadOnly")
    assert src.get("documentModels/prebuilt-read").status_code == 200


def test_classifiers_list_get_delete(http, emu):
    src = Api(http, emu, "src")
    items = src.list_all("documentClassifiers")
    assert [c["classifierId"] for c in items] == ["router"]
    router = src.get("documentClassifiers/router").json()
    assert set(router["docTypes"]) == {"invoice", "receipt"} and router["description"] == "Routes documents"
    assert src.delete("documentClassifiers/router").status_code == 204
    missing = src.get("documentClassifiers/router")
    assert missing.status_code == 404 and error_of(missing) == ("NotFound", "ModelNotFound")


def test_info_counts_custom_models_only(http, emu):
    for prefix, version in ((DI, V4), (DI, V4P), (FR, V31), (FR, V30)):
        body = Api(http, emu, "src", prefix, version).get("info").json()
        assert body["customDocumentModels"] == {"count": 2, "limit": 500}
        assert ("customNeuralDocumentModelBuilds" in body) == (version in (V4P, V31))
    assert Api(http, emu, "full").get("info").json()["customDocumentModels"] == {"count": 1, "limit": 1}


# --- the copy flow -------------------------------------------------------------------------------------------------


def test_model_copy_end_to_end(http, emu, admin):
    src, dst = Api(http, emu, "src"), Api(http, emu, "dst")
    auth = dst.authorize("invoice-copy", description="copied invoices", tags={"dr": "yes"})
    assert set(auth) == {"targetResourceId", "targetResourceRegion", "targetModelId", "targetModelLocation", "accessToken", "expirationDateTime"}
    assert auth["targetResourceId"] == f"{SUB}/dst" and auth["targetResourceRegion"] == "westus"
    assert auth["targetModelId"] == "invoice-copy"
    assert auth["targetModelLocation"] == f"{emu.account_url('dst')}/{DI}/documentModels/invoice-copy?api-version={V4}"
    expires = datetime.fromisoformat(auth["expirationDateTime"].replace("Z", "+00:00"))
    assert 3500 < (expires - datetime.now(timezone.utc)).total_seconds() <= 3601

    r = src.copy("invoice-2024", auth)
    assert r.status_code == 202 and r.content == b""
    location = r.headers["Operation-Location"]
    assert location.startswith(f"{emu.account_url('src')}/{DI}/operations/") and location.endswith(f"?api-version={V4}")
    assert "Retry-After" not in r.headers  # the live service sends none on this 202 (issue 13)

    first = src.follow(r)
    assert first["status"] == "notStarted" and "percentCompleted" not in first
    assert first["kind"] == "documentModelCopyTo" and first["resourceLocation"] == auth["targetModelLocation"]
    assert dst.get("documentModels/invoice-copy").status_code == 404  # visible only once the copy succeeded
    assert "invoice-copy" not in [m["modelId"] for m in dst.list_all("documentModels")]

    advance(admin, 0.1)
    running = src.follow(r)
    assert running["status"] == "running" and 0 < running["percentCompleted"] < 100
    advance(admin, 0.2)
    done = src.follow(r)
    assert done["status"] == "succeeded" and done["percentCompleted"] == 100
    result = done["result"]
    assert result == dst.get("documentModels/invoice-copy").json()
    assert result["modelId"] == "invoice-copy"
    assert result["description"] == "copied invoices" and result["tags"] == {"dr": "yes"}  # from authorizeCopy
    source = src.get("documentModels/invoice-2024").json()
    for kept in ("expirationDateTime", "modifiedDateTime", "apiVersion"):  # contracts §2.4 [R]
        assert result[kept] == source[kept]
    # a NEW createdDateTime: the copy's completion time (recordings since 2024, contracts §2.4; issue 13)
    assert result["createdDateTime"] == done["lastUpdatedDateTime"] != source["createdDateTime"]
    assert list(result["docTypes"]) == ["invoice-copy"]  # the doc type named after the model is renamed
    assert result["docTypes"]["invoice-copy"] == source["docTypes"]["invoice-2024"]
    assert dst.get("info").json()["customDocumentModels"]["count"] == 1


def test_copy_keeps_other_doc_type_names(http, emu, admin):
    src, dst = Api(http, emu, "src"), Api(http, emu, "dst")
    r = src.copy("receipt-2023", dst.authorize("receipts"))
    assert r.status_code == 202
    advance(admin, 1)
    model = dst.get("documentModels/receipts").json()
    assert set(model["docTypes"]) == {"receipt", "slip"} and "description" not in model and model["tags"] == {}


def test_copy_through_form_recognizer_v3(http, emu, admin):
    for version in (V31, V30):
        src, dst = Api(http, emu, "src", FR, version), Api(http, emu, "dst", FR, version)
        target_id = f"fr-{version}"
        auth = dst.authorize(target_id)
        assert auth["targetModelLocation"] == f"{emu.account_url('dst')}/{FR}/documentModels/{target_id}?api-version={version}"
        r = src.copy("invoice-2024", auth)
        assert r.status_code == 202
        assert r.headers["Operation-Location"].startswith(f"{emu.account_url('src')}/{FR}/operations/")
        advance(admin, 1)
        done = src.follow(r)
        assert done["status"] == "succeeded" and done["result"]["modelId"] == target_id
        assert Api(http, emu, "dst", DI, V4).get(f"documentModels/{target_id}").status_code == 200  # shared store


def test_second_authorization_for_reserved_id_conflicts_until_it_expires(http, emu, admin):
    dst = Api(http, emu, "dst")
    dst.authorize("reserved")
    r = dst.post("documentModels:authorizeCopy", json={"modelId": "reserved"})
    assert r.status_code == 409 and r.json() == MODEL_EXISTS
    assert "reserved" not in [m["modelId"] for m in dst.list_all("documentModels")]
    advance(admin, 3600)  # di_authorization_ttl_seconds (1 h): an unused reservation ends with its authorization
    assert dst.post("documentModels:authorizeCopy", json={"modelId": "reserved"}).status_code == 200


def test_authorizing_an_existing_model_id_is_model_exists(http, emu):
    for prefix, version in ((DI, V4), (FR, V31), (FR, V30)):
        r = Api(http, emu, "src", prefix, version).post("documentModels:authorizeCopy", json={"modelId": "invoice-2024"})
        assert r.status_code == 409 and r.json() == MODEL_EXISTS
    prebuilt = Api(http, emu, "src").post("documentModels:authorizeCopy", json={"modelId": "prebuilt-layout"})
    assert prebuilt.status_code == 409


def test_edited_authorization_is_rejected_without_consuming_it(http, emu, admin):
    src, dst = Api(http, emu, "src"), Api(http, emu, "dst")
    auth = dst.authorize("edited")
    edits = {
        "targetModelId": "other-id",
        "targetModelLocation": auth["targetModelLocation"].replace("edited", "other"),
        "accessToken": auth["accessToken"][:-2] + "xx",
        "expirationDateTime": "2099-01-01T00:00:00Z",
    }
    for field, value in edits.items():
        r = src.copy("invoice-2024", {**auth, field: value})
        assert r.status_code == 400, field
        assert r.json() == {"error": {"code": "1002", "message": INVALID_CLAIMS}}, field
    # the target resource is resolved first: unknown id, or not in that region -> "Couldn't fetch information ..."
    for resource_id, region in ((f"{SUB}/nowhere", "westus"), (auth["targetResourceId"], "eastus")):
        r = src.copy("invoice-2024", {**auth, "targetResourceId": resource_id, "targetResourceRegion": region})
        assert r.status_code == 400 and r.json()["error"]["code"] == "1002"
        assert r.json()["error"]["message"] == (
            f"Couldn't fetch information for Cognitive resource with ID '{resource_id}'. "
            f"Ensure the resource is valid and exists in the specified region '{region}'."
        )
    # another real account: its own authorizations do not hold this token
    cmk = {a["name"]: a for a in admin.get("/_emulator/accounts").json()["accounts"]}["cmk"]
    r = src.copy("invoice-2024", {**auth, "targetResourceId": cmk["resource_id"], "targetResourceRegion": cmk["region"]})
    assert r.status_code == 400 and r.json()["error"]["message"] == INVALID_CLAIMS
    # an equivalent timestamp spelling is not an edit (SDKs re-serialise date-times)
    same = {**auth, "expirationDateTime": auth["expirationDateTime"].replace("Z", ".000Z")}
    assert src.copy("invoice-2024", same).status_code == 202


def test_consumed_authorization_cannot_be_reused(http, emu, admin):
    src, dst = Api(http, emu, "src"), Api(http, emu, "dst")
    auth = dst.authorize("once")
    assert src.copy("invoice-2024", auth).status_code == 202
    for _ in range(2):  # while in flight and after success
        r = src.copy("invoice-2024", auth)
        assert r.status_code == 400
        assert r.json()["error"] == {"code": "1002", "message": "Couldn't retrieve authorization metadata. If this issue persists use a different target model to copy into."}
        advance(admin, 1)


def test_expired_authorization_fails_with_1002(http, emu, admin):
    src, dst = Api(http, emu, "src"), Api(http, emu, "dst")
    auth = dst.authorize("late")
    advance(admin, 3600)
    r = src.copy("invoice-2024", auth)
    assert r.status_code == 400 and r.json()["error"]["code"] == "1002"
    assert r.json()["error"]["message"].startswith(INVALID_CLAIMS) and "expired" in r.json()["error"]["message"]


def test_copy_of_unknown_or_prebuilt_source_model(http, emu):
    src, dst = Api(http, emu, "src"), Api(http, emu, "dst")
    auth = dst.authorize("ghost")
    r = src.copy("no-such-model", auth)
    assert r.status_code == 404 and r.json() == MODEL_NOT_FOUND
    r = src.copy("prebuilt-read", auth)
    assert r.status_code == 400 and error_of(r) == ("InvalidRequest", "ModelReadOnly")


def test_encryption_downgrade_needs_the_header(http, emu, admin):
    cmk, dst = Api(http, emu, "cmk"), Api(http, emu, "dst")
    r = cmk.copy("secret-model", dst.authorize("plain"))
    assert r.status_code == 202  # the copy *operation* fails (docs: DataProtectionTransformServiceError)
    advance(admin, 1)
    failed = cmk.follow(r)
    assert failed["status"] == "failed" and "result" not in failed
    assert failed["error"]["code"] == "DataProtectionTransformServiceError"
    assert "downgrades to a less secure data protection scheme" in failed["error"]["message"]
    assert dst.get("documentModels/plain").status_code == 404
    # a failed copy releases the reserved id; with the header the downgrade is allowed
    r = cmk.copy("secret-model", dst.authorize("plain"), headers={"x-ms-forms-copy-degrade": "true"})
    advance(admin, 1)
    assert cmk.follow(r)["status"] == "succeeded"
    # Microsoft-managed -> customer-managed is not a downgrade
    r = Api(http, emu, "src").copy("invoice-2024", cmk.authorize("upgraded"))
    advance(admin, 1)
    assert Api(http, emu, "src").follow(r)["status"] == "succeeded"


def test_copy_into_a_full_target_fails(http, emu, admin):
    src, full = Api(http, emu, "src"), Api(http, emu, "full")
    r = src.copy("invoice-2024", full.authorize("one-too-many"))
    assert r.status_code == 400 and error_of(r) == ("InvalidRequest", "DocumentModelLimit")
    # a target that fills up while the copy runs fails the operation instead
    assert full.delete("documentModels/only-one").status_code == 204
    r = src.copy("invoice-2024", full.authorize("racing"))
    assert r.status_code == 202
    assert admin.post("/_emulator/accounts/full/models", json={"model_id": "sneaky"}).status_code == 201
    advance(admin, 1)
    failed = src.follow(r)
    assert failed["status"] == "failed"
    assert failed["error"]["innererror"]["code"] == "DocumentModelLimit"


def test_target_id_taken_out_of_band_fails_the_copy(http, emu, admin):
    src, dst = Api(http, emu, "src"), Api(http, emu, "dst")
    r = src.copy("invoice-2024", dst.authorize("contested"))
    assert admin.post("/_emulator/accounts/dst/models", json={"model_id": "contested"}).status_code == 201
    advance(admin, 1)
    failed = src.follow(r)
    assert failed["status"] == "failed" and failed["error"]["innererror"]["code"] == "ModelExists"


def test_classifier_copy_on_2024_11_30(http, emu, admin):
    src, dst = Api(http, emu, "src"), Api(http, emu, "dst")
    r = dst.post("documentClassifiers:authorizeCopy", json={"classifierId": "router-dr", "description": "dr copy"})
    assert r.status_code == 200
    auth = r.json()
    assert auth["targetClassifierId"] == "router-dr"
    assert auth["targetClassifierLocation"] == f"{emu.account_url('dst')}/{DI}/documentClassifiers/router-dr?api-version={V4}"
    again = dst.post("documentClassifiers:authorizeCopy", json={"classifierId": "router-dr"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "Conflict"
    edited = src.post("documentClassifiers/router:copyTo", json={**auth, "targetClassifierId": "x-other"})
    assert edited.status_code == 400 and edited.json()["error"]["message"] == INVALID_CLAIMS
    missing = src.post("documentClassifiers/nope:copyTo", json=auth)
    assert missing.status_code == 404
    copied = src.post("documentClassifiers/router:copyTo", json=auth)
    assert copied.status_code == 202
    advance(admin, 1)
    done = src.follow(copied)
    assert done["kind"] == "documentClassifierCopyTo" and done["status"] == "succeeded"
    result = done["result"]
    source = src.get("documentClassifiers/router").json()
    assert result["classifierId"] == "router-dr" and result["description"] == "dr copy"
    # 2024-11-30 classifier-copy recording (issue 13 point 2): docTypes whole (sourceKind, blob source), modified and
    # expiration kept, createdDateTime the copy's own
    assert result["docTypes"] == source["docTypes"]
    assert result["docTypes"]["invoice"] == {
        "sourceKind": "azureBlob",
        "azureBlobSource": {"containerUrl": "https://drplanemulator.blob.core.windows.net/training", "prefix": "invoice/"},
    }
    assert result["modifiedDateTime"] == source["modifiedDateTime"] and result["expirationDateTime"] == source["expirationDateTime"]
    assert result["createdDateTime"] == done["lastUpdatedDateTime"] != source["createdDateTime"]
    assert dst.get("documentClassifiers/router-dr").json() == result
    # a model authorization cannot be used for a classifier copy, and vice versa
    model_auth = dst.authorize("model-slot")
    r = src.post("documentClassifiers/router:copyTo", json=model_auth)
    assert r.status_code == 400 and error_of(r) == ("InvalidArgument", "ParameterMissing")
    # classifier operations are invisible to versions whose OperationKind lacks documentClassifierCopyTo
    op_id = urlsplit(copied.headers["Operation-Location"]).path.rsplit("/", 1)[1]
    assert Api(http, emu, "src", DI, V4P).get(f"operations/{op_id}").status_code == 404
    assert Api(http, emu, "src", DI, V4P).list_all("operations") == []


# --- operations ----------------------------------------------------------------------------------------------------


# --- as recorded (issue 13): copy timestamps, authorization lifetime, no Retry-After, origins, request ids -----------


def _seconds_until(timestamp: str) -> float:
    return (datetime.fromisoformat(timestamp.replace("Z", "+00:00")) - datetime.now(timezone.utc)).total_seconds()


def test_copy_keeps_created_is_a_setting(http, emu, admin):
    """``copy_keeps_created = true`` ([settings] default, or per account): the service before 2024 (a 2023 recording,
    api 2023-10-31-preview, shows the copy with the source's createdDateTime; contracts §2.4 [R])."""
    src, dst = Api(http, emu, "src"), Api(http, emu, "dst")
    assert admin.get("/_emulator/settings").json()["copy_keeps_created"] is False  # the service since 2024
    assert admin.put("/_emulator/settings", json={"copy_keeps_created": True}).json()["copy_keeps_created"] is True
    assert admin.put("/_emulator/settings", json={"copy_keeps_created": "yes"}).status_code == 400
    models = src.copy("invoice-2024", dst.authorize("kept", tags={"k": "v"}))
    r = src.post("documentClassifiers/router:copyTo", json=dst.post("documentClassifiers:authorizeCopy", json={"classifierId": "kept-router"}).json())
    advance(admin, 1)
    source = src.get("documentModels/invoice-2024").json()
    copied = src.follow(models)["result"]
    assert copied["createdDateTime"] == source["createdDateTime"] == "2024-05-01T10:00:00Z"
    assert copied["tags"] == {"k": "v"} and copied["expirationDateTime"] == source["expirationDateTime"]
    assert src.follow(r)["result"]["createdDateTime"] == src.get("documentClassifiers/router").json()["createdDateTime"]


def test_seeded_classifiers_and_models_carry_modified_and_source_kind(http, emu, admin):
    """2024-11-30 shows modifiedDateTime (ro, 2024-11-30 only, contracts §2.2) and docTypes.*.sourceKind; older
    versions do not (their schemas have neither; the conformance hook checks every answer against them)."""
    r = admin.post("/_emulator/accounts/src/classifiers", json={
        "classifier_id": "listed", "created": "2024-01-01T00:00:00Z", "modified": "2024-02-02T00:00:00Z",
        "source_kind": "azureBlobFileList", "doc_types": ["a", "b"]})
    assert r.status_code == 201, r.text
    got = Api(http, emu, "src").get("documentClassifiers/listed").json()
    assert got["modifiedDateTime"] == "2024-02-02T00:00:00Z"
    assert got["docTypes"]["a"] == {"sourceKind": "azureBlobFileList", "azureBlobFileListSource": {
        "containerUrl": "https://drplanemulator.blob.core.windows.net/training", "fileList": "a.jsonl"}}
    old = Api(http, emu, "src", FR, V31).get("documentClassifiers/listed").json()
    assert "modifiedDateTime" not in old and "sourceKind" not in old["docTypes"]["a"]
    assert "modifiedDateTime" not in Api(http, emu, "src", DI, V4P).get("documentClassifiers/listed").json()
    model = Api(http, emu, "src").get("documentModels/invoice-2024").json()
    assert model["modifiedDateTime"] == model["createdDateTime"]  # seeded without `modified`: = created
    assert "modifiedDateTime" not in Api(http, emu, "src", FR, V31).get("documentModels/invoice-2024").json()
    assert admin.post("/_emulator/accounts/src/classifiers", json={"classifier_id": "bad", "source_kind": "url"}).status_code == 400


def test_authorization_lifetimes_per_family(http, emu, admin):
    """DI v4 / FR v3: 1 h (every recording, contracts §2.4); FR v2.1: 24 h (contracts §4 [R]). Both configurable."""
    settings = admin.get("/_emulator/settings").json()
    assert (settings["di_authorization_ttl_seconds"], settings["authorization_ttl_seconds"]) == (3600, 86400)
    for api in (Api(http, emu, "dst"), Api(http, emu, "dst", FR, V31)):
        assert 3590 < _seconds_until(api.authorize(f"ttl-{api.prefix}")["expirationDateTime"]) <= 3600
    classifier = Api(http, emu, "dst").post("documentClassifiers:authorizeCopy", json={"classifierId": "ttl-c"}).json()
    assert 3590 < _seconds_until(classifier["expirationDateTime"]) <= 3600
    v2 = http.post(f"{emu.account_url('dst')}/formrecognizer/v2.1/custom/models/copyAuthorization",
                   headers={"Ocp-Apim-Subscription-Key": KEYS["dst"]})
    assert v2.status_code == 201
    assert 86390 < v2.json()["expirationDateTimeTicks"] - time.time() <= 86400
    admin.put("/_emulator/settings", json={"di_authorization_ttl_seconds": 60})
    assert 50 < _seconds_until(Api(http, emu, "dst").authorize("ttl-short")["expirationDateTime"]) <= 60
    assert admin.put("/_emulator/settings", json={"di_authorization_ttl_seconds": 0}).status_code == 400


def test_copy_from_a_model_that_is_not_ready_is_model_not_ready(http, emu, admin):
    """Issue 13: FR v3 copyTo from a model that is not ready answers ModelNotReady (contracts §2.6: 400
    InvalidRequest / ModelNotReady); the v3/v4 store is shared, so DI v4 answers the same [INF]."""
    assert admin.post("/_emulator/accounts/src/models", json={"model_id": "building", "ready": False}).status_code == 201
    for prefix, version in ((FR, V31), (FR, V30), (DI, V4)):
        src, dst = Api(http, emu, "src", prefix, version), Api(http, emu, "dst", prefix, version)
        auth = dst.authorize(f"from-building-{version}")
        r = src.copy("building", auth)
        assert r.status_code == 400 and error_of(r) == ("InvalidRequest", "ModelNotReady"), r.text
        assert src.copy("invoice-2024", auth).status_code == 202  # the authorization was not consumed


def test_urls_carry_the_account_in_the_host_only(http, emu, admin):
    """Issue 13 point 4: every URL the service hands out is ``{account origin}/{prefix}/...``, never
    ``/accounts/<name>/...`` (the conformance hook checks every response of these tests for that too)."""
    src, dst = Api(http, emu, "src"), Api(http, emu, "dst")
    src_origin, dst_origin = emu.account_url("src"), emu.account_url("dst")
    assert urlsplit(src_origin).path == "" and src_origin != dst_origin != emu.url
    auth = dst.authorize("origins")
    r = src.copy("invoice-2024", auth)
    advance(admin, 1)
    op = src.follow(r)
    urls = [auth["targetModelLocation"], r.headers["Operation-Location"], op["resourceLocation"]]
    urls.append(src.get("documentModels").json()["nextLink"])
    v2 = http.post(f"{dst_origin}/formrecognizer/v2.1/custom/models/copyAuthorization", headers={"Ocp-Apim-Subscription-Key": KEYS["dst"]})
    urls.append(v2.headers["Location"])
    for url in urls:
        parts = urlsplit(url)
        assert "/accounts/" not in parts.path and parts.path.split("/")[1] in (DI, FR), url
        assert f"{parts.scheme}://{parts.netloc}" == (dst_origin if url in (auth["targetModelLocation"], op["resourceLocation"], v2.headers["Location"]) else src_origin), url


def test_a_key_works_on_its_own_account_origin_only(http, emu):
    """The origin names the account: another account's key is refused there (401), on every family."""
    paths = [
        (f"{DI}/documentModels", {"api-version": V4}),
        (f"{FR}/documentModels", {"api-version": V31}),
        (f"{FR}/v2.1/custom/models", {"op": "summary"}),
        ("contentunderstanding/analyzers", {"api-version": "2025-11-01"}),
        ("language/authoring/analyze-text/projects", {"api-version": "2023-04-01"}),
    ]
    plain = httpx.Client(timeout=10.0)  # CU / Language gateway 401s are checked in their own modules
    for path, params in paths:
        client = http if path.startswith((DI, FR)) else plain
        for origin_of, key_of in (("src", "dst"), ("dst", "src")):
            r = client.get(f"{emu.account_url(origin_of)}/{path}", params=params, headers={"Ocp-Apim-Subscription-Key": KEYS[key_of]})
            assert r.status_code == 401 and r.json()["error"]["code"] == "401", (path, r.text)
        own = client.get(f"{emu.account_url('src')}/{path}", params=params, headers={"Ocp-Apim-Subscription-Key": KEYS["src"]})
        assert own.status_code == 200, (path, own.text)
        assert own.headers["x-ms-region"] == "eastus"
    plain.close()


def test_apim_request_id_on_every_answer(http, emu, admin):
    """contracts §1 [R]: ``apim-request-id`` (a GUID) on every response: success, errors, APIM 404, 401, 429, injected
    faults, failed copies; the admin API's too."""
    src = Api(http, emu, "src")
    answers = [
        src.get("info"), src.get("documentModels/missing"), src.get("nothing/here"), src.get("info", key="wrong"),
        http.get(f"{emu.url}/{DI}/info", params={"api-version": V4}),
        httpx.get(f"{emu.account_url('src')}/contentunderstanding/nope", headers={"Ocp-Apim-Subscription-Key": KEYS["src"]}),
        httpx.get(f"{emu.account_url('src')}/language/nope", headers={"Ocp-Apim-Subscription-Key": KEYS["src"]}),
        http.get(f"{emu.account_url('src')}/{FR}/v2.1/custom/models/{uuid.uuid4()}", headers={"Ocp-Apim-Subscription-Key": KEYS["src"]}),
        admin.get("/_emulator/health"), admin.get("/_emulator/nothing"),
    ]
    set_faults(admin, account="src", error_rate=1.0, routes=["info"])
    answers.append(src.get("info"))
    set_faults(admin, account="src", error_rate=0.0, rate_limit_per_second=1)
    answers += [src.get("documentModels") for _ in range(3)]
    statuses = {r.status_code for r in answers}
    assert {200, 401, 404, 429, 503} <= statuses, statuses
    for r in answers:
        assert uuid.UUID(r.headers["apim-request-id"]), (r.request.url, r.status_code)


def test_operations_list_pages_and_retention(http, emu, admin):
    src, dst = Api(http, emu, "src"), Api(http, emu, "dst")
    locations = [src.copy("invoice-2024", dst.authorize(f"ops-{i}")).headers["Operation-Location"] for i in range(3)]
    op_ids = [urlsplit(loc).path.rsplit("/", 1)[1] for loc in locations]
    listed = src.list_all("operations")  # page_size 2: two pages
    assert [o["operationId"] for o in listed] == op_ids
    assert all("result" not in o and "error" not in o for o in listed)
    fr_listed = Api(http, emu, "src", FR, V31).list_all("operations")
    assert [o["operationId"] for o in fr_listed] == op_ids
    assert Api(http, emu, "dst").list_all("operations") == []  # operations live on the source (contracts §2.3)

    advance(admin, 1)
    assert all(o["status"] == "succeeded" for o in src.list_all("operations"))
    late = src.copy("invoice-2024", dst.authorize("ops-late"))
    advance(admin, 600)  # operation_retention_seconds after completion: gone
    gone = src.get(f"operations/{op_ids[0]}")
    assert gone.status_code == 404 and error_of(gone) == ("NotFound", "OperationNotFound")
    remaining = [o["operationId"] for o in src.list_all("operations")]
    assert remaining == [urlsplit(late.headers["Operation-Location"]).path.rsplit("/", 1)[1]]
    unknown = src.get("operations/00000000000_nope")
    assert unknown.status_code == 404 and error_of(unknown) == ("NotFound", "OperationNotFound")


def test_copy_progress_in_real_time(http, emu):
    """Without clock moves a copy takes copy_seconds of wall time (0.2 s here)."""
    src, dst = Api(http, emu, "src"), Api(http, emu, "dst")
    r = src.copy("invoice-2024", dst.authorize("realtime"))
    deadline = time.monotonic() + 5
    statuses = []
    while time.monotonic() < deadline:
        status = src.follow(r)["status"]
        statuses.append(status)
        if status == "succeeded":
            break
        time.sleep(0.05)
    assert statuses[0] in ("notStarted", "running") and statuses[-1] == "succeeded"


# --- faults --------------------------------------------------------------------------------------------------------


def test_rate_limit_is_per_account_with_retry_after(http, emu, admin):
    set_faults(admin, account="src", rate_limit_per_second=2)
    src, dst = Api(http, emu, "src"), Api(http, emu, "dst")
    statuses = [src.get("info").status_code for _ in range(6)]
    assert statuses[:2] == [200, 200] and 429 in statuses
    throttled = src.get("info")
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "1"
    assert throttled.json()["error"]["code"] == "429" and throttled.json()["error"]["message"]
    assert [dst.get("info").status_code for _ in range(6)] == [200] * 6  # other accounts are not limited
    counters = admin.get("/_emulator/counters").json()
    assert counters["throttled"]["src"] == statuses.count(429) + 1 and "dst" not in counters["throttled"]
    time.sleep(0.6)  # the bucket refills in real time
    assert src.get("info").status_code == 200


def test_injected_503_happens_before_any_side_effect(http, emu, admin):
    set_faults(admin, error_rate=1.0, routes=["documentModels:authorizeCopy"])
    dst = Api(http, emu, "dst")
    r = dst.post("documentModels:authorizeCopy", json={"modelId": "retry-me"})
    assert r.status_code == 503 and error_of(r) == ("ServiceUnavailable", None)
    assert dst.get("info").status_code == 200  # other routes unaffected
    set_faults(admin, error_rate=0.0)
    assert dst.post("documentModels:authorizeCopy", json={"modelId": "retry-me"}).status_code == 200  # nothing reserved


def test_dropped_connection_before_side_effect(http, emu, admin):
    src, dst = Api(http, emu, "src"), Api(http, emu, "dst")
    auth = dst.authorize("dropped")
    set_faults(admin, account="src", drop_rate=1.0, routes=["documentModels:copyTo"])
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        src.copy("invoice-2024", auth)
    set_faults(admin, account="src", drop_rate=0.0)
    assert src.list_all("operations") == []
    assert src.copy("invoice-2024", auth).status_code == 202  # the authorization was not consumed
    log = admin.get("/_emulator/requests").json()
    drops = [e for e in log if e["fault"] == "drop"]
    assert len(drops) == 1 and drops[0]["status"] is None and drops[0]["route"] == "documentModels:copyTo"


def test_drop_after_loses_the_answer_but_keeps_the_side_effect(http, emu, admin):
    src, dst = Api(http, emu, "src"), Api(http, emu, "dst")
    auth = dst.authorize("lost-answer")
    set_faults(admin, account="src", drop_after_rate=1.0, routes=["documentModels:copyTo"])
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        src.copy("invoice-2024", auth)
    set_faults(admin, account="src", drop_after_rate=0.0)
    started = src.list_all("operations")  # how a client resumes: look before it leaps
    assert len(started) == 1 and started[0]["resourceLocation"] == auth["targetModelLocation"]
    retry = src.copy("invoice-2024", auth)
    assert retry.status_code == 400 and retry.json()["error"]["message"].startswith("Couldn't retrieve authorization metadata")
    advance(admin, 1)
    assert dst.get("documentModels/lost-answer").status_code == 200
    counters = admin.get("/_emulator/counters").json()
    assert counters["faults"]["src"]["drop_after"] == 1


def test_faults_are_deterministic_for_a_seed(http, emu, admin):
    src = Api(http, emu, "src")

    def run() -> list[int]:
        set_faults(admin, account="src", error_rate=0.5)
        return [src.get("info").status_code for _ in range(24)]

    first = run()
    assert {200, 503} == set(first)
    assert admin.post("/_emulator/reset").status_code == 200
    assert run() == first
    assert admin.get("/_emulator/counters").json()["faults"]["src"]["error"] == first.count(503)


def test_injected_errors_mix_429_and_503_with_and_without_retry_after(http, emu, admin):
    """A fault storm's errors (issue 19): ``throttle_share`` of them 429, the rest 503; ``retry_after_share`` carry
    ``Retry-After``; deterministic for a seed; counted per kind."""
    src = Api(http, emu, "src")

    def run() -> list[tuple[int, str | None]]:
        set_faults(admin, account="src", error_rate=1.0, throttle_share=0.5, retry_after_share=0.5)
        seen = [src.get("info") for _ in range(40)]
        set_faults(admin, account="src", error_rate=0.0)
        return [(r.status_code, r.headers.get("retry-after")) for r in seen]

    first = run()
    assert set(first) == {(429, "1"), (429, None), (503, "1"), (503, None)}
    assert admin.post("/_emulator/reset").status_code == 200
    assert run() == first
    counts = admin.get("/_emulator/counters").json()["faults"]["src"]
    assert counts["error"] == 40 and counts["error_429_retry_after"] == first.count((429, "1"))
    assert counts["error_503"] == first.count((503, None))
    bad = admin.put("/_emulator/faults", json={"throttle_share": 1.5})
    assert bad.status_code == 400 and "throttle_share" in bad.text


def test_failing_operations(http, emu, admin):
    set_faults(admin, operation_failure_rate=1.0)
    src, dst = Api(http, emu, "src"), Api(http, emu, "dst")
    r = src.copy("invoice-2024", dst.authorize("doomed"))
    advance(admin, 1)
    failed = src.follow(r)
    assert failed["status"] == "failed" and failed["error"]["code"] == "InternalServerError"
    set_faults(admin, operation_failure_rate=0.0)
    r = src.copy("invoice-2024", dst.authorize("doomed"))  # the failed copy released the id
    advance(admin, 1)
    assert src.follow(r)["status"] == "succeeded"


def test_latency_and_slow_mode(http, emu, admin):
    src, dst = Api(http, emu, "src"), Api(http, emu, "dst")
    set_faults(admin, account="src", latency_ms=150)
    t0 = time.monotonic()
    assert src.get("info").status_code == 200
    assert time.monotonic() - t0 >= 0.15
    t0 = time.monotonic()
    assert dst.get("info").status_code == 200
    assert time.monotonic() - t0 < 0.15
    set_faults(admin, account="src", latency_ms=0, slow=True)
    t0 = time.monotonic()
    r = src.copy("invoice-2024", dst.authorize("slowly"))
    assert time.monotonic() - t0 >= 0.2  # responses +200 ms
    advance(admin, 1)  # 5x copy_seconds: still running, slow copies take 10x
    assert src.follow(r)["status"] == "running"
    advance(admin, 1.1)
    assert src.follow(r)["status"] == "succeeded"


# --- admin API -----------------------------------------------------------------------------------------------------


def test_admin_health_and_accounts(http, emu, admin):
    assert admin.get("/_emulator/health").json() == {"status": "ok"}
    accounts = {a["name"]: a for a in admin.get("/_emulator/accounts").json()["accounts"]}
    assert set(accounts) == set(KEYS)
    src = accounts["src"]
    assert src["endpoint"] == emu.account_url("src") and src["region"] == "eastus"
    assert src["resource_id"] == f"{SUB}/src" and src["encryption"] == "microsoft-managed" and src["model_limit"] == 500
    assert src["models"] == ["invoice-2024", "receipt-2023"] and src["classifiers"] == ["router"]
    assert accounts["cmk"]["encryption"] == "customer-managed"
    assert accounts["cmk"]["resource_id"].endswith("/providers/Microsoft.CognitiveServices/accounts/cmk")


def test_admin_seed_and_remove_assets(http, emu, admin):
    src = Api(http, emu, "src")
    r = admin.post("/_emulator/accounts/src/models", json={"model_id": "seeded", "description": "S", "created": "2020-01-02T03:04:05Z", "doc_types": ["a", "b"]})
    assert r.status_code == 201 and r.json()["createdDateTime"] == "2020-01-02T03:04:05Z"
    got = src.get("documentModels/seeded").json()
    assert got["description"] == "S" and set(got["docTypes"]) == {"a", "b"}
    dup = admin.post("/_emulator/accounts/src/models", json={"model_id": "seeded"})
    assert dup.status_code == 409
    bad = admin.post("/_emulator/accounts/src/models", json={"model_id": "ok-id", "colour": "blue"})
    assert bad.status_code == 400 and "model.colour" in bad.json()["error"]["message"]
    bad = admin.post("/_emulator/accounts/src/models", json={"model_id": "x"})
    assert bad.status_code == 400 and "model.model_id" in bad.json()["error"]["message"]
    assert admin.post("/_emulator/accounts/nobody/models", json={"model_id": "abc"}).status_code == 404
    r = admin.post("/_emulator/accounts/src/classifiers", json={"classifier_id": "cls-2", "doc_types": ["x", "y"]})
    assert r.status_code == 201
    assert src.get("documentClassifiers/cls-2").status_code == 200
    assert admin.delete("/_emulator/accounts/src/models/seeded").status_code == 204
    assert src.get("documentModels/seeded").status_code == 404
    assert admin.delete("/_emulator/accounts/src/models/seeded").status_code == 404
    assert admin.delete("/_emulator/accounts/src/classifiers/cls-2").status_code == 204
    assert admin.get("/_emulator/nothing-here").status_code == 404


def test_admin_faults_and_settings_validation(http, emu, admin):
    r = admin.put("/_emulator/faults", json={"error_rate": 2})
    assert r.status_code == 400 and "faults.error_rate" in r.json()["error"]["message"]
    r = admin.put("/_emulator/faults", json={"routes": ["documentModels:nope"]})
    assert r.status_code == 400
    assert admin.put("/_emulator/faults", json={"account": "nobody", "slow": True}).status_code == 404
    r = admin.put("/_emulator/faults", json={"account": "dst", "latency_ms": 5})
    assert r.json()["accounts"]["dst"]["latency_ms"] == 5 and r.json()["accounts"]["src"]["latency_ms"] == 0
    r = admin.put("/_emulator/settings", json={"page_size": 1})
    assert r.status_code == 200 and r.json()["page_size"] == 1
    first = Api(http, emu, "src").get("documentModels").json()
    assert len(first["value"]) == 1
    r = admin.put("/_emulator/settings", json={"page_size": 0})
    assert r.status_code == 400 and "settings.page_size" in r.json()["error"]["message"]
    assert admin.put("/_emulator/settings", json={"pagesize": 3}).status_code == 400


def test_admin_request_log_and_counters(http, emu, admin):
    src = Api(http, emu, "src")
    src.get("documentModels")
    src.get("documentModels/invoice-2024")
    src.get("documentModels/missing")
    src.get("info", key="wrong")
    log = admin.get("/_emulator/requests").json()
    assert [(e["account"], e["method"], e["route"], e["status"]) for e in log] == [
        ("src", "GET", "documentModels:list", 200),
        ("src", "GET", "documentModels:get", 200),
        ("src", "GET", "documentModels:get", 404),
        ("src", "GET", "info", 401),
    ]
    assert log[1]["path"] == "/documentintelligence/documentModels/invoice-2024"  # the account is in the host only
    assert datetime.fromisoformat(log[0]["time"].replace("Z", "+00:00"))
    counters = admin.get("/_emulator/counters").json()
    assert counters["requests"] == {"src": {"documentModels:list": 1, "documentModels:get": 2, "info": 1}}


def test_admin_reset_restores_the_config_state(http, emu, admin):
    src, dst = Api(http, emu, "src"), Api(http, emu, "dst")
    admin.post("/_emulator/accounts/src/models", json={"model_id": "temporary"})
    src.delete("documentModels/invoice-2024")
    dst.authorize("held")
    set_faults(admin, latency_ms=1, account="dst")
    admin.put("/_emulator/settings", json={"page_size": 7})
    advance(admin, 1000)
    assert admin.post("/_emulator/reset").json() == {"status": "ok"}
    assert [m["modelId"] for m in src.list_all("documentModels")][-2:] == ["invoice-2024", "receipt-2023"]
    assert dst.post("documentModels:authorizeCopy", json={"modelId": "held"}).status_code == 200
    assert admin.get("/_emulator/faults").json()["accounts"]["dst"]["latency_ms"] == 0
    assert admin.get("/_emulator/settings").json()["page_size"] == 2
    assert admin.get("/_emulator/clock").json()["offset_seconds"] == 0
    log = admin.get("/_emulator/requests").json()
    assert [e["route"] for e in log] == ["documentModels:list"] * 4 + ["documentModels:authorizeCopy"]  # 8 models, pages of 2


def test_clock_cannot_go_backwards(emu, admin):
    r = admin.post("/_emulator/clock", json={"advance_seconds": -5})
    assert r.status_code == 400
    assert admin.post("/_emulator/clock", json={"advance_seconds": 86400}).json()["offset_seconds"] == 86400


def test_the_openapi_hook_checks_service_responses(http, emu, conformance):
    """Guards against a silently disabled check: service responses are counted, admin and unknown routes are not."""
    before = conformance.checked
    src = Api(http, emu, "src")
    src.get("documentModels")
    src.get("documentModels/invoice-2024")
    src.get("operations/nope")  # an error body is checked against the 'default' response
    src.get("documentModels", params={"api-version": "1999-01-01"})  # no spec for it
    http.get(f"{emu.url}/_emulator/health")
    assert conformance.checked == before + 3


# --- CLI, launcher, config -----------------------------------------------------------------------------------------


def test_cli_url_file_and_stop(config_path: Path, tmp_path: Path):
    url_file = tmp_path / "emulator.url"
    with launch.start_emulator(config_path, extra_args=["--url-file", str(url_file)]) as proc:
        assert proc.url.startswith("http://127.0.0.1:") and not proc.url.endswith(":0")
        assert url_file.read_text(encoding="utf-8").strip() == proc.url
        assert httpx.get(f"{proc.url}/_emulator/health").json() == {"status": "ok"}
        src = proc.account_url("src")
        assert src.startswith("http://127.0.0.1:") and src != proc.url and urlsplit(src).path == ""  # an origin
        assert len({proc.account_url(name) for name in KEYS} | {proc.url}) == len(KEYS) + 1  # one per account
        assert launch.EmulatorProcess(proc.process, proc.url, proc._stderr).account_url("dst") == proc.account_url("dst")  # via the admin API
        with pytest.raises(KeyError):
            proc.account_url("nobody")
    assert proc.process.poll() is not None
    assert launch.LISTENING_PREFIX == server.LISTENING_PREFIX and launch.ACCOUNTS_PREFIX == server.ACCOUNTS_PREFIX


def test_bad_config_fails_start_naming_the_key(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[accounts.src]\nregion = "eastus"\nkey = "k"\n[[accounts.src.models]]\nmodel_id = "-x"\n', encoding="utf-8")
    with pytest.raises(launch.EmulatorStartError, match=r"accounts\.src\.models\[0\]\.model_id"):
        launch.start_emulator(bad)
    assert server.main(["--config", str(bad)]) == 2
    assert server.main(["--config", str(tmp_path / "missing.toml")]) == 2


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"accounts": {}}, "accounts"),
        ({"accounts": {"a": {"key": "k"}}}, "accounts.a.region"),
        ({"accounts": {"a": {"region": "eastus", "key": "k", "colour": 1}}}, "accounts.a.colour"),
        ({"accounts": {"a": {"region": "East US", "key": "k"}}}, "accounts.a.region"),
        ({"accounts": {"a": {"region": "eastus", "key": "k", "encryption": "none"}}}, "accounts.a.encryption"),
        ({"accounts": {"a": {"region": "eastus", "key": "k", "faults": {"drop_rate": 1.5}}}}, "accounts.a.faults.drop_rate"),
        ({"settings": {"copy_seconds": "fast"}, "accounts": {"a": {"region": "eastus", "key": "k"}}}, "settings.copy_seconds"),
        ({"seed": "x", "accounts": {"a": {"region": "eastus", "key": "k"}}}, "seed"),
        (
            {"accounts": {"a": {"region": "eastus", "key": "k", "models": [{"model_id": "m1"}, {"model_id": "m1"}]}}},
            "accounts.a.models[1].model_id",
        ),
        (
            {"accounts": {"a": {"region": "eastus", "key": "k", "resource_id": "/subscriptions/x"}, "b": {"region": "eastus", "key": "k", "resource_id": "/subscriptions/x"}}},
            "accounts.b.resource_id",
        ),
        ({"accounts": {"a": {"region": "eastus", "key": "k", "models": [{"model_id": "ok", "created": "yesterday"}]}}}, "accounts.a.models[0].created"),
    ],
)
def test_config_errors_name_the_key(data: dict[str, Any], where: str):
    with pytest.raises(ConfigError) as info:
        parse_config(data, source="emu.toml")
    assert str(info.value).startswith(f"emu.toml: {where}: "), str(info.value)


def test_emulator_imports_nothing_from_the_rest_of_drplan():
    package = Path(launch.__file__).resolve().parent
    offenders = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        depth = len(path.relative_to(package).parts) - 1  # 0: drplan/emulator/x.py, 1: drplan/emulator/services/x.py
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level > depth + 1:  # "from .." (from drplan/emulator/x.py) climbs out of drplan.emulator
                    offenders.append(f"{path.name}: from {'.' * node.level}{node.module or ''}")
                    continue
                names = [node.module or ""] if node.level == 0 else []
            else:
                continue
            for name in names:
                if (name == "drplan" or name.startswith("drplan.")) and not (name == "drplan.emulator" or name.startswith("drplan.emulator.")):
                    offenders.append(f"{path.name}: import {name}")
    assert offenders == []
    assert len(list(package.glob("*.py"))) >= 10  # the walk really saw the package
