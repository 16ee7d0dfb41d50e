"""The emulator as an ASGI application: one origin per account, service routes at ``{origin}/{prefix}/...`` and the
admin API under ``/_emulator/`` of the admin origin. This module only routes, and holds the request pipeline every
family shares; everything a family does is in its module under ``services/``.

Routing, in three steps:

* **origin -> account.** The account lives in the host only, never in the path, as on the real service
  (``https://<resource>.cognitiveservices.azure.com/documentintelligence/...``; contracts §2.1, issue 13 point 4): the
  app picks the account from the request's ``Host`` header (``host:port``) through the origins registered with
  :meth:`EmulatorApp.bind_origin` (``server.py`` binds one listening socket per account and registers each;
  in-process users pass ``origins={...}``), falling back to the port of ``scope["server"]``. A service request to the
  admin origin or to an origin no account has answers APIM's 404; ``/_emulator/...`` there is the admin API.
* **path prefix -> family.** ``/documentintelligence`` and ``/formrecognizer`` -> ``services.document_intelligence``
  (DI v4, FR v3), except ``/formrecognizer/v2.1|v2.0|v2.0-preview/...`` -> ``services.form_recognizer_v2``;
  ``/contentunderstanding`` -> ``services.content_understanding``; ``/language`` -> ``services.language``. The family
  resolves the rest of the path to a named route (or none: APIM's 404).
* **the shared pipeline** (:meth:`EmulatorApp._service`), the same for every family: request ids and region headers,
  counters, latency, the key check, the rate limit, the drop / 503 / drop-after faults, settling every family's due
  operations, the family's handler, the request log.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from collections import defaultdict, deque
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from . import arm, errors
from .admin import build_admin_app
from .clock import Clock, format_timestamp_ms
from .config_base import EmulatorConfig, Faults
from .faults import ConnectionRegistry, Decision, FaultInjector
from .services import analyze, content_understanding, document_intelligence, form_recognizer_v2, language
from .store import Store
from .wire import json_response

logger = logging.getLogger("drplan.emulator")

#: The request log keeps this many entries (oldest dropped first), so long benchmarks do not grow without bound.
REQUEST_LOG_SIZE = 100_000


class Service(Protocol):
    """A service family as the app routes to it (``services/<family>.py``, ``Service``; see ``services/__init__``)."""

    def resolve(self, method: str, prefix: str, rest: str, query: Mapping[str, str]) -> Any: ...

    async def dispatch(self, request: Request, account: str, route: Any, headers: dict[str, str]) -> Response: ...

    def backend_error(self, route: Any, error: errors.ServiceError) -> errors.ServiceError: ...

    def reset(self) -> None: ...

    def settle(self) -> None: ...

    def admin_routes(self) -> list[Route]: ...

    def admin_view(self, account: str) -> dict[str, Any]: ...


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
        self.faults = FaultInjector(config)
        self.store = Store(config, self.clock, self.faults)  # accounts, settings, clock: what every family shares
        self.connections = connections or ConnectionRegistry()
        self.request_log: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        self.request_counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.throttled: dict[str, int] = defaultdict(int)
        self.di = document_intelligence.Service(self.store)  # DI v4 + FR v3 (contracts §2, §3)
        self.v2 = form_recognizer_v2.Service(self.store)  # FR v2.1 / v2.0 (contracts §4)
        self.cu = content_understanding.Service(self.store, self.account_for_url)  # Content Understanding (§5)
        self.language = language.Service(self.store)  # Language authoring (§6)
        #: The management (Resource Manager) API of the accounts, at the admin origin (issue 15).
        self.management = arm.Management(self.store, self.cu.cu, self.endpoint,
                                          config.management or arm.ManagementConfig())
        # Inference for drills (issue 16): reads the four families' records, changes none.
        self.analyze = analyze.Service(self.store, self.di, self.v2, self.cu, self.language)
        self.services: tuple[Service, ...] = (self.di, self.v2, self.cu, self.language, self.analyze)
        #: Path prefix -> family; DI also serves any other prefix (its routes then answer APIM's 404, counted under
        #: the route they name). ``/formrecognizer/v2.x/...`` is picked out in :meth:`_route`.
        self._prefixes: dict[str, Service] = {
            **{prefix: self.di for prefix in document_intelligence.PREFIXES},
            content_understanding.PREFIX: self.cu,
            language.PREFIX: self.language,
        }
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
        """Back to the config file's state: clock, every family's records and operations, faults, log, counters."""
        self.clock.reset()
        self.store.reset()
        for service in self.services:
            service.reset()
        self.management.reset()
        self.faults.reset()
        self.request_log.clear()
        self.request_counts.clear()
        self.throttled.clear()

    def settle(self) -> None:
        """Finish every family's operations whose time is up (before each request, and after the clock moves)."""
        for service in self.services:
            service.settle()

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
                self.settle()
                await self.admin(scope, receive, send)
            elif self.management.matches(path):
                await self._management(scope, receive, send)
            else:
                headers = {"apim-request-id": str(uuid.uuid4())}
                await _error_response(errors.resource_not_found(), headers)(scope, receive, send)
        else:
            await self._service(scope, receive, send, name)

    async def _management(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A Resource Manager request (``arm.py``): counted and logged under the account its path names."""
        request = Request(scope, receive)
        seen: list[tuple[str, str]] = []

        def count(account: str, route: str) -> None:
            self.request_counts[account][route] += 1
            seen.append((account, route))

        response = await self.management.handle(request, count)
        if seen:
            self._log(request, seen[0][0], seen[0][1], response.status_code,
                      fault="throttled" if response.status_code == 429 else None)
        await response(scope, receive, send)

    # --- service requests ----------------------------------------------------------------------------------------

    def _route(self, request: Request) -> tuple[Service, Any]:
        """The family a service request goes to (by path prefix) and the route it resolves the path to (None: none)."""
        _, *tail = request.scope["path"].split("/", 2)
        prefix = tail[0] if tail else ""
        rest = tail[1] if len(tail) == 2 else None
        analyze_route = analyze.resolve(request.method, prefix, rest) if rest is not None else None
        if analyze_route is not None:  # the inference endpoints of every family (services/analyze.py)
            return self.analyze, analyze_route
        if prefix == "formrecognizer" and rest is not None and form_recognizer_v2.is_v2_path(rest):
            service: Service = self.v2
        else:
            service = self._prefixes.get(prefix, self.di)
        route = service.resolve(request.method, prefix, rest, request.query_params) if rest is not None else None
        return service, route

    async def _service(self, scope: Scope, receive: Receive, send: Send, name: str) -> None:
        """The shared pipeline: headers, counters, latency, then :meth:`_answer`, the request log and the answer."""
        request = Request(scope, receive)
        service, route = self._route(request)
        route_name = route.name if route else "unknown"
        headers = {"apim-request-id": str(uuid.uuid4()), "x-content-type-options": "nosniff"}
        client_request_id = request.headers.get("x-ms-client-request-id")
        if client_request_id:
            headers["x-ms-client-request-id"] = client_request_id
        headers["x-ms-region"] = self.store.accounts[name].region
        self.request_counts[name][route_name] += 1
        faults = self.faults.effective(name)
        delay = self.faults.delay_seconds(faults)
        if delay > 0:
            await asyncio.sleep(delay)
        decision, response = await self._answer(request, name, service, route, route_name, faults, headers)
        if response is None:
            return  # dropped: logged by _drop_connection
        fault = "error" if decision is Decision.ERROR else ("throttled" if response.status_code == 429 else None)
        self._log(request, name, route_name, response.status_code, fault=fault)
        await response(scope, receive, send)

    async def _answer(
        self, request: Request, name: str, service: Service, route: Any, route_name: str, faults: Faults, headers: dict[str, str]
    ) -> tuple[Decision, Response | None]:
        """The gateway (key, rate limit), the fault decision and the family's answer; None: the connection was
        dropped (before the handler ran, or after it, losing its answer)."""
        key = request.headers.get("ocp-apim-subscription-key", "")
        if not secrets.compare_digest(key.encode(), self.store.accounts[name].key.encode()):
            return Decision.PASS, _error_response(errors.access_denied(), headers)
        if not self.faults.admit(name, faults):
            self.throttled[name] += 1
            return Decision.PASS, _error_response(errors.throttled(self.store.settings.retry_after_seconds), headers)
        decision = self.faults.decide(name, route_name, faults)
        if decision is Decision.DROP:
            await self._drop_connection(request, name, route_name, None, "drop")
            return decision, None
        if decision is Decision.ERROR:
            injected = self.faults.injected_error(name, faults, self.store.settings.retry_after_seconds)
            return decision, _error_response(service.backend_error(route, injected), headers)
        self.settle()
        response = await self._handle(request, name, service, route, headers)
        if decision is Decision.DROP_AFTER:
            await self._drop_connection(request, name, route_name, response.status_code, "drop_after")
            return decision, None
        return decision, response

    async def _handle(self, request: Request, name: str, service: Service, route: Any, headers: dict[str, str]) -> Response:
        """The family's answer; its errors as their envelopes, an emulator bug as the service's 500."""
        try:
            return await service.dispatch(request, name, route, headers)
        except errors.ServiceError as exc:
            return _error_response(exc, headers)
        except Exception:  # a bug in the emulator: answer like the service would, keep serving
            logger.exception("unhandled error on %s %s", request.method, request.scope["path"])
            bug = errors.ServiceError(500, "InternalServerError", "An unexpected error occurred.")
            return _error_response(service.backend_error(route, bug), headers)

    async def _drop_connection(self, request: Request, account: str, route: str, status: int | None, fault: str) -> None:
        await self._drop(request)
        self._log(request, account, route, status, fault=fault)

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
        self.request_log.append(
            {
                "time": format_timestamp_ms(self.clock.now()),
                "account": account,
                "method": request.method,
                "path": request.url.path,
                "route": route,
                "status": status,
                "fault": fault,
            }
        )


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


def _error_response(error: errors.ServiceError, headers: dict[str, str]) -> Response:
    return json_response(error.status, error.body(), {**headers, **error.headers})
