"""Audit signatures: Ed25519 over checkpoint statements, and the key statement that names the key.

A host verifies with the public key alone (no shared secret), and every signed message starts
with a domain tag so a checkpoint signature can never pass as a key statement or the reverse.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from enum import IntEnum, unique
from typing import ClassVar, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from module.wire.audit.chain import check_serial
from module.wire.audit.common import FORMAT_VERSION, AuditFormatError, UnknownVersionError, decode_utf8

__all__ = [
    "CHECKPOINT_SIG_TAG",
    "KEY_STATEMENT_SIG_TAG",
    "KEY_ID_TAG",
    "ED25519_SIGNATURE_SIZE",
    "ED25519_KEY_SIZE",
    "SigAlg",
    "KeyStatement",
    "checkpoint_message",
    "sign_statement",
    "verify_checkpoint",
    "key_id",
]

CHECKPOINT_SIG_TAG: Final = b"cmsim/audit/checkpoint/v1\x00"
KEY_STATEMENT_SIG_TAG: Final = b"cmsim/audit/key-statement/v1\x00"
KEY_ID_TAG: Final = b"cmsim/audit/key-id\x00"
ED25519_SIGNATURE_SIZE: Final = 64
ED25519_KEY_SIZE: Final = 32


@unique
class SigAlg(IntEnum):
    NONE = 0  # unsigned (no audit key yet): chained, but not a trust anchor
    ED25519 = 1


def key_id(public_key: bytes) -> bytes:
    """Short name of an audit public key, for people and logs (not used for trust)."""
    return hashlib.sha256(KEY_ID_TAG + public_key).digest()[:8]


def checkpoint_message(statement: bytes) -> bytes:
    """The exact bytes an audit key signs for a checkpoint."""
    return CHECKPOINT_SIG_TAG + statement


def sign_statement(statement: bytes, private_key: Ed25519PrivateKey) -> bytes:
    return private_key.sign(checkpoint_message(statement))


def verify_checkpoint(statement: bytes, signature: bytes, public_key: bytes) -> bool:
    """Verify a checkpoint signature with the public key alone (no shared secret on the host)."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, checkpoint_message(statement))
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class KeyStatement:
    """The audit public key with the module serial, signed by itself (proof of possession)."""

    FORMAT: ClassVar[str] = ">BBBB"  # version, algorithm, flags, serial length; then serial, key, signature

    serial: str
    public_key: bytes
    signature: bytes = b""
    alg: SigAlg = SigAlg.ED25519
    version: int = FORMAT_VERSION
    flags: int = 0  # 0x01: the key of a lab-mode module (fault injection enabled)

    @property
    def lab(self) -> bool:
        return bool(self.flags & 0x01)

    def signed_bytes(self) -> bytes:
        serial = check_serial(self.serial)
        if len(self.public_key) != ED25519_KEY_SIZE:
            raise AuditFormatError("public key must be 32 bytes")
        if self.flags not in (0, 1):
            raise AuditFormatError("key statement flags must be 0 or 1")
        return _KEYSTMT.pack(self.version, self.alg, self.flags, len(serial)) + serial + self.public_key

    def encode(self) -> bytes:
        if len(self.signature) != ED25519_SIGNATURE_SIZE:
            raise AuditFormatError("key statement signature must be 64 bytes")
        return self.signed_bytes() + self.signature

    @classmethod
    def sign(cls, serial: str, private_key: Ed25519PrivateKey, *, lab: bool = False) -> KeyStatement:
        from cryptography.hazmat.primitives import serialization

        pub = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        flags = 1 if lab else 0
        unsigned = cls(serial, pub, flags=flags)
        return cls(serial, pub, private_key.sign(KEY_STATEMENT_SIG_TAG + unsigned.signed_bytes()), flags=flags)

    @classmethod
    def parse(cls, data: bytes) -> KeyStatement:
        if not data:
            raise AuditFormatError("empty key statement")
        if data[0] != FORMAT_VERSION:
            raise UnknownVersionError("key statement", data[0])
        if len(data) < _KEYSTMT.size:
            raise AuditFormatError("key statement too short")
        version, alg, flags, serial_len = _KEYSTMT.unpack_from(data)
        if alg != SigAlg.ED25519:
            raise AuditFormatError(f"unknown key statement algorithm {alg}")
        if flags not in (0, 1):
            raise AuditFormatError(f"unknown key statement flags {flags:#x}")
        pos = _KEYSTMT.size
        if len(data) != pos + serial_len + ED25519_KEY_SIZE + ED25519_SIGNATURE_SIZE:
            raise AuditFormatError("key statement has the wrong length")
        serial = decode_utf8(data[pos : pos + serial_len], "serial")
        check_serial(serial)
        pos += serial_len
        return cls(serial, data[pos : pos + 32], data[pos + 32 :], SigAlg(alg), version, flags)

    def verify(self) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(
                self.signature, KEY_STATEMENT_SIG_TAG + self.signed_bytes()
            )
        except (InvalidSignature, ValueError):
            return False
        return True


_KEYSTMT = struct.Struct(KeyStatement.FORMAT)
