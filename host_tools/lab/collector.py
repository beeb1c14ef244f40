"""The harness's auditor: drains the device's trail as the run goes, verifying every page.

Each drain is what a careful host does (``docs/audit-format.md``): a checkpoint bound to a fresh
nonce, an export of everything after the last verified record up to that checkpoint, offline
verification continuing from the last verified chain value, then an acknowledgement of exactly
what verified. The records are kept (decoded) for the steps' checks and for the completeness
match. The ring never fills under the harness (it drains long before the block policy bites).

A zeroisation from an error state retires the audit key without a successor (the key made at
the next initialisation starts a new, unlinked line). The collector then verifies the export in
two pieces: the old key's records up to its last (ZEROISATION) checkpoint, and the rest under
the new key, which it accepts from the module's self-signed key statement; the report says so.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from host_tools.audit_drain import export_through
from host_tools.audit_verify import VerifyResult, verify_export
from host_tools.client import OperatorSession
from module.wire.audit.checkpoint import CheckpointReason, LinkKind
from module.wire.audit.export import Anchor, ExportFormat, ExportWriter, RecordItem, iter_export
from module.wire.audit.record import AuditRecord, RecordKind, decode_record
from module.wire.defs import Command

__all__ = ["AuditCollector", "DrainInfo"]

PAGE = 256


@dataclass
class DrainInfo:
    checkpoint_seq: int
    nonce: bytes
    records: int = 0
    ok: bool = False
    reason: str = ""
    message: str = ""
    verified_through: int | None = None
    acknowledged: bool = False
    oldest_after_ack: int | None = None
    pieces: int = 1
    calls: list[int] = field(default_factory=list)  # the harness requests this drain made


class AuditCollector:
    def __init__(self, serial: str, public_key: bytes, start_seq: int, start_head: bytes | None) -> None:
        self.serial = serial
        self.key = public_key
        self.keys_seen: list[bytes] = [public_key]
        self.next_seq = start_seq
        self.head = start_head  # chain value at next_seq - 1 (None: trust the first page's anchor)
        self.first_seq = start_seq
        self.records: dict[int, AuditRecord] = {}
        self.drains: list[DrainInfo] = []
        self.notes: list[str] = []
        self.broken: str = ""  # set once a drain failed: later drains cannot continue the chain

    @property
    def verified_through(self) -> int:
        return self.next_seq - 1

    def drain(self, session: OperatorSession, fetch_key: Callable[[], bytes], *, acknowledge: bool = True,
              calls: Callable[[], int] | None = None) -> DrainInfo:
        first_call = calls() if calls else 0
        nonce = os.urandom(16)
        cp = session.call(Command.AUDIT_CHECKPOINT, {"nonce": nonce}).data
        info = DrainInfo(int(cp["seq"]), nonce)
        try:
            self._drain(session, fetch_key, info, acknowledge)
        finally:
            if calls:
                info.calls = list(range(first_call, calls()))
            self.drains.append(info)
        return info

    def _drain(self, session: OperatorSession, fetch_key: Callable[[], bytes], info: DrainInfo,
               acknowledge: bool) -> None:
        if self.broken:
            info.message = f"not verified: an earlier drain failed ({self.broken})"
            return
        buffer = io.BytesIO()
        export_through(session, buffer, self.serial, info.checkpoint_seq, from_seq=self.next_seq, page=PAGE)
        buffer.seek(0)
        anchor: tuple[int, bytes] | None = None
        raw: list[bytes] = []
        for item in iter_export(buffer):
            if isinstance(item, Anchor) and anchor is None:
                anchor = (item.next_seq, item.head)
            elif isinstance(item, RecordItem):
                raw.append(item.data)
        decoded = [decode_record(r) for r in raw]
        info.records = len(decoded)
        if anchor is None:
            self._fail(info, "MALFORMED", "the export has no anchor")
            return
        if anchor[0] != self.next_seq:
            self.notes.append(f"export restarted at seq {anchor[0]}, after {self.next_seq - 1} (records freed)")
        start = (self.next_seq - 1, self.head) if self.head is not None and anchor[0] == self.next_seq else None
        # A ZEROISATION checkpoint that names no successor (made in an error state, so unsigned)
        # ends a key line: cut after the old key's last signature before it; the unsigned stretch
        # up to the new key's first checkpoint is proven by that new key line.
        signed = [i for i, r in enumerate(decoded) if r.checkpoint is not None and r.checkpoint.signature]
        cuts = sorted({max((j for j in signed if j < i), default=-1) for i, r in enumerate(decoded)
                       if r.kind is RecordKind.CHECKPOINT and r.checkpoint is not None
                       and r.checkpoint.statement.reason is CheckpointReason.ZEROISATION
                       and r.checkpoint.statement.link_kind is LinkKind.NONE})
        bounds = [c + 1 for c in cuts if 0 <= c and c + 1 < len(decoded)] + [len(decoded)]
        if cuts and cuts[0] < 0:  # the old key's last signature came in an earlier drain: new line at once
            self.key = self._line_key(decoded[: bounds[0]]) or fetch_key()
            if self.key not in self.keys_seen:
                self.keys_seen.append(self.key)
        lo = 0
        anchor_seq, anchor_head = anchor
        result: VerifyResult | None = None
        info.pieces = len(bounds)
        for n, hi in enumerate(bounds):
            last = n == len(bounds) - 1
            piece = self._export(anchor_seq, anchor_head, raw[lo:hi])
            result = verify_export(piece, self.key, expected_serial=self.serial,  # the lab's own device: lab mode
                                   expected_nonce=info.nonce if last else None, start=start, allow_lab=True)
            if not result.ok or result.verified_head is None or result.verified_through is None:
                reason = result.reason.value if result.reason else "UNKNOWN"
                self._fail(info, reason, f"seq {result.first_bad_seq}: {result.message}")
                return
            for key in result.keys:
                if key not in self.keys_seen:
                    self.keys_seen.append(key)
            if result.keys:
                self.key = result.keys[-1]
            start = (result.verified_through, result.verified_head)
            anchor_seq, anchor_head = result.verified_through + 1, result.verified_head
            if not last:
                new_key = self._line_key(decoded[hi:bounds[n + 1]]) or fetch_key()
                self.notes.append(f"the audit key line restarts after the ZEROISATION checkpoint at seq "
                                  f"{result.verified_through} (zeroised in an error state, no successor key): "
                                  f"the next key {new_key.hex()[:16]}... was accepted from its self-signed "
                                  "KEY_START checkpoint")
                self.key = new_key
                if new_key not in self.keys_seen:
                    self.keys_seen.append(new_key)
            lo = hi
        assert result is not None and result.verified_through is not None and result.verified_head is not None
        if len(bounds) > 1:  # the trail led to a new key line: it must be the one the module now presents
            current = fetch_key()
            if current not in result.keys and current != self.key:
                self._fail(info, "BAD_SIGNATURE", f"the module's key statement names key {current.hex()[:16]}..., "
                                                  "which the verified trail does not lead to")
                return
        for rec in decoded:
            if rec.seq <= result.verified_through:
                self.records[rec.seq] = rec
        self.next_seq, self.head = result.verified_through + 1, result.verified_head
        info.ok, info.verified_through = True, result.verified_through
        info.message = f"{len(decoded)} records verified through checkpoint {result.verified_through}"
        if acknowledge:
            oldest = int(session.call(Command.AUDIT_ACK, {"seq": result.verified_through,
                                                          "head": result.verified_head}).data["oldest_retained"])
            info.acknowledged, info.oldest_after_ack = True, oldest

    @staticmethod
    def _line_key(records: list[AuditRecord]) -> bytes | None:
        """The signer of the first KEY_START checkpoint: the key a new, unlinked key line starts with."""
        for r in records:
            if r.kind is RecordKind.CHECKPOINT and r.checkpoint is not None \
                    and r.checkpoint.statement.reason is CheckpointReason.KEY_START:
                return bytes(r.checkpoint.statement.signer)
        return None

    def _export(self, anchor_seq: int, anchor_head: bytes, records: list[bytes]) -> io.BytesIO:
        out = io.BytesIO()
        writer = ExportWriter(out, self.serial, ExportFormat.BINARY)
        writer.anchor(anchor_seq, anchor_head)
        for data in records:
            writer.record(data)
        writer.close()
        out.seek(0)
        return out

    def _fail(self, info: DrainInfo, reason: str, message: str) -> None:
        info.ok, info.reason, info.message = False, reason, message
        self.broken = f"{reason} at drain of checkpoint {info.checkpoint_seq}: {message}"

    # ------------------------------------------------------------ queries
    def between(self, lo: int, hi: int) -> list[AuditRecord]:
        return [self.records[s] for s in range(lo, hi + 1) if s in self.records]

    def service_records(self) -> list[AuditRecord]:
        return [r for s, r in sorted(self.records.items()) if r.kind is RecordKind.SERVICE and s >= self.first_seq]
