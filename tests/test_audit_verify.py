"""The offline verifier against generated exports: clean ones pass, every tampering is named.

Each test also runs the verifier with ``eager=True`` (every field and signature checked as it
comes) and requires the same verdict: the fast path defers work but never changes the answer.
"""

from __future__ import annotations

import hashlib
import io
import struct
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from host_tools.audit_verify import PENDING_LIMIT, Reason, VerifyResult, verify_export
from module.audit.sink import AuditEntry, RecordKind
from module.audit.trail import AuditConfig, AuditTrail
from module.ports import MemoryFlash
from module.wire.audit.chain import genesis, module_tag
from module.wire.audit.common import AuditFormatError, UnknownVersionError
from module.wire.audit.export import ExportFormat, write_export
from module.wire.audit.record import AuditRecord, decode_record, pack_record
from module.wire.audit.record import RecordKind as WireKind
from module.wire.defs import AuditEvent, Command, Role, Status

SERIAL_A = "CMSIM-A"
SERIAL_B = "CMSIM-B"
NONCE = b"fresh-nonce-0001"
OLD_NONCE = b"older-nonce-0000"
FORMATS = list(ExportFormat)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _seed(label: str, n: int = 0) -> bytes:
    return hashlib.sha256(f"{label}/{n}".encode()).digest()


def _entry(i: int, salt: int) -> AuditEntry:
    if i == 0:
        return AuditEntry(RecordKind.EVENT, AuditEvent.POWER_ON, detail="boot 1")
    if (i + salt) % 4 == 0:
        return AuditEntry(RecordKind.EVENT, AuditEvent.LOGIN_FAILURE, Status.AUTH_FAILED, operator="mallory",
                          detail="x" * ((i * salt) % 40))
    return AuditEntry(
        RecordKind.SERVICE, Command.SIGN if i % 2 else Command.RANDOM, Status.OK, True, 77, "alice", Role.USER,
        (i % 5,), hashlib.sha256(b"req %d %d" % (i, salt)).digest(), hashlib.sha256(b"resp %d" % i).digest(),
    )


@dataclass
class Export:
    serial: str
    records: list[bytes]
    first_key: bytes  # the key the module had first
    last_key: bytes  # the key it has now
    older: list[bytes]  # the export as it was at an earlier checkpoint with OLD_NONCE


def build(serial: str, count: int, every: int, rotate_at: int | None, old_at: int, salt: int) -> Export:
    trail = AuditTrail(MemoryFlash(), serial, AuditConfig(capacity=256, checkpoint_every=every, reserve=8))
    trail.open(1)
    trail.set_signing_key(_seed(serial))
    first_key = trail.public_key()
    older: list[bytes] = []
    for i in range(count):
        t = {"boot": 1, "tick_ns": 1000 * i, "utc_ns": 1_790_000_000 * 10**9 + i}
        trail.append(_entry(i, salt), **t)
        if i == rotate_at:
            trail.rotate_key(_seed(serial, 1), **t)
        if i == old_at:
            trail.checkpoint(OLD_NONCE, **t)
            older = trail.export(0, 10**6)
    trail.checkpoint(NONCE, boot=1, tick_ns=10**9, utc_ns=1_790_000_000 * 10**9 + 10**6)
    return Export(serial, trail.export(0, 10**6), first_key, trail.public_key(), older)


@st.composite
def exports(draw: st.DrawFn) -> Export:
    count = draw(st.integers(4, 40))
    return build(
        SERIAL_A, count, draw(st.sampled_from([0, 3, 7])),
        draw(st.one_of(st.none(), st.integers(1, count - 1))), draw(st.integers(1, count - 2)),
        draw(st.integers(0, 3)),
    )


def serialise(records: list[bytes], fmt: ExportFormat, serial: str = SERIAL_A,
              anchor: tuple[int, bytes] | None = None) -> bytes:
    out = io.BytesIO()
    write_export(out, serial, records, anchor=anchor or (0, genesis(serial)), fmt=fmt)
    return out.getvalue()


def verify(blob: bytes, key: bytes, **options: object) -> VerifyResult:
    """Run the fast and the eager verifier; they must agree."""
    kw: dict[str, object] = {"expected_serial": SERIAL_A, "expected_nonce": NONCE, **options}
    fast = verify_export(io.BytesIO(blob), key, **kw)  # type: ignore[arg-type]
    eager = verify_export(io.BytesIO(blob), key, eager=True, **kw)  # type: ignore[arg-type]
    assert (fast.ok, fast.reason, fast.first_bad_seq) == (eager.ok, eager.reason, eager.first_bad_seq), (fast, eager)
    if fast.ok:
        assert (fast.verified_through, fast.verified_head, fast.unverified_tail, fast.checkpoints) == (
            eager.verified_through, eager.verified_head, eager.unverified_tail, eager.checkpoints)
    return fast


def _decoded(records: list[bytes]) -> list[AuditRecord]:
    return [decode_record(r) for r in records]


def _signed_checkpoints(records: list[bytes]) -> list[int]:
    return [i for i, r in enumerate(_decoded(records)) if r.checkpoint is not None and r.checkpoint.sig_alg]


def _end_reason(records: list[bytes]) -> Reason | None:
    """What the verifier must say about a list that ends early (a cut, a deletion at the end)."""
    signed = _signed_checkpoints(records)
    if not signed:
        return Reason.NO_CHECKPOINT
    if signed[-1] != len(records) - 1:
        return Reason.TRUNCATED
    nonces = [r.checkpoint.statement.nonce for r in _decoded(records) if r.checkpoint is not None]
    return None if NONCE in nonces else Reason.STALE_CHECKPOINT


# ----------------------------------------------------------------------------- clean exports
@SETTINGS
@given(exports(), st.sampled_from(FORMATS))
def test_clean_exports_verify(export: Export, fmt: ExportFormat) -> None:
    result = verify(serialise(export.records, fmt), export.first_key)
    assert result.ok, result.message
    assert result.records == len(export.records) and result.unverified_tail == 0
    assert result.verified_through == len(export.records) - 1
    assert result.keys[0] == export.first_key and result.keys[-1] == export.last_key


@SETTINGS
@given(exports())
def test_key_rotation_chain_verifies_from_either_key(export: Export) -> None:
    blob = serialise(export.records, ExportFormat.BINARY)
    assert verify(blob, export.first_key).ok
    assert verify(blob, export.last_key).ok  # backward: the new key vouches for the old one
    stranger = AuditTrail(MemoryFlash(), SERIAL_A)
    stranger.open(1)
    stranger.set_signing_key(_seed("stranger"))
    result = verify(blob, stranger.public_key())
    assert result.reason is Reason.BAD_SIGNATURE


def test_a_signature_by_an_untrusted_key_proves_nothing_about_earlier_records() -> None:
    export = build(SERIAL_A, 30, 0, None, 20, 0)
    damaged = list(export.records)
    damaged[3] = damaged[3][:44] + b"\x02" + damaged[3][45:]  # approved flag 2: malformed
    result = verify(serialise(damaged, ExportFormat.BINARY), _seed("stranger"))
    assert (result.reason, result.first_bad_seq) == (Reason.MALFORMED, 3)


def test_unverified_tail_is_reported_and_optional() -> None:
    export = build(SERIAL_A, 12, 5, None, 3, 0)
    extra = pack_record(WireKind.SERVICE, len(export.records), 1, 5, 6, module_tag(SERIAL_A), 1, 0, False, 0, 0,
                        bytes(32), bytes(32), "", (), "")
    blob = serialise(export.records + [extra], ExportFormat.BINARY)
    strict = verify(blob, export.first_key)
    assert (strict.reason, strict.first_bad_seq) == (Reason.TRUNCATED, len(export.records))
    lenient = verify(blob, export.first_key, require_final_checkpoint=False)
    assert lenient.ok and lenient.unverified_tail == 1 and lenient.verified_through == len(export.records) - 1


def test_start_point_must_chain() -> None:
    export = build(SERIAL_A, 20, 6, None, 3, 1)
    blob = serialise(export.records[10:], ExportFormat.BINARY, anchor=(10, _chain(export.records[:10])))
    assert verify(blob, export.first_key, start=(9, _chain(export.records[:10]))).ok
    forked = verify(blob, export.first_key, start=(9, bytes(32)))
    assert (forked.reason, forked.first_bad_seq) == (Reason.FORK, 9)


def _chain(records: list[bytes], head: bytes | None = None) -> bytes:
    from module.wire.audit.chain import chain_next

    h = head if head is not None else genesis(SERIAL_A)
    for data in records:
        h = chain_next(h, data)
    return h


def test_pages_across_a_loss_verify_only_when_a_loss_record_names_the_gap() -> None:
    trail = AuditTrail(MemoryFlash(), SERIAL_A, AuditConfig(capacity=16, policy="wrap", wrap_batch=4, reserve=4,
                                                              checkpoint_every=0))
    trail.open(1)
    trail.set_signing_key(_seed(SERIAL_A))
    t = {"boot": 1, "tick_ns": 1, "utc_ns": 1}
    for i in range(10):
        trail.append(_entry(i, 0), **t)
    page1 = trail.export(0, 6)  # the host took 0..5, then the ring wrapped before its next page
    for i in range(10, 40):
        trail.append(_entry(i, 0), **t)
    trail.checkpoint(NONCE, **t)
    start, anchor = trail.anchor(6)
    assert start > 6
    out = io.BytesIO()
    from module.wire.audit.export import ExportWriter

    writer = ExportWriter(out, SERIAL_A)
    writer.anchor(0, genesis(SERIAL_A))
    for data in page1:
        writer.record(data)
    writer.anchor(start, anchor)
    for data in trail.export(start, 100):
        writer.record(data)
    writer.close()
    result = verify(out.getvalue(), trail.public_key())
    assert result.ok and result.records_lost_named > 0
    # The same pages with the LOSS records left out: the gap is not explained.
    without = [d for d in trail.export(start, 100) if decode_record(d).kind is not WireKind.LOSS]
    out = io.BytesIO()
    writer = ExportWriter(out, SERIAL_A)
    writer.anchor(0, genesis(SERIAL_A))
    for data in page1:
        writer.record(data)
    writer.anchor(start, anchor)
    for data in without:
        writer.record(data)
    writer.close()
    assert verify(out.getvalue(), trail.public_key()).reason in (Reason.SEQUENCE_GAP,)


def test_long_exports_keep_memory_bounded_and_still_name_the_first_bad_record() -> None:
    count = PENDING_LIMIT + 2000
    tag = module_tag(SERIAL_A)
    records = [pack_record(WireKind.SERVICE, i, 1, i, i, tag, 1, 0, False, 0, 0, bytes(32), bytes(32), "", (), "")
               for i in range(count)]
    trail = AuditTrail(MemoryFlash(), SERIAL_A)
    trail.open(1)
    result = verify(serialise(records, ExportFormat.BINARY), bytes(32))
    assert (result.reason, result.first_bad_seq) == (Reason.NO_CHECKPOINT, 0)
    bad = list(records)
    bad[5] = b"\x01\x09" + bad[5][2:]  # an unknown kind early on, found after the window was flushed
    result = verify(serialise(bad, ExportFormat.BINARY), bytes(32))
    assert (result.reason, result.first_bad_seq) == (Reason.MALFORMED, 5)


# ----------------------------------------------------------------------------- list mutations
@SETTINGS
@given(exports(), st.sampled_from(FORMATS), st.data())
def test_deletion_is_a_gap_or_a_cut(export: Export, fmt: ExportFormat, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(export.records) - 1))
    mutated = export.records[:i] + export.records[i + 1 :]
    result = verify(serialise(mutated, fmt), export.first_key)
    if i == len(export.records) - 1:
        assert result.reason is _end_reason(mutated)
    else:
        assert (result.reason, result.first_bad_seq) == (Reason.SEQUENCE_GAP, i + 1)


@SETTINGS
@given(exports(), st.sampled_from(FORMATS), st.data())
def test_insertion_is_a_fork(export: Export, fmt: ExportFormat, data: st.DataObject) -> None:
    p = data.draw(st.integers(0, len(export.records) - 1))
    forged = pack_record(WireKind.SERVICE, p, 1, 5, 6, module_tag(SERIAL_A), Command.KEY_EXPORT, 0, True,
                         Role.CRYPTO_OFFICER, 1, bytes(32), bytes(32), "officer", (1,), "")
    mutated = export.records[:p] + [forged] + export.records[p:]
    result = verify(serialise(mutated, fmt), export.first_key)
    assert (result.reason, result.first_bad_seq) == (Reason.FORK, p)


@SETTINGS
@given(exports(), st.sampled_from(FORMATS), st.data())
def test_duplicate_is_named(export: Export, fmt: ExportFormat, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(export.records) - 1))
    mutated = export.records[: i + 1] + [export.records[i]] + export.records[i + 1 :]
    result = verify(serialise(mutated, fmt), export.first_key)
    assert (result.reason, result.first_bad_seq) == (Reason.DUPLICATE, i)


@SETTINGS
@given(exports(), st.sampled_from(FORMATS), st.data())
def test_reordering_is_a_gap(export: Export, fmt: ExportFormat, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(export.records) - 2))
    j = data.draw(st.integers(i + 1, len(export.records) - 1))
    mutated = list(export.records)
    mutated[i], mutated[j] = mutated[j], mutated[i]
    result = verify(serialise(mutated, fmt), export.first_key)
    assert (result.reason, result.first_bad_seq) == (Reason.SEQUENCE_GAP, j)


@SETTINGS
@given(exports(), st.sampled_from(FORMATS), st.data())
def test_dropping_the_end_is_named(export: Export, fmt: ExportFormat, data: st.DataObject) -> None:
    keep = data.draw(st.integers(1, len(export.records) - 1))
    mutated = export.records[:keep]
    result = verify(serialise(mutated, fmt), export.first_key)
    assert result.reason is _end_reason(mutated)


@SETTINGS
@given(exports(), st.sampled_from(FORMATS), st.data())
def test_splice_from_another_module_is_foreign(export: Export, fmt: ExportFormat, data: st.DataObject) -> None:
    other = build(SERIAL_B, len(export.records), 0, None, 1, 0)
    i = data.draw(st.integers(0, len(export.records) - 1))
    j = data.draw(st.integers(i + 1, min(len(export.records), len(other.records))))
    mutated = export.records[:i] + other.records[i:j] + export.records[j:]
    result = verify(serialise(mutated, fmt), export.first_key)
    assert (result.reason, result.first_bad_seq) == (Reason.FOREIGN_MODULE, i)
    whole = verify(serialise(other.records, fmt, SERIAL_B), other.first_key)
    assert whole.reason is Reason.FOREIGN_MODULE  # a whole export of another module


@SETTINGS
@given(exports(), st.sampled_from(FORMATS))
def test_older_checkpoint_in_place_of_the_fresh_one_is_stale(export: Export, fmt: ExportFormat) -> None:
    old = _signed_checkpoints(export.records[:-1])[-1]
    mutated = export.records[:-1] + [export.records[old]]
    result = verify(serialise(mutated, fmt), export.first_key)
    if old == len(export.records) - 2:  # the older checkpoint is the record just before: a plain repeat
        assert (result.reason, result.first_bad_seq) == (Reason.DUPLICATE, old)
    else:
        assert (result.reason, result.first_bad_seq) == (Reason.STALE_CHECKPOINT, old)
    replay = verify(serialise(export.older, fmt), export.first_key)  # a whole older export replayed
    assert replay.reason is Reason.STALE_CHECKPOINT


@SETTINGS
@given(exports(), st.sampled_from(FORMATS), st.data())
def test_version_downgrade_is_named(export: Export, fmt: ExportFormat, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(export.records) - 1))
    version = data.draw(st.sampled_from([0, 2]))
    mutated = list(export.records)
    mutated[i] = bytes([version]) + mutated[i][1:]
    result = verify(serialise(mutated, fmt), export.first_key)
    assert (result.reason, result.first_bad_seq) == (Reason.UNKNOWN_VERSION, i)
    blob = bytearray(serialise(export.records, fmt))
    if fmt is ExportFormat.BINARY:
        blob[9] = version  # the file header's record version
    else:
        blob[:] = bytes(blob).replace(b'"record_version":1', b'"record_version":%d' % version, 1)
    assert verify(bytes(blob), export.first_key).reason is Reason.UNKNOWN_VERSION


@pytest.mark.parametrize("fmt", FORMATS)
def test_cut_at_every_byte_is_truncation(fmt: ExportFormat) -> None:
    export = build(SERIAL_A, 6, 3, None, 2, 0)
    blob = serialise(export.records, fmt)
    assert verify(blob, export.first_key).ok
    for cut in range(len(blob)):
        assert verify(blob[:cut], export.first_key).reason is Reason.TRUNCATED, cut


def test_no_checkpoint_and_wrong_module() -> None:
    export = build(SERIAL_A, 8, 0, None, 3, 0)
    unsigned = [r for r in export.records if decode_record(r).kind is not WireKind.CHECKPOINT]
    result = verify(serialise(unsigned[:3], ExportFormat.BINARY), export.first_key, expected_nonce=None)
    assert (result.reason, result.first_bad_seq) == (Reason.NO_CHECKPOINT, 0)
    result = verify(serialise(export.records, ExportFormat.BINARY), export.first_key, expected_serial="CMSIM-C")
    assert result.reason is Reason.FOREIGN_MODULE


# ----------------------------------------------------------------------------- bit flips
def _layout(records: list[bytes]) -> list[tuple[int, int, str, int]]:
    """(start, end, what, record index) for every region of a binary export."""
    regions = [(0, 8, "magic", -1), (8, 10, "version", -1), (10, 11, "serial_len", -1), (11, 43, "serial", -1),
               (43, 44, "tag", -1), (44, 52, "anchor_seq", -1), (52, 84, "anchor_head", -1)]
    pos = 84
    for index, data in enumerate(records):
        regions += [(pos, pos + 1, "tag", index), (pos + 1, pos + 3, "length", index),
                    (pos + 3, pos + 3 + len(data), "record", index)]
        pos += 3 + len(data)
    regions += [(pos, pos + 1, "tag", -1), (pos + 1, pos + 17, "end_counts", -1), (pos + 17, pos + 49, "end_head", -1)]
    return regions


def _expected_flip(records: list[bytes], blob: bytes, pos: int, bit: int) -> Reason:
    """The right reason for one flipped bit, from the layout and the strict decoder alone."""
    start, _, what, index = next(r for r in _layout(records) if r[0] <= pos < r[1])
    flipped = blob[pos] ^ (1 << bit)
    if what in ("magic", "tag", "serial_len"):
        return Reason.MALFORMED
    if what == "version":
        return Reason.UNKNOWN_VERSION
    if what == "serial":
        inside = pos - 11 < len(SERIAL_A)
        return Reason.FOREIGN_MODULE if inside and 0x21 <= flipped <= 0x7E else Reason.MALFORMED
    if what == "anchor_seq":
        return Reason.FORK  # records start at 0, the anchor now says later
    if what in ("anchor_head", "end_head"):
        return Reason.HASH_MISMATCH
    if what == "end_counts":
        claimed = struct.unpack_from(">Q", blob[:pos] + bytes([flipped]) + blob[pos + 1 :], start + (pos - start) // 8 * 8)
        return Reason.TRUNCATED if claimed[0] > len(records) else Reason.MALFORMED
    data = records[index]
    if what == "length":
        new_len = struct.unpack(">H", (blob[:pos] + bytes([flipped]) + blob[pos + 1 :])[start : start + 2])[0]
        return Reason.TRUNCATED if start + 2 + new_len > len(blob) else Reason.MALFORMED
    mutated = bytearray(data)
    mutated[pos - start] = flipped
    try:
        decoded = decode_record(bytes(mutated))
    except UnknownVersionError:
        return Reason.UNKNOWN_VERSION
    except AuditFormatError:
        return Reason.MALFORMED
    original = decode_record(data)
    if decoded.module_tag != original.module_tag:
        return Reason.FOREIGN_MODULE
    if decoded.seq != original.seq:
        return Reason.SEQUENCE_GAP if decoded.seq > original.seq else Reason.FORK
    if original.kind is WireKind.CHECKPOINT:
        return Reason.BAD_SIGNATURE  # every other byte of a checkpoint is signed
    return Reason.HASH_MISMATCH


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(4, 30), st.sampled_from([0, 4]), st.integers(0, 2**31), st.integers(0, 7))
def test_bit_flip_anywhere_is_named(count: int, every: int, where: int, bit: int) -> None:
    export = _cached_build(count, every)
    blob = serialise(export.records, ExportFormat.BINARY)
    pos = where % len(blob)
    damaged = bytearray(blob)
    damaged[pos] ^= 1 << bit
    result = verify(bytes(damaged), export.first_key)
    assert not result.ok
    assert result.reason is _expected_flip(export.records, blob, pos, bit), (pos, _layout_name(export.records, pos))


def _layout_name(records: list[bytes], pos: int) -> str:
    return next(f"{r[2]}#{r[3]}+{pos - r[0]}" for r in _layout(records) if r[0] <= pos < r[1])


_BUILDS: dict[tuple[int, int], Export] = {}


def _cached_build(count: int, every: int) -> Export:
    key = (count, every)
    if key not in _BUILDS:
        _BUILDS[key] = build(SERIAL_A, count, every, count // 2, 1, 2)
    return _BUILDS[key]


@SETTINGS
@given(exports(), st.data())
def test_bit_flip_in_a_json_record_is_named_at_that_record(export: Export, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(export.records) - 1))
    pos = data.draw(st.integers(0, len(export.records[i]) - 1))
    bit = data.draw(st.integers(0, 7))
    mutated = bytearray(export.records[i])
    mutated[pos] ^= 1 << bit
    blob = serialise(export.records, ExportFormat.JSONL)
    lines = blob.splitlines(keepends=True)
    line = lines[2 + i]  # header, anchor, then the records
    lines[2 + i] = line.replace(export.records[i].hex().encode(), bytes(mutated).hex().encode())
    if mutated[4:12] != export.records[i][4:12]:  # the line's own seq field follows the record's
        new_seq = int.from_bytes(mutated[4:12], "big")
        lines[2 + i] = lines[2 + i].replace(b'"seq":%d,' % i, b'"seq":%d,' % new_seq)
    result = verify(b"".join(lines), export.first_key)
    blob_binary = serialise(export.records, ExportFormat.BINARY)
    at = 84 + sum(3 + len(r) for r in export.records[:i]) + 3 + pos
    expected = _expected_flip(export.records, blob_binary, at, bit)
    assert result.reason is expected
    if expected is Reason.HASH_MISMATCH:
        assert result.first_bad_seq == i  # the hash beside the record names it, not the next checkpoint
    # A changed hash beside an intact record is named too.
    lines = blob.splitlines(keepends=True)
    good_hash = _chain(export.records[: i + 1]).hex().encode()
    lines[2 + i] = lines[2 + i].replace(good_hash, bytes(32).hex().encode())
    result = verify(b"".join(lines), export.first_key)
    assert (result.reason, result.first_bad_seq) == (Reason.HASH_MISMATCH, i)
