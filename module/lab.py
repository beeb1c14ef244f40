"""Test and lab hooks: one-shot self-test faults and deliberate defects. Arming any of them is
audited before it takes effect."""

from __future__ import annotations

from dataclasses import dataclass, field

from module import cast
from module.recorder import AuditRecorder
from module.wire.defs import AuditEvent

__all__ = ["FaultPlan", "LabBreaks", "LAB_BREAKS", "LabHooks"]


@dataclass
class FaultPlan:
    """Test and lab hooks that make a chosen self-test fail on its next run (one shot each)."""

    corrupt_casts: set[str] = field(default_factory=set)
    corrupt_integrity: bool = False
    corrupt_drbg_kat: bool = False
    corrupt_pct: bool = False


@dataclass
class LabBreaks:
    """Deliberate defects, to prove the lab harness fails when the module misbehaves. Off by default;
    only the lab port of a device started with ``--lab`` turns them on, and turning one on is audited."""

    ignore_self_test_failures: bool = False  # a failing CAST is recorded, but the module carries on
    drop_next_service_record: bool = False  # the next service call leaves no record (one shot)


LAB_BREAKS = {"ignore-self-test-failures": "ignore_self_test_failures",
              "drop-next-service-record": "drop_next_service_record"}


class LabHooks:
    def __init__(self, recorder: AuditRecorder, faults: FaultPlan, breaks: LabBreaks) -> None:
        self.recorder = recorder
        self.faults = faults
        self.breaks = breaks

    def record_fault(self, description: str) -> None:
        """A fault the hardware around the module injected (lab mode): recorded like any other."""
        self.recorder.event(AuditEvent.FAULT_INJECTED, detail=description)

    def inject_fault(self, fault: str, target: str = "") -> None:
        """Arm a one-shot self-test fault (test and lab use); the arming itself is audited."""
        if fault == "cast":
            if target not in cast.CAST_NAMES:
                raise ValueError(f"unknown CAST {target!r}")
            self.faults.corrupt_casts.add(target)
        elif fault == "integrity":
            self.faults.corrupt_integrity = True
        elif fault == "drbg":
            self.faults.corrupt_drbg_kat = True
        elif fault == "pct":
            self.faults.corrupt_pct = True
        else:
            raise ValueError(f"unknown fault {fault!r}")
        self.recorder.event(AuditEvent.FAULT_INJECTED, detail=f"{fault} {target}".strip())

    def lab_break(self, what: str) -> None:
        """Turn on one of :data:`LAB_BREAKS` (lab port only); recorded before it takes effect."""
        if what not in LAB_BREAKS:
            raise ValueError(f"unknown break {what!r}; one of {sorted(LAB_BREAKS)}")
        self.recorder.event(AuditEvent.FAULT_INJECTED, detail=f"break {what}")
        setattr(self.breaks, LAB_BREAKS[what], True)
