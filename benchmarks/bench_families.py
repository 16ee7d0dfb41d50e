"""Apply benchmark for Content Understanding and Language: is the work concurrent, and how close to the bound?

Content Understanding: N analyzers x 2 targets, each copy taking COPY seconds on the emulator. A copy is grant (source)
-> copy (target) -> poll until done, so one copy cannot finish faster than COPY; with the spec's parallelism P the
bound is ceil(2N / P) x COPY (plus a few round trips). A sequential tool needs 2N x COPY.

Language: M projects x 1 target, with train and deploy. Each project is a chain of 4 jobs (export, import, train,
deploy) of COPY seconds each: the bound is ceil(M / P) x 4 x COPY; a sequential tool needs M x 4 x COPY.

Run: python benchmarks/bench_families.py [--analyzers 60] [--projects 20] [--copy-seconds 1.0] [--parallelism 10]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

from _common import admin, arm, run_cli, start_emulator


def config(analyzers: int, projects: int, copy_seconds: float) -> str:
    lines = ["seed = 1", "[settings]", f"copy_seconds = {copy_seconds}", "retry_after_seconds = 0", "page_size = 50"]
    for name, region in (("src", "eastus"), ("t1", "westus2"), ("t2", "northeurope")):
        lines += [f"[accounts.{name}]", f'region = "{region}"', f'key = "bench-key-{name}"',
                  f'resource_id = "{arm(name)}"',
                  'deployments = { "gpt41" = "gpt-4.1", "te3l" = "text-embedding-3-large" }',
                  'model_deployments = { "gpt-4.1" = "gpt41", "text-embedding-3-large" = "te3l" }']
        if name != "src":
            continue
        for i in range(analyzers):
            lines += ["[[accounts.src.analyzers]]", f'analyzer_id = "analyzer-{i:04d}"',
                      'base_analyzer_id = "prebuilt-document"',
                      'models = { completion = "gpt-4.1", embedding = "text-embedding-3-large" }',
                      f'field_schema = {{ name = "a{i}", fields = {{ total = {{ type = "number" }} }} }}']
        for i in range(projects):
            lines += ["[[accounts.src.language_projects]]", f'project_name = "project-{i:04d}"',
                      'entities = ["Party", "Date"]',
                      'documents = [ { location = "d1.txt", labels = [{ category = "Party", offset = 0, length = 4 }] } ]']
    return "\n".join(lines) + "\n"


def spec(emu, family: str, parallelism: int) -> str:  # type: ignore[no-untyped-def]
    api = {"content-understanding": "2025-11-01", "language": "2023-04-01"}[family]
    text = f"version = 1\n[defaults]\nparallelism = {parallelism}\n"
    for name, region in (("src", "eastus"), ("t1", "westus2"), ("t2", "northeurope")):
        text += (f'[resources.{name}]\nfamily = "{family}"\nendpoint = "{emu.account_url(name)}"\nregion = "{region}"\n'
                 f'resource_id = "{arm(name)}"\napi_version = "{api}"\nkey_env = "BENCH_KEY_{name.upper()}"\n')
    if family == "content-understanding":
        text += '[[replicate]]\nname = "cu"\nsource = "src"\ntargets = ["t1", "t2"]\nanalyzers = ["*"]\n'
    else:
        text += ('[[replicate]]\nname = "ner"\nsource = "src"\ntargets = ["t1"]\nprojects = ["*"]\n'
                 '[replicate.train]\nmodel_label = "dr"\ntraining_config_version = "2022-05-01"\n'
                 'deployment = "prod"\n')
    return text


def run(work: Path, emu, family: str, parallelism: int, env: dict[str, str]) -> dict:  # type: ignore[no-untyped-def]
    (work / "dr.toml").write_text(spec(emu, family, parallelism))
    (work / "drplan.state.json").unlink(missing_ok=True)
    code = run_cli(["plan", "dr.toml", "-o", "plan.json"], work, env)[1]
    assert code == 0
    wall, code, out, err = run_cli(["apply", "plan.json", "-q"], work, env)
    assert code == 0, err
    again = run_cli(["plan", "dr.toml", "--detailed-exitcode"], work, env)
    return {"wall_s": round(wall, 2), "converged": again[1] == 0,
            "changes": len(json.loads((work / "plan.json").read_text())["changes"])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--analyzers", type=int, default=60)
    ap.add_argument("--projects", type=int, default=20)
    ap.add_argument("--copy-seconds", type=float, default=1.0)
    ap.add_argument("--parallelism", type=int, default=10)
    a = ap.parse_args()
    import os

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update({f"BENCH_KEY_{n.upper()}": f"bench-key-{n}" for n in ("src", "t1", "t2")})
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "emulator.toml").write_text(config(a.analyzers, a.projects, a.copy_seconds))
        with start_emulator(work / "emulator.toml") as emu:
            cu = run(work, emu, "content-understanding", a.parallelism, env)
            copies = 2 * a.analyzers
            cu_bound = math.ceil(copies / a.parallelism) * a.copy_seconds
            cu.update({"copies": copies, "bound_s": cu_bound, "ratio_to_bound": round(cu["wall_s"] / cu_bound, 2),
                       "sequential_s": copies * a.copy_seconds,
                       "requests": admin(emu.url, "GET", "counters")["requests"]})
            admin(emu.url, "POST", "reset")
            lang = run(work, emu, "language", a.parallelism, env)
            chain = 4 * a.copy_seconds
            lang_bound = math.ceil(a.projects / a.parallelism) * chain
            lang.update({"projects": a.projects, "bound_s": lang_bound,
                         "ratio_to_bound": round(lang["wall_s"] / lang_bound, 2),
                         "sequential_s": a.projects * chain,
                         "requests": admin(emu.url, "GET", "counters")["requests"]})
    print(json.dumps({"copy_seconds": a.copy_seconds, "parallelism": a.parallelism,
                      "content_understanding": {k: v for k, v in cu.items() if k != "requests"},
                      "cu_requests": {acc: sum(r.values()) for acc, r in cu["requests"].items()},
                      "language": {k: v for k, v in lang.items() if k != "requests"},
                      "language_requests": {acc: sum(r.values()) for acc, r in lang["requests"].items()},
                      "language_job_polls": _job_polls(lang["requests"])}, indent=2))


def _job_polls(requests: dict[str, dict[str, int]]) -> dict[str, int]:
    """GETs of job URLs per account (the polls the schedule costs), from the emulator's per-route counters."""
    return {acc: sum(n for route, n in routes.items() if route.startswith("language:") and route.endswith(":job"))
            for acc, routes in requests.items()}


if __name__ == "__main__":
    main()
