"""Readable differences between two JSON documents (deepdiff underneath), one line per difference, for reviewers:
``+ path: value`` added, ``- path: value`` removed, ``~ path: old -> new`` changed. Paths are dotted
(``fieldSchema.fields.total.description``), list positions in brackets."""

from __future__ import annotations

import json
import re
from typing import Any

_PART = re.compile(r"\[('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\d+)\]")
_MAX_VALUE = 120


def dotted(path: str) -> str:
    """``root['a']['b'][2]`` -> ``a.b[2]``."""
    out = ""
    for m in _PART.finditer(path.removeprefix("root")):
        part = m.group(1)
        if part.isdigit():
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part[1:-1]
    return out or "(root)"


def _show(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def diff_lines(old: Any, new: Any, *, ignore_order: bool = True) -> list[str]:
    """What changed from ``old`` to ``new``, sorted by path."""
    from deepdiff import (
        DeepDiff,  # imported here: it pulls in numpy, ~0.15 s of start-up most plans never need
    )

    d = DeepDiff(old, new, ignore_order=ignore_order, verbose_level=2).to_dict()
    lines: list[tuple[str, str]] = []
    for key in ("dictionary_item_added", "iterable_item_added", "set_item_added"):
        for path, value in _items(d.get(key)):
            lines.append((dotted(path), f"+ {dotted(path)}: {_show(value)}"))
    for key in ("dictionary_item_removed", "iterable_item_removed", "set_item_removed"):
        for path, value in _items(d.get(key)):
            lines.append((dotted(path), f"- {dotted(path)}: {_show(value)}"))
    for key in ("values_changed", "type_changes"):
        for path, change in (d.get(key) or {}).items():
            lines.append((dotted(path), f"~ {dotted(path)}: {_show(change.get('old_value'))} -> "
                                        f"{_show(change.get('new_value'))}"))
    return [text for _, text in sorted(lines)]


def _items(section: Any) -> list[tuple[str, Any]]:
    if isinstance(section, dict):
        return list(section.items())
    if section:  # set-like sections (no values): show the path only
        return [(str(p), "") for p in section]
    return []
