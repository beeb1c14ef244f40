"""The audit sink port: what the module core hands to the audit trail, one entry per call or event.

The core never formats, chains or stores records itself; it builds an :class:`AuditEntry` and
appends it. The sink stamps the sequence number, boot counter and time. ``MemoryAuditSink`` is
an in-memory sink for tests of the core and for the "audit off" baseline of the benchmarks; the
module's own sink is :class:`module.audit.trail.AuditTrail`, the hash-chained ring in flash.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from module.wire.audit.record import RecordKind
from module.wire.defs import Role, Status

# RecordKind is the published format's, re-exported so the core names record kinds through its port.
__all__ = ["RecordKind", "AuditEntry", "StampedEntry", "AuditSink", "MemoryAuditSink", "EMPTY_DIGEST"]

EMPTY_DIGEST = hashlib.sha256(b"").digest()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit record as the core knows it. Never holds a secret: digests only."""

    kind: RecordKind
    code: int  # a Command for SERVICE records, an AuditEvent for EVENT records
    status: Status = Status.OK
    approved: bool = False
    session_id: int = 0
    operator: str = ""  # operator id ("" when unauthenticated)
    role: Role = Role.NONE
    key_ids: tuple[int, ...] = ()
    request_digest: bytes = EMPTY_DIGEST  # of the non-secret request parameters (module.wire.audit.digest)
    response_digest: bytes = EMPTY_DIGEST  # of the response data, keyed the same way
    detail: str = ""  # short non-secret text: "OPERATIONAL->SOFT_ERROR", "CAST AES-GCM pass"


@dataclass(frozen=True, slots=True)
class StampedEntry:
    """An entry as the sink recorded it: with its sequence number, boot counter and time."""

    seq: int
    boot: int
    tick_ns: int
    utc_ns: int
    entry: AuditEntry = field(repr=True)


@runtime_checkable
class AuditSink(Protocol):
    def append(self, entry: AuditEntry, *, boot: int, tick_ns: int, utc_ns: int) -> int:
        """Record the entry durably before returning its sequence number."""
        ...

    def would_block(self) -> bool:
        """True when the sink can take only the records of services allowed while it is full."""
        ...

    def has_room(self, records: int) -> bool:
        """Whether ``records`` more appends fit; when not, the core refuses the call unrecorded."""
        ...

    def count_refusal(self) -> None:
        """Count a call refused for want of room (the sink reports the count once it has room)."""
        ...

    def admits_public(self, now_ns: int, *, share: bool = True) -> bool:
        """Whether a call without an authenticated session may be recorded now: within the public
        rate, and (``share``) within the public share of the room. When not, the core refuses it
        and counts it with :meth:`count_refusal`."""
        ...

    def open(self, boot: int) -> None:
        """Power-on: recover and verify what the sink holds before the first append."""
        ...

    def close(self) -> None:
        """Power-off: forget volatile state."""
        ...


class MemoryAuditSink:
    """Keeps every record in a list. For in-process use and tests of the core."""

    def __init__(self) -> None:
        self.records: list[StampedEntry] = []
        self._next_seq = 0

    def append(self, entry: AuditEntry, *, boot: int, tick_ns: int, utc_ns: int) -> int:
        seq = self._next_seq
        self._next_seq += 1
        self.records.append(StampedEntry(seq, boot, tick_ns, utc_ns, entry))
        return seq

    def would_block(self) -> bool:
        return False

    def has_room(self, records: int) -> bool:
        return True

    def count_refusal(self) -> None:
        """Never called: a list always has room."""

    def admits_public(self, now_ns: int, *, share: bool = True) -> bool:
        return True

    def open(self, boot: int) -> None:
        """Nothing to recover: the list lives as long as the object."""

    def close(self) -> None:
        """The records stay readable after power-off (tests inspect them)."""
