"""What the planner and the executor need from a service family, as small data types and one Protocol.

Adapters know a wire protocol; they do not know plans. Everything here is free of secrets except ``Connection.key``,
which lives only in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

from drplan.azure.auth import Credential
from drplan.services.lineage import Lineage

if TYPE_CHECKING:
    import httpx

    from drplan.azure.client import AzureClient
    from drplan.azure.lro import OpStatus
from drplan.spec.model import AssetKind


@dataclass(frozen=True)
class Connection:
    """How to reach one resource. ``key`` is a secret: never logged, never persisted."""

    name: str
    family: str
    endpoint: str
    api_version: str
    region: str
    resource_id: str
    key: Credential = field(repr=False)  # an API key, or an EntraToken (drplan.azure.auth)


@dataclass(frozen=True)
class Asset:
    """One observed model or classifier. ``fingerprint`` identifies its *version* (DESIGN §1)."""

    kind: AssetKind
    id: str
    created: str
    fingerprint: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    status: str = "ready"  # FR v2.x models: creating | ready | invalid; DI/FR v3 models exist only when ready
    name: str = ""  # FR v2.x modelName (rules may select by it)
    #: The lineage stamped on this asset as tags (DI v4 / FR v3 copies made by drplan), else None.
    lineage: Lineage | None = None
    #: DI / FR v3: expirationDateTime (a copy keeps its source's) and a digest of docTypes ("" when not listed).
    expires: str = ""
    content_digest: str = ""
    #: Family details the planner compares: a CU analyzer's definition, a Language project's metadata.
    detail: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass
class Inventory:
    """What one resource holds, as seen by a refresh."""

    resource: str
    assets: dict[tuple[AssetKind, str], Asset] = field(default_factory=dict)
    model_count: int | None = None
    model_limit: int | None = None
    #: Content Understanding: the resource's ``/defaults`` modelDeployments (model name -> deployment name).
    defaults: dict[str, str] | None = None

    def get(self, kind: AssetKind, asset_id: str) -> Asset | None:
        return self.assets.get((kind, asset_id))


def normalise_time(value: str) -> str:
    """ISO 8601 in UTC with a Z, microsecond precision dropped beyond what the service keeps: comparable strings."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # Python < 3.11 cannot parse 7 fractional digits; trim to 6.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        tz = rest[len(digits):]
        text = f"{head}.{digits[:6]}{tz}"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return value
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


ProgressFn = Callable[[str, dict[str, Any]], None]


class HttpAdapter:
    """The plumbing every family's adapter shares: its client and connection, the service's base URL under the
    endpoint, and requests whose errors name the resource and the operation."""

    def __init__(self, client: AzureClient, conn: Connection, base: str) -> None:
        self.client = client
        self.conn = conn
        self.base = base

    def _what(self, op: str) -> str:
        return f"{self.conn.name}: {op}"

    async def _request(self, method: str, url: str, op: str, **kw: Any) -> httpx.Response:
        return await self.client.request(method, url, endpoint=self.conn.endpoint, key=self.conn.key,
                                         what=self._what(op), **kw)

    async def wait(self, operation_url: str, *, what: str,
                   on_progress: Callable[[OpStatus, dict[str, Any]], None] | None = None,
                   interval: float = 1.0, first_delay: float = 0.0,
                   start_interval: float | None = None) -> dict[str, Any]:
        """Poll an operation (or job) URL on this resource until it is terminal; return its final body."""
        from drplan.azure.lro import poll

        return await poll(self.client, operation_url, endpoint=self.conn.endpoint, key=self.conn.key,
                          what=self._what(what), interval=interval, on_progress=on_progress,
                          first_delay=first_delay, start_interval=start_interval)


class ServiceAdapter(Protocol):
    """The copy protocol of one family, spoken to one resource."""

    conn: Connection

    async def inventory(self, kinds: frozenset[AssetKind]) -> Inventory: ...

    async def get(self, kind: AssetKind, asset_id: str) -> Asset | None: ...

    async def delete(self, kind: AssetKind, asset_id: str) -> bool: ...
