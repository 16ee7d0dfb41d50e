"""The seam between drplan's core and its service families: the ``Family`` Protocol, the ``Adapter`` Protocol, and the
small data types both sides share (Connection, Asset, Inventory).

The core (spec loader, planner, executor, drift check, renderers, state) asks a family; it never branches on one.
A family is one package under ``drplan/families/`` and one line in the registry (``drplan/families/__init__.py``).
Adapters know a wire protocol; they do not know plans. Everything here is free of secrets except ``Connection.key``,
which lives only in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from drplan.azure.auth import Credential
from drplan.controlplane import AccountFacts
from drplan.errors import StateError
from drplan.lineage import Lineage
from drplan.spec.model import AssetKind, Resource, Rule, Spec
from drplan.state.model import State

if TYPE_CHECKING:
    import httpx

    from drplan.apply.context import ApplyContext
    from drplan.azure.client import AzureClient
    from drplan.azure.lro import OpStatus
    from drplan.families.inference import Sample
    from drplan.plan.context import PlanContext
    from drplan.plan.model import Change, Target


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
    #: What Resource Manager says about the account (issue 15), with the collections its family asked for
    #: (``Family.control_plane_collections``); None when the control plane was not read.
    live: AccountFacts | None = None

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

    async def _json(self, method: str, url: str, op: str, **kw: Any) -> dict[str, Any]:
        """Send a request and return its answer's JSON object; an answer that is not one is a ServiceError naming
        the resource, the operation and the URL (drplan.azure.errors.json_object)."""
        from drplan.azure.errors import json_object
        from drplan.azure.urls import display

        response = await self._request(method, url, op, **kw)
        return json_object(response, what=self._what(op), subject=display(url))

    def _reading(self, op: str) -> AbstractContextManager[None]:
        """Read fields of this resource's answers to ``op`` inside this block: a missing field or one of the wrong
        type is a ServiceError naming the resource, the operation and the endpoint, never an "internal error"."""
        from drplan.azure.errors import reading_answer
        from drplan.azure.urls import display

        return reading_answer(self._what(op), f"the endpoint {display(self.conn.endpoint)}")

    async def wait(self, operation_url: str, *, what: str,
                   on_progress: Callable[[OpStatus, dict[str, Any]], None] | None = None,
                   interval: float = 1.0, first_delay: float = 0.0,
                   start_interval: float | None = None, deadline: float | None = None,
                   learn: str | None = None, fraction: float | None = None) -> dict[str, Any]:
        """Poll an operation (or job) URL on this resource until it is terminal; return its final body. The one
        poller (drplan.azure.lro): Retry-After honoured and capped, adaptive without it, bounded by ``deadline``
        seconds (None: the client's default)."""
        from drplan.azure.lro import poll

        return await poll(self.client, operation_url, endpoint=self.conn.endpoint, key=self.conn.key,
                          what=self._what(what), interval=interval, on_progress=on_progress,
                          first_delay=first_delay, start_interval=start_interval, deadline=deadline, learn=learn,
                          fraction=fraction)


    async def wait_asset(self, kind: AssetKind, asset_id: str, *, busy: str = "creating", interval: float = 1.0,
                         deadline: float = 1800.0) -> Asset | None:
        """Poll an asset (through the family's ``get``) until its status leaves ``busy``; None if it disappears.
        A CU analyzer or an FR v2 model still ``busy`` after ``deadline`` seconds is an OperationTimeoutError. Waits
        on the client's clock and sleep (one injectable time source, as the operation poller)."""
        from drplan.errors import OperationTimeoutError

        sleep, clock = self.client.sleep, self.client.clock
        started, slept, pause = clock(), 0.0, interval
        while True:
            asset: Asset | None = await self.get(kind, asset_id)  # type: ignore[attr-defined]
            if asset is None or asset.status != busy:
                return asset
            # Never less than the time slept, as in the poller: a frozen clock cannot make this wait for ever.
            if max(clock() - started, slept) > deadline:
                raise OperationTimeoutError(
                    f"{self.conn.name}: {kind.value} {asset_id} is still {busy} after {deadline:.0f} s; run the same "
                    "command again later (the journal keeps the step)")
            await sleep(pause)
            slept += pause
            pause = min(max(interval, 10.0), pause * 1.5)  # a long creation is not polled hard


class Adapter(Protocol):
    """The copy protocol of one family, spoken to one resource: what the core itself calls (refresh, delete)."""

    conn: Connection

    async def inventory(self, kinds: frozenset[AssetKind], *, quota: bool = False) -> Inventory: ...

    async def get(self, kind: AssetKind, asset_id: str) -> Asset | None: ...

    async def delete(self, kind: AssetKind, asset_id: str) -> bool: ...


class Family(Protocol):
    """One service family: everything specific to it, behind the methods the core calls.

    Adding a family = one package under ``drplan/families/`` implementing this, one registry line, one emulator
    service module, its schema fragment, its tests (README, "Architecture")."""

    #: The copy protocol id (``drplan.spec.model.copy_protocol``): resources copy to each other only within one.
    @property
    def protocol(self) -> str: ...
    #: For messages: "Content Understanding".
    @property
    def title(self) -> str: ...
    #: Rule keys that select this family's assets (the others are spec errors), and rule options only it understands.
    @property
    def selectors(self) -> tuple[str, ...]: ...
    @property
    def options(self) -> tuple[str, ...]: ...
    #: The asset kinds this family owns (a change's ``kind`` names its family).
    @property
    def kinds(self) -> tuple[AssetKind, ...]: ...
    #: Kinds that take a slot of the target's custom-model quota (GET /info, v2 op=summary).
    @property
    def quota_kinds(self) -> frozenset[AssetKind]: ...
    #: Kinds several rules may claim on one target as long as their changes' settings agree (a CU /defaults key).
    @property
    def shared_kinds(self) -> frozenset[AssetKind]: ...
    #: ``[resources.X]`` keys only this family's resources may set (CU: ``copy_flow``).
    @property
    def resource_options(self) -> tuple[str, ...]: ...
    #: Child collections of the account this family plans with, read from Resource Manager (issue 15; CU:
    #: ``("deployments",)``, its model deployments); they arrive in ``Inventory.live``.
    @property
    def control_plane_collections(self) -> tuple[str, ...]: ...

    def adapter(self, client: AzureClient, conn: Connection) -> Any: ...

    def rule_kinds(self, rule: Rule) -> frozenset[AssetKind]:
        """The kinds a rule of this family lists on its source and targets."""
        ...

    def rule_errors(self, where: str, raw: Mapping[str, Any], src: Resource,
                    targets: Sequence[Resource], *, check_env: bool = True) -> list[str]:
        """Semantic spec errors of one ``[[replicate]]`` rule whose source is of this family (the schema and the
        generic checks ran already)."""
        ...

    def plan_rule(self, ctx: PlanContext, rule: Rule) -> tuple[list[Change], list[str]]:
        """The changes (one per target address) and warnings of one rule."""
        ...

    def orphan(self, ctx: PlanContext, rule: Rule, addr: str, rec: Mapping[str, Any],
               target: Target) -> Change | None:
        """A change for a state record the rule no longer plans; None: the generic prune/keep handling."""
        ...

    async def prepare_plan(self, client: AzureClient, conns: Mapping[str, Connection], spec: Spec,
                           inventories: dict[str, Inventory], state: State, *, targets: tuple[str, ...],
                           excludes: tuple[str, ...], emit: Callable[[dict[str, Any]], None] | None) -> None:
        """Plan-time reads beyond the list APIs, into ``Asset.detail`` (Language exports); most families: none."""
        ...

    async def apply_change(self, ctx: ApplyContext, change: Change, entry: dict[str, Any] | None) -> None:
        """Run one create / replace / update change (deletes are generic), journaled through ``ctx``."""
        ...

    async def adopt_evidence(self, client: AzureClient, conns: Mapping[str, Connection], spec: Spec,
                             change: Change, state: State, *,
                             assert_copy: bool) -> tuple[str | bool, dict[str, Any]]:
        """Why an existing target asset may be recorded as a copy of the planned source version (recorded as
        ``adopted``) and what the record adds; raises StateError naming what was compared when nothing matches."""
        ...

    # -- failing over (issue 16): the failover map (drplan output) and DR drills (drplan drill) ----------------------
    def failover_ids(self, record: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
        """What an application names on the primary and on the secondary for one state record (``model_id``, a v2.1
        minted id, ``analyzer_id``, ``project_name`` + ``deployment_name``): (primary ids, secondary ids)."""
        ...

    def drill_sample(self, kind: AssetKind, files: Sequence[Path]) -> Sample:
        """The input a drill sends to this kind's inference API: the first fitting file of ``--sample`` (none: a
        built-in one); SampleError when none fits (reported on the copy)."""
        ...

    async def probe(self, client: AzureClient, conn: Connection, kind: AssetKind, ids: Mapping[str, str],
                    sample: Sample, *, deadline: float) -> dict[str, Any]:
        """Send ``sample`` to the inference API of the asset ``ids`` names on ``conn`` (within ``deadline`` seconds)
        and return its answer normalised (drplan.families.inference): equal for a faithful copy and its source."""
        ...


class BaseFamily:
    """Defaults for the optional parts of ``Family``; a family overrides what it needs."""

    protocol: str
    title: str
    selectors: tuple[str, ...]
    kinds: tuple[AssetKind, ...]
    options: tuple[str, ...] = ()
    quota_kinds: frozenset[AssetKind] = frozenset()
    shared_kinds: frozenset[AssetKind] = frozenset()
    resource_options: tuple[str, ...] = ()
    control_plane_collections: tuple[str, ...] = ()

    def rule_errors(self, where: str, raw: Mapping[str, Any], src: Resource,
                    targets: Sequence[Resource], *, check_env: bool = True) -> list[str]:
        return []

    def orphan(self, ctx: PlanContext, rule: Rule, addr: str, rec: Mapping[str, Any],
               target: Target) -> Change | None:
        return None

    async def prepare_plan(self, client: AzureClient, conns: Mapping[str, Connection], spec: Spec,
                           inventories: dict[str, Inventory], state: State, *, targets: tuple[str, ...],
                           excludes: tuple[str, ...], emit: Callable[[dict[str, Any]], None] | None) -> None:
        return None

    async def adopt_evidence(self, client: AzureClient, conns: Mapping[str, Connection], spec: Spec,
                             change: Change, state: State, *,
                             assert_copy: bool) -> tuple[str | bool, dict[str, Any]]:
        """The default: the target's fingerprint equals the planned source's (content-addressed families)."""
        src, tgt = change.source, change.target
        if tgt.fingerprint != src.fingerprint:
            raise StateError(
                f"{change.address}: {tgt.resource}/{tgt.id} is not a copy of {src.resource}/{src.id} "
                f"as it is now (target {tgt.fingerprint}, source {src.fingerprint}); refusing to adopt it: "
                "delete it on the target and let drplan copy it, or map the source elsewhere with rename")
        return True, {}
