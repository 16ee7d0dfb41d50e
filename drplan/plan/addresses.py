"""Addresses (DESIGN §1: ``<rule>/<target-resource>/<asset-kind>/<asset-id>``) and the glob selection every family
uses: ids or globs (fnmatch) in a rule's selector, minus its ``exclude``; ``--target``/``--exclude`` over addresses."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from drplan.spec.model import AssetKind


def address(rule: str, target: str, kind: AssetKind, target_id: str) -> str:
    return f"{rule}/{target}/{kind.value}/{target_id}"


def address_selected(addr: str, targets: tuple[str, ...], excludes: tuple[str, ...]) -> bool:
    """``--target``/``--exclude`` globs (fnmatch) over addresses; no targets means every address."""
    if targets and not any(fnmatch.fnmatchcase(addr, t) for t in targets):
        return False
    return not any(fnmatch.fnmatchcase(addr, e) for e in excludes)


def matches(names: Iterable[str], patterns: Iterable[str], exclude: Iterable[str]) -> bool:
    """One of ``names`` matches a pattern and none matches an exclude (an asset may be known by several names: an
    FR v2 model by its server-made id and its modelName)."""
    names, patterns, exclude = list(names), list(patterns), list(exclude)
    if not any(fnmatch.fnmatchcase(n, p) for n in names for p in patterns):
        return False
    return not any(fnmatch.fnmatchcase(n, p) for n in names for p in exclude)
