"""The login handshake (protocol version 2), as both ends compute it (published: a host driver needs it).

An ephemeral ECDH (P-256) between host and module, authenticated by the module's identity key
(Ed25519), gives the session keys through the SP 800-56C rev. 2 one-step KDF; the operator's
password proof travels only inside the channel those keys protect. A passive observer sees two
public keys, two nonces, a salt and a signature: nothing that lets it check a password guess
(that needs the ECDH secret). An active attacker without the identity key fails the host's
signature check before the host has computed anything from the password.

Flow::

    host   -> AUTH_BEGIN  (clear, session 0)   {operator, host_ephemeral, host_nonce}
    module <- {session_id, module_ephemeral, module_nonce, salt, iterations, signature}
    host   -> AUTH_FINISH (protected, session session_id, seq 1)   {auth_key}
    module <- (protected) {role, factory_credential, module_confirm}

PBKDF2 (SP 800-132) serves only to derive ``auth_key``, and the module stores only
``verifier = HMAC-SHA-256(auth_key, "cmsim verifier v2")``: what it stores does not log anyone in.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash

__all__ = [
    "NONCE_SIZE",
    "SALT_SIZE",
    "AUTH_KEY_SIZE",
    "EPHEMERAL_SIZE",
    "HOST_MIN_ITERATIONS",
    "SessionKeys",
    "derive_auth_key",
    "verifier_of",
    "transcript_hash",
    "derive_session_keys",
    "shared_secret",
    "module_confirm",
    "fingerprint",
    "identity_statement",
    "ephemeral_from_random",
    "EPHEMERAL_RANDOM_SIZE",
]

NONCE_SIZE: Final = 16
SALT_SIZE: Final = 16
AUTH_KEY_SIZE: Final = 32
EPHEMERAL_SIZE: Final = 65  # an uncompressed P-256 point: 0x04 || X || Y
EPHEMERAL_RANDOM_SIZE: Final = 40  # DRBG bytes per ephemeral private key (FIPS 186-5 A.2.1: 256 + 64 bits)
# The host refuses a login that announces fewer PBKDF2 iterations than this (a downgrade);
# a host may set its own floor (Client(min_iterations=...)), the module's default policy is 100,000.
HOST_MIN_ITERATIONS: Final = 100_000
TRANSCRIPT_LABEL: Final = b"cmsim handshake v2"
KDF_LABEL: Final = b"cmsim session keys v2"
DIGEST_KDF_LABEL: Final = b"cmsim audit digest key v1"
VERIFIER_LABEL: Final = b"cmsim verifier v2"
CONFIRM_LABEL: Final = b"module confirm"
IDENTITY_LABEL: Final = b"cmsim identity v2"
_P256_ORDER: Final = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@dataclass(frozen=True)
class SessionKeys:
    """Per-session keys: one AES-256 key per direction, the key-confirmation key, and the key of
    the session's audit digests (``module.wire.audit.digest``: an export alone opens no guess)."""

    host_to_module: bytes
    module_to_host: bytes
    confirm: bytes
    digest: bytes


def derive_auth_key(password: str, salt: bytes, iterations: int, length: int = AUTH_KEY_SIZE) -> bytes:
    """PBKDF2-HMAC-SHA-256 (SP 800-132) of the password: the host's proof, sent only inside the channel.
    ``length`` other than the auth key's is for the lab's algorithm test of this same derivation."""
    return hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations, length)


def verifier_of(auth_key: bytes) -> bytes:
    """What the module stores per operator; knowing it does not give the auth key."""
    return hmac.new(auth_key, VERIFIER_LABEL, hashlib.sha256).digest()


def _lp(data: bytes) -> bytes:
    return struct.pack(">H", len(data)) + data


def transcript_hash(serial: str, operator: str, session_id: int, host_ephemeral: bytes, host_nonce: bytes,
                    module_ephemeral: bytes, module_nonce: bytes, salt: bytes, iterations: int) -> bytes:
    """TH = SHA-256(label || serial || operator || session id || both ephemerals and nonces || salt || iterations).

    Strings are length-prefixed (u16), the session id is u32 and the iterations u32, big-endian."""
    return hashlib.sha256(
        TRANSCRIPT_LABEL + _lp(serial.encode()) + _lp(operator.encode()) + struct.pack(">I", session_id)
        + host_ephemeral + host_nonce + module_ephemeral + module_nonce + salt + struct.pack(">I", iterations)
    ).digest()


def shared_secret(private: ec.EllipticCurvePrivateKey, peer_public: bytes) -> bytes:
    """Z: the ECDH (SP 800-56A KAS-ECC-SSC) x-coordinate with the peer's uncompressed point."""
    peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), peer_public)
    return private.exchange(ec.ECDH(), peer)


def derive_session_keys(z: bytes, th: bytes) -> SessionKeys:
    """SP 800-56C rev. 2 one-step KDF (SHA-256), FixedInfo = KDF label || TH: 96 bytes of channel
    keys; the audit digest key from its own one-step KDF, FixedInfo = digest label || TH (32 bytes)."""
    okm = ConcatKDFHash(algorithm=hashes.SHA256(), length=96, otherinfo=KDF_LABEL + th).derive(z)
    digest = ConcatKDFHash(algorithm=hashes.SHA256(), length=32, otherinfo=DIGEST_KDF_LABEL + th).derive(z)
    return SessionKeys(okm[:32], okm[32:64], okm[64:], digest)


def module_confirm(keys: SessionKeys, th: bytes) -> bytes:
    """The module's key confirmation: only an end that holds Z computes it."""
    return hmac.new(keys.confirm, CONFIRM_LABEL + th, hashlib.sha256).digest()


def fingerprint(identity_public_key: bytes) -> str:
    """SHA-256 of the raw 32-byte Ed25519 public key, in hex (64 digits): what a host pins."""
    return hashlib.sha256(identity_public_key).hexdigest()


def identity_statement(serial: str, audit_public_key: bytes, lab_mode: bool) -> bytes:
    """What the identity key signs in IDENTITY's answer: the serial, the audit key, the lab flag."""
    return IDENTITY_LABEL + _lp(serial.encode()) + _lp(audit_public_key) + bytes([1 if lab_mode else 0])


def ephemeral_from_random(random: bytes) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key from 40 random bytes: d = (c mod (n - 1)) + 1 (FIPS 186-5 A.2.1)."""
    d = int.from_bytes(random, "big") % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(d, ec.SECP256R1())
