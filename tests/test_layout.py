"""The package's layers (README, Layout): the shared core imports no modality (the CLI, the one front end in
the core, excepted), the modalities (``aae_core.molecules``, ``aae_core.images``) do not import each other, and
no modules import each other in a circle. Imports inside functions count; ``if TYPE_CHECKING:`` blocks do not."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "aae_core"
MODALITIES = ("aae_core.molecules", "aae_core.images")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _import_nodes(node: ast.AST):
    for child in ast.iter_child_nodes(node):
        if _type_checking(child):
            continue
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child
        yield from _import_nodes(child)


def imports(name: str) -> set[str]:
    """The ``aae_core`` modules that module ``name`` imports (``from X import y`` counts as ``X.y`` when that is
    a module, else ``X``)."""
    found = set()
    for node in _import_nodes(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif node.module:
            found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                      for a in node.names}
    return {m for m in found if m in MODULES and m != name}


def modality(name: str) -> str | None:
    return next((m for m in MODALITIES if name == m or name.startswith(m + ".")), None)


def test_the_walk_finds_the_layers():
    assert {"aae_core.registry", "aae_core.molecules.families", "aae_core.images.training"} <= set(MODULES)
    assert "aae_core.models.aae" in imports("aae_core.molecules.families")  # a known edge is seen


def test_core_imports_no_modality_except_the_cli():
    offenders = {name: sorted(m for m in imports(name) if modality(m)) for name in MODULES
                 if modality(name) is None and name != "aae_core.cli"}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_modalities_do_not_import_each_other():
    crossing = {name: sorted(m for m in imports(name) if modality(m) not in (None, modality(name)))
                for name in MODULES if modality(name)}
    assert {k: v for k, v in crossing.items() if v} == {}


def test_no_import_circle():
    graph = {name: imports(name) for name in MODULES}
    state: dict[str, str] = {}
    circles = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                circles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert circles == []
