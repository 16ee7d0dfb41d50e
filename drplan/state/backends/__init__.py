"""State backends: where the state's bytes live and how they are locked (the StateBackend Protocol in base.py).

The registry is an explicit dict, name -> ``module:Class``; a backend's module is imported only when a state uses
it (the Azure SDK costs half a second to import, which ``drplan plan`` on a local state should not pay).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from drplan.state.backends.base import StateBackend

BACKENDS: dict[str, str] = {
    "local": "drplan.state.backends.local:LocalBackend",
    "azureblob": "drplan.state.backends.azureblob:AzureBlobBackend",
}


def backend_from_config(config: Mapping[str, Any]) -> StateBackend:
    """Build the backend a spec's or a plan's ``state`` block names (``backend`` defaults to ``local``)."""
    name = config.get("backend", "local")
    module, _, cls = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module), cls).from_config(config)  # type: ignore[no-any-return]
