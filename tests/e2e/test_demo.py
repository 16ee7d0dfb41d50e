"""`drplan demo` (the README's first set-up command) runs plan -> apply -> no changes against the bundled emulator,
for every family it shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_demo_converges(tmp_path):
    root = str(Path(__file__).resolve().parents[2])
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRPLAN_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    p = subprocess.run([sys.executable, "-m", "drplan", "demo", "--dir", str(tmp_path / "demo")], env=env,
                       capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Demo complete" in p.stdout and "No changes." in p.stdout
    state = json.loads((tmp_path / "demo" / "drplan.state.json").read_text())
    kinds = {r["kind"] for r in state["resources"].values()}
    assert {"document-model", "document-classifier", "analyzer", "model-deployment", "language-project"} <= kinds
    assert state["journal"] == {}
    # the messages agree (issue 17 point 9): the no-changes plan counts copies as the drill does, and names the
    # /defaults key drplan keeps apart; the apply's change count is copies + settings
    copies = sum(r["kind"] != "model-deployment" for r in state["resources"].values())
    settings = len(state["resources"]) - copies
    assert f"No changes. {copies} copies and {settings} target setting{'' if settings == 1 else 's'} in sync." \
        in p.stdout, p.stdout
    assert f"Drill: {copies} copies: {copies} ready" in p.stdout
    assert f"Apply complete: {copies + settings} change(s) applied." in p.stdout
