"""Non-approved algorithms, kept apart from the approved surface (as pyca keeps ``hazmat/decrepit``).

SHA-1 is no longer approved for digital signature generation (SP 800-131A Rev. 2), so the
service built on these functions answers with the approved indicator cleared. (A plain SHA-1
digest is still acceptable for non-signature uses and lives in the approved layer.) Nothing in
the approved layer imports this module.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from module.algorithms.approved import InvalidKeyData, load_ec_private_key
from module.wire.defs import KeyType

__all__ = ["ecdsa_p256_sha1_sign", "ecdsa_p256_sha1_verify"]

_P256_SIZE = 32


def ecdsa_p256_sha1_sign(private: bytes, message: bytes) -> bytes:
    """ECDSA P-256 with SHA-1 (legacy), raw r || s; deterministic nonces as the approved path."""
    key = load_ec_private_key(KeyType.EC_P256, private)
    der = key.sign(message, ec.ECDSA(hashes.SHA1(), deterministic_signing=True))
    r, s = decode_dss_signature(der)
    return r.to_bytes(_P256_SIZE, "big") + s.to_bytes(_P256_SIZE, "big")


def ecdsa_p256_sha1_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """Verify a legacy ECDSA P-256/SHA-1 signature (raw r || s); False for anything malformed."""
    if len(signature) != 2 * _P256_SIZE or len(public) != 1 + 2 * _P256_SIZE or public[:1] != b"\x04":
        return False
    r = int.from_bytes(signature[:_P256_SIZE], "big")
    s = int.from_bytes(signature[_P256_SIZE:], "big")
    if r == 0 or s == 0:
        return False
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public)
        key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA1()))
    except (InvalidSignature, InvalidKeyData, ValueError):
        return False
    return True
