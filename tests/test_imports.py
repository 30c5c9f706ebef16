"""No import cycles inside ds_monitor: the package's modules form a layered graph.

Every import statement counts, also one inside a function or under ``TYPE_CHECKING``: such an
import hides a cycle from the interpreter, it does not remove the dependency. The graph is read
from the source (``ast``), so nothing is imported and the test runs in milliseconds.
Run as a script (``python tests/test_imports.py``) it prints the cycles it finds.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "ds_monitor"


def modules(root: Path = PACKAGE_ROOT) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package's ``__init__``)."""
    found = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def imports_of(name: str, path: Path, is_package: bool, known: set[str]) -> set[str]:
    """The package's modules that ``name`` imports anywhere in its source."""
    package = name if is_package else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                # ``from ds_monitor.notify import pacer`` imports the submodule; otherwise the module itself.
                submodule = f"{source}.{alias.name}"
                if submodule in known:
                    targets.add(submodule)
                elif source in known:
                    targets.add(source)
    targets.discard(name)
    return targets


def import_graph(root: Path = PACKAGE_ROOT) -> dict[str, set[str]]:
    found = modules(root)
    return {name: imports_of(name, path, is_package, set(found)) for name, (path, is_package) in found.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_package_has_no_import_cycles():
    found = cycles(import_graph())
    assert found == [], "import cycles (each line: modules that import each other):\n" + "\n".join(
        " <-> ".join(component) for component in found
    )


def test_the_checker_sees_a_cycle_hidden_in_a_function(tmp_path):
    package = tmp_path / PACKAGE
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from ds_monitor import b\n")
    (package / "b.py").write_text("def later():\n    from ds_monitor.a import thing\n")
    (package / "c.py").write_text("from .a import b\n")
    assert cycles(import_graph(tmp_path)) == [["ds_monitor.a", "ds_monitor.b"]]


if __name__ == "__main__":
    for component in cycles(import_graph()):
        print(" <-> ".join(component))
