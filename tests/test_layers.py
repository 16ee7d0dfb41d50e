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
        # Siblings: one model may use another's vocabulary (the plan's kinds are spec.model.AssetKind).
        third = {m for m in imports_of(path) if m.split(".")[0] not in {"__future__", "copy", "dataclasses", "enum",
                                                                        "pathlib", "typing", "uuid"}
                 and m not in {"drplan.spec.model", "drplan.plan.model", "drplan.state.model"}}
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


# -- the family seam (issue 14) ---------------------------------------------------------------------------------------
CORE = ("spec", "plan", "apply", "state", "render", "cli", "core.py", "refresh.py", "errors.py", "lineage.py")
#: What a core module may import from drplan.families: the registry, the Protocol module (and its data types).
SEAM = {"drplan.families", "drplan.families.base"}


def module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_imports(path: Path) -> set[str]:
    """Every drplan module ``path`` imports, at any depth of the file (function-level imports count too),
    resolving ``from drplan.x import y`` to ``drplan.x.y`` when that is a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):  # imports only for type checkers never run: they cannot make a cycle
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            node.body = []
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("drplan"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("drplan"):
            out.add(node.module)
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                if (PKG.parent / sub.replace(".", "/")).with_suffix(".py").exists() or \
                        (PKG.parent / sub.replace(".", "/") / "__init__.py").exists():
                    out.add(sub)
    return out


def import_graph() -> dict[str, set[str]]:
    paths = [p for p in PKG.rglob("*.py") if "emulator" not in p.relative_to(PKG).parts]
    names = {module_name(p) for p in paths}
    return {module_name(p): {m for m in all_imports(p) if m in names and m != module_name(p)} for p in paths}


def test_no_import_cycle_in_drplan():
    graph = import_graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycles.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_core_never_imports_a_family():
    for sub in CORE:
        for path in modules(sub):
            bad = {m for m in all_imports(path) if m.startswith("drplan.families") and m not in SEAM}
            assert bad == set(), f"{path.relative_to(PKG)} imports {sorted(bad)}: ask the family through the registry"


def test_core_does_not_branch_on_a_family():
    import re

    pattern = re.compile(r"Family\.[A-Z_]+|AssetKind\.[A-Z_]+|\.protocol\s*(==|!=|in |is )")
    hits = []
    for sub in CORE:
        for path in modules(sub):
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if pattern.search(line) and "family-neutral" not in line:
                    hits.append(f"{path.relative_to(PKG)}:{n}: {line.strip()}")
    assert hits == [], "\n".join(hits)
