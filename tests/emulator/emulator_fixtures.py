"""Fixtures shared by the raw-HTTP emulator tests (test_emulator_http.py, test_emulator_v2.py).

A module that imports them must define a module-scoped ``emu`` fixture (its own emulator process) and may subclass
:class:`Conformance` (and override the ``conformance`` fixture) to add checks of its own.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import openapi_validation as ov


class Conformance:
    """httpx response hook: validate every service response that maps to an OpenAPI operation."""

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
