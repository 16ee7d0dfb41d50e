"""Journal benchmark (issue 18, scale): an apply of ~100 copies into a state that already holds 20,000 records.

Every journal call (record / restart / finish / set_apply_status) must be durable before it returns; each durable
write of a large state costs a full encode + atomic write. This counts the state writes an apply makes, its wall time,
and the longest stretch the event loop was blocked (a ticker task's largest gap), in process: the emulator as an ASGI
app (tests/apply_support.py), the real executor on a local state file, the client's sleeps on a virtual clock.
Run: python benchmarks/bench_journal.py [--models 34] [--targets 3] [--records 20000] [--parallelism 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from apply_support import Env, account_block, resource_block  # noqa: E402

from drplan.state.backends.local import LocalBackend  # noqa: E402

API = "2024-11-30"


def _record(i: int, lineage: str) -> dict[str, Any]:
    """A finished copy of a rule the spec no longer has: the planner leaves it alone, every write carries it."""
    return {
        "rule": "archive", "kind": "document-model", "source_resource": "old", "source_id": f"model-{i:06d}",
        "source_fingerprint": f"created=2024-03-04T09:15:00.000Z;modified=2024-03-04T09:15:{i % 60:02d}.000Z",
        "target_resource": "west", "target_resource_id": "/subscriptions/x/resourceGroups/rg/accounts/west",
        "target_id": f"model-{i:06d}", "copied_at": "2026-01-01T00:00:00.000Z", "encryption_downgrade": False,
        "source_encryption": "microsoft-managed", "target_encryption": "microsoft-managed",
        "lineage": {"state": lineage, "source_resource": "/subscriptions/x/resourceGroups/rg/accounts/old",
                    "source_id": f"model-{i:06d}", "source_version": "created=2024-03-04T09:15:00.000Z"},
    }


def run(models: int, targets: int, records: int, parallelism: int) -> dict[str, Any]:
    names = [f"t{i}" for i in range(1, targets + 1)]
    config = "seed = 1\n[settings]\ncopy_seconds = 0.0\nretry_after_seconds = 0\n" + account_block("src", extra="".join(
        f"""
        [[accounts.src.models]]
        model_id = "m{i:04d}"
        created = "2024-03-04T09:15:00Z"
        """ for i in range(models))) + "".join(account_block(t, region="westus2") for t in names)
    spec = ("version = 1\n" + resource_block("src", family="document-intelligence", api_version=API)
            + "".join(resource_block(t, family="document-intelligence", api_version=API, region="westus2")
                      for t in names)
            + f'\n[[replicate]]\nname = "prod"\nsource = "src"\ntargets = {json.dumps(names)}\nmodels = ["*"]\n')
    with tempfile.TemporaryDirectory() as tmp:
        env = Env(Path(tmp), config, spec)
        for account in env.accounts:
            os.environ[f"KEY_{account.upper()}"] = f"apply-test-key-{account}"
        # A state of `records` finished copies of another rule, written once before planning.
        lineage = "00000000-0000-4000-8000-000000000001"
        doc = {"format_version": 1, "lineage": lineage, "serial": 1, "journal": {}, "applies": [],
               "resources": {f"archive/west/document-model/model-{i:06d}": _record(i, lineage)
                             for i in range(records)}}
        env.state_path.write_text(json.dumps(doc), encoding="utf-8")
        plan = env.plan()
        copies = sum(1 for c in plan.changes if "create" in c.actions)

        writes = [0]
        original = LocalBackend.write

        def counting(self: LocalBackend, data: bytes, etag: str | None) -> str:
            writes[0] += 1
            return original(self, data, etag)

        LocalBackend.write = counting  # type: ignore[method-assign]
        gaps = [0.0]
        ticker: list[asyncio.Task[None]] = []

        async def tick() -> None:
            last = time.perf_counter()
            while True:
                await asyncio.sleep(0.001)
                now = time.perf_counter()
                gaps[0] = max(gaps[0], now - last)
                last = now

        def setup(_: Any) -> None:
            ticker.append(asyncio.ensure_future(tick()))

        try:
            start = time.perf_counter()
            result = env.execute(plan, parallelism=parallelism, setup=setup)
            wall = time.perf_counter() - start
        finally:
            LocalBackend.write = original  # type: ignore[method-assign]
        state = env.state()
    assert not result.failed and len(result.applied) == copies, result
    assert state["journal"] == {} and len(state["resources"]) == records + copies
    return {"copies": copies, "records": records, "writes": writes[0], "wall_s": round(wall, 2),
            "max_loop_block_s": round(gaps[0], 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=int, default=34)
    ap.add_argument("--targets", type=int, default=3)
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--parallelism", type=int, default=10)
    args = ap.parse_args()
    print(json.dumps(run(args.models, args.targets, args.records, args.parallelism)))


if __name__ == "__main__":
    main()
