"""The factory state: the module secret behind the fake salts that keep AUTH_BEGIN from
revealing which operators exist, and the one Crypto Officer with the documented factory credential."""

from __future__ import annotations

import hashlib

from module.config import ModuleConfig
from module.operators import Operator, OperatorStore
from module.ports import Flash
from module.rng import Rng
from module.wire.defs import Role
from module.wire.handshake import SALT_SIZE, derive_auth_key, verifier_of

__all__ = ["MODULE_SECRET_FLASH_NAME", "FactoryState", "wipe"]

MODULE_SECRET_FLASH_NAME = "module_secret"  # the key of the enumeration salts (an SSP)


class FactoryState:
    def __init__(self, flash: Flash, config: ModuleConfig, operators: OperatorStore, rng: Rng) -> None:
        self.flash = flash
        self.config = config
        self.operators = operators
        self.rng = rng
        self._enumeration_key = bytearray()

    def load(self) -> None:
        """Power-on: the module secret back from flash (none on a factory-fresh module)."""
        raw = self.flash.read(MODULE_SECRET_FLASH_NAME)
        self._enumeration_key = bytearray(raw) if raw else bytearray()

    def ensure(self) -> None:
        """A factory-fresh module has one Crypto Officer with the documented factory credential."""
        if not self._enumeration_key:
            secret = self.rng.random_bytes(32)
            self.flash.write(MODULE_SECRET_FLASH_NAME, secret)
            self._enumeration_key = bytearray(secret)
        if self.operators.count(Role.CRYPTO_OFFICER) == 0:
            salt = self.rng.random_bytes(SALT_SIZE)
            iterations = self.config.auth.pbkdf2_iterations
            verifier = verifier_of(derive_auth_key(self.config.factory_password, salt, iterations))
            self.operators.add(Operator(self.config.factory_operator, Role.CRYPTO_OFFICER, salt, iterations,
                                        bytearray(verifier), factory=True))

    def enumeration_salt(self, operator: str) -> bytes:
        """A stable fake salt for unknown operators, so AUTH_BEGIN does not reveal who exists."""
        return hashlib.sha256(bytes(self._enumeration_key) + operator.encode()).digest()[:SALT_SIZE]

    def wipe_memory(self) -> None:
        wipe(self._enumeration_key)

    def zeroise(self) -> None:
        wipe(self._enumeration_key)
        self.flash.delete(MODULE_SECRET_FLASH_NAME)


def wipe(buf: bytearray) -> None:
    buf[:] = bytes(len(buf))
