"""Step 10, audit completeness: every request in the trail exactly once; chain, checkpoints, acknowledgement.

The recording transport kept every request the harness sent (the lab port's power cycles and
injections are not requests: they leave EVENT records). The verified trail's SERVICE records from
the run's first sequence number through the last verified checkpoint are aligned with those
requests in order; each must agree on service, outcome, operator, role, session, approved
indicator and the request and response digests (the module's cpHash/rpHash). A request without
its record, a record without its request, and any disagreement are reported by request number
and sequence number.

ISO/IEC 19790 has no audit-trail clause at security levels 1-3, so these results are not filed
under one: they test this product's own requirements, derived from the audit duties it promises
(every call recorded once, before its answer; a verifiable chain with signed, fresh checkpoints;
records freed only by an acknowledgement of the verified head), under the label
:data:`~host_tools.lab.results.PRODUCT_AUDIT`.
"""

from __future__ import annotations

import time

from host_tools.lab.recorder import CallRecord, command_name
from host_tools.lab.results import PRODUCT_AUDIT, Result
from host_tools.lab.steps.base import AuditView
from host_tools.lab.world import AUDITOR, World
from module.wire.audit.record import AuditRecord
from module.wire.defs import Command, Role, Status

__all__ = ["AuditStep", "match"]

UNKNOWN_DIGEST_STATUSES = (Status.SESSION_INVALID, Status.MESSAGE_REJECTED)  # refused before dispatch


def _describe_record(r: AuditRecord) -> str:
    try:
        status = Status(r.status).name
    except ValueError:
        status = f"0x{r.status:02x}"
    who = r.operator or "no session"
    return f"seq {r.seq} {command_name(r.code)} ({who}, session {r.session_id:#x}) -> {status}"


def _key(c: CallRecord) -> tuple[int, int | None]:
    return c.command, int(c.status) if c.status is not None else None


def _same(c: CallRecord, r: AuditRecord) -> bool:
    if (c.command, int(c.status) if c.status is not None else -1) != (r.code, r.status):
        return False
    if c.status not in UNKNOWN_DIGEST_STATUSES:
        if c.request_digest is not None and c.request_digest != r.request_digest:
            return False
        if c.response_digest is not None and c.response_digest != r.response_digest:
            return False
    return True


def _diffs(c: CallRecord, r: AuditRecord) -> list[str]:
    out = []
    if c.operator is not None and c.operator != r.operator:
        out.append(f"operator {r.operator!r}, expected {c.operator!r}")
    if c.role is not None and int(c.role) != r.role:
        out.append(f"role {Role(r.role).name if r.role in Role._value2member_map_ else r.role}, "
                   f"expected {c.role.name}")
    if c.command != Command.AUTH_FINISH and c.session_id != r.session_id:
        out.append(f"session {r.session_id:#x}, expected {c.session_id:#x}")
    if c.approved != bool(r.approved):
        out.append(f"approved indicator {bool(r.approved)}, the answer said {c.approved}")
    return out


def match(calls: list[CallRecord], records: list[AuditRecord], view: AuditView, result: Result) -> None:
    """Align requests and SERVICE records in order; fill ``view.call_to_seq`` and report every gap."""
    i = j = 0
    while i < len(calls) and j < len(records):
        c, r = calls[i], records[j]
        if c.status is None:  # no answer reached the harness: the record may or may not exist
            if r.code == c.command and not (i + 1 < len(calls) and _same(calls[i + 1], r)):
                view.call_to_seq[c.index] = r.seq
                j += 1
            view.call_problems[c.index] = "the request got no answer"
            i += 1
            continue
        if _same(c, r):
            view.call_to_seq[c.index] = r.seq
            diffs = _diffs(c, r)
            if diffs:
                result.fail(f"{c.describe()} is recorded at seq {r.seq} with " + "; ".join(diffs))
                view.call_problems[c.index] = "; ".join(diffs)
            else:
                result.ok()
            i += 1
            j += 1
            continue
        later_call = next((k for k in range(i + 1, min(i + 50, len(calls))) if _same(calls[k], r)), None)
        later_record = next((k for k in range(j + 1, min(j + 50, len(records))) if _same(c, records[k])), None)
        if later_record is not None and (later_call is None or later_record - j <= later_call - i):
            for extra in records[j:later_record]:
                result.fail(f"audit record {_describe_record(extra)} matches no request the harness sent")
            j = later_record
            continue
        if later_call is not None:
            for missing in calls[i:later_call]:
                result.fail(f"{missing.describe()} left no audit record (the record at seq {r.seq} belongs to "
                            f"request #{calls[later_call].index})")
                view.call_problems[missing.index] = f"no record (seq {r.seq} is request #{calls[later_call].index}'s)"
            i = later_call
            continue
        result.fail(f"{c.describe()} does not match the record at its place, {_describe_record(r)}")
        view.call_problems[c.index] = f"the record at its place is {_describe_record(r)}"
        i += 1
        j += 1
    for c in calls[i:]:
        if c.status is not None:
            result.fail(f"{c.describe()} left no audit record (the trail ends at seq {view.verified_through})")
            view.call_problems[c.index] = "no record"
    for r in records[j:]:
        result.fail(f"audit record {_describe_record(r)} matches no request the harness sent")


class AuditStep:
    def __init__(self, world: World) -> None:
        self.world = world
        self.completeness = Result("audit.completeness", 10, PRODUCT_AUDIT,
                                   "audit completeness: every request exactly once in the trail, with its operator, "
                                   "service, outcome, indicator and digests")
        self.chain = Result("audit.chain", 10, PRODUCT_AUDIT,
                            "audit chain and signed checkpoints verify offline (each drain bound to a fresh nonce)")
        self.ack = Result("audit.ack", 10, PRODUCT_AUDIT,
                          "audit acknowledgement frees exactly the verified records; a wrong head is refused")
        self.upto_call = 0
        self.started = 0.0

    def run_live(self) -> None:
        """Before the final collection: acknowledgement refused for a wrong head, accepted for the right one."""
        w = self.world
        self.started = time.perf_counter()
        w.ensure_operational()
        info = w.drain(acknowledge=False)
        self.ack.calls += info.calls
        if not info.ok or info.verified_through is None or w.collector is None or w.collector.head is None:
            self.ack.fail(f"the drain before the acknowledgement test failed: {info.reason} {info.message}")
        else:
            seq, head = info.verified_through, w.collector.head
            before = int(w.status()["audit"]["oldest_retained"])
            wrong = bytes([head[0] ^ 0xFF]) + head[1:]
            self.ack.calls.append(w.mark())
            reply = w.raw(Command.AUDIT_ACK, {"seq": seq, "head": wrong}, AUDITOR)
            after = int(w.status()["audit"]["oldest_retained"])
            self.ack.check(reply.status is Status.AUDIT_DIGEST_MISMATCH and after == before,
                           f"an acknowledgement with a wrong head answered {reply.status.name}, oldest retained "
                           f"{before} -> {after} (expected AUDIT_DIGEST_MISMATCH, nothing freed)")
            self.ack.calls.append(w.mark())
            reply = w.raw(Command.AUDIT_ACK, {"seq": seq, "head": head}, AUDITOR)
            oldest = int(reply.data.get("oldest_retained", -1)) if reply.status is Status.OK else -1
            self.ack.check(reply.status is Status.OK and oldest == seq + 1,
                           f"the acknowledgement of seq {seq} answered {reply.status.name}, oldest retained {oldest} "
                           f"(expected {seq + 1})")
        # The final collection: two drains, so the first one's own requests are covered by the second.
        w.drain()
        self.upto_call = w.mark()
        w.drain()

    def finish(self, view: AuditView) -> None:
        w = self.world
        collector = view.collector
        # Chain and checkpoints.
        for d in collector.drains:
            if d.ok:
                self.chain.ok()
                self.chain.seqs.add(d.checkpoint_seq)
            else:
                self.chain.fail(f"drain of checkpoint {d.checkpoint_seq}: {d.reason} {d.message}")
        self.chain.notes.append(f"{len(collector.drains)} drains, {len(collector.records)} records verified "
                                f"(seq {min(collector.records, default=0)}..{collector.verified_through}), "
                                f"{len(collector.keys_seen)} audit key(s)")
        self.chain.notes += collector.notes
        # Acknowledgements of the drains.
        for d in collector.drains:
            if d.acknowledged and d.verified_through is not None:
                self.ack.check(d.oldest_after_ack == d.verified_through + 1,
                               f"after acknowledging seq {d.verified_through} the oldest retained record is "
                               f"{d.oldest_after_ack}")
        # Completeness.
        calls = [c for c in view.calls[: self.upto_call] if c.index < self.upto_call]
        records = [r for r in collector.service_records() if r.seq <= collector.verified_through]
        if collector.broken:
            self.completeness.fail(f"the trail could not be verified, so completeness cannot be shown: "
                                   f"{collector.broken}")
        match(calls, records, view, self.completeness)
        self.completeness.notes.append(
            f"{len(calls)} requests of this run and {len(records)} SERVICE records (seq {w.run_first_seq}.."
            f"{collector.verified_through}) compared; the final drain's own {len(view.calls) - len(calls)} requests "
            "lie beyond the last checkpoint")
        if view.call_to_seq:
            self.completeness.seqs |= {min(view.call_to_seq.values()), max(view.call_to_seq.values())}
        self.completeness.seconds = self.chain.seconds = self.ack.seconds = time.perf_counter() - self.started

    def results(self) -> list[Result]:
        return [self.completeness, self.chain, self.ack]
