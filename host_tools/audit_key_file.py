"""The audit key file (`cmsim audit pubkey --out`): an audit key the offline tools trust through the
device's identity key, never through the file alone.

A key statement is only self-signed (proof of possession): anyone can make one for any serial. So
the file also carries the identity public key and its signature over the serial, the audit key and
the lab flag (the same IDENTITY statement a live host checks), and the reader checks that identity
against the pin store (``$CMSIM_HOME/known_devices.json``) or an explicit fingerprint, exactly as a
connection would. The layout is in docs/audit-format.md ("The audit key file").
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from host_tools.known_devices import KnownDevices
from module.wire.audit.common import AuditFormatError
from module.wire.audit.signature import KeyStatement
from module.wire.handshake import fingerprint, identity_statement

__all__ = ["MAGIC", "AuditKeyFile", "UnvouchedKeyError"]

MAGIC = b"CMSIM-AUDIT-KEY\x01"  # 16 bytes: name and file version 1
IDENTITY_KEY_SIZE, IDENTITY_SIGNATURE_SIZE = 32, 64  # Ed25519
_LEN = struct.Struct(">H")


class UnvouchedKeyError(Exception):
    """The file's signatures do not hold: the key statement's own, or the identity's over it."""


@dataclass(frozen=True)
class AuditKeyFile:
    """A key statement with the identity signature that vouches for it."""

    statement: bytes  # the self-signed key statement, as AUDIT_PUBKEY answers it
    identity_public_key: bytes
    identity_signature: bytes  # over identity_statement(serial, audit key, lab flag)

    def encode(self) -> bytes:
        return MAGIC + _LEN.pack(len(self.statement)) + self.statement + self.identity_public_key \
            + self.identity_signature

    @classmethod
    def parse(cls, data: bytes) -> AuditKeyFile:
        """Split the file; AuditFormatError for anything that is not one (signatures unchecked)."""
        if not data.startswith(MAGIC):
            raise AuditFormatError("no audit key file header (a bare key statement names no identity: "
                                   "write the file again with `cmsim audit pubkey --out`)")
        pos = len(MAGIC)
        if len(data) < pos + _LEN.size:
            raise AuditFormatError("audit key file too short")
        (n,) = _LEN.unpack_from(data, pos)
        pos += _LEN.size
        if len(data) != pos + n + IDENTITY_KEY_SIZE + IDENTITY_SIGNATURE_SIZE:
            raise AuditFormatError("audit key file has the wrong length")
        statement = data[pos : pos + n]
        KeyStatement.parse(statement)  # its own format errors are the file's
        pos += n
        return cls(statement, data[pos : pos + IDENTITY_KEY_SIZE], data[pos + IDENTITY_KEY_SIZE :])

    @property
    def key_statement(self) -> KeyStatement:
        return KeyStatement.parse(self.statement)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.identity_public_key)

    def check_signatures(self) -> KeyStatement:
        """The key statement, once its self-signature and the identity's signature over it hold."""
        stmt = self.key_statement
        if not stmt.verify():
            raise UnvouchedKeyError("the key statement's self-signature does not verify")
        try:
            Ed25519PublicKey.from_public_bytes(self.identity_public_key).verify(
                self.identity_signature, identity_statement(stmt.serial, stmt.public_key, stmt.lab))
        except (InvalidSignature, ValueError):
            raise UnvouchedKeyError("the audit key is not vouched for by the identity key in the file") from None
        return stmt

    def trust(self, known: KnownDevices, expect_fingerprint: str | None = None) -> tuple[KeyStatement, bool]:
        """The key statement, once both signatures hold and the identity is the one pinned for its
        serial (or ``expect_fingerprint``); True when this pinned it (first contact).
        IdentityMismatchError when another identity is pinned or expected."""
        stmt = self.check_signatures()
        return stmt, known.check(stmt.serial, self.fingerprint, expect_fingerprint)
