"""The Azurite fixture's own promise: without npm the remote-state tests fail with a clear message (never skip)."""

from __future__ import annotations

import pytest
from azurite import support


def test_missing_npm_fails_clearly(monkeypatch, tmp_path):
    monkeypatch.setattr(support, "BIN", tmp_path / "node_modules" / ".bin" / "azurite-blob")
    monkeypatch.setattr(support.shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match="npm is not on PATH: install Node.js 18\\+ with npm"):
        support.install()
