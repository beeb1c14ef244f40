"""NIST CAVP vectors from the ``cryptography-vectors`` package, read at run time (never pasted).

Formats read here:

* CAVP ``.rsp``/``.txt``: ``[section]`` headers and ``KEY = value`` lines. A case starts at
  ``COUNT`` when the file numbers its cases, otherwise when a key repeats; a bare ``FAIL`` line
  marks the current case as one the implementation must reject.
* ``asymmetric/Ed25519/sign.input``: one colon-separated case per line (the SUPERCOP format).

When the package is not installed :func:`available` is False and the algorithm step reports its
vector families as not run, never as passed.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["Case", "Ed25519Case", "available", "package_version", "load", "parse", "load_ed25519"]


@dataclass(frozen=True)
class Case:
    fields: dict[str, str]
    section: dict[str, str] = field(default_factory=dict)
    section_names: tuple[str, ...] = ()
    fail: bool = False
    line: int = 0

    def __getitem__(self, key: str) -> str:
        return self.fields[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self.fields

    def hex(self, key: str) -> bytes:
        return bytes.fromhex(self[key])

    def int(self, key: str) -> int:
        return int(self[key], 0) if self[key].startswith("0x") else int(self[key])


@dataclass(frozen=True)
class Ed25519Case:
    seed: bytes
    public: bytes
    message: bytes
    signature: bytes
    line: int


def available() -> bool:
    return importlib.util.find_spec("cryptography_vectors") is not None


def package_version() -> str:
    try:
        from importlib.metadata import version

        return version("cryptography-vectors")
    except Exception:  # noqa: BLE001 - a version string is a courtesy, not a requirement
        return "unknown"


def _lines(path: str) -> list[str]:
    import cryptography_vectors

    with cryptography_vectors.open_vector_file(path, "r") as handle:
        return str(handle.read()).splitlines()


def parse(lines: Iterable[str], *, strict: bool = False) -> list[Case]:
    """CAVP text into cases. ``strict`` (the test suite's reading) refuses a FAIL outside a case and
    any line that is neither a header nor ``KEY = value``; the harness skips such lines."""
    cases: list[Case] = []
    section: dict[str, str] = {}
    names: list[str] = []
    header_open = False
    current: dict[str, str] | None = None
    fail = False
    start = 0

    def flush() -> None:
        nonlocal current, fail
        if current is not None:
            cases.append(Case(dict(current), dict(section), tuple(names), fail, start))
        current, fail = None, False

    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            flush()
            if not header_open:
                section, names = {}, []
            header_open = True
            inner = line[1:-1]
            if "=" in inner:
                key, _, value = inner.partition("=")
                section[key.strip().lower()] = value.strip()
            else:
                names.append(inner.strip())
            continue
        header_open = False
        if line == "FAIL":
            if current is not None:
                fail = True
            elif strict:
                raise ValueError(f"line {number}: FAIL outside a record")
            continue
        if "=" not in line:
            if strict:
                raise ValueError(f"line {number}: not a KEY = value line: {line[:40]!r}")
            continue
        key, _, value = line.partition("=")
        key, value = key.strip().lower(), value.strip()
        if key == "count" or current is None or ("count" not in current and key in current):
            flush()
            current, start = {}, number
        current[key] = value
    flush()
    return cases


def load(path: str, *, strict: bool = False) -> list[Case]:
    """Every case of a CAVP file in ``cryptography_vectors`` (path relative to the package)."""
    return parse(_lines(path), strict=strict)


def load_ed25519(path: str = "asymmetric/Ed25519/sign.input") -> list[Ed25519Case]:
    cases = []
    for number, line in enumerate(_lines(path), 1):
        if not line.strip():
            continue
        secret, public, message, signed, _ = line.split(":")
        msg = bytes.fromhex(message)
        sig_and_msg = bytes.fromhex(signed)
        if sig_and_msg[64:] != msg:
            raise ValueError(f"line {number}: signed message does not end with the message")
        cases.append(Ed25519Case(bytes.fromhex(secret)[:32], bytes.fromhex(public), msg, sig_and_msg[:64], number))
    return cases
