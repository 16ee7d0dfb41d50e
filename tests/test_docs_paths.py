"""The README and the emulator's README cite only files that are in the repository (issue 17 point 9)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PATH = re.compile(r"`((?:drplan|tests|schemas|examples|benchmarks|\.ci)/[A-Za-z0-9_./-]+)`")


@pytest.mark.parametrize("doc", ["README.md", "drplan/emulator/README.md"])
def test_every_cited_file_exists(doc):
    cited = {m.group(1).rstrip(".") for m in PATH.finditer((ROOT / doc).read_text(encoding="utf-8"))}
    assert len(cited) >= 3
    missing = sorted(p for p in cited if not (ROOT / p).exists())
    assert not missing, f"{doc} cites files that are not in the repository: {missing}"
