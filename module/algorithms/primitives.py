"""The module's second implementation of SHA-256 and HMAC-SHA-256: CPython's ``hashlib``/``hmac``.

Two libraries compute SHA-2 inside the boundary. The services' algorithms
(:mod:`module.algorithms.approved`) run on pyca/cryptography, which carries its own OpenSSL;
the internal uses that are on a hot path or need a running HMAC (the integrity test, the
HMAC_DRBG, the audit chain, request digests, the login's PBKDF2 and proofs) run on ``hashlib``,
which is linked against the interpreter's OpenSSL, a different build. ``hashlib.sha256`` on a
small input is several times faster than cryptography's ``Hash`` object, which is why both stay.

FIPS 140-3 IG 10.3.A asks that the implementation actually used is the one known-answer
tested, so the CASTs test this module's functions as well (the ``hashlib`` CASTs in
:mod:`module.cast`), and the integrity test's own (HMAC-SHA-256 here) runs before it.
New internal uses of SHA-256 or HMAC-SHA-256 should call these functions, not ``hashlib``.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

__all__ = ["IMPLEMENTATION", "SHA256_SIZE", "sha256", "hmac_sha256", "HmacSha256"]

IMPLEMENTATION: Final = "hashlib"  # the name the CASTs and the security policy give this implementation
SHA256_SIZE: Final = 32


def sha256(data: bytes) -> bytes:
    """SHA-256 (FIPS 180-4) of ``data``."""
    return hashlib.sha256(data).digest()


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    """One-shot HMAC-SHA-256 (FIPS 198-1): the C path, no Python-level object per call."""
    return hmac.digest(key, data, "sha256")


class HmacSha256:
    """A running HMAC-SHA-256 for input that arrives in pieces (the integrity test's files)."""

    def __init__(self, key: bytes) -> None:
        self._mac = hmac.new(key, digestmod=hashlib.sha256)

    def update(self, data: bytes) -> None:
        self._mac.update(data)

    def digest(self) -> bytes:
        return self._mac.digest()

