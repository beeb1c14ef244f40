"""The integrity test covers the code that runs: bytecode the interpreter would load, not only sources.

A copy of the module package is sealed in a temporary directory, then compiled files are planted
in it the way an attacker (or a stale build) would leave them. The expected outcomes come from
the interpreter's own import system: a planted file that importlib really loads in place of the
sealed source must fail the boot; one that it would ignore must not.
"""

from __future__ import annotations

import importlib.util
import marshal
import py_compile
import shutil
from pathlib import Path

import pytest

from firmware_sim.entropy import OsNoiseSource
from firmware_sim.integrity import MODULE_DIR, PackageCodeImage
from module.core import Module
from module.integrity import compute_seal
from module.ports import ManualClock, MemoryFlash
from module.wire.defs import State

EVIL = "6.6.6-evil"


@pytest.fixture
def package(tmp_path: Path) -> Path:
    root = tmp_path / "module"
    shutil.copytree(MODULE_DIR, root, ignore=shutil.ignore_patterns("__pycache__", "*.seal"))
    return root


def boot(root: Path) -> Module:
    image = PackageCodeImage(root)
    module = Module(flash=MemoryFlash(), clock=ManualClock(), entropy=OsNoiseSource(), code=image,
                    seal=compute_seal(image))
    module.power_on()
    return module


def timestamp_pyc(source: Path, code_text: bytes, *, mtime: int | None = None) -> bytes:
    """A timestamp pyc (PEP 552 flags 0) for ``source`` whose header matches the source's size and mtime."""
    st = source.stat()
    stamp = int(st.st_mtime) if mtime is None else mtime
    header = importlib.util.MAGIC_NUMBER + (0).to_bytes(4, "little")
    header += (stamp & 0xFFFFFFFF).to_bytes(4, "little") + (st.st_size & 0xFFFFFFFF).to_bytes(4, "little")
    return header + marshal.dumps(compile(code_text, str(source), "exec", dont_inherit=True))


def plant(source: Path, data: bytes) -> Path:
    target = Path(importlib.util.cache_from_source(str(source)))
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(data)
    return target


def loaded_version(source: Path) -> str:
    """What the interpreter really runs for ``source`` (it reads the cached bytecode if it trusts it)."""
    spec = importlib.util.spec_from_file_location("cmsim_planted_version", source)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return str(mod.FIRMWARE_VERSION)


def evil_source(source: Path) -> bytes:
    text = source.read_bytes()
    assert b'FIRMWARE_VERSION = "' in text
    return text.replace(b'FIRMWARE_VERSION = "0.1.0"', f'FIRMWARE_VERSION = "{EVIL}"'.encode())


def test_untouched_copy_boots(package: Path) -> None:
    assert boot(package).state is State.UNINITIALISED


def test_a_tampered_pyc_with_the_sources_size_and_mtime_fails_the_boot(package: Path) -> None:
    source = package / "version.py"
    plant(source, timestamp_pyc(source, evil_source(source)))
    assert loaded_version(source) == EVIL, "the planted bytecode is what the interpreter would run"
    module = boot(package)
    assert module.state is State.HARD_ERROR
    assert "version.py" in module.status_data()["last_error"]


def test_an_unchecked_hash_based_pyc_that_differs_fails_the_boot(package: Path) -> None:
    source = package / "version.py"
    good = Path(py_compile.compile(str(source), invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH))
    header = good.read_bytes()[:16]
    good.write_bytes(header + marshal.dumps(compile(evil_source(source), str(source), "exec", dont_inherit=True)))
    assert loaded_version(source) == EVIL
    assert boot(package).state is State.HARD_ERROR


def test_bytecode_without_a_source_fails_the_boot(package: Path) -> None:
    (package / "extra.pyc").write_bytes(timestamp_pyc(package / "version.py", b"X = 1\n"))
    module = boot(package)
    assert module.state is State.HARD_ERROR
    assert "extra.pyc" in module.status_data()["last_error"]


def test_bytecode_the_interpreter_compiled_itself_boots(package: Path) -> None:
    for source in sorted(package.rglob("*.py"))[:5]:
        py_compile.compile(str(source))
    py_compile.compile(str(package / "version.py"), invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    assert boot(package).state is State.UNINITIALISED


def test_stale_bytecode_the_interpreter_would_not_load_is_no_failure(package: Path) -> None:
    source = package / "version.py"
    plant(source, timestamp_pyc(source, evil_source(source), mtime=int(source.stat().st_mtime) - 10))
    assert loaded_version(source) == "0.1.0", "a header that does not match the source is recompiled"
    assert boot(package).state is State.UNINITIALISED
