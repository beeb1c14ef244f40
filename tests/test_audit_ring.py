"""The audit ring and trail: block and wrap policies, drain, torn writes, recovery at boot."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_sim.faults import FaultyFlash, PowerCut
from host_tools.audit_verify import Reason, verify_export
from module.audit.ring import REGION_NAME, SLOT_SIZE, slot_offset
from module.audit.sink import AuditEntry, AuditSink, RecordKind
from module.audit.trail import (
    INTERNAL_RESERVE,
    AckDigestMismatch,
    AuditConfig,
    AuditError,
    AuditKeyMissing,
    AuditRangeError,
    AuditRingCorrupted,
    AuditRingExhausted,
    AuditTrail,
)
from module.ports import MemoryFlash
from module.wire.audit.chain import chain_next, genesis
from module.wire.audit.checkpoint import CheckpointReason
from module.wire.audit.export import write_export
from module.wire.audit.record import LossReason, decode_record
from module.wire.audit.record import RecordKind as WireKind
from module.wire.defs import AuditEvent, Command, Role, Status

SERIAL = "CMSIM-TEST"
SEED = bytes(range(32))
SEED2 = bytes(range(32, 64))


def entry(i: int) -> AuditEntry:
    if i % 3 == 0:
        return AuditEntry(RecordKind.EVENT, AuditEvent.STATE_CHANGE, detail=f"event {i}")
    return AuditEntry(
        RecordKind.SERVICE, Command.RANDOM, Status.OK, True, 1000 + i, "alice", Role.USER, (i,),
        hashlib.sha256(b"%d" % i).digest(),
    )


def times(i: int, boot: int = 1) -> dict[str, int]:
    return {"boot": boot, "tick_ns": 1000 * i, "utc_ns": 1_790_000_000 * 10**9 + i}


def make(flash: object | None = None, *, boot: int = 1, key: bool = True, **config: object) -> AuditTrail:
    cfg = AuditConfig(**{"capacity": 32, "checkpoint_every": 0, "reserve": 8, **config})  # type: ignore[arg-type]
    trail = AuditTrail(flash if flash is not None else MemoryFlash(), SERIAL, cfg)  # type: ignore[arg-type]
    trail.open(boot)
    if key:
        trail.set_signing_key(SEED)
    return trail


class History:
    """Every record the trail ever wrote, captured before the ring can reuse its slot."""

    def __init__(self, trail: AuditTrail) -> None:
        self.trail = trail
        self.records: list[bytes] = []

    def capture(self) -> None:
        self.records.extend(self.trail.export(len(self.records), 10**6))

    def append(self, i: int) -> int:
        seq = self.trail.append(entry(i), **times(i))
        self.capture()
        return seq


def verify_records(records: list[bytes], *, anchor: tuple[int, bytes] | None = None, nonce: bytes | None = None,
                   public_key: bytes | None = None) -> Reason | None:
    out = io.BytesIO()
    write_export(out, SERIAL, records, anchor=anchor)
    out.seek(0)
    key = public_key if public_key is not None else make(key=True).public_key()
    result = verify_export(out, key, expected_serial=SERIAL, expected_nonce=nonce)
    return result.reason


def kinds(records: list[bytes]) -> list[str]:
    return [decode_record(r).kind.name for r in records]


# ----------------------------------------------------------------------------- protocol and basics
def test_trail_is_an_audit_sink_without_io_in_its_constructor() -> None:
    class NoIo(MemoryFlash):
        def read(self, name: str) -> bytes | None:
            raise AssertionError("I/O in the constructor")

    trail = AuditTrail(NoIo(), SERIAL, AuditConfig(capacity=32, reserve=8))
    assert isinstance(trail, AuditSink)


def test_close_forgets_the_key_and_refuses_appends() -> None:
    trail = make()
    trail.append(entry(1), **times(1))
    trail.close()
    with pytest.raises(AuditKeyMissing):
        trail.public_key()
    with pytest.raises(AuditError):
        trail.append(entry(2), **times(2))
    trail.open(2)
    assert trail.status().next_seq == 1 and not trail.status().signing_key


def test_append_returns_sequence_numbers_and_chains() -> None:
    trail = make()
    head = genesis(SERIAL)
    for i in range(10):
        assert trail.append(entry(i), **times(i)) == i
    for data in trail.export(0, 100):
        head = chain_next(head, data)
    assert head == trail.chain_head() == trail.chain_hash(9)
    assert trail.chain_hash(-1) == genesis(SERIAL)
    assert trail.anchor(4) == (4, trail.chain_hash(3))
    assert [decode_record(r).seq for r in trail.export(3, 4)] == [3, 4, 5, 6]


def test_records_are_clipped_to_fit_a_slot_never_refused() -> None:
    trail = make()
    long = AuditEntry(RecordKind.SERVICE, 0x1_0000, Status.OK, False, 2**40, "ö" * 100, Role.USER,
                      tuple(range(20)) + (2**70,), detail="é" * 500 + "\ud800")
    seq = trail.append(long, **times(0))
    record = decode_record(trail.export(seq, 1)[0])
    assert len(record.operator.encode()) <= 64 and len(record.detail.encode()) <= 192
    assert record.key_ids == tuple(range(8))
    assert (record.code, record.session_id) == (0xFFFF, 0xFFFF_FFFF)


def test_checkpoints_periodic_on_request_and_on_error() -> None:
    trail = make(checkpoint_every=5)
    history = History(trail)
    for i in range(12):
        history.append(i)
    reasons = [decode_record(r).code for r in history.records if decode_record(r).kind is WireKind.CHECKPOINT]
    assert reasons == [CheckpointReason.PERIODIC, CheckpointReason.PERIODIC]
    data = trail.checkpoint(b"nonce-1", **times(20))
    history.capture()
    record = decode_record(data)
    assert record.checkpoint is not None and record.checkpoint.statement.nonce == b"nonce-1"
    assert record.checkpoint.statement.head == trail.chain_hash(record.seq - 1)
    trail.error_checkpoint(**times(21))
    history.capture()
    assert decode_record(history.records[-1]).code == CheckpointReason.ERROR
    assert verify_records(history.records, nonce=b"nonce-1") is None


def test_checkpoint_on_request_needs_the_key_automatic_ones_are_unsigned_without() -> None:
    trail = make(key=False, checkpoint_every=3)
    with pytest.raises(AuditKeyMissing):
        trail.checkpoint(b"n", **times(0))
    with pytest.raises(AuditKeyMissing):
        trail.public_key()
    for i in range(3):
        trail.append(entry(i), **times(i))
    record = decode_record(trail.export(3, 1)[0])
    assert record.checkpoint is not None and record.checkpoint.sig_alg == 0
    with pytest.raises(ValueError):
        make().checkpoint(bytes(33), **times(0))


# ----------------------------------------------------------------------------- block policy
def test_block_fills_without_loss_refuses_counts_and_drains() -> None:
    trail = make(capacity=32, reserve=8)
    history = History(trail)
    i = 0
    while not trail.would_block():
        history.append(i)
        i += 1
    assert trail.status().used == 32 - 8
    while True:  # the core keeps recording the refusals and the drain services in the reserve
        try:
            history.append(i)
        except AuditRingExhausted:
            break
        i += 1
    assert trail.status().used == 32 - INTERNAL_RESERVE
    for _ in range(2):
        with pytest.raises(AuditRingExhausted):
            trail.append(entry(i), **times(i))
    assert trail.status().records_refused == 3
    with pytest.raises(AuditRingExhausted):
        trail.checkpoint(b"n", **times(i))
    # Nothing lost: every seq is there and the chain is whole.
    assert [decode_record(r).seq for r in history.records] == list(range(32 - INTERNAL_RESERVE))
    # The host acknowledges what it verified; a wrong digest or an unknown seq is refused.
    last = len(history.records) - 1
    with pytest.raises(AckDigestMismatch):
        trail.acknowledge(last, bytes(32))
    with pytest.raises(AuditRangeError):
        trail.acknowledge(last + 1, trail.chain_head())
    trail.acknowledge(last, trail.chain_hash(last))
    status = trail.status()
    assert (status.used, status.acked_through, status.would_block) == (0, last, False)
    # The next append first summarises the refusals in one LOSS(REFUSED) record.
    seq = history.append(i)
    summary = decode_record(history.records[-2])
    assert summary.kind is WireKind.LOSS and summary.code == LossReason.REFUSED
    assert summary.loss is not None and (summary.loss.count, summary.loss.total) == (3, 3)
    assert seq == summary.seq + 1
    trail.checkpoint(b"fresh", **times(i))
    history.capture()
    assert verify_records(history.records, nonce=b"fresh") is None


def test_high_water_and_policy_in_status() -> None:
    trail = make(capacity=20, reserve=4, high_water=0.5)
    for i in range(9):
        trail.append(entry(i), **times(i))
    assert not trail.status().high_water_reached
    trail.append(entry(9), **times(9))
    assert trail.status().high_water_reached
    trail.set_policy("wrap", 0.9)
    status = trail.status()
    assert (status.policy, status.high_water, status.high_water_reached, status.would_block) == ("wrap", 0.9, False,
                                                                                                 False)
    with pytest.raises(ValueError):
        trail.set_policy("drop")


# ----------------------------------------------------------------------------- wrap policy
@pytest.mark.parametrize("acked_every", [0, 20])
def test_wrap_names_exactly_what_was_lost(acked_every: int) -> None:
    trail = make(capacity=16, policy="wrap", wrap_batch=4, checkpoint_every=0)
    history = History(trail)
    acked: set[int] = set()
    acks: list[int] = []  # acknowledged-through seq, in order (each made when next_seq was ack + 1)
    for i in range(120):
        history.append(i)
        if acked_every and i % acked_every == 0:
            floor, last = trail.status().oldest_retained, trail.status().next_seq - 1
            trail.acknowledge(last, trail.chain_hash(last))
            acked |= set(range(floor, last + 1))
            acks.append(last)
    records = [decode_record(r) for r in history.records]
    assert [r.seq for r in records] == list(range(len(records)))
    losses = [r for r in records if r.kind is WireKind.LOSS]
    assert losses
    named: list[int] = []
    for loss in losses:
        assert loss.loss is not None and loss.code == LossReason.OVERWRITTEN
        before = records[loss.seq - 1]  # a checkpoint signed the head covering them first
        assert before.kind is WireKind.CHECKPOINT and before.code == CheckpointReason.PRE_OVERWRITE
        assert before.checkpoint is not None
        dropped = range(loss.loss.last_seq - loss.loss.count + 1, loss.loss.last_seq + 1)
        assert before.checkpoint.statement.oldest_retained == dropped[0]
        # The record names the whole gap since the last acknowledgement, not just this drop.
        ack_next = max((a for a in acks if a < loss.seq), default=-1) + 1
        assert loss.loss.first_seq == ack_next
        named.extend(dropped)
        assert loss.loss.total == len(named)
    status = trail.status()
    assert len(named) == len(set(named)) == status.records_lost
    assert not set(named) & acked  # acknowledged records are free space, never "lost"
    assert set(named) | acked == set(range(status.oldest_retained))  # everything below the window is accounted
    # The whole history verifies; so does the device's own window, from its anchor.
    trail.checkpoint(b"n", **times(999))
    history.capture()
    assert verify_records(history.records, nonce=b"n") is None
    start, anchor = trail.anchor(0)
    assert verify_records(trail.export(0, 100), anchor=(start, anchor), nonce=b"n") is None


def test_switching_to_wrap_when_full_drops_then_checkpoints() -> None:
    trail = make(capacity=16, reserve=4, wrap_batch=4)
    history = History(trail)
    i = 0
    while True:
        try:
            history.append(i)
        except AuditRingExhausted:
            break
        i += 1
    trail.error_checkpoint(**times(i))  # fill the internal reserve too: no free slot at all
    trail.error_checkpoint(**times(i))
    trail.rotate_key(SEED2, **times(i))
    history.capture()
    assert trail.status().used == 16
    full = len(history.records)
    trail.set_policy("wrap")
    history.append(i + 1)
    first, second = decode_record(history.records[full]), decode_record(history.records[full + 1])
    assert first.code == CheckpointReason.PRE_OVERWRITE and first.checkpoint is not None
    assert first.checkpoint.statement.oldest_retained == 4  # dropped first: there was no slot for it
    assert second.loss is not None and (second.loss.first_seq, second.loss.last_seq) == (0, 3)
    trail.checkpoint(b"n", **times(i + 2))
    history.capture()
    assert verify_records(history.records, nonce=b"n") is None


def test_crash_between_drop_and_loss_record_is_made_good_at_next_boot() -> None:
    flash = FaultyFlash(MemoryFlash())
    trail = make(flash, capacity=16, policy="wrap", wrap_batch=4)
    history = History(trail)
    for i in range(15):
        history.append(i)
    flash.cut_at(2, kind="region")  # the PRE_OVERWRITE checkpoint lands, the LOSS record does not
    with pytest.raises(PowerCut):
        trail.append(entry(15), **times(15))
    flash.disarm()  # power back for the next boot
    history.capture()
    reopened = make(flash, boot=2, capacity=16, policy="wrap", wrap_batch=4)
    history.trail = reopened
    history.append(16)
    loss = decode_record(history.records[-2])
    assert loss.kind is WireKind.LOSS and loss.loss is not None
    assert (loss.loss.first_seq, loss.loss.last_seq, loss.loss.count) == (0, 3, 4)
    reopened.checkpoint(b"n", **times(17, boot=2))
    history.capture()
    assert verify_records(history.records, nonce=b"n") is None
    # The debt is paid once: the next boot does not name the same range again.
    again = make(flash, boot=3, capacity=16, policy="wrap", wrap_batch=4)
    history.trail = again
    history.append(18)
    ranges = [(r.loss.first_seq, r.loss.last_seq) for r in map(decode_record, history.records) if r.loss]
    assert ranges.count((0, 3)) == 1 and len(ranges) == len(set(ranges))


# ----------------------------------------------------------------------------- torn writes
def _torn_scenario(reuse: bool) -> tuple[FaultyFlash, AuditTrail]:
    flash = FaultyFlash(MemoryFlash())
    trail = make(flash, capacity=16, reserve=4)
    for i in range(10):
        trail.append(entry(i), **times(i))
    if reuse:  # drain, then write on until the next slot holds an old (acknowledged) record
        trail.acknowledge(9, trail.chain_hash(9))
        for i in range(10, 16):
            trail.append(entry(i), **times(i))
    return flash, trail


@pytest.mark.parametrize("reuse", [False, True], ids=["fresh-slot", "reused-slot"])
@pytest.mark.parametrize("mode", ["prefix", "suffix"])
def test_torn_slot_at_every_byte_offset_is_detected_at_open(reuse: bool, mode: str) -> None:
    for keep in range(SLOT_SIZE):
        flash, trail = _torn_scenario(reuse)
        seq = trail.status().next_seq
        head = trail.chain_head()
        region = flash.inner.region(REGION_NAME, 16 * SLOT_SIZE)
        before = region.read(slot_offset(seq, 16), SLOT_SIZE)
        flash.cut_at(1, tear=keep, suffix=mode == "suffix", kind="region")
        with pytest.raises(PowerCut):
            trail.append(entry(99), **times(99))
        assert flash.interrupted is not None
        after = region.read(slot_offset(seq, 16), SLOT_SIZE)
        reopened = make(flash.inner, boot=2, capacity=16, reserve=4)
        status = reopened.status()
        if after == flash.interrupted[1]:  # the surviving bytes are the whole slot: the write did complete
            assert status.next_seq == seq + 1
            continue
        assert (status.next_seq, status.head) == (seq, head), keep
        assert status.torn_slot_discarded == (None if after == before else seq), keep
        # The ring goes on from there and its chain still verifies.
        reopened.append(entry(100), **times(100, boot=2))
        reopened.checkpoint(b"n", **times(101, boot=2))
        start, anchor = reopened.anchor(0)
        assert verify_records(reopened.export(0, 100), anchor=(start, anchor), nonce=b"n") is None, keep


# ----------------------------------------------------------------------------- recovery
def test_reopen_after_clean_shutdown_recovers_everything() -> None:
    flash = MemoryFlash()
    trail = make(flash, capacity=32, reserve=8, checkpoint_every=6)
    for i in range(20):
        trail.append(entry(i), **times(i))
    trail.checkpoint(b"n", **times(20))
    trail.acknowledge(11, trail.chain_hash(11))
    trail.set_policy("block", 0.6)
    for i in range(21, 30):
        try:
            trail.append(entry(i), **times(i))
        except AuditRingExhausted:
            pass
    before = trail.status()
    reopened = make(flash, boot=2, key=False, capacity=32, reserve=8, checkpoint_every=6)
    after = reopened.status()
    assert after == before.__class__(**{**before.__dict__, "signing_key": False})
    assert reopened.export(0, 100) == trail.export(0, 100)


def test_sequence_numbers_survive_zeroisation_drain_and_reboot() -> None:
    flash = MemoryFlash()
    trail = make(flash)
    old_public = trail.public_key()
    for i in range(5):
        trail.append(entry(i), **times(i))
    trail.rotate_key(SEED2, **times(5))
    assert trail.public_key() != old_public
    records = [decode_record(r) for r in trail.export(5, 2)]
    assert [r.code for r in records] == [CheckpointReason.ZEROISATION, CheckpointReason.KEY_START]
    assert records[0].checkpoint is not None and records[0].checkpoint.statement.signer == old_public
    assert records[0].checkpoint.statement.link_key == trail.public_key()
    assert records[1].checkpoint is not None and records[1].checkpoint.statement.link_key == old_public
    last = trail.status().next_seq - 1
    trail.acknowledge(last, trail.chain_hash(last))
    head = trail.chain_head()
    reopened = make(flash, boot=2, key=False)
    assert (reopened.status().next_seq, reopened.chain_head(), reopened.status().used) == (last + 1, head, 0)
    assert reopened.append(entry(9), **times(9, boot=2)) == last + 1


def test_a_zeroisation_handover_always_fits_once() -> None:
    trail = make(capacity=16, reserve=4)
    history = History(trail)
    for i in range(12):
        history.append(i)
    with pytest.raises(AuditRingExhausted):
        trail.append(entry(12), **times(12))
    trail.error_checkpoint(**times(13))
    trail.error_checkpoint(**times(14))
    with pytest.raises(AuditRingExhausted):  # the last two slots are the handover's
        trail.error_checkpoint(**times(15))
    first_key = trail.public_key()
    trail.rotate_key(SEED2, **times(16))
    history.capture()
    assert trail.status().used == 16
    # A second zeroisation before any drain cannot sign a handover, but the old key still goes.
    with pytest.raises(AuditRingExhausted):
        trail.rotate_key(SEED, **times(17))
    assert trail.public_key() == make(key=True).public_key()
    last = trail.status().next_seq - 1
    trail.acknowledge(last, trail.chain_hash(last))
    trail.checkpoint(b"n", **times(18))
    history.capture()
    # Up to the first handover the chain verifies from the first key.
    assert verify_records(history.records[:16], nonce=None, public_key=first_key) is None


def test_fsync_policy_decides_whether_each_append_is_synced() -> None:
    for fsync, expected in (("always", 10), ("os", 0)):
        flash = FaultyFlash(MemoryFlash())
        trail = make(flash, fsync=fsync)
        for i in range(10):
            trail.append(entry(i), **times(i))
        assert flash.syncs == expected


def _corrupt(flash: MemoryFlash, capacity: int, seq: int, offset: int) -> None:
    region = flash.region(REGION_NAME, capacity * SLOT_SIZE)
    at = slot_offset(seq, capacity) + offset
    region.write(at, bytes([region.read(at, 1)[0] ^ 0x10]))


@pytest.mark.parametrize("offset", [0, 1, 2, 40, 66, 70, 80, 150, 300, SLOT_SIZE - 1])
def test_corrupting_a_retained_slot_is_never_repaired(offset: int) -> None:
    flash = MemoryFlash()
    trail = make(flash)
    for i in range(12):
        trail.append(entry(i), **times(i))
    _corrupt(flash, 32, 5, offset)
    with pytest.raises(AuditRingCorrupted):
        make(flash, boot=2)


def test_other_ring_damage_is_never_repaired() -> None:
    def fresh() -> MemoryFlash:
        flash = MemoryFlash()
        trail = make(flash)
        for i in range(12):
            trail.append(entry(i), **times(i))
        return flash

    flash = fresh()
    region = flash.region(REGION_NAME, 32 * SLOT_SIZE)
    a, b = region.read(slot_offset(3, 32), SLOT_SIZE), region.read(slot_offset(4, 32), SLOT_SIZE)
    region.write(slot_offset(3, 32), b)
    region.write(slot_offset(4, 32), a)
    damaged: list[tuple[str, Callable[[], object]]] = [
        ("swapped slots", lambda: make(flash, boot=2)),
    ]
    meta_flash = fresh()
    raw = meta_flash.read("audit-meta")
    assert raw is not None
    meta_flash.write("audit-meta", raw[:20] + bytes([raw[20] ^ 1]) + raw[21:])
    damaged.append(("metadata", lambda: make(meta_flash, boot=2)))
    lost_meta = fresh()
    lost_meta.delete("audit-meta")
    damaged.append(("metadata gone", lambda: make(lost_meta, boot=2)))
    resized = fresh()
    damaged.append(("other capacity", lambda: make(resized, boot=2, capacity=64)))
    foreign = fresh()
    damaged.append(("other module", lambda: AuditTrail(foreign, "CMSIM-OTHER", AuditConfig(capacity=32,
                                                                                            reserve=8)).open(2)))
    future = fresh()
    damaged.append(("boot counter rolled back", lambda: make(future, boot=0)))
    for name, action in damaged:
        with pytest.raises(AuditRingCorrupted):
            action()
            pytest.fail(f"{name}: not detected")


def test_damage_to_the_newest_slot_reads_as_a_torn_append() -> None:
    """Documented limit: the newest slot alone cannot tell bit rot from a torn last write."""
    flash = MemoryFlash()
    trail = make(flash)
    for i in range(12):
        trail.append(entry(i), **times(i))
    _corrupt(flash, 32, 11, 100)
    status = make(flash, boot=2).status()
    assert (status.next_seq, status.torn_slot_discarded) == (11, 11)


# ----------------------------------------------------------------------------- random histories
@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(["append", "append", "append", "ack", "checkpoint", "reboot", "wrap", "block",
                                  "tear", "rotate"]), min_size=5, max_size=80))
def test_random_histories_always_verify(ops: list[str]) -> None:
    """Appends, drains, policy switches, zeroisations, reboots and torn writes in any order: the
    captured history verifies, and each reboot finds exactly the state that was there."""
    flash = FaultyFlash(MemoryFlash())
    config: dict[str, Any] = {"capacity": 16, "reserve": 4, "checkpoint_every": 5, "wrap_batch": 3}
    boot = 1
    trail = make(flash, **config)
    history = History(trail)
    seed = SEED
    i = 0
    for op in ops:
        i += 1
        if op == "append":
            try:
                history.append(i)
            except AuditRingExhausted:
                pass
        elif op == "ack":
            seq = trail.status().next_seq - 1
            if seq >= trail.status().oldest_retained - 1 and seq >= 0:
                trail.acknowledge(seq, trail.chain_hash(seq))
        elif op == "checkpoint":
            try:
                trail.checkpoint(b"%d" % i, **times(i, boot))
            except AuditRingExhausted:
                pass
            history.capture()
        elif op in ("wrap", "block"):
            trail.set_policy(op)
        elif op == "rotate":
            if trail.would_block():
                continue  # the core refuses ZEROISE on a full ring (it is not a drain service)
            seed = hashlib.sha256(seed).digest()
            trail.rotate_key(seed, **times(i, boot))
            history.capture()
        else:
            if op == "tear":
                flash.cut_at(1, tear=i * 37 % SLOT_SIZE, kind="region")
                try:
                    trail.append(entry(i), **times(i, boot))
                except (PowerCut, AuditRingExhausted):
                    pass
                flash.disarm()
                history.capture()
            before = trail.status()
            boot += 1
            trail = make(flash, boot=boot, key=False, **config)
            trail.set_signing_key(seed)
            after = trail.status()
            if op == "reboot":
                assert after.head == before.head and after.next_seq == before.next_seq
            history.records = history.records[: after.next_seq]
            history.trail = trail
            history.capture()  # a "failed" write whose bytes all landed is a record after all
    trail.set_policy("wrap")
    trail.checkpoint(b"final", **times(i + 1, boot))
    history.capture()
    # The verifier trusts the first key and follows each zeroisation's handover from it.
    assert verify_records(history.records, nonce=b"final", public_key=make(key=True).public_key()) is None
    start, anchor = trail.anchor(0)
    window = trail.export(0, 100)
    assert verify_records(window, anchor=(start, anchor), nonce=b"final", public_key=trail.public_key()) is None
