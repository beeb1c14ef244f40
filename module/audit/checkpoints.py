"""Checkpoints and the key that signs them: the seed (kept wipeable), the public key, and the
signed, chained CHECKPOINT record that states where the chain stands.

This part only writes; making room for the record first is the caller's job
(:class:`module.audit.space.RingSpace`), since a wrap-around itself writes a checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from module.audit.log import ChainLog, Times
from module.audit.ring import AuditError
from module.wire.audit.checkpoint import FLAG_LAB, CheckpointBody, CheckpointReason, CheckpointStatement, LinkKind
from module.wire.audit.common import ZERO_DIGEST
from module.wire.audit.record import RecordKind, checkpoint_record
from module.wire.audit.signature import KeyStatement, SigAlg, sign_statement

__all__ = ["AuditKeyMissing", "Checkpoints", "load_key", "public_bytes"]


class AuditKeyMissing(AuditError):
    """No audit signing key set (the module is not initialised)."""


def load_key(seed: bytes) -> Ed25519PrivateKey:
    if len(seed) != 32:
        raise ValueError("an Ed25519 seed is 32 bytes")
    return Ed25519PrivateKey.from_private_bytes(bytes(seed))


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class Checkpoints:
    """Holds the signing key and writes checkpoints (unsigned, but still chained, without a key)."""

    def __init__(self, log: ChainLog, serial: str, policy_digest: Callable[[], bytes], *, lab: bool = False) -> None:
        self._log = log
        self._flags = FLAG_LAB if lab else 0  # lab mode is stated in every checkpoint and the key statement
        self._serial = serial
        self._policy_digest = policy_digest
        self._seed = bytearray()
        self._key: Ed25519PrivateKey | None = None
        self._public = b""
        self.suspended = False  # in an error state: checkpoints are chained but not signed

    @property
    def has_key(self) -> bool:
        return self._key is not None

    def install(self, seed: bytes, key: Ed25519PrivateKey) -> None:
        """Sign with ``key`` (loaded from ``seed``) from now on; the previous seed is wiped first."""
        self.wipe()
        self._seed = bytearray(seed)
        self._key = key
        self._public = public_bytes(key)

    def wipe(self) -> None:
        """Overwrite our copy of the seed (the key object inside OpenSSL cannot be wiped from Python)."""
        self._seed[:] = bytes(len(self._seed))
        self._key = None
        self._public = b""

    def public_key(self) -> bytes:
        if self._key is None:
            raise AuditKeyMissing("no audit signing key")
        return self._public

    def key_statement(self) -> bytes:
        """The public key and serial, self-signed (the PUBKEY service returns this)."""
        if self._key is None:
            raise AuditKeyMissing("no audit signing key")
        return KeyStatement.sign(self._serial, self._key, lab=bool(self._flags)).encode()

    def write(
        self, reason: CheckpointReason, nonce: bytes, t: Times, link: LinkKind = LinkKind.NONE, link_key: bytes = b""
    ) -> bytes:
        """Sign (when there is a key and signing is not suspended) and commit a CHECKPOINT record;
        return its encoded bytes."""
        log = self._log
        meta = log.meta
        signing = self._key is not None and not self.suspended
        statement = CheckpointStatement(
            reason, self._serial, log.next, t.boot, t.tick_ns, t.utc_ns, log.head, meta.floor,
            meta.lost_total, nonce, self._policy_digest(), self._public if signing else ZERO_DIGEST,
            link, link_key, self._flags,
        )
        if signing:
            assert self._key is not None
            body = CheckpointBody(statement, SigAlg.ED25519, sign_statement(statement.encode(), self._key))
        else:
            body = CheckpointBody(statement, SigAlg.NONE, b"")
        data = checkpoint_record(body).encode()
        log.commit(data, RecordKind.CHECKPOINT)
        return data
