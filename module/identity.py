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

from module.errors import SelfTestFailure
from module.ports import Flash
from module.rng import Rng
from module.selftests import SelfTests
from module.wire.defs import KeyType
from module.wire.handshake import fingerprint

__all__ = ["IDENTITY_FLASH_NAME", "SEED_SIZE", "DeviceIdentity", "IdentityKey"]

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


class IdentityKey:
    """The identity as the module holds it: loaded at power-on, made (with a pairwise test) at the
    first power-on whose DRBG works, forgotten from memory at power-off, never zeroised."""

    def __init__(self, flash: Flash, rng: Rng, selftests: SelfTests) -> None:
        self.flash = flash
        self.rng = rng
        self.selftests = selftests
        self.current: DeviceIdentity | None = None

    def load(self) -> None:
        seed = self.flash.read(IDENTITY_FLASH_NAME)
        self.current = DeviceIdentity(seed) if seed else None

    def ensure(self) -> SelfTestFailure | None:
        """Make the identity if there is none yet; a failed pairwise test is returned, not stored."""
        if self.current is not None:
            return None
        seed = self.rng.random_bytes(SEED_SIZE)
        identity = DeviceIdentity(seed)
        try:
            self.selftests.pairwise_consistency(KeyType.ED25519, seed, identity.public_key)
        except SelfTestFailure as exc:
            return exc
        self.flash.write(IDENTITY_FLASH_NAME, seed)
        self.current = identity
        return None

    def wipe_memory(self) -> None:
        self.current = None
