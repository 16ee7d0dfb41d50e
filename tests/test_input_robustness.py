"""Bad input at every file boundary is one readable error (issue 19): size limits, nesting too deep for the parser, a
NUL in a path, long values shortened, keys and endpoints checked at spec load, empty lock files, leftover temporary
files, a plan told from a spec by content, -o never over the spec or the state."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from drplan import fsutil
from drplan.azure.auth import key_from_env, key_problem
from drplan.errors import (
    IncompatiblePlanError,
    PlanFileError,
    SpecError,
    StateCorruptError,
    StateError,
    StateLockedError,
    shorten,
)
from drplan.plan.planfile import load_plan, looks_like_plan, refuse_overwrite
from drplan.spec.load import endpoint_problem, load_spec
from drplan.state.backends.local import STALE_LOCK_GRACE, LocalBackend
from drplan.state.manager import StateManager

SPEC = """
version = 1
[resources.src]
family = "document-intelligence"
endpoint = "{endpoint}"
region = "eastus"
resource_id = "/subscriptions/s/resourceGroups/g/providers/Microsoft.CognitiveServices/accounts/src"
api_version = "2024-11-30"
key_env = "SRC_KEY"
[resources.dst]
family = "document-intelligence"
endpoint = "https://dst.cognitiveservices.azure.com"
region = "westus"
resource_id = "/subscriptions/s/resourceGroups/g/providers/Microsoft.CognitiveServices/accounts/dst"
api_version = "2024-11-30"
key_env = "DST_KEY"
[[replicate]]
name = "r"
source = "src"
targets = ["dst"]
models = ["*"]
"""


def _spec(tmp_path: Path, endpoint: str = "https://src.cognitiveservices.azure.com") -> Path:
    path = tmp_path / "dr.toml"
    path.write_text(SPEC.replace("{endpoint}", endpoint), encoding="utf-8")
    return path


# -- shortening -----------------------------------------------------------------------------------------------------
def test_shorten_says_how_much_was_cut():
    assert shorten("abc") == "abc"
    text = shorten("x" * 10_000_000)
    assert len(text) < 300 and "truncated, 9999800 more characters" in text


def test_a_huge_field_in_a_spec_is_not_echoed_back(tmp_path):
    path = tmp_path / "dr.toml"
    path.write_text(SPEC.replace("{endpoint}", "https://src.example").replace('region = "eastus"',
                                                                               f'region = "{"E" * 10_000_000}"'))
    with pytest.raises(SpecError) as err:
        load_spec(path, check_env=False)
    assert len(str(err.value)) < 2000 and "truncated" in str(err.value) and "resources.src.region" in str(err.value)


# -- file boundaries ------------------------------------------------------------------------------------------------
def test_deeply_nested_toml_is_a_spec_error(tmp_path):
    path = tmp_path / "dr.toml"
    path.write_text("version = 1\nx = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(SpecError, match="nested too deeply"):
        load_spec(path, check_env=False)


def test_files_over_the_limit_are_refused_without_reading_them_whole(tmp_path, monkeypatch):
    monkeypatch.setattr("drplan.spec.load.MAX_SPEC_BYTES", 100)
    path = tmp_path / "dr.toml"
    path.write_text("# " + "x" * 200)
    with pytest.raises(SpecError, match="larger than 100 bytes"):
        load_spec(path, check_env=False)
    monkeypatch.setattr("drplan.plan.planfile.MAX_PLAN_BYTES", 100)
    (tmp_path / "p.json").write_text("{" + " " * 200 + "}")
    with pytest.raises(PlanFileError, match="larger than"):
        load_plan(tmp_path / "p.json")


def test_a_nul_in_a_path_is_a_readable_error(tmp_path):
    with pytest.raises(SpecError, match="NUL"):
        load_spec(str(tmp_path / "a\0b.toml"))
    with pytest.raises(PlanFileError, match="NUL"):
        load_plan(str(tmp_path / "a\0b.json"))


def test_deeply_nested_plan_and_state_json(tmp_path):
    nested = b'{"format_version": "1", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    (tmp_path / "p.json").write_bytes(nested)
    with pytest.raises(IncompatiblePlanError, match="nested too deeply"):
        load_plan(tmp_path / "p.json")
    (tmp_path / "s.json").write_bytes(nested)
    with pytest.raises(StateCorruptError, match="nested too deeply"):
        StateManager(LocalBackend(tmp_path / "s.json")).load()


def test_a_state_that_is_a_directory_is_a_state_error(tmp_path):
    (tmp_path / "s.json").mkdir()
    with pytest.raises(StateError, match="directory"):
        StateManager(LocalBackend(tmp_path / "s.json")).load()


# -- plan or spec, -o -----------------------------------------------------------------------------------------------
def test_a_plan_is_recognised_by_content_not_suffix(tmp_path):
    (tmp_path / "plan.toml").write_text('\ufeff\n  {"format_version": "1"}', encoding="utf-8")
    (tmp_path / "spec.json").write_text("version = 1\n")
    assert looks_like_plan(tmp_path / "plan.toml") is True
    assert looks_like_plan(tmp_path / "spec.json") is False
    assert looks_like_plan(tmp_path / "missing") is None


def test_o_refuses_the_spec_and_the_state(tmp_path):
    spec, state = tmp_path / "dr.toml", tmp_path / "drplan.state.json"
    spec.write_text("x")
    os.symlink(spec, tmp_path / "link.toml")
    for out in (spec, tmp_path / "link.toml", tmp_path / "sub" / ".." / "drplan.state.json"):
        with pytest.raises(PlanFileError, match="refusing to write the plan over"):
            refuse_overwrite(out, {"the spec": spec, "the state file": state})
    refuse_overwrite(tmp_path / "plan.json", {"the spec": spec, "the state file": state})


# -- keys and endpoints ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("endpoint,problem", [
    ("https://src.cognitiveservices.azure.com\\n", "whitespace"),
    ("https://src.cognitive services.azure.com", "does not match"),  # the schema's pattern
    ("http://src.cognitiveservices.azure.com", "clear text"),
    ("ftp://src.example", "does not match"),
    ("https://user@src.example", "user info"),
    ("https://src.example:99999", "not a valid URL"),
])
def test_bad_endpoints_are_spec_errors_at_validate(tmp_path, endpoint, problem):
    with pytest.raises(SpecError) as err:
        load_spec(_spec(tmp_path, endpoint), check_env=False)
    assert "resources.src.endpoint" in str(err.value) and problem in str(err.value)


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:5",
                                      "https://src.cognitiveservices.azure.com/"])
def test_good_endpoints(endpoint):
    assert endpoint_problem(endpoint) is None


def test_keys_are_stripped_and_bad_keys_refused_at_spec_load(tmp_path, monkeypatch):
    monkeypatch.setenv("SRC_KEY", "  abc123\n")
    monkeypatch.setenv("DST_KEY", "ok")
    assert key_from_env("src", "SRC_KEY") == "abc123"
    load_spec(_spec(tmp_path))  # a newline at the end of a key is stripped, not an error
    monkeypatch.setenv("SRC_KEY", "abc def")
    with pytest.raises(SpecError) as err:
        load_spec(_spec(tmp_path))
    assert "resources.src.key_env" in str(err.value) and "whitespace inside" in str(err.value)
    assert "abc def" not in str(err.value)
    assert key_problem("k\u00e9y") and key_problem(" ") and key_problem("good") is None


# -- local lock and leftover temporary files ------------------------------------------------------------------------
def test_an_empty_lock_file_is_stale_after_the_grace_and_named_before(tmp_path):
    backend = LocalBackend(tmp_path / "s.json")
    backend.lock_path.write_bytes(b"")
    with pytest.raises(StateLockedError) as err:  # it may be a lock being written right now
        backend.lock("apply")
    assert "empty lock file" in str(err.value) and "drplan state unlock stale" in str(err.value)
    old = time.time() - STALE_LOCK_GRACE - 1
    os.utime(backend.lock_path, (old, old))
    info = backend.lock("apply")  # its creator died between creating and writing it: taken over
    assert json.loads(backend.lock_path.read_text())["id"] == info.id
    backend.unlock()


def test_an_unreadable_lock_file_can_be_unlocked_by_hand(tmp_path):
    backend = LocalBackend(tmp_path / "s.json")
    backend.lock_path.write_bytes(b'{"id": 5')
    holder = backend.read_lock()
    assert holder is not None and holder.id == "stale" and "not a drplan lock" in holder.holder
    backend.unlock("stale")
    assert not backend.lock_path.exists()


def test_leftover_state_temp_files_are_removed_under_the_lock(tmp_path):
    state = tmp_path / "s.json"
    left = tmp_path / ".s.json.abc123.tmp"
    left.write_text("half a state")
    other = tmp_path / ".other.json.x.tmp"
    other.write_text("not ours")
    backend = LocalBackend(state)
    backend.lock("apply")
    backend.unlock()
    assert not left.exists() and other.exists()
    young = tmp_path / ".p.json.y.tmp"
    young.write_text("a write in progress")
    assert fsutil.remove_stale_temps(tmp_path / "p.json") == []  # without the lock only old ones go
    os.utime(young, (0, 0))
    assert fsutil.remove_stale_temps(tmp_path / "p.json") == [young]
    # drplan's own name carries host and pid (issue 19): a live writer's file stays, a dead one's goes at once
    live = tmp_path / f".p.json.{fsutil._HOST}.{os.getppid()}.abc.tmp"
    dead = tmp_path / f".p.json.{fsutil._HOST}.{2**22 + 12345}.abc.tmp"  # above Linux's pid_max default
    other_host = tmp_path / f".p.json.elsewhere.{2**22 + 12345}.abc.tmp"
    for f in (live, dead, other_host):
        f.write_text("x")
    assert fsutil.remove_stale_temps(tmp_path / "p.json") == [dead]


def test_plain_http_elsewhere_only_with_the_documented_opt_in(monkeypatch):
    assert "clear text" in endpoint_problem("http://emulator:8080")
    monkeypatch.setenv("DRPLAN_ALLOW_HTTP", "1")  # an emulator in another container, an in-process harness
    assert endpoint_problem("http://emulator:8080") is None
    assert "whitespace" in endpoint_problem("http://emulator:8080\n")
