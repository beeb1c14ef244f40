"""Loaders for the vector files shipped in the ``cryptography_vectors`` package.

Known-answer tests read their vectors through these functions, never from pasted hex (pyca's
``load_nist_vectors`` is the model). Three formats occur:

* CAVP ``.rsp``/``.txt``/``.fax``: ``[section]`` headers and ``KEY = value`` lines. A record
  starts at ``COUNT`` when the file numbers its cases, otherwise when a key repeats; a bare
  ``FAIL`` line marks the current record as one that must be rejected.
* ``asymmetric/Ed25519/sign.input``: one colon-separated case per line (the SUPERCOP format).
* OpenSSL ``evp*.txt`` test files: blank-line separated stanzas with PEM key blocks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import cryptography_vectors

__all__ = [
    "NistVector",
    "Ed25519Vector",
    "EvpStanza",
    "open_text",
    "parse_nist_vectors",
    "load_nist_vectors",
    "load_ed25519_vectors",
    "load_evp_stanzas",
]


@dataclass(frozen=True)
class NistVector:
    """One CAVP case: its fields (keys lower-cased), its section headers and whether it must FAIL."""

    fields: Mapping[str, str]
    section: Mapping[str, str] = field(default_factory=dict)
    section_names: tuple[str, ...] = ()
    fail: bool = False
    line: int = 0

    def __getitem__(self, key: str) -> str:
        return self.fields[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self.fields

    def hex(self, key: str) -> bytes:
        """A hex field as bytes (an empty value is the empty string)."""
        return bytes.fromhex(self[key])

    def int(self, key: str) -> int:
        return int(self[key], 0) if self[key].startswith("0x") else int(self[key])


@dataclass(frozen=True)
class Ed25519Vector:
    seed: bytes
    public: bytes
    message: bytes
    signature: bytes
    line: int


@dataclass(frozen=True)
class EvpStanza:
    """One OpenSSL evp test stanza: ``key = value`` pairs in order, a PEM block as a ``PEM`` item."""

    items: tuple[tuple[str, str], ...]
    line: int

    def get(self, key: str, default: str = "") -> str:
        for k, v in self.items:
            if k == key:
                return v
        return default


def open_text(path: str) -> list[str]:
    """The lines of a file from the ``cryptography_vectors`` package."""
    with cryptography_vectors.open_vector_file(path, "r") as handle:
        return handle.read().splitlines()


def parse_nist_vectors(lines: Iterable[str]) -> list[NistVector]:
    """Parse CAVP text into records (see the module docstring for the rules)."""
    vectors: list[NistVector] = []
    section: dict[str, str] = {}
    names: list[str] = []
    header_open = False  # the last significant line was a [header]
    current: dict[str, str] | None = None
    fail = False
    start = 0

    def flush() -> None:
        nonlocal current, fail
        if current is not None:
            vectors.append(NistVector(dict(current), dict(section), tuple(names), fail, start))
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
            if current is None:
                raise ValueError(f"line {number}: FAIL outside a record")
            fail = True
            continue
        if "=" not in line:
            raise ValueError(f"line {number}: not a KEY = value line: {line[:40]!r}")
        key, _, value = line.partition("=")
        key, value = key.strip().lower(), value.strip()
        if key == "count" or current is None or ("count" not in current and key in current):
            flush()
            current, start = {}, number
        current[key] = value
    flush()
    return vectors


def load_nist_vectors(path: str) -> list[NistVector]:
    """Every record of a CAVP file in ``cryptography_vectors`` (path relative to the package)."""
    return parse_nist_vectors(open_text(path))


def load_ed25519_vectors(path: str = "asymmetric/Ed25519/sign.input") -> list[Ed25519Vector]:
    """SUPERCOP lines ``sk||pk : pk : msg : sig||msg :`` as seed, public key, message, signature."""
    vectors = []
    for number, line in enumerate(open_text(path), 1):
        if not line.strip():
            continue
        secret, public, message, signed, _ = line.split(":")
        msg = bytes.fromhex(message)
        sig_and_msg = bytes.fromhex(signed)
        if sig_and_msg[64:] != msg:
            raise ValueError(f"line {number}: signed message does not end with the message")
        vectors.append(Ed25519Vector(bytes.fromhex(secret)[:32], bytes.fromhex(public), msg, sig_and_msg[:64], number))
    return vectors


def load_evp_stanzas(path: str) -> list[EvpStanza]:
    """Stanzas of an OpenSSL evp test file; a PEM block after ``PrivateKey=NAME`` becomes a ``PEM`` item."""
    stanzas: list[EvpStanza] = []
    items: list[tuple[str, str]] = []
    pem: list[str] | None = None
    start = 0
    for number, raw in enumerate(open_text(path) + [""], 1):
        line = raw.rstrip()
        if pem is not None:
            pem.append(line)
            if line.startswith("-----END"):
                items.append(("PEM", "\n".join(pem) + "\n"))
                pem = None
            continue
        if not line:
            if items:
                stanzas.append(EvpStanza(tuple(items), start))
            items = []
            continue
        if line.startswith("#"):
            continue
        if not items:
            start = number
        key, _, value = line.partition("=")
        items.append((key.strip(), value.strip()))
        if key.strip() in ("PrivateKey", "PublicKey"):
            pem = []
    return stanzas

