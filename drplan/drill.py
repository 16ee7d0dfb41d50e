"""``drplan drill SPEC``: prove each DR copy answers like its source (issue 16). Read-only: it only analyzes.

For every copy the state records (of the spec's rules; ``--target REGION`` narrows), the copy's family sends one
sample to the inference API of the copy and of its source, concurrently, and normalises both answers
(``Family.probe``); this module compares them and never knows which family it drives:

* **ready**: the copy answered, exactly like its source (document types, fields and values, entities);
* **degraded**: the copy answered, differently (the aspects that differ are named);
* **failed**: the copy did not answer: an error, a missing model or deployment, unreachable, throttled beyond the
  retry budget, past the per-copy time limit, a missing key, or a sample its API cannot take.

When the *source* does not answer (its region is down, its key is missing), the copy is compared with what the state
recorded instead: the copy's own fingerprint as seen right after the copy (or, for content-addressed families, the
source's), read live from the target; the result says so. Each result carries both latencies and the recovery point:
when the copy was taken and whether the source has changed since (its live fingerprint against the recorded one).

Exit codes (``exit_code``): 0 every copy ready, 2 some degraded (none failed), 1 some failed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from drplan.azure.client import AzureClient
from drplan.errors import EXIT_CHANGES, EXIT_ERROR, EXIT_OK, DrplanError
from drplan.families import family_of_kind
from drplan.families.base import Connection
from drplan.redact import redact
from drplan.refresh import connections
from drplan.spec.model import AssetKind, Spec

READY, DEGRADED, FAILED = "ready", "degraded", "failed"
EXIT_DEGRADED = EXIT_CHANGES  # 2
#: Default seconds a copy's drill may take, both sides and their polling included.
DEFAULT_TIMEOUT = 120.0


@dataclass
class CopyDrill:
    """One copy's drill result (``--format json`` prints these, one per copy, sorted by address)."""

    address: str
    rule: str
    kind: str
    source: dict[str, Any]
    target: dict[str, Any]
    verdict: str = FAILED
    reason: str = ""
    compared_with: str = "source"  # "source" (live answers) | "recorded fingerprint" (the source did not answer)
    differences: list[str] = field(default_factory=list)
    latency_ms: dict[str, int | None] = field(default_factory=lambda: {"source": None, "target": None})
    copied_at: str | None = None
    recovery_point_age_seconds: int | None = None
    source_changed_since_copy: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sample_files(sample: str | None) -> list[Path]:
    """``--sample FILE|DIR`` as a list of files (a directory: its files, sorted); [] for the built-in samples."""
    if not sample:
        return []
    path = Path(sample)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file())
        if not files:
            raise DrplanError(f"--sample {sample}: the directory holds no files")
        return files
    if not path.is_file():
        raise DrplanError(f"--sample {sample}: no such file or directory")
    return [path]


def _age(copied_at: str | None) -> int | None:
    if not copied_at:
        return None
    try:
        then = datetime.fromisoformat(copied_at.replace("Z", "+00:00"))
    except ValueError:
        return None
    if then.tzinfo is None:
        then = then.replace(tzinfo=timezone.utc)
    return max(0, int((datetime.now(timezone.utc) - then).total_seconds()))


def _message(exc: BaseException) -> str:
    if isinstance(exc, DrplanError):
        return str(exc)
    if isinstance(exc, asyncio.TimeoutError):
        return "no answer within the drill's time limit"
    if isinstance(exc, httpx.HTTPError):
        return f"unreachable ({exc.__class__.__name__}: {exc})"
    return f"{exc.__class__.__name__}: {exc}"


def differences(source: Mapping[str, Any], target: Mapping[str, Any], limit: int = 10) -> list[str]:
    """The aspects two normalised answers disagree on, readable: ``field Total: source 12.5, copy 9.1``."""
    out = []
    for key in sorted(set(source) | set(target)):
        if source.get(key) != target.get(key):
            out.append(f"{key}: source {source.get(key, '(absent)')!r}, copy {target.get(key, '(absent)')!r}")
    return out[:limit] + ([f"... and {len(out) - limit} more"] if len(out) > limit else [])


async def _timed(coro: Any, timeout: float) -> tuple[Any, BaseException | None, int]:
    started = time.monotonic()
    try:
        value = await asyncio.wait_for(coro, timeout)
        return value, None, int((time.monotonic() - started) * 1000)
    except Exception as exc:  # noqa: BLE001 - every failure is a per-copy result, never a traceback
        return None, exc, int((time.monotonic() - started) * 1000)


async def drill_copy(client: AzureClient, conns: Mapping[str, Connection | DrplanError], address: str,
                     record: Mapping[str, Any], spec: Spec, files: Sequence[Path], *, timeout: float) -> CopyDrill:
    family = family_of_kind(record["kind"])
    kind = AssetKind(record["kind"])
    src_name, tgt_name = record["source_resource"], record["target_resource"]
    src_ids, tgt_ids = family.failover_ids(record)
    result = CopyDrill(address=address, rule=record["rule"], kind=record["kind"],
                       source={"resource": src_name, "region": getattr(spec.resources.get(src_name), "region", ""),
                               "ids": src_ids},
                       target={"resource": tgt_name, "region": getattr(spec.resources.get(tgt_name), "region", ""),
                               "ids": tgt_ids},
                       copied_at=record.get("copied_at"), recovery_point_age_seconds=_age(record.get("copied_at")))
    tgt = conns.get(tgt_name)
    if not isinstance(tgt, Connection):
        result.reason = f"cannot reach the target: {tgt or 'the spec no longer names resource ' + repr(tgt_name)}"
        return result
    try:
        sample = family.drill_sample(kind, files)
    except DrplanError as exc:
        result.reason = str(exc)
        return result
    src = conns.get(src_name)
    src_call = (family.probe(client, src, kind, src_ids, sample, deadline=timeout) if isinstance(src, Connection)
                else None)
    tgt_task = _timed(family.probe(client, tgt, kind, tgt_ids, sample, deadline=timeout), timeout)
    src_task = _timed(src_call, timeout) if src_call is not None else None
    if src_task is not None:
        (tgt_answer, tgt_error, tgt_ms), (src_answer, src_error, src_ms) = await asyncio.gather(tgt_task, src_task)
    else:
        tgt_answer, tgt_error, tgt_ms = await tgt_task
        missing: BaseException = src if isinstance(src, DrplanError) else DrplanError(
            f"the spec no longer names {src_name!r}")
        src_answer, src_error, src_ms = None, missing, None
    result.latency_ms = {"source": src_ms, "target": tgt_ms}
    if tgt_error is not None:
        result.reason = f"the copy did not answer: {_message(tgt_error)}"
        return result
    if src_error is None:
        diff = differences(src_answer, tgt_answer)
        result.verdict, result.differences = (READY, []) if not diff else (DEGRADED, diff)
        result.reason = (f"answers like its source ({sample.name})" if not diff
                         else f"answers, but not like its source ({len(diff)} difference(s) for {sample.name})")
        live = await _fingerprint(client, src, kind, record["source_id"], timeout) if isinstance(src, Connection) else None
        if live is not None:
            result.source_changed_since_copy = live != record.get("source_fingerprint")
            if not result.source_changed_since_copy:
                result.recovery_point_age_seconds = 0  # the copy holds the source's latest version
        return result
    # The source did not answer: compare the copy with what the state recorded.
    result.compared_with = "recorded fingerprint"
    live = await _fingerprint(client, tgt, kind, record["target_id"], timeout)
    expected = record.get("target_fingerprint") or record.get("source_fingerprint")
    why = f"the source did not answer ({_message(src_error)}); compared the copy with the recorded fingerprint only"
    if live is not None and live == expected:
        result.verdict, result.reason = READY, f"answers; {why}: unchanged since the copy"
    else:
        result.verdict = DEGRADED
        result.reason = f"answers; {why}: it differs (recorded {expected}, now {live or 'unreadable'})"
        result.differences = [f"fingerprint: recorded {expected!r}, copy {live!r}"]
    return result


async def _fingerprint(client: AzureClient, conn: Connection, kind: AssetKind, asset_id: str,
                       timeout: float) -> str | None:
    from drplan.families import adapter_for

    try:
        asset = await asyncio.wait_for(adapter_for(client, conn).get(kind, asset_id), timeout)
    except Exception:  # noqa: BLE001 - unknown is an answer here
        return None
    return asset.fingerprint if asset is not None else None


async def run_drill(spec: Spec, *, targets: Sequence[str] = (), parallelism: int = 4, sample: str | None = None,
                    timeout: float = DEFAULT_TIMEOUT,
                    transport: httpx.AsyncBaseTransport | None = None) -> list[CopyDrill]:
    """Drill every copy of the spec's rules the state records (``targets``: region or target resource names)."""
    from drplan.core import _client, state_manager

    files = sample_files(sample)
    state = state_manager(spec.state).load()
    rule_names = {r.name for r in spec.rules}
    records = {a: r for a, r in sorted(state.resources.items())
               if r.get("rule") in rule_names and family_of_kind(r["kind"]).failover_ids(r)[1]}
    if targets:
        wanted = set(targets)
        records = {a: r for a, r in records.items()
                   if r["target_resource"] in wanted
                   or getattr(spec.resources.get(r["target_resource"]), "region", None) in wanted}
        if not records:
            regions = sorted({spec.resources[r["target_resource"]].region for r in state.resources.values()
                              if r.get("rule") in rule_names and r["target_resource"] in spec.resources})
            raise DrplanError(f"--target {' '.join(targets)}: no copy there; the state records copies in: "
                              f"{', '.join(regions) or 'no region (run drplan apply first)'}")
    if not records:
        raise DrplanError(f"{spec.path}: the state records no copy of this spec's rules yet: run drplan apply first")
    names = sorted({r["source_resource"] for r in records.values()} | {r["target_resource"] for r in records.values()})
    conns: dict[str, Connection | DrplanError] = {}
    for name in names:  # one by one: a missing key is that resource's problem, reported on its copies
        if name not in spec.resources:
            continue
        try:
            conns.update(connections({name: spec.resources[name].public()}, where=str(spec.path)))
        except DrplanError as exc:
            conns[name] = exc
    endpoints = [c.endpoint for c in conns.values() if isinstance(c, Connection)]
    gate = asyncio.Semaphore(max(1, parallelism))
    async with _client(transport, spec.per_endpoint_parallelism, endpoints) as client:
        # A drill is bounded: the per-copy time limit also bounds each poll and the retries of each request.
        client.operation_deadline = timeout

        async def one(address: str, record: Mapping[str, Any]) -> CopyDrill:
            async with gate:
                return await drill_copy(client, conns, address, record, spec, files, timeout=timeout)

        results = await asyncio.gather(*(one(a, r) for a, r in records.items()))
    for r in results:
        r.reason = redact(r.reason)
        r.differences = [redact(d) for d in r.differences]
    return list(results)


def exit_code(results: Sequence[CopyDrill]) -> int:
    if any(r.verdict == FAILED for r in results):
        return EXIT_ERROR
    if any(r.verdict == DEGRADED for r in results):
        return EXIT_DEGRADED
    return EXIT_OK


def summary(results: Sequence[CopyDrill]) -> dict[str, int]:
    return {v: sum(r.verdict == v for r in results) for v in (READY, DEGRADED, FAILED)}


def _where(side: Mapping[str, Any]) -> str:
    return f"{side['resource']} ({side['region']})" if side.get("region") else side["resource"]


def render_human(results: Sequence[CopyDrill]) -> str:
    s = summary(results)
    lines = [f"Drill: {len(results)} cop{'y' if len(results) == 1 else 'ies'}: {s[READY]} ready, "
             f"{s[DEGRADED]} degraded, {s[FAILED]} failed."]
    for r in results:
        lat = r.latency_ms
        timing = f"target {lat['target']} ms" + (f", source {lat['source']} ms" if lat.get("source") is not None else "")
        rpo = "recovery point: " + ("current" if r.recovery_point_age_seconds == 0 else
                                    f"copied {r.copied_at}" + (" (source changed since)"
                                                               if r.source_changed_since_copy else ""))
        lines.append(f"  {r.verdict.upper():<9} {r.address}  [{_where(r.source)} -> {_where(r.target)}; {timing}; "
                     f"{rpo}]")
        lines.append(f"            {r.reason}")
        lines.extend(f"            ~ {d}" for d in r.differences)
    return "\n".join(lines) + "\n"


def render_markdown(results: Sequence[CopyDrill]) -> str:
    s = summary(results)
    out = [f"## DR drill: {s[READY]} ready, {s[DEGRADED]} degraded, {s[FAILED]} failed", "",
           "| verdict | copy | source → target | latency (target / source) | recovery point | details |",
           "|---|---|---|---|---|---|"]
    for r in results:
        lat = r.latency_ms
        rpo = "current" if r.recovery_point_age_seconds == 0 else f"{r.copied_at}"
        details = "; ".join([r.reason, *r.differences]).replace("|", "\\|")
        out.append(f"| {r.verdict} | `{r.address}` | {_where(r.source)} → {_where(r.target)} | "
                   f"{lat['target']} ms / {lat['source'] if lat['source'] is not None else '–'} ms | {rpo} | {details} |")
    return "\n".join(out) + "\n"
