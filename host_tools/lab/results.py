"""What a lab run produces: one :class:`Result` per test, mapped to its ISO/IEC 19790:2012 clause (or,
for the audit trail, to this product's own requirement: :data:`PRODUCT_AUDIT`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

__all__ = ["CLAUSES", "PRODUCT_AUDIT", "Outcome", "Result", "ranges", "range_text"]

PRODUCT_AUDIT = "P.audit"  # the clause label of the audit-trail results

# ISO/IEC 19790:2012 section 7 (the FIPS 140-3 requirements; SP 800-140B follows the same order).
CLAUSES: dict[str, str] = {
    "7.2": "Cryptographic module specification",
    "7.3": "Cryptographic module interfaces",
    "7.4": "Roles, services, and authentication",
    "7.5": "Software/firmware security",
    "7.6": "Operational environment",
    "7.7": "Physical security",
    "7.8": "Non-invasive security",
    "7.9": "Sensitive security parameter management",
    "7.10": "Self-tests",
    "7.11": "Life-cycle assurance",
    "7.12": "Mitigation of other attacks",
    # Not a clause of ISO/IEC 19790: at security levels 1-3 the standard has no audit-trail requirement.
    # The audit steps test this product's own requirements, derived from the audit duties it promises.
    PRODUCT_AUDIT: "Product requirement, not ISO/IEC 19790 (no audit-trail clause at levels 1-3): the audit "
                   "duties cmsim promises",
}

MAX_FAILURES_KEPT = 50  # per result: the first ones, with the total count


class Outcome(Enum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_RUN = "not run"


@dataclass
class Result:
    """One test: how many cases ran, passed and failed, and the audit records that prove it."""

    id: str
    step: int
    clause: str
    test: str
    run: int = 0
    passed: int = 0
    failed: int = 0
    not_run_reason: str = ""
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    calls: list[int] = field(default_factory=list)  # indices of the harness's requests that are evidence
    seqs: set[int] = field(default_factory=set)  # audit sequence numbers of events that are evidence
    evidence: list[tuple[int, int]] = field(default_factory=list)  # filled at the end: seq ranges
    unmatched_calls: int = 0  # evidence calls that have no record in the trail
    seconds: float = 0.0

    def ok(self, n: int = 1) -> None:
        self.run += n
        self.passed += n

    def fail(self, message: str) -> None:
        self.run += 1
        self.failed += 1
        self.add_failure(message)

    def add_failure(self, message: str) -> None:
        if len(self.failures) < MAX_FAILURES_KEPT:
            self.failures.append(message)
        elif len(self.failures) == MAX_FAILURES_KEPT:
            self.failures.append("... (further failures not listed)")

    def check(self, condition: bool, message: str) -> bool:
        if condition:
            self.ok()
        else:
            self.fail(message)
        return condition

    def skip(self, reason: str) -> None:
        self.not_run_reason = reason

    @property
    def outcome(self) -> Outcome:
        if self.failed:
            return Outcome.FAILED
        if self.run == 0 or self.not_run_reason:
            return Outcome.NOT_RUN
        return Outcome.PASSED

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "step": self.step, "clause": self.clause, "clause_title": CLAUSES.get(self.clause, ""),
            "test": self.test, "outcome": self.outcome.value, "vectors": self.run, "passed": self.passed,
            "failed": self.failed, "not_run_reason": self.not_run_reason or None,
            "evidence": [list(r) for r in self.evidence], "evidence_text": range_text(self.evidence),
            "failures": self.failures, "notes": self.notes, "seconds": round(self.seconds, 3),
        }


def ranges(values: set[int] | list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for v in sorted(set(values)):
        if out and v == out[-1][1] + 1:
            out[-1] = (out[-1][0], v)
        else:
            out.append((v, v))
    return out


def range_text(spans: list[tuple[int, int]], limit: int = 8) -> str:
    parts = [f"{a}" if a == b else f"{a}-{b}" for a, b in spans]
    if len(parts) > limit:
        parts = parts[:limit] + [f"... ({len(spans) - limit} more)"]
    return ", ".join(parts)
