"""The saved plan: canonical JSON, its own digest, and the checks that refuse a tampered or foreign plan.

The file boundary of the typed plan (drplan.plan.model): ``seal`` and ``save_plan`` take a :class:`Plan` and
serialise it; ``load_plan`` checks the raw JSON (format, digest, schema) and returns a :class:`Plan`."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from drplan.errors import IncompatiblePlanError, PlanFileError, PlanTamperedError, shorten
from drplan.fsutil import MAX_PLAN_BYTES, atomic_write_bytes, canonical_json, read_limited, readable_json
from drplan.plan.model import PLAN_FORMAT_VERSION, Plan
from drplan.schemas import first_error


def compute_digest(plan: dict[str, Any]) -> str:
    body = {k: v for k, v in plan.items() if k != "digest"}
    return "sha256:" + hashlib.sha256(canonical_json(body)).hexdigest()


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a plan is converted to or from JSON: a plan of 60,000 changes is a
    quarter of a million small acyclic containers, and the collections their allocation would trigger (each one
    walking every container still alive) cost more than the conversion itself (issue 14). Nothing is lost: the
    containers stay tracked and the next collection after this sees them."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def seal(plan: Plan) -> Plan:
    """Set the plan's digest (over its canonical JSON), after checking it against schemas/plan.schema.json; return
    the plan. The JSON document stays on the plan (``Plan.sealed_doc``) for ``save_plan``."""
    with _gc_paused():
        plan.sealed_doc = None
        doc = plan.to_dict()
        doc.pop("digest", None)
        doc["digest"] = compute_digest(doc)
        _check_schema(doc, "the new plan")
    plan.digest = doc["digest"]
    plan.sealed_doc = doc
    return plan


def _check_schema(plan: Any, where: str) -> None:
    try:
        err = first_error("plan.schema.json", plan)
    except RecursionError:
        err = "a value nested too deeply"
    if err:
        raise IncompatiblePlanError(f"{where}: not a valid drplan plan at {shorten(err, 400)}")


def save_plan(plan: Plan, path: str | Path) -> None:
    """Write the plan as readable JSON (temporary file, fsync, rename). A plan ``seal`` made is written from the
    document seal digested, not converted again; the document is dropped afterwards (it is as large as the plan)."""
    doc = plan.sealed_doc
    with _gc_paused():
        if doc is None or doc.get("digest") != plan.digest:
            doc = plan.to_dict()
        data = readable_json(doc)
    plan.sealed_doc = None
    del doc
    try:
        atomic_write_bytes(Path(path), data)
    except OSError as exc:
        raise PlanFileError(f"{path}: cannot write the plan: {exc.strerror or exc}") from None
    except ValueError:  # a NUL in the path
        raise PlanFileError(f"{shorten(str(path))}: cannot write the plan: the path holds a NUL character") from None


def load_plan(path: str | Path) -> Plan:
    """Read a plan and refuse it if it is not JSON, of an unknown format, off-schema, or its digest does not match."""
    p = Path(path)
    try:
        raw = read_limited(p, MAX_PLAN_BYTES)
    except FileNotFoundError:
        raise PlanFileError(f"{p}: plan file not found") from None
    except OSError as exc:
        raise PlanFileError(f"{shorten(str(p))}: cannot read: {exc.strerror}") from None
    with _gc_paused():
        return _parse_plan(p, raw)


def _parse_plan(p: Path, raw: bytes) -> Plan:
    try:
        plan = json.loads(raw)
    except RecursionError:
        raise IncompatiblePlanError(f"{p}: not a drplan plan (JSON nested too deeply)") from None
    except ValueError:
        raise IncompatiblePlanError(f"{p}: not a drplan plan (not JSON); did you pass the spec? use drplan apply SPEC --auto-approve") from None
    if not isinstance(plan, dict) or "format_version" not in plan:
        raise IncompatiblePlanError(f"{p}: not a drplan plan (no format_version)")
    if str(plan["format_version"]).split(".")[0] != PLAN_FORMAT_VERSION.split(".")[0]:
        raise IncompatiblePlanError(
            f"{p}: plan format_version {shorten(str(plan['format_version']), 40)} is not supported (this drplan reads "
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


def refuse_overwrite(out: str | Path, protected: dict[str, Path]) -> None:
    """``-o``: a PlanFileError when ``out`` is one of ``protected`` (what -> path: the spec the plan is made from, the
    state file), whether named the same way or not (a symlink, a relative path)."""
    target = Path(out)
    for what, other in protected.items():
        if _same_file(target, Path(other)):
            raise PlanFileError(f"{out}: refusing to write the plan over {what} ({other}); choose another -o path, "
                                "e.g. plan.json")


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return a.samefile(b)
        return a.resolve() == b.resolve()
    except (OSError, ValueError, RuntimeError):
        return False


def looks_like_plan(path: str | Path) -> bool | None:
    """Whether ``path`` holds a plan rather than a spec, judged by content, never by the file's suffix: a plan is a
    JSON object, and no TOML document starts with "{". None when the file cannot be read."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except (OSError, ValueError):
        return None
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")
