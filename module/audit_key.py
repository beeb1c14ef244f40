"""The audit signing key (an SSP): its seed in flash, made at initialisation, handed over to a
fresh key (or retired) at zeroisation. Only for the hash-chained trail; another sink has none."""

from __future__ import annotations

from module.ports import Flash
from module.recorder import AuditRecorder
from module.rng import Rng
from module.wire.defs import AuditEvent

__all__ = ["AUDIT_KEY_FLASH_NAME", "AuditKey"]

AUDIT_KEY_FLASH_NAME = "audit_key"  # the audit signing key's Ed25519 seed (an SSP)


class AuditKey:
    def __init__(self, flash: Flash, recorder: AuditRecorder, rng: Rng) -> None:
        self.flash = flash
        self.recorder = recorder
        self.rng = rng

    def load(self) -> None:
        """Power-on: the trail signs with the key whose seed flash holds (if any)."""
        seed = self.flash.read(AUDIT_KEY_FLASH_NAME)
        trail = self.recorder.chained
        if seed and trail is not None:
            trail.set_signing_key(seed)

    def provision(self) -> None:
        """At initialisation: the module's first audit signing key, unless it already has one
        (a zeroisation leaves the key that its handover named, for the next initialisation)."""
        trail = self.recorder.chained
        if trail is None or trail.has_signing_key:
            return
        seed = self.rng.random_bytes(32)
        self.flash.write(AUDIT_KEY_FLASH_NAME, seed)
        trail.rotate_key(seed, **self.recorder.times())

    def rotate(self) -> None:
        """At zeroisation: the old key signs a handover to a fresh one and is destroyed. From an
        error state (no DRBG to make a successor) it signs a last checkpoint and is destroyed."""
        trail = self.recorder.chained
        if trail is None:
            return
        if not self.rng.drbg.instantiated:
            try:
                trail.retire_key(**self.recorder.times())
            finally:
                self.flash.delete(AUDIT_KEY_FLASH_NAME)
            self.recorder.event(AuditEvent.AUDIT_KEY_ROTATED, detail="audit signing key destroyed at zeroisation")
            return
        seed = self.rng.random_bytes(32)
        try:
            trail.rotate_key(seed, **self.recorder.times())
        finally:  # the old seed is gone from the trail either way; flash must not keep it
            self.flash.write(AUDIT_KEY_FLASH_NAME, seed)
        self.recorder.event(AuditEvent.AUDIT_KEY_ROTATED, detail="audit signing key replaced at zeroisation")
