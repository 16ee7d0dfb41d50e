"""Access to the JSON Schemas in the repository's ``schemas/`` folder (shipped in the package as ``drplan.schemas``)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema


def _schema_dir() -> Path:
    packaged = Path(__file__).resolve().parent / "schemas"
    if (packaged / "plan.schema.json").is_file():
        return packaged
    # Editable install / source checkout: the top-level schemas/ folder.
    return Path(__file__).resolve().parent.parent / "schemas"


@functools.lru_cache(maxsize=None)
def load_schema(name: str) -> dict[str, Any]:
    return json.loads((_schema_dir() / name).read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=None)
def validator(name: str) -> jsonschema.protocols.Validator:
    schema = load_schema(name)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def json_path(parts: Any) -> str:
    """Render a jsonschema error path as a TOML-style path: ``replicate[0].targets[1]``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"
