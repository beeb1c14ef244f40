"""The device identity: an Ed25519 key pair made once, kept in flash, that hosts pin.

It signs the handshake transcript (so a host knows whose ephemeral key it agreed with) and the
identity statement (which vouches for the audit signing key). It protects no operator data, so
zeroisation leaves it, the way a TPM's endorsement key survives TPM2_Clear: a zeroised device is
still recognised by the hosts that pinned it.
"""

from __future__ import annotations

from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from module.wire.handshake import fingerprint

__all__ = ["IDENTITY_FLASH_NAME", "SEED_SIZE", "DeviceIdentity"]

IDENTITY_FLASH_NAME: Final = "identity_key"  # the identity key's 32-byte Ed25519 seed (an SSP)
SEED_SIZE: Final = 32


class DeviceIdentity:
    """Narrow on purpose: the public key, its fingerprint, and signing. The seed never leaves."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != SEED_SIZE:
            raise ValueError("an identity seed is 32 bytes")
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.public_key: bytes = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.fingerprint: str = fingerprint(self.public_key)

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)
