"""The layout shows the flow of a job, and the imports keep to it (docs/architecture.md).

Every import of a launcher module by another, at module level or inside a function (TYPE_CHECKING
blocks excepted: they never run), is read with `ast`. Each package may import only its own layer and
the layers below it, and no set of modules imports itself round a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

# Lowest first. A module may import modules of its own layer or of a lower one.
LAYERS: list[set[str]] = [
    {"launcher", "launcher.errors", "launcher.context", "launcher.aws", "launcher.reference",
     "launcher.entrypoints"},
    {"launcher.config"},
    {"launcher.planning"},
    {"launcher.job"},
    {"launcher.backends", "launcher.infra"},
    {"launcher.drill"},
    {"launcher.runner"},
    {"launcher.tune"},
    {"launcher.cli"},
]


def _layer(module: str) -> int:
    """The layer of the longest name that covers `module` (`launcher` itself covers only itself)."""
    matches = [(len(name), rank) for rank, names in enumerate(LAYERS) for name in names
               if module == name or (name != "launcher" and module.startswith(name + "."))]
    assert matches, f"{module} is in no layer"
    return max(matches)[1]


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _imports(path: Path, module: str) -> set[str]:
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names if a.name.startswith("launcher"))
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0 \
                    and child.module.startswith("launcher"):
                found.add(child.module)
                for alias in child.names:  # `from launcher.x import module`
                    name = f"{child.module}.{alias.name}"
                    if (REPO / name.replace(".", "/")).with_suffix(".py").exists():
                        found.add(name)
            visit(child)

    visit(ast.parse(path.read_text()))
    found.discard(module)
    return found


def _graph() -> dict[str, set[str]]:
    graph = {}
    for path in sorted((REPO / "launcher").rglob("*.py")):
        rel = path.relative_to(REPO).with_suffix("")
        module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        graph[module] = _imports(path, module)
    return graph


def test_no_import_reaches_up_a_layer() -> None:
    upward = [f"{m} → {dep}" for m, deps in _graph().items() for dep in deps
              if not dep.startswith("launcher.entrypoints") and _layer(dep) > _layer(m)]
    assert upward == []


def test_no_import_cycles() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def walk(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if dep not in graph:
                continue
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep):], dep])
            elif dep not in state:
                walk(dep, [*stack, dep])
        state[node] = 2

    for module in graph:
        if module not in state:
            walk(module, [module])
    assert cycles == []


def test_every_module_is_in_a_layer() -> None:
    for module in _graph():
        _layer(module)
