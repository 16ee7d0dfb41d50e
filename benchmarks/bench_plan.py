"""Plan benchmark (issue 18): N source models x 3 targets, 20 ms latency per request, at several sizes.

For each size it starts the emulator with N models on the source account, runs the real CLI
``drplan plan dr.toml -o plan.json`` ``--runs`` times and records, per run, the wall time, the drplan process's CPU
time and peak RSS (its own rusage, from ``os.wait4``), and the emulator's request counters. It then times the two
file boundaries a 3N-change plan meets: ``drplan show plan.json`` and the stale-plan check of ``drplan apply
plan.json`` (load the plan, verify its digest and schema, take the lock, load a 3N-record state, refuse: the state
appeared after the plan was made).

The paging lower bound is the longest chain of sequential page requests any one resource needs, times the latency:
pages of one list must be fetched one after another (each nextLink comes from the previous page), resources in
parallel. ``ratio`` is the median wall time (process start to exit, so start-up included) over that bound.
``cpu_us_per_model`` is the drplan process's CPU time per source model: flat across sizes means linear cost.

Run (on an otherwise idle machine; ``--plot`` needs the ``bench`` extra: pip install -e '.[bench]'):

    python3 benchmarks/bench_plan.py --sizes 200,2000,20000 --runs 3 --plot

Writes ``benchmarks/bench_plan.md`` (the table) and, with ``--plot``, ``benchmarks/bench_plan.png``; prints JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _common import admin, emulator_config, env_with_keys, spec, start_emulator  # puts the checkout on sys.path

from drplan.errors import EXIT_STALE_PLAN
from drplan.fsutil import atomic_write_bytes, readable_json
from drplan.spec.load import load_spec
from drplan.state.model import State

HERE = Path(__file__).resolve().parent
TARGETS = ["t1", "t2", "t3"]


def run_measured(args: list[str], cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run ``python -m drplan ARGS``; its wall time, exit code, CPU seconds and peak RSS (MB) from its own rusage."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "drplan", *args], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"wall": wall, "code": proc.returncode, "cpu": usage.ru_utime + usage.ru_stime,
            "rss_mb": usage.ru_maxrss / 1024.0, "stderr": err.decode("utf-8", "replace")}


def stale_state(path: Path, n_records: int) -> None:
    """A valid state of ``n_records`` records (what a tenant with that many copies holds), written where the spec's
    state lives: the plan was made with no state, so apply must refuse it as stale after reading it all."""
    state = State(lineage="11111111-2222-3333-4444-555555555555", serial=3)
    for i in range(n_records):
        model_id = f"model-{i // len(TARGETS):05d}"
        target = TARGETS[i % len(TARGETS)]
        state.resources[f"bench/{target}/document-model/{model_id}"] = {
            "rule": "bench", "kind": "document-model", "source_resource": "src", "source_id": model_id,
            "source_fingerprint": "created=2024-01-01T00:00:00.000Z;modified=2024-01-01T00:00:00.000Z",
            "target_resource": target, "target_id": model_id, "copied_at": "2026-01-01T00:00:00+00:00",
            "lineage": {"state": state.lineage, "source_resource": "src", "source_id": model_id,
                        "source_version": "created=2024-01-01T00:00:00.000Z;modified=2024-01-01T00:00:00.000Z"},
        }
    atomic_write_bytes(path, readable_json(state.to_dict()))


def paging_floor(endpoint: str) -> float:
    """Seconds a bare sequential loop (httpx, one connection, nothing parsed but nextLink) takes to walk the source's
    model list on this emulator: the paging chain as this harness answers it, latency plus the emulator's own time
    per page. What drplan adds on top of this is drplan's."""
    url: str | None = f"{endpoint}/documentintelligence/documentModels?api-version=2024-11-30"
    start = time.perf_counter()
    with httpx.Client(headers={"Ocp-Apim-Subscription-Key": "bench-key-src"}, timeout=60) as client:
        while url:
            response = client.get(url)
            response.raise_for_status()
            url = response.json().get("nextLink")
    return time.perf_counter() - start


def bench_size(models: int, runs: int, latency_ms: float, page_size: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cfg = work / "emulator.toml"
        cfg.write_text(emulator_config(models=models, targets=TARGETS, settings={"page_size": page_size},
                                       faults={"latency_ms": latency_ms}))
        with start_emulator(cfg) as emu:
            (work / "dr.toml").write_text(spec(emu, TARGETS))
            env = env_with_keys(TARGETS)
            plans, startups = [], []
            for _ in range(runs):
                admin(emu.url, "POST", "reset")
                r = run_measured(["plan", "dr.toml", "-o", "plan.json"], work, env)
                assert r["code"] == 0, r["stderr"]
                plans.append(r)
                startups.append(run_measured(["--version"], work, env)["wall"])
            counters = admin(emu.url, "GET", "counters")
            floor = paging_floor(emu.account_url("src"))
            with open(work / "plan.json", "rb") as fh:
                changes = sum(1 for line in fh if line.startswith(b'    {"actions"'))
            show = run_measured(["show", "plan.json"], work, env)
            assert show["code"] == 0, show["stderr"]
            state_path = load_spec(work / "dr.toml", check_env=False).state.path
            assert state_path is not None
            stale_state(state_path, changes)
            stale = run_measured(["apply", "plan.json"], work, env)
            assert stale["code"] == EXIT_STALE_PLAN, (stale["code"], stale["stderr"][-500:])
            state_mb = state_path.stat().st_size / 1e6
            plan_mb = (work / "plan.json").stat().st_size / 1e6
    requests = {acct: sum(routes.values()) for acct, routes in counters["requests"].items()}
    pages_src = math.ceil(models / page_size) + 1  # + the prebuilt models spill at most one page
    bound = pages_src * latency_ms / 1000
    walls = sorted(r["wall"] for r in plans)
    wall = statistics.median(walls)
    startup = statistics.median(startups)
    cpu = statistics.median(r["cpu"] for r in plans)
    return {
        "models": models, "targets": len(TARGETS), "changes": changes, "runs": runs,
        "latency_ms": latency_ms, "page_size": page_size,
        "wall_s": round(wall, 3), "wall_min_s": round(walls[0], 3), "wall_max_s": round(walls[-1], 3),
        "startup_s": round(startup, 3), "paging_lower_bound_s": round(bound, 3),
        "ratio": round(wall / bound, 2), "ratio_excl_startup": round((wall - startup) / bound, 2),
        "paging_floor_s": round(floor, 3), "floor_ratio": round(floor / bound, 2),
        "wall_over_floor": round(wall / floor, 2),
        "cpu_s": round(cpu, 3), "cpu_us_per_model": round((cpu * 1e6) / models),
        "over_bound_ms_per_model": round((wall - startup - bound) * 1e3 / models, 3),
        "peak_rss_mb": round(max(r["rss_mb"] for r in plans), 1),
        "requests": requests, "requests_total": sum(requests.values()),
        "plan_file_mb": round(plan_mb, 1), "state_file_mb": round(state_mb, 1),
        "show_s": round(show["wall"], 3), "show_rss_mb": round(show["rss_mb"], 1),
        "stale_check_s": round(stale["wall"], 3), "stale_check_rss_mb": round(stale["rss_mb"], 1),
    }


def table(results: list[dict[str, Any]]) -> str:
    head = ("| models × targets | changes | wall (median, min–max) | paging bound | wall / bound | excl. start-up "
            "| bare paging loop | wall / loop | CPU | CPU / model (marginal) | peak RSS | requests | `show` | stale-plan check |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    rows = "".join(
        f"| {r['models']:,} × {r['targets']} | {r['changes']:,} | {r['wall_s']:.2f} s ({r['wall_min_s']:.2f}–"
        f"{r['wall_max_s']:.2f}) | {r['paging_lower_bound_s']:.2f} s | **{r['ratio']:.2f} ×** | "
        f"{r['ratio_excl_startup']:.2f} × | {r['paging_floor_s']:.2f} s ({r['floor_ratio']:.2f} ×) | "
        f"{r['wall_over_floor']:.2f} × | {r['cpu_s']:.2f} s | {r['cpu_us_per_model']} µs ({r.get('marginal_cpu_us_per_model', '–')} µs) | "
        f"**{r['peak_rss_mb']:.0f} MB** | {r['requests_total']} | {r['show_s']:.2f} s, {r['show_rss_mb']:.0f} MB | "
        f"{r['stale_check_s']:.2f} s, {r['stale_check_rss_mb']:.0f} MB |\n"
        for r in results)
    r0 = results[0]
    note = (f"\n{r0['latency_ms']:g} ms latency per request, page size {r0['page_size']}, {r0['runs']} run(s) per "
            "size; wall is process start to exit (start-up included); CPU and peak RSS are the drplan process's own "
            "(rusage); `show` and the stale-plan check (`apply plan.json` against a state of one record per change, "
            f"refused with exit code {EXIT_STALE_PLAN}) are one run each. CPU / model: the drplan process's CPU time "
            "per source model; marginal: the extra CPU time per extra model from the size before (flat = linear). Bare paging "
            "loop: a sequential httpx loop walking the same source list on the same emulator (latency plus the "
            "emulator's own time per page; its ratio to the bound in brackets).\n")
    return head + rows + note


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["models"] for r in results]
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(14, 4.2))
    ax1.plot(sizes, [r["ratio"] for r in results], "o-", label="wall / paging bound")
    ax1.plot(sizes, [r["ratio_excl_startup"] for r in results], "s--", label="excluding start-up")
    ax1.plot(sizes, [r["floor_ratio"] for r in results], "x:", color="grey", label="bare paging loop / bound")
    ax1.axhline(1.5, color="tab:orange", linestyle=":", label="target at 2,000 (1.5 ×)")
    ax1.axhline(1.3, color="tab:red", linestyle=":", label="target at 20,000 (1.3 ×)")
    ax1.axhline(1.0, color="grey", linewidth=0.8)
    ax1.set_title("plan wall time / paging lower bound")
    ax2.plot(sizes, [r["peak_rss_mb"] for r in results], "o-", label="plan")
    ax2.plot(sizes, [r["show_rss_mb"] for r in results], "^--", label="show plan.json")
    ax2.plot(sizes, [r["stale_check_rss_mb"] for r in results], "v--", label="apply: stale-plan check")
    ax2.axhline(300, color="tab:red", linestyle=":", label="target (300 MB)")
    ax2.set_title("peak RSS of the drplan process (MB, log scale)")
    ax2.set_yscale("log")
    ticks = [50, 100, 200, 300, 500]
    ax2.set_yticks(ticks, labels=[str(t) for t in ticks])
    ax3.plot(sizes, [r["cpu_us_per_model"] for r in results], "o-", label="CPU µs per source model")
    marginal = [r for r in results if "marginal_cpu_us_per_model" in r]
    ax3.plot([r["models"] for r in marginal], [r["marginal_cpu_us_per_model"] for r in marginal], "s--",
             label="marginal (from the size before)")
    ax3.set_ylim(bottom=0)
    ax3.set_title("cost per model (flat = linear)")
    for ax in (ax1, ax2, ax3):
        ax.set_xscale("log")
        ax.set_xticks(sizes, labels=[f"{n:,}" for n in sizes])
        ax.minorticks_off()
        ax.set_xlabel("source models (× 3 targets)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    ax1.set_ylim(bottom=0)
    r0 = results[0]
    fig.suptitle(f"drplan plan: {r0['latency_ms']:g} ms per request, page size {r0['page_size']}, "
                 f"median of {r0['runs']} run(s)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="200,2000,20000", help="source model counts, comma-separated")
    ap.add_argument("--models", type=int, help="one size (the old option; same as --sizes N)")
    ap.add_argument("--runs", type=int, default=3, help="plan runs per size (median reported)")
    ap.add_argument("--latency-ms", type=float, default=20)
    ap.add_argument("--page-size", type=int, default=50)
    ap.add_argument("--plot", action="store_true", help="write benchmarks/bench_plan.png (needs matplotlib)")
    ap.add_argument("--out", type=Path, default=HERE, help="where bench_plan.md / .png go (default: benchmarks/)")
    args = ap.parse_args()
    sizes = [args.models] if args.models else [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    results = []
    for n in sizes:
        results.append(bench_size(n, args.runs, args.latency_ms, args.page_size))
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    for before, after in zip(results, results[1:], strict=False):
        after["marginal_cpu_us_per_model"] = round((after["cpu_s"] - before["cpu_s"]) * 1e6
                                                   / (after["models"] - before["models"]))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_plan.md").write_text(table(results), encoding="utf-8")
    if args.plot:
        plot(results, args.out / "bench_plan.png")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
