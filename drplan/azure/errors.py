"""The one place where HTTP answers and transport failures become drplan ServiceErrors."""

from __future__ import annotations

import json
from typing import Any

import httpx

from drplan.errors import (
    AuthError,
    ConflictError,
    NotFoundError,
    ResponseLostError,
    ServiceError,
    ThrottledError,
)


def parse_error_body(response: httpx.Response) -> tuple[str | None, str | None, str]:
    """(code, innermost inner code, message) from the Azure error envelope (contracts §1), tolerating junk."""
    try:
        body: Any = response.json()
    except (ValueError, json.JSONDecodeError):
        return None, None, (response.text or "").strip()[:300]
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return None, None, json.dumps(body)[:300]
    code = err.get("code")
    message = err.get("message") or ""
    inner = err.get("innererror")
    inner_code = None
    while isinstance(inner, dict):
        inner_code = inner.get("code") or inner_code
        if inner.get("message"):
            message = f"{message} ({inner['message']})" if message else inner["message"]
        inner = inner.get("innererror")
    details = err.get("details")
    if isinstance(details, list):
        extra = "; ".join(
            f"{d.get('code')}: {d.get('message')}" for d in details if isinstance(d, dict) and d.get("message")
        )
        if extra:
            message = f"{message} [{extra}]"
    return (str(code) if code is not None else None), inner_code, message


#: Error codes whose meaning a user needs spelled out (contracts §2.6, §4; issue 13). Keyed by the envelope's code or
#: inner code, or the error-code header.
HINTS = {
    "1002": ("the service found the copy request invalid: a target resource id or region that does not name a real "
             "account, a source model that does not exist, or an authorization that expired or was used; check the "
             "target's resource_id and region in the spec, then run drplan plan again"),
    "2024": ("the source could not use the copy authorization (Form Recognizer v2.1 error 2024, \"Could not "
             "retrieve authorization metadata\": a target resource id or region that names no real account, or an "
             "authorization already used or expired); check the target's resource_id and region in the spec"),
    "ModelNotReady": ("the source model is not ready (still being built or copied): run drplan apply again when it "
                      "is, or drplan plan again if it was rebuilt"),
}
#: Headers that carry an error code beside (or instead of) the body: FR v2.1 ``x-ms-cs-error-code`` [R] and
#: ``ms-azure-ai-errorcode`` (issue 13), CU / Language ``x-ms-error-code`` [S].
ERROR_CODE_HEADERS = ("x-ms-error-code", "ms-azure-ai-errorcode", "x-ms-cs-error-code")


def explain(*codes: str | None) -> str:
    """"; <hint>" for the first code with a fixed meaning (HINTS), else ""."""
    hint = next((HINTS[c] for c in codes if c and c in HINTS), None)
    return f"; {hint}" if hint else ""


def error_from_response(response: httpx.Response, what: str) -> ServiceError:
    """Translate a non-success response. ``what`` names the resource and operation for the message."""
    code, inner, message = parse_error_body(response)
    header_code = next((response.headers[h] for h in ERROR_CODE_HEADERS if response.headers.get(h)), None)
    code = code or header_code
    status = response.status_code
    label = "/".join(c for c in (code, inner) if c) or str(status)
    if header_code and header_code not in (code, inner):
        label += f" ({header_code})"
    request_id = response.headers.get("apim-request-id") or response.headers.get("x-ms-request-id")
    text = f"{what}: HTTP {status} {label}: {message}".rstrip(": ")
    text += explain(inner, code, header_code)
    if request_id:
        text += f" (request id {request_id})"
    cls: type[ServiceError]
    if status in (401, 403):
        cls = AuthError
        if status == 401:
            text += ("; check the key in the resource's key_env variable (with auth = \"entra\": that the token's "
                     "tenant is the resource's)")
        elif status == 403 and "PermissionDenied" in label + message:
            text += "; with auth = \"entra\", the identity needs the Cognitive Services User role on the resource"
    elif status == 404:
        cls = NotFoundError
    elif status == 409:
        cls = ConflictError
    elif status == 429:
        cls = ThrottledError
    else:
        cls = ServiceError
    return cls(text, status=status, code=code, inner_code=inner, request_id=request_id)


def error_from_transport(exc: httpx.TransportError, what: str) -> ServiceError:
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return ServiceError(f"{what}: cannot connect: {exc.__class__.__name__}: {exc}")
    return ResponseLostError(
        f"{what}: the request was sent but no answer came back ({exc.__class__.__name__}); it may have taken effect"
    )
