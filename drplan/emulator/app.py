"""The emulator as an ASGI application: one origin per account, service routes at ``{origin}/{prefix}/...`` and the
admin API under ``/_emulator/`` of the admin origin.

The account lives in the host only, never in the path, as on the real service (``https://<resource>.cognitiveservices
.azure.com/documentintelligence/...``; contracts §2.1, issue 13 point 4): the app picks the account from the request's
``Host`` header (``host:port``) through the origins registered with :meth:`EmulatorApp.bind_origin` (``server.py``
binds one listening socket per account and registers each; in-process users pass ``origins={...}``), falling back to
the port of ``scope["server"]``. A service request to the admin origin or to an origin no account has answers APIM's
404.

Routing is done by hand rather than with Starlette's router because Azure mixes path segments and colon actions
(``/documentModels:authorizeCopy``, ``/documentModels/{id}:copyTo``) and because the api-version decides which
routes exist at all (classifier copy only on ``2024-11-30``; no classifiers on ``2022-08-31``). Anything that
does not resolve answers APIM's 404 (README "Service API"). Form Recognizer v2.x paths
(``/formrecognizer/v2.1/...``, ``/v2.0/...``, ``/v2.0-preview/...``) are resolved by ``v2.resolve_v2_route`` and
served by ``EmulatorApp._dispatch_v2``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import secrets
import uuid
from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from . import cu, errors, language, v2, views, wire
from .admin import build_admin_app
from .clock import Clock
from .config import EmulatorConfig
from .faults import ConnectionRegistry, Decision, FaultInjector
from .store import AssetKind, Store
from .wire import encode_page_token, json_response

logger = logging.getLogger("drplan.emulator")

#: The request log keeps this many entries (oldest dropped first), so long benchmarks do not grow without bound.
REQUEST_LOG_SIZE = 100_000

_COLLECTIONS: dict[str, AssetKind] = {"documentModels": "model", "documentClassifiers": "classifier"}


@dataclass(frozen=True)
class ServiceRoute:
    """A resolved service route: its name (as in counters and the request log) and path parameters."""

    name: str
    kind: AssetKind | None = None
    asset_id: str | None = None
    operation_id: str | None = None


def resolve_route(method: str, rest: str) -> ServiceRoute | None:
    """Map ``METHOD /{rest}`` (the path after ``{origin}/{prefix}/``) to a route, or None."""
    parts = rest.split("/")
    if len(parts) == 1:
        head = parts[0]
        if head in _COLLECTIONS and method == "GET":
            return ServiceRoute(f"{head}:list", _COLLECTIONS[head])
        collection, _, action = head.partition(":")
        if collection in _COLLECTIONS and action == "authorizeCopy" and method == "POST":
            return ServiceRoute(f"{collection}:authorizeCopy", _COLLECTIONS[collection])
        if head == "operations" and method == "GET":
            return ServiceRoute("operations:list")
        if head == "info" and method == "GET":
            return ServiceRoute("info")
        return None
    if len(parts) != 2 or not parts[1]:
        return None
    head, item = parts
    if head == "operations":
        return ServiceRoute("operations:get", operation_id=item) if method == "GET" else None
    if head not in _COLLECTIONS:
        return None
    kind = _COLLECTIONS[head]
    asset_id, colon, action = item.partition(":")
    if colon:
        if action == "copyTo" and method == "POST" and asset_id:
            return ServiceRoute(f"{head}:copyTo", kind, asset_id)
        return None
    if method == "GET":
        return ServiceRoute(f"{head}:get", kind, asset_id)
    if method == "DELETE":
        return ServiceRoute(f"{head}:delete", kind, asset_id)
    return None


_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def origin_key(origin: str) -> str:
    """``http://Host:8080/anything`` -> ``host:8080`` (the default port made explicit); ValueError if no host."""
    parts = urlsplit(origin if "//" in origin else f"//{origin}")
    if not parts.hostname:
        raise ValueError(f"not an origin: {origin!r}")
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme or "http", 80)
    return f"{parts.hostname.lower()}:{port}"


def normalise_origin(origin: str) -> str:
    """``http://Host:8080/`` -> ``http://host:8080`` (what URLs in bodies and headers start with)."""
    parts = urlsplit(origin)
    if not parts.scheme or not parts.hostname:
        raise ValueError(f"not an origin (scheme://host[:port]): {origin!r}")
    return f"{parts.scheme}://{parts.netloc.lower()}"


def decode_page_token(token: str) -> str:
    return wire.decode_page_token(token, lambda: errors.invalid_parameter("nextLink", "unknown continuation token"))


class EmulatorApp:
    """The whole emulator: store, clock, faults, request log and counters behind one ASGI callable."""

    def __init__(
        self,
        config: EmulatorConfig,
        *,
        connections: ConnectionRegistry | None = None,
        origins: Mapping[str, str] | None = None,
        admin_origins: tuple[str, ...] = (),
    ) -> None:
        self.config = config
        self.endpoints: dict[str, str] = {}  # account -> its origin (the first one bound), what clients use
        self._hosts: dict[str, str | None] = {}  # "host:port" -> account (None: an admin origin)
        self._ports: dict[int, set[str | None]] = defaultdict(set)  # port -> accounts bound on it (fallback)
        self.clock = Clock()
        self.store = Store(config, self.clock)
        self.faults = FaultInjector(config)
        self.connections = connections or ConnectionRegistry()
        self.request_log: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        self.request_counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.throttled: dict[str, int] = defaultdict(int)
        self.cu = cu.CUStore(self.store)  # Content Understanding analyzers (contracts §5)
        self.admin = build_admin_app(self)
        for origin in admin_origins:
            self.bind_admin_origin(origin)
        for origin, account in (origins or {}).items():
            self.bind_origin(origin, account)

    # --- origins ---------------------------------------------------------------------------------------------------

    def bind_origin(self, origin: str, account: str) -> str:
        """Serve ``account`` at ``origin`` (``scheme://host[:port]``); returns the normalised origin. An account may
        have several origins (the first is its ``endpoint``); an origin belongs to one account."""
        if account not in self.config.accounts:
            raise KeyError(f"no account named {account!r}")
        origin = normalise_origin(origin)
        key = origin_key(origin)
        if self._hosts.get(key, account) != account:
            raise ValueError(f"origin {origin} is already bound to {self._hosts[key] or 'the admin API'!r}")
        self._hosts[key] = account
        self._ports[int(key.rsplit(":", 1)[1])].add(account)
        self.endpoints.setdefault(account, origin)
        return origin

    def bind_admin_origin(self, origin: str) -> str:
        """The origin of the admin API (``/_emulator/...``); service requests to it answer APIM's 404."""
        origin = normalise_origin(origin)
        key = origin_key(origin)
        if self._hosts.get(key) is not None:
            raise ValueError(f"origin {origin} is already bound to account {self._hosts[key]!r}")
        self._hosts[key] = None
        self._ports[int(key.rsplit(":", 1)[1])].add(None)
        return origin

    def endpoint(self, account: str) -> str | None:
        """The origin of ``account`` (what a client uses as its endpoint), None if it has none."""
        return self.endpoints.get(account)

    def _account_at(self, key: str | None, port: int | None) -> str | None:
        """The account served at ``host:port`` ``key``; else the only one bound on ``port``; else None (admin/unknown)."""
        if key is not None and key in self._hosts:
            return self._hosts[key]
        owners = self._ports.get(port) if port is not None else None
        if owners and len(owners) == 1:
            return next(iter(owners))
        return None

    def account_for_scope(self, scope: Scope) -> str | None:
        """The account a request is for: its ``Host`` header, else the local port it came in on."""
        host = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"host"), None)
        key = None
        if host:
            try:
                key = origin_key(f"{scope.get('scheme', 'http')}://{host}")
            except ValueError:
                key = None
        server = scope.get("server")
        return self._account_at(key, server[1] if server and len(server) > 1 else None)

    def account_for_url(self, url: str) -> str | None:
        """The account whose origin ``url`` is on (e.g. a Content Understanding source analyzer URL), or None."""
        try:
            key = origin_key(url)
        except ValueError:
            return None
        return self._account_at(key, int(key.rsplit(":", 1)[1]))

    def reset(self) -> None:
        """Back to the config file's state: clock, models, operations, faults, log, counters."""
        self.clock.reset()
        self.store.reset()
        self.cu.reset()
        self.faults.reset()
        self.request_log.clear()
        self.request_counts.clear()
        self.throttled.clear()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        send = _with_request_id(send)
        path: str = scope["path"]
        name = self.account_for_scope(scope)
        if name is None:  # the admin origin, or an origin no account has
            if path == "/_emulator" or path.startswith("/_emulator/"):
                self.store.settle()
                self.cu.settle()
                await self.admin(scope, receive, send)
            else:
                headers = {"apim-request-id": str(uuid.uuid4())}
                await _error_response(errors.resource_not_found(), headers)(scope, receive, send)
        else:
            await self._service(scope, receive, send, name)

    # --- service requests ----------------------------------------------------------------------------------------

    async def _service(self, scope: Scope, receive: Receive, send: Send, name: str) -> None:
        request = Request(scope, receive)
        request_id = str(uuid.uuid4())
        _, *tail = scope["path"].split("/", 2)
        prefix = tail[0] if tail else ""
        is_v2 = prefix == "formrecognizer" and len(tail) == 2 and v2.is_v2_path(tail[1])
        route: ServiceRoute | v2.V2Route | language.LanguageRoute | cu.CURoute | None
        if is_v2:
            route = v2.resolve_v2_route(request.method, tail[1], request.query_params.get("op"))
        elif prefix == cu.PREFIX:
            route = cu.resolve_route(request.method, tail[1]) if len(tail) == 2 else None
        elif prefix == language.PREFIX:
            route = language.resolve_language_route(request.method, tail[1]) if len(tail) == 2 else None
        else:
            route = resolve_route(request.method, tail[1]) if len(tail) == 2 else None
        route_name = route.name if route else "unknown"
        # v2 backend errors carry x-ms-cs-error-code (contracts §1); gateway answers (401, 429, APIM 404) do not
        backend = errors.with_cs_error_code if is_v2 and route is not None else (lambda exc: exc)
        if isinstance(route, language.LanguageRoute):  # Language backend errors carry x-ms-error-code
            backend = language.with_error_code
        if prefix == cu.PREFIX:  # every CU backend answer carries x-ms-error-code (cu.py)
            backend = cu.with_error_code
        headers = {"apim-request-id": request_id, "x-content-type-options": "nosniff"}
        client_request_id = request.headers.get("x-ms-client-request-id")
        if client_request_id:
            headers["x-ms-client-request-id"] = client_request_id
        account = self.store.accounts[name]
        headers["x-ms-region"] = account.config.region
        self.request_counts[name][route_name] += 1
        faults = self.faults.effective(name)
        delay = self.faults.delay_seconds(faults)
        if delay > 0:
            await asyncio.sleep(delay)

        decision = Decision.PASS
        key = request.headers.get("ocp-apim-subscription-key", "")
        if not secrets.compare_digest(key.encode(), account.config.key.encode()):
            response = _error_response(errors.access_denied(), headers)
        elif not self.faults.admit(name, faults):
            self.throttled[name] += 1
            response = _error_response(errors.throttled(self.store.settings.retry_after_seconds), headers)
        else:
            decision = self.faults.decide(name, route_name, faults)
            if decision is Decision.DROP:
                await self._drop(request)
                self._log(request, name, route_name, None, fault="drop")
                return
            if decision is Decision.ERROR:
                response = _error_response(backend(errors.service_unavailable()), headers)
            else:
                self.store.settle()
                try:
                    if isinstance(route, v2.V2Route):
                        response = await self._dispatch_v2(request, name, route, headers)
                    elif prefix == cu.PREFIX:
                        response = await cu.dispatch(self, request, name, route, headers)  # type: ignore[arg-type]
                    elif isinstance(route, language.LanguageRoute):
                        response = await language.dispatch(self, request, name, route, headers)
                    else:
                        response = await self._dispatch(request, name, prefix, route, headers)
                except errors.ServiceError as exc:
                    response = _error_response(exc, headers)
                except Exception:  # a bug in the emulator: answer like the service would, keep serving
                    logger.exception("unhandled error on %s %s", request.method, scope["path"])
                    response = _error_response(
                        backend(errors.ServiceError(500, "InternalServerError", "An unexpected error occurred.")), headers
                    )
                if decision is Decision.DROP_AFTER:
                    await self._drop(request)
                    self._log(request, name, route_name, response.status_code, fault="drop_after")
                    return
        fault = "error" if decision is Decision.ERROR else ("throttled" if response.status_code == 429 else None)
        self._log(request, name, route_name, response.status_code, fault=fault)
        await response(scope, receive, send)

    async def _dispatch(
        self, request: Request, name: str, prefix: str, route: ServiceRoute | None, headers: dict[str, str]
    ) -> Response:
        api_version = request.query_params.get("api-version")
        versions = views.PREFIX_VERSIONS.get(prefix)
        if route is None or versions is None or api_version not in versions:
            raise errors.resource_not_found()
        if route.kind == "classifier" and api_version not in views.CLASSIFIER_VERSIONS:
            raise errors.resource_not_found()
        if route.name.startswith("documentClassifiers:") and route.name.endswith(("authorizeCopy", "copyTo")):
            if api_version not in views.CLASSIFIER_COPY_VERSIONS:
                raise errors.resource_not_found()  # contracts §2.7 / §3: no classifier copy before 2024-11-30
        account_url = _origin(request)
        store = self.store
        action = route.name.split(":", 1)[1] if ":" in route.name else route.name

        if route.name == "info":
            body = views.info(store.count_models(name), store.accounts[name].config.model_limit, api_version, self.clock.now())
            return json_response(200, body, headers)

        if route.name.startswith("operations:"):
            kinds: frozenset[AssetKind] = frozenset({"model", "classifier"}) if api_version in views.CLASSIFIER_COPY_VERSIONS else frozenset({"model"})
            now = self.clock.now()
            if action == "get":
                assert route.operation_id is not None
                op = store.get_operation(name, route.operation_id, kinds)
                return json_response(200, views.operation(op, now, api_version), headers)
            token = request.query_params.get("nextLink")
            page = store.list_operations(name, decode_page_token(token) if token is not None else None, kinds)
            body = {"value": [views.operation(op, now, api_version, summary=True) for op in page.items]}
            if page.next_after is not None:
                body["nextLink"] = _next_link(account_url, prefix, "operations", page.next_after, api_version)
            return json_response(200, body, headers)

        kind = route.kind
        assert kind is not None
        collection = "documentModels" if kind == "model" else "documentClassifiers"
        if action == "list":
            token = request.query_params.get("nextLink")
            page = store.list_assets(name, kind, decode_page_token(token) if token is not None else None, prefix=prefix)
            if kind == "model":
                items = [views.model_list_item(m, api_version) for m in page.items]
            else:
                items = [views.classifier(c, api_version) for c in page.items]
            body = {"value": items}
            if page.next_after is not None:
                body["nextLink"] = _next_link(account_url, prefix, collection, page.next_after, api_version)
            return json_response(200, body, headers)
        if action == "get":
            assert route.asset_id is not None
            asset = store.get_asset(name, kind, route.asset_id, prefix=prefix)
            body = views.model(asset, api_version) if kind == "model" else views.classifier(asset, api_version)  # type: ignore[arg-type]
            return json_response(200, body, headers)
        if action == "delete":
            assert route.asset_id is not None
            store.delete_asset(name, kind, route.asset_id)
            return Response(status_code=204, headers=headers)
        if action == "authorizeCopy":
            body = await _json_body(request)
            payload = store.authorize_copy(kind, name, body, account_url=account_url, prefix=prefix, api_version=api_version)
            return json_response(200, payload, headers)
        if action == "copyTo":
            assert route.asset_id is not None
            body = await _json_body(request)
            faults = self.faults.effective(name)
            operation_id = f"{secrets.randbelow(10**11):011d}_{headers['apim-request-id']}"  # contracts §2.3 shape
            op = store.copy_to(
                kind,
                name,
                route.asset_id,
                body,
                prefix=prefix,
                api_version=api_version,
                allow_degrade=request.headers.get("x-ms-forms-copy-degrade", "").strip().lower() == "true",
                duration=self.faults.copy_duration(store.settings.copy_seconds, faults),
                operation_id=operation_id,
                inject_failure=lambda: self.faults.operation_fails(name, faults),
            )
            location = f"{account_url}/{prefix}/operations/{op.operation_id}?api-version={api_version}"
            # No Retry-After: the live service sends none on this 202 (recordings, issue 13), although the
            # 2024-11-30 spec declares one (contracts §2.1); FR v3's spec declares none (contracts §3).
            return Response(status_code=202, headers={**headers, "Operation-Location": location})
        raise errors.resource_not_found()  # pragma: no cover - resolve_route only yields the actions above

    async def _dispatch_v2(self, request: Request, name: str, route: v2.V2Route, headers: dict[str, str]) -> Response:
        """Form Recognizer v2.1 / v2.0 (contracts §4). No api-version: the version is the path segment."""
        base = f"{_origin(request)}/formrecognizer/{route.version}"
        store = self.store.v2
        action = route.name.removeprefix("v2:")
        now = self.clock.now()

        if action in ("custom/models:list", "custom/models:summary"):
            op = request.query_params.get("op")
            if op not in ("full", "summary"):
                raise errors.v2_bad_request("The parameter 'op' is required and must be 'full' or 'summary'.")
            summary = v2.summary(store.count(name), self.store.accounts[name].config.model_limit, store.accounts[name].last_changed)
            if op == "summary":
                return json_response(200, {"summary": summary}, headers)
            token = request.query_params.get("nextLink")
            after = None
            if token is not None:
                try:
                    after = decode_page_token(token)
                except errors.ServiceError:
                    raise errors.v2_bad_request("The parameter 'nextLink' is invalid.") from None
            items, next_after = store.list_page(name, after)
            body = {
                "summary": summary,
                "modelList": [v2.model_info(m, route.api) for m in items],
                # the spec example ends with "nextLink": "" (contracts §4); op=full rides along for plain clients
                "nextLink": f"{base}/custom/models?nextLink={encode_page_token(next_after)}&op=full" if next_after else "",
            }
            return json_response(200, body, headers)
        if action == "custom/models:get":
            assert route.model_id is not None
            return json_response(200, v2.model(store.get(name, route.model_id, route.api), route.api), headers)
        if action == "custom/models:delete":
            assert route.model_id is not None
            store.delete(name, route.model_id)
            return Response(status_code=204, headers=headers)
        if action == "copyAuthorization":
            auth = store.authorize(name)
            body = {"modelId": auth.model_id, "accessToken": auth.token, "expirationDateTimeTicks": auth.expires}
            return json_response(201, body, {**headers, "Location": f"{base}/custom/models/{auth.model_id}"})
        if action == "copy":
            assert route.model_id is not None
            raw = await request.body()
            try:
                body = json.loads(raw) if raw.strip() else None
            except ValueError:
                raise errors.v2_bad_request("The copy request body is not valid JSON.") from None
            faults = self.faults.effective(name)
            op = store.copy(
                name,
                route.model_id,
                body,
                allow_degrade=request.headers.get("x-ms-forms-copy-degrade", "").strip().lower() == "true",
                duration=self.faults.copy_duration(self.store.settings.copy_seconds, faults),
                result_id=str(uuid.uuid4()),
                inject_failure=lambda: self.faults.operation_fails(name, faults),
            )
            # lowercase "copyresults", as the live service writes it (contracts §4)
            location = f"{base}/custom/models/{op.source_model_id}/copyresults/{op.result_id}"
            return Response(status_code=202, headers={**headers, "Operation-Location": location})
        if action == "copyResults":
            assert route.model_id is not None and route.result_id is not None
            op = store.get_copy_result(name, route.model_id, route.result_id)
            body = v2.copy_result(op, now)
            # a failed result carries its code in ms-azure-ai-errorcode (the 2021 recording, errors.AI_ERROR_CODE_HEADER)
            extra = {errors.AI_ERROR_CODE_HEADER: op.errors[0]["code"]} if op.errors else {}
            return json_response(200, body, {**headers, **extra})
        raise errors.resource_not_found()  # pragma: no cover - resolve_v2_route only yields the actions above

    async def _drop(self, request: Request) -> None:
        """Close the connection without an answer (the client sees the server disconnect)."""
        transport = self.connections.get(request.scope.get("client"))
        if transport is None:
            raise RuntimeError("drop fault: this server did not register its connections (run it via drplan.emulator.server)")
        await request.body()  # read all input first: closing a socket with unread input sends a reset instead
        transport.close()

        async def disconnected() -> None:
            while (await request.receive())["type"] != "http.disconnect":
                pass

        try:  # wait until the server has seen the close, so it does not answer 500 on our behalf
            await asyncio.wait_for(disconnected(), timeout=5)
        except asyncio.TimeoutError:
            logger.warning("drop fault: connection did not report the disconnect")

    def _log(self, request: Request, account: str, route: str, status: int | None, *, fault: str | None = None) -> None:
        now = dt.datetime.fromtimestamp(self.clock.now(), tz=dt.timezone.utc)
        self.request_log.append(
            {
                "time": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "account": account,
                "method": request.method,
                "path": request.url.path,
                "route": route,
                "status": status,
                "fault": fault,
            }
        )


def _origin(request: Request) -> str:
    """``scheme://host[:port]`` the request was sent to (its ``Host``): the account's origin as the client sees it, so
    URLs in bodies and headers point back at the emulator however it was reached."""
    return str(request.base_url).rstrip("/")


def _with_request_id(send: Send) -> Send:
    """``send`` that adds an ``apim-request-id`` to a response that has none: the real service puts one on every
    response (contracts §1 [R]), the gateway's own answers included."""

    async def wrapped(message: Any) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            if not any(k.lower() == b"apim-request-id" for k, _ in headers):
                headers.append((b"apim-request-id", str(uuid.uuid4()).encode()))
                message = {**message, "headers": headers}
        await send(message)

    return wrapped


def _next_link(account_url: str, prefix: str, collection: str, after: str, api_version: str) -> str:
    """Absolute ``nextLink`` in the examples' opaque ``?nextLink=<token>`` form, plus api-version (contracts §1)."""
    return f"{account_url}/{prefix}/{collection}?nextLink={encode_page_token(after)}&api-version={api_version}"


async def _json_body(request: Request) -> Any:
    return await wire.read_json(request, lambda: errors.invalid_parameter("body", "the request body is not valid JSON."))


def _error_response(error: errors.ServiceError, headers: dict[str, str]) -> Response:
    return json_response(error.status, error.body(), {**headers, **error.headers})
