"""Credentials for the AI services: an API key from an environment variable, or an Entra ID token (contracts §1:
``Authorization: Bearer`` with scope ``https://cognitiveservices.azure.com/.default``). Either is registered with the
redactor the moment it is read and lives only in memory.

``Credential = str | EntraToken``: the client sends a str as ``Ocp-Apim-Subscription-Key`` and asks an EntraToken
for a bearer token (cached until five minutes before it expires).
"""

from __future__ import annotations

import asyncio
import os
import time
import weakref
from typing import Any, Union

from drplan.errors import AuthError, SpecError
from drplan.redact import register_secret

SCOPE = "https://cognitiveservices.azure.com/.default"
_REFRESH_MARGIN = 300.0


def key_problem(value: str) -> str | None:
    """Why ``value`` (already stripped of edge whitespace) cannot be an API key (None: it can). Checked at spec load,
    so a bad key is one clear error before any request; the message never quotes the key."""
    key = value.strip()
    if not key:
        return "is empty (only whitespace)"
    if any(ch.isspace() for ch in key):
        return "holds whitespace inside it; an API key is one word: export exactly the key"
    if any(ord(ch) < 33 or ord(ch) > 126 for ch in key):
        return ("holds a character an HTTP header cannot carry (a non-ASCII or control character); export exactly "
                "the key")
    return None


def key_from_env(resource: str, key_env: str, *, where: str = "") -> str:
    """The API key in ``key_env``, with leading and trailing whitespace stripped (a newline left by ``echo`` or a key
    file is not part of any key); a SpecError when the variable is unset or the key cannot be sent (key_problem)."""
    raw = os.environ.get(key_env, "")
    register_secret(raw)
    value = raw.strip()
    prefix = f"{where}: " if where else ""
    if not value:
        raise SpecError(
            f"{prefix}resources.{resource}.key_env: environment variable {key_env} is not set; export the key of "
            f"resource {resource!r} in it"
        )
    problem = key_problem(value)
    if problem:
        raise SpecError(f"{prefix}resources.{resource}.key_env: the key in environment variable {key_env} {problem}")
    register_secret(value)
    return value


class EntraToken:
    """Bearer tokens for one or more resources from one azure-identity credential (DefaultAzureCredential unless one
    is given: environment service principal, workload or managed identity, Azure CLI sign-in, ...).

    The credential is synchronous (azure-identity's async credentials need aiohttp), so tokens are fetched in a
    worker thread, once per expiry, behind a lock."""

    def __init__(self, credential: Any = None, *, scope: str = SCOPE) -> None:
        self._credential = credential
        self.scope = scope
        self._token = ""
        self._expires = 0.0
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:  # never show a token
        return f"EntraToken(scope={self.scope!r})"

    def _get(self) -> Any:
        if self._credential is None:
            from azure.identity import DefaultAzureCredential

            self._credential = DefaultAzureCredential(exclude_interactive_browser_credential=True)
        return self._credential.get_token(self.scope)

    async def token(self) -> str:
        async with self._lock:
            if self._token and time.time() < self._expires - _REFRESH_MARGIN:
                return self._token
            try:
                access = await asyncio.to_thread(self._get)
            except Exception as exc:  # azure-identity raises several types; its message names what it tried
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
                raise AuthError(
                    f"cannot get an Entra ID token for {self.scope} ({exc.__class__.__name__}: {first}); sign in "
                    "(az login), or set AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, or use a managed "
                    "identity, with the Cognitive Services User role on the resources"
                ) from None
            register_secret(access.token)
            self._token, self._expires = access.token, float(access.expires_on)
            return self._token


#: What a Connection carries: an API key, or a source of Entra ID tokens.
Credential = Union[str, EntraToken]

_shared: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, EntraToken] = weakref.WeakKeyDictionary()


def shared_entra_token() -> EntraToken:
    """One token source per run: every resource uses the same scope, so one token serves them all. A run is its event
    loop, not the process: the source's lock belongs to one loop, and a second run in one process (the tests run the
    CLI in theirs) must not reuse the first run's credential or token. Call it inside the run's loop."""
    loop = asyncio.get_running_loop()
    if loop not in _shared:
        _shared[loop] = EntraToken()
    return _shared[loop]


async def auth_headers(credential: Credential) -> dict[str, str]:
    if isinstance(credential, EntraToken):
        return {"Authorization": f"Bearer {await credential.token()}"}
    return {"Ocp-Apim-Subscription-Key": credential}
