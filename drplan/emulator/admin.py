"""The admin API under ``/_emulator/`` (no auth): seed and remove assets, set faults and settings, move the clock,
read the request log and counters, reset. See the table in ``drplan/emulator/README.md``.

Admin errors use the same envelope as the service (``{"error": {"code", "message"}}``) with codes
``BadRequest`` (400), ``NotFound`` (404) and ``Conflict`` (409).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Container
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import language, v2, views
from .clock import format_timestamp
from .config import (
    ConfigError,
    apply_settings,
    parse_classifier_seed,
    parse_model_seed,
    parse_v2_model_id,
    parse_v2_model_seed,
    parse_v2_model_update,
)
from .wire import JSON_CONTENT_TYPE

if TYPE_CHECKING:
    from .app import EmulatorApp

ADMIN_API_VERSION = "2024-11-30"  # the shape seeded assets are echoed in


class AdminError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False).encode("utf-8"), status_code=status, headers={"content-type": JSON_CONTENT_TYPE})


async def _body(request: Request) -> dict[str, Any]:
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
    body = await _body(request)
    replace = False
    if replaceable:
        replace = body.pop("replace", False)
        if not isinstance(replace, bool):
            raise AdminError(400, "BadRequest", f"{where}.replace: must be true or false")
    try:
        seed = parse(body, where=where)
    except ConfigError as exc:
        raise AdminError(400, "BadRequest", str(exc)) from None
    found = exists(name, seed)
    if found and not replace:
        raise AdminError(409, "Conflict", conflict.format(name=name, seed=seed))
    return name, seed, found


def build_admin_app(emulator: EmulatorApp) -> Starlette:
    """A Starlette app bound to one emulator instance."""

    async def health(request: Request) -> Response:
        return _json({"status": "ok"})

    async def accounts(request: Request) -> Response:
        out = []
        for name, acct in emulator.store.accounts.items():
            cfg = acct.config
            out.append(
                {
                    "name": name,
                    "region": cfg.region,
                    "endpoint": emulator.endpoint(name),  # the account's own origin (None: none bound)
                    "resource_id": cfg.resource_id,
                    "encryption": cfg.encryption,
                    "model_limit": cfg.model_limit,
                    "models": list(acct.models.order),
                    "classifiers": list(acct.classifiers.order),
                    "v2_models": list(emulator.store.v2.accounts[name].models.order),
                    **emulator.cu.admin_view(name),  # Content Understanding: analyzers, deployments, model_deployments, token_flow
                    "language_projects": emulator.store.language.project_names(name),
                }
            )
        return _json({"accounts": out})

    async def seed_model(request: Request) -> Response:
        name, seed, _ = await read_seed(
            request,
            emulator.store.accounts,
            parse_model_seed,
            "model",
            exists=lambda name, seed: seed.model_id in emulator.store.accounts[name].models,
            conflict="account {name!r} already has a model {seed.model_id!r}",
        )
        model = emulator.store.seed_model(name, seed)
        return _json(views.model(model, ADMIN_API_VERSION), status=201)

    async def seed_classifier(request: Request) -> Response:
        name, seed, _ = await read_seed(
            request,
            emulator.store.accounts,
            parse_classifier_seed,
            "classifier",
            exists=lambda name, seed: seed.classifier_id in emulator.store.accounts[name].classifiers,
            conflict="account {name!r} already has a classifier {seed.classifier_id!r}",
        )
        classifier = emulator.store.seed_classifier(name, seed)
        return _json(views.classifier(classifier, ADMIN_API_VERSION), status=201)

    async def seed_v2_model(request: Request) -> Response:
        name, seed, _ = await read_seed(
            request,
            emulator.store.accounts,
            parse_v2_model_seed,
            "v2_model",
            exists=lambda name, seed: seed.model_id is not None and emulator.store.v2.taken(name, seed.model_id),
            conflict="account {name!r} already has (or has reserved) a v2 model {seed.model_id!r}",
        )
        model = emulator.store.v2.seed(name, seed)
        return _json(v2.model_info(model, "2.1"), status=201)

    def v2_model_id(request: Request) -> str:
        try:
            return parse_v2_model_id(request.path_params["model_id"], where="model_id")
        except ConfigError:
            raise AdminError(404, "NotFound", f"no v2 model {request.path_params['model_id']!r} (v2 model ids are UUIDs)") from None

    async def remove_v2_model(request: Request) -> Response:
        name = account_or_404(emulator.store.accounts, request.path_params["name"])
        model_id = v2_model_id(request)
        if not emulator.store.v2.remove(name, model_id):
            raise AdminError(404, "NotFound", f"account {name!r} has no v2 model {model_id!r}")
        return Response(status_code=204)

    async def retrain_v2_model(request: Request) -> Response:
        name = account_or_404(emulator.store.accounts, request.path_params["name"])
        model_id = v2_model_id(request)
        try:
            changes = parse_v2_model_update(await _body(request), where="v2_model")
        except ConfigError as exc:
            raise AdminError(400, "BadRequest", str(exc)) from None
        current = emulator.store.v2.accounts[name].models.get(model_id)
        if current is None:
            raise AdminError(404, "NotFound", f"account {name!r} has no v2 model {model_id!r}")
        updated = changes["last_updated"]
        if updated is not None and updated.timestamp() < current.created:
            raise AdminError(400, "BadRequest", "v2_model.last_updated: must not be before the model's createdDateTime")
        model = emulator.store.v2.retrain(name, model_id, changes)
        assert model is not None
        return _json(v2.model_info(model, "2.1"))

    async def remove_model(request: Request) -> Response:
        return _remove(request, "model")

    async def remove_classifier(request: Request) -> Response:
        return _remove(request, "classifier")

    def _remove(request: Request, kind: Any) -> Response:
        name = account_or_404(emulator.store.accounts, request.path_params["name"])
        asset_id = request.path_params["asset_id"]
        if not emulator.store.remove_asset(name, kind, asset_id):
            raise AdminError(404, "NotFound", f"account {name!r} has no {kind} {asset_id!r}")
        return Response(status_code=204)

    def faults_view() -> dict[str, Any]:
        return {
            "global": _faults_dict(emulator.faults.global_faults),
            "accounts": {name: _faults_dict(emulator.faults.effective(name)) for name in emulator.store.accounts},
        }

    async def get_faults(request: Request) -> Response:
        return _json(faults_view())

    async def put_faults(request: Request) -> Response:
        body = await _body(request)
        account = body.pop("account", None)
        if account is not None:
            if not isinstance(account, str):
                raise AdminError(400, "BadRequest", "account must be an account name")
            account_or_404(emulator.store.accounts, account)
        try:
            emulator.faults.update(body, account)
        except ConfigError as exc:
            raise AdminError(400, "BadRequest", str(exc)) from None
        return _json(faults_view())

    async def get_settings(request: Request) -> Response:
        return _json(dataclasses.asdict(emulator.store.settings))

    async def put_settings(request: Request) -> Response:
        try:
            emulator.store.settings = apply_settings(emulator.store.settings, await _body(request))
        except ConfigError as exc:
            raise AdminError(400, "BadRequest", str(exc)) from None
        return _json(dataclasses.asdict(emulator.store.settings))

    def clock_view() -> dict[str, Any]:
        return {"now": format_timestamp(emulator.clock.now()), "offset_seconds": emulator.clock.offset_seconds}

    async def get_clock(request: Request) -> Response:
        return _json(clock_view())

    async def advance_clock(request: Request) -> Response:
        body = await _body(request)
        seconds = body.get("advance_seconds")
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
            raise AdminError(400, "BadRequest", "advance_seconds must be a number >= 0")
        emulator.clock.advance(float(seconds))
        emulator.store.settle()
        return _json(clock_view())

    async def requests_log(request: Request) -> Response:
        return _json(list(emulator.request_log))

    async def counters(request: Request) -> Response:
        return _json(
            {
                "requests": {acct: dict(routes) for acct, routes in emulator.request_counts.items()},
                "throttled": dict(emulator.throttled),
                "faults": {acct: dict(kinds) for acct, kinds in emulator.faults.counts.items()},
            }
        )

    async def reset(request: Request) -> Response:
        emulator.reset()
        return _json({"status": "ok"})

    async def admin_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AdminError)
        return _json({"error": {"code": exc.code, "message": exc.message}}, status=exc.status)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, str(exc.status_code))
        return _json({"error": {"code": code, "message": f"{request.method} {request.url.path}: {exc.detail}"}}, status=exc.status_code)

    routes = [
        Route("/_emulator/health", health, methods=["GET"]),
        Route("/_emulator/accounts", accounts, methods=["GET"]),
        Route("/_emulator/accounts/{name}/models", seed_model, methods=["POST"]),
        Route("/_emulator/accounts/{name}/classifiers", seed_classifier, methods=["POST"]),
        Route("/_emulator/accounts/{name}/models/{asset_id}", remove_model, methods=["DELETE"]),
        Route("/_emulator/accounts/{name}/classifiers/{asset_id}", remove_classifier, methods=["DELETE"]),
        Route("/_emulator/accounts/{name}/v2_models", seed_v2_model, methods=["POST"]),
        Route("/_emulator/accounts/{name}/v2_models/{model_id}", remove_v2_model, methods=["DELETE"]),
        Route("/_emulator/accounts/{name}/v2_models/{model_id}", retrain_v2_model, methods=["PATCH"]),
        Route("/_emulator/faults", get_faults, methods=["GET"]),
        Route("/_emulator/faults", put_faults, methods=["PUT"]),
        Route("/_emulator/settings", get_settings, methods=["GET"]),
        Route("/_emulator/settings", put_settings, methods=["PUT"]),
        Route("/_emulator/clock", get_clock, methods=["GET"]),
        Route("/_emulator/clock", advance_clock, methods=["POST"]),
        Route("/_emulator/requests", requests_log, methods=["GET"]),
        Route("/_emulator/counters", counters, methods=["GET"]),
        Route("/_emulator/reset", reset, methods=["POST"]),
        *_cu_admin_routes(emulator),  # /_emulator/accounts/{name}/analyzers[/{id}], .../deployments
        *language.admin_routes(emulator),  # POST/DELETE /_emulator/accounts/{name}/language/projects[/{project}]
    ]
    return Starlette(routes=routes, exception_handlers={AdminError: admin_error, HTTPException: http_error})


def _cu_admin_routes(emulator: EmulatorApp) -> list[Route]:
    from .cu import admin_routes  # cu.py imports this module; import it lazily

    return admin_routes(emulator)


def _faults_dict(faults: Any) -> dict[str, Any]:
    out = dataclasses.asdict(faults)
    out["routes"] = list(out["routes"])
    return out
