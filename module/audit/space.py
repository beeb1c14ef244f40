"""Room in the ring: the reserve levels under block, refusal counting, and the wrap-around
(checkpoint, drop the oldest batch, LOSS record) under wrap.

Under ``block`` the last :data:`INTERNAL_RESERVE` slots are for module-made records only and
the last :data:`HANDOVER_RESERVE` of those for one zeroisation handover. Refused appends are
counted in flash and summarised by one LOSS(REFUSED) record as soon as one fits. Under ``wrap``
the LOSS(OVERWRITTEN) records owed by a drop are written before anything else.
"""

from __future__ import annotations

from typing import Final

from module.audit.checkpoints import Checkpoints
from module.audit.log import ChainLog, Times
from module.audit.ring import AuditRingExhausted, Recovery
from module.wire.audit.checkpoint import CheckpointReason
from module.wire.audit.record import LossBody, LossReason, RecordKind, loss_record
from module.wire.defs import AuditPolicy

__all__ = ["INTERNAL_RESERVE", "HANDOVER_RESERVE", "ENTRY", "INTERNAL", "HANDOVER", "RingSpace"]

INTERNAL_RESERVE: Final = 4  # under block: the last slots, for module-made records only
HANDOVER_RESERVE: Final = 2  # of those, the last two: only a zeroisation handover may use them
ENTRY, INTERNAL, HANDOVER = 0, 1, 2  # who is asking for a slot


class RingSpace:
    """Decides whether the next record fits, and makes it fit under wrap."""

    def __init__(self, log: ChainLog, checkpoints: Checkpoints, serial: str, *, reserve: int, wrap_batch: int) -> None:
        self._log = log
        self._checkpoints = checkpoints
        self._serial = serial
        self._capacity = log.ring.capacity
        self._reserve = reserve
        self._batch = min(wrap_batch, self._capacity // 2)
        self._pending_losses: list[tuple[int, int]] = []
        self._wrapping = False

    def recover(self, rec: Recovery) -> None:
        """A wrap-around drop whose LOSS record never reached flash: owe it before anything else."""
        meta = rec.meta
        self._pending_losses = (
            [(meta.drop_first, meta.drop_count)] if meta.drop_count and meta.drop_loss_seq >= rec.next_seq else []
        )

    def would_block(self) -> bool:
        """Under block, once only the reserve is left."""
        return self._log.policy is AuditPolicy.BLOCK and self._log.used >= self._capacity - self._reserve

    def has_room(self, records: int) -> bool:
        """Whether ``records`` more appends fit before the ring is exhausted (always, under wrap)."""
        return self._log.policy is AuditPolicy.WRAP or self._log.used + records <= self._capacity - INTERNAL_RESERVE

    def exhausted(self) -> bool:
        """Under block, nothing left but the internal reserve."""
        return self._log.policy is AuditPolicy.BLOCK and self._log.used >= self._capacity - INTERNAL_RESERVE

    def before_entry(self, boot: int, tick_ns: int, utc_ns: int) -> None:
        """Make room for one SERVICE or EVENT record, writing first whatever LOSS records are owed."""
        meta = self._log.meta
        cap = self._capacity
        used = self._log.next - meta.floor
        if meta.policy is AuditPolicy.BLOCK:
            if used >= cap - INTERNAL_RESERVE:
                self.count_refusal()
                raise AuditRingExhausted("audit ring exhausted: append refused and counted")
        elif cap - used <= 1:
            self.reserve(Times(boot, tick_ns, utc_ns), ENTRY)  # wrap around first
        if self._pending_losses or meta.refused_pending:
            self.flush_pending(Times(boot, tick_ns, utc_ns))
            self.reserve(Times(boot, tick_ns, utc_ns), INTERNAL)  # the summary may precede the entry

    def reserve(self, t: Times, level: int) -> None:
        """Make sure the next write has a free slot: under wrap by dropping the oldest records,
        under block by refusing once the ring is filled to this level's limit."""
        cap = self._capacity
        if self._log.policy is AuditPolicy.WRAP:
            while not self._wrapping and cap - self._log.used <= 1:
                self._wrap(t)
            return
        limit = (cap - INTERNAL_RESERVE, cap - HANDOVER_RESERVE, cap)[level]
        if self._log.used >= limit:
            if level == ENTRY:
                self.count_refusal()
            raise AuditRingExhausted("audit ring exhausted")

    def count_refusal(self) -> None:
        """A call refused for want of a slot: counted in flash, summarised by a LOSS(REFUSED) record."""
        ring = self._log.ring
        meta = ring.meta
        ring.update_meta(refused_total=meta.refused_total + 1, refused_pending=meta.refused_pending + 1)

    def flush_pending(self, t: Times) -> None:
        """Before an append: the LOSS records owed by drops, then the refusal summary if it fits."""
        self._flush_losses(t)
        log = self._log
        refused = log.meta.refused_pending
        if refused and (log.policy is AuditPolicy.WRAP or log.used < self._capacity - HANDOVER_RESERVE):
            self.reserve(t, INTERNAL)
            meta = log.meta
            body = LossBody(0, 0, meta.refused_pending, meta.refused_total)
            log.commit(self._loss(LossReason.REFUSED, body, t), RecordKind.LOSS)
            log.ring.update_meta(refused_pending=0)

    def _wrap(self, t: Times) -> None:
        """Checkpoint, drop the oldest batch (metadata first), name the gap in a LOSS record."""
        self._wrapping = True
        try:
            if self._capacity - self._log.used >= 1:
                self._checkpoints.write(CheckpointReason.PRE_OVERWRITE, b"", t)
                self._drop(loss_seq=self._log.next)
            else:  # full to the last slot (policy just switched from block): drop first
                self._drop(loss_seq=self._log.next + 1)
                self._checkpoints.write(CheckpointReason.PRE_OVERWRITE, b"", t)
            self._flush_losses(t)
        finally:
            self._wrapping = False

    def _drop(self, *, loss_seq: int) -> None:
        ring = self._log.ring
        meta = ring.meta
        count = min(self._batch, self._log.used)
        first = meta.floor
        ring.update_meta(
            floor=first + count, lost_total=meta.lost_total + count,
            drop_first=first, drop_count=count, drop_loss_seq=loss_seq,
        )
        self._pending_losses.append((first, count))

    def _flush_losses(self, t: Times) -> None:
        log = self._log
        while self._pending_losses:
            if not self._wrapping:
                self.reserve(t, INTERNAL)  # under wrap this may write them itself
                if not self._pending_losses:
                    break
            first, count = self._pending_losses.pop(0)
            meta = log.meta
            if meta.drop_count and meta.drop_first == first and meta.drop_loss_seq != log.next:
                log.ring.update_meta(drop_loss_seq=log.next)  # so the next boot does not owe it again
            gap_start = min(meta.ack_next, first)  # everything unacknowledged up to here is gone
            body = LossBody(gap_start, first + count - 1, count, meta.lost_total)
            log.commit(self._loss(LossReason.OVERWRITTEN, body, t), RecordKind.LOSS)

    def _loss(self, reason: LossReason, body: LossBody, t: Times) -> bytes:
        return loss_record(self._serial, self._log.next, t.boot, t.tick_ns, t.utc_ns, reason, body).encode()
