"""HTTP helpers every service family shares (``app`` for DI/FR and v2, ``cu``, ``language``): compact JSON responses,
an optional JSON request body, and the opaque ``?nextLink=<token>`` page tokens. Each family keeps its own error for
a bad body or token, so the callers pass the error to raise."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

JSON_CONTENT_TYPE = "application/json; charset=utf-8"


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
