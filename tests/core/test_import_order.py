"""The core's one-way order, counting every import: at module level, inside functions, and
under TYPE_CHECKING (the earlier cycles hid inside functions, where import-linter's view and a
plain import of the module both miss them at run time).

The order itself is written once, in pyproject.toml's import-linter contract; this test reads
it from there, so the two cannot drift apart.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "desktop_app" / "core"


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every desktop_app module ``path`` imports, wherever the import statement stands."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{a.name}" for a in node.names)
    return {m for m in found if m.startswith("desktop_app.")}


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in CORE.rglob("*.py")}
    return {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}


def _layers() -> list[list[str]]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    (contract,) = [c for c in config["tool"]["importlinter"]["contracts"] if c["name"].startswith("Core capabilities")]
    return [[m.strip() for m in layer.split("|")] for layer in contract["layers"]]


def _owner(module: str, packages: list[str]) -> str | None:
    return next((p for p in packages if module == p or module.startswith(p + ".")), None)


def test_no_import_cycle_in_core() -> None:
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for dep in graph[node]:
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert cycles == []


def test_capabilities_import_only_downwards() -> None:
    layers = _layers()
    rank = {pkg: i for i, layer in enumerate(layers) for pkg in layer}
    packages = sorted(rank, key=len, reverse=True)
    wrong = []
    for module, deps in _graph().items():
        mine = _owner(module, packages)
        for dep in deps:
            theirs = _owner(dep, packages)
            if theirs is None or theirs == mine:
                continue
            if mine is None:  # the base may import no capability at all
                wrong.append(f"{module} (base) imports {dep}")
            elif rank[theirs] < rank[mine] or (rank[theirs] == rank[mine]):
                wrong.append(f"{module} imports {dep}, which is not below it")
    assert wrong == []


def test_every_core_package_has_a_place_in_the_order() -> None:
    placed = {pkg for layer in _layers() for pkg in layer}
    packages = {_module_name(p.parent) for p in CORE.glob("*/__init__.py")}
    assert packages <= placed, f"add {sorted(packages - placed)} to the import-linter layers in pyproject.toml"
