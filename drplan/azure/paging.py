"""Following ``nextLink`` pages (contracts §1: re-append api-version when the link lacks it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from drplan.azure.client import AzureClient


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
    key: str,
    api_version: str | None,
    what: str,
    item_name: str = "value",
) -> AsyncIterator[dict[str, Any]]:
    """Yield every item of a pageable list, following ``nextLink`` until it is absent, null or empty.
    ``api_version`` None: a path-versioned API (FR v2.x) whose links need no api-version query."""
    next_url: str | None = url
    seen: set[str] = set()
    while next_url:
        if next_url in seen:  # a service loop must not hang drplan
            break
        seen.add(next_url)
        response = await client.request("GET", next_url, endpoint=endpoint, key=key, what=what)
        body = response.json()
        for item in body.get(item_name) or ():
            yield item
        link = body.get("nextLink")
        next_url = (ensure_api_version(link, api_version) if api_version else link) if link else None
