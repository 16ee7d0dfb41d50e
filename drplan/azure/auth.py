"""Keys come from environment variables, are registered with the redactor the moment they are read, and live only
in memory."""

from __future__ import annotations

import os

from drplan.errors import SpecError
from drplan.redact import register_secret


def key_from_env(resource: str, key_env: str, *, where: str = "") -> str:
    value = os.environ.get(key_env, "")
    if not value:
        prefix = f"{where}: " if where else ""
        raise SpecError(
            f"{prefix}resources.{resource}.key_env: environment variable {key_env} is not set; export the key of "
            f"resource {resource!r} in it"
        )
    register_secret(value)
    return value
