"""What the steps share: cases with deferred audit checks, and the view of the collected trail."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from host_tools.lab.collector import AuditCollector
from host_tools.lab.recorder import CallRecord
from host_tools.lab.results import Result
from module.wire.audit.record import AuditRecord, RecordKind
from module.wire.defs import AuditEvent

__all__ = ["Case", "AuditView", "finalize"]


@dataclass
class AuditView:
    """The verified trail and the completeness match (request index -> record seq)."""

    collector: AuditCollector
    calls: list[CallRecord]
    call_to_seq: dict[int, int] = field(default_factory=dict)
    call_problems: dict[int, str] = field(default_factory=dict)

    @property
    def verified_through(self) -> int:
        return self.collector.verified_through

    def records(self, lo: int, hi: int) -> list[AuditRecord]:
        return self.collector.between(lo, hi)

    def events(self, lo: int, hi: int, code: AuditEvent) -> list[AuditRecord]:
        return [r for r in self.records(lo, hi) if r.kind is RecordKind.EVENT and r.code == code]

    def covered(self, seq: int) -> bool:
        return seq <= self.verified_through


AuditCheck = Callable[["Case", AuditView], None]


@dataclass
class Case:
    """One scenario or matrix cell: live failures now, audit failures at the end."""

    result: Result
    label: str
    failures: list[str] = field(default_factory=list)
    calls: list[int] = field(default_factory=list)  # evidence requests
    audited: list[int] = field(default_factory=list)  # requests that must each have their record
    seqs: set[int] = field(default_factory=set)
    window: tuple[int, int] = (0, -1)
    audit: AuditCheck | None = None

    def expect(self, condition: bool, message: str) -> bool:
        if not condition:
            self.failures.append(message)
        return condition


MAX_LISTED = 3  # failures of one case spelled out; the rest counted


def finalize(cases: list[Case], view: AuditView) -> None:
    for case in cases:
        collected = True
        if case.audit is not None:
            if not view.covered(case.window[1]):
                collected = False
                case.failures.append(f"audit records {case.window[0]}..{case.window[1]} were not collected "
                                     f"(trail verified through {view.verified_through})")
            else:
                case.audit(case, view)
        missing = [i for i in case.audited if i not in view.call_to_seq]
        if missing and collected:
            index = missing[0]
            problem = view.call_problems.get(index, "no matching record")
            more = f" (and {len(missing) - 1} more of its {len(case.audited)} requests)" if len(missing) > 1 else ""
            case.failures.append(f"{view.calls[index].describe()} is not in the audit trail: {problem}{more}")
        case.result.calls += case.calls + case.audited
        case.result.seqs |= case.seqs
        if case.failures:
            listed = case.failures[:MAX_LISTED]
            rest = len(case.failures) - len(listed)
            case.result.fail(f"{case.label}: " + "; ".join(listed) + (f"; and {rest} more" if rest else ""))
        else:
            case.result.ok()
