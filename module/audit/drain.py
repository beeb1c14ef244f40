"""Draining the trail: export pages with their anchors, and the digest-bound acknowledgement
that frees what a host has verified."""

from __future__ import annotations

import hmac

from module.audit.log import AuditRangeError, ChainLog
from module.audit.ring import AuditError

__all__ = ["AckDigestMismatch", "Drain"]


class AckDigestMismatch(AuditError):
    """The host's head digest is not the chain hash at that seq: it did not verify what it acks."""


class Drain:
    """Reads pages of records and moves the acknowledgement pointer; writes no record itself."""

    def __init__(self, log: ChainLog) -> None:
        self._log = log

    def export(self, from_seq: int, max_records: int) -> list[bytes]:
        """Encoded records from ``max(from_seq, oldest retained)``, at most ``max_records`` of them."""
        log = self._log
        start = max(from_seq, log.meta.floor)
        stop = min(log.next, start + max(0, max_records))
        return [log.ring.read(seq).record for seq in range(start, stop)]

    def anchor(self, from_seq: int) -> tuple[int, bytes]:
        """(first seq an export from ``from_seq`` returns, chain value before it): an export page's anchor."""
        log = self._log
        start = min(max(from_seq, log.meta.floor), log.next)
        return start, log.chain_hash(start - 1)

    def acknowledge(self, seq: int, head: bytes) -> None:
        """Free records up to ``seq``, only if ``head`` is the chain hash there."""
        log = self._log
        if not log.meta.floor - 1 <= seq < log.next:
            raise AuditRangeError(f"cannot acknowledge seq {seq}: retained range is "
                                  f"{log.meta.floor}..{log.next - 1}")
        if not hmac.compare_digest(log.chain_hash(seq), bytes(head)):
            raise AckDigestMismatch(f"head digest does not match the chain at seq {seq}")
        meta = log.meta
        if seq + 1 > meta.ack_next:
            log.ring.update_meta(ack_next=seq + 1, floor=max(meta.floor, seq + 1))
