"""Document Intelligence v4 and Form Recognizer v3: models and classifiers (contracts §2, §3).

One adapter serves both families: they are one service with one model store and one authorizeCopy/copyTo protocol;
only the path prefix (``/documentintelligence`` vs ``/formrecognizer``) and the api-versions differ.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from drplan.azure.client import AzureClient, retry_after_seconds
from drplan.azure.errors import count_field, object_field, text_field
from drplan.azure.lro import OpStatus, normalise_status
from drplan.azure.paging import iterate_pages
from drplan.azure.urls import place
from drplan.errors import NotFoundError
from drplan.families.base import (
    Asset,
    Connection,
    HttpAdapter,
    Inventory,
    normalise_time,
)
from drplan.lineage import read_lineage_tags
from drplan.redact import register_secret
from drplan.spec.model import AssetKind

PREFIX = {"document-intelligence": "documentintelligence", "form-recognizer": "formrecognizer"}


@dataclass(frozen=True)
class _KindWire:
    collection: str  # documentModels / documentClassifiers
    id_field: str  # modelId / classifierId
    target_id_field: str  # targetModelId / targetClassifierId
    target_location_field: str
    copy_kind: str  # operation kind of a copy


WIRE = {
    AssetKind.DOCUMENT_MODEL: _KindWire(
        "documentModels", "modelId", "targetModelId", "targetModelLocation", "documentModelCopyTo"
    ),
    AssetKind.DOCUMENT_CLASSIFIER: _KindWire(
        "documentClassifiers", "classifierId", "targetClassifierId", "targetClassifierLocation",
        "documentClassifierCopyTo",
    ),
}


def fingerprint(created: str, modified: str = "") -> str:
    """The version of a model or classifier, read from that asset alone (never compared with another asset's).

    Models and classifiers are immutable (contracts §2.4): a rebuild is delete + build and gets a new createdDateTime;
    ``modifiedDateTime`` (2024-11-30 only) is added when the service sends it. A copy's own fingerprint is *its*
    createdDateTime, which real services set to the copy time since 2024 (and kept from the source before): drplan
    therefore never compares a copy's fingerprint with its source's; it identifies copies by lineage (lineage.py).
    """
    text = f"created={normalise_time(created)}"
    return f"{text};modified={normalise_time(modified)}" if modified else text


def doc_types_digest(item: dict[str, Any], own_id: str) -> str:
    """A short digest of ``docTypes``, or "" when the answer has none (FR v3 list items do not carry them).

    A copy renames a docType key that equals the model id to the target id (contracts §2.4), so the asset's own id is
    replaced by a placeholder first: a faithful copy under another id has the same digest as its source."""
    doc_types = item.get("docTypes")
    if not isinstance(doc_types, dict):
        return ""
    normal = {("$self" if k == own_id else k): v for k, v in doc_types.items()}
    return hashlib.sha256(json.dumps(normal, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CopyAuthorization:
    """The authorizeCopy answer. Held in memory only, passed unchanged to copyTo; ``body`` contains the token."""

    body: dict[str, Any]
    target_id: str
    target_location: str
    expires: str

    def __repr__(self) -> str:  # never print the token
        return f"CopyAuthorization(target_id={self.target_id!r}, expires={self.expires!r})"


class DocumentModelsAdapter(HttpAdapter):
    def __init__(self, client: AzureClient, conn: Connection) -> None:
        super().__init__(client, conn, f"{conn.endpoint}/{PREFIX[conn.family]}")

    # -- helpers -----------------------------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base}/{path}{sep}api-version={self.conn.api_version}"

    @staticmethod
    def _asset(kind: AssetKind, item: dict[str, Any]) -> Asset:
        """An asset from a list item or a GET answer. Call inside ``_reading``: a missing id or a field of the wrong
        type raises (AnswerShapeError), and the caller's block names the resource and the operation."""
        created = text_field(item, "createdDateTime")
        asset_id = text_field(item, WIRE[kind].id_field, required=True)
        tags = {str(k): str(v) for k, v in object_field(item, "tags").items()}
        expires = text_field(item, "expirationDateTime")
        return Asset(
            kind=kind,
            id=asset_id,
            created=normalise_time(created) if created else "",
            fingerprint=fingerprint(created, text_field(item, "modifiedDateTime")) if created else "",
            description=text_field(item, "description"),
            tags=tags,
            lineage=read_lineage_tags(tags),
            expires=normalise_time(expires) if expires else "",
            content_digest=doc_types_digest(item, asset_id),
        )

    # -- read --------------------------------------------------------------------------------------------------
    async def inventory(self, kinds: frozenset[AssetKind], *, quota: bool = False) -> Inventory:
        inv = Inventory(resource=self.conn.name)
        for kind in sorted(kinds, key=lambda k: k.value):
            wire = WIRE[kind]
            with self._reading(f"list {wire.collection}"):
                async for item in iterate_pages(
                    self.client,
                    self._url(wire.collection),
                    endpoint=self.conn.endpoint,
                    key=self.conn.key,
                    api_version=self.conn.api_version,
                    what=self._what(f"list {wire.collection}"),
                ):
                    asset_id = text_field(item, wire.id_field, required=True)
                    if kind is AssetKind.DOCUMENT_MODEL and asset_id.startswith("prebuilt-"):
                        continue  # prebuilt models are listed too (contracts §2.5) but are not copyable assets
                    inv.assets[(kind, asset_id)] = self._asset(kind, item)
        if quota:
            info = await self._json("GET", self._url("info"), "get info")
            with self._reading("get info"):
                models = object_field(info, "customDocumentModels")
                inv.model_count = count_field(models, "count", where="customDocumentModels")
                inv.model_limit = count_field(models, "limit", where="customDocumentModels")
        return inv

    async def get(self, kind: AssetKind, asset_id: str) -> Asset | None:
        wire = WIRE[kind]
        op = f"get {asset_id}"
        try:
            body = await self._json("GET", self._url(f"{wire.collection}/{quote(asset_id, safe='')}"), op)
        except NotFoundError:
            return None
        with self._reading(op):
            return self._asset(kind, body)

    # -- write -------------------------------------------------------------------------------------------------
    async def delete(self, kind: AssetKind, asset_id: str) -> bool:
        """Delete; False when it was already gone (404)."""
        wire = WIRE[kind]
        try:
            await self._request(
                "DELETE", self._url(f"{wire.collection}/{quote(asset_id, safe='')}"), f"delete {asset_id}", ok=(204, 200)
            )
        except NotFoundError:
            return False
        return True

    async def authorize_copy(
        self, kind: AssetKind, target_id: str, *, description: str = "", tags: dict[str, str] | None = None
    ) -> CopyAuthorization:
        """On the TARGET: reserve ``target_id`` and get a single-use, expiring authorization (contracts §2.4)."""
        wire = WIRE[kind]
        body: dict[str, Any] = {wire.id_field: target_id}
        if description:
            body["description"] = description
        if tags:
            body["tags"] = tags
        op = f"authorize copy of {target_id}"
        auth = await self._json("POST", self._url(f"{wire.collection}:authorizeCopy"), op, json=body)
        token = auth.get("accessToken")
        register_secret(token if isinstance(token, str) else None)
        with self._reading(op):
            expires = text_field(auth, "expirationDateTime")
            return CopyAuthorization(
                body=auth,
                target_id=text_field(auth, wire.target_id_field) or target_id,
                target_location=text_field(auth, wire.target_location_field),
                expires=normalise_time(expires) if expires else "",
            )

    async def copy_to(
        self, kind: AssetKind, source_id: str, authorization: CopyAuthorization, *, degrade: bool = False
    ) -> tuple[str, float]:
        """On the SOURCE: start the copy with the authorization unchanged; return (Operation-Location URL, the
        answer's Retry-After in seconds, 0 when absent)."""
        wire = WIRE[kind]
        headers = {"x-ms-forms-copy-degrade": "true"} if degrade else None
        r = await self._request(
            "POST",
            self._url(f"{wire.collection}/{quote(source_id, safe='')}:copyTo"),
            f"copy {source_id} to {authorization.target_id}",
            json=authorization.body,
            headers=headers,
            ok=(202,),
        )
        location = r.headers.get("operation-location")
        if not location:
            raise NotFoundError(self._what(f"copy {source_id}: the 202 answer has no Operation-Location header"))
        return location, retry_after_seconds(r, 0.0)

    async def find_copy_operation(self, kind: AssetKind, target_location: str, since: str,
                                  exclude: Collection[str] = ()) -> str | None:
        """Look for a copy this source started towards ``target_location`` at or after ``since``.

        Used when a copyTo's answer was lost or an apply died after sending it (DESIGN §3: look before you leap).
        ``target_location`` is the target asset's full URL (the authorization's targetModelLocation, or the target
        endpoint + path): an operation matches on scheme, host, port and path, never on the path alone, since real
        URLs carry the account only in the host and two targets may hold the same id (issue 13). ``exclude``: ids
        of operations known to be another copy's (the earlier copy a replace deletes: ``since`` allows for clock
        skew, so an operation minutes older than the authorization would otherwise pass for this one, issue 19).
        Returns the operation's URL on this resource, newest first, or None.
        """
        wire = WIRE[kind]
        want = place(target_location)
        since_n = normalise_time(since) if since else ""
        best: tuple[str, str] | None = None
        async for op in iterate_pages(  # items are objects (iterate_pages); fields are read type-tolerantly below
            self.client,
            self._url("operations"),
            endpoint=self.conn.endpoint,
            key=self.conn.key,
            api_version=self.conn.api_version,
            what=self._what("list operations"),
        ):
            if not isinstance(op, dict) or op.get("kind") != wire.copy_kind or not op.get("operationId") \
                    or str(op["operationId"]) in exclude:
                continue
            if place(str(op.get("resourceLocation") or "")) != want:
                continue
            created = normalise_time(str(op.get("createdDateTime") or ""))
            if since_n and created and created < since_n:
                continue
            if normalise_status(op.get("status")) is OpStatus.FAILED:
                continue
            if best is None or created > best[0]:
                best = (created, str(op["operationId"]))
        if best is None:
            return None
        return self._url(f"operations/{quote(best[1], safe='')}")

    @staticmethod
    def operation_id(operation_url: str) -> str:
        """The operation id an operation URL names (its last path segment), '' if it names none."""
        try:
            return unquote(urlsplit(operation_url).path.rstrip("/").rsplit("/", 1)[-1])
        except ValueError:
            return ""

    def asset_location(self, kind: AssetKind, asset_id: str) -> str:
        """Where ``asset_id`` lives on this resource (what an authorization names as the target location)."""
        return f"{self.base}/{WIRE[kind].collection}/{quote(asset_id, safe='')}"


__all__ = ["PREFIX", "CopyAuthorization", "DocumentModelsAdapter", "doc_types_digest", "fingerprint"]
