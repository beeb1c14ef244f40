"""Pre-operational software integrity test: HMAC-SHA-256 over the module's own code.

As OpenSSL's ``fipsinstall`` does, the expected value (the seal) is computed at install time and
kept outside the code it covers; at power-on the module recomputes it and refuses to operate on a
mismatch. The HMAC key is public (a fixed constant): the test detects accidental or unsophisticated
modification, which is what FIPS 140-3 asks of an EDC-based integrity technique. The HMAC is the
``hashlib`` one (:mod:`module.algorithms.primitives`); its CAST runs before this test.
"""

from __future__ import annotations

import marshal
import struct
from hmac import compare_digest
from importlib.util import MAGIC_NUMBER, source_hash
from types import CodeType

from module.algorithms.primitives import HmacSha256, sha256
from module.ports import CodeImage, CompiledFile

__all__ = ["INTEGRITY_KEY", "compute_seal", "check_seal", "check_compiled", "RESEAL_HINT", "BYTECODE_HINT"]

INTEGRITY_KEY = b"cmsim integrity seal v1"
RESEAL_HINT = "re-seal the installed module with `make seal` (or `cmsim-seal`)"
BYTECODE_HINT = "delete the module's __pycache__ directories and stray compiled files, then power on again"

_PYC_HEADER = 16  # PEP 552: magic, flags, then mtime and size or the source hash
_compiled_sources: dict[tuple[bytes, int], CodeType] = {}  # compile() of sealed source, by content digest


def compute_seal(code: CodeImage) -> bytes:
    """HMAC over (length-prefixed name, length-prefixed content) of every file, in a stable order."""
    mac = HmacSha256(INTEGRITY_KEY)
    count = 0
    for name, content in code.files():
        encoded = name.encode()
        mac.update(struct.pack(">H", len(encoded)) + encoded + struct.pack(">Q", len(content)))
        mac.update(content)
        count += 1
    mac.update(struct.pack(">I", count))
    return mac.digest()


def check_seal(code: CodeImage, seal: bytes | None) -> str | None:
    """None when the code matches the seal, else a message saying what is wrong and how to fix it."""
    if seal is None:
        return f"integrity seal missing; {RESEAL_HINT}"
    if not compare_digest(compute_seal(code), seal):
        return f"integrity seal does not match the module code; {RESEAL_HINT}"
    return None


def check_compiled(code: CodeImage) -> str | None:
    """None when every compiled file the interpreter would load is the sealed source, compiled.

    The seal covers sources, but the interpreter runs a cached ``.pyc`` instead of its source when
    the pyc's header matches the source (size and mtime, or its hash), or unchecked, whatever it
    holds. So each file that would be loaded is compared with the compile of its sealed source
    (code objects compare by instructions, constants, names and nesting, not by file path); a
    file the interpreter would ignore (another magic number, a header that does not match) runs
    nowhere and is passed over. Compiled files without a sealed source always fail.
    """
    for item in code.compiled():
        problem = _compiled_problem(item)
        if problem is not None:
            return f"integrity: {problem}; {BYTECODE_HINT}"
    return None


def _compiled_problem(item: CompiledFile) -> str | None:
    if item.source_name is None:
        return f"compiled file {item.name} has no sealed source"
    data = item.data
    if len(data) < _PYC_HEADER or data[:4] != MAGIC_NUMBER:
        return None  # not this interpreter's bytecode: it recompiles the source instead
    flags = int.from_bytes(data[4:8], "little")
    if flags == 0:
        stamp = int.from_bytes(data[8:12], "little"), int.from_bytes(data[12:16], "little")
        if stamp != (item.source_mtime & 0xFFFFFFFF, item.source_size & 0xFFFFFFFF):
            return None  # stale: the interpreter recompiles
    elif flags in (0b01, 0b11):
        if flags & 0b10 and data[8:16] != source_hash(item.source):
            return None  # a checked hash-based pyc of other source: recompiled
    else:
        return None  # invalid flags: the interpreter refuses the file and compiles the source
    try:
        loaded = marshal.loads(data[_PYC_HEADER:])
    except (EOFError, ValueError, TypeError):
        return f"{item.name} would be loaded for {item.source_name} but is not readable bytecode"
    try:
        expected = _compile(item)
    except (SyntaxError, ValueError):
        return f"sealed source {item.source_name} does not compile"
    if loaded != expected:
        return f"{item.name} would run in place of {item.source_name} and is not its sealed source"
    return None


def _compile(item: CompiledFile) -> CodeType:
    key = (sha256(item.source), item.optimization)
    code = _compiled_sources.get(key)
    if code is None:
        code = compile(item.source, item.source_name or item.name, "exec", dont_inherit=True,
                       optimize=item.optimization)
        _compiled_sources[key] = code
    return code
