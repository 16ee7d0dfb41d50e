"""The JSON Schemas of the repository's ``schemas/`` folder (shipped in the package as ``drplan.schemas``).

Plans and states are checked on every save and load, some with thousands of entries, so the check runs a compiled
validator (fastjsonschema); only when it fails is jsonschema asked for the precise path of the first error.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fastjsonschema

if TYPE_CHECKING:
    import jsonschema


def _schema_dir() -> Path:
    packaged = Path(__file__).resolve().parent / "schemas"
    if (packaged / "plan.schema.json").is_file():
        return packaged
    # Editable install / source checkout: the top-level schemas/ folder.
    return Path(__file__).resolve().parent.parent / "schemas"


@functools.lru_cache(maxsize=None)
def load_schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((_schema_dir() / name).read_text(encoding="utf-8"))
    return schema


@functools.lru_cache(maxsize=None)
def validator(name: str) -> "jsonschema.protocols.Validator":
    """The jsonschema validator, for precise error messages (imported only when an error needs explaining)."""
    import jsonschema

    schema = load_schema(name)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@functools.lru_cache(maxsize=None)
def _compiled(name: str) -> Callable[[Any], Any]:
    return fastjsonschema.compile(load_schema(name))


def first_error(name: str, doc: Any) -> str | None:
    """None when ``doc`` is valid; else ``"<path>: <message>"`` of its first error."""
    try:
        _compiled(name)(doc)
        return None
    except fastjsonschema.JsonSchemaValueException as fast_err:
        errs = sorted(validator(name).iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
        if errs:
            return f"{json_path(errs[0].absolute_path)}: {errs[0].message}"
        return fast_err.message


def json_path(parts: Any) -> str:
    """Render a jsonschema error path as a TOML-style path: ``replicate[0].targets[1]``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"
