"""The one secret scrubber used by errors, logs and renderers.

Secrets are registered the moment drplan reads them (keys from the environment, copy tokens from services) and every
message a user can see passes through :func:`redact`. Known secret-bearing shapes (JSON ``accessToken`` fields, key
headers, SAS signatures) are scrubbed even when their value was never registered.
"""

from __future__ import annotations

import re
import threading

MASK = "***"
_lock = threading.Lock()
_secrets: set[str] = set()

_PATTERNS = [
    # "accessToken": "....", 'authorizationToken': '...'
    re.compile(r"""(?i)(["']?\b(?:accessToken|authorizationToken|access_token|key|apiKey|api_key)["']?\s*[:=]\s*["'])[^"']+(["'])"""),
    # Ocp-Apim-Subscription-Key: value / Authorization: Bearer value
    re.compile(r"(?i)(ocp-apim-subscription-key\s*[:=]\s*)\S+()"),
    re.compile(r"(?i)(authorization\s*[:=]\s*bearer\s+)\S+()"),
    # SAS signatures in URLs
    re.compile(r"(?i)([?&]sig=)[^&\s\"']+()"),
]


def register_secret(value: str | None) -> None:
    """Remember a secret value so it is masked wherever it later appears. Short values are ignored."""
    if value and len(value) >= 6:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """Return ``text`` with every registered secret and every known secret-bearing shape masked."""
    if not text:
        return text
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: f"{m.group(1)}{MASK}{m.group(2)}", text)
    return text
