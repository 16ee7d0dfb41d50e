"""Following ``nextLink`` pages (contracts §1: re-append api-version when the link lacks it), bounded (issue 19).

A list drplan cannot read to its end is an error, never a shorter list: with ``prune``, a truncated inventory reads
as "the source is gone" and plans deletes. So a ``nextLink`` seen before (a loop), more than ``max_pages`` pages (a
link that changes on every page), an answer that is not an object with a list of items, a ``nextLink`` that is not a
string, or an item that is not an object all raise a :class:`ServiceError` naming the list and the endpoint.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from drplan.azure.auth import Credential
from drplan.azure.client import AzureClient
from drplan.azure.errors import json_object
from drplan.azure.urls import display
from drplan.errors import ServiceError

#: Pages one list may have. At the services' page sizes (20-100+ items) that is far beyond any account's model limit;
#: reaching it means a ``nextLink`` that never ends.
MAX_PAGES = 10_000


def ensure_api_version(url: str, api_version: str) -> str:
    parts = urlsplit(url)
    query = parse_qs(parts.query, keep_blank_values=True)
    if "api-version" in query:
        return url
    extra = urlencode({"api-version": api_version})
    return urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))


async def iterate_pages(
    client: AzureClient,
    url: str,
    *,
    endpoint: str,
    key: Credential,
    api_version: str | None,
    what: str,
    item_name: str = "value",
    max_pages: int = MAX_PAGES,
) -> AsyncIterator[dict[str, Any]]:
    """Yield every item of a pageable list, following ``nextLink`` until it is absent, null or empty.
    ``api_version`` None: a path-versioned API (FR v2.x) whose links need no api-version query. Errors (module
    docstring) name ``what``, the list's URL and the endpoint; items already yielded stay yielded, so callers that
    build an inventory must let the error end the whole listing.

    The pages are fetched by a task of their own, one page ahead of the caller (issue 18): the next page's request is
    on the wire while the caller turns this page's items into its inventory, so a long chain of pages costs its
    round trips and not also the caller's work per page (at 400 pages of 50 models: ~0.6 s). One page ahead at most:
    the memory stays two pages, and a caller that stops early costs at most one page it did not need. Stopping early
    (or being cancelled) cancels the request in flight."""
    pages: asyncio.Queue[list[dict[str, Any]] | BaseException | None] = asyncio.Queue(maxsize=1)

    async def produce() -> None:
        try:
            async for items in _pages(client, url, endpoint=endpoint, key=key, api_version=api_version, what=what,
                                      item_name=item_name, max_pages=max_pages):
                await pages.put(items)
            await pages.put(None)
        except Exception as exc:  # raised to the caller in order, after the items of the pages before
            await pages.put(exc)

    producer = asyncio.ensure_future(produce())
    try:
        while True:
            got = await pages.get()
            if got is None:
                return
            if isinstance(got, BaseException):
                raise got
            for item in got:
                yield item
    finally:
        if not producer.done():
            producer.cancel()
        await asyncio.gather(producer, return_exceptions=True)


async def _pages(
    client: AzureClient,
    url: str,
    *,
    endpoint: str,
    key: Credential,
    api_version: str | None,
    what: str,
    item_name: str,
    max_pages: int,
) -> AsyncIterator[list[dict[str, Any]]]:
    """The items of each page in turn (``iterate_pages``' checks); only the latest page's body is kept."""
    subject = f"the list at {display(url)} (endpoint {display(endpoint)})"
    next_url: str | None = url
    seen: dict[str, int] = {}
    page = 0
    while next_url:
        if next_url in seen:
            raise ServiceError(
                f"{what}: {subject}: page {page}'s nextLink {display(next_url)} leads back to page {seen[next_url]}: "
                "the service's paging loops. drplan stops rather than use a list it could not read to its end (with "
                "prune, missing items would read as deleted); try again later")
        if page >= max_pages:
            raise ServiceError(
                f"{what}: {subject}: still more pages after {max_pages} (the nextLink changes on every page and never "
                "ends); drplan stops rather than use a list it could not read to its end; try again later")
        page += 1
        seen[next_url] = page
        response = await client.request("GET", next_url, endpoint=endpoint, key=key, what=what)
        body = json_object(response, what=what, subject=f"{subject}, page {page},")
        del response
        items = body.get(item_name)
        if not isinstance(items, list):
            raise ServiceError(
                f"{what}: {subject}, page {page}, has no list '{item_name}' "
                f"({'missing' if item_name not in body else type(items).__name__}); drplan cannot read the list: "
                "check the endpoint and the resource's API version")
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise ServiceError(
                    f"{what}: {subject}, page {page}: item {index} of '{item_name}' is a "
                    f"{type(item).__name__}, not an object; drplan cannot read the list")
        link = body.get("nextLink")
        if link is not None and not isinstance(link, str):
            raise ServiceError(f"{what}: {subject}, page {page}: nextLink is not a URL string ({type(link).__name__}); "
                               "drplan cannot read the rest of the list")
        next_url = (ensure_api_version(link, api_version) if api_version else link) if link else None
        del body
        yield items


__all__ = ["MAX_PAGES", "ensure_api_version", "iterate_pages"]
