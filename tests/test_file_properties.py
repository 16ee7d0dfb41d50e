"""Property tests (hypothesis) over the files drplan reads (issue 19): specs, plans and states, each a valid one with
one value replaced by generated JSON of any shape (plans re-sealed, so the digest check is passed and the content is
what is tested), or raw bytes, through the real command line (in-process). Every run ends with an exit code from the
documented table (README "Exit codes"), one readable message (no traceback, no "internal error", no line longer than
the message limit), within the test's deadline, and never leaves a partial file behind."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drplan.cli.main import command_line
from drplan.errors import LINE_LIMIT
from drplan.plan.planfile import compute_digest

ROOT = Path(__file__).resolve().parents[1]
GOLDEN_PLAN = json.loads((ROOT / "tests" / "render" / "golden" / "plan.json").read_text())
BASE_SPEC = {
    "version": 1,
    "state": {"backend": "local", "path": "drplan.state.json"},
    "resources": {
        "src": {"family": "document-intelligence", "endpoint": "https://src.cognitiveservices.azure.com",
                "region": "eastus", "api_version": "2024-11-30", "key_env": "SRC_KEY",
                "resource_id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.CognitiveServices/accounts/src"},
        "dst": {"family": "document-intelligence", "endpoint": "https://dst.cognitiveservices.azure.com",
                "region": "westus", "api_version": "2024-11-30", "key_env": "SRC_KEY",
                "resource_id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.CognitiveServices/accounts/dst"},
    },
    "replicate": [{"name": "r", "source": "src", "targets": ["dst"], "models": ["*"], "rename": {"a1": "b1"}}],
}
BASE_STATE = {"format_version": 1, "lineage": "3b0d4c8e-1f2a-4b5c-9d6e-7f8091a2b3c4", "serial": 3, "resources": {},
              "journal": {}, "applies": []}
#: Exit codes a file problem may end in (README "Exit codes"): ok, error, changes/drift, stale plan, locked.
DOCUMENTED = {0, 1, 2, 3, 4}

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
scalars = st.none() | st.booleans() | st.integers(-2**64, 2**64) | st.floats() | text
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
                      max_leaves=6)
deep = st.integers(1, 3000).map(lambda n: json.loads("[" * min(n, 900) + "]" * min(n, 900)))


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    doc = copy.deepcopy(doc)
    node = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return doc


@st.composite
def mutated(draw: st.DrawFn, base: Any) -> Any:
    paths = _paths(base)
    path = draw(st.sampled_from(paths[1:]))
    original: Any = base
    for part in path:
        original = original[part]
    # Half the time a value of the same kind (it passes the schema and reaches what reads the content), else anything.
    alike: st.SearchStrategy[Any] = (
        text | st.sampled_from(["", "x" * 5000, "a\nb", "../..", "\u00e9", "*", "sha256:0"])
        if isinstance(original, str) else
        st.integers(-2**64, 2**64) if isinstance(original, int) and not isinstance(original, bool) else
        st.lists(text, max_size=3) if isinstance(original, list) else
        st.dictionaries(text, text, max_size=3) if isinstance(original, dict) else st.booleans())
    return _mutate(base, path, draw(alike | values | deep))


def _only_lists(value: Any) -> bool:
    while isinstance(value, list):
        if not value:
            return True
        if len(value) != 1:
            return False
        value = value[0]
    return False


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list) and _only_lists(value):  # the deep ones: JSON's array syntax is TOML's too
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items() if v is not None) + "}"
    raise TypeError(value)


def to_toml(doc: Any) -> str:
    """TOML of a document (every top-level key as an inline value): TOML has no null, so None values are left out."""
    if not isinstance(doc, dict):
        return f"x = {_toml_value(doc)}\n" if doc is not None else ""
    return "".join(f"{json.dumps(k)} = {_toml_value(v)}\n" for k, v in doc.items() if v is not None)


def check(result: Any, workdir: Path) -> None:
    """The documented-table, one-readable-message, no-partial-file contract."""
    output = result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in DOCUMENTED, (result.exit_code, output)
    assert "Traceback" not in output and "internal error" not in output, output
    # error messages quote at most VALUE_LIMIT characters of a value (what a plan renders is the plan, and may be long)
    assert all(len(line) <= LINE_LIMIT + 200 for line in result.stderr.splitlines())
    assert not list(workdir.glob(".*.tmp")), "a temporary file was left behind"


def invoke(workdir: Path, *args: str) -> Any:
    return CliRunner().invoke(command_line(), list(args), env={"SRC_KEY": "abc123"})


@SETTINGS
@given(st.one_of(mutated(BASE_SPEC).map(to_toml).map(str.encode), st.binary(max_size=200),
                 st.just(b"a = " + b"[" * 3000 + b"]" * 3000)))
def test_spec_loading(tmp_path_factory, spec):
    work = tmp_path_factory.mktemp("spec")
    (work / "dr.toml").write_bytes(spec)
    check(invoke(work, "validate", str(work / "dr.toml")), work)


@SETTINGS
@given(st.one_of(mutated(GOLDEN_PLAN), values))
def test_plan_loading_with_resealed_content(tmp_path_factory, plan):
    work = tmp_path_factory.mktemp("plan")
    if isinstance(plan, dict):
        plan = {**plan, "digest": compute_digest(plan)}  # re-sealed: the content, not the digest, is under test
    (work / "plan.json").write_text(json.dumps(plan))
    for fmt in ("human", "json", "markdown"):
        check(invoke(work, "show", str(work / "plan.json"), "--format", fmt), work)
    # A plan with errors is never applied, whatever else it says: the run ends before any state or network.
    sealed = {**plan, "errors": ["refused"]} if isinstance(plan, dict) else plan
    if isinstance(sealed, dict):
        sealed["digest"] = compute_digest(sealed)
    (work / "plan.json").write_text(json.dumps(sealed))
    result = invoke(work, "apply", str(work / "plan.json"), "--state", str(work / "s.json"))
    check(result, work)
    assert result.exit_code != 0 and not (work / "s.json").exists()


@SETTINGS
@given(st.one_of(mutated(BASE_STATE).map(lambda d: json.dumps(d).encode()), st.binary(max_size=100)))
def test_state_loading(tmp_path_factory, state):
    work = tmp_path_factory.mktemp("state")
    (work / "in.json").write_bytes(state)
    check(invoke(work, "state", "list", "--state", str(work / "in.json")), work)
    before = (work / "in.json").read_bytes()
    result = invoke(work, "state", "push", str(work / "in.json"), "--state", str(work / "out.json"))
    check(result, work)
    if result.exit_code != 0:
        assert not (work / "out.json").exists(), "a refused push wrote a state"
    assert (work / "in.json").read_bytes() == before
