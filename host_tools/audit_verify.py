"""Offline audit verifier: checks an export against the module's public key, streaming.

It imports only the published wire format (``module.wire``): a host verifies a device it cannot
see inside. Memory stays bounded (the chain value, a window of at most ``PENDING_LIMIT``
unchecked records, a few pending gaps and keys), so a million-record export verifies in one
pass without a list of all records.

What it proves: every record up to the last good checkpoint is the one the module chained and
signed (or the result says where and why not). Records after the last checkpoint cannot be
proven (``unverified_tail``; a failure unless ``require_final_checkpoint=False``). Anchors and
the end marker are not signed, so a file cut at a checkpoint, with a new anchor or end marker,
still chains: only a checkpoint carrying the host's ``expected_nonce`` proves the export reaches
the device's head (``fresh``), and only its signed ``oldest_retained`` proves where it must
start. Without a nonce an ``ok`` result has ``fresh=False`` and its message says the tail (and
the head) are unproven. A LOSS record closes a gap only once a later checkpoint signs over it.

Checks, in the order they apply to each item (the first failure is reported):

1. decoding: unknown version -> UNKNOWN_VERSION, any other defect -> MALFORMED, a cut file ->
   TRUNCATED;
2. the record's module tag and every checkpoint's serial -> FOREIGN_MODULE;
3. sequence: a jump -> SEQUENCE_GAP (unless an anchor restarts the chain and a LOSS record,
   signed over by a later checkpoint, names the skipped range), the same record again -> DUPLICATE, an older self-consistent
   checkpoint where a newer record belongs -> STALE_CHECKPOINT, any other record for a seq
   already passed -> FORK;
4. checkpoints: signature -> BAD_SIGNATURE, signed head versus the recomputed chain ->
   HASH_MISMATCH (the altered record lies in ``suspect_from..first_bad_seq``); keys are
   trusted from ``public_key`` along handover links (verified at once) in either direction;
5. the exporter's per-record hash (JSON Lines) -> HASH_MISMATCH at that record;
6. end marker: claims more than the file holds -> TRUNCATED; less -> MALFORMED;
7. at the end: no end marker -> TRUNCATED, an uncovered gap -> SEQUENCE_GAP, a signer never
   linked to ``public_key`` -> BAD_SIGNATURE, no signed checkpoint -> NO_CHECKPOINT, records after
   the last checkpoint -> TRUNCATED, no checkpoint with ``expected_nonce`` -> STALE_CHECKPOINT,
   an export (without ``start``) beginning after that checkpoint's ``oldest_retained`` -> TRUNCATED;
   a checkpoint stating lab mode -> LAB_MODE (unless ``allow_lab``).

Speed: SERVICE and EVENT records of a binary export only extend the chain in the hot loop;
their field and sequence checks, and the signatures of plain checkpoints, wait. A good
signature on a later checkpoint proves every earlier byte, so on success most of that work is
never needed; when anything fails, the waiting checks run in file order first, so the report
names the same first bad record as ``eager=True`` (every check at once; the tests compare the two).
"""

from __future__ import annotations

import hashlib
import hmac
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from operator import itemgetter
from typing import BinaryIO, Final, NoReturn

from module.wire.audit.chain import CHAIN_TAG, genesis, module_tag
from module.wire.audit.checkpoint import LinkKind
from module.wire.audit.common import AuditFormatError, TruncatedError, UnknownVersionError
from module.wire.audit.export import Anchor, ExportEnd, ExportHeader, ExportItem, RecordBatch, RecordItem, iter_export
from module.wire.audit.record import AuditRecord, LossReason, RecordKind, scan_record
from module.wire.audit.signature import SigAlg, verify_checkpoint

__all__ = ["Reason", "VerifyResult", "ExportVerifier", "verify_export", "PENDING_LIMIT", "GAP_LIMIT"]

PENDING_LIMIT: Final = 16384  # records hashed but not yet checked field by field, at most
GAP_LIMIT: Final = 4096  # sequence gaps waiting for a LOSS record to name them, at most
_FAST_KIND_MAX: Final = int(RecordKind.EVENT)  # kinds up to this one take the hot loop


class Reason(Enum):
    HASH_MISMATCH = "HASH_MISMATCH"  # the records do not hash to what was signed or claimed
    SEQUENCE_GAP = "SEQUENCE_GAP"  # records missing (deleted, reordered), no LOSS record covers them
    BAD_SIGNATURE = "BAD_SIGNATURE"  # a checkpoint's signature fails, or its key is not the module's
    NO_CHECKPOINT = "NO_CHECKPOINT"  # nothing in the export is signed
    TRUNCATED = "TRUNCATED"  # the file was cut, or records follow the last checkpoint
    FORK = "FORK"  # two different records (or chain values) for one sequence number
    DUPLICATE = "DUPLICATE"  # the same record twice
    FOREIGN_MODULE = "FOREIGN_MODULE"  # a record or checkpoint of another module
    STALE_CHECKPOINT = "STALE_CHECKPOINT"  # an old checkpoint replayed, or none with the host's nonce
    UNKNOWN_VERSION = "UNKNOWN_VERSION"  # a format version this verifier does not know (downgrade)
    LAB_MODE = "LAB_MODE"  # a lab-mode module's trail (fault injection enabled), not allowed
    MALFORMED = "MALFORMED"  # bytes that are not a valid record or export


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    reason: Reason | None
    first_bad_seq: int | None  # the first record found bad (None when no single record is to blame)
    message: str
    serial: str | None
    records: int  # records read
    first_seq: int | None
    last_seq: int | None
    checkpoints: int  # signed checkpoints whose head matched the chain
    verified_through: int | None  # seq of the last good signed checkpoint
    verified_head: bytes | None  # chain hash at verified_through: what the host may acknowledge
    unverified_tail: int  # records after the last good checkpoint
    suspect_from: int | None  # for HASH_MISMATCH found at a checkpoint: first seq that may be altered
    keys: tuple[bytes, ...]  # audit public keys that signed, in order of first use
    records_lost_named: int  # records LOSS records declare lost
    lab: bool  # a checkpoint states lab mode (allowed: allow_lab=True)
    unsigned_checkpoints: int  # chained but unsigned (no key yet, or made in an error state): prove nothing
    fresh: bool  # a checkpoint carries expected_nonce: the export reaches the device's head and starts
    #              no later than that checkpoint's signed oldest_retained. False: ok proves only that
    #              what is there was signed; a cut tail (or, without ``start``, a cut head) is not excluded.

    def __bool__(self) -> bool:
        return self.ok


class _Failure(Exception):
    def __init__(self, reason: Reason, seq: int | None, message: str, suspect_from: int | None = None) -> None:
        super().__init__(message)
        self.reason, self.seq, self.message, self.suspect_from = reason, seq, message, suspect_from


class _Run:
    """Consecutive records hashed by the hot loop, not yet checked: a slice of their batch."""

    __slots__ = ("records", "begin", "end", "expected", "prev")

    def __init__(self, records: list[bytes], begin: int, end: int, expected: int, prev: bytes) -> None:
        self.records, self.begin, self.end, self.expected, self.prev = records, begin, end, expected, prev


class _Deferred:
    """A checkpoint whose head matched; its signature is checked when needed."""

    __slots__ = ("seq", "statement", "signature", "signer", "head")

    def __init__(self, seq: int, statement: bytes, signature: bytes, signer: bytes, head: bytes) -> None:
        self.seq, self.statement, self.signature, self.signer, self.head = seq, statement, signature, signer, head


class ExportVerifier:
    """Incremental verifier: :meth:`consume` items from :func:`iter_export`, then :meth:`finish`.

    ``start=(seq, head)`` continues from a point the caller verified before (an archive's last
    checkpoint): the export must chain to it, or a LOSS record must name the gap.
    ``acknowledged`` is the highest seq the caller acknowledged on the device: an honest device
    never again names a range from at or before it as lost, so a LOSS record that does, and reaches
    past it, comes from a device that forgot the acknowledgement (state restored from a backup)
    and whose records past it are a second history: FORK.
    """

    def __init__(
        self,
        public_key: bytes,
        *,
        expected_serial: str | None = None,
        expected_nonce: bytes | None = None,
        start: tuple[int, bytes] | None = None,
        acknowledged: int | None = None,
        allow_lab: bool = False,
        require_final_checkpoint: bool = True,
        eager: bool = False,
    ) -> None:
        self._acknowledged = acknowledged
        self._allow_lab = allow_lab
        self._lab = False
        self._expected_serial = expected_serial
        self._expected_nonce = expected_nonce
        self._require_final = require_final_checkpoint
        self._eager = eager
        self._serial: str | None = None
        self._tag = b""
        self._next: int | None = None  # seq the next record must have
        self._h = b""  # h_{next-1}
        self._last_data = b""  # the previous record, to tell a duplicate from a fork
        if start is not None:
            self._next, self._h = start[0] + 1, bytes(start[1])
        self._count = 0
        self._first_seq: int | None = None
        self._checkpoints = 0
        self._verified_through: int | None = None
        self._verified_head: bytes | None = None
        self._tail = 0
        self._pending: list[_Run | _Deferred] = []  # waiting checks, in file order
        self._pending_records = 0
        self._gaps: list[tuple[int, int, int]] = []  # (first missing, last missing, seq after)
        self._trusted: set[bytes] = {bytes(public_key)}
        self._untrusted: dict[bytes, int] = {}  # signer -> first seq it signed
        self._links: dict[bytes, list[bytes]] = {}  # signer -> keys it linked to in verified handovers
        self._keys: dict[bytes, None] = {}  # signers in order of first use (a dict: O(1) membership)
        self._nonce_seen = False
        self._unsigned = 0
        self._last_unsigned: int | None = None  # seq of the newest unsigned checkpoint
        self._fresh_oldest: int | None = None  # oldest_retained signed by the checkpoint with the nonce
        self._origin: int | None = None if start is None else start[0] + 1  # where the export claims to begin
        self._continues = start is not None
        self._losses: list[tuple[int, int, int]] = []  # LOSS ranges no checkpoint has signed over yet
        self._lost_named = 0
        self._end_seen = False
        self._failure: _Failure | None = None

    # ----------------------------------------------------------------- feeding
    def run(self, items: Iterable[ExportItem]) -> VerifyResult:
        """Consume every item and return the result."""
        self.consume(items)
        return self.finish()

    def consume(self, items: Iterable[ExportItem]) -> None:
        """Check items as they come; stops at the first failure."""
        if self._failure is not None:
            return
        try:
            for item in items:
                if isinstance(item, RecordBatch):
                    self._batch(item.records)
                elif isinstance(item, RecordItem):
                    self._record(item.data, item.claimed_hash)
                elif isinstance(item, Anchor):
                    self._anchor(item)
                elif isinstance(item, ExportHeader):
                    self._header(item)
                elif isinstance(item, ExportEnd):
                    self._end(item)
                else:
                    self._fail(Reason.MALFORMED, self._next, f"unexpected item {type(item).__name__}")
        except _Failure as failure:
            self._failure = failure
        except TruncatedError as exc:
            self._failure = self._earliest(_Failure(Reason.TRUNCATED, self._next, f"export cut: {exc}"))
        except UnknownVersionError as exc:
            self._failure = self._earliest(_Failure(Reason.UNKNOWN_VERSION, self._next, str(exc)))
        except AuditFormatError as exc:
            self._failure = self._earliest(_Failure(Reason.MALFORMED, self._next, str(exc)))

    def _batch(self, records: list[bytes]) -> None:
        """The hot loop: SERVICE and EVENT records only extend the chain; the rest go to _record."""
        expected = self._next
        if self._eager or expected is None or self._serial is None:
            for data in records:
                self._record(data, None)
            return
        if self._first_seq is None:
            self._first_seq = expected
        h = self._h
        begin, prev = 0, self._last_data  # the current run of hot-loop records
        sha256 = hashlib.sha256
        tag = CHAIN_TAG
        fast_max = _FAST_KIND_MAX
        for data in records:
            try:
                if data[1] <= fast_max:
                    h = sha256(tag + h + data).digest()
                    continue
            except IndexError:
                pass
            # Rare path: find the record's index. Every record since ``begin`` is a distinct object
            # (slices of two bytes or more are never shared), so identity finds this one.
            i = begin
            while records[i] is not data:
                i += 1
            self._hold(records, begin, i, expected, prev)
            self._next, self._h = expected + i - begin, h
            self._last_data = records[i - 1] if i > begin else prev
            self._record(data, None)
            expected, h = self._next, self._h
            begin, prev = i + 1, data
        end = len(records)
        self._hold(records, begin, end, expected, prev)
        self._next, self._h = expected + end - begin, h
        if records:
            self._last_data = records[-1]
        if self._pending_records > PENDING_LIMIT:
            self._settle()
            if self._pending_records > PENDING_LIMIT:
                self._rescan()

    def _hold(self, records: list[bytes], begin: int, end: int, expected: int, prev: bytes) -> None:
        if end > begin:
            self._pending.append(_Run(records, begin, end, expected, prev))
            self._pending_records += end - begin
            self._count += end - begin
            self._tail += end - begin

    def _record(self, data: bytes, claimed: bytes | None) -> None:
        """One record with every check in order (checkpoints, loss records, JSON Lines, anything odd)."""
        try:
            kind, seq, _boot, tag = scan_record(data)
        except UnknownVersionError as exc:
            self._fail(Reason.UNKNOWN_VERSION, self._next, str(exc))
        except AuditFormatError as exc:
            self._fail(Reason.MALFORMED, self._next, f"record after seq {self._last()}: {exc}")
        if tag != self._tag:
            self._require_header()
            self._fail(Reason.FOREIGN_MODULE, seq, f"record {seq} belongs to another module")
        if self._next is None:
            if seq != 0 or self._serial is None:
                self._fail(Reason.MALFORMED, seq, "a record before any anchor")
            self._next, self._h = 0, genesis(self._serial)  # no anchor: a chain from genesis
            self._origin = 0
        if seq != self._next:
            self._fail(*_sequence_failure(kind, seq, self._next, data, self._last_data))
        deferred: _Deferred | None = None
        verified = False
        if kind == RecordKind.CHECKPOINT:
            deferred, verified = self._checkpoint(data, seq)
            if deferred is not None:
                self._pending.append(deferred)  # waits in file order, before anything that may fail next
        elif kind == RecordKind.LOSS:
            self._loss(data)
        h = hashlib.sha256(CHAIN_TAG + self._h + data).digest()
        if claimed is not None and not hmac.compare_digest(h, claimed):
            self._fail(Reason.HASH_MISMATCH, seq, f"record {seq} does not hash to the hash beside it")
        self._h, self._last_data = h, data
        self._next = seq + 1
        if self._first_seq is None:
            self._first_seq = seq
        self._count += 1
        if deferred is not None or verified:
            if self._losses:
                self._close_gaps()  # LOSS records before this checkpoint are signed over now
            self._tail = 0
            self._verified_through, self._verified_head = seq, h
            if deferred is not None:
                deferred.head = h
            else:  # a good signature here proves everything before it
                self._pending.clear()
                self._pending_records = 0
        else:
            self._tail += 1
        if len(self._pending) > PENDING_LIMIT:  # checkpoints with few records between them: bounded too
            self._settle()
            if len(self._pending) > PENDING_LIMIT:
                self._rescan()

    def _checkpoint(self, data: bytes, seq: int) -> tuple[_Deferred | None, bool]:
        """Check one checkpoint record: (deferred signature check, or verified now)."""
        body = AuditRecord.parse(data).checkpoint
        assert body is not None  # a CHECKPOINT record always parses with its body
        st = body.statement
        if st.serial != self._serial:
            self._fail(Reason.FOREIGN_MODULE, seq, f"checkpoint {seq} names module {st.serial!r}")
        if st.lab and body.sig_alg is not SigAlg.NONE:  # an unsigned flag proves nothing either way
            if not self._allow_lab:
                if not verify_checkpoint(st.encode(), body.signature, st.signer):  # a flipped flag is a forgery
                    self._fail(Reason.BAD_SIGNATURE, seq, f"checkpoint {seq}: signature does not verify")
                self._fail(Reason.LAB_MODE, seq, f"checkpoint {seq} states lab mode: fault injection was enabled "
                           "(a record may have been dropped on purpose); verify with allow_lab to read it anyway")
            self._lab = True
        if body.sig_alg is SigAlg.NONE:
            # Made before the module had an audit key, or in an error state (no cryptography
            # there): chained, not an anchor; only a later signed checkpoint proves it.
            self._unsigned += 1
            self._last_unsigned = seq
            return None, False
        statement = st.encode()
        # A handover is trusted only from a verified signature: never deferred.
        now = self._eager or st.link_kind is not LinkKind.NONE
        if now and not verify_checkpoint(statement, body.signature, st.signer):
            self._fail(Reason.BAD_SIGNATURE, seq, f"checkpoint {seq}: signature does not verify")
        if not hmac.compare_digest(st.head, self._h):
            if not now and not verify_checkpoint(statement, body.signature, st.signer):
                self._fail(Reason.BAD_SIGNATURE, seq, f"checkpoint {seq}: signature does not verify")
            suspect = self._verified_through + 1 if self._verified_through is not None else self._first_seq
            self._fail(Reason.HASH_MISMATCH, seq, f"checkpoint {seq} signed a chain head the records before it "
                       "do not produce", suspect if suspect is not None else seq)
        self._keys.setdefault(st.signer)
        if st.signer not in self._trusted:
            self._untrusted.setdefault(st.signer, seq)
        if st.link_kind is not LinkKind.NONE:
            self._links.setdefault(st.signer, []).append(st.link_key)
            if st.signer in self._trusted:
                self._trust(st.link_key)
        if self._expected_nonce is not None and hmac.compare_digest(st.nonce, self._expected_nonce):
            self._nonce_seen = True
            self._fresh_oldest = st.oldest_retained
        self._checkpoints += 1
        if now:
            return None, True
        return _Deferred(seq, statement, body.signature, st.signer, b""), False

    def _trust(self, key: bytes) -> None:
        """A trusted key vouches for the key it hands over to, and for the one it took over from;
        trust spreads along the verified links from ``key`` (each key once: linear, not quadratic)."""
        todo = [key]
        while todo:
            key = todo.pop()
            if key in self._trusted:
                continue
            self._trusted.add(key)
            self._untrusted.pop(key, None)
            todo.extend(self._links.get(key, ()))

    def _loss(self, data: bytes) -> None:
        record = AuditRecord.parse(data)
        loss = record.loss
        assert loss is not None
        if record.code != LossReason.OVERWRITTEN:
            return
        acked = self._acknowledged
        if acked is not None and loss.first_seq <= acked < loss.last_seq:
            self._fail(Reason.FORK, record.seq, f"LOSS record {record.seq} names records {loss.first_seq}.."
                       f"{loss.last_seq} lost, from at or before the acknowledged head {acked}: the device "
                       "forgot an acknowledgement (restored from a backup?) and this is a second history")
        # Unsigned until a later checkpoint signs over it: a LOSS record in the unsigned tail (or a
        # forged one) must not excuse a gap. The device writes a checkpoint before every drop, so
        # an honest export never holds more than a few LOSS records between two checkpoints.
        gaps = self._gaps
        i = bisect_left(gaps, loss.first_seq, key=itemgetter(1))  # the first gap ending at or after it
        if i == len(gaps) or gaps[i][0] > loss.last_seq:
            self._lost_named += loss.count  # names no open gap: nothing to wait for
            return
        if len(self._losses) >= GAP_LIMIT:
            self._fail(Reason.MALFORMED, record.seq, f"{GAP_LIMIT} LOSS records without a checkpoint between them")
        self._losses.append((loss.first_seq, loss.last_seq, loss.count))

    def _close_gaps(self) -> None:
        """Apply the LOSS records a checkpoint just signed over to the open gaps."""
        gaps = self._gaps
        for first, last, count in self._losses:
            self._lost_named += count
            # The gaps are disjoint and in order (anchors only move forward), so the ones this loss
            # touches are one slice, found by bisection: a LOSS record costs no walk over every gap.
            i = bisect_left(gaps, first, key=itemgetter(1))  # the first gap ending at or after it
            j = bisect_right(gaps, last, key=itemgetter(0))  # the first gap starting after it
            remaining: list[tuple[int, int, int]] = []
            for lo, hi, at in gaps[i:j]:
                if lo < first:
                    remaining.append((lo, first - 1, at))
                if hi > last:
                    remaining.append((last + 1, hi, at))
            gaps[i:j] = remaining
        self._losses.clear()

    # ------------------------------------------------------- waiting checks
    def _settle(self) -> None:
        """Verify the newest waiting signature by a trusted key: if good, it proves everything
        before it, so the checks waiting there are not needed."""
        for index in range(len(self._pending) - 1, -1, -1):
            item = self._pending[index]
            if isinstance(item, _Deferred) and item.signer in self._trusted:
                if not verify_checkpoint(item.statement, item.signature, item.signer):
                    self._rescan()  # raises at the first failure, at the latest at this checkpoint
                    raise _Failure(Reason.BAD_SIGNATURE, item.seq, f"checkpoint {item.seq}: signature does not verify")
                del self._pending[: index + 1]
                self._pending_records = sum(r.end - r.begin for r in self._pending if isinstance(r, _Run))
                return

    def _rescan(self) -> None:
        """Run every waiting check in file order; raise the first failure, else forget them."""
        for item in self._pending:
            if isinstance(item, _Deferred):
                if not verify_checkpoint(item.statement, item.signature, item.signer):
                    raise _Failure(Reason.BAD_SIGNATURE, item.seq, f"checkpoint {item.seq}: signature does not verify")
                continue
            expected, prev = item.expected, item.prev
            for data in item.records[item.begin : item.end]:
                try:
                    kind, seq, _, tag = scan_record(data)
                except UnknownVersionError as exc:
                    raise _Failure(Reason.UNKNOWN_VERSION, expected, str(exc)) from None
                except AuditFormatError as exc:
                    raise _Failure(Reason.MALFORMED, expected, f"record after seq {expected - 1}: {exc}") from None
                if tag != self._tag:
                    raise _Failure(Reason.FOREIGN_MODULE, seq, f"record {seq} belongs to another module")
                if seq != expected:
                    raise _Failure(*_sequence_failure(kind, seq, expected, data, prev))
                expected, prev = expected + 1, data
        self._pending.clear()
        self._pending_records = 0

    def _earliest(self, failure: _Failure) -> _Failure:
        try:
            self._rescan()
        except _Failure as earlier:
            return earlier
        return failure

    def _fail(self, reason: Reason, seq: int | None, message: str, suspect_from: int | None = None) -> NoReturn:
        """Report a failure, unless a waiting check before it fails: that one comes first."""
        self._rescan()
        raise _Failure(reason, seq, message, suspect_from)

    # --------------------------------------------------------- other items
    def _last(self) -> int | None:
        return None if self._next is None else self._next - 1

    def _header(self, header: ExportHeader) -> None:
        if self._serial is not None:
            self._fail(Reason.MALFORMED, self._next, "a second export header")
        if self._expected_serial is not None and header.serial != self._expected_serial:
            self._fail(Reason.FOREIGN_MODULE, None, f"export of module {header.serial!r}, "
                       f"expected {self._expected_serial!r}")
        self._serial = header.serial
        self._tag = module_tag(header.serial)

    def _require_header(self) -> str:
        if self._serial is None:
            self._fail(Reason.MALFORMED, None, "no export header")
        return self._serial

    def _anchor(self, anchor: Anchor) -> None:
        serial = self._require_header()
        if self._end_seen:
            self._fail(Reason.MALFORMED, self._next, "anchor after the end marker")
        if anchor.next_seq == 0 and not hmac.compare_digest(anchor.head, genesis(serial)):
            self._fail(Reason.HASH_MISMATCH, 0, "the export does not start at this module's genesis")
        if self._next is None:
            self._next, self._h, self._last_data = anchor.next_seq, anchor.head, b""
            self._origin = anchor.next_seq
            return
        if anchor.next_seq < self._next:
            self._fail(Reason.MALFORMED, anchor.next_seq, "an anchor goes back before records already read")
        if anchor.next_seq == self._next:
            if not hmac.compare_digest(anchor.head, self._h):
                self._fail(Reason.FORK, anchor.next_seq - 1, f"two chain values for seq {anchor.next_seq - 1}")
            return
        if len(self._gaps) >= GAP_LIMIT:  # memory stays bounded: this many unnamed gaps is no honest export
            lo, hi, at = self._gaps[0]
            self._fail(Reason.SEQUENCE_GAP, at, f"records {lo}..{hi} are missing and no LOSS record names them "
                       f"({GAP_LIMIT} gaps wait for one)")
        self._gaps.append((self._next, anchor.next_seq - 1, anchor.next_seq))
        self._next, self._h, self._last_data = anchor.next_seq, anchor.head, b""

    def _end(self, end: ExportEnd) -> None:
        self._require_header()
        expected = self._next if self._next is not None else 0
        if end.records > self._count or end.next_seq > expected:
            self._fail(Reason.TRUNCATED, expected, f"the end marker claims {end.records} records up to seq "
                       f"{end.next_seq - 1}; the file holds {self._count} up to {expected - 1}")
        if end.records < self._count or end.next_seq < expected:
            self._fail(Reason.MALFORMED, None, "the end marker claims fewer records than the file holds")
        if self._next is not None and not hmac.compare_digest(end.head, self._h):
            self._fail(Reason.HASH_MISMATCH, None, "the end marker's head differs from the records' chain")
        self._end_seen = True

    # ------------------------------------------------------------------ result
    def finish(self) -> VerifyResult:
        failure = self._failure
        if failure is None:
            try:
                self._final_checks()
            except _Failure as exc:
                failure = exc
            self._failure = failure
        last = None if self._count == 0 or self._next is None else self._next - 1
        return VerifyResult(
            ok=failure is None,
            reason=failure.reason if failure else None,
            first_bad_seq=failure.seq if failure else None,
            message=failure.message if failure else self._summary(),
            serial=self._serial,
            records=self._count,
            first_seq=self._first_seq,
            last_seq=last,
            checkpoints=self._checkpoints,
            verified_through=self._verified_through,
            verified_head=self._verified_head,
            unverified_tail=self._tail,
            suspect_from=failure.suspect_from if failure else None,
            keys=tuple(self._keys),
            records_lost_named=self._lost_named,
            lab=self._lab,
            unsigned_checkpoints=self._unsigned,
            fresh=failure is None and self._nonce_seen,
        )

    def _final_checks(self) -> None:
        self._settle()
        self._rescan()  # the unverified tail is checked field by field
        if not self._end_seen:
            self._fail(Reason.TRUNCATED, self._next, "the export ends without its end marker")
        if self._gaps:
            lo, hi, at = self._gaps[0]
            self._fail(Reason.SEQUENCE_GAP, at, f"records {lo}..{hi} are missing and no LOSS record names them")
        if self._untrusted:
            key, seq = min(self._untrusted.items(), key=lambda kv: kv[1])
            self._fail(Reason.BAD_SIGNATURE, seq, f"checkpoint {seq} is signed by key {key.hex()[:16]}..., "
                       "which no handover links to the trusted key")
        if self._count and self._verified_through is None:
            self._fail(Reason.NO_CHECKPOINT, self._first_seq, "no signed checkpoint covers the records")
        if self._tail and self._require_final:
            first = self._next - self._tail if self._next is not None else None
            why = ""
            if self._last_unsigned is not None and first is not None and self._last_unsigned >= first:
                why = (f" (checkpoint {self._last_unsigned} is unsigned: made in an error state, or before the "
                       "module had a key; a later signed checkpoint would cover it)")
            self._fail(Reason.TRUNCATED, first, f"{self._tail} record(s) after the last checkpoint are not covered "
                       "by any signature" + why)
        if self._expected_nonce is not None and not self._nonce_seen:
            self._fail(Reason.STALE_CHECKPOINT, self._verified_through, "no checkpoint carries the expected nonce")
        oldest, origin = self._fresh_oldest, self._origin
        if oldest is not None and origin is not None and origin > oldest and not self._continues:
            self._fail(Reason.TRUNCATED, oldest, f"the export starts at seq {origin}, but the fresh checkpoint "
                       f"signed that the device retained records from seq {oldest}: its head was cut")

    def _summary(self) -> str:
        unproven = "" if self._nonce_seen else "; freshness and completeness at the tail unproven (no nonce)"
        if self._lab:
            unproven += "; a LAB-MODE trail (fault injection enabled): not evidence of normal operation"
        if self._count == 0:
            return "no records" + unproven
        unsigned = (f", {self._unsigned} unsigned (error state or no key yet), proven only by a later signature"
                    if self._unsigned else "")
        return (f"{self._count} records {self._first_seq}..{self._last()} verified through "
                f"{self._verified_through} ({self._checkpoints} signed checkpoints{unsigned}, {self._tail} unverified)"
                + unproven)


def _sequence_failure(kind: int, seq: int, expected: int, data: bytes, prev: bytes) -> tuple[Reason, int, str]:
    """Name what a record with the wrong sequence number means."""
    if seq > expected:
        return Reason.SEQUENCE_GAP, seq, f"expected seq {expected}, found {seq}: {seq - expected} record(s) missing"
    if seq == expected - 1 and data == prev:
        return Reason.DUPLICATE, seq, f"record {seq} appears twice"
    if seq < expected - 1 and kind == RecordKind.CHECKPOINT:
        return Reason.STALE_CHECKPOINT, seq, f"checkpoint {seq} replayed where seq {expected} belongs"
    return Reason.FORK, seq, f"a second, different record for seq {seq}"


def verify_export(
    fileobj: BinaryIO,
    public_key: bytes,
    *,
    expected_serial: str | None = None,
    expected_nonce: bytes | None = None,
    start: tuple[int, bytes] | None = None,
    acknowledged: int | None = None,
    allow_lab: bool = False,
    require_final_checkpoint: bool = True,
    eager: bool = False,
) -> VerifyResult:
    """Verify an export (binary or JSON Lines) read from ``fileobj``; never raises for bad data."""
    verifier = ExportVerifier(
        public_key, expected_serial=expected_serial, expected_nonce=expected_nonce, start=start,
        acknowledged=acknowledged, allow_lab=allow_lab, require_final_checkpoint=require_final_checkpoint,
        eager=eager,
    )
    return verifier.run(iter_export(fileobj, batch=True))
