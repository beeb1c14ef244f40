"""The folders are the architecture: host tools see only the module's published wire format,
and the module itself does no I/O of its own (no pty, socket or serial imports)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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


def test_host_tools_import_only_the_wire_format_from_the_module() -> None:
    bad = [(f, m) for f, m in imports("host_tools")
           if (m == "module" or m.startswith("module.")) and not m.startswith("module.wire")]
    assert bad == []
    assert not [(f, m) for f, m in imports("host_tools") if m.startswith("firmware_sim")]


def test_the_module_does_no_io_of_its_own() -> None:
    io_modules = {"serial", "socket", "selectors", "pty", "tty", "subprocess", "termios"}
    bad = [(f, m) for f, m in imports("module") if m.split(".")[0] in io_modules or m.startswith("firmware_sim")]
    assert bad == []
