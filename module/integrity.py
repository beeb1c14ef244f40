"""Pre-operational software integrity test: HMAC-SHA-256 over the module's own code.

As OpenSSL's ``fipsinstall`` does, the expected value (the seal) is computed at install time and
kept outside the code it covers; at power-on the module recomputes it and refuses to operate on a
mismatch. The HMAC key is public (a fixed constant): the test detects accidental or unsophisticated
modification, which is what FIPS 140-3 asks of an EDC-based integrity technique. The HMAC is the
``hashlib`` one (:mod:`module.algorithms.primitives`); its CAST runs before this test.
"""

from __future__ import annotations

import struct
from hmac import compare_digest

from module.algorithms.primitives import HmacSha256
from module.ports import CodeImage

__all__ = ["INTEGRITY_KEY", "compute_seal", "check_seal", "RESEAL_HINT"]

INTEGRITY_KEY = b"cmsim integrity seal v1"
RESEAL_HINT = "re-seal the installed module with `make seal` (or `cmsim-seal`)"


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
