"""One origin per account, in process (no sockets): ``EmulatorApp(config, origins={...})`` / ``bind_origin`` and
``httpx.ASGITransport``. The account is in the host only, as on the real service (issue 13 point 4; contracts §2.3:
``Operation-Location: {sourceEndpoint}/documentintelligence/operations/...``): the app picks the account from the
``Host`` header, falling back to the local port; the admin origin and unknown origins answer APIM's 404 to service
requests, with an ``apim-request-id``.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from drplan.emulator.app import EmulatorApp, origin_key
from drplan.emulator.config import parse_config

SRC, DST, ADMIN = "http://src.emulator", "http://dst.emulator:8443", "http://admin.emulator"
KEYS = {"src": "k-src", "dst": "k-dst"}
CONFIG = {
    "settings": {"copy_seconds": 0.0},
    "accounts": {
        "src": {"region": "eastus", "key": KEYS["src"], "models": [{"model_id": "m1", "created": "2024-01-01T00:00:00Z"}]},
        "dst": {"region": "westus", "key": KEYS["dst"], "copy_keeps_created": True},
    },
}
APIM_NOT_FOUND = {"error": {"code": "404", "message": "Resource not found"}}
V4 = {"api-version": "2024-11-30"}


@pytest.fixture
def app() -> EmulatorApp:
    return EmulatorApp(parse_config(CONFIG), origins={SRC: "src", DST: "dst"}, admin_origins=(ADMIN,))


class Client:
    """A synchronous face on ``httpx.AsyncClient(transport=ASGITransport(app))``: one event loop per request."""

    def __init__(self, app: EmulatorApp, base_url: str = ADMIN) -> None:
        self.app, self.base_url = app, base_url

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        async def once() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=self.base_url) as c:
                return await c.request(method, url, **kw)

        return asyncio.run(once())

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)


@pytest.fixture
def client(app: EmulatorApp) -> Client:
    return Client(app)


def test_each_account_answers_at_its_own_origin(client):
    r = client.get(f"{SRC}/documentintelligence/documentModels/m1", params=V4, headers={"Ocp-Apim-Subscription-Key": KEYS["src"]})
    assert r.status_code == 200 and r.headers["x-ms-region"] == "eastus" and uuid.UUID(r.headers["apim-request-id"])
    r = client.get(f"{DST}/documentintelligence/documentModels/m1", params=V4, headers={"Ocp-Apim-Subscription-Key": KEYS["dst"]})
    assert r.status_code == 404 and r.headers["x-ms-region"] == "westus"  # dst has no m1
    r = client.get(f"{DST}/documentintelligence/info", params=V4, headers={"Ocp-Apim-Subscription-Key": KEYS["src"]})
    assert r.status_code == 401  # src's key on dst's origin


def test_the_admin_origin_and_unknown_origins_answer_apim_404(client):
    for url in (f"{ADMIN}/documentintelligence/info", "http://nobody.emulator/documentintelligence/info",
                f"{SRC}/accounts/src/documentintelligence/info"):
        r = client.get(url, params=V4, headers={"Ocp-Apim-Subscription-Key": KEYS["src"]})
        assert r.status_code == 404 and r.json() == APIM_NOT_FOUND, url
        assert uuid.UUID(r.headers["apim-request-id"])
    accounts = {a["name"]: a["endpoint"] for a in client.get("/_emulator/accounts").json()["accounts"]}
    assert accounts == {"src": SRC, "dst": DST}
    assert uuid.UUID(client.get("/_emulator/health").headers["apim-request-id"])


def test_urls_are_built_on_the_origin_and_copies_follow_the_account_setting(client):
    auth = client.post(f"{DST}/documentintelligence/documentModels:authorizeCopy", params=V4,
                       headers={"Ocp-Apim-Subscription-Key": KEYS["dst"]}, json={"modelId": "c1", "tags": {"t": "1"}}).json()
    assert auth["targetModelLocation"] == f"{DST}/documentintelligence/documentModels/c1?api-version=2024-11-30"
    r = client.post(f"{SRC}/documentintelligence/documentModels/m1:copyTo", params=V4,
                    headers={"Ocp-Apim-Subscription-Key": KEYS["src"]}, json=auth)
    assert r.status_code == 202 and "Retry-After" not in r.headers
    assert r.headers["Operation-Location"].startswith(f"{SRC}/documentintelligence/operations/")
    op = client.get(r.headers["Operation-Location"], headers={"Ocp-Apim-Subscription-Key": KEYS["src"]}).json()
    assert op["status"] == "succeeded" and op["resourceLocation"] == auth["targetModelLocation"]
    assert op["result"]["createdDateTime"] == "2024-01-01T00:00:00Z"  # dst: copy_keeps_created = true
    assert op["result"]["tags"] == {"t": "1"}


def test_binding_and_resolving_origins(app: EmulatorApp):
    assert app.endpoint("src") == SRC and app.endpoint("dst") == DST
    assert app.account_for_url(f"{DST}/contentunderstanding/analyzers/a") == "dst"
    assert app.account_for_url("HTTP://SRC.Emulator:80/x") == "src"  # scheme/host case, default port
    assert app.account_for_url("http://nobody.emulator/x") is None
    assert app.account_for_url(f"{ADMIN}/x") is None
    assert app.account_for_url("not a url") is None
    assert origin_key("https://a.example") == "a.example:443" and origin_key("http://a.example") == "a.example:80"
    with pytest.raises(KeyError):
        app.bind_origin("http://x.emulator", "nobody")
    with pytest.raises(ValueError, match="already bound"):
        app.bind_origin(SRC, "dst")
    with pytest.raises(ValueError, match="already bound"):
        app.bind_admin_origin(SRC)
    assert app.bind_origin("http://second.emulator", "src") == "http://second.emulator"  # another origin, same account
    assert app.endpoint("src") == SRC  # the first one stays the endpoint


def test_the_local_port_decides_when_the_host_is_unknown():
    """A server socket per account (server.py): a client that names the host differently (``localhost`` instead of
    ``127.0.0.1``) still reaches the account listening on that port."""
    app = EmulatorApp(parse_config(CONFIG), origins={"http://127.0.0.1:5001": "src", "http://127.0.0.1:5002": "dst"},
                      admin_origins=("http://127.0.0.1:5000",))
    client = Client(app, "http://localhost:5000")
    r = client.get("http://localhost:5002/documentintelligence/info", params=V4, headers={"Ocp-Apim-Subscription-Key": KEYS["dst"]})
    assert r.status_code == 200 and r.headers["x-ms-region"] == "westus"
    assert client.get("http://localhost:5000/_emulator/health").json() == {"status": "ok"}
    r = client.get("http://localhost:5000/documentintelligence/info", params=V4, headers={"Ocp-Apim-Subscription-Key": KEYS["src"]})
    assert r.status_code == 404
