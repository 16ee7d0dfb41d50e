"""The admin API under ``/_emulator/`` (no auth): seed and remove assets, set faults and settings, move the clock,
read the request log and counters, reset. See the table in ``drplan/emulator/README.md``.

This module holds the routes every account has (health, accounts, faults, settings, clock, requests, counters,
reset) and the helpers each family's admin routes are built from (:func:`seed_route`, :func:`remove_route`,
:class:`AdminError`...); the family routes themselves (seeding models, analyzers, projects...) live in the family's
service module (``services/<family>.py``, ``admin_routes()``) and :func:`build_admin_app` mounts them.

Admin errors use the same envelope as the service (``{"error": {"code", "message"}}``) with codes
``BadRequest`` (400), ``NotFound`` (404) and ``Conflict`` (409).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections import deque
from collections.abc import Callable, Container, Iterator, Sequence
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .clock import Clock, format_timestamp
from .config_base import ConfigError, Faults, apply_settings
from .store import Store
from .wire import JSON_CONTENT_TYPE


class AdminError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def admin_json(body: Any, status: int = 200) -> Response:
    """An admin answer: ``body`` as (non-compact) UTF-8 JSON."""
    return Response(json.dumps(body, ensure_ascii=False).encode("utf-8"), status_code=status, headers={"content-type": JSON_CONTENT_TYPE})


async def read_body(request: Request) -> dict[str, Any]:
    """The request's JSON object body (``{}`` when empty); 400 ``BadRequest`` when it is not a JSON object."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise AdminError(400, "BadRequest", "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise AdminError(400, "BadRequest", "the request body must be a JSON object")
    return body


@contextlib.contextmanager
def config_errors_as_400() -> Iterator[None]:
    """Turn a :class:`ConfigError` (a seed or settings body that does not validate) into 400 ``BadRequest``."""
    try:
        yield
    except ConfigError as exc:
        raise AdminError(400, "BadRequest", str(exc)) from None


def account_or_404(accounts: Container[str], name: str) -> str:
    """``name``, or a 404 ``NotFound`` when ``accounts`` has no such account."""
    if name not in accounts:
        raise AdminError(404, "NotFound", f"no account named {name!r}")
    return name


async def read_seed(
    request: Request,
    accounts: Container[str],
    parse: Callable[..., Any],
    where: str,
    *,
    exists: Callable[[str, Any], bool],
    conflict: str,
    replaceable: bool = False,
) -> tuple[str, Any, bool]:
    """The start every admin seed handler shares (``POST /_emulator/accounts/{name}/...``): the account (404), the
    JSON body (400), with ``replaceable`` its ``replace`` flag (400 unless a bool), the seed ``parse(body, where=...)``
    gives (400 with the :class:`ConfigError` message), and a 409 ``Conflict`` when ``exists(name, seed)`` and the
    body did not ask to replace. ``conflict`` is the 409 message, formatted with ``name`` and ``seed``.
    Returns ``(name, seed, exists)``."""
    name = account_or_404(accounts, request.path_params["name"])
    body = await read_body(request)
    replace = False
    if replaceable:
        replace = body.pop("replace", False)
        if not isinstance(replace, bool):
            raise AdminError(400, "BadRequest", f"{where}.replace: must be true or false")
    with config_errors_as_400():
        seed = parse(body, where=where)
    found = exists(name, seed)
    if found and not replace:
        raise AdminError(409, "Conflict", conflict.format(name=name, seed=seed))
    return name, seed, found


def seed_route(
    path: str,
    accounts: Container[str],
    parse: Callable[..., Any],
    where: str,
    *,
    exists: Callable[[str, Any], bool],
    conflict: str,
    create: Callable[[str, Any, bool], Any],
    replaceable: bool = False,
    replaced_status: int = 201,
) -> Route:
    """``POST path``: seed one record. :func:`read_seed` checks the request; ``create(name, seed, exists)`` makes the
    record and returns its JSON view, answered with 201 (``replaced_status`` when it replaced one)."""

    async def seed(request: Request) -> Response:
        name, entry, found = await read_seed(
            request, accounts, parse, where, exists=exists, conflict=conflict, replaceable=replaceable
        )
        return admin_json(create(name, entry, found), status=replaced_status if found else 201)

    return Route(path, seed, methods=["POST"])


def remove_route(
    path: str,
    accounts: Container[str],
    param: str,
    what: str,
    remove: Callable[[str, str], bool],
    *,
    parse_id: Callable[[str], str] = lambda value: value,
) -> Route:
    """``DELETE path``: out-of-band removal of the record named by the path parameter ``param`` (``parse_id`` may
    normalise it or raise an :class:`AdminError`); 204, or 404 ``NotFound`` naming ``what`` when there is none."""

    async def delete(request: Request) -> Response:
        name = account_or_404(accounts, request.path_params["name"])
        item_id = parse_id(request.path_params[param])
        if not remove(name, item_id):
            raise AdminError(404, "NotFound", f"account {name!r} has no {what} {item_id!r}")
        return Response(status_code=204)

    return Route(path, delete, methods=["DELETE"])


class AdminFamily(Protocol):
    """What a family's service gives the admin API."""

    def admin_routes(self) -> list[Route]: ...

    def admin_view(self, account: str) -> dict[str, Any]: ...


class AdminRoutes(Protocol):
    """A part of the emulator with admin routes of its own (the management API, ``arm.py``)."""

    def admin_routes(self) -> list[Route]: ...


class FaultControls(Protocol):
    """The part of ``faults.FaultInjector`` the admin API reads and changes."""

    global_faults: Faults
    counts: dict[str, dict[str, int]]

    def effective(self, account: str) -> Faults: ...

    def update(self, values: dict[str, Any], account: str | None = None) -> Faults: ...


class AdminHost(Protocol):
    """The emulator as the admin API sees it (``app.EmulatorApp``)."""

    @property
    def store(self) -> Store: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def faults(self) -> FaultControls: ...

    @property
    def services(self) -> Sequence[AdminFamily]: ...

    @property
    def management(self) -> AdminRoutes: ...

    @property
    def request_log(self) -> deque[dict[str, Any]]: ...

    @property
    def request_counts(self) -> dict[str, dict[str, int]]: ...

    @property
    def throttled(self) -> dict[str, int]: ...

    def endpoint(self, account: str) -> str | None: ...

    def settle(self) -> None: ...

    def reset(self) -> None: ...


def build_admin_app(emulator: AdminHost) -> Starlette:
    """A Starlette app bound to one emulator instance: the shared routes, then each family's."""
    routes = [
        *_account_routes(emulator),
        *_fault_and_setting_routes(emulator),
        *_clock_and_log_routes(emulator),
        *(route for service in emulator.services for route in service.admin_routes()),
        *emulator.management.admin_routes(),  # deployments one by one, management throttling (arm.py)
    ]
    return Starlette(routes=routes, exception_handlers={AdminError: _admin_error, HTTPException: _http_error})


def _account_routes(emulator: AdminHost) -> list[Route]:
    async def health(request: Request) -> Response:
        return admin_json({"status": "ok"})

    async def accounts(request: Request) -> Response:
        out = []
        for name, cfg in emulator.store.accounts.items():
            view = {
                "name": name,
                "region": cfg.region,
                "endpoint": emulator.endpoint(name),  # the account's own origin (None: none bound)
                "resource_id": cfg.resource_id,
                "encryption": cfg.encryption,
                "model_limit": cfg.model_limit,
            }
            for service in emulator.services:  # models, classifiers, v2_models, analyzers..., language_projects
                view.update(service.admin_view(name))
            out.append(view)
        return admin_json({"accounts": out})

    async def reset(request: Request) -> Response:
        emulator.reset()
        return admin_json({"status": "ok"})

    return [
        Route("/_emulator/health", health, methods=["GET"]),
        Route("/_emulator/accounts", accounts, methods=["GET"]),
        Route("/_emulator/reset", reset, methods=["POST"]),
    ]


def _fault_and_setting_routes(emulator: AdminHost) -> list[Route]:
    def faults_view() -> dict[str, Any]:
        return {
            "global": _faults_dict(emulator.faults.global_faults),
            "accounts": {name: _faults_dict(emulator.faults.effective(name)) for name in emulator.store.accounts},
        }

    async def get_faults(request: Request) -> Response:
        return admin_json(faults_view())

    async def put_faults(request: Request) -> Response:
        body = await read_body(request)
        account = body.pop("account", None)
        if account is not None:
            if not isinstance(account, str):
                raise AdminError(400, "BadRequest", "account must be an account name")
            account_or_404(emulator.store.accounts, account)
        with config_errors_as_400():
            emulator.faults.update(body, account)
        return admin_json(faults_view())

    async def get_settings(request: Request) -> Response:
        return admin_json(dataclasses.asdict(emulator.store.settings))

    async def put_settings(request: Request) -> Response:
        with config_errors_as_400():
            emulator.store.settings = apply_settings(emulator.store.settings, await read_body(request))
        return admin_json(dataclasses.asdict(emulator.store.settings))

    return [
        Route("/_emulator/faults", get_faults, methods=["GET"]),
        Route("/_emulator/faults", put_faults, methods=["PUT"]),
        Route("/_emulator/settings", get_settings, methods=["GET"]),
        Route("/_emulator/settings", put_settings, methods=["PUT"]),
    ]


def _clock_and_log_routes(emulator: AdminHost) -> list[Route]:
    def clock_view() -> dict[str, Any]:
        return {"now": format_timestamp(emulator.clock.now()), "offset_seconds": emulator.clock.offset_seconds}

    async def get_clock(request: Request) -> Response:
        return admin_json(clock_view())

    async def advance_clock(request: Request) -> Response:
        body = await read_body(request)
        seconds = body.get("advance_seconds")
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
            raise AdminError(400, "BadRequest", "advance_seconds must be a number >= 0")
        emulator.clock.advance(float(seconds))
        emulator.settle()
        return admin_json(clock_view())

    async def requests_log(request: Request) -> Response:
        return admin_json(list(emulator.request_log))

    async def counters(request: Request) -> Response:
        return admin_json(
            {
                "requests": {acct: dict(routes) for acct, routes in emulator.request_counts.items()},
                "throttled": dict(emulator.throttled),
                "faults": {acct: dict(kinds) for acct, kinds in emulator.faults.counts.items()},
            }
        )

    return [
        Route("/_emulator/clock", get_clock, methods=["GET"]),
        Route("/_emulator/clock", advance_clock, methods=["POST"]),
        Route("/_emulator/requests", requests_log, methods=["GET"]),
        Route("/_emulator/counters", counters, methods=["GET"]),
    ]


async def _admin_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AdminError)
    return admin_json({"error": {"code": exc.code, "message": exc.message}}, status=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, str(exc.status_code))
    return admin_json({"error": {"code": code, "message": f"{request.method} {request.url.path}: {exc.detail}"}}, status=exc.status_code)


def _faults_dict(faults: Any) -> dict[str, Any]:
    out = dataclasses.asdict(faults)
    out["routes"] = list(out["routes"])
    return out
