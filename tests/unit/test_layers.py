"""The layer rules of docs/architecture.md, read from the code's own imports.

A rule broken by a new import fails here with the arrow that breaks it, so the house
keeps pointing down without anyone re-reading the import graph by hand.
"""

from __future__ import annotations

import ast
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[2] / "harness"
MAX_LINES = 400
LONG_ALLOWED = {"harness.probe.agent"}  # one self-contained file, copied alone into the probe image


def _modules() -> dict[str, Path]:
    out = {}
    for path in HARNESS.rglob("*.py"):
        parts = path.relative_to(HARNESS.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Each module's imports of other harness modules, type-only imports included."""
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("harness"):
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in modules)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("harness"))
        edges[name] = {m for m in found if m in modules and m != name}
    return edges


def _area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles() -> None:
    assert _cycles(_imports(_modules())) == []


def test_checks_never_import_the_providers_and_swarm_never_imports_probe() -> None:
    forbidden = {
        "swarm": {"lab", "provision", "probe"},
        "probe": {"lab", "provision"},
        "doctor": {"lab", "provision", "swarm", "probe"},
        "upgrade": {"lab", "provision"},
        "transport": {"lab", "provision", "swarm", "probe", "doctor", "cluster"},
        "cluster": {"lab", "provision", "swarm", "probe", "doctor"},
    }
    top = {"cli", "cli_lab", "cli_swarm", "cli_options", "pytest_plugin", "runner", "upgrade_cmd", "report"}
    arrows = []
    for module, targets in _imports(_modules()).items():
        for target in targets:
            src, dst = _area(module), _area(target)
            if dst in forbidden.get(src, set()) or (dst in top and src not in top):
                arrows.append(f"{module} -> {target}")
    assert sorted(arrows) == []


def test_only_the_plugin_imports_pytest() -> None:
    importers = [
        name
        for name, path in _modules().items()
        if any(
            (isinstance(n, ast.Import) and any(a.name == "pytest" for a in n.names))
            or (isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0] == "pytest")
            for n in ast.walk(ast.parse(path.read_text()))
        )
    ]
    assert importers == ["harness.pytest_plugin"]


def test_no_module_over_the_line_limit() -> None:
    long = {
        name: n
        for name, path in _modules().items()
        if (n := len(path.read_text().splitlines())) > MAX_LINES and name not in LONG_ALLOWED
    }
    assert long == {}
