"""The audit trail's published format: records, chain, checkpoints, key statement, export files.

This is the module's interface for audit data: the device encodes with it and a host verifies
with it, importing nothing else from the module. One parser serves both (and the tests), so
there is no second reading of the bytes that could disagree with the first.

Byte layouts are documented in ``docs/audit-format.md``; a test checks its worked example.
Everything is big-endian. Decoding is strict: an unknown version raises
:class:`UnknownVersionError`, every other defect (length, range, trailing bytes, a field that
must be zero) raises :class:`AuditFormatError`; both are ``ValueError`` subclasses.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum, IntEnum, unique
from typing import Any, BinaryIO, ClassVar, Final, NamedTuple, Union

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "FORMAT_VERSION",
    "EXPORT_VERSION",
    "CHAIN_TAG",
    "HASH_SIZE",
    "HEADER_SIZE",
    "MAX_RECORD_SIZE",
    "MAX_OPERATOR_BYTES",
    "MAX_KEY_IDS",
    "MAX_DETAIL_BYTES",
    "MAX_NONCE_BYTES",
    "MAX_SERIAL_BYTES",
    "ZERO_DIGEST",
    "AuditFormatError",
    "UnknownVersionError",
    "TruncatedError",
    "RecordKind",
    "CheckpointReason",
    "LossReason",
    "SigAlg",
    "LinkKind",
    "ExportFormat",
    "CheckpointStatement",
    "CheckpointBody",
    "LossBody",
    "AuditRecord",
    "RecordScan",
    "KeyStatement",
    "ExportHeader",
    "Anchor",
    "RecordItem",
    "RecordBatch",
    "ExportEnd",
    "ExportItem",
    "ExportWriter",
    "check_serial",
    "module_tag",
    "genesis",
    "chain_next",
    "encode_record",
    "decode_record",
    "scan_record",
    "pack_record",
    "checkpoint_record",
    "loss_record",
    "checkpoint_message",
    "sign_statement",
    "verify_checkpoint",
    "key_id",
    "policy_digest",
    "digests_equal",
    "iter_export",
    "write_export",
]

FORMAT_VERSION: Final = 1  # record and checkpoint-statement encoding
EXPORT_VERSION: Final = 1  # export file layout
HASH_SIZE: Final = 32

# Domain tags: every hash and signature says what it is, so no value can be replayed as another.
CHAIN_TAG: Final = b"cmsim/audit/chain/v1\x00"
GENESIS_TAG: Final = b"cmsim/audit/genesis\x00"
MODULE_TAG_TAG: Final = b"cmsim/audit/module\x00"
CHECKPOINT_SIG_TAG: Final = b"cmsim/audit/checkpoint/v1\x00"
KEY_STATEMENT_SIG_TAG: Final = b"cmsim/audit/key-statement/v1\x00"
KEY_ID_TAG: Final = b"cmsim/audit/key-id\x00"
POLICY_TAG: Final = b"cmsim/audit/policy/v1\x00"

# Limits chosen so the largest record fits one 512-byte flash slot with its 66-byte slot header.
MAX_RECORD_SIZE: Final = 446
MAX_OPERATOR_BYTES: Final = 64
MAX_KEY_IDS: Final = 8
MAX_DETAIL_BYTES: Final = 192
MAX_NONCE_BYTES: Final = 32
MAX_SERIAL_BYTES: Final = 32
ED25519_SIGNATURE_SIZE: Final = 64
ED25519_KEY_SIZE: Final = 32

ZERO_DIGEST: Final = bytes(HASH_SIZE)
U16_MAX: Final = 0xFFFF
U32_MAX: Final = 0xFFFF_FFFF
U64_MAX: Final = 0xFFFF_FFFF_FFFF_FFFF


class AuditFormatError(ValueError):
    """Bytes that are not a valid record, statement or export (or values that cannot be encoded)."""


class UnknownVersionError(AuditFormatError):
    """A version this code does not know: never guessed at, since a downgrade is an attack."""

    def __init__(self, what: str, version: int) -> None:
        super().__init__(f"unknown {what} version {version}")
        self.version = version


class TruncatedError(AuditFormatError):
    """The input ended inside an item (a cut file, not a malformed one)."""


@unique
class RecordKind(IntEnum):
    """Record kinds (same numbers as ``module.audit.sink.RecordKind``; a test keeps them equal)."""

    SERVICE = 1  # one service call (refused and failed calls included); code is a Command
    EVENT = 2  # an event; code is an AuditEvent
    CHECKPOINT = 3  # a signed statement of the chain head; code is a CheckpointReason
    LOSS = 4  # records lost or refused; code is a LossReason


@unique
class CheckpointReason(IntEnum):
    REQUEST = 1  # the host asked, usually with a nonce
    PERIODIC = 2  # every N records
    PRE_OVERWRITE = 3  # under the wrap policy, before the oldest records are overwritten
    ZEROISATION = 4  # the old key's last act: names the new key (link NEXT_KEY)
    KEY_START = 5  # the new key's first act: names the old key (link PREV_KEY)
    ERROR = 6  # the module entered an error state


@unique
class LossReason(IntEnum):
    OVERWRITTEN = 1  # unacknowledged records overwritten under wrap: body names the seq range
    REFUSED = 2  # appends refused while the ring was exhausted under block: body counts them


@unique
class SigAlg(IntEnum):
    NONE = 0  # unsigned (no audit key yet): chained, but not a trust anchor
    ED25519 = 1


@unique
class LinkKind(IntEnum):
    NONE = 0
    NEXT_KEY = 1  # zeroisation checkpoint: the key that signs from now on
    PREV_KEY = 2  # first checkpoint of a new key: the key it replaces


class ExportFormat(Enum):
    BINARY = "binary"
    JSONL = "jsonl"


# ----------------------------------------------------------------------------- small helpers
def check_serial(serial: str) -> bytes:
    """A module serial: 1..32 printable ASCII characters, no spaces (it is bound into every hash)."""
    raw = serial.encode("ascii") if serial.isascii() else b"\x80"
    if not 1 <= len(raw) <= MAX_SERIAL_BYTES or not all(0x21 <= b <= 0x7E for b in raw):
        raise AuditFormatError(f"serial must be 1..{MAX_SERIAL_BYTES} printable ASCII characters: {serial!r}")
    return raw


def module_tag(serial: str) -> bytes:
    """8 bytes in every record naming its module, so a spliced record is named foreign, not just bad."""
    raw = check_serial(serial)
    return hashlib.sha256(MODULE_TAG_TAG + bytes([len(raw)]) + raw).digest()[:8]


def genesis(serial: str) -> bytes:
    """h_{-1}: bound to the serial and the format version, so no other module's chain links in."""
    raw = check_serial(serial)
    return hashlib.sha256(GENESIS_TAG + bytes([FORMAT_VERSION, len(raw)]) + raw).digest()


def chain_next(prev: bytes, record: bytes) -> bytes:
    """h_i = SHA-256(CHAIN_TAG || h_{i-1} || record_i)."""
    return hashlib.sha256(CHAIN_TAG + prev + record).digest()


def digests_equal(a: bytes, b: bytes) -> bool:
    """Constant-time comparison for every digest check."""
    return hmac.compare_digest(a, b)


def key_id(public_key: bytes) -> bytes:
    """Short name of an audit public key, for people and logs (not used for trust)."""
    return hashlib.sha256(KEY_ID_TAG + public_key).digest()[:8]


_POLICY = struct.Struct(">BIIHIB")
LAB_MODE_MARK: Final = b"\x01"  # appended to the policy digest's input by a device in lab mode


def policy_digest(
    policy: str, capacity: int, checkpoint_every: int, high_water: float, reserve: int, fsync: str,
    lab_mode: bool = False,
) -> bytes:
    """Digest of the audit policy, signed in every checkpoint: a host can see the policy changed,
    and that the device ran in lab mode (fault injection enabled) when it signed."""
    codes = {"block": 1, "wrap": 2}
    syncs = {"always": 1, "os": 2}
    if policy not in codes or fsync not in syncs:
        raise AuditFormatError(f"unknown policy {policy!r} / fsync {fsync!r}")
    body = _POLICY.pack(codes[policy], capacity, checkpoint_every, round(high_water * 1000), reserve, syncs[fsync])
    return hashlib.sha256(POLICY_TAG + body + (LAB_MODE_MARK if lab_mode else b"")).digest()


def _utf8(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AuditFormatError(f"{what} is not UTF-8") from exc


# ----------------------------------------------------------------------------- checkpoint
@dataclass(frozen=True, slots=True)
class CheckpointStatement:
    """What a checkpoint signs: where the chain stood, for which module, under which key and policy."""

    FORMAT: ClassVar[str] = ">BBQIQq32sQQ32s32sBBB"  # then serial, nonce, link key (0 or 32 bytes)

    reason: CheckpointReason
    serial: str
    seq: int  # the checkpoint record's own sequence number
    boot: int
    tick_ns: int
    utc_ns: int
    head: bytes  # h_{seq-1}: the chain value this checkpoint record extends
    oldest_retained: int  # oldest sequence number still in the ring
    records_lost: int  # total records lost (overwritten unacknowledged) so far
    nonce: bytes  # the host's nonce (empty unless requested with one)
    policy_digest: bytes
    signer: bytes  # Ed25519 public key (32 zero bytes when unsigned)
    link_kind: LinkKind = LinkKind.NONE
    link_key: bytes = b""  # the next key (ZEROISATION) or the previous one (KEY_START)
    version: int = FORMAT_VERSION

    def encode(self) -> bytes:
        serial = check_serial(self.serial)
        if len(self.nonce) > MAX_NONCE_BYTES:
            raise AuditFormatError(f"nonce longer than {MAX_NONCE_BYTES} bytes")
        if (self.link_kind is LinkKind.NONE) != (len(self.link_key) == 0) or len(self.link_key) not in (0, 32):
            raise AuditFormatError("link key must be 32 bytes exactly when a link kind is set")
        for name in ("head", "policy_digest", "signer"):
            if len(getattr(self, name)) != HASH_SIZE:
                raise AuditFormatError(f"{name} must be 32 bytes")
        try:
            fixed = _STATEMENT.pack(
                self.version, self.reason, self.seq, self.boot, self.tick_ns, self.utc_ns, self.head,
                self.oldest_retained, self.records_lost, self.policy_digest, self.signer, self.link_kind,
                len(serial), len(self.nonce),
            )
        except struct.error as exc:
            raise AuditFormatError(f"checkpoint field out of range: {exc}") from exc
        return fixed + serial + self.nonce + self.link_key

    @classmethod
    def parse_prefix(cls, data: bytes, offset: int = 0) -> tuple[CheckpointStatement, int]:
        """Parse a statement at ``offset``; return it and the offset just past it."""
        if len(data) - offset < 1:
            raise AuditFormatError("checkpoint statement missing")
        if data[offset] != FORMAT_VERSION:
            raise UnknownVersionError("checkpoint statement", data[offset])
        if len(data) - offset < _STATEMENT.size:
            raise AuditFormatError("checkpoint statement too short")
        (version, reason, seq, boot, tick, utc, head, oldest, lost, policy, signer, link, serial_len, nonce_len) = (
            _STATEMENT.unpack_from(data, offset)
        )
        pos = offset + _STATEMENT.size
        try:
            reason_e = CheckpointReason(reason)
            link_e = LinkKind(link)
        except ValueError as exc:
            raise AuditFormatError(f"checkpoint statement: {exc}") from exc
        if serial_len > MAX_SERIAL_BYTES or nonce_len > MAX_NONCE_BYTES:
            raise AuditFormatError("checkpoint serial or nonce too long")
        link_len = 0 if link_e is LinkKind.NONE else ED25519_KEY_SIZE
        end = pos + serial_len + nonce_len + link_len
        if end > len(data):
            raise AuditFormatError("checkpoint statement truncated")
        serial = _utf8(data[pos : pos + serial_len], "serial")
        check_serial(serial)
        nonce = data[pos + serial_len : pos + serial_len + nonce_len]
        link_key = data[pos + serial_len + nonce_len : end]
        stmt = cls(reason_e, serial, seq, boot, tick, utc, head, oldest, lost, nonce, policy, signer, link_e,
                   link_key, version)
        return stmt, end

    @classmethod
    def parse(cls, data: bytes) -> CheckpointStatement:
        stmt, end = cls.parse_prefix(data)
        if end != len(data):
            raise AuditFormatError("trailing bytes after checkpoint statement")
        return stmt


_STATEMENT = struct.Struct(CheckpointStatement.FORMAT)
_SIGBLOCK = struct.Struct(">BB")


@dataclass(frozen=True, slots=True)
class CheckpointBody:
    """A CHECKPOINT record's body: the statement, then the signature over it."""

    FORMAT: ClassVar[str] = ">BB"  # after the statement: signature algorithm, signature length

    statement: CheckpointStatement
    sig_alg: SigAlg
    signature: bytes

    def encode(self) -> bytes:
        return self.statement.encode() + _SIGBLOCK.pack(self.sig_alg, len(self.signature)) + self.signature

    @classmethod
    def parse(cls, data: bytes) -> CheckpointBody:
        stmt, pos = CheckpointStatement.parse_prefix(data)
        if len(data) - pos < _SIGBLOCK.size:
            raise AuditFormatError("checkpoint signature block missing")
        alg, sig_len = _SIGBLOCK.unpack_from(data, pos)
        pos += _SIGBLOCK.size
        try:
            alg_e = SigAlg(alg)
        except ValueError as exc:
            raise AuditFormatError(f"unknown signature algorithm {alg}") from exc
        want = ED25519_SIGNATURE_SIZE if alg_e is SigAlg.ED25519 else 0
        if sig_len != want or len(data) - pos != sig_len:
            raise AuditFormatError("checkpoint signature has the wrong length")
        if alg_e is SigAlg.NONE and stmt.signer != ZERO_DIGEST:
            raise AuditFormatError("unsigned checkpoint names a signer")
        return cls(stmt, alg_e, data[pos:])

    def verify(self, public_key: bytes) -> bool:
        """True only for an Ed25519 signature by ``public_key`` over this statement."""
        if self.sig_alg is not SigAlg.ED25519:
            return False
        return verify_checkpoint(self.statement.encode(), self.signature, public_key)


def checkpoint_message(statement: bytes) -> bytes:
    """The exact bytes an audit key signs for a checkpoint."""
    return CHECKPOINT_SIG_TAG + statement


def sign_statement(statement: bytes, private_key: Ed25519PrivateKey) -> bytes:
    return private_key.sign(checkpoint_message(statement))


def verify_checkpoint(statement: bytes, signature: bytes, public_key: bytes) -> bool:
    """Verify a checkpoint signature with the public key alone (no shared secret on the host)."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, checkpoint_message(statement))
    except (InvalidSignature, ValueError):
        return False
    return True


# ----------------------------------------------------------------------------- loss
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


# ----------------------------------------------------------------------------- record
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
    if n == 0:
        raise AuditFormatError("empty record")
    if data[0] != FORMAT_VERSION:
        raise UnknownVersionError("record", data[0])
    if n < HEADER_SIZE:
        raise AuditFormatError(f"record of {n} bytes is shorter than its {HEADER_SIZE}-byte header")
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
        _utf8(data[HEADER_SIZE : HEADER_SIZE + op_len], "operator")
    if detail_len:
        _utf8(data[n - detail_len :], "detail")
    return RecordScan(kind, seq, boot, tag)


def _validate(data: bytes) -> AuditRecord:
    """The one strict decoder."""
    n = len(data)
    if n == 0:
        raise AuditFormatError("empty record")
    if data[0] != FORMAT_VERSION:
        raise UnknownVersionError("record", data[0])
    if n < HEADER_SIZE:
        raise AuditFormatError(f"record of {n} bytes is shorter than its {HEADER_SIZE}-byte header")
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
    operator = _utf8(data[pos : pos + op_len], "operator")
    pos += op_len
    key_ids = struct.unpack_from(f">{nkeys}Q", data, pos) if nkeys else ()
    pos += 8 * nkeys
    detail = _utf8(data[pos : pos + detail_len], "detail")
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
            checkpoint = CheckpointBody.parse(body)
            st = checkpoint.statement
            if int(st.reason) != code:
                raise AuditFormatError("checkpoint code differs from its statement's reason")
            if (st.seq, st.boot, st.tick_ns, st.utc_ns) != (seq, boot, tick, utc):
                raise AuditFormatError("checkpoint header differs from its signed statement")
            if not hmac.compare_digest(module_tag(st.serial), tag):
                raise AuditFormatError("checkpoint module tag differs from its statement's serial")
        else:
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
    return AuditRecord(
        kind_e, seq, boot, tick, utc, tag, code, status, approved == 1, role, session, req, resp, operator,
        tuple(key_ids), detail, checkpoint, loss, version,
    )


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


# ----------------------------------------------------------------------------- key statement
@dataclass(frozen=True, slots=True)
class KeyStatement:
    """The audit public key with the module serial, signed by itself (proof of possession)."""

    FORMAT: ClassVar[str] = ">BBB"  # version, algorithm, serial length; then serial, key, signature

    serial: str
    public_key: bytes
    signature: bytes = b""
    alg: SigAlg = SigAlg.ED25519
    version: int = FORMAT_VERSION

    def signed_bytes(self) -> bytes:
        serial = check_serial(self.serial)
        if len(self.public_key) != ED25519_KEY_SIZE:
            raise AuditFormatError("public key must be 32 bytes")
        return _KEYSTMT.pack(self.version, self.alg, len(serial)) + serial + self.public_key

    def encode(self) -> bytes:
        if len(self.signature) != ED25519_SIGNATURE_SIZE:
            raise AuditFormatError("key statement signature must be 64 bytes")
        return self.signed_bytes() + self.signature

    @classmethod
    def sign(cls, serial: str, private_key: Ed25519PrivateKey) -> KeyStatement:
        from cryptography.hazmat.primitives import serialization

        pub = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        unsigned = cls(serial, pub)
        return cls(serial, pub, private_key.sign(KEY_STATEMENT_SIG_TAG + unsigned.signed_bytes()))

    @classmethod
    def parse(cls, data: bytes) -> KeyStatement:
        if not data:
            raise AuditFormatError("empty key statement")
        if data[0] != FORMAT_VERSION:
            raise UnknownVersionError("key statement", data[0])
        if len(data) < _KEYSTMT.size:
            raise AuditFormatError("key statement too short")
        version, alg, serial_len = _KEYSTMT.unpack_from(data)
        if alg != SigAlg.ED25519:
            raise AuditFormatError(f"unknown key statement algorithm {alg}")
        pos = _KEYSTMT.size
        if len(data) != pos + serial_len + ED25519_KEY_SIZE + ED25519_SIGNATURE_SIZE:
            raise AuditFormatError("key statement has the wrong length")
        serial = _utf8(data[pos : pos + serial_len], "serial")
        check_serial(serial)
        pos += serial_len
        return cls(serial, data[pos : pos + 32], data[pos + 32 :], SigAlg(alg), version)

    def verify(self) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(
                self.signature, KEY_STATEMENT_SIG_TAG + self.signed_bytes()
            )
        except (InvalidSignature, ValueError):
            return False
        return True


_KEYSTMT = struct.Struct(KeyStatement.FORMAT)


# ----------------------------------------------------------------------------- export files
@dataclass(frozen=True, slots=True)
class ExportHeader:
    FORMAT: ClassVar[str] = ">8sBBB32s"  # magic, export version, record version, serial length, serial

    format: ExportFormat
    serial: str
    version: int = EXPORT_VERSION
    record_version: int = FORMAT_VERSION


@dataclass(frozen=True, slots=True)
class Anchor:
    """The chain value the next record extends: h_{next_seq-1} (genesis when next_seq is 0)."""

    FORMAT: ClassVar[str] = ">Q32s"

    next_seq: int
    head: bytes


class RecordItem(NamedTuple):
    """One record as exported; ``claimed_hash`` is the exporter's h_i (JSON Lines only)."""

    data: bytes
    claimed_hash: bytes | None


@dataclass(frozen=True, slots=True)
class ExportEnd:
    """The closing marker: a file without it, or holding less than it claims, was cut."""

    FORMAT: ClassVar[str] = ">QQ32s"

    records: int
    next_seq: int  # sequence number after the last record
    head: bytes  # chain value after the last record


class RecordBatch(NamedTuple):
    """Consecutive records of a binary export (``iter_export(..., batch=True)``): one item per
    chunk instead of one per record, for a verifier whose budget per record is a few hundred ns."""

    records: list[bytes]


ExportItem = Union[ExportHeader, Anchor, RecordItem, RecordBatch, ExportEnd]

MAGIC: Final = b"CMSIMAUD"
TAG_RECORD: Final = 0x52  # "R"; the three tags differ in at least two bits
TAG_ANCHOR: Final = 0x41  # "A"
TAG_END: Final = 0x46  # "F"
_FILE_HEADER = struct.Struct(ExportHeader.FORMAT)
_ANCHOR = struct.Struct(Anchor.FORMAT)
_END = struct.Struct(ExportEnd.FORMAT)
_U16 = struct.Struct(">H")
_CHUNK = 1 << 16
JSONL_FORMAT_NAME: Final = "cmsim-audit-export"
MAX_JSONL_LINE: Final = 64 * 1024  # the longest line the writer makes (a 446-byte record) is about 1,100 bytes


class ExportWriter:
    """Writes an export in either format; records are taken as given (the writer does not judge them).

    The host tool writes what the module sent: ``anchor()`` before the first record of each
    page, then ``record()`` per record, then ``close()`` for the end marker.
    """

    def __init__(self, fileobj: BinaryIO, serial: str, fmt: ExportFormat = ExportFormat.BINARY) -> None:
        self._out = fileobj
        self._serial = serial
        self._raw_serial = check_serial(serial)
        self._fmt = fmt
        self._started = False
        self._closed = False
        self._head: bytes | None = None
        self._next_seq = 0
        self._count = 0

    def _start(self) -> None:
        if self._started:
            return
        self._started = True
        if self._fmt is ExportFormat.BINARY:
            padded = self._raw_serial.ljust(MAX_SERIAL_BYTES, b"\0")
            self._out.write(_FILE_HEADER.pack(MAGIC, EXPORT_VERSION, FORMAT_VERSION, len(self._raw_serial), padded))
        else:
            self._line({"type": "header", "format": JSONL_FORMAT_NAME, "version": EXPORT_VERSION,
                        "record_version": FORMAT_VERSION, "serial": self._serial})

    def _line(self, obj: dict[str, Any]) -> None:
        self._out.write(json.dumps(obj, separators=(",", ":")).encode() + b"\n")

    def anchor(self, next_seq: int, head: bytes) -> None:
        self._start()
        self._head, self._next_seq = head, next_seq
        if self._fmt is ExportFormat.BINARY:
            self._out.write(bytes([TAG_ANCHOR]) + _ANCHOR.pack(next_seq, head))
        else:
            self._line({"type": "anchor", "next_seq": next_seq, "head": head.hex()})

    def record(self, data: bytes) -> bytes:
        """Write one record; return the chain hash after it (what the host acknowledges)."""
        if self._head is None:
            raise ValueError("write an anchor before the first record")
        self._start()
        self._head = chain_next(self._head, data)
        self._count += 1
        if len(data) >= 12:
            self._next_seq = struct.unpack_from(">Q", data, 4)[0] + 1
        if self._fmt is ExportFormat.BINARY:
            self._out.write(bytes([TAG_RECORD]) + _U16.pack(len(data)) + data)
        else:
            seq = self._next_seq - 1
            kind = data[1] if len(data) > 1 else 0
            name = RecordKind(kind).name if kind in _KINDS else str(kind)
            self._line({"type": "record", "seq": seq, "kind": name, "hash": self._head.hex(), "record": data.hex()})
        return self._head

    def close(self) -> None:
        """Write the end marker (the file object stays open: it belongs to the caller)."""
        if self._closed:
            return
        self._start()
        self._closed = True
        head = self._head if self._head is not None else genesis(self._serial)
        if self._fmt is ExportFormat.BINARY:
            self._out.write(bytes([TAG_END]) + _END.pack(self._count, self._next_seq, head))
        else:
            self._line({"type": "end", "records": self._count, "next_seq": self._next_seq, "head": head.hex()})

    def __enter__(self) -> ExportWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()


def write_export(
    fileobj: BinaryIO,
    serial: str,
    records: Iterable[bytes],
    *,
    anchor: tuple[int, bytes] | None = None,
    fmt: ExportFormat = ExportFormat.BINARY,
) -> None:
    """One-page export. Without ``anchor`` the records must start at seq 0 (anchored at genesis)."""
    writer = ExportWriter(fileobj, serial, fmt)
    writer.anchor(*(anchor or (0, genesis(serial))))
    for data in records:
        writer.record(data)
    writer.close()


def iter_export(fileobj: BinaryIO, *, batch: bool = False) -> Iterator[ExportItem]:
    """Stream the items of an export in either format (detected from the first bytes).

    Yields an :class:`ExportHeader` first, then anchors and records, then one :class:`ExportEnd`.
    Records come as :class:`RecordItem`; with ``batch=True`` a binary export's consecutive
    records come as :class:`RecordBatch` instead (JSON Lines records always come one by one).
    Memory stays bounded: one chunk of the file at a time. Raises :class:`TruncatedError` when
    the input stops inside an item, :class:`UnknownVersionError` and :class:`AuditFormatError`
    for the rest; a file that simply stops before its end marker yields no :class:`ExportEnd`.
    """
    first = fileobj.read(len(MAGIC))
    if not first:
        raise TruncatedError("empty export")
    if first == MAGIC:
        yield from _iter_binary(fileobj, batch)
    elif first[:1] == b"{":
        yield from _iter_jsonl(fileobj, first)
    elif MAGIC.startswith(first):
        raise TruncatedError("export cut inside its magic")
    else:
        raise AuditFormatError("not a cmsim audit export")


def _iter_binary(fileobj: BinaryIO, batch: bool) -> Iterator[ExportItem]:
    rest = _FILE_HEADER.size - len(MAGIC)
    head = fileobj.read(rest)
    if len(head) != rest:
        raise TruncatedError("export cut inside its file header")
    _, version, record_version, serial_len, padded = _FILE_HEADER.unpack(MAGIC + head)
    if version != EXPORT_VERSION:
        raise UnknownVersionError("export", version)
    if record_version != FORMAT_VERSION:
        raise UnknownVersionError("record", record_version)
    if serial_len > MAX_SERIAL_BYTES or any(padded[serial_len:]):
        raise AuditFormatError("export header: bad serial field")
    serial = _utf8(padded[:serial_len], "serial")
    check_serial(serial)
    yield ExportHeader(ExportFormat.BINARY, serial, version, record_version)

    read = fileobj.read
    buf = b""
    pos = 0
    end_seen = False
    while True:
        if pos >= len(buf):
            buf, pos = read(_CHUNK), 0
            if not buf:
                return
        if end_seen:
            raise AuditFormatError("data after the end marker")
        tag = buf[pos]
        if batch and tag == TAG_RECORD:
            records: list[bytes] = []
            append = records.append
            size = len(buf)
            record_tag = TAG_RECORD
            start = pos + 3
            try:  # the loop ends at another tag or where the buffer runs out (IndexError)
                while buf[pos] == record_tag:
                    start = pos + 3
                    pos = start + ((buf[pos + 1] << 8) | buf[pos + 2])
                    append(buf[start:pos])
            except IndexError:
                pass
            if pos > size:  # the last record runs past the buffer: take it again after a refill
                records.pop()
                pos = start - 3
            if records:
                yield RecordBatch(records)
                continue
        if tag == TAG_RECORD:
            if len(buf) - pos < 3:
                buf, pos = _refill(read, buf, pos, 3)
            (n,) = _U16.unpack_from(buf, pos + 1)
            if len(buf) - pos < 3 + n:
                buf, pos = _refill(read, buf, pos, 3 + n)
            yield RecordItem(buf[pos + 3 : pos + 3 + n], None)
            pos += 3 + n
        elif tag == TAG_ANCHOR:
            size = 1 + _ANCHOR.size
            if len(buf) - pos < size:
                buf, pos = _refill(read, buf, pos, size)
            yield Anchor(*_ANCHOR.unpack_from(buf, pos + 1))
            pos += size
        elif tag == TAG_END:
            size = 1 + _END.size
            if len(buf) - pos < size:
                buf, pos = _refill(read, buf, pos, size)
            yield ExportEnd(*_END.unpack_from(buf, pos + 1))
            pos += size
            end_seen = True
        else:
            raise AuditFormatError(f"unknown export item tag 0x{tag:02x}")


def _refill(read: Any, buf: bytes, pos: int, need: int) -> tuple[bytes, int]:
    buf = buf[pos:]
    while len(buf) < need:
        more = read(max(_CHUNK, need - len(buf)))
        if not more:
            raise TruncatedError("export cut inside an item")
        buf += more
    return buf, 0


_JSONL_KEYS: Final = {
    "header": {"type", "format", "version", "record_version", "serial"},
    "anchor": {"type", "next_seq", "head"},
    "record": {"type", "seq", "kind", "hash", "record"},
    "end": {"type", "records", "next_seq", "head"},
}


def _iter_jsonl(fileobj: BinaryIO, first: bytes) -> Iterator[ExportItem]:
    lines = _lines(fileobj, first)
    header = _json_line(next(lines, None), "header")
    if header["format"] != JSONL_FORMAT_NAME:
        raise AuditFormatError("not a cmsim audit export")
    if header["version"] != EXPORT_VERSION:
        raise UnknownVersionError("export", _int(header["version"]))
    if header["record_version"] != FORMAT_VERSION:
        raise UnknownVersionError("record", _int(header["record_version"]))
    serial = header["serial"]
    if not isinstance(serial, str):
        raise AuditFormatError("serial must be a string")
    check_serial(serial)
    yield ExportHeader(ExportFormat.JSONL, serial)
    end_seen = False
    for line in lines:
        if end_seen:
            raise AuditFormatError("data after the end marker")
        obj = _json_line(line, None)
        kind = obj["type"]
        if kind == "record":
            data = _hex(obj["record"])
            if len(data) < 12 or struct.unpack_from(">Q", data, 4)[0] != obj["seq"]:
                raise AuditFormatError("record line: seq differs from the record's own")
            yield RecordItem(data, _hex(obj["hash"], HASH_SIZE))
        elif kind == "anchor":
            yield Anchor(_int(obj["next_seq"]), _hex(obj["head"], HASH_SIZE))
        elif kind == "end":
            yield ExportEnd(_int(obj["records"]), _int(obj["next_seq"]), _hex(obj["head"], HASH_SIZE))
            end_seen = True
        else:
            raise AuditFormatError(f"unexpected {kind} line")


def _lines(fileobj: BinaryIO, first: bytes) -> Iterator[bytes]:
    # Bounded: a line longer than any the writer makes is refused after MAX_JSONL_LINE + 1 bytes,
    # never read whole (a file without a newline would otherwise be read into memory at once).
    pending = first + fileobj.readline(MAX_JSONL_LINE + 1 - len(first))
    while pending:
        if len(pending) > MAX_JSONL_LINE:
            raise AuditFormatError(f"line longer than {MAX_JSONL_LINE} bytes")
        if not pending.endswith(b"\n"):
            raise TruncatedError("export cut inside a line")
        yield pending
        pending = fileobj.readline(MAX_JSONL_LINE + 1)


def _json_line(line: bytes | None, expect: str | None) -> dict[str, Any]:
    if line is None:
        raise TruncatedError("export has no header line")
    try:
        obj = json.loads(line)
    except ValueError as exc:
        raise AuditFormatError(f"not a JSON line: {exc}") from exc
    except RecursionError:  # arrays or objects nested deeper than the interpreter's stack
        raise AuditFormatError("not a JSON line: nested too deep") from None
    if not isinstance(obj, dict) or obj.get("type") not in _JSONL_KEYS:
        raise AuditFormatError("line without a known type")
    if expect is not None and obj["type"] != expect:
        raise AuditFormatError(f"expected a {expect} line, got {obj['type']}")
    if set(obj) != _JSONL_KEYS[obj["type"]]:
        raise AuditFormatError(f"{obj['type']} line has the wrong keys")
    return obj


def _hex(value: object, size: int | None = None) -> bytes:
    if not isinstance(value, str):
        raise AuditFormatError("expected a hex string")
    try:
        data = bytes.fromhex(value)
    except ValueError as exc:
        raise AuditFormatError("bad hex") from exc
    if size is not None and len(data) != size:
        raise AuditFormatError(f"expected {size} bytes of hex")
    return data


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= U64_MAX:
        raise AuditFormatError("expected an unsigned integer")
    return value

