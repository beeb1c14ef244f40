"""Hand-crafted attacks on the verifier: each cut, splice or forgery with the exact verdict expected.

The random mutations in test_audit_verify.py flip bits; these are what an adversary who
understands the format does: cut the head or the tail at a checkpoint and write a fresh anchor
or end marker, skip records with a re-anchor, forge a LOSS record to excuse the skip. The
expected verdicts come from the format's rules (docs/audit-format.md), not from running the
verifier.
"""

from __future__ import annotations

import hashlib
import io

from host_tools.audit_verify import Reason, VerifyResult, verify_export
from module.audit.sink import AuditEntry, RecordKind
from module.audit.trail import AuditConfig, AuditTrail
from module.ports import MemoryFlash
from module.wire.audit.chain import chain_next, genesis
from module.wire.audit.export import ExportFormat, ExportWriter
from module.wire.audit.record import LossBody, LossReason, decode_record, loss_record
from module.wire.defs import Command, Role, Status

SERIAL = "CMSIM-ATK"
NONCE = b"fresh-nonce-atk1"
T = {"boot": 1, "tick_ns": 5, "utc_ns": 6}


def _entry(i: int) -> AuditEntry:
    cmd = Command.SIGN if i % 3 == 0 else Command.RANDOM
    return AuditEntry(RecordKind.SERVICE, cmd, Status.OK, True, 7, "alice", Role.USER, (i,),
                      hashlib.sha256(b"req%d" % i).digest(), hashlib.sha256(b"resp%d" % i).digest())


def _trail(**config: object) -> AuditTrail:
    kw: dict[str, object] = {"capacity": 256, "checkpoint_every": 0, "reserve": 8, **config}
    trail = AuditTrail(MemoryFlash(), SERIAL, AuditConfig(**kw))  # type: ignore[arg-type]
    trail.open(1)
    trail.set_signing_key(hashlib.sha256(b"atk key").digest())
    return trail


def _honest() -> tuple[AuditTrail, list[bytes]]:
    """Records 0..9, an intermediate REQUEST checkpoint (seq 10), 11..20, the fresh one (seq 21)."""
    trail = _trail()
    for i in range(10):
        trail.append(_entry(i), **T)
    trail.checkpoint(b"", **T)
    for i in range(10, 20):
        trail.append(_entry(i), **T)
    trail.checkpoint(NONCE, **T)
    return trail, trail.export(0, 1000)


def _chain(records: list[bytes], upto: int) -> bytes:
    """h_(upto-1): the chain value before record ``upto`` (records start at seq 0)."""
    h = genesis(SERIAL)
    for data in records[:upto]:
        h = chain_next(h, data)
    return h


def _file(pages: list[tuple[int, bytes, list[bytes]]], fmt: ExportFormat = ExportFormat.BINARY) -> bytes:
    out = io.BytesIO()
    writer = ExportWriter(out, SERIAL, fmt)
    for next_seq, head, records in pages:
        writer.anchor(next_seq, head)
        for data in records:
            writer.record(data)
    writer.close()
    return out.getvalue()


def _verify(blob: bytes, key: bytes, **kw: object) -> VerifyResult:
    fast = verify_export(io.BytesIO(blob), key, expected_serial=SERIAL, **kw)  # type: ignore[arg-type]
    eager = verify_export(io.BytesIO(blob), key, expected_serial=SERIAL, eager=True, **kw)  # type: ignore[arg-type]
    assert (fast.ok, fast.reason, fast.first_bad_seq, fast.fresh) == (
        eager.ok, eager.reason, eager.first_bad_seq, eager.fresh)
    return fast


def test_the_honest_export_is_fresh_only_with_its_nonce() -> None:
    trail, records = _honest()
    blob = _file([(0, genesis(SERIAL), records)])
    good = _verify(blob, trail.public_key(), expected_nonce=NONCE)
    assert good.ok and good.fresh and good.verified_through == 21
    plain = _verify(blob, trail.public_key())
    assert plain.ok and not plain.fresh  # signed, but nothing proves it is the device's newest
    assert "unproven" in plain.message


def test_cut_head_with_a_re_anchor_is_truncated_even_with_the_nonce() -> None:
    trail, records = _honest()
    # The attacker drops records 0..3 (a SIGN at 0 and 3) and anchors at 4 with the true h_3.
    blob = _file([(4, _chain(records, 4), records[4:])])
    result = _verify(blob, trail.public_key(), expected_nonce=NONCE)
    # The fresh checkpoint signed oldest_retained = 0: records 0..3 were on the device.
    assert (result.ok, result.reason, result.first_bad_seq) == (False, Reason.TRUNCATED, 0)


def test_cut_tail_at_an_intermediate_checkpoint_is_unproven_without_nonce_and_stale_with_it() -> None:
    trail, records = _honest()
    blob = _file([(0, genesis(SERIAL), records[:11])])  # through checkpoint 10, a new end marker
    plain = _verify(blob, trail.public_key())
    assert (plain.ok, plain.fresh, plain.verified_through) == (True, False, 10)
    fresh = _verify(blob, trail.public_key(), expected_nonce=NONCE)
    assert (fresh.ok, fresh.reason, fresh.first_bad_seq) == (False, Reason.STALE_CHECKPOINT, 10)


def test_a_re_anchor_over_retained_records_is_a_gap() -> None:
    trail, records = _honest()
    # Pages 0..4 and 8..21: the second page re-anchors at 8 (true h_7), skipping 5..7.
    blob = _file([(0, genesis(SERIAL), records[:5]), (8, _chain(records, 8), records[8:])])
    result = _verify(blob, trail.public_key(), expected_nonce=NONCE)
    assert (result.ok, result.reason, result.first_bad_seq) == (False, Reason.SEQUENCE_GAP, 8)


def test_a_forged_tail_loss_record_excuses_nothing() -> None:
    trail, records = _honest()
    # Skip 5..7 as above, then append an unsigned LOSS(OVERWRITTEN) naming 5..7 after the last
    # checkpoint; the lenient mode accepts an unsigned tail, but the tail proves nothing.
    forged = loss_record(SERIAL, 22, 1, 5, 6, LossReason.OVERWRITTEN, LossBody(5, 7, 3, 3)).encode()
    blob = _file([(0, genesis(SERIAL), records[:5]), (8, _chain(records, 8), records[8:] + [forged])])
    result = _verify(blob, trail.public_key(), expected_nonce=NONCE, require_final_checkpoint=False)
    assert (result.ok, result.reason, result.first_bad_seq) == (False, Reason.SEQUENCE_GAP, 8)


def test_a_signed_loss_record_still_closes_the_gap_it_names() -> None:
    """The honest case next to the forgery: a wrap drops records a host never saw, its LOSS record
    lies before the fresh checkpoint, and the gap verifies."""
    trail = _trail(capacity=16, policy="wrap", wrap_batch=4, reserve=4)
    for i in range(6):
        trail.append(_entry(i), **T)
    page1 = trail.export(0, 6)
    for i in range(6, 40):
        trail.append(_entry(i), **T)
    trail.checkpoint(NONCE, **T)
    start, anchor = trail.anchor(6)
    page2 = trail.export(start, 100)
    assert start > 6 and any(decode_record(r).kind is RecordKind.LOSS for r in page2)
    blob = _file([(0, genesis(SERIAL), page1), (start, anchor, page2)])
    result = _verify(blob, trail.public_key(), expected_nonce=NONCE)
    assert result.ok and result.fresh and result.records_lost_named > 0


def test_a_json_lines_convenience_field_edited_is_malformed() -> None:
    """Every field a reader may use is checked against the record's bytes: the kind name too."""
    trail, records = _honest()
    lines = _file([(0, genesis(SERIAL), records)], ExportFormat.JSONL).decode().splitlines(keepends=True)
    assert '"kind":"SERVICE"' in lines[2]
    edited = "".join(lines[:2] + [lines[2].replace('"kind":"SERVICE"', '"kind":"SE0VICE"')] + lines[3:])
    result = _verify(edited.encode(), trail.public_key(), expected_nonce=NONCE)
    assert (result.ok, result.reason) == (False, Reason.MALFORMED)
    relabelled = "".join(lines[:2] + [lines[2].replace('"kind":"SERVICE"', '"kind":"EVENT"')] + lines[3:])
    result = _verify(relabelled.encode(), trail.public_key(), expected_nonce=NONCE)
    assert (result.ok, result.reason) == (False, Reason.MALFORMED)


def test_a_lab_mode_trail_does_not_pass_as_normal() -> None:
    """Lab mode (fault injection, e.g. a dropped service record) is in every checkpoint statement
    and in the key statement; a verifier fails it unless told it verifies a lab trail."""
    from module.wire.audit.signature import KeyStatement

    trail = _trail(lab_mode=True)
    for i in range(5):
        trail.append(_entry(i), **T)
    trail.checkpoint(NONCE, **T)
    records = trail.export(0, 100)
    blob = _file([(0, genesis(SERIAL), records)])
    result = _verify(blob, trail.public_key(), expected_nonce=NONCE)
    assert (result.ok, result.reason, result.first_bad_seq) == (False, Reason.LAB_MODE, 5)
    allowed = _verify(blob, trail.public_key(), expected_nonce=NONCE, allow_lab=True)
    assert allowed.ok and allowed.lab and "LAB-MODE" in allowed.message
    assert KeyStatement.parse(trail.key_statement()).lab
    normal = _trail()
    assert not KeyStatement.parse(normal.key_statement()).lab
    normal.checkpoint(NONCE, **T)
    plain = _verify(_file([(0, genesis(SERIAL), normal.export(0, 10))]), normal.public_key(), expected_nonce=NONCE)
    assert plain.ok and not plain.lab
