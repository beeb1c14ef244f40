"""Checkpoints: the statement an audit key signs about the chain head, and a CHECKPOINT record's body."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum, unique
from typing import ClassVar, Final

from module.wire.audit.chain import MAX_SERIAL_BYTES, check_serial
from module.wire.audit.common import (
    FORMAT_VERSION,
    HASH_SIZE,
    ZERO_DIGEST,
    AuditFormatError,
    UnknownVersionError,
    decode_utf8,
)
from module.wire.audit.signature import ED25519_KEY_SIZE, ED25519_SIGNATURE_SIZE, SigAlg, verify_checkpoint

__all__ = ["MAX_NONCE_BYTES", "FLAG_LAB", "CheckpointReason", "LinkKind", "CheckpointStatement", "CheckpointBody"]

MAX_NONCE_BYTES: Final = 32
FLAG_LAB: Final = 0x01  # statement flags: made by a lab-mode module (fault injection enabled)


@unique
class CheckpointReason(IntEnum):
    REQUEST = 1  # the host asked, usually with a nonce
    PERIODIC = 2  # every N records
    PRE_OVERWRITE = 3  # under the wrap policy, before the oldest records are overwritten
    ZEROISATION = 4  # the old key's last act: names the new key (link NEXT_KEY)
    KEY_START = 5  # the new key's first act: names the old key (link PREV_KEY)
    ERROR = 6  # the module entered an error state (unsigned: no cryptography in an error state)
    RECOVERY = 7  # the first checkpoint after leaving an error state: signs over the unsigned stretch


@unique
class LinkKind(IntEnum):
    NONE = 0
    NEXT_KEY = 1  # zeroisation checkpoint: the key that signs from now on
    PREV_KEY = 2  # first checkpoint of a new key: the key it replaces


@dataclass(frozen=True, slots=True)
class CheckpointStatement:
    """What a checkpoint signs: where the chain stood, for which module, under which key and policy."""

    FORMAT: ClassVar[str] = ">BBQIQq32sQQ32s32sBBBB"  # then serial, nonce, link key (0 or 32 bytes)

    reason: CheckpointReason
    serial: str
    seq: int  # the checkpoint record's own sequence number
    boot: int
    tick_ns: int
    utc_ns: int
    head: bytes  # h_{seq-1}: the chain value this checkpoint record extends
    oldest_retained: int  # oldest sequence number still in the ring
    records_lost: int  # total records lost (overwritten unacknowledged) so far
    nonce: bytes  # the host's nonce (empty unless requested with one)
    policy_digest: bytes
    signer: bytes  # Ed25519 public key (32 zero bytes when unsigned)
    link_kind: LinkKind = LinkKind.NONE
    link_key: bytes = b""  # the next key (ZEROISATION) or the previous one (KEY_START)
    flags: int = 0  # FLAG_LAB or 0
    version: int = FORMAT_VERSION

    @property
    def lab(self) -> bool:
        return bool(self.flags & FLAG_LAB)

    def encode(self) -> bytes:
        serial = check_serial(self.serial)
        if len(self.nonce) > MAX_NONCE_BYTES:
            raise AuditFormatError(f"nonce longer than {MAX_NONCE_BYTES} bytes")
        if (self.link_kind is LinkKind.NONE) != (len(self.link_key) == 0) or len(self.link_key) not in (0, 32):
            raise AuditFormatError("link key must be 32 bytes exactly when a link kind is set")
        if self.flags not in (0, FLAG_LAB):
            raise AuditFormatError("checkpoint flags must be 0 or FLAG_LAB")
        for name in ("head", "policy_digest", "signer"):
            if len(getattr(self, name)) != HASH_SIZE:
                raise AuditFormatError(f"{name} must be 32 bytes")
        try:
            fixed = _STATEMENT.pack(
                self.version, self.reason, self.seq, self.boot, self.tick_ns, self.utc_ns, self.head,
                self.oldest_retained, self.records_lost, self.policy_digest, self.signer, self.link_kind,
                self.flags, len(serial), len(self.nonce),
            )
        except struct.error as exc:
            raise AuditFormatError(f"checkpoint field out of range: {exc}") from exc
        return fixed + serial + self.nonce + self.link_key

    @classmethod
    def parse_prefix(cls, data: bytes, offset: int = 0) -> tuple[CheckpointStatement, int]:
        """Parse a statement at ``offset``; return it and the offset just past it."""
        if len(data) - offset < 1:
            raise AuditFormatError("checkpoint statement missing")
        if data[offset] != FORMAT_VERSION:
            raise UnknownVersionError("checkpoint statement", data[offset])
        if len(data) - offset < _STATEMENT.size:
            raise AuditFormatError("checkpoint statement too short")
        (version, reason, seq, boot, tick, utc, head, oldest, lost, policy, signer, link, flags, serial_len,
         nonce_len) = (
            _STATEMENT.unpack_from(data, offset)
        )
        pos = offset + _STATEMENT.size
        try:
            reason_e = CheckpointReason(reason)
            link_e = LinkKind(link)
        except ValueError as exc:
            raise AuditFormatError(f"checkpoint statement: {exc}") from exc
        if flags not in (0, FLAG_LAB):
            raise AuditFormatError(f"checkpoint statement: unknown flags {flags:#x}")
        if serial_len > MAX_SERIAL_BYTES or nonce_len > MAX_NONCE_BYTES:
            raise AuditFormatError("checkpoint serial or nonce too long")
        link_len = 0 if link_e is LinkKind.NONE else ED25519_KEY_SIZE
        end = pos + serial_len + nonce_len + link_len
        if end > len(data):
            raise AuditFormatError("checkpoint statement truncated")
        serial = decode_utf8(data[pos : pos + serial_len], "serial")
        check_serial(serial)
        nonce = data[pos + serial_len : pos + serial_len + nonce_len]
        link_key = data[pos + serial_len + nonce_len : end]
        stmt = cls(reason_e, serial, seq, boot, tick, utc, head, oldest, lost, nonce, policy, signer, link_e,
                   link_key, flags, version)
        return stmt, end

    @classmethod
    def parse(cls, data: bytes) -> CheckpointStatement:
        stmt, end = cls.parse_prefix(data)
        if end != len(data):
            raise AuditFormatError("trailing bytes after checkpoint statement")
        return stmt


_STATEMENT = struct.Struct(CheckpointStatement.FORMAT)
_SIGBLOCK = struct.Struct(">BB")


@dataclass(frozen=True, slots=True)
class CheckpointBody:
    """A CHECKPOINT record's body: the statement, then the signature over it."""

    FORMAT: ClassVar[str] = ">BB"  # after the statement: signature algorithm, signature length

    statement: CheckpointStatement
    sig_alg: SigAlg
    signature: bytes

    def encode(self) -> bytes:
        return self.statement.encode() + _SIGBLOCK.pack(self.sig_alg, len(self.signature)) + self.signature

    @classmethod
    def parse(cls, data: bytes) -> CheckpointBody:
        stmt, pos = CheckpointStatement.parse_prefix(data)
        if len(data) - pos < _SIGBLOCK.size:
            raise AuditFormatError("checkpoint signature block missing")
        alg, sig_len = _SIGBLOCK.unpack_from(data, pos)
        pos += _SIGBLOCK.size
        try:
            alg_e = SigAlg(alg)
        except ValueError as exc:
            raise AuditFormatError(f"unknown signature algorithm {alg}") from exc
        want = ED25519_SIGNATURE_SIZE if alg_e is SigAlg.ED25519 else 0
        if sig_len != want or len(data) - pos != sig_len:
            raise AuditFormatError("checkpoint signature has the wrong length")
        if alg_e is SigAlg.NONE and stmt.signer != ZERO_DIGEST:
            raise AuditFormatError("unsigned checkpoint names a signer")
        return cls(stmt, alg_e, data[pos:])

    def verify(self, public_key: bytes) -> bool:
        """True only for an Ed25519 signature by ``public_key`` over this statement."""
        if self.sig_alg is not SigAlg.ED25519:
            return False
        return verify_checkpoint(self.statement.encode(), self.signature, public_key)
