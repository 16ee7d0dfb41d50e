"""Lifecycle warnings (issue 17 point 8): an asset whose ``expires`` (Document Intelligence / Form Recognizer v3
``expirationDateTime``, exposed generically as ``Asset.expires``) falls within the rule's warning window, or has
passed, gets a warning on its change. Pure: "now" is the plan's ``created_at``; no family is named here."""

from __future__ import annotations

from datetime import datetime, timezone

from drplan.families.base import Asset, Inventory
from drplan.plan.model import Action, Change
from drplan.spec.model import Spec

#: Every lifecycle warning starts with this (``drplan check`` lists them; they are not drift).
EXPIRY = "expiry:"


def _parse(value: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _when(expires: datetime, now: datetime, *, plural: bool = False) -> str:
    days = (expires - now).total_seconds() / 86400
    date = expires.strftime("%Y-%m-%d %H:%M UTC")
    if days < 0:
        return f"expired on {date} ({int(-days)} day(s) ago)"
    return f"expire{'' if plural else 's'} on {date} (in {int(days)} day(s))"


def _due(asset: Asset | None, now: datetime, window: int) -> datetime | None:
    if asset is None or not asset.expires:
        return None
    when = _parse(asset.expires)
    if when is None or (when - now).total_seconds() > window * 86400:
        return None
    return when


def add_expiry_warnings(spec: Spec, changes: list[Change], inventories: dict[str, Inventory], created_at: str) -> None:
    """Warn on each change whose source or (existing) target copy expires within the rule's window."""
    now = _parse(created_at)
    if now is None:
        return
    windows = {r.name: spec.expiry_warning_days if r.expiry_warning_days is None else r.expiry_warning_days
               for r in spec.rules}
    source_texts: dict[tuple[str, datetime], str] = {}
    for c in changes:
        if c.action is Action.DELETE or c.rule not in windows:
            continue
        window = windows[c.rule]
        src_inv, tgt_inv = inventories.get(c.source.resource), inventories.get(c.target.resource)
        source = src_inv.get(c.kind, c.source.id) if src_inv else None
        copy = tgt_inv.get(c.kind, c.target.id) if tgt_inv and c.target.exists and c.target.id else None
        src_due, copy_due = _due(source, now, window), _due(copy, now, window)
        src_name = f"{c.source.resource}/{c.source.id}"
        copy_name = f"{c.target.resource}/{c.target.id}"
        fix = ("rebuild (retrain) the model on the source before then, then plan and apply to recopy it (a copy keeps "
               "its source's expiry)")
        if src_due and copy_due and src_due == copy_due:
            c.warnings.append(f"{EXPIRY} the source {src_name} and its copy {copy_name} {_when(src_due, now, plural=True)}; {fix}")
            continue
        if src_due:
            # One text per source, shared by the changes of its targets (issue 18: 60,000 changes of 20,000 sources).
            key = (src_name, src_due)
            if key not in source_texts:
                source_texts[key] = f"{EXPIRY} the source {src_name} {_when(src_due, now)}; {fix}"
            c.warnings.append(source_texts[key])
        if copy_due:
            c.warnings.append(f"{EXPIRY} the copy {copy_name} {_when(copy_due, now)}; "
                              + ("recopy it from the source (plan and apply)" if not src_due or src_due > copy_due
                                 else fix))
