"""URL facts the client relies on: which origin (scheme, host, port) a URL belongs to, and where it points.

A resource's key or token may only go to that resource's own origin (issue 19): every URL that comes from a
response (``nextLink``, ``Operation-Location``, ``resultUrl``) or from the state (journaled operation URLs) is
checked against the resource's endpoint before anything secret is attached.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

_DEFAULT_PORTS = {"https": 443, "http": 80}


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of ``url``, lower-cased, with the scheme's default port filled in.

    Raises ValueError for a URL with no scheme or host, or a port out of range."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if not scheme or not host:
        raise ValueError(f"not an absolute URL: {display(url)}")
    port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    return scheme, host, port


def same_origin(url: str, endpoint: str) -> bool:
    try:
        return origin(url) == origin(endpoint)
    except ValueError:
        return False


def place(url: str) -> tuple[str, str, int, str]:
    """Origin and path (unquoted, lower-case, no trailing slash): where a URL points, ignoring its query."""
    try:
        scheme, host, port = origin(url)
    except ValueError:
        return "", "", 0, ""
    return scheme, host, port, unquote(urlsplit(url.strip()).path).rstrip("/").lower()


def display(url: str, limit: int = 200) -> str:
    """A URL fit for a message: no query (it may hold a SAS or a token), no user info, at most ``limit`` characters."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    text = f"{parts.scheme}://{host}{parts.path}" if parts.scheme else parts.path
    return text if len(text) <= limit else text[:limit] + "…(truncated)"


__all__ = ["display", "origin", "place", "same_origin"]
