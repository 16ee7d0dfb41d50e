"""Shared benchmark plumbing: write an emulator config, start it, run the real drplan CLI, read the counters."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drplan.emulator.launch import start_emulator  # noqa: E402

SUB = "00000000-0000-0000-0000-000000000000"


def arm(name: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/{name}"


def emulator_config(*, models: int, targets: list[str], settings: dict, faults: dict) -> str:
    lines = ["seed = 1", "[settings]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    lines += ["[faults]"] + [f"{k} = {json.dumps(v)}" for k, v in faults.items()]
    lines += ['[accounts.src]', 'region = "eastus"', 'key = "bench-key-src"', "model_limit = 100000"]
    for i in range(models):
        lines += ["[[accounts.src.models]]", f'model_id = "model-{i:05d}"',
                  f'created = "2024-01-01T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}Z"',
                  f'description = "benchmark model {i}"']
    for t in targets:
        lines += [f"[accounts.{t}]", 'region = "westus2"', f'key = "bench-key-{t}"', "model_limit = 100000"]
    return "\n".join(lines) + "\n"


def spec(emu, targets: list[str], parallelism: int = 10) -> str:  # type: ignore[no-untyped-def]
    """``emu``: the running ``EmulatorProcess``; each account is an origin of its own (``emu.account_url(name)``)."""
    text = f"version = 1\n[defaults]\nparallelism = {parallelism}\n"
    for name in ["src", *targets]:
        text += (f'[resources.{name}]\nfamily = "document-intelligence"\nendpoint = "{emu.account_url(name)}"\n'
                 f'region = "{"eastus" if name == "src" else "westus2"}"\nresource_id = "{arm(name)}"\n'
                 f'api_version = "2024-11-30"\nkey_env = "BENCH_KEY_{name.upper()}"\n')
    text += f'[[replicate]]\nname = "bench"\nsource = "src"\ntargets = {json.dumps(targets)}\nmodels = ["*"]\n'
    return text


def env_with_keys(targets: list[str]) -> dict[str, str]:
    env = dict(os.environ)
    env["BENCH_KEY_SRC"] = "bench-key-src"
    for t in targets:
        env[f"BENCH_KEY_{t.upper()}"] = f"bench-key-{t}"
    env["PYTHONPATH"] = str(ROOT)
    # Measure drplan as installed, with bytecode caches: this machine sets PYTHONDONTWRITEBYTECODE=1, which makes
    # every run recompile every module from source (~0.2 s that no installed copy pays).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_cli(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int, str, str]:
    """Run ``python -m drplan ARGS``; return (wall seconds, exit code, stdout, stderr)."""
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "drplan", *args], cwd=cwd, env=env, capture_output=True, text=True)
    return time.perf_counter() - t, p.returncode, p.stdout, p.stderr


def peak_child_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0


def admin(url: str, method: str, path: str, body: dict | None = None):
    r = httpx.request(method, f"{url}/_emulator/{path}", json=body, timeout=60)
    r.raise_for_status()
    return r.json() if r.content else None


__all__ = ["start_emulator", "emulator_config", "spec", "env_with_keys", "run_cli", "peak_child_rss_mb", "admin"]
