"""Content Understanding analyzers (contracts §5): list/get analyzers and ``/defaults``, and both copy flows.

The copy runs the other way round from Document Intelligence: the SOURCE authorizes (GA: a server-side grant naming
the target resource, §5.3; preview-era: a token, optionally double-encrypted and locked to the target analyzer,
§5.4) and the TARGET copies and is polled. Tokens and encryption keys live only in memory.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from drplan.azure.client import AzureClient, retry_after_seconds
from drplan.azure.paging import iterate_pages
from drplan.errors import NotFoundError, ServiceError
from drplan.families.base import (
    Asset,
    Connection,
    HttpAdapter,
    Inventory,
    normalise_time,
)
from drplan.redact import register_secret
from drplan.spec.model import AssetKind

#: What a copy carries over, and so what names an analyzer's version (contracts §5.2: everything but description and
#: tags is create-only; description and tags are copied too).
DEFINITION_KEYS = ("description", "tags", "baseAnalyzerId", "config", "fieldSchema", "dynamicFieldSchema",
                   "processingLocation", "knowledgeSources", "models")
#: Spec defaults: a value equal to its default means the same as an absent key.
_DEFAULTS = {"dynamicFieldSchema": False, "processingLocation": "global", "tags": {}, "description": ""}
#: Token flow copy body override keys per model role (contracts §5.4 ``deployments.chatCompletion``).
TOKEN_ROLE_KEYS = {"completion": "chatCompletion", "embedding": "embedding"}


def definition(item: dict[str, Any]) -> dict[str, Any]:
    """The analyzer's definition, normalised so that equal definitions compare equal, with any SAS token removed
    (``knowledgeSources[].containerUrl`` may carry one): the definition goes into plans, state and diffs."""
    return {k: _without_sas(item[k]) for k in DEFINITION_KEYS
            if k in item and item[k] is not None and item[k] != _DEFAULTS.get(k)}


_SAS = re.compile(r"^(https?://[^?#\s]+)\?[^#\s]*\bsig=", re.IGNORECASE)


def _without_sas(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_sas(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_sas(v) for v in value]
    if isinstance(value, str):
        m = _SAS.match(value)
        if m:
            return f"{m.group(1)}?<SAS token removed by drplan>"
    return value


def fingerprint(defn: dict[str, Any]) -> str:
    canon = json.dumps(defn, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return "definition=sha256:" + hashlib.sha256(canon).hexdigest()[:32]


def referenced_analyzers(defn: dict[str, Any]) -> list[str]:
    """Custom analyzers this one routes to (``config.contentCategories.*.analyzerId``) or builds on
    (``baseAnalyzerId``), prebuilt ones excluded: they must exist on the target before it is copied (§5.3)."""
    refs = []
    base = defn.get("baseAnalyzerId")
    if isinstance(base, str) and not base.startswith("prebuilt-"):
        refs.append(base)
    categories = (defn.get("config") or {}).get("contentCategories") or {}
    if isinstance(categories, dict):
        for cat in categories.values():
            ref = cat.get("analyzerId") if isinstance(cat, dict) else None
            if isinstance(ref, str) and not ref.startswith("prebuilt-"):
                refs.append(ref)
    return sorted(set(refs))


@dataclass(frozen=True)
class CopyToken:
    """A token-flow authorization (§5.4). Held in memory only; ``repr`` never shows the token."""

    source: str
    token: str
    expires: str

    def __repr__(self) -> str:
        return f"CopyToken(source={self.source!r}, expires={self.expires!r})"


class AnalyzersAdapter(HttpAdapter):
    def __init__(self, client: AzureClient, conn: Connection) -> None:
        super().__init__(client, conn, f"{conn.endpoint}/contentunderstanding")

    def _url(self, path: str, **query: str) -> str:
        q = "".join(f"&{k}={v}" for k, v in query.items())
        return f"{self.base}/{path}?api-version={self.conn.api_version}{q}"

    def analyzer_url(self, analyzer_id: str) -> str:
        """The analyzer's URL as the token flow names it (``source`` / ``target``, §5.4)."""
        return f"{self.base}/analyzers/{analyzer_id}"

    @staticmethod
    def asset(item: dict[str, Any]) -> Asset:
        defn = definition(item)
        created = item.get("createdAt") or ""
        return Asset(
            kind=AssetKind.ANALYZER,
            id=item["analyzerId"],
            created=normalise_time(created) if created else "",
            fingerprint=fingerprint(defn),
            description=item.get("description") or "",
            tags=dict(item.get("tags") or {}),
            status=item.get("status") or "ready",
            detail={"definition": defn, "warnings": item.get("warnings") or [], "references": referenced_analyzers(defn),
                    "modified": normalise_time(item["lastModifiedAt"]) if item.get("lastModifiedAt") else ""},
        )

    @staticmethod
    def _default_asset(model: str, deployment: str) -> Asset:
        return Asset(kind=AssetKind.MODEL_DEPLOYMENT, id=model, created="", fingerprint=f"deployment={deployment}",
                     detail={"deployment": deployment})

    # -- read --------------------------------------------------------------------------------------------------
    async def inventory(self, kinds: frozenset[AssetKind], *, quota: bool = False) -> Inventory:
        inv = Inventory(resource=self.conn.name)
        if AssetKind.ANALYZER in kinds:
            async for item in iterate_pages(self.client, self._url("analyzers"), endpoint=self.conn.endpoint,
                                            key=self.conn.key, api_version=self.conn.api_version,
                                            what=self._what("list analyzers")):
                if str(item.get("analyzerId", "")).startswith("prebuilt-"):
                    continue  # prebuilt analyzers exist everywhere; they are not copyable assets
                inv.assets[(AssetKind.ANALYZER, item["analyzerId"])] = self.asset(item)
        inv.defaults = await self.defaults()
        for model, deployment in inv.defaults.items():
            inv.assets[(AssetKind.MODEL_DEPLOYMENT, model)] = self._default_asset(model, deployment)
        return inv

    async def defaults(self) -> dict[str, str]:
        body = (await self._request("GET", self._url("defaults"), "get /defaults")).json()
        return {str(k): str(v) for k, v in (body.get("modelDeployments") or {}).items() if v is not None}

    async def get(self, kind: AssetKind, asset_id: str) -> Asset | None:
        if kind is AssetKind.MODEL_DEPLOYMENT:
            deployment = (await self.defaults()).get(asset_id)
            return self._default_asset(asset_id, deployment) if deployment else None
        try:
            r = await self._request("GET", self._url(f"analyzers/{quote(asset_id, safe='')}"), f"get {asset_id}")
        except NotFoundError:
            return None
        return self.asset(r.json())

    # -- write -------------------------------------------------------------------------------------------------
    async def delete(self, kind: AssetKind, asset_id: str) -> bool:
        if kind is AssetKind.MODEL_DEPLOYMENT:
            await self.set_defaults({asset_id: None})
            return True
        try:
            await self._request("DELETE", self._url(f"analyzers/{quote(asset_id, safe='')}"), f"delete {asset_id}",
                                ok=(204, 200))
        except NotFoundError:
            return False
        return True

    async def set_defaults(self, patch: dict[str, str | None]) -> dict[str, str]:
        """JSON merge-patch of ``/defaults`` (a None value removes the key); returns the defaults after it."""
        r = await self._request("PATCH", self._url("defaults"), "update /defaults",
                                json={"modelDeployments": patch},
                                headers={"Content-Type": "application/merge-patch+json"})
        return {str(k): str(v) for k, v in (r.json().get("modelDeployments") or {}).items() if v is not None}

    async def grant_copy(self, source_id: str, target_resource_id: str, target_region: str) -> str:
        """GA, on the SOURCE: allow ``target_resource_id`` to copy ``source_id`` (§5.3); returns expiresAt."""
        r = await self._request(
            "POST", self._url(f"analyzers/{quote(source_id, safe='')}:grantCopyAuthorization"),
            f"grant copy of {source_id}",
            json={"targetAzureResourceId": target_resource_id, "targetRegion": target_region})
        return normalise_time(r.json().get("expiresAt") or "")

    async def copy_token(self, source_id: str, *, target_url: str, encryption_key: str | None) -> CopyToken:
        """Token flow, on the SOURCE (§5.4): a token locked to ``target_url``, double-encrypted when a key is given."""
        body: dict[str, Any] = {"target": target_url}
        if encryption_key:
            register_secret(encryption_key)
            body["encryptionKey"] = encryption_key
        r = await self._request(
            "POST", self._url(f"analyzers/{quote(source_id, safe='')}:getCopyAuthorization"),
            f"get copy authorization for {source_id}", json=body)
        answer = r.json()
        token = answer.get("authorizationToken") or ""
        register_secret(token)
        if not token:
            raise ServiceError(self._what(f"get copy authorization for {source_id}: the answer has no token"))
        return CopyToken(source=answer.get("source") or "", token=token,
                         expires=normalise_time(answer["expiresAt"]) if answer.get("expiresAt") else "")

    async def copy(self, target_id: str, body: dict[str, Any], *, allow_replace: bool) -> tuple[str, float]:
        """On the TARGET: start the copy (GA: 201/202 + Operation-Location, §5.3; token: 200 + Operation-Location,
        §5.4). Returns (operation URL, Retry-After)."""
        query = {"allowReplace": "true"} if allow_replace else {}
        r = await self._request("POST", self._url(f"analyzers/{quote(target_id, safe='')}:copy", **query),
                                f"copy into {target_id}", json=body, ok=(200, 201, 202))
        location = r.headers.get("operation-location")
        if not location:
            raise ServiceError(self._what(f"copy into {target_id}: the answer has no Operation-Location header"))
        return location, retry_after_seconds(r, 0.0)

__all__ = ["AnalyzersAdapter", "CopyToken", "definition", "fingerprint", "referenced_analyzers"]
