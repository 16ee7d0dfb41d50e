"""The emulator's management (Azure Resource Manager) surface for its accounts (issue 15), at the admin origin:
``GET {admin}/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.CognitiveServices/accounts/{name}``, its
``/deployments`` (paged with ``nextLink``) and ``/deployments/{deployment}``, with ``api-version`` one of
:data:`API_VERSIONS`. Accounts are found by their ARM id (``resource_id`` in the config, case-insensitive).

Built from Resource Manager's documented shapes (learn.microsoft.com/rest/api/aiservices/accountmanagement), not from
drplan's client:

* **Auth**: ``Authorization: Bearer <token>``; ``[management] token`` in the config fixes the one token accepted
  (else any non-empty bearer token is). None: 401 ``AuthenticationFailed``; another: 401
  ``InvalidAuthenticationToken``. An account with ``arm_readable = false`` answers 403 ``AuthorizationFailed``
  naming the action and the scope, as Resource Manager does for an identity without the Reader role.
* **Account**: ``location`` (the account's region), ``kind`` (``kind``, default ``AIServices``), ``sku.name``
  (``sku``, default ``S0``), ``properties.endpoint`` (the account's own origin, with the trailing slash ARM shows),
  ``properties.publicNetworkAccess`` (``public_network_access``, default ``Enabled``) and, for
  ``encryption = "customer-managed"``, ``properties.encryption`` with ``keySource: Microsoft.KeyVault`` and
  ``keyVaultProperties``; a Microsoft-managed account has no ``encryption`` block [INF: accounts created without CMK
  show none].
* **Deployments**: the account's Content Understanding deployment table (``deployments`` in the config, changed with
  ``PUT/DELETE /_emulator/accounts/{name}/deployments/{deployment}``), so what the management API lists is exactly
  what a ``:copy`` resolves against.
* **Faults**: ``POST /_emulator/management/throttle {"count": N, "retry_after": S}`` answers the next N management
  requests 429 ``TooManyRequests`` with ``Retry-After: S``; ``[accounts.X.faults]`` latency applies too.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .admin import AdminError, account_or_404, admin_json, read_body
from .config_base import ConfigError, Ctx
from .services.content_understanding import CUStore, parse_deployment
from .store import Store
from .wire import json_response

#: api-versions of Microsoft.CognitiveServices/accounts the emulator answers (GA).
API_VERSIONS = ("2023-05-01", "2024-10-01", "2025-06-01", "2025-09-01")
ROUTE_NAMES = ("arm:accounts:get", "arm:deployments:list", "arm:deployments:get")
_PATH = re.compile(r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
                   r"Microsoft\.CognitiveServices/accounts/(?P<account>[^/]+)(?P<rest>/deployments(?:/(?P<dep>[^/]+))?)?/?$",
                   re.IGNORECASE)


@dataclass
class ManagementConfig:
    """``[management]``: the bearer token the management API accepts (None: any non-empty one)."""

    token: str | None = None


def parse_management(ctx: Ctx, raw: dict[str, Any]) -> ManagementConfig:
    ctx.check_keys("management", raw, ("token",))
    token = raw.get("token")
    if token is not None and (not isinstance(token, str) or not token):
        raise ctx.error("management.token", "must be a non-empty string")
    return ManagementConfig(token=token)


def arm_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response(status, {"error": {"code": code, "message": message}}, headers or {})


class Management:
    """The management API of every account; reads the shared store and the CU deployment tables."""

    def __init__(self, store: Store, cu: CUStore, endpoint: Callable[[str], str | None],
                 config: ManagementConfig) -> None:
        self.store = store
        self.cu = cu
        self.endpoint = endpoint
        self.config = config
        self.reset()

    def reset(self) -> None:
        self.throttle_left = 0
        self.throttle_retry_after = 1

    def matches(self, path: str) -> bool:
        return path.lower().startswith("/subscriptions/")

    # -- service ----------------------------------------------------------------------------------------------------

    async def handle(self, request: Request, count: Callable[[str, str], None]) -> Response:
        headers = {"x-ms-request-id": secrets.token_hex(16)}
        m = _PATH.match(request.url.path)
        name = self.store.by_resource_id.get(self._account_id(m).lower()) if m else None
        route = "arm:accounts:get" if m and not m.group("rest") else (
            "arm:deployments:get" if m and m.group("dep") else "arm:deployments:list")
        if name is not None:
            count(name, route)
        denied = self._authenticate(request, headers)
        if denied is not None:
            return denied
        if self.throttle_left > 0:
            self.throttle_left -= 1
            return arm_error(429, "TooManyRequests", "The request is being throttled.",
                             {**headers, "Retry-After": str(self.throttle_retry_after)})
        version = request.query_params.get("api-version")
        if not version:
            return arm_error(400, "MissingApiVersionParameter",
                             "The api-version query parameter (?api-version=) is required for all requests.", headers)
        if version not in API_VERSIONS:
            return arm_error(400, "InvalidApiVersionParameter", f"The api-version '{version}' is invalid. The "
                             f"supported versions are '{','.join(API_VERSIONS)}'.", headers)
        if request.method != "GET":
            return arm_error(405, "MethodNotAllowed", f"The requested resource does not support http method "
                             f"'{request.method}'.", headers)
        if m is None:
            return arm_error(400, "InvalidResourceId", f"The resource id '{request.url.path}' is invalid.", headers)
        if name is None:
            return arm_error(404, "ResourceNotFound", f"The Resource 'Microsoft.CognitiveServices/accounts/"
                             f"{m.group('account')}' under resource group '{m.group('rg')}' was not found. For more "
                             "details please go to https://aka.ms/ARMResourceNotFoundFix", headers)
        acc = self.store.accounts[name]
        if not getattr(acc, "arm_readable", True):
            action = "accounts/read" if route == "arm:accounts:get" else "accounts/deployments/read"
            return arm_error(403, "AuthorizationFailed", f"The client does not have authorization to perform action "
                             f"'Microsoft.CognitiveServices/{action}' over scope '{acc.resource_id}' or the scope is "
                             "invalid. If access was recently granted, please refresh your credentials.", headers)
        if route == "arm:accounts:get":
            return json_response(200, self.account_view(name), headers)
        if route == "arm:deployments:get":
            dep = m.group("dep")
            if dep not in self.cu.accounts[name].deployments:
                return arm_error(404, "DeploymentNotFound", f"Deployment '{dep}' not found.", headers)
            return json_response(200, self.deployment_view(name, dep), headers)
        return json_response(200, self._page(request, name), headers)

    @staticmethod
    def _account_id(m: re.Match[str] | None) -> str:
        if m is None:
            return ""
        return (f"/subscriptions/{m.group('sub')}/resourceGroups/{m.group('rg')}/providers/"
                f"Microsoft.CognitiveServices/accounts/{m.group('account')}")

    def _authenticate(self, request: Request, headers: dict[str, str]) -> Response | None:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return arm_error(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is "
                             "missing.", {**headers, "WWW-Authenticate": 'Bearer authorization_uri="emulator"'})
        expected = self.config.token
        if expected is not None and not secrets.compare_digest(token.strip().encode(), expected.encode()):
            return arm_error(401, "InvalidAuthenticationToken", "The access token is invalid.", headers)
        return None

    def _page(self, request: Request, name: str) -> dict[str, Any]:
        names = sorted(self.cu.accounts[name].deployments)
        size = self.store.settings.page_size
        try:
            start = max(0, int(request.query_params.get("$skipToken", "0")))
        except ValueError:
            start = 0
        body: dict[str, Any] = {"value": [self.deployment_view(name, d) for d in names[start:start + size]]}
        if start + size < len(names):
            base = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
            body["nextLink"] = f"{base}?api-version={request.query_params['api-version']}&$skipToken={start + size}"
        return body

    # -- views ------------------------------------------------------------------------------------------------------

    def account_view(self, name: str) -> dict[str, Any]:
        acc = self.store.accounts[name]
        endpoint = (self.endpoint(name) or "").rstrip("/") + "/"
        props: dict[str, Any] = {
            "provisioningState": "Succeeded",
            "endpoint": endpoint,
            "customSubDomainName": name,
            "publicNetworkAccess": getattr(acc, "public_network_access", "Enabled"),
            "disableLocalAuth": False,
        }
        body: dict[str, Any] = {
            "id": acc.resource_id,
            "name": acc.resource_id.rsplit("/", 1)[-1],
            "type": "Microsoft.CognitiveServices/accounts",
            "location": acc.region,
            "kind": getattr(acc, "kind", "AIServices"),
            "sku": {"name": getattr(acc, "sku", "S0")},
            "tags": {},
            "properties": props,
        }
        if acc.encryption == "customer-managed":
            props["encryption"] = {"keySource": "Microsoft.KeyVault", "keyVaultProperties": {
                "keyName": f"{name}-cmk", "keyVersion": "0" * 32,
                "keyVaultUri": f"https://{name.lower()}-kv.vault.azure.net/"}}
            body["identity"] = {"type": "SystemAssigned", "principalId": "00000000-0000-0000-0000-00000000c0de",
                                "tenantId": "00000000-0000-0000-0000-000000000000"}
        return body

    def deployment_view(self, name: str, deployment: str) -> dict[str, Any]:
        acct = self.cu.accounts[name]
        details = acct.deployment_details.get(deployment, {})
        return {
            "id": f"{self.store.accounts[name].resource_id}/deployments/{deployment}",
            "name": deployment,
            "type": "Microsoft.CognitiveServices/accounts/deployments",
            "sku": {"name": details.get("sku", "Standard"), "capacity": details.get("capacity", 10)},
            "properties": {
                "model": {"format": details.get("format", "OpenAI"), "name": acct.deployments[deployment],
                          "version": details.get("version", "1")},
                "provisioningState": "Succeeded",
            },
        }

    # -- admin ------------------------------------------------------------------------------------------------------

    def admin_routes(self) -> list[Route]:
        """``PUT/DELETE /_emulator/accounts/{name}/deployments/{deployment}`` (create or replace / delete one
        deployment) and ``POST /_emulator/management/throttle``."""
        return [
            Route("/_emulator/accounts/{name}/deployments/{deployment}", self._put_deployment, methods=["PUT"]),
            Route("/_emulator/accounts/{name}/deployments/{deployment}", self._delete_deployment,
                  methods=["DELETE"]),
            Route("/_emulator/management/throttle", self._throttle, methods=["POST"]),
        ]

    async def _put_deployment(self, request: Request) -> Response:
        name = account_or_404(self.cu.accounts, request.path_params["name"])
        deployment = request.path_params["deployment"]
        body = await read_body(request)
        try:
            model, details = parse_deployment(Ctx("<request>"), "deployment", body)
        except ConfigError as exc:
            raise AdminError(400, "InvalidRequest", str(exc)) from None
        acct = self.cu.accounts[name]
        created = deployment not in acct.deployments
        acct.deployments[deployment] = model
        acct.deployment_details[deployment] = details
        return admin_json(self.deployment_view(name, deployment), status=201 if created else 200)

    async def _delete_deployment(self, request: Request) -> Response:
        name = account_or_404(self.cu.accounts, request.path_params["name"])
        deployment = request.path_params["deployment"]
        acct = self.cu.accounts[name]
        if deployment not in acct.deployments:
            raise AdminError(404, "NotFound", f"account {name!r} has no deployment {deployment!r}")
        del acct.deployments[deployment]
        acct.deployment_details.pop(deployment, None)
        return Response(status_code=204)

    async def _throttle(self, request: Request) -> Response:
        body = await read_body(request)
        ctx = Ctx("<request>")
        try:
            ctx.check_keys("", body, ("count", "retry_after"))
            self.throttle_left = ctx.integer("count", body.get("count", 1), minimum=0)
            self.throttle_retry_after = ctx.integer("retry_after", body.get("retry_after", 1), minimum=0)
        except ConfigError as exc:
            raise AdminError(400, "InvalidRequest", str(exc)) from None
        return admin_json({"count": self.throttle_left, "retry_after": self.throttle_retry_after})
