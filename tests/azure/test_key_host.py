"""A resource's key never goes to another host (issue 19): URLs from answers (nextLink, Operation-Location) and from
the state (journaled operation URLs) are refused before the key is attached, and nothing reaches the other host.
Also: finding a lost copy operation matches the operation's full target URL, never its path alone (issue 13)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from drplan.azure.client import AzureClient
from drplan.azure.lro import poll
from drplan.azure.paging import iterate_pages
from drplan.azure.urls import display, origin, same_origin
from drplan.errors import ForeignHostError
from drplan.families.base import Connection
from drplan.families.document_intelligence.adapter import DocumentModelsAdapter
from drplan.spec.model import AssetKind

KEY = "key-host-test-secret-4411"
EP = "https://src.example.com"


class Recorder:
    """Two listeners in one transport: the resource's host and an attacker's host; records what each received."""

    def __init__(self, pages: dict[str, dict]) -> None:
        self.pages = pages
        self.seen: list[tuple[str, str | None]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((str(request.url), request.headers.get("ocp-apim-subscription-key")))
        body = self.pages.get(request.url.path, {"value": []})
        return httpx.Response(200, json=body)


def run(coro):
    return asyncio.run(coro)


async def _collect(client: AzureClient, url: str) -> list[dict]:
    return [item async for item in iterate_pages(client, url, endpoint=EP, key=KEY, api_version="2024-11-30",
                                                 what="src: list documentModels")]


def test_next_link_to_another_host_is_refused_and_the_key_stays_home():
    rec = Recorder({"/documentintelligence/documentModels": {
        "value": [{"modelId": "a"}], "nextLink": "https://evil.example.net/collect?nextLink=x"}})

    async def go():
        async with AzureClient(transport=httpx.MockTransport(rec)) as client:
            return await _collect(client, f"{EP}/documentintelligence/documentModels?api-version=2024-11-30")

    with pytest.raises(ForeignHostError) as err:
        run(go())
    assert "evil.example.net" in str(err.value) and KEY not in str(err.value) and "nothing was sent" in str(err.value)
    assert all(url.startswith(EP) for url, _ in rec.seen) and len(rec.seen) == 1


@pytest.mark.parametrize("url", [
    "https://src.example.com:8443/documentintelligence/operations/1",  # another port
    "http://src.example.com/documentintelligence/operations/1",  # another scheme
    "https://src.example.com.evil.net/documentintelligence/operations/1",  # a look-alike host
    "https://user@evil.net/x",
])
def test_journaled_operation_url_on_another_origin_is_refused(url):
    rec = Recorder({})

    async def go():
        async with AzureClient(transport=httpx.MockTransport(rec)) as client:
            await poll(client, url, endpoint=EP, key=KEY, what="src: poll")

    with pytest.raises(ForeignHostError):
        run(go())
    assert rec.seen == []


def test_same_origin_rules():
    assert same_origin("https://SRC.example.com:443/a?b=c", "https://src.example.com")
    assert not same_origin("https://src.example.com:444/a", "https://src.example.com")
    assert not same_origin("not a url", "https://src.example.com")
    assert origin("http://127.0.0.1:8080/x") == ("http", "127.0.0.1", 8080)
    assert display("https://h.example/p?sig=SECRET") == "https://h.example/p"


def _operation(op_id: str, location: str, created: str = "2024-08-01T10:00:00Z") -> dict:
    return {"operationId": op_id, "kind": "documentModelCopyTo", "status": "running", "createdDateTime": created,
            "lastUpdatedDateTime": created, "resourceLocation": location}


def test_find_copy_operation_matches_the_full_target_url_not_the_path():
    """Two targets hold the same model id: their resourceLocation paths are equal, only the host differs (the
    account lives in the host on the real service). The search must pick the operation of the asked target."""
    west = "https://west.example.com/documentintelligence/documentModels/m1?api-version=2024-11-30"
    north = "https://north.example.com/documentintelligence/documentModels/m1?api-version=2024-11-30"
    rec = Recorder({"/documentintelligence/operations": {"value": [
        _operation("op-north", north, "2024-08-01T10:00:05Z"),  # newer: a path-only match would pick it for west
        _operation("op-west", west, "2024-08-01T10:00:00Z"),
    ]}})

    async def go(location: str):
        async with AzureClient(transport=httpx.MockTransport(rec)) as client:
            conn = Connection("src", "document-intelligence", EP, "2024-11-30", "eastus", "/s/src", KEY)
            adapter = DocumentModelsAdapter(client, conn)
            return await adapter.find_copy_operation(AssetKind.DOCUMENT_MODEL, location, "2024-08-01T09:00:00Z")

    assert run(go("https://west.example.com/documentintelligence/documentModels/m1")).endswith(
        "/operations/op-west?api-version=2024-11-30")
    assert "/operations/op-north" in run(go("https://NORTH.example.com:443/documentintelligence/documentModels/m1/"))
    assert run(go("https://south.example.com/documentintelligence/documentModels/m1")) is None


def test_hostile_answer_from_a_real_server_cannot_collect_the_key():
    """Two real listeners on 127.0.0.1: the resource answers a list with a nextLink and an operation with an
    Operation-Location that point at the second listener; the second listener never sees a request at all."""
    import http.server
    import json as jsonlib
    import threading

    received: list[dict[str, str]] = []

    class Evil(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            received.append(dict(self.headers))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    evil = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Evil)
    evil_url = f"http://127.0.0.1:{evil.server_address[1]}"

    class Home(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = jsonlib.dumps({"value": [], "nextLink": f"{evil_url}/page2"} if "documentModels" in self.path
                                 else {"status": "running"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Operation-Location", f"{evil_url}/operations/1")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    home = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Home)
    home_url = f"http://127.0.0.1:{home.server_address[1]}"
    for server in (evil, home):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        async def go():
            async with AzureClient(tls=False) as client:
                with pytest.raises(ForeignHostError):
                    async for _ in iterate_pages(client, f"{home_url}/documentintelligence/documentModels",
                                                 endpoint=home_url, key=KEY, api_version="2024-11-30", what="list"):
                        pass
                with pytest.raises(ForeignHostError):
                    await poll(client, f"{evil_url}/operations/1", endpoint=home_url, key=KEY, what="poll")

        run(go())
    finally:
        evil.shutdown()
        home.shutdown()
    assert received == []
