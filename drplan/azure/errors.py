"""The one place where HTTP answers and transport failures become drplan ServiceErrors.

Every httpx failure is mapped here (``tests/azure/test_bounded.py`` checks each class): a request httpx could not
build (:func:`error_from_request`: an invalid URL, a header value HTTP cannot carry) and every
``httpx.RequestError`` (:func:`error_from_transport`). Two facts decide what the client does next, and both are
answered here, once:

* **Was it sent?** (:func:`never_sent`) A connect failure, a connect or pool timeout, a proxy refusal, a URL scheme
  httpx cannot speak or a request h11 refused to write never reached the service: retrying is safe for every method,
  and the message says "nothing was sent". Only a failure *after* sending says "it may have taken effect".
* **Can a retry cure it?** (:func:`cannot_heal`: never retried; :func:`slow_to_heal`: one retry at most) A malformed
  request never heals; a host that does not resolve, a refused connection or a server that accepts and never answers
  rarely heals within a retry loop, and each attempt costs up to a timeout.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from drplan.azure.urls import display
from drplan.errors import (
    AuthError,
    ConflictError,
    NotFoundError,
    ResponseLostError,
    ServiceError,
    ThrottledError,
    shorten,
)


def parse_error_body(response: httpx.Response) -> tuple[str | None, str | None, str]:
    """(code, innermost inner code, message) from the Azure error envelope (contracts §1), tolerating junk."""
    try:
        body: Any = response.json()
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None, None, shorten((response.text or "").strip()
                                   if len(response.content) < 100_000 else f"({len(response.content)} bytes)")
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return None, None, json.dumps(body)[:300]
    code = err.get("code")
    message = str(err.get("message") or "")
    inner = err.get("innererror")
    inner_code = None
    depth = 0
    while isinstance(inner, dict) and depth < 32:
        depth += 1
        inner_code = str(inner["code"]) if inner.get("code") else inner_code
        if inner.get("message"):
            message = f"{message} ({inner['message']})" if message else str(inner["message"])
        inner = inner.get("innererror")
    details = err.get("details")
    if isinstance(details, list):
        extra = "; ".join(
            f"{d.get('code')}: {d.get('message')}" for d in details if isinstance(d, dict) and d.get("message")
        )
        if extra:
            message = f"{message} [{extra}]"
    return (shorten(str(code), 120) if code is not None else None), \
        (shorten(inner_code, 120) if inner_code else None), message


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


def json_object(response: httpx.Response, *, what: str, subject: str) -> dict[str, Any]:
    """The JSON object a success answer must carry, or a ServiceError saying what came instead. ``subject`` names the
    thing asked ("the operation at https://…/operations/1"); the message quotes at most 80 characters of the body."""
    try:
        body: Any = response.json()
    except RecursionError:
        raise ServiceError(f"{what}: {subject} answered JSON nested too deeply to read ({len(response.content)} "
                           "bytes); drplan cannot read it: check the endpoint", status=response.status_code) from None
    except (ValueError, UnicodeDecodeError):
        text = response.text if response.content else ""
        excerpt = text.strip()[:80]
        kind = response.headers.get("content-type") or "no content type"
        raise ServiceError(
            f"{what}: {subject} answered HTTP {response.status_code} with a body that is not JSON ({kind}, "
            f"{len(response.content)} bytes{f', starting {excerpt!r}' if excerpt else ''}); drplan cannot read it: "
            "a proxy or gateway may be answering instead of the service; try again, and check the endpoint",
            status=response.status_code) from None
    if not isinstance(body, dict):
        raise ServiceError(
            f"{what}: {subject} answered a JSON {_json_kind(body)} where drplan expects an object; drplan cannot "
            "read it: check the endpoint and the resource's API version", status=response.status_code)
    return body


class AnswerShapeError(ValueError):
    """A field of a service answer is missing or of the wrong type (raised by :func:`text_field` and friends, turned
    into a ServiceError by :func:`reading_answer`). The message names the field, never its whole value."""


def text_field(body: Any, field: str, *, required: bool = False, where: str = "") -> str:
    """``body[field]`` as a string: "" when absent or null (unless ``required``); an :class:`AnswerShapeError` when it
    is there but not a string (a number, a list, an object), or required and missing or empty."""
    if not isinstance(body, dict):
        raise AnswerShapeError(f"{where or 'the answer'} is a JSON {_json_kind(body)}, not an object")
    value = body.get(field)
    name = f"{where}.{field}" if where else field
    if value is None or value == "":
        if required:
            raise AnswerShapeError(f"the field '{name}' is {'missing' if field not in body else 'empty'}")
        return ""
    if not isinstance(value, str):
        raise AnswerShapeError(f"the field '{name}' is a JSON {_json_kind(value)}, not a string")
    return value


def object_field(body: Any, field: str, *, where: str = "") -> dict[str, Any]:
    """``body[field]`` as an object: {} when absent or null; an :class:`AnswerShapeError` for any other type."""
    if not isinstance(body, dict):
        raise AnswerShapeError(f"{where or 'the answer'} is a JSON {_json_kind(body)}, not an object")
    value = body.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AnswerShapeError(f"the field '{f'{where}.{field}' if where else field}' is a JSON {_json_kind(value)}, "
                               "not an object")
    return value


def list_field(body: Any, field: str, *, where: str = "") -> list[Any]:
    """``body[field]`` as a list: [] when absent or null; an :class:`AnswerShapeError` for any other type."""
    if not isinstance(body, dict):
        raise AnswerShapeError(f"{where or 'the answer'} is a JSON {_json_kind(body)}, not an object")
    value = body.get(field)
    if value is None:
        return []
    if not isinstance(value, list):
        raise AnswerShapeError(f"the field '{f'{where}.{field}' if where else field}' is a JSON {_json_kind(value)}, "
                               "not a list")
    return value


def count_field(body: dict[str, Any], field: str, *, where: str = "") -> int | None:
    """An optional count (quota answers): None when absent or null; an :class:`AnswerShapeError` for anything but a
    whole number >= 0."""
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise AnswerShapeError(f"the field '{f'{where}.{field}' if where else field}' is not a whole number >= 0")
    return value


def _shape_problem(exc: BaseException) -> str:
    if isinstance(exc, AnswerShapeError):
        return shorten(str(exc))
    if isinstance(exc, KeyError):
        return f"the field {shorten(str(exc.args[0]) if exc.args else '?')!r} is missing"
    if isinstance(exc, RecursionError):
        return "it is nested too deeply to read"
    # TypeError / AttributeError / ValueError / IndexError from reading a field of an unexpected type. Their messages
    # name types ("'list' object has no attribute 'get'"), and at most VALUE_LIMIT characters of any value.
    return f"a field has an unexpected type or value ({exc.__class__.__name__}: {shorten(str(exc))})"


@contextmanager
def reading_answer(what: str, subject: str) -> Iterator[None]:
    """Read the fields of a service answer inside this block: a missing field, a field of the wrong type or a value
    drplan cannot use becomes one ServiceError naming ``what`` (resource and operation), ``subject`` (the endpoint or
    URL asked) and the field, instead of an "internal error". ServiceErrors raised inside pass through unchanged."""
    try:
        yield
    except (AnswerShapeError, KeyError, TypeError, AttributeError, ValueError, IndexError, OverflowError,
            RecursionError) as exc:
        raise ServiceError(f"{what}: {subject} answered JSON drplan cannot use: {_shape_problem(exc)}; check the "
                           "endpoint and that the resource's api_version is one drplan supports") from None


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "null" if value is None else type(value).__name__


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
    # "HTTP 401: ..." when the answer names no code (never "HTTP 401 401: ...", issue 17)
    shown = "" if label == str(status) else f" {shorten(label, 120)}"
    text = f"{what}: HTTP {status}{shown}: {shorten(message)}".rstrip(": ")
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


#: Transport failures after which the request certainly did not reach the service.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError, httpx.UnsupportedProtocol,
             httpx.LocalProtocolError)
#: ... and those that no retry can cure: drplan's own request is malformed (a URL scheme that is not http(s), a header
#: value h11 refuses to write, e.g. a key with a trailing newline).
_CANNOT_HEAL = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)


def _in_chain(exc: BaseException, kind: type[BaseException] | tuple[type[BaseException], ...]) -> bool:
    """Whether ``exc`` or one of its causes (httpx -> httpcore -> the socket error) is a ``kind``."""
    seen = 0
    cur: BaseException | None = exc
    while cur is not None and seen < 16:
        if isinstance(cur, kind):
            return True
        cur = cur.__cause__ or cur.__context__
        seen += 1
    return False


def is_dns_failure(exc: BaseException) -> bool:
    """The host name did not resolve (getaddrinfo failed): a typo in the endpoint, or no network/DNS."""
    return isinstance(exc, httpx.ConnectError) and _in_chain(exc, socket.gaierror)


def is_refused(exc: BaseException) -> bool:
    """Nothing listens at the endpoint's host and port."""
    return isinstance(exc, httpx.ConnectError) and _in_chain(exc, ConnectionRefusedError)


def never_sent(exc: BaseException) -> bool:
    """True when the request certainly did not reach the service (safe to retry whatever the method)."""
    return isinstance(exc, _NOT_SENT)


def cannot_heal(exc: BaseException) -> bool:
    """True for failures no retry can cure (the request itself is malformed): raise at once."""
    return isinstance(exc, _CANNOT_HEAL)


def slow_to_heal(exc: BaseException) -> bool:
    """True for failures a quick retry rarely cures and each attempt of which may cost a whole timeout: a host that
    does not resolve, a refused connection, any timeout (a server that accepts and never answers). The client tries
    these at most a couple of times instead of its full attempt budget (issue 19: "retry loops for errors that cannot
    heal")."""
    return is_dns_failure(exc) or is_refused(exc) or isinstance(exc, httpx.TimeoutException)


def _safe_display(url: str) -> str:
    try:
        return display(url)
    except ValueError:  # urlsplit refuses some malformed URLs (an unclosed IPv6 bracket)
        text = url.split("?", 1)[0].strip()
        return text if len(text) <= 200 else text[:200] + "…(truncated)"


def _host(url: str | None) -> str:
    if not url:
        return "the endpoint"
    try:
        return display(url).split("/")[2] or "the endpoint"
    except (ValueError, IndexError):
        return "the endpoint"


def _seconds(timeout: httpx.Timeout | None, field: str) -> str:
    value = getattr(timeout, field, None) if timeout is not None else None
    return f" within {value:g} s" if isinstance(value, int | float) else ""


def header_error(name: str, value: str, what: str) -> ServiceError:
    """A header value HTTP cannot carry, found before sending. Names the header and what is wrong with it, never the
    value (it is usually the key)."""
    lname = name.lower()
    if lname == "ocp-apim-subscription-key":
        thing, fix = "the resource's API key", "check the environment variable its key_env names"
    elif lname == "authorization":
        thing, fix = "the Entra ID token", "check the credential drplan signs in with"
    else:
        thing, fix = f"the {name} header", "check where its value comes from"
    if value != value.strip():
        problem = "it has leading or trailing whitespace (often a newline left at the end of the variable)"
    elif any(ord(ch) > 126 for ch in value):
        problem = "it holds a non-ASCII character"
    else:
        problem = "it holds a control character"
    return ServiceError(f"{what}: {thing} cannot be sent in an HTTP header: {problem}; {fix}; nothing was sent")


def error_from_request(exc: Exception, what: str, url: str) -> ServiceError:
    """A request httpx could not even build: ``httpx.InvalidURL``, or a ``UnicodeError`` (a header value or a host
    name that HTTP cannot carry). Nothing was sent; no retry can cure it."""
    if isinstance(exc, httpx.InvalidURL):
        return ServiceError(f"{what}: {_safe_display(url)!r} is not a valid URL ({exc}); check the resource's "
                            "endpoint in the spec (or the service answer the URL came from); nothing was sent")
    return ServiceError(f"{what}: the request to {_safe_display(url)!r} holds a character HTTP cannot carry "
                        f"({exc.__class__.__name__}: a non-ASCII host name or header value); check the resource's "
                        "endpoint and key; nothing was sent")


def error_from_transport(exc: httpx.RequestError, what: str, *, url: str | None = None,
                         timeout: httpx.Timeout | None = None) -> ServiceError:
    """Translate a failed request (``httpx.RequestError``: transport failures, an undecodable answer). ``url`` and
    ``timeout`` make the message precise; neither is required."""
    name = exc.__class__.__name__
    where = _host(url or (str(exc.request.url) if _has_request(exc) else None))
    if isinstance(exc, httpx.UnsupportedProtocol):
        return ServiceError(f"{what}: {_safe_display(url) if url else 'the URL'} is not an http:// or https:// URL; "
                            "check the resource's endpoint in the spec; nothing was sent")
    if isinstance(exc, httpx.LocalProtocolError):
        # h11's own message quotes the offending header value, i.e. usually the key: never repeat it.
        return ServiceError(f"{what}: drplan could not write a valid HTTP request ({name}): a header value holds "
                            "whitespace or a control character, usually the API key (check the environment variable "
                            "its key_env names for a trailing newline or space); nothing was sent")
    if is_dns_failure(exc):
        return ServiceError(f"{what}: cannot connect: the host {where} does not resolve ({exc}); check the "
                            "resource's endpoint in the spec, and DNS/network access; nothing was sent")
    if is_refused(exc):
        return ServiceError(f"{what}: cannot connect: {where} refused the connection (nothing listens there); check "
                            "the resource's endpoint in the spec, or that the service (or emulator) is running; "
                            "nothing was sent")
    if isinstance(exc, httpx.ConnectTimeout):
        return ServiceError(f"{what}: cannot connect: no connection to {where}{_seconds(timeout, 'connect')} "
                            f"({name}); check the endpoint and network access (a firewall that drops packets); "
                            "nothing was sent")
    if isinstance(exc, httpx.PoolTimeout):
        return ServiceError(f"{what}: cannot connect: no free connection to {where}{_seconds(timeout, 'pool')} "
                            f"({name}); nothing was sent")
    if isinstance(exc, httpx.ConnectError | httpx.ProxyError):
        return ServiceError(f"{what}: cannot connect: {name}: {exc}; nothing was sent")
    if isinstance(exc, httpx.ReadTimeout):
        return ResponseLostError(f"{what}: the request was sent but no answer came back{_seconds(timeout, 'read')} "
                                 f"({name}); it may have taken effect")
    if isinstance(exc, httpx.DecodingError):
        return ResponseLostError(f"{what}: the request was sent but its answer could not be decoded ({name}); it may "
                                 "have taken effect")
    return ResponseLostError(
        f"{what}: the request was sent but no answer came back ({name}); it may have taken effect"
    )


def _has_request(exc: httpx.RequestError) -> bool:
    try:
        exc.request  # noqa: B018 - httpx raises RuntimeError when the exception carries no request
    except RuntimeError:
        return False
    return True
