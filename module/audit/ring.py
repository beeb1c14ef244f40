"""The audit ring in flash: fixed-size slots written in place, plus one small metadata blob.

Record ``seq`` always lives in slot ``seq % capacity``, so a boot scan needs no index: the
retained window is ``[floor, newest]`` where ``floor`` (oldest retained) comes from the metadata
blob and ``newest`` is the highest valid sequence number found. Each slot carries the chain
value before its record and the chain hash after it, so a slot checks itself with the same
SHA-256 the chain uses (a torn write cannot pass: it would need a hash collision) and the
oldest retained record still has its predecessor's hash after older slots were reused.

Slot layout (512 bytes)::

    u16 record length | 32 prev chain hash | 32 chain hash | record | zero padding

The metadata blob (ack pointer, floor, loss and refusal counters, policy) is replaced
atomically through :class:`~module.ports.Flash`; it is written on acknowledge, policy change,
a wrap-around drop and a refusal, never on an ordinary append.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass, replace
from typing import ClassVar, Final

from module.ports import Flash, FlashRegion
from module.wire.audit.chain import chain_next, genesis, module_tag
from module.wire.audit.common import AuditFormatError
from module.wire.audit.record import MAX_RECORD_SIZE, RecordKind, scan_record
from module.wire.defs import AuditPolicy

__all__ = [
    "SLOT_SIZE",
    "SLOT_HEADER_SIZE",
    "REGION_NAME",
    "META_NAME",
    "AuditError",
    "AuditRingCorrupted",
    "AuditRingExhausted",
    "Slot",
    "RingMeta",
    "Recovery",
    "AuditRing",
]

SLOT_SIZE: Final = 512
REGION_NAME: Final = "audit-ring"
META_NAME: Final = "audit-meta"


class AuditError(Exception):
    """Base of every audit trail error."""


class AuditRingCorrupted(AuditError):
    """The ring failed verification at boot (or a slot read later). Never repaired silently: the
    core enters HARD_ERROR with an audit event."""


class AuditRingExhausted(AuditError):
    """No slot left for this record under the block policy (not even in the reserve)."""


class _SlotInvalid(Exception):
    """A slot that is neither empty nor a whole, self-consistent record (torn or corrupted)."""


@dataclass(frozen=True, slots=True)
class Slot:
    """One valid slot: a record with the chain values on either side of it."""

    FORMAT: ClassVar[str] = ">H32s32s"

    seq: int
    kind: int
    boot: int
    tag: bytes
    prev: bytes
    chain: bytes
    record: bytes

    @classmethod
    def parse(cls, raw: bytes) -> Slot | None:
        """None for an empty (all-zero) slot; raises :class:`_SlotInvalid` for anything partial."""
        length, prev, chain = _SLOT_HEADER.unpack_from(raw)
        if length == 0:
            if raw == _ZEROS:
                return None
            raise _SlotInvalid("zero length but not empty")
        end = SLOT_HEADER_SIZE + length
        if length > MAX_RECORD_SIZE:
            raise _SlotInvalid("record length out of range")
        record = raw[SLOT_HEADER_SIZE:end]
        if raw[end:] != _ZEROS[end:]:
            raise _SlotInvalid("non-zero padding")
        if not hmac.compare_digest(chain_next(prev, record), chain):
            raise _SlotInvalid("chain hash does not match")
        try:
            scan = scan_record(record)
        except AuditFormatError as exc:
            raise _SlotInvalid(f"record does not decode: {exc}") from exc
        return cls(scan.seq, scan.kind, scan.boot, scan.module_tag, prev, chain, record)


_SLOT_HEADER = struct.Struct(Slot.FORMAT)
SLOT_HEADER_SIZE: Final = _SLOT_HEADER.size  # 66
_ZEROS: Final = bytes(SLOT_SIZE)
assert SLOT_HEADER_SIZE + MAX_RECORD_SIZE == SLOT_SIZE


@dataclass(frozen=True, slots=True)
class RingMeta:
    """What the slots cannot tell: how far the host acknowledged, what was dropped, the policy."""

    FORMAT: ClassVar[str] = ">8sBIHQQQQQBHQQQ"  # then 16 bytes of SHA-256 over it
    MAGIC: ClassVar[bytes] = b"CMSIMRNG"
    VERSION: ClassVar[int] = 1

    capacity: int
    floor: int  # oldest retained seq: everything below is acknowledged or lost
    ack_next: int  # every seq below this was acknowledged by a host
    lost_total: int  # unacknowledged records overwritten under wrap
    refused_total: int  # appends refused under block with the reserve exhausted
    refused_pending: int  # refusals not yet summarised in a LOSS(REFUSED) record
    policy: AuditPolicy  # stored as its code
    high_water_permille: int
    drop_first: int  # the last wrap-around drop: first seq, count, and the LOSS record's seq
    drop_count: int
    drop_loss_seq: int

    def encode(self) -> bytes:
        body = _META.pack(
            self.MAGIC, self.VERSION, self.capacity, SLOT_SIZE, self.floor, self.ack_next, self.lost_total,
            self.refused_total, self.refused_pending, int(self.policy), self.high_water_permille,
            self.drop_first, self.drop_count, self.drop_loss_seq,
        )
        return body + hashlib.sha256(body).digest()[:16]

    @classmethod
    def parse(cls, data: bytes) -> RingMeta:
        if len(data) != _META.size + 16:
            raise AuditRingCorrupted("audit metadata has the wrong size")
        body, check = data[: _META.size], data[_META.size :]
        if not hmac.compare_digest(hashlib.sha256(body).digest()[:16], check):
            raise AuditRingCorrupted("audit metadata checksum mismatch")
        (magic, version, capacity, slot_size, floor, ack_next, lost, refused, pending, policy, hw, d_first, d_count,
         d_loss) = _META.unpack(body)
        known = magic == cls.MAGIC and version == cls.VERSION and slot_size == SLOT_SIZE
        if not known or policy not in {int(p) for p in AuditPolicy}:
            raise AuditRingCorrupted("audit metadata of an unknown layout")
        return cls(capacity, floor, ack_next, lost, refused, pending, AuditPolicy(policy), hw, d_first, d_count,
                   d_loss)


_META = struct.Struct(RingMeta.FORMAT)


@dataclass(frozen=True, slots=True)
class Recovery:
    """What a boot scan found."""

    meta: RingMeta
    next_seq: int
    head: bytes  # h_{next_seq - 1}
    last_checkpoint_seq: int | None
    torn_seq: int | None  # a torn append of this seq was discarded


class AuditRing:
    """Slots and metadata. Pure mechanism: the trail decides what to write and when."""

    def __init__(self, flash: Flash, serial: str, capacity: int) -> None:
        self._flash = flash
        self._serial = serial
        self._tag = module_tag(serial)
        self.capacity = capacity
        self._region: FlashRegion | None = None
        self.meta = RingMeta(capacity, 0, 0, 0, 0, 0, AuditPolicy.BLOCK, 800, 0, 0, 0)  # replaced by open()

    @property
    def region(self) -> FlashRegion:
        if self._region is None:
            raise AuditError("audit ring not open")
        return self._region

    def store_meta(self, meta: RingMeta) -> None:
        """Atomic replace; the in-memory copy changes only once flash has it."""
        self._flash.write(META_NAME, meta.encode())
        self.meta = meta

    def update_meta(self, **changes: int) -> None:
        self.store_meta(replace(self.meta, **changes))  # type: ignore[arg-type]

    def write(self, seq: int, prev: bytes, record: bytes, chain: bytes, *, sync: bool) -> None:
        """Write ahead: returns once the slot is written (and synced when asked)."""
        region = self._region
        if region is None:
            raise AuditError("audit ring not open")
        region.write((seq % self.capacity) * SLOT_SIZE,
                     _SLOT_HEADER.pack(len(record), prev, chain) + record + _ZEROS[SLOT_HEADER_SIZE + len(record):])
        if sync:
            region.sync()

    def read(self, seq: int) -> Slot:
        raw = self.region.read((seq % self.capacity) * SLOT_SIZE, SLOT_SIZE)
        try:
            slot = Slot.parse(raw)
        except _SlotInvalid as exc:
            raise AuditRingCorrupted(f"slot of seq {seq} is unreadable: {exc}") from exc
        if slot is None or slot.seq != seq or slot.tag != self._tag:
            raise AuditRingCorrupted(f"slot of seq {seq} does not hold it")
        return slot

    def open(self, boot: int, *, policy: AuditPolicy, high_water_permille: int) -> Recovery:
        """Recover head, tail and pointers by scanning; verify the retained window's chain.

        A torn append (the slot after the newest record) is discarded and reported; anything
        else wrong, retained or free, raises :class:`AuditRingCorrupted`.
        """
        cap = self.capacity
        raw = self._load(policy, high_water_permille)
        slots, invalid, newest = self._scan(raw)
        floor = self.meta.floor
        next_seq = max(newest + 1, floor)
        head, last_checkpoint = self._verify_window(slots, floor, next_seq, boot)
        # Appends go strictly in order, so a power loss can tear one slot only: the next one.
        torn_index = next_seq % cap
        torn = next_seq if torn_index in invalid and next_seq - floor < cap else None
        others = sorted(invalid - {torn_index})
        if others:
            raise AuditRingCorrupted(f"slot {others[0]} is unreadable and is not where an append was torn")
        return Recovery(self.meta, next_seq, head, last_checkpoint, torn)

    def _load(self, policy: AuditPolicy, high_water_permille: int) -> bytes:
        """Read the metadata (formatting a blank ring) and open the region; return its raw bytes."""
        cap = self.capacity
        raw_meta = self._flash.read(META_NAME)
        region = self._flash.region(REGION_NAME, cap * SLOT_SIZE)
        raw = region.read(0, cap * SLOT_SIZE)
        if raw_meta is None:
            if any(raw):
                raise AuditRingCorrupted("the ring holds data but its metadata is missing")
            meta = RingMeta(cap, 0, 0, 0, 0, 0, policy, high_water_permille, 0, 0, 0)
            self._flash.write(META_NAME, meta.encode())
        else:
            meta = RingMeta.parse(raw_meta)
            if meta.capacity != cap:
                raise AuditRingCorrupted(f"the ring was formatted for {meta.capacity} slots, not {cap}")
        self._region, self.meta = region, meta
        return raw

    def _scan(self, raw: bytes) -> tuple[list[Slot | None], set[int], int]:
        """Every slot parsed (None when empty or unreadable), the unreadable ones, the newest retained seq."""
        cap, floor = self.capacity, self.meta.floor
        slots: list[Slot | None] = []
        invalid: set[int] = set()
        newest = -1
        for index in range(cap):
            try:
                slot = Slot.parse(raw[index * SLOT_SIZE : (index + 1) * SLOT_SIZE])
            except _SlotInvalid:
                invalid.add(index)
                slot = None
            if slot is not None and (slot.seq % cap != index or slot.tag != self._tag):
                raise AuditRingCorrupted(f"slot {index} holds a whole record that does not belong there")
            slots.append(slot)
            if slot is not None and slot.seq >= floor and slot.seq > newest:
                newest = slot.seq
        return slots, invalid, newest

    def _verify_window(
        self, slots: list[Slot | None], floor: int, next_seq: int, boot: int
    ) -> tuple[bytes, int | None]:
        """Check that ``floor..next_seq-1`` are all present and chained; return the head and last checkpoint."""
        head = self._base_hash(slots, floor)
        last_checkpoint: int | None = None
        for seq in range(floor, next_seq):
            slot = slots[seq % self.capacity]
            if slot is None or slot.seq != seq:
                raise AuditRingCorrupted(f"retained record {seq} is missing or unreadable")
            if not hmac.compare_digest(slot.prev, head):
                raise AuditRingCorrupted(f"retained record {seq} does not chain to its predecessor")
            if slot.boot > boot:
                raise AuditRingCorrupted(f"retained record {seq} claims boot {slot.boot}, after this boot {boot}")
            if slot.kind == RecordKind.CHECKPOINT:
                last_checkpoint = seq
            head = slot.chain
        return head, last_checkpoint

    def _base_hash(self, slots: list[Slot | None], floor: int) -> bytes:
        """h_{floor-1}: genesis, the oldest retained slot's prev, or the stale slot just below."""
        if floor == 0:
            base = genesis(self._serial)
            first = slots[0]
            if first is not None and first.seq == 0 and not hmac.compare_digest(first.prev, base):
                raise AuditRingCorrupted("record 0 does not start at this module's genesis")
            return base
        below = slots[(floor - 1) % self.capacity]
        below_chain = below.chain if below is not None and below.seq == floor - 1 else None
        oldest = slots[floor % self.capacity]
        if oldest is not None and oldest.seq == floor:
            if below_chain is not None and not hmac.compare_digest(below_chain, oldest.prev):
                raise AuditRingCorrupted(f"record {floor} does not chain to record {floor - 1}")
            return oldest.prev
        if below_chain is None:
            raise AuditRingCorrupted(f"cannot recover the chain value before seq {floor}")
        return below_chain


def slot_offset(seq: int, capacity: int) -> int:
    """Byte offset of the slot that holds ``seq`` (for tests and fault injection)."""
    return (seq % capacity) * SLOT_SIZE

