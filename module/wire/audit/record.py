"""The record codec: one strict decoder, a fast validating scan for verifiers, and the encoder.

A record never holds a secret (digests of request and response only). Module-made records
(CHECKPOINT, LOSS) carry a body and leave every caller field zero.
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum, unique
from typing import ClassVar, Final, NamedTuple

from module.wire.audit.chain import module_tag
from module.wire.audit.checkpoint import CheckpointBody
from module.wire.audit.common import (
    FORMAT_VERSION,
    HASH_SIZE,
    ZERO_DIGEST,
    AuditFormatError,
    UnknownVersionError,
    decode_utf8,
)

__all__ = [
    "HEADER_SIZE",
    "MAX_RECORD_SIZE",
    "MAX_OPERATOR_BYTES",
    "MAX_KEY_IDS",
    "MAX_DETAIL_BYTES",
    "RecordKind",
    "LossReason",
    "LossBody",
    "AuditRecord",
    "RecordScan",
    "encode_record",
    "decode_record",
    "scan_record",
    "pack_record",
    "checkpoint_record",
    "loss_record",
]

# Limits chosen so the largest record fits one 512-byte flash slot with its 66-byte slot header.
MAX_RECORD_SIZE: Final = 446
MAX_OPERATOR_BYTES: Final = 64
MAX_KEY_IDS: Final = 8
MAX_DETAIL_BYTES: Final = 192


@unique
class RecordKind(IntEnum):
    """Record kinds: the one definition, used by the core's sink port as well as by hosts."""

    SERVICE = 1  # one service call (refused and failed calls included); code is a Command
    EVENT = 2  # an event; code is an AuditEvent
    CHECKPOINT = 3  # a signed statement of the chain head; code is a CheckpointReason
    LOSS = 4  # records lost or refused; code is a LossReason


@unique
class LossReason(IntEnum):
    OVERWRITTEN = 1  # unacknowledged records overwritten under wrap: body names the seq range
    REFUSED = 2  # appends refused while the ring was exhausted under block: body counts them


@dataclass(frozen=True, slots=True)
class LossBody:
    """A LOSS record's body.

    OVERWRITTEN: every record from ``first_seq`` (the oldest never acknowledged) to ``last_seq``
    is gone from the device; this drop overwrote the newest ``count`` of them. Naming the whole
    unacknowledged gap, not just this drop, means the newest LOSS record explains the gap on its
    own even after older LOSS records were overwritten in turn.
    REFUSED: ``count`` appends were refused (no sequence numbers; first = last = 0)."""

    FORMAT: ClassVar[str] = ">QQQQ"

    first_seq: int
    last_seq: int
    count: int
    total: int  # running total for this reason (lost, or refused)

    def encode(self) -> bytes:
        try:
            return _LOSS.pack(self.first_seq, self.last_seq, self.count, self.total)
        except struct.error as exc:
            raise AuditFormatError(f"loss field out of range: {exc}") from exc

    @classmethod
    def parse(cls, data: bytes) -> LossBody:
        if len(data) != _LOSS.size:
            raise AuditFormatError("loss body must be 32 bytes")
        return cls(*_LOSS.unpack(data))


_LOSS = struct.Struct(LossBody.FORMAT)


class RecordScan(NamedTuple):
    """What the verifier's hot loop needs from a fully validated record (no object per field)."""

    kind: int
    seq: int
    boot: int
    module_tag: bytes


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit record. Never holds a secret: digests of request and response only."""

    FORMAT: ClassVar[str] = ">BBHQIQq8sHHBBI32s32sBBHH"  # then operator, key ids (u64 each), detail, body

    kind: RecordKind
    seq: int
    boot: int
    tick_ns: int
    utc_ns: int
    module_tag: bytes
    code: int  # Command, AuditEvent, CheckpointReason or LossReason, by kind
    status: int = 0
    approved: bool = False
    role: int = 0
    session_id: int = 0
    request_digest: bytes = ZERO_DIGEST
    response_digest: bytes = ZERO_DIGEST
    operator: str = ""
    key_ids: tuple[int, ...] = ()
    detail: str = ""
    checkpoint: CheckpointBody | None = None
    loss: LossBody | None = None
    version: int = FORMAT_VERSION

    def encode(self) -> bytes:
        if self.kind is RecordKind.CHECKPOINT:
            if self.checkpoint is None:
                raise AuditFormatError("CHECKPOINT record without checkpoint body")
            body = self.checkpoint.encode()
        elif self.kind is RecordKind.LOSS:
            if self.loss is None:
                raise AuditFormatError("LOSS record without loss body")
            body = self.loss.encode()
        else:
            body = b""
        data = pack_record(
            self.kind, self.seq, self.boot, self.tick_ns, self.utc_ns, self.module_tag, self.code, self.status,
            self.approved, self.role, self.session_id, self.request_digest, self.response_digest,
            self.operator, self.key_ids, self.detail, body, version=self.version,
        )
        if body:
            _validate(data)  # CHECKPOINT/LOSS headers have fixed fields: refuse to emit what cannot decode
        return data

    @classmethod
    def parse(cls, data: bytes) -> AuditRecord:
        return _validate(data)


_HEADER = struct.Struct(AuditRecord.FORMAT)
HEADER_SIZE: Final = _HEADER.size  # 120
# The same header with the fields that SERVICE/EVENT records leave unconstrained skipped.
_SCAN = struct.Struct(">xBHQI16x8s4xB5x64xBBHH")
_KINDS: Final = frozenset(int(k) for k in RecordKind)
_KEY_IDS: Final = [struct.Struct(f">{n}Q") for n in range(MAX_KEY_IDS + 1)]


def pack_record(
    kind: int,
    seq: int,
    boot: int,
    tick_ns: int,
    utc_ns: int,
    tag: bytes,
    code: int,
    status: int,
    approved: bool,
    role: int,
    session_id: int,
    request_digest: bytes,
    response_digest: bytes,
    operator: str,
    key_ids: Iterable[int],
    detail: str,
    body: bytes = b"",
    *,
    version: int = FORMAT_VERSION,
) -> bytes:
    """Encode one record from its fields (the trail's append path: no object in between)."""
    try:
        op = operator.encode("utf-8")
        det = detail.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise AuditFormatError("operator or detail cannot be encoded as UTF-8") from exc
    keys = key_ids if isinstance(key_ids, tuple) else tuple(key_ids)
    n_op, n_keys, n_det = len(op), len(keys), len(det)
    if n_op > MAX_OPERATOR_BYTES or n_keys > MAX_KEY_IDS or n_det > MAX_DETAIL_BYTES:
        raise AuditFormatError("operator, key ids or detail over the limit")
    if len(tag) != 8 or len(request_digest) != HASH_SIZE or len(response_digest) != HASH_SIZE:
        raise AuditFormatError("module tag must be 8 bytes and digests 32 bytes")
    length = HEADER_SIZE + n_op + 8 * n_keys + n_det + len(body)
    if length > MAX_RECORD_SIZE:
        raise AuditFormatError(f"record of {length} bytes is over {MAX_RECORD_SIZE}")
    try:
        head = _HEADER.pack(
            version, kind, length, seq, boot, tick_ns, utc_ns, tag, code, status, 1 if approved else 0, role,
            session_id, request_digest, response_digest, n_op, n_keys, n_det, len(body),
        )
        ids = _KEY_IDS[n_keys].pack(*keys) if n_keys else b""
    except struct.error as exc:
        raise AuditFormatError(f"record field out of range: {exc}") from exc
    return head + op + ids + det + body


def scan_record(data: bytes) -> RecordScan:
    """Validate a record exactly as :func:`decode_record` does; return only what a verifier needs."""
    n = len(data)
    if n < HEADER_SIZE or data[0] != FORMAT_VERSION:
        _validate(data)  # raises with the precise reason
    kind, length, seq, boot, tag, approved, op_len, nkeys, detail_len, body_len = _SCAN.unpack_from(data)
    if kind > 2 or kind == 0:  # CHECKPOINT, LOSS and unknown kinds take the full path
        rec = _validate(data)
        return RecordScan(int(rec.kind), rec.seq, rec.boot, rec.module_tag)
    if (
        length != n
        or n > MAX_RECORD_SIZE
        or body_len
        or approved > 1
        or op_len > MAX_OPERATOR_BYTES
        or nkeys > MAX_KEY_IDS
        or detail_len > MAX_DETAIL_BYTES
        or n != HEADER_SIZE + op_len + 8 * nkeys + detail_len
    ):
        _validate(data)  # raises with the precise reason
    if op_len:
        decode_utf8(data[HEADER_SIZE : HEADER_SIZE + op_len], "operator")
    if detail_len:
        decode_utf8(data[n - detail_len :], "detail")
    return RecordScan(kind, seq, boot, tag)


def _check_start(data: bytes) -> None:
    """The checks before a header can be unpacked: not empty, a known version, long enough."""
    n = len(data)
    if n == 0:
        raise AuditFormatError("empty record")
    if data[0] != FORMAT_VERSION:
        raise UnknownVersionError("record", data[0])
    if n < HEADER_SIZE:
        raise AuditFormatError(f"record of {n} bytes is shorter than its {HEADER_SIZE}-byte header")


def _validate(data: bytes) -> AuditRecord:
    """The one strict decoder."""
    n = len(data)
    _check_start(data)
    (version, kind, length, seq, boot, tick, utc, tag, code, status, approved, role, session, req, resp,
     op_len, nkeys, detail_len, body_len) = _HEADER.unpack_from(data)
    if kind not in _KINDS:
        raise AuditFormatError(f"unknown record kind {kind}")
    if length != n:
        raise AuditFormatError(f"length field says {length} bytes, record has {n}")
    if n > MAX_RECORD_SIZE:
        raise AuditFormatError(f"record of {n} bytes is over {MAX_RECORD_SIZE}")
    if approved > 1:
        raise AuditFormatError(f"approved flag must be 0 or 1, not {approved}")
    if op_len > MAX_OPERATOR_BYTES or nkeys > MAX_KEY_IDS or detail_len > MAX_DETAIL_BYTES:
        raise AuditFormatError("operator, key ids or detail over the limit")
    if n != HEADER_SIZE + op_len + 8 * nkeys + detail_len + body_len:
        raise AuditFormatError("field lengths do not add up to the record length")
    pos = HEADER_SIZE
    operator = decode_utf8(data[pos : pos + op_len], "operator")
    pos += op_len
    key_ids = struct.unpack_from(f">{nkeys}Q", data, pos) if nkeys else ()
    pos += 8 * nkeys
    detail = decode_utf8(data[pos : pos + detail_len], "detail")
    body = data[pos + detail_len :]
    kind_e = RecordKind(kind)
    checkpoint: CheckpointBody | None = None
    loss: LossBody | None = None
    if kind_e in (RecordKind.SERVICE, RecordKind.EVENT):
        if body_len:
            raise AuditFormatError(f"{kind_e.name} record carries a body")
    else:
        # Module-made records: every header field is either bound by the body or fixed.
        if status or approved or role or session or op_len or nkeys or detail_len or req != ZERO_DIGEST or (
            resp != ZERO_DIGEST
        ):
            raise AuditFormatError(f"{kind_e.name} record has a non-zero caller field")
        if kind_e is RecordKind.CHECKPOINT:
            checkpoint = _checkpoint_body(body, code, (seq, boot, tick, utc), tag)
        else:
            loss = _loss_body(body, code, seq)
    return AuditRecord(
        kind_e, seq, boot, tick, utc, tag, code, status, approved == 1, role, session, req, resp, operator,
        tuple(key_ids), detail, checkpoint, loss, version,
    )


def _checkpoint_body(body: bytes, code: int, stamp: tuple[int, int, int, int], tag: bytes) -> CheckpointBody:
    """A CHECKPOINT body whose signed statement agrees with the record header around it."""
    checkpoint = CheckpointBody.parse(body)
    st = checkpoint.statement
    if int(st.reason) != code:
        raise AuditFormatError("checkpoint code differs from its statement's reason")
    if (st.seq, st.boot, st.tick_ns, st.utc_ns) != stamp:
        raise AuditFormatError("checkpoint header differs from its signed statement")
    if not hmac.compare_digest(module_tag(st.serial), tag):
        raise AuditFormatError("checkpoint module tag differs from its statement's serial")
    return checkpoint


def _loss_body(body: bytes, code: int, seq: int) -> LossBody:
    """A LOSS body consistent with its reason and with the record's own sequence number."""
    if code not in (LossReason.OVERWRITTEN, LossReason.REFUSED):
        raise AuditFormatError(f"unknown loss reason {code}")
    loss = LossBody.parse(body)
    if code == LossReason.OVERWRITTEN:
        if not (loss.first_seq <= loss.last_seq < seq and 1 <= loss.count <= loss.last_seq - loss.first_seq + 1):
            raise AuditFormatError("loss range inconsistent")
    elif loss.first_seq or loss.last_seq or loss.count == 0:
        raise AuditFormatError("refusal summary must have first = last = 0 and a count")
    if loss.total < loss.count:
        raise AuditFormatError("loss total below this loss's count")
    return loss


def encode_record(record: AuditRecord) -> bytes:
    return record.encode()


def decode_record(data: bytes) -> AuditRecord:
    """Strict: bad lengths, unknown version or kind, trailing bytes all raise."""
    return _validate(bytes(data))


def checkpoint_record(body: CheckpointBody) -> AuditRecord:
    """The chained record that carries a checkpoint (its header mirrors the signed statement)."""
    st = body.statement
    return AuditRecord(
        RecordKind.CHECKPOINT, st.seq, st.boot, st.tick_ns, st.utc_ns, module_tag(st.serial), int(st.reason),
        checkpoint=body,
    )


def loss_record(
    serial: str, seq: int, boot: int, tick_ns: int, utc_ns: int, reason: LossReason, body: LossBody
) -> AuditRecord:
    return AuditRecord(RecordKind.LOSS, seq, boot, tick_ns, utc_ns, module_tag(serial), int(reason), loss=body)
