"""Shared fixtures. Every test runs in its own temporary working directory, so no test writes into the checkout,
and no DRPLAN_* variable of the developer's shell leaks into a test."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("DRPLAN_"):
            monkeypatch.delenv(name)


@pytest.fixture
def write_spec(tmp_path: Path):
    """Write a spec file from TOML text (dedented) and return its path."""

    def write(text: str, name: str = "dr.toml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write
