"""The saved plan: canonical JSON, its own digest, and the checks that refuse a tampered or foreign plan.

The file boundary of the typed plan (drplan.plan.model): ``seal`` and ``save_plan`` take a :class:`Plan` and
serialise it; ``load_plan`` checks the raw JSON (format, digest, schema) and returns a :class:`Plan`."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from drplan.errors import IncompatiblePlanError, PlanFileError, PlanTamperedError, shorten
from drplan.fsutil import MAX_PLAN_BYTES, atomic_write_chunks, read_limited, readable_json
from drplan.plan.model import PLAN_FORMAT_VERSION, Change, Plan
from drplan.schemas import first_error


def compute_digest(plan: dict[str, Any]) -> str:
    """The digest of a plan document: sha256 over ``canonical_json`` of everything but ``digest``; streamed, so the
    canonical text of a large plan (70 MB at 60,000 changes) never exists whole (issue 18)."""
    hasher = hashlib.sha256()
    for piece in _canonical_pieces({k: v for k, v in plan.items() if k != "digest"}):
        hasher.update(piece)
    return "sha256:" + hasher.hexdigest()


#: Changes converted and encoded per call of the C encoder: large enough that the per-call overhead vanishes, small
#: enough that a batch's dicts and text stay a few MB however large the plan (issue 18).
_BATCH = 1000
#: The same encoders as ``fsutil.canonical_json`` and ``fsutil.readable_json`` (tests/plan/test_planfile.py proves
#: the streamed bytes equal theirs).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_COMPACT = json.JSONEncoder(sort_keys=True, separators=(", ", ": "), ensure_ascii=False)


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


def _canonical_pieces(doc: dict[str, Any], changes: list[Change] | None = None) -> Iterator[bytes]:
    """``canonical_json(doc)`` in pieces (keys sorted, compact, as the C encoder writes an object); a list value of
    more than ``_BATCH`` items is encoded ``_BATCH`` items at a time (a list's canonical text is its items' joined by
    ","). ``changes`` given: the typed changes are the value of ``"changes"``, converted one batch at a time, so only
    one batch of change dicts exists at once."""
    keys = sorted([*doc, "changes"] if changes is not None else doc)
    for i, key in enumerate(keys):
        yield (("{" if i == 0 else ",") + _CANONICAL.encode(key) + ":").encode("utf-8")
        value: Any = changes if changes is not None and key == "changes" else doc[key]
        if not isinstance(value, list) or (len(value) <= _BATCH and value is not changes):
            yield _CANONICAL.encode(value).encode("utf-8")
            continue
        yield b"["
        for start in range(0, len(value), _BATCH):
            batch = value[start:start + _BATCH]
            text = _CANONICAL.encode([c.to_dict() for c in batch] if value is changes else batch)
            yield (("," if start else "") + text[1:-1]).encode("utf-8")
        yield b"]"
    if not keys:
        yield b"{"
    yield b"}"


def seal(plan: Plan) -> Plan:
    """Set the plan's digest (sha256 over its canonical JSON, ``compute_digest``'s definition) and return the plan.

    The digest is streamed (``_canonical_pieces``): a plan of 60,000 changes is never one document or one string in
    memory (issue 18: 470 MB peak RSS at 20,000 models x 3 targets before).

    Schema: seal checks the plan's header and one change of each kind and action against schemas/plan.schema.json,
    not every change. Why that is safe: the changes were built by our own typed code (drplan.plan.model), whose
    to_dict fixes every key and type the schema asks for; the family-specific dicts are the only free-form parts and
    a family writes them the same way for every change of one kind and action, which the spot check samples. The full
    check runs where the input is untrusted: ``load_plan`` (show, apply) refuses an off-schema file, tampered or not.
    ``tests/plan/test_planfile.py`` proves that every family's typed plan passes the full check. The full check
    costs 12-46 us a change (0.7 s in-process at 60,000 changes, more under the CLI's load) on every plan made."""
    with _gc_paused():
        plan.digest = None
        hasher = hashlib.sha256()
        head = plan.header_dict()
        head.pop("digest", None)
        for piece in _canonical_pieces(head, plan.changes):
            hasher.update(piece)
        digest = "sha256:" + hasher.hexdigest()
        sample: dict[tuple[str, tuple[str, ...]], dict[str, Any]] = {}
        for c in plan.changes:
            shape = (c.kind.value, tuple(c.actions))
            if shape not in sample:
                sample[shape] = c.to_dict()
        doc = plan.header_dict()
        doc["changes"] = list(sample.values())
        doc["digest"] = digest
        try:
            _check_schema(doc, "the new plan")
        except IncompatiblePlanError:  # a bug of ours: name the real change, not its place in the sample
            full = plan.to_dict()
            full["digest"] = digest
            _check_schema(full, "the new plan")
            raise
    plan.digest = digest
    return plan


def _check_schema(plan: Any, where: str) -> None:
    try:
        err = first_error("plan.schema.json", plan)
    except RecursionError:
        err = "a value nested too deeply"
    if err:
        raise IncompatiblePlanError(f"{where}: not a valid drplan plan at {shorten(err, 400)}")


def _readable_chunks(plan: Plan) -> Iterator[str]:
    """``fsutil.readable_json(plan.to_dict())``, in pieces: each header key laid out by readable_json itself, the
    changes one line each, ``_BATCH`` at a time."""
    head = plan.header_dict()
    keys = sorted([*head, "changes"])
    changes = plan.changes
    n = len(changes)
    yield "{\n"
    for i, key in enumerate(keys):
        comma = "," if i < len(keys) - 1 else ""
        if key != "changes":
            # readable_json of a one-key object is "{\n" + that key's lines + "\n}\n"
            yield readable_json({key: head[key]}).decode("utf-8")[2:-3] + comma + "\n"
        elif not n:
            yield '  "changes": []' + comma + "\n"
        else:
            yield '  "changes": [\n'
            for start in range(0, n, _BATCH):
                yield "".join(f"    {_COMPACT.encode(c.to_dict())}{',' if start + j < n - 1 else ''}\n"
                              for j, c in enumerate(changes[start:start + _BATCH]))
            yield "  ]" + comma + "\n"
    yield "}\n"


def _atomic_write_chunks(path: Path, chunks: Iterable[str]) -> None:
    """``fsutil.atomic_write_chunks`` for text made in pieces (temp file beside ``path`` named with this host and
    process, so the next write removes one a kill left, issue 19; fsync; rename; fsync the directory): a plan file
    of 70 MB is written without first joining it into one string and one bytes object (issue 18)."""
    atomic_write_chunks(path, (chunk.encode("utf-8") for chunk in chunks))


def save_plan(plan: Plan, path: str | Path) -> None:
    """Write the plan as readable JSON (``fsutil.readable_json``'s layout; temporary file, fsync, rename), streamed
    change by change."""
    if "\0" in str(path):  # checked first: a ValueError from the streamed encoding is a bug, not a path problem
        raise PlanFileError(f"{shorten(str(path))}: cannot write the plan: the path holds a NUL character")
    try:
        with _gc_paused():
            _atomic_write_chunks(Path(path), _readable_chunks(plan))
    except OSError as exc:
        raise PlanFileError(f"{path}: cannot write the plan: {exc.strerror or exc}") from None


def load_plan(path: str | Path) -> Plan:
    """Read a plan and refuse it if it is not JSON, of an unknown format, off-schema, or its digest does not match."""
    p = Path(path)
    with _gc_paused():
        return _parse_plan(p)


def _read_plan(p: Path) -> str:
    """The plan file's text, decoded as ``json.loads`` decodes bytes (UTF-8/16/32 by detection); the bytes are not
    kept while the text is parsed (70 MB each at 60,000 changes). A decoding error is a ValueError: not JSON."""
    try:
        raw = read_limited(p, MAX_PLAN_BYTES)
    except FileNotFoundError:
        raise PlanFileError(f"{p}: plan file not found") from None
    except OSError as exc:
        raise PlanFileError(f"{shorten(str(p))}: cannot read: {exc.strerror}") from None
    return raw.decode(json.detect_encoding(raw), "surrogatepass")


def _parse_plan(p: Path) -> Plan:
    try:
        plan = json.loads(_read_plan(p))  # the text is dropped once parsed
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
    try:
        actual = compute_digest(plan)
    except UnicodeEncodeError:  # a lone surrogate (\ud800) parses, but no drplan plan holds one
        raise IncompatiblePlanError(f"{p}: not a drplan plan (a string holds invalid Unicode)") from None
    if digest != actual:
        raise PlanTamperedError(
            f"{p}: the plan's digest does not match its contents: it was edited after it was made; "
            "run drplan plan again and review the new plan"
        )
    _check_schema(plan, str(p))
    return Plan.from_dict(plan, consume=True)


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
