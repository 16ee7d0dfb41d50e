"""Control-plane reads (issue 15): Azure Resource Manager's view of each account a plan uses — endpoint, location,
kind, sku, encryption key source, public network access and, for families that plan with them, the account's model
deployments (paged).

Through the one client (drplan.azure.client): the same retries, ``Retry-After`` handling, bounded waits and
per-endpoint limits as the data plane, with Resource Manager's base URL as the endpoint, so its token goes to that
origin only (a ``nextLink`` elsewhere is refused). The token is an Entra ID token for the management scope from the
chain ``auth = "entra"`` uses (azure-identity's DefaultAzureCredential), or a bearer token from the env var
``[control_plane] token_env`` names; either is registered with the redactor when read and lives only in memory.

A failed read is never fatal by itself: :func:`read_accounts` returns :class:`drplan.controlplane.Unread` with the
reason (a 403 names the Reader role and the resource id), and the plan goes on from the spec with a warning. Only a
resource id Resource Manager does not know (404, 400 InvalidResourceId) is a plan error, naming the field.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from drplan.azure.auth import Credential, EntraToken
from drplan.azure.client import AzureClient
from drplan.azure.errors import json_object
from drplan.azure.paging import iterate_pages
from drplan.controlplane import (
    KEY_SOURCE_MICROSOFT,
    AccountFacts,
    Deployment,
    Reading,
    Unread,
)
from drplan.errors import AuthError, DrplanError, NotFoundError, ServiceError
from drplan.redact import register_secret

#: The pinned Resource Manager api-version of Microsoft.CognitiveServices/accounts (and accounts/deployments): GA
#: 2024-10-01 (learn.microsoft.com/rest/api/aiservices/accountmanagement; the azure-native providers' default).
ARM_API_VERSION = "2024-10-01"
PUBLIC_CLOUD = "https://management.azure.com"
#: Endpoint host suffix -> Resource Manager of that cloud (public, US Government, China).
CLOUDS: tuple[tuple[str, str], ...] = (
    ("azure.com", PUBLIC_CLOUD),
    ("azure.us", "https://management.usgovcloudapi.net"),
    ("azure.cn", "https://management.chinacloudapi.cn"),
)
#: Child collections a family may ask for (``Family.control_plane_collections``).
COLLECTIONS = ("deployments",)


def management_url_for(endpoint: str) -> str | None:
    """Resource Manager of the cloud ``endpoint`` lives in; the public cloud for an omitted endpoint; None for a host
    in no known cloud (a proxy, the emulator: set ``[control_plane] management_url``)."""
    if not endpoint:
        return PUBLIC_CLOUD
    host = (urlsplit(endpoint).hostname or "").lower()
    return next((url for suffix, url in CLOUDS if host == suffix or host.endswith("." + suffix)), None)


class StaticToken(EntraToken):
    """A bearer token handed over in an env var (``[control_plane] token_env``): sent as is, never refreshed."""

    def __init__(self, value: str, *, env: str) -> None:
        super().__init__(None, scope=f"${env}")
        register_secret(value)
        self._value = value.strip()
        self._env = env

    async def token(self) -> str:
        if not self._value:  # "Bearer " alone would read as a malformed header, not as the missing variable it is
            raise AuthError(f"environment variable {self._env} ([control_plane] token_env) is not set or empty; "
                            "export a management-scope token (az account get-access-token --resource "
                            "https://management.azure.com/) or remove token_env to use DefaultAzureCredential")
        return self._value


def credential(management_url: str, token_env: str | None) -> Credential:
    """The management-scope credential of one run (call inside its event loop)."""
    if token_env:
        return StaticToken(os.environ.get(token_env, ""), env=token_env)
    return EntraToken(scope=f"{management_url}/.default")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _obj(body: dict[str, Any], key: str) -> dict[str, Any]:
    """``body[key]`` when it is an object, else {} (a field Resource Manager leaves out, or null)."""
    value = body.get(key)
    return value if isinstance(value, dict) else {}


def _facts(resource_id: str, body: dict[str, Any], deployments: tuple[Deployment, ...] | None,
           read_at: str) -> AccountFacts:
    props = _obj(body, "properties")
    enc = _obj(props, "encryption")
    kv = _obj(enc, "keyVaultProperties")
    sku = _obj(body, "sku")
    return AccountFacts(
        resource_id=resource_id,
        read_at=read_at,
        endpoint=str(props.get("endpoint") or ""),
        location=str(body.get("location") or ""),
        kind=str(body.get("kind") or ""),
        sku=str(sku.get("name") or ""),
        key_source=str(enc.get("keySource") or KEY_SOURCE_MICROSOFT),
        key_vault_key=bool(kv.get("keyName")),
        public_network_access=str(props.get("publicNetworkAccess") or ""),
        deployments=deployments,
    )


def _deployment(item: dict[str, Any]) -> Deployment:
    props = _obj(item, "properties")
    model = _obj(props, "model")
    sku = _obj(item, "sku")
    capacity = sku.get("capacity")
    return Deployment(name=str(item.get("name") or ""), model=str(model.get("name") or ""),
                      version=str(model.get("version") or ""), format=str(model.get("format") or ""),
                      sku=str(sku.get("name") or ""), capacity=capacity if isinstance(capacity, int) else None)


def _short(exc: DrplanError, what: str) -> str:
    text = str(exc)
    return text[len(what) + 2:] if text.startswith(what + ": ") else text


async def read_account(client: AzureClient, name: str, resource_id: str, *, management_url: str, key: Credential,
                       collections: Iterable[str] = (), where: str = "") -> Reading:
    """One account (and the child collections asked for), or why it could not be read."""
    what = f"{name}: Resource Manager"
    base = f"{management_url}{resource_id}"
    field = f"{where + ': ' if where else ''}resources.{name}.resource_id"
    read_at = _now()
    try:
        response = await client.request("GET", f"{base}?api-version={ARM_API_VERSION}", endpoint=management_url,
                                        key=key, what=what)
        body = json_object(response, what=what, subject=f"the account {resource_id}")
        deployments: tuple[Deployment, ...] | None = None
        if "deployments" in collections:
            items = [i async for i in iterate_pages(client, f"{base}/deployments?api-version={ARM_API_VERSION}",
                                                    endpoint=management_url, key=key, api_version=ARM_API_VERSION,
                                                    what=what)]
            deployments = tuple(sorted((_deployment(i) for i in items), key=lambda d: d.name))
        return _facts(resource_id, body, deployments, read_at)
    except NotFoundError as exc:
        reason = f"Resource Manager has no account {resource_id} (404 {exc.code or 'NotFound'})"
        return Unread(reason, error=f"{field}: {reason}; check the subscription id, resource group and account name")
    except AuthError as exc:
        if exc.status == 403:
            return Unread(f"Resource Manager denied reading {resource_id} (403 {exc.code or 'AuthorizationFailed'}): "
                          "the identity needs the Reader role on the account")
        if exc.status == 401:
            return Unread(f"Resource Manager refused the token (401 {exc.code or 'Unauthorized'}): sign in to the "
                          "account's tenant, or check the token in [control_plane] token_env")
        return Unread(f"no token for Resource Manager: {_short(exc, what)}")
    except ServiceError as exc:
        if exc.status == 400 and "resourceid" in (exc.code or "").lower():
            reason = f"Resource Manager refused {resource_id} as a resource id (400 {exc.code})"
            return Unread(reason, error=f"{field}: {reason}")
        return Unread(f"Resource Manager could not be read: {_short(exc, what)}")


async def read_accounts(client: AzureClient, wanted: Mapping[str, tuple[str, str, tuple[str, ...]]], *,
                        token_env: str | None = None, where: str = "",
                        emit: Callable[[dict[str, Any]], None] | None = None,
                        credentials: dict[str, Credential] | None = None) -> dict[str, Reading]:
    """Every account at once: ``wanted`` maps a resource name to (resource id, management URL, collections).
    One credential per management URL (one token serves every account of a cloud)."""
    creds: dict[str, Credential] = credentials if credentials is not None else {}

    async def one(name: str) -> tuple[str, Reading]:
        rid, mgmt, collections = wanted[name]
        key = creds.setdefault(mgmt, credential(mgmt, token_env))
        reading = await read_account(client, name, rid, management_url=mgmt, key=key, collections=collections,
                                     where=where)
        if emit:
            if isinstance(reading, AccountFacts):
                extra = (f", {len(reading.deployments)} deployment(s)" if reading.deployments is not None else "")
                emit({"type": "control-plane", "address": name, "level": "info",
                      "message": f"read {name} from Resource Manager: {reading.encryption.value}, "
                                 f"{reading.location}{extra}"})
            else:
                emit({"type": "control-plane", "address": name, "level": "warning",
                      "message": f"{name}: control plane not read: {reading.reason}"})
        return name, reading

    return dict(await asyncio.gather(*(one(n) for n in sorted(wanted))))
