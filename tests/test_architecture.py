"""The folders are the architecture: host tools see only the module's published wire format,
the module itself does no I/O of its own (no pty, socket or serial imports), nothing imports
itself back round a circle, and no function in the module grows past a screen.

``python tests/test_architecture.py`` prints the import graph of module/, firmware_sim/ and
host_tools/ and any cycles in it."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("module", "firmware_sim", "host_tools")
MAX_FUNCTION_LINES = 60
# "path function" of the functions allowed past the limit, each with its reason (none today).
LONG_FUNCTIONS_ALLOWED: frozenset[str] = frozenset()


def imports(folder: str) -> list[tuple[str, str]]:
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(path.name, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                found += [(path.name, node.module)]
    return found


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Every import in the three packages, at any depth (function-level and TYPE_CHECKING
    imports included), as edges between their own modules. ``from package import name`` points
    at the submodule ``package.name`` when there is one."""
    paths = {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}
    graph: dict[str, set[str]] = {name: set() for name in paths}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in paths else base for alias in node.names]
            for target in targets:
                while target and target not in paths:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


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
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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


def functions(folder: str) -> Iterator[tuple[str, int]]:
    """(qualified name, lines) of every function and method under ``folder``."""
    for path in sorted((ROOT / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno is not None
                where = f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
                yield where, node.end_lineno - node.lineno + 1


def test_host_tools_import_only_the_wire_format_from_the_module() -> None:
    bad = [(f, m) for f, m in imports("host_tools")
           if (m == "module" or m.startswith("module.")) and not m.startswith("module.wire")]
    assert bad == []
    assert not [(f, m) for f, m in imports("host_tools") if m.startswith("firmware_sim")]


def test_the_module_does_no_io_of_its_own() -> None:
    io_modules = {"serial", "socket", "selectors", "pty", "tty", "subprocess", "termios"}
    bad = [(f, m) for f, m in imports("module") if m.split(".")[0] in io_modules or m.startswith("firmware_sim")]
    assert bad == []
    assert not [(f, m) for f, m in imports("module") if m.startswith("host_tools")]


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_service_handlers_do_not_import_the_module_core() -> None:
    graph = import_graph()
    bad = {name: sorted(graph[name]) for name in graph
           if name.startswith("module.services") and "module.core" in graph[name]}
    assert bad == {}


def test_no_function_in_the_module_is_longer_than_a_screen() -> None:
    long = [(where, n) for where, n in functions("module")
            if n > MAX_FUNCTION_LINES and f"{where.split(':')[0]} {where.split(' ')[-1]}" not in LONG_FUNCTIONS_ALLOWED]
    assert long == []


def main() -> None:
    """Print the import graph (each module and what it imports from the three packages) and its cycles."""
    graph = import_graph()
    for name in sorted(graph):
        print(f"{name} -> {', '.join(sorted(graph[name])) or '-'}")
    found = cycles(graph)
    print(f"\n{len(found)} import cycle(s)")
    for component in found:
        print(f"  {len(component)} modules: {' '.join(component)}")
    if "--functions" in sys.argv:
        print(f"\nfunctions over {MAX_FUNCTION_LINES // 2} lines in module/")
        for where, n in sorted(functions("module"), key=lambda item: -item[1]):
            if n > MAX_FUNCTION_LINES // 2:
                print(f"  {n:4d} {where}")


if __name__ == "__main__":
    main()
