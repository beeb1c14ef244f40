"""The module reads no file of its own: nothing under module/ imports importlib.resources (or
another file or package-data reader) or calls open(), so its known answers are code
(module/data/*.py) and the integrity seal over the package covers every byte it runs on."""

from __future__ import annotations

import ast
from pathlib import Path

from firmware_sim.integrity import PackageCodeImage

MODULE = Path(__file__).resolve().parent.parent / "module"

FILE_READERS = {"importlib.resources", "importlib_resources", "pkgutil", "pathlib", "os", "shutil", "tempfile"}
READ_METHODS = {"read_text", "read_bytes", "write_text", "write_bytes"}  # pathlib and importlib.resources


def file_access(source: str) -> list[str]:
    """Imports of file readers and calls of open() or of a path's read/write methods, by line."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name} at line {node.lineno}" for a in node.names
                      if a.name in FILE_READERS or a.name.split(".")[0] in FILE_READERS]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = {node.module} | {f"{node.module}.{a.name}" for a in node.names}
            found += [f"import {n} at line {node.lineno}" for n in sorted(names & FILE_READERS)]
        elif isinstance(node, ast.Call):
            func = node.func
            if (isinstance(func, ast.Name) and func.id == "open") or (
                    isinstance(func, ast.Attribute) and func.attr in READ_METHODS):
                found.append(f"call at line {node.lineno}")
    return found


def test_the_check_catches_the_old_resource_read() -> None:
    """How cast.py and drbg.py loaded their known answers before they became code."""
    old = ('from importlib import resources\n'
           'text = resources.files("module.data").joinpath("drbg_kat.json").read_text(encoding="utf-8")\n'
           'with open("x") as f:\n    pass\n')
    assert file_access(old) == ["import importlib.resources at line 1", "call at line 2", "call at line 3"]


def test_the_module_reads_no_files() -> None:
    sources = sorted(p for p in MODULE.rglob("*.py") if "__pycache__" not in p.parts)
    assert len(sources) > 20
    hits = {p.relative_to(MODULE).as_posix(): file_access(p.read_text(encoding="utf-8")) for p in sources}
    assert {name: found for name, found in hits.items() if found} == {}


def test_the_seal_covers_the_known_answer_tables() -> None:
    names = {name for name, _ in PackageCodeImage().files()}
    assert {"data/cast_vectors.py", "data/drbg_kat.py"} <= names
    assert not [n for n in names if not n.endswith(".py")]  # nothing the module would have to read
