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

from collections.abc import Iterable
from dataclasses import dataclass

import cryptography_vectors

from host_tools.lab.vectors import Case, Ed25519Case, load, load_ed25519, parse

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


# The CAVP and SUPERCOP readers are the lab harness's, read strictly here: one parser for both.
NistVector = Case
Ed25519Vector = Ed25519Case


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
    return parse(lines, strict=True)


def load_nist_vectors(path: str) -> list[NistVector]:
    """Every record of a CAVP file in ``cryptography_vectors`` (path relative to the package)."""
    return load(path, strict=True)


def load_ed25519_vectors(path: str = "asymmetric/Ed25519/sign.input") -> list[Ed25519Vector]:
    """SUPERCOP lines ``sk||pk : pk : msg : sig||msg :`` as seed, public key, message, signature."""
    return load_ed25519(path)


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

