"""Start-up benchmark (issue 18): wall time of ``drplan --help`` and ``drplan version`` (target: under 300 ms each),
next to the bare interpreter (``python -c pass``) and a command that loads its module (``drplan validate --help``).

Each command runs ``--runs`` times as a fresh process (after one warm-up run that writes the bytecode caches, as an
installed copy has them); the script prints the median, min and max wall time per command, and the modules that cost
most to import for ``drplan version`` (from ``python -X importtime``, cumulative microseconds).

Run: python benchmarks/bench_startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COMMANDS: dict[str, list[str]] = {
    "python -c pass": ["-c", "pass"],
    "drplan --help": ["-m", "drplan", "--help"],
    "drplan version": ["-m", "drplan", "version"],
    "drplan validate --help": ["-m", "drplan", "validate", "--help"],
}


def env() -> dict[str, str]:
    out = dict(os.environ, PYTHONPATH=str(ROOT))
    # Measure drplan as installed, with bytecode caches: this machine sets PYTHONDONTWRITEBYTECODE=1, which makes
    # every run recompile every module from source (no installed copy pays that).
    out.pop("PYTHONDONTWRITEBYTECODE", None)
    return out


def wall(args: list[str], environ: dict[str, str]) -> float:
    t = time.perf_counter()
    p = subprocess.run([sys.executable, *args], env=environ, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(args)} exited {p.returncode}: {p.stderr[-500:]}")
    return elapsed


def import_costs(args: list[str], environ: dict[str, str], top: int = 8) -> dict[str, int]:
    """The ``top`` modules with the largest cumulative import time (µs) in one run of ``args``."""
    p = subprocess.run([sys.executable, "-X", "importtime", *args], env=environ, cwd=ROOT, capture_output=True,
                       text=True)
    rows: list[tuple[int, str]] = []
    for line in p.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].strip()))
    return {name: us for us, name in sorted(rows, reverse=True)[:top]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    a = ap.parse_args()
    environ = env()
    result: dict[str, object] = {"runs": a.runs, "target_ms": 300}
    for name, args in COMMANDS.items():
        wall(args, environ)  # warm-up: bytecode caches written
        times = sorted(wall(args, environ) for _ in range(a.runs))
        result[name] = {"median_ms": round(1000 * statistics.median(times), 1),
                        "min_ms": round(1000 * times[0], 1), "max_ms": round(1000 * times[-1], 1)}
    result["largest_imports_us (drplan version)"] = import_costs(COMMANDS["drplan version"], environ)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
