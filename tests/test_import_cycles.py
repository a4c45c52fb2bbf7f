"""Import rules: no two studio modules import each other, each package imports only what
docs/architecture.md allows, and test modules import helper modules, never other test modules.

An import counts wherever it is written: at module level, inside a function (lazily) or under
`TYPE_CHECKING`; each is a dependency a reader has to follow. Importing `a.b.c` counts as a
dependency on `a.b.c` only, not on the packages above it.
"""

from __future__ import annotations

import ast
from collections.abc import Collection
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
STUDIO = ROOT / "studio"
TESTS = ROOT / "tests"

# The packages each package may import (docs/architecture.md, "Packages and what each may import");
# the top-level modules (studio, studio.cli*, studio.__main__) may import anything.
MAY_IMPORT = {
    "studio.graph": set(),
    "studio.codegen": {"studio.graph"},
    "studio.interop": {"studio.graph", "studio.child"},
    "studio.train": {"studio.graph", "studio.codegen"},
    "studio.verify": {"studio.graph", "studio.codegen", "studio.train", "studio.child", "studio.interop"},
    "studio.ui": {"studio.graph", "studio.codegen", "studio.interop", "studio.train", "studio.verify", "studio.torch_capture"},
}
ALLOWED_CROSSINGS = {
    # The training-script export writes the project's data beside the script, loaded as the
    # trainer loads it (studio.train.datasets is numpy only).
    ("studio.codegen.export", "studio.train.datasets"),
}



def module_name(path: Path) -> str:
    """`studio/ui/canvas/scene.py` -> `studio.ui.canvas.scene`; a package's `__init__.py` is the package."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in STUDIO.rglob("*.py")}


def imported_names(module: str, path: Path, modules: Collection[str]) -> set[str]:
    """The modules the import statements of a module name, relative imports resolved (`modules`: those known)."""
    names = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:  # `from package import module` names the module, not the package
                names.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return names


def import_graph() -> nx.DiGraph:
    """Studio modules as nodes, an edge from each module to each studio module it imports."""
    graph = nx.DiGraph()
    graph.add_nodes_from(MODULES)
    for module, path in MODULES.items():
        for name in imported_names(module, path, MODULES):
            if name in MODULES and name != module:
                graph.add_edge(module, name)
    return graph


def package(module: str) -> str:
    """The second-level package a module belongs to (`studio.ui.canvas.scene` -> `studio.ui`)."""
    return ".".join(module.split(".")[:2])


def test_no_two_studio_modules_import_each_other() -> None:
    cycles = list(nx.simple_cycles(import_graph()))
    listed = "\n".join(" -> ".join([*cycle, cycle[0]]) for cycle in sorted(cycles))
    assert not cycles, f"import cycles between studio modules:\n{listed}"


def test_each_package_imports_only_what_the_map_allows() -> None:
    wrong = []
    for importer, imported in import_graph().edges:
        source, target = package(importer), package(imported)
        if source not in MAY_IMPORT or source == target or target == "studio":
            continue
        allowed = target in MAY_IMPORT[source]
        if not allowed and not {(source, target), (importer, imported)} & ALLOWED_CROSSINGS:
            wrong.append(f"{importer} imports {imported}")
    assert not wrong, "imports the package table of docs/architecture.md does not allow:\n" + "\n".join(sorted(wrong))


def test_the_scan_sees_lazy_and_type_checking_imports(tmp_path: Path) -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "from . import files\n"
        "if TYPE_CHECKING:\n    from studio.graph.model import Graph\n"
        "def later():\n    import studio.codegen.names\n"
    )
    path = tmp_path / "studio" / "ui" / "probe.py"
    path.parent.mkdir(parents=True)
    path.write_text(source, encoding="utf-8")
    names = imported_names("studio.ui.probe", path, MODULES)
    assert {"studio.ui.files", "studio.graph.model", "studio.codegen.names"} <= names


def test_test_modules_import_helpers_not_other_tests() -> None:
    test_modules = {module_name(path): path for path in TESTS.rglob("*.py")}
    wrong = []
    for importer, path in test_modules.items():
        for name in imported_names(importer, path, test_modules) & set(test_modules):
            last = name.rpartition(".")[2]
            if last.startswith("test_") or last == "conftest":
                wrong.append(f"{importer} imports {name}")
    assert not wrong, "move what these share into a helper module:\n" + "\n".join(sorted(wrong))
