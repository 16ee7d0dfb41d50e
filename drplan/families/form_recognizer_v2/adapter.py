"""Form Recognizer v2.1 / v2.0: custom models and the older copy protocol (contracts §4).

Differences from v3/v4 that matter here: the version is in the path (no api-version query); the **target model id is
minted by the target** at ``copyAuthorization`` (201 + Location), so the caller cannot choose it; the copy is polled
at ``copyResults`` on the source (the live service writes ``copyresults``); errors use the flat envelope with numeric
codes; models have a status (creating | ready | invalid) and a ``lastUpdatedDateTime`` that names their version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from drplan.azure.client import AzureClient, retry_after_seconds
from drplan.azure.errors import count_field, explain, object_field, text_field
from drplan.azure.paging import iterate_pages
from drplan.errors import NotFoundError
from drplan.families.base import (
    Asset,
    Connection,
    HttpAdapter,
    Inventory,
    normalise_time,
)
from drplan.redact import register_secret
from drplan.spec.model import AssetKind

KIND = AssetKind.CUSTOM_MODEL


def fingerprint(last_updated: str) -> str:
    """A v2 model is retrained in place, so its version is its lastUpdatedDateTime (DESIGN §1)."""
    return f"updated={normalise_time(last_updated)}"


@dataclass(frozen=True)
class V2CopyAuthorization:
    """The copyAuthorization answer, in memory only. ``body`` holds the token; ``model_id`` is the new target id."""

    body: dict[str, Any]
    model_id: str
    expires_epoch: int | None

    def __repr__(self) -> str:
        return f"V2CopyAuthorization(model_id={self.model_id!r}, expires_epoch={self.expires_epoch!r})"


@dataclass(frozen=True)
class CopyStarted:
    operation_url: str
    retry_after: float


class FormRecognizerV2Adapter(HttpAdapter):
    def __init__(self, client: AzureClient, conn: Connection) -> None:
        super().__init__(client, conn, f"{conn.endpoint}/formrecognizer/v{conn.api_version}")

    @staticmethod
    def _asset(info: dict[str, Any]) -> Asset:
        """An asset from a modelInfo object. Call inside ``_reading`` (a missing id or a field of the wrong type
        raises there)."""
        created = text_field(info, "createdDateTime", where="modelInfo")
        updated = text_field(info, "lastUpdatedDateTime", where="modelInfo") or created
        name = text_field(info, "modelName", where="modelInfo")
        return Asset(
            kind=KIND,
            id=text_field(info, "modelId", required=True, where="modelInfo"),
            created=normalise_time(created) if created else "",
            fingerprint=fingerprint(updated) if updated else "",
            description=name,
            name=name,
            status=text_field(info, "status", where="modelInfo") or "ready",
        )

    async def inventory(self, kinds: frozenset[AssetKind], *, quota: bool = False) -> Inventory:
        inv = Inventory(resource=self.conn.name)
        if KIND in kinds:
            with self._reading("list custom models"):
                async for item in iterate_pages(
                    self.client, f"{self.base}/custom/models?op=full", endpoint=self.conn.endpoint,
                    key=self.conn.key, api_version=None, what=self._what("list custom models"), item_name="modelList",
                ):
                    asset = self._asset(item)
                    inv.assets[(KIND, asset.id)] = asset
        if quota:
            summary = await self._json("GET", f"{self.base}/custom/models?op=summary", "get model summary")
            with self._reading("get model summary"):
                s = object_field(summary, "summary")
                inv.model_count = count_field(s, "count", where="summary")
                inv.model_limit = count_field(s, "limit", where="summary")
        return inv

    async def get(self, kind: AssetKind, asset_id: str) -> Asset | None:
        op = f"get {asset_id}"
        try:
            body = await self._json("GET", f"{self.base}/custom/models/{quote(asset_id, safe='')}", op)
        except NotFoundError:
            return None
        with self._reading(op):
            return self._asset(object_field(body, "modelInfo"))

    async def delete(self, kind: AssetKind, asset_id: str) -> bool:
        try:
            await self._request("DELETE", f"{self.base}/custom/models/{quote(asset_id, safe='')}",
                                f"delete {asset_id}", ok=(204, 200))
        except NotFoundError:
            return False
        return True

    async def copy_authorization(self) -> V2CopyAuthorization:
        """On the TARGET: mint a new model id and a single-use, expiring token (201 + Location)."""
        body = await self._json("POST", f"{self.base}/custom/models/copyAuthorization", "copy authorization",
                                ok=(201, 200))
        token = body.get("accessToken")
        register_secret(token if isinstance(token, str) else None)
        ticks = body.get("expirationDateTimeTicks")
        with self._reading("copy authorization"):
            return V2CopyAuthorization(
                body=body, model_id=text_field(body, "modelId", required=True),
                expires_epoch=int(ticks) if isinstance(ticks, int | float) and not isinstance(ticks, bool) else None)

    async def copy(self, source_id: str, auth: V2CopyAuthorization, *, target: Connection,
                   degrade: bool = False) -> CopyStarted:
        """On the SOURCE: copy ``source_id`` into the authorized target model; the authorization passes unchanged."""
        body = {"targetResourceId": target.resource_id, "targetResourceRegion": target.region,
                "copyAuthorization": auth.body}
        headers = {"x-ms-forms-copy-degrade": "true"} if degrade else None
        r = await self._request("POST", f"{self.base}/custom/models/{quote(source_id, safe='')}/copy",
                                f"copy {source_id} to {target.name}/{auth.model_id}", json=body, headers=headers,
                                ok=(202,))
        location = r.headers.get("operation-location")
        if not location:
            raise NotFoundError(self._what(f"copy {source_id}: the 202 answer has no Operation-Location header"))
        return CopyStarted(location, retry_after_seconds(r, 0.0))

    async def wait_model(self, model_id: str, *, interval: float = 1.0) -> Asset | None:
        """Poll a target model until it leaves ``creating`` (None if it disappears; bounded: HttpAdapter.wait_asset)."""
        return await self.wait_asset(KIND, model_id, interval=interval)


def copy_errors(body: dict[str, Any]) -> str:
    """The ``copyResult.errors`` of a failed v2 copy, readable."""
    result = body.get("copyResult")
    listed = result.get("errors") if isinstance(result, dict) else None
    errs = [e for e in listed if isinstance(e, dict)] if isinstance(listed, list) else []
    text = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errs) or "no details"
    return text + explain(*(str(e.get("code")) for e in errs))
