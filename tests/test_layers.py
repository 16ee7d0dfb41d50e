"""Dependency edges (STYLE.md, Layers): models import only the standard library; the planner never imports httpx;
renderers never call services; nothing imports the CLI; the emulator and the client never import each other."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "drplan"


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def modules(sub: str) -> list[Path]:
    return sorted((PKG / sub).rglob("*.py")) if (PKG / sub).is_dir() else [PKG / sub]


def test_models_import_only_stdlib_and_siblings():
    for path in [PKG / "spec" / "model.py", PKG / "plan" / "model.py", PKG / "state" / "model.py"]:
        third = {m for m in imports_of(path) if m.split(".")[0] not in {"__future__", "copy", "dataclasses", "enum",
                                                                        "pathlib", "typing", "uuid"}}
        assert third == set(), f"{path.name} imports {third}"


def test_planner_never_imports_http():
    for path in modules("plan"):
        assert not any(m.split(".")[0] in {"httpx", "drplan.azure"} or m.startswith("drplan.azure")
                       for m in imports_of(path)), path


def test_renderers_never_call_services():
    for path in modules("render"):
        assert not any(m.startswith(("drplan.services", "drplan.azure", "httpx")) for m in imports_of(path)), path


def test_nothing_imports_the_cli():
    for path in PKG.rglob("*.py"):
        if "cli" in path.relative_to(PKG).parts or path.name == "__main__.py":
            continue
        assert not any(m.startswith("drplan.cli") for m in imports_of(path)), path


def test_client_side_never_imports_the_emulator():
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG).parts
        if rel[0] in ("emulator", "cli"):
            continue
        assert not any(m.startswith("drplan.emulator") for m in imports_of(path)), path


def test_emulator_imports_nothing_from_the_client_side():
    for path in modules("emulator"):
        bad = {m for m in imports_of(path) if m.startswith("drplan") and not m.startswith("drplan.emulator")}
        assert bad == set(), f"{path} imports {bad}"
