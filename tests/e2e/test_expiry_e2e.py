"""Lifecycle warnings end to end (issue 17 point 8): after a copy, `drplan check` names the copy that expires soon
(a copy keeps its source's expirationDateTime) with the date and what to do; it is a warning, not drift (exit 0)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from e2e_support import SUB, emulator_fixtures

KEY = "expiry-key-src-1a1a"
SOON = (datetime.now(timezone.utc) + timedelta(days=10)).replace(microsecond=0)
CONFIG = f"""
seed = 3

[settings]
copy_seconds = 0
retry_after_seconds = 0

[accounts.xsrc]
region = "eastus"
key = "{KEY}"

[[accounts.xsrc.models]]
model_id = "invoice"
created = "2024-12-01T00:00:00Z"
expires = "{SOON.strftime('%Y-%m-%dT%H:%M:%SZ')}"

[[accounts.xsrc.models]]
model_id = "lasting"
created = "2025-01-01T00:00:00Z"
expires = "2099-01-01T00:00:00Z"

[accounts.xdst]
region = "westus2"
key = "{KEY}"
"""

expiry_emulator, xemu = emulator_fixtures(CONFIG, "expiry_emulator")


@pytest.fixture
def spec(tmp_path, xemu):
    text = "version = 1\n"
    for name, region in (("xsrc", "eastus"), ("xdst", "westus2")):
        text += f"""
[resources.{name}]
family = "document-intelligence"
endpoint = "{xemu.endpoint(name)}"
region = "{region}"
resource_id = "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/{name}"
api_version = "2024-11-30"
key_env = "KEY_X"
"""
    text += '\n[lifecycle]\nexpiry_warning_days = 30\n\n[[replicate]]\nname = "prod"\nsource = "xsrc"\n' \
            'targets = ["xdst"]\nmodels = ["*"]\n'
    (tmp_path / "dr.toml").write_text(text, encoding="utf-8")
    return tmp_path / "dr.toml"


@pytest.fixture
def run(drplan):
    return lambda *args, **kw: drplan(*args, env={"KEY_X": KEY}, keys=False, **kw)


def test_check_warns_for_a_copy_that_expires_soon(spec, run):
    r = run("plan", "dr.toml")
    assert r.code == 0 and "xsrc/invoice" in r.out and SOON.strftime("%Y-%m-%d") in r.out, r.text
    assert run("apply", "dr.toml", "--auto-approve").code == 0
    r = run("check", "dr.toml")
    assert r.code == 0 and r.out.startswith("In sync"), r.text
    warned = [line for line in r.out.splitlines() if line.startswith("Warning:")]
    assert len(warned) == 1, r.text
    assert "prod/xdst/document-model/invoice" in warned[0] and "its copy xdst/invoice expire on" in warned[0]
    assert SOON.strftime("%Y-%m-%d") in warned[0] and "rebuild (retrain)" in warned[0]
    r = run("check", "dr.toml", "--format", "json")
    doc = json.loads(r.out)
    assert r.code == 0 and doc["in_sync"] and len(doc["warnings"]) == 1 and "lasting" not in doc["warnings"][0]
