"""Runtime fail-over for applications (issue 16): read the failover map ``drplan output`` writes and call a model
through an httpx client that switches region by itself.

    from drplan import failover

    fmap = failover.load_map("failover.json")
    async with failover.client(fmap, "production/invoice-2024") as http:
        # Write URLs for the PRIMARY (its endpoint and ids, as the map gives them); the client sends each request
        # to the first healthy region, rewriting origin, ids and key for it.
        primary = fmap.asset("production/invoice-2024").primary
        r = await http.post(f"{primary.endpoint}/documentintelligence/documentModels/{primary.ids['model_id']}"
                            ":analyze?api-version=2024-11-30", json={"base64Source": ...})
        result_url = r.headers["Operation-Location"]      # poll it with the same client
        ...

What the transport (:class:`FailoverTransport`) does:

* **Order.** Regions are tried primary first, then the secondaries in the map's order. A request goes to the first
  region whose circuit is closed; on a connection error, a timeout or a 5xx it goes to the next one. A 4xx (bad input,
  a wrong key) is the answer: it is returned, never retried elsewhere. 429 is returned too (honour its Retry-After,
  as the Azure SDKs do): throttling is no outage.
* **Rewriting.** A request for the primary is sent to another region with that region's origin, ids in the path
  replaced by that region's ids (a Form Recognizer v2.1 copy has another model id; a renamed copy another name), and
  that region's key (``Ocp-Apim-Subscription-Key`` from the environment variable the map names; Entra ID regions
  keep the caller's ``Authorization``). A key is only ever sent to its own region's origin.
* **Polling follows the request.** An answer's ``Operation-Location`` / ``operation-location`` points at the region
  that accepted the work, and the client polls it there. If that region fails while its operation is polled, the
  request that started the operation is sent again to the next region, and the old operation URL is answered from
  the new one from then on: the application keeps polling the URL it has.
* **Circuit breaking, per region.** ``failures`` consecutive failures open a region's circuit for ``cooldown``
  seconds (it is skipped, unless every region is open); one success closes it.

Nothing here is secret-bearing beyond the key values read from the environment at call time; the map holds only the
names of the variables.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

KEY_HEADER = "Ocp-Apim-Subscription-Key"
LOCATION_HEADERS = ("operation-location", "location")
#: Headers never copied from one request to another (the key is set per region; httpx sets the others).
_DROP = (KEY_HEADER.lower().encode(), b"host", b"content-length", b"transfer-encoding")


class FailoverMapError(ValueError):
    """The map file is missing, not JSON, not a drplan failover map, or has no such asset."""


@dataclass(frozen=True)
class Region:
    """One place an asset answers: its endpoint, ids and how to authenticate there."""

    resource: str
    region: str
    endpoint: str
    ids: dict[str, str]
    key_env: str | None = None  # None: Entra ID (the caller's Authorization header is kept)

    @property
    def origin(self) -> str:
        parts = urlsplit(self.endpoint)
        return f"{parts.scheme}://{parts.netloc}".lower()

    def key(self) -> str | None:
        if self.key_env is None:
            return None
        value = os.environ.get(self.key_env)
        if not value:
            raise FailoverMapError(f"{self.resource} ({self.region}): the environment variable {self.key_env} that "
                                   "holds its key is not set")
        return value


@dataclass(frozen=True)
class Asset:
    name: str
    kind: str
    primary: Region
    secondaries: tuple[Region, ...]

    @property
    def regions(self) -> tuple[Region, ...]:
        return (self.primary, *self.secondaries)


@dataclass(frozen=True)
class FailoverMap:
    assets: dict[str, Asset]

    def asset(self, name: str) -> Asset:
        if name not in self.assets:
            raise FailoverMapError(f"no asset {name!r} in the failover map; it has: {', '.join(sorted(self.assets))}")
        return self.assets[name]


def _region(side: Mapping[str, Any]) -> Region:
    cred = side.get("credential") or {}
    return Region(resource=side["resource"], region=side.get("region", ""), endpoint=side["endpoint"].rstrip("/"),
                  ids=dict(side.get("ids") or {}), key_env=cred.get("key_env"))


def parse_map(data: Mapping[str, Any]) -> FailoverMap:
    if data.get("format_version") != 1 or not isinstance(data.get("assets"), list):
        raise FailoverMapError("not a drplan failover map of format_version 1 (write one with drplan output SPEC)")
    assets = {}
    for a in data["assets"]:
        assets[a["name"]] = Asset(a["name"], a["kind"], _region(a["primary"]),
                                  tuple(_region(s) for s in a["secondaries"]))
    return FailoverMap(assets)


def load_map(path: str | Path) -> FailoverMap:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise FailoverMapError(f"{path}: cannot read the failover map ({exc.strerror or exc})") from exc
    except ValueError as exc:
        raise FailoverMapError(f"{path}: not JSON ({exc})") from exc
    return parse_map(data)


@dataclass
class _Circuit:
    failures: int = 0
    open_until: float = 0.0


@dataclass
class _Started:
    """A request that started an operation (replayed elsewhere if its region fails while it is polled)."""

    method: str
    url: str  # as the application wrote it (for the primary)
    headers: list[tuple[bytes, bytes]]
    body: bytes
    region: int


@dataclass
class FailoverTransport(httpx.AsyncBaseTransport):
    asset: Asset
    inner: httpx.AsyncBaseTransport = field(default_factory=httpx.AsyncHTTPTransport)
    failures: int = 3
    cooldown: float = 30.0
    clock: Callable[[], float] = time.monotonic
    circuits: dict[int, _Circuit] = field(default_factory=dict)
    #: operation URL -> the request that started it; old operation URL -> the one that replaced it elsewhere
    started: dict[str, _Started] = field(default_factory=dict)
    alias: dict[str, str] = field(default_factory=dict)
    #: (region index, status or exception name) of every attempt, for logs and tests
    attempts: list[tuple[str, str]] = field(default_factory=list)

    # -- regions and circuits

    def _region_of(self, url: httpx.URL) -> int | None:
        origin = f"{url.scheme}://{url.netloc.decode()}".lower()
        return next((i for i, r in enumerate(self.asset.regions) if r.origin == origin), None)

    def _healthy(self, i: int) -> bool:
        return self.circuits.setdefault(i, _Circuit()).open_until <= self.clock()

    def _order(self, first: int) -> list[int]:
        n = len(self.asset.regions)
        order = [first] + [i for i in range(n) if i != first]
        healthy = [i for i in order if self._healthy(i)]
        return healthy or order

    def _failed(self, i: int) -> None:
        c = self.circuits.setdefault(i, _Circuit())
        c.failures += 1
        if c.failures >= self.failures:
            c.open_until = self.clock() + self.cooldown

    def _ok(self, i: int) -> None:
        self.circuits[i] = _Circuit()

    # -- rewriting

    def _rewrite(self, url: httpx.URL, src: int, dst: int) -> httpx.URL:
        if src == dst:
            return url
        a, b = self.asset.regions[src], self.asset.regions[dst]
        path = url.raw_path.decode()
        query = ""
        if "?" in path:
            path, query = path.split("?", 1)
        segments = path.split("/")
        for name, value in a.ids.items():
            new = b.ids.get(name)
            if not new or new == value:
                continue
            for k, seg in enumerate(segments):
                head, colon, action = seg.partition(":")
                if head in (value, quote(value, safe="")):
                    segments[k] = quote(new, safe="") + colon + action
        target = urlsplit(b.endpoint)
        return httpx.URL(urlunsplit((target.scheme, target.netloc, "/".join(segments), query, "")))

    def _headers(self, headers: Sequence[tuple[bytes, bytes]], dst: int) -> list[tuple[bytes, bytes]]:
        region = self.asset.regions[dst]
        out = [(k, v) for k, v in headers if k.lower() not in _DROP]
        key = region.key()
        if key is not None:
            out.append((KEY_HEADER.encode(), key.encode()))
        return out

    # -- sending

    async def _send_to(self, request: httpx.Request, body: bytes, src: int, dst: int) -> httpx.Response:
        url = self._rewrite(request.url, src, dst)
        req = httpx.Request(request.method, url, headers=self._headers(request.headers.raw, dst), content=body,
                            extensions=request.extensions)
        response = await self.inner.handle_async_request(req)
        await response.aread()
        return response

    async def _try(self, request: httpx.Request, body: bytes, src: int) -> tuple[httpx.Response, int]:
        last: BaseException | None = None
        response: httpx.Response | None = None
        for i in self._order(src):
            try:
                response = await self._send_to(request, body, src, i)
            except (httpx.TransportError, OSError) as exc:
                self.attempts.append((self.asset.regions[i].region, exc.__class__.__name__))
                self._failed(i)
                last = exc
                continue
            self.attempts.append((self.asset.regions[i].region, str(response.status_code)))
            if response.status_code >= 500:
                self._failed(i)
                continue
            self._ok(i)
            return response, i
        if response is not None:
            return response, src  # every region answered 5xx: the last answer
        assert last is not None
        raise last

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        key = str(request.url)
        if key in self.alias:  # an operation that moved to another region: poll it there
            kept = [(k, v) for k, v in request.headers.raw if k.lower() not in _DROP]
            request = httpx.Request(request.method, self.alias[key], headers=kept, content=body,
                                    extensions=request.extensions)
            key = str(request.url)
        src = self._region_of(request.url)
        if src is None:  # not one of this asset's origins: never send a key there
            return await self.inner.handle_async_request(request)
        started = self.started.get(key)
        if started is not None and request.method == "GET":
            region = self.asset.regions[src].region
            try:
                response = await self._send_to(request, body, src, src)
                self.attempts.append((region, str(response.status_code)))
                if response.status_code < 500:
                    self._ok(src)
                    return response
                self._failed(src)
            except (httpx.TransportError, OSError) as exc:
                self.attempts.append((region, exc.__class__.__name__))
                self._failed(src)
            return await self._replay(key, started)
        response, where = await self._try(request, body, src)
        self._remember(request, body, response, where)
        return response

    def _remember(self, request: httpx.Request, body: bytes, response: httpx.Response, where: int) -> None:
        location = next((response.headers[h] for h in LOCATION_HEADERS if h in response.headers), None)
        if location and request.method != "GET":
            self.started[location] = _Started(request.method, str(request.url), list(request.headers.raw), body,
                                              where)

    async def _replay(self, old_location: str, started: _Started) -> httpx.Response:
        """The region running an operation failed while it was polled: start it again elsewhere, answer the poll
        from there, and remember the new operation URL for the old one."""
        original = httpx.Request(started.method, started.url, headers=started.headers, content=started.body)
        src = self._region_of(original.url)
        assert src is not None
        self._failed(started.region)
        response, where = await self._try(original, started.body, src)
        location = next((response.headers[h] for h in LOCATION_HEADERS if h in response.headers), None)
        if location is None:
            return response
        self.alias[old_location] = location
        self.started[location] = _Started(started.method, started.url, started.headers, started.body, where)
        poll = httpx.Request("GET", location, headers=self._headers(original.headers.raw, where))
        result = await self.inner.handle_async_request(poll)
        await result.aread()
        return result

    async def aclose(self) -> None:
        await self.inner.aclose()


def client(fmap: FailoverMap, asset: str, *, failures: int = 3, cooldown: float = 30.0, timeout: float = 10.0,
           transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """An httpx.AsyncClient for one asset of the map whose requests (written for the primary) fail over."""
    inner = transport or httpx.AsyncHTTPTransport()
    return httpx.AsyncClient(transport=FailoverTransport(fmap.asset(asset), inner=inner, failures=failures,
                                                         cooldown=cooldown), timeout=timeout)


__all__ = ["Asset", "FailoverMap", "FailoverMapError", "FailoverTransport", "Region", "client", "load_map", "parse_map"]
