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
from drplan.azure.errors import list_field, object_field, text_field
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
        """An asset from a list item or a GET answer. Call inside ``_reading`` (a missing id or a field of the wrong
        type raises there)."""
        analyzer_id = text_field(item, "analyzerId", required=True)
        defn = definition(item)
        created = text_field(item, "createdAt")
        modified = text_field(item, "lastModifiedAt")
        object_field(item, "config")  # read by referenced_analyzers and the diff: an object or nothing
        for role in object_field(item, "models"):  # role -> model name, resolved through the target's deployments
            text_field(item["models"], role, where="models")
        return Asset(
            kind=AssetKind.ANALYZER,
            id=analyzer_id,
            created=normalise_time(created) if created else "",
            fingerprint=fingerprint(defn),
            description=text_field(item, "description"),
            tags={str(k): str(v) for k, v in object_field(item, "tags").items()},
            status=text_field(item, "status") or "ready",
            detail={"definition": defn, "warnings": list_field(item, "warnings"),
                    "references": referenced_analyzers(defn), "modified": normalise_time(modified) if modified else ""},
        )

    @staticmethod
    def _default_asset(model: str, deployment: str) -> Asset:
        return Asset(kind=AssetKind.MODEL_DEPLOYMENT, id=model, created="", fingerprint=f"deployment={deployment}",
                     detail={"deployment": deployment})

    # -- read --------------------------------------------------------------------------------------------------
    async def inventory(self, kinds: frozenset[AssetKind], *, quota: bool = False) -> Inventory:
        inv = Inventory(resource=self.conn.name)
        if AssetKind.ANALYZER in kinds:
            with self._reading("list analyzers"):
                async for item in iterate_pages(self.client, self._url("analyzers"), endpoint=self.conn.endpoint,
                                                key=self.conn.key, api_version=self.conn.api_version,
                                                what=self._what("list analyzers")):
                    if text_field(item, "analyzerId", required=True).startswith("prebuilt-"):
                        continue  # prebuilt analyzers exist everywhere; they are not copyable assets
                    asset = self.asset(item)
                    inv.assets[(AssetKind.ANALYZER, asset.id)] = asset
        inv.defaults = await self.defaults()
        for model, deployment in inv.defaults.items():
            inv.assets[(AssetKind.MODEL_DEPLOYMENT, model)] = self._default_asset(model, deployment)
        return inv

    async def defaults(self) -> dict[str, str]:
        body = await self._json("GET", self._url("defaults"), "get /defaults")
        with self._reading("get /defaults"):
            return _deployments(body)

    async def get(self, kind: AssetKind, asset_id: str) -> Asset | None:
        if kind is AssetKind.MODEL_DEPLOYMENT:
            deployment = (await self.defaults()).get(asset_id)
            return self._default_asset(asset_id, deployment) if deployment else None
        op = f"get {asset_id}"
        try:
            body = await self._json("GET", self._url(f"analyzers/{quote(asset_id, safe='')}"), op)
        except NotFoundError:
            return None
        with self._reading(op):
            return self.asset(body)

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
        body = await self._json("PATCH", self._url("defaults"), "update /defaults",
                                json={"modelDeployments": patch},
                                headers={"Content-Type": "application/merge-patch+json"})
        with self._reading("update /defaults"):
            return _deployments(body)

    async def update_analyzer(self, analyzer_id: str, patch: dict[str, Any]) -> Asset:
        """JSON merge-patch of an analyzer's ``description`` / ``tags`` (§5.1; the only mutable fields, §5.2 [S]:
        no recording shows it); a ``None`` tag value removes that tag. Returns the analyzer the answer shows."""
        op = f"update {analyzer_id}"
        body = await self._json("PATCH", self._url(f"analyzers/{quote(analyzer_id, safe='')}"), op, json=patch,
                                headers={"Content-Type": "application/merge-patch+json"})
        with self._reading(op):
            return self.asset(body)

    async def grant_copy(self, source_id: str, target_resource_id: str, target_region: str) -> str:
        """GA, on the SOURCE: allow ``target_resource_id`` to copy ``source_id`` (§5.3); returns expiresAt."""
        op = f"grant copy of {source_id}"
        body = await self._json(
            "POST", self._url(f"analyzers/{quote(source_id, safe='')}:grantCopyAuthorization"), op,
            json={"targetAzureResourceId": target_resource_id, "targetRegion": target_region})
        with self._reading(op):
            return normalise_time(text_field(body, "expiresAt"))

    async def copy_token(self, source_id: str, *, target_url: str, encryption_key: str | None) -> CopyToken:
        """Token flow, on the SOURCE (§5.4): a token locked to ``target_url``, double-encrypted when a key is given."""
        body: dict[str, Any] = {"target": target_url}
        if encryption_key:
            register_secret(encryption_key)
            body["encryptionKey"] = encryption_key
        op = f"get copy authorization for {source_id}"
        answer = await self._json(
            "POST", self._url(f"analyzers/{quote(source_id, safe='')}:getCopyAuthorization"), op, json=body)
        raw = answer.get("authorizationToken")
        register_secret(raw if isinstance(raw, str) else None)
        with self._reading(op):
            token = text_field(answer, "authorizationToken")
            if not token:
                raise ServiceError(self._what(f"{op}: the answer has no token"))
            expires = text_field(answer, "expiresAt")
            return CopyToken(source=text_field(answer, "source"), token=token,
                             expires=normalise_time(expires) if expires else "")

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

def _deployments(body: dict[str, Any]) -> dict[str, str]:
    """``/defaults``' ``modelDeployments``: model name -> deployment name (a null value is no deployment)."""
    return {str(k): str(v) for k, v in object_field(body, "modelDeployments").items() if v is not None}


__all__ = ["AnalyzersAdapter", "CopyToken", "definition", "fingerprint", "referenced_analyzers"]
