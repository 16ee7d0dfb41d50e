"""The saved plan: canonical JSON, its own digest, and the checks that refuse a tampered or foreign plan.

The file boundary of the typed plan (drplan.plan.model): ``seal`` and ``save_plan`` take a :class:`Plan` and
serialise it; ``load_plan`` checks the raw JSON (format, digest, schema) and returns a :class:`Plan`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from drplan.errors import IncompatiblePlanError, PlanFileError, PlanTamperedError
from drplan.fsutil import atomic_write_bytes, canonical_json, readable_json
from drplan.plan.model import PLAN_FORMAT_VERSION, Plan
from drplan.schemas import first_error


def compute_digest(plan: dict[str, Any]) -> str:
    body = {k: v for k, v in plan.items() if k != "digest"}
    return "sha256:" + hashlib.sha256(canonical_json(body)).hexdigest()


def seal(plan: Plan) -> Plan:
    """Set the plan's digest (over its canonical JSON), after checking it against schemas/plan.schema.json; return
    the plan."""
    doc = plan.to_dict()
    doc.pop("digest", None)
    doc["digest"] = compute_digest(doc)
    _check_schema(doc, "the new plan")
    plan.digest = doc["digest"]
    return plan


def _check_schema(plan: Any, where: str) -> None:
    err = first_error("plan.schema.json", plan)
    if err:
        raise IncompatiblePlanError(f"{where}: not a valid drplan plan at {err}")


def save_plan(plan: Plan, path: str | Path) -> None:
    try:
        atomic_write_bytes(Path(path), readable_json(plan.to_dict()))
    except OSError as exc:
        raise PlanFileError(f"{path}: cannot write the plan: {exc.strerror}") from None


def load_plan(path: str | Path) -> Plan:
    """Read a plan and refuse it if it is not JSON, of an unknown format, off-schema, or its digest does not match."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise PlanFileError(f"{p}: plan file not found") from None
    except OSError as exc:
        raise PlanFileError(f"{p}: cannot read: {exc.strerror}") from None
    try:
        plan = json.loads(raw)
    except ValueError:
        raise IncompatiblePlanError(f"{p}: not a drplan plan (not JSON); did you pass the spec? use drplan apply SPEC --auto-approve") from None
    if not isinstance(plan, dict) or "format_version" not in plan:
        raise IncompatiblePlanError(f"{p}: not a drplan plan (no format_version)")
    if str(plan["format_version"]).split(".")[0] != PLAN_FORMAT_VERSION.split(".")[0]:
        raise IncompatiblePlanError(
            f"{p}: plan format_version {plan['format_version']} is not supported (this drplan reads "
            f"{PLAN_FORMAT_VERSION}); plan again with this drplan version"
        )
    digest = plan.get("digest")
    if digest != compute_digest(plan):
        raise PlanTamperedError(
            f"{p}: the plan's digest does not match its contents: it was edited after it was made; "
            "run drplan plan again and review the new plan"
        )
    _check_schema(plan, str(p))
    return Plan.from_dict(plan)
