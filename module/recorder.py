"""The core's one way into the audit sink: events and service records stamped with the boot and
the clock. What the sink cannot take is counted (status shows the count), never raised, because
an event happens whether or not it could be written down."""

from __future__ import annotations

from module.audit.ring import AuditError
from module.audit.sink import AuditEntry, AuditSink, RecordKind
from module.audit.trail import AuditTrail
from module.errors import ServiceError
from module.ports import Clock, FlashError
from module.wire.defs import AuditEvent, Role, Status

__all__ = ["AuditRecorder"]


class AuditRecorder:
    def __init__(self, sink: AuditSink, clock: Clock) -> None:
        self.sink = sink
        self.clock = clock
        self.boot = 0  # the boot counter the records belong to, set at power-on
        self.fault = ""  # why the audit trail could not be opened (the module is then in HARD_ERROR)
        self.unrecorded = 0  # events the sink could not take (ring exhausted or flash failure)

    @property
    def chained(self) -> AuditTrail | None:
        """The hash-chained trail, when that is the sink (tests and benchmarks may plug in another)."""
        return self.sink if isinstance(self.sink, AuditTrail) else None

    @property
    def trail(self) -> AuditTrail:
        """The hash-chained trail, for the audit services (refused when another sink is plugged in)."""
        if not isinstance(self.sink, AuditTrail):
            raise ServiceError(Status.INVALID_STATE, "this module runs without its audit trail")
        return self.sink

    def times(self) -> dict[str, int]:
        """Boot counter and clock readings for a record the trail writes on the core's behalf."""
        return {"boot": self.boot, "tick_ns": self.clock.monotonic_ns(), "utc_ns": self.clock.utc_ns()}

    def append(self, entry: AuditEntry) -> None:
        """Write-ahead: returns only once the record is in flash (raises AuditError, FlashError)."""
        self.sink.append(entry, **self.times())

    def event(
        self,
        code: AuditEvent,
        *,
        status: Status = Status.OK,
        detail: str = "",
        operator: str = "",
        role: Role = Role.NONE,
        session_id: int = 0,
        key_ids: tuple[int, ...] = (),
    ) -> None:
        """Record an event; one the sink cannot take is counted."""
        if self.fault:
            self.unrecorded += 1
            return
        entry = AuditEntry(kind=RecordKind.EVENT, code=int(code), status=status, approved=False,
                           session_id=session_id, operator=operator, role=role, key_ids=key_ids,
                           detail=detail[:120])
        try:
            self.append(entry)
        except (AuditError, FlashError):
            self.unrecorded += 1
