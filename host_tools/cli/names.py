"""The command line's names for wire enums (key types, key uses, digests, KDFs, roles)."""

from __future__ import annotations

from module.wire.defs import DigestAlg, KdfAlg, KeyType, KeyUse, Role

__all__ = ["KEY_TYPES", "KEY_TYPE_NAMES", "DIGESTS", "KDFS", "ROLES", "KEY_USES", "use_names"]

KEY_TYPES = {
    "aes-256": KeyType.AES_256, "hmac-sha256": KeyType.HMAC_SHA256, "hmac-sha384": KeyType.HMAC_SHA384,
    "hmac-sha512": KeyType.HMAC_SHA512, "generic-secret": KeyType.GENERIC_SECRET, "ecdsa-p256": KeyType.EC_P256,
    "ecdsa-p384": KeyType.EC_P384, "ed25519": KeyType.ED25519, "ml-dsa-65": KeyType.ML_DSA_65,
    "ml-kem-768": KeyType.ML_KEM_768,
}
KEY_TYPE_NAMES = {v: k for k, v in KEY_TYPES.items()}
DIGESTS = {"sha256": DigestAlg.SHA2_256, "sha384": DigestAlg.SHA2_384, "sha512": DigestAlg.SHA2_512,
           "sha3-256": DigestAlg.SHA3_256, "sha3-384": DigestAlg.SHA3_384, "sha3-512": DigestAlg.SHA3_512}
KDFS = {"hkdf-sha256": KdfAlg.HKDF_SHA256, "kbkdf-hmac-sha256": KdfAlg.KBKDF_CTR_HMAC_SHA256}
ROLES = {"co": Role.CRYPTO_OFFICER, "user": Role.USER, "auditor": Role.AUDITOR}
KEY_USES = {str(u.name).lower(): u for u in KeyUse if u is not KeyUse.NONE}


def use_names(uses: KeyUse) -> list[str]:
    """A key's uses as names, in the enum's order (not a bitmask)."""
    return [name for name, flag in KEY_USES.items() if flag in uses]
