"""How many of some plan entries are copies, and how many are settings drplan keeps on a target.

The plan's ``summary`` counts changes. A sentence that says "copies" counts copies only, the way ``drplan drill``
and ``drplan output`` do; a target setting drplan keeps (a Content Understanding ``/defaults`` key) is named apart
(issue 17 point 9: the demo said "14 copies in sync" next to a drill of 13 copies). Which kinds are settings is the
family's answer, not the renderer's: a copy belongs to one rule, while a kind several rules may claim on one target
(``Family.shared_kinds``) is a setting of that target resource. Pure: no I/O, only the family registry's kind table.
"""

from __future__ import annotations

from collections.abc import Iterable

from drplan.plan.model import Change


def is_setting(change: Change) -> bool:
    """True for a change of a target setting drplan keeps (not a copy of an asset)."""
    from drplan.families import family_of_kind  # the registry only (lazy: the renderers load without the families)

    family = family_of_kind(change.kind)
    return change.kind in family.shared_kinds


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def copies_phrase(changes: Iterable[Change], adjective: str = "") -> str:
    """``"13 copies"``, or ``"13 copies and 1 target setting"`` when settings are among ``changes``;
    ``adjective`` goes before each noun (``"5 unchanged copies and 1 unchanged target setting"``)."""
    settings = copies = 0
    for c in changes:
        if is_setting(c):
            settings += 1
        else:
            copies += 1
    adj = f"{adjective} " if adjective else ""
    text = _plural(copies, f"{adj}copy", f"{adj}copies")
    if settings:
        text += " and " + _plural(settings, f"{adj}target setting", f"{adj}target settings")
    return text
