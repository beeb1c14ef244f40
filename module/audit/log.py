"""The chain's append end: the ring with the head, the next sequence number and the checkpoint count.

Every record the trail writes goes through :meth:`ChainLog.commit`, the one place that extends
the chain; every chain value a host asks for comes from :meth:`ChainLog.chain_hash`.
"""

from __future__ import annotations

from typing import NamedTuple

from module.audit.ring import AuditError, AuditRing, AuditRingExhausted, Recovery, RingMeta
from module.wire.audit.chain import chain_next, genesis
from module.wire.audit.record import RecordKind
from module.wire.defs import AuditPolicy

__all__ = ["Times", "ChainLog", "AuditRangeError"]

_CHECKPOINT = int(RecordKind.CHECKPOINT)


class AuditRangeError(AuditError):
    """A sequence number outside what the ring can answer for (lost, freed or not yet written)."""


class Times(NamedTuple):
    """When a record is written: this boot's counter, the monotonic tick and UTC."""

    boot: int
    tick_ns: int
    utc_ns: int


class ChainLog:
    """Appends records to the ring in sequence and remembers where the chain stands."""

    def __init__(self, ring: AuditRing, serial: str, *, sync: bool) -> None:
        self.ring = ring
        self._serial = serial
        self._sync = sync
        self._capacity = ring.capacity
        self.next = 0
        self.head = genesis(serial)
        self.since_checkpoint = 0
        self.last_checkpoint: int | None = None
        self.torn: int | None = None  # seq of a torn append discarded at the last recovery

    def recover(self, boot: int, policy: AuditPolicy, high_water_permille: int) -> Recovery:
        """Scan and verify the ring (raises AuditRingCorrupted); continue the chain where it stopped."""
        rec = self.ring.open(boot, policy=policy, high_water_permille=high_water_permille)
        self.next, self.head, self.torn = rec.next_seq, rec.head, rec.torn_seq
        self.last_checkpoint = rec.last_checkpoint_seq
        start = rec.last_checkpoint_seq + 1 if rec.last_checkpoint_seq is not None else rec.meta.floor
        self.since_checkpoint = rec.next_seq - start
        return rec

    @property
    def meta(self) -> RingMeta:
        return self.ring.meta

    @property
    def policy(self) -> AuditPolicy:
        return self.ring.meta.policy

    @property
    def used(self) -> int:
        """Records retained: from the oldest not yet freed to the newest."""
        return self.next - self.ring.meta.floor

    def commit(self, data: bytes, kind: int) -> None:
        """Write one encoded record at the next sequence number (write-ahead) and extend the chain."""
        seq = self.next
        if seq - self.ring.meta.floor >= self._capacity:  # never overwrite a retained record
            raise AuditRingExhausted("no free slot")
        head = self.head
        chain = chain_next(head, data)
        self.ring.write(seq, head, data, chain, sync=self._sync)
        self.head, self.next = chain, seq + 1
        if kind == _CHECKPOINT:
            self.since_checkpoint, self.last_checkpoint = 0, seq
        else:
            self.since_checkpoint += 1

    def chain_hash(self, seq: int) -> bytes:
        """h_seq for any seq from ``oldest retained - 1`` to ``next - 1`` (-1 gives genesis)."""
        if seq == self.next - 1:
            return self.head
        if seq == -1:
            return genesis(self._serial)
        if not self.ring.meta.floor - 1 <= seq < self.next - 1:
            raise AuditRangeError(f"no chain value for seq {seq}")
        return self.ring.read(seq + 1).prev
