"""Error lines name the status once (issue 17: "HTTP 401 401:" was printed when the answer carried no code)."""

from __future__ import annotations

import httpx

from drplan.azure.errors import error_from_response


def test_status_without_a_code_is_named_once():
    err = error_from_response(httpx.Response(401, text="Access denied due to invalid subscription key."), "west: list")
    assert str(err).startswith("west: list: HTTP 401: Access denied") and "401 401" not in str(err)


def test_a_code_is_still_named_after_the_status():
    body = {"error": {"code": "Unauthorized", "message": "no"}}
    err = error_from_response(httpx.Response(401, json=body), "west: list")
    assert str(err).startswith("west: list: HTTP 401 Unauthorized: no")
