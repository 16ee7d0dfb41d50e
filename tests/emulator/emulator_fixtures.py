"""Fixtures and helpers shared by the emulator tests.

Raw-HTTP tests (test_emulator_http.py, test_emulator_v2.py, test_emulator_cu.py, test_emulator_language.py): a module
that imports ``_fresh``, ``admin``, ``http`` must define a module-scoped ``emu`` fixture (its own emulator process,
e.g. ``emu = emulator_fixture(CONFIG, "emulator-v2")``) and may subclass :class:`Conformance` (and override the
``conformance`` fixture) to add checks of its own.

Official-SDK conformance tests (test_conformance_sdk*.py): ``emu = emulator_fixture(...)``, the ``admin`` client and
the autouse ``_reset`` (instead of ``_fresh``); a :class:`Recorder` subclass with the module's own
``assert_conformant``; client factory fixtures built with :func:`sdk_clients`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import openapi_validation as ov
import pytest

from drplan.emulator.launch import start_emulator

T = TypeVar("T")

#: Every account origin of every emulator these tests started: ``http://127.0.0.1:PORT`` -> account name. An
#: account is an origin of its own (no account in the path, as on the real service), so a URL names its account by
#: its origin only.
ORIGINS: dict[str, str] = {}


def account_of(url: str) -> str:
    """The name of the emulated account whose origin ``url`` is on (KeyError: none of ours)."""
    parts = urlsplit(url)
    return ORIGINS[f"{parts.scheme}://{parts.netloc}"]


def register_origins(proc: Any) -> Any:
    """Record the account origins of a started emulator process (``launch.EmulatorProcess``) for :func:`account_of`."""
    ORIGINS.update({origin: name for name, origin in proc.endpoints.items()})
    return proc


def emulator_fixture(config: str, name: str) -> Any:
    """A module-scoped ``emu`` fixture: an emulator process started with the TOML ``config`` (written under a temp
    directory named ``name``), stopped when the module is done."""

    @pytest.fixture(scope="module")
    def emu(tmp_path_factory: pytest.TempPathFactory):
        path = tmp_path_factory.mktemp(name) / "emulator.toml"
        path.write_text(config, encoding="utf-8")
        with start_emulator(path) as proc:
            yield register_origins(proc)

    return emu


def urls_in(value: Any) -> Iterator[str]:
    """Every absolute http(s) URL in a JSON value (strings only; ARM ids are not URLs)."""
    if isinstance(value, str):
        if value.startswith(("http://", "https://")):
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from urls_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from urls_in(item)


def account_paths(response: httpx.Response, body: Any) -> list[str]:
    """URLs a service response hands out (headers and body) whose PATH names an account (``/accounts/...``): the
    real service has the account in the host only (issue 13 point 4), so the emulator must never do that."""
    urls = [v for k, v in response.headers.items() if k.lower() in ("operation-location", "location", "resource-location")]
    urls += list(urls_in(body))
    return [u for u in urls if "/accounts/" in urlsplit(u).path]


class Conformance:
    """httpx response hook: validate every service response that maps to an OpenAPI operation, and check that no
    URL a service response hands out has an account in its path."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.checked = 0

    def hook(self, response: httpx.Response) -> None:
        if "/_emulator/" in response.request.url.path:
            return
        response.read()
        try:
            body: Any = response.json() if response.content.strip() else None
        except ValueError:
            body = response.text
        self.problems += [f"{response.request.method} {response.request.url}: URL with the account in its path: {u}"
                          for u in account_paths(response, body)]
        if self.skip(response, body):
            return
        exchange = ov.Exchange(
            method=response.request.method,
            url=str(response.request.url),
            status=response.status_code,
            headers=dict(response.headers),
            body=body,
            request_headers=dict(response.request.headers),
            raw_body=response.content,
        )
        checked = ov.check_exchange(exchange)
        if checked.spec is None:  # unknown api-versions/routes have no spec operation to check against
            return
        self.checked += 1
        self.problems += checked.problems
        self.extra_checks(response, exchange, body)

    def skip(self, response: httpx.Response, body: Any) -> bool:
        """Hook for a family's answers that no spec describes (Language: the gateway's); True: not checked."""
        return False

    def extra_checks(self, response: httpx.Response, exchange: ov.Exchange, body: Any) -> None:
        """Hook for a family's own rules (v2: x-ms-cs-error-code)."""


@pytest.fixture(scope="module")
def conformance() -> Conformance:
    return Conformance()


@pytest.fixture(scope="module")
def http(emu, conformance: Conformance):
    with httpx.Client(timeout=10.0, event_hooks={"response": [conformance.hook]}) as client:
        yield client


@pytest.fixture(scope="module")
def admin(emu):
    with httpx.Client(base_url=emu.url, timeout=10.0) as client:
        yield client


@pytest.fixture(autouse=True)
def _fresh(request: pytest.FixtureRequest):
    """Each test that talks to the shared emulator starts from the config state and ends conformant."""
    if "emu" not in request.fixturenames:
        yield
        return
    admin_client = request.getfixturevalue("admin")
    conformance: Conformance = request.getfixturevalue("conformance")
    assert admin_client.post("/_emulator/reset").status_code == 200
    conformance.problems.clear()
    yield
    assert not conformance.problems, "responses that do not match the contracts:\n" + "\n".join(conformance.problems)


# --- official-SDK conformance tests --------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _reset(request: pytest.FixtureRequest):
    """Every test that talks to the module's emulator starts from its config file's state (POST /_emulator/reset)."""
    if "emu" in request.fixturenames:
        r = request.getfixturevalue("admin").post("/_emulator/reset")
        assert r.status_code == 200, r.text


class Recorder:
    """azure-core ``raw_response_hook``: records every HTTP response an SDK client receives (each retry attempt too,
    since the hook policy sits inside the retry loop) as an :class:`openapi_validation.Exchange`. Each SDK module
    subclasses it with its own ``assert_conformant``."""

    def __init__(self) -> None:
        self.exchanges: list[ov.Exchange] = []

    def hook(self, pipeline_response: Any) -> None:
        request, response = pipeline_response.http_request, pipeline_response.http_response
        try:
            if hasattr(response, "read"):  # azure.core.rest response (DI, CU, Language SDKs); streamed ones too
                raw = response.read() or b""
            else:  # legacy azure.core.pipeline.transport response (FR SDK)
                raw = response.body() or b""
        except Exception as exc:  # pragma: no cover - recorded as a problem instead
            raw = f"<unreadable body: {exc!r}>".encode()
        try:
            body: Any = json.loads(raw) if raw.strip() else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        self.exchanges.append(ov.Exchange(request.method, request.url, response.status_code, dict(response.headers), body,
                                          dict(request.headers), raw))

    def matching(self, method: str, path_contains: str, status: int | None = None) -> list[ov.Exchange]:
        return [
            e for e in self.exchanges
            if e.method == method and path_contains in urlsplit(e.url).path and (status is None or e.status == status)
        ]


def sdk_clients(build: Callable[..., T]) -> Iterator[Callable[..., T]]:
    """The body of an SDK client factory fixture (``yield from sdk_clients(build)``): yields ``make``, which builds a
    client with ``build`` and keeps it; every client made is closed when the test is done."""
    made: list[Any] = []

    def make(*args: Any, **kwargs: Any) -> T:
        client = build(*args, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
