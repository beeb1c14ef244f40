"""The login handshake, as both ends compute it (published: a host driver needs it).

No password or static key ever crosses the line. The host derives the operator's static key from
the password with PBKDF2-HMAC-SHA-256 and the salt the module announces; both ends derive the
session keys from the static key and both challenges with the SP 800-108 counter-mode KBKDF;
the host proves knowledge first (so a caller who knows nothing learns nothing that could be
attacked offline), then the module proves it, which makes the authentication mutual.

Flow::

    host   -> AUTH_BEGIN  {operator, host_challenge}
    module <- {session_id, salt, iterations, module_challenge}
    host   -> AUTH_FINISH {session_id, host_proof}
    module <- {module_proof, role}
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.kbkdf import KBKDFHMAC, CounterLocation, Mode

__all__ = [
    "CHALLENGE_SIZE",
    "SALT_SIZE",
    "STATIC_KEY_SIZE",
    "SessionKeys",
    "derive_static_key",
    "derive_session_keys",
    "transcript",
    "host_proof",
    "module_proof",
]

CHALLENGE_SIZE = 16
SALT_SIZE = 16
STATIC_KEY_SIZE = 32
KDF_LABEL = b"cmsim session keys v1"


@dataclass(frozen=True)
class SessionKeys:
    """Per-session keys: one AES-256 key per direction and one key for the handshake proofs."""

    host_to_module: bytes
    module_to_host: bytes
    proof: bytes


def derive_static_key(password: str, salt: bytes, iterations: int) -> bytes:
    """PBKDF2-HMAC-SHA-256 (SP 800-132) of the password: the only form the module stores."""
    return hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations, STATIC_KEY_SIZE)


def transcript(operator: str, session_id: int, host_challenge: bytes, module_challenge: bytes) -> bytes:
    name = operator.encode("utf-8")
    return struct.pack(">B", len(name)) + name + struct.pack(">I", session_id) + host_challenge + module_challenge


def derive_session_keys(static_key: bytes, context: bytes) -> SessionKeys:
    """SP 800-108 KBKDF in counter mode with HMAC-SHA-256, context = the handshake transcript."""
    kdf = KBKDFHMAC(
        algorithm=hashes.SHA256(),
        mode=Mode.CounterMode,
        length=96,
        rlen=4,
        llen=4,
        location=CounterLocation.BeforeFixed,
        label=KDF_LABEL,
        context=context,
        fixed=None,
    )
    okm = kdf.derive(static_key)
    return SessionKeys(okm[:32], okm[32:64], okm[64:])


def host_proof(keys: SessionKeys, context: bytes) -> bytes:
    return hmac.new(keys.proof, b"host proof" + context, hashlib.sha256).digest()


def module_proof(keys: SessionKeys, context: bytes) -> bytes:
    return hmac.new(keys.proof, b"module proof" + context, hashlib.sha256).digest()
