"""Audit edges that a one-off bug would slip through: a stray unreadable slot or a spliced one at
boot, a LOSS record that names one record too few, and an end marker that disagrees with the
records about next_seq.

Exports are built by hand here (records, anchors, a LOSS record, a checkpoint signed with a test
key), so each case differs from a valid export in exactly the one thing under test.
"""

from __future__ import annotations

import io
import struct

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from host_tools.audit_verify import Reason, VerifyResult, verify_export
from module.audit.ring import REGION_NAME, SLOT_SIZE, AuditRingCorrupted, slot_offset
from module.ports import MemoryFlash
from module.wire.audit.chain import genesis, module_tag
from module.wire.audit.checkpoint import CheckpointBody, CheckpointReason, CheckpointStatement
from module.wire.audit.export import TAG_END, ExportEnd, ExportFormat, ExportWriter
from module.wire.audit.record import LossBody, LossReason, checkpoint_record, loss_record, pack_record
from module.wire.audit.signature import SigAlg, sign_statement
from test_audit_ring import _corrupt, entry, make, times

SERIAL = "CMSIM-EDGES"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(100, 132)))  # a test key, never a module's
PUB = KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


# ------------------------------------------------------------------------ boot: stray slots
@pytest.mark.parametrize("where", ["free, never written", "free, acknowledged"])
def test_one_stray_unreadable_slot_stops_the_boot(where: str) -> None:
    """Appends go in order, so only the slot after the newest record can be torn; one unreadable
    slot anywhere else is damage, and the ring must not open."""
    flash = MemoryFlash()
    trail = make(flash)  # 32 slots
    for i in range(12):
        trail.append(entry(i), **times(i))
    if where == "free, acknowledged":
        trail.acknowledge(5, trail.chain_hash(5))
        stray = 2  # below the floor: free space again, but written once
    else:
        stray = 20  # beyond the torn-append position (12)
    make(flash, boot=2)  # the undamaged ring opens
    _corrupt(flash, 32, stray, 7)
    with pytest.raises(AuditRingCorrupted, match=f"slot {stray} is unreadable"):
        make(flash, boot=3)


def test_a_spliced_retained_slot_stops_the_boot() -> None:
    """Every slot whole and self-consistent, but slot 4 comes from another history of the same
    module: record 5 no longer chains to the record before it, and the ring must not open."""
    ours, theirs = MemoryFlash(), MemoryFlash()
    for flash, odd_one in ((ours, 4), (theirs, 99)):
        trail = make(flash)
        for i in range(12):
            trail.append(entry(odd_one if i == 4 else i), **times(i))
    make(ours, boot=2)  # the undamaged ring opens
    mine = ours.region(REGION_NAME, 32 * SLOT_SIZE)
    mine.write(slot_offset(4, 32), theirs.region(REGION_NAME, 32 * SLOT_SIZE).read(slot_offset(4, 32), SLOT_SIZE))
    with pytest.raises(AuditRingCorrupted, match="record 5 does not chain"):
        make(ours, boot=3)


# ---------------------------------------------------------------- verifier: exports by hand
def data_record(seq: int) -> bytes:
    return pack_record(1, seq, 1, seq, 1_790_000_000 * 10**9 + seq, module_tag(SERIAL), 0x0101, 0, True, 2, 7,
                       b"\x01" * 32, b"\x02" * 32, "alice", (), "")


def export_across_a_gap(named: tuple[int, int] | None, *, end_next_seq_shift: int = 0,
                        fmt: ExportFormat = ExportFormat.BINARY) -> bytes:
    """Records 0..2, a gap 3..9 (the host's next page starts at 10), then at 10 a LOSS record naming
    ``named`` (first, last) and at 11 a checkpoint signed with KEY; the end marker's next_seq
    shifted by ``end_next_seq_shift``."""
    out = io.BytesIO()
    writer = ExportWriter(out, SERIAL, fmt)
    writer.anchor(0, genesis(SERIAL))
    for seq in range(3):
        writer.record(data_record(seq))
    h = b"\x42" * 32  # the chain value at 9, as the module's anchor for the page at 10 would give it
    writer.anchor(10, h)
    if named is not None:
        first, last = named
        body = LossBody(first, last, last - first + 1, last - first + 1)
        h = writer.record(loss_record(SERIAL, 10, 1, 10, 0, LossReason.OVERWRITTEN, body).encode())
    else:
        h = writer.record(data_record(10))
    statement = CheckpointStatement(CheckpointReason.REQUEST, SERIAL, 11, 1, 11, 0, h, 10, 7, b"", b"\x03" * 32, PUB)
    h = writer.record(checkpoint_record(CheckpointBody(statement, SigAlg.ED25519,
                                                       sign_statement(statement.encode(), KEY))).encode())
    writer.close()
    blob = out.getvalue()
    if end_next_seq_shift:
        assert fmt is ExportFormat.BINARY
        size = struct.calcsize(ExportEnd.FORMAT)
        assert blob[-size - 1] == TAG_END  # the file ends with the end marker
        records, next_seq, head = struct.unpack(ExportEnd.FORMAT, blob[-size:])
        assert (records, next_seq, head) == (5, 12, h)  # records 0..2, 10, 11
        blob = blob[:-size] + struct.pack(ExportEnd.FORMAT, records, next_seq + end_next_seq_shift, head)
    return blob


def verify(blob: bytes) -> VerifyResult:
    return verify_export(io.BytesIO(blob), PUB, expected_serial=SERIAL)


def test_a_loss_record_that_names_the_gap_exactly_verifies() -> None:
    for fmt in ExportFormat:
        result = verify(export_across_a_gap((3, 9), fmt=fmt))
        assert result.ok, result.message
        assert result.records_lost_named == 7


@pytest.mark.parametrize("named", [(3, 8), (4, 9), (4, 8)], ids=["last unnamed", "first unnamed", "both unnamed"])
def test_a_loss_record_one_short_is_a_gap(named: tuple[int, int]) -> None:
    result = verify(export_across_a_gap(named))
    assert not result.ok and result.reason is Reason.SEQUENCE_GAP


def test_no_loss_record_is_a_gap() -> None:
    result = verify(export_across_a_gap(None))
    assert not result.ok and result.reason is Reason.SEQUENCE_GAP


@pytest.mark.parametrize(("shift", "reason"), [(1, Reason.TRUNCATED), (-1, Reason.MALFORMED)])
def test_the_end_marker_must_agree_on_next_seq(shift: int, reason: Reason) -> None:
    """Same record count, same head: only next_seq differs from what the records say."""
    assert verify(export_across_a_gap((3, 9))).ok
    result = verify(export_across_a_gap((3, 9), end_next_seq_shift=shift))
    assert not result.ok and result.reason is reason
