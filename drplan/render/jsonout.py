"""Machine-readable output: the plan itself (it is already public JSON) and one JSON event per line."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from drplan.redact import redact

if TYPE_CHECKING:  # event_line is on the start-up path of every --json command (drplan version --json, issue 18)
    from drplan.plan.model import Plan


def render_plan_json(plan: Plan) -> str:
    return json.dumps(plan.to_dict(), indent=2, sort_keys=True) + "\n"


def event_line(event: dict[str, Any]) -> str:
    doc = {"timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "level": "info", **event}
    return redact(json.dumps(doc, sort_keys=True))
