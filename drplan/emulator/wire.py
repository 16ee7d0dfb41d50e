"""HTTP helpers every service family shares (``services/<family>.py``): :class:`Call` (one request as a handler sees
it), compact JSON responses, the account's origin as the client sees it, an optional JSON request body, and the opaque
``?nextLink=<token>`` page tokens. Each family keeps its own error for a bad body or token, so the callers pass the
error to raise."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from starlette.requests import Request
from starlette.responses import Response

JSON_CONTENT_TYPE = "application/json; charset=utf-8"

RouteT = TypeVar("RouteT")


@dataclass(frozen=True)
class Call(Generic[RouteT]):
    """One service request as a family's handler sees it, after the app's gateway steps (key, rate limit, faults):
    the request, the account it is for, its resolved route, the headers every answer carries (request ids, region)
    and the api-version the family checked (``""`` for the path-versioned v2.x API)."""

    request: Request
    account: str
    route: RouteT
    headers: dict[str, str]
    api_version: str = ""

    @property
    def origin(self) -> str:
        return origin(self.request)

    def query(self, name: str) -> str | None:
        return self.request.query_params.get(name)

    def json(self, status: int, body: Any, extra: dict[str, str] | None = None) -> Response:
        """``body`` as the answer, with the request's headers (and ``extra``)."""
        return json_response(status, body, {**self.headers, **extra} if extra else self.headers)

    def empty(self, status: int, extra: dict[str, str] | None = None) -> Response:
        """An answer without a body (204; 202 with ``extra`` naming the operation)."""
        return Response(status_code=status, headers={**self.headers, **extra} if extra else self.headers)


def origin(request: Request) -> str:
    """``scheme://host[:port]`` the request was sent to (its ``Host``): the account's origin as the client sees it, so
    URLs in bodies and headers point back at the emulator however it was reached (the account is in the host only)."""
    return str(request.base_url).rstrip("/")


def json_response(status: int, body: Any, headers: dict[str, str]) -> Response:
    """``body`` as compact UTF-8 JSON, with ``headers`` and the JSON content type."""
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(content=content, status_code=status, headers={**headers, "content-type": JSON_CONTENT_TYPE})


async def read_json(request: Request, not_json: Callable[[], Exception]) -> Any:
    """The request's JSON body, None when it is empty (or white space); ``not_json()`` is raised when it is not JSON."""
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise not_json() from None


def encode_page_token(after: str) -> str:
    """Opaque continuation token for ``?nextLink=`` (URL-safe base64, no padding)."""
    return base64.urlsafe_b64encode(after.encode()).decode().rstrip("=")


def decode_page_token(token: str, unknown: Callable[[], Exception]) -> str:
    """The id a page token continues after; ``unknown()`` is raised for a token this emulator did not hand out."""
    try:
        after = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        after = ""
    if not after:
        raise unknown()
    return after
