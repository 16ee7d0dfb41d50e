"""Drift: what ``drplan check`` reports, derived from a fresh plan and the state. Pure, no I/O.

A finding is anything that makes the DR posture differ from the spec: a selected asset not copied yet, a source
rebuilt since its copy, a target setting or training out of date, a recorded copy missing or changed on its target, a copy whose source is gone, an encryption
mode that changed since the copy, or a plan error (e.g. a foreign model squatting a target id).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drplan.lineage import same_fingerprint
from drplan.plan.model import Action, Plan


@dataclass(frozen=True)
class Finding:
    address: str
    kind: str  # not-copied | source-rebuilt | copy-missing | copy-changed | out-of-date | source-gone |
    #            encryption-changed | unfinished | error
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"address": self.address, "kind": self.kind, "message": self.message}


def find_drift(plan: Plan, resources_in_state: dict[str, dict[str, Any]],
               journal: dict[str, dict[str, Any]] | None = None) -> list[Finding]:
    """``journal``: the state's in-flight entries; an apply that stopped half-way is drift until it is finished."""
    out: list[Finding] = []
    for addr, entry in sorted((journal or {}).items()):
        out.append(Finding(addr, "unfinished", f"an apply stopped at step {entry.get('step')!r} "
                                               f"({entry.get('updated', '?')}); run drplan apply again to finish it"))
    for c in plan.changes:
        addr = c.address
        action = c.action
        rec = resources_in_state.get(addr)
        if c.errors:
            out.extend(Finding(addr, "error", e) for e in c.errors)
            continue
        if action is Action.CREATE:
            if c.flags.drift:
                out.append(Finding(addr, "copy-missing", c.reason))
            else:
                out.append(Finding(addr, "not-copied", c.reason))
        elif action is Action.REPLACE:
            # One finding per address (issue 17): target drift (the copy changed out of band) is told apart from a
            # source change (the source rebuilt since its copy); a copy that changed while its source was rebuilt
            # too is target drift, and says so.
            source_changed = rec is None or not same_fingerprint(str(rec.get("source_fingerprint", "")),
                                                                 c.source.fingerprint)
            if c.flags.drift:
                out.append(Finding(addr, "copy-changed", c.reason + ("; the source was rebuilt since the copy too"
                                                                     if source_changed else "")))
            elif source_changed:
                out.append(Finding(addr, "source-rebuilt", c.reason))
            else:
                out.append(Finding(addr, "copy-changed", c.reason))
        elif action is Action.UPDATE:  # a CU /defaults key, or a Language project's training/deployment
            out.append(Finding(addr, "copy-changed" if c.flags.drift else "out-of-date", c.reason))
        elif action is Action.DELETE or (action is Action.NO_OP and rec is not None and c.warnings
                                         and any(w.startswith("orphaned copy") for w in c.warnings)):
            out.append(Finding(addr, "source-gone", c.reason))
        if rec is not None and action is not Action.DELETE:
            for role in ("source", "target"):
                was = rec.get(f"{role}_encryption")
                res = plan.resources.get(rec[f"{role}_resource"])
                now = res["encryption"] if res else None
                if was and now and was != now:
                    out.append(Finding(addr, "encryption-changed",
                                       f"the {role} {rec[f'{role}_resource']!r} was {was} when the copy was made and "
                                       f"is now {now}"))
    out.extend(Finding("(plan)", "error", e) for e in plan.errors
               if not any(e.startswith(c.address + ":") for c in plan.changes))
    return out
