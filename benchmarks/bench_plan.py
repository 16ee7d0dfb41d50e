"""Plan benchmark: 2,000 source models x 3 targets, 20 ms latency per request.

Target (issue 3): wall time within 2x of the paging lower bound, request count reported, peak memory < 200 MB.
The paging lower bound is the longest chain of sequential page requests any one resource needs, times the latency:
pages of one list must be fetched one after another (each nextLink comes from the previous page), resources in
parallel. Run: python benchmarks/bench_plan.py [--models 2000] [--latency-ms 20] [--page-size 50]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

from _common import admin, emulator_config, env_with_keys, peak_child_rss_mb, run_cli, spec, start_emulator


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=int, default=2000)
    ap.add_argument("--latency-ms", type=float, default=20)
    ap.add_argument("--page-size", type=int, default=50)
    args = ap.parse_args()
    targets = ["t1", "t2", "t3"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cfg = work / "emulator.toml"
        cfg.write_text(emulator_config(models=args.models, targets=targets,
                                       settings={"page_size": args.page_size},
                                       faults={"latency_ms": args.latency_ms}))
        with start_emulator(cfg) as emu:
            (work / "dr.toml").write_text(spec(emu, targets))
            env = env_with_keys(targets)
            admin(emu.url, "POST", "reset")
            wall, code, out, err = run_cli(["plan", "dr.toml", "-o", "plan.json"], work, env)
            assert code == 0, err
            peak_mb = peak_child_rss_mb()  # the only child that has exited yet is this drplan process
            counters = admin(emu.url, "GET", "counters")
            # The same command with nothing to refresh measures the fixed cost (interpreter start, imports).
            start = time.perf_counter()
            run_cli(["--version"], work, env)
            startup = time.perf_counter() - start
        plan = json.loads((work / "plan.json").read_text())
    requests = {acct: sum(routes.values()) for acct, routes in counters["requests"].items()}
    pages_src = math.ceil(args.models / args.page_size) + 1  # + the models' prebuilt entries spill at most one page
    lower_bound = pages_src * args.latency_ms / 1000
    result = {
        "models": args.models, "targets": len(targets), "latency_ms": args.latency_ms, "page_size": args.page_size,
        "changes": len(plan["changes"]), "wall_s": round(wall, 3), "startup_s": round(startup, 3),
        "wall_minus_startup_s": round(wall - startup, 3),
        "paging_lower_bound_s": round(lower_bound, 3),
        "ratio_to_bound": round((wall - startup) / lower_bound, 2), "ratio_to_bound_incl_startup": round(wall / lower_bound, 2),
        "requests": requests, "requests_total": sum(requests.values()),
        "peak_rss_mb": round(peak_mb, 1),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
