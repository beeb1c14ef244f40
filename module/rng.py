"""The module's random bits: the HMAC_DRBG seeded and reseeded from the health-tested source."""

from __future__ import annotations

from module.drbg import DrbgReseedRequired, HmacDrbg
from module.entropy import EntropyHealthError, HealthTestedSource
from module.errors import SelfTestFailure
from module.recorder import AuditRecorder
from module.wire.defs import AuditEvent, Status

__all__ = ["Rng"]


class Rng:
    def __init__(self, drbg: HmacDrbg, entropy: HealthTestedSource, recorder: AuditRecorder) -> None:
        self.drbg = drbg
        self.entropy = entropy
        self.recorder = recorder

    def instantiate(self, personalization: bytes) -> None:
        """Seed the DRBG at boot; a failing source is a self-test failure."""
        try:
            entropy = self.entropy.entropy_input(384)
            nonce = self.entropy.entropy_input(128)
        except EntropyHealthError as exc:
            raise SelfTestFailure(f"entropy {exc.test}", str(exc)) from None
        self.drbg.instantiate(entropy, nonce, personalization)

    def random_bytes(self, n: int) -> bytes:
        """DRBG output, reseeding from the health-tested source when the interval runs out."""
        try:
            try:
                return self.drbg.generate(n)
            except DrbgReseedRequired:
                self.drbg.reseed(self.entropy.entropy_input(384))
                return self.drbg.generate(n)
        except EntropyHealthError as exc:
            self.recorder.event(AuditEvent.ENTROPY_HEALTH_FAILURE, status=Status.ENTROPY_FAILURE, detail=str(exc))
            raise SelfTestFailure(f"entropy {exc.test}", str(exc)) from None
