"""Shared fixtures. Every test runs in its own temporary working directory, so no test writes into the checkout."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

SUB = "00000000-0000-0000-0000-000000000000"


def arm_id(account: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/{account}"


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


def resource_toml(name: str, endpoint: str, *, account: str | None = None, region: str = "eastus",
                  api_version: str = "2024-11-30", family: str = "document-intelligence",
                  encryption: str = "microsoft-managed", key_env: str | None = None) -> str:
    return textwrap.dedent(f"""
        [resources.{name}]
        family = "{family}"
        endpoint = "{endpoint}"
        region = "{region}"
        resource_id = "{arm_id(account or name)}"
        api_version = "{api_version}"
        key_env = "{key_env or 'KEY_' + name.upper().replace('-', '_')}"
        encryption = "{encryption}"
        """)
