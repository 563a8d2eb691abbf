"""The layout of :mod:`dashboard.services`: the dependency order drawn in its docstring is the one its modules
import, and the package itself holds nothing but that docstring."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import dashboard.services

PACKAGE = Path(dashboard.services.__file__).parent


def drawn_layers() -> list[dict[str, set[str]]]:
    """The drawing after ``::`` in the package docstring, top line first: per line, module -> the modules it
    imports."""
    drawing = dashboard.services.__doc__.split("::", 1)[1]
    return [{name: set(filter(None, re.split(r",\s*", deps))) for name, deps in
             re.findall(r"(\w+)(?:\s*\(([\w, ]*)\))?", line)} for line in drawing.splitlines() if line.strip()]


def imported_services(path: Path) -> set[str]:
    """The modules of this package that the module at ``path`` imports, however it spells the import."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "dashboard.services":
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dashboard.services."):
            found.add(node.module.split(".")[2])
        elif isinstance(node, ast.ImportFrom) and node.level:  # relative: from . import x, from .x import y
            found |= {node.module.split(".")[0]} if node.module else {alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[2] for a in node.names if a.name.startswith("dashboard.services.")}
    return found


def test_every_module_imports_what_the_docstring_draws_and_only_lower_lines():
    layers = drawn_layers()
    drawn = {name: deps for layer in layers for name, deps in layer.items()}
    modules = {path.stem for path in PACKAGE.glob("*.py")} - {"__init__"}
    assert set(drawn) == modules
    for depth, layer in enumerate(layers):
        below = {name for lower in layers[depth + 1:] for name in lower}
        for name, deps in layer.items():
            assert imported_services(PACKAGE / f"{name}.py") == deps, name
            assert deps <= below, f"{name} imports a module drawn on its own line or above: {deps - below}"


def test_the_package_is_only_its_docstring():
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    assert len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr)
