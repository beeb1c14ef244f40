"""Drain a module's audit trail: checkpoint with a fresh nonce, export up to it, verify, acknowledge.

The order is what makes the acknowledgement honest: the host acknowledges only the chain head that
its own offline verification of the export proved, under a checkpoint that binds its nonce (so the
module cannot answer with an old one). Uses the client API and the published wire format only.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from host_tools.audit_key_file import AuditKeyFile
from host_tools.audit_verify import VerifyResult, verify_export
from host_tools.client import Client, OperatorSession
from host_tools.errors import InvalidResponseError, LineAttackError
from module.wire.audit.export import ExportFormat, ExportWriter
from module.wire.audit.signature import KeyStatement
from module.wire.defs import Command

__all__ = ["TrustedKey", "fetch_public_key", "export_through", "DrainResult", "drain"]

PAGE = 64


@dataclass(frozen=True)
class TrustedKey:
    serial: str
    public_key: bytes
    statement: bytes = b""  # the self-signed key statement it was accepted from
    key_file: bytes = b""  # the statement with the identity's signature over it (AuditKeyFile)


def fetch_public_key(client: Client | OperatorSession, expected_serial: str | None = None) -> TrustedKey:
    """The audit public key, accepted only with a valid self-signed statement of the serial and
    vouched for by the device's identity (whose fingerprint the pin store checks).

    Through a logged-in session when the ring may be past the public share (a clear AUDIT_PUBKEY is
    then refused: unauthenticated calls must not take the room authenticated ones need)."""
    data = client.call(Command.AUDIT_PUBKEY).data
    statement = KeyStatement.parse(data["statement"])
    if not statement.verify() or statement.public_key != data["public_key"]:
        raise InvalidResponseError("the audit key statement does not verify")
    if expected_serial is not None and statement.serial != expected_serial:
        raise InvalidResponseError(f"the audit key belongs to {statement.serial}, not {expected_serial}")
    host = client.client if isinstance(client, OperatorSession) else client
    identity = host.identity(refresh=True)  # signed by the pinned identity key, checked against the pin
    if (identity.serial, identity.audit_public_key) != (statement.serial, statement.public_key):
        raise LineAttackError("the audit key is not the one the device's pinned identity vouches for")
    key_file = AuditKeyFile(bytes(data["statement"]), identity.public_key, identity.signature).encode()
    return TrustedKey(statement.serial, statement.public_key, bytes(data["statement"]), key_file)


def export_through(session: OperatorSession, out: BinaryIO, serial: str, last_seq: int, *, from_seq: int = 0,
                   fmt: ExportFormat = ExportFormat.BINARY, page: int = PAGE,
                   progress: Callable[[int, int], None] | None = None) -> int:
    """Write the retained records from ``from_seq`` through ``last_seq`` as an export file; return the count."""
    writer = ExportWriter(out, serial, fmt)
    seq, count, anchored = from_seq, 0, False
    while seq <= last_seq:
        data = session.call(Command.AUDIT_EXPORT, {"from_seq": seq, "max_records": min(page, last_seq - seq + 1)}).data
        first = int(data["first_seq"])
        records = list(data["records"])[: max(0, last_seq - first + 1)]  # the page may start later than asked
        if not anchored or first != seq:  # the first page, or records freed under us: re-anchor
            writer.anchor(first, data["anchor"])
            anchored = True
        if not records:
            break
        for record in records:
            writer.record(record)
        count += len(records)
        seq = first + len(records)
        if progress is not None:
            progress(count, count + max(0, last_seq - seq + 1))  # (done, total) as known so far
    writer.close()
    return count


@dataclass(frozen=True)
class DrainResult:
    verify: VerifyResult
    checkpoint_seq: int
    records: int
    acknowledged: bool


def drain(session: OperatorSession, key: TrustedKey, out: BinaryIO | None = None, *,
          fmt: ExportFormat = ExportFormat.BINARY, acknowledge: bool = True, allow_lab: bool = False) -> DrainResult:
    """Checkpoint (fresh nonce), export through it, verify offline, and acknowledge what verified."""
    nonce = os.urandom(16)
    cp = session.call(Command.AUDIT_CHECKPOINT, {"nonce": nonce}).data
    checkpoint_seq = int(cp["seq"])
    buffer = out if out is not None else io.BytesIO()
    start = buffer.tell()
    count = export_through(session, buffer, key.serial, checkpoint_seq, fmt=fmt)
    buffer.seek(start)
    result = verify_export(buffer, key.public_key, expected_serial=key.serial, expected_nonce=nonce,
                           allow_lab=allow_lab)
    acked = False
    if acknowledge and result.ok and result.verified_through is not None and result.verified_head is not None:
        session.call(Command.AUDIT_ACK, {"seq": result.verified_through, "head": result.verified_head})
        acked = True
    return DrainResult(result, checkpoint_seq, count, acked)
