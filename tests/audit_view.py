"""Read a module's audit trail back as entries, the way the tests of the core look at it.

The module's sink is the hash-chained ring in flash; this decodes what it retains (through the
trail's own export, so every record read has passed the ring's checks) into
:class:`module.audit.sink.StampedEntry` objects. Checkpoint and loss records come back with
their kind and reason code and no other fields.
"""

from __future__ import annotations

from module.audit.sink import AuditEntry, RecordKind, StampedEntry
from module.audit.trail import AuditTrail
from module.core import Module
from module.wire.audit.record import decode_record
from module.wire.defs import Role, Status


class TrailView:
    def __init__(self, trail: AuditTrail) -> None:
        self.trail = trail

    @property
    def next_seq(self) -> int:
        return self.trail.status().next_seq

    def since(self, seq: int) -> list[StampedEntry]:
        """The records from ``seq`` on (an acknowledgement in between frees older ones, not these)."""
        return [r for r in self.records if r.seq >= seq]

    @property
    def records(self) -> list[StampedEntry]:
        """Every retained record, oldest first (seq 0 onward while nothing was acknowledged)."""
        st = self.trail.status()
        out = []
        seq = st.oldest_retained
        while seq < st.next_seq:
            page = self.trail.export(seq, 4096)
            for data in page:
                rec = decode_record(data)
                entry = AuditEntry(
                    kind=RecordKind(int(rec.kind)), code=rec.code, status=_status(rec.status),
                    approved=rec.approved, session_id=rec.session_id, operator=rec.operator,
                    role=Role(rec.role) if rec.role in Role._value2member_map_ else Role.NONE,
                    key_ids=rec.key_ids, request_digest=rec.request_digest,
                    response_digest=rec.response_digest, detail=rec.detail,
                )
                out.append(StampedEntry(rec.seq, rec.boot, rec.tick_ns, rec.utc_ns, entry))
            seq += len(page)
        return out


def _status(value: int) -> Status:
    return Status(value) if value in Status._value2member_map_ else Status.INTERNAL_ERROR


def sink_of(module: Module) -> TrailView:
    assert isinstance(module.audit, AuditTrail), "the module runs on its own audit trail"
    return TrailView(module.audit)
