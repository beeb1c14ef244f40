"""The audit trail: hash-chained records in the flash ring, signed checkpoints, block/wrap policy,
digest-bound drain. It implements :class:`~module.audit.sink.AuditSink` for the core.

Rules it keeps:

- Write-ahead: :meth:`AuditTrail.append` returns only after the slot is written (and synced
  under ``fsync="always"``); the core releases a response only after that.
- Sequence numbers never reset: they come from the ring and the metadata floor, both in flash.
- ``block`` (default): when the ring holds ``capacity - reserve`` records, :meth:`would_block`
  is true and the core refuses all but status, login, audit export/checkpoint/acknowledge (their
  records use the reserve). When even that is gone (``capacity - 4`` records), :meth:`append`
  raises :class:`AuditRingExhausted`: the core answers AUDIT_FULL without a record; the trail
  counts each refusal (in flash) and writes one LOSS(REFUSED) record naming the count as soon as
  an append fits again. The last 4 slots are kept for module-made records (error checkpoints,
  the refusal summary) and the last 2 of those for one zeroisation handover, so a zeroisation
  can always sign its handover even on a full ring. A second zeroisation before any drain, or an
  error checkpoint with nothing left, raises AuditRingExhausted (rotate_key still wipes the old
  key and installs the new one: the host then needs the new key from PUBKEY).
- ``wrap``: when one slot is left, a PRE_OVERWRITE checkpoint goes into it, the oldest
  ``wrap_batch`` records are dropped (metadata first), then a LOSS(OVERWRITTEN) record names
  the whole unacknowledged gap (oldest unacknowledged seq to the last one dropped) and how many
  of those this drop took. Acknowledged records are free space and never count as lost.
- A checkpoint every ``checkpoint_every`` records, on request, on entering an error state and at
  zeroisation (old key signs, names the new key; the new key's first checkpoint names the old).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from hashlib import sha256
from typing import Final, Literal, NamedTuple

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from module.audit.ring import (
    AuditError,
    AuditRing,
    AuditRingCorrupted,
    AuditRingExhausted,
)
from module.audit.sink import AuditEntry
from module.ports import Flash
from module.wire.audit.chain import CHAIN_TAG, check_serial, genesis, module_tag
from module.wire.audit.checkpoint import (
    MAX_NONCE_BYTES,
    CheckpointBody,
    CheckpointReason,
    CheckpointStatement,
    LinkKind,
)
from module.wire.audit.common import U16_MAX, U32_MAX, U64_MAX, ZERO_DIGEST
from module.wire.audit.policy import policy_digest
from module.wire.audit.record import (
    MAX_DETAIL_BYTES,
    MAX_KEY_IDS,
    MAX_OPERATOR_BYTES,
    LossBody,
    LossReason,
    RecordKind,
    checkpoint_record,
    loss_record,
    pack_record,
)
from module.wire.audit.signature import KeyStatement, SigAlg, sign_statement

__all__ = [
    "AuditConfig",
    "AuditStatus",
    "AuditTrail",
    "AuditError",
    "AuditRingCorrupted",
    "AuditRingExhausted",
    "AckDigestMismatch",
    "AuditRangeError",
    "AuditKeyMissing",
    "INTERNAL_RESERVE",
    "HANDOVER_RESERVE",
]

Policy = Literal["block", "wrap"]
Fsync = Literal["always", "os"]

INTERNAL_RESERVE: Final = 4  # under block: the last slots, for module-made records only
HANDOVER_RESERVE: Final = 2  # of those, the last two: only a zeroisation handover may use them
_ENTRY, _INTERNAL, _HANDOVER = 0, 1, 2  # who is asking for a slot
_SERVICE, _EVENT, _CHECKPOINT = int(RecordKind.SERVICE), int(RecordKind.EVENT), int(RecordKind.CHECKPOINT)


class AckDigestMismatch(AuditError):
    """The host's head digest is not the chain hash at that seq: it did not verify what it acks."""


class AuditRangeError(AuditError):
    """A sequence number outside what the ring can answer for (lost, freed or not yet written)."""


class AuditKeyMissing(AuditError):
    """No audit signing key set (the module is not initialised)."""


@dataclass(frozen=True)
class AuditConfig:
    capacity: int = 4096
    policy: Policy = "block"  # initial policy; a policy set later is kept in flash
    checkpoint_every: int = 1024  # 0 disables periodic checkpoints
    high_water: float = 0.8
    reserve: int = 32
    fsync: Fsync = "always"
    wrap_batch: int = 64  # records dropped per wrap-around (one checkpoint and one LOSS record each)
    lab_mode: bool = False  # marks every checkpoint's policy digest (fault injection enabled)

    def __post_init__(self) -> None:
        if self.capacity < 16:
            raise ValueError("capacity must be at least 16 slots")
        if self.policy not in ("block", "wrap") or self.fsync not in ("always", "os"):
            raise ValueError(f"policy must be block or wrap, fsync always or os: {self.policy!r}, {self.fsync!r}")
        if not 0 <= self.reserve <= self.capacity - INTERNAL_RESERVE - 1:
            raise ValueError("reserve must leave room for records")
        if not 0.0 < self.high_water <= 1.0:
            raise ValueError("high_water is a fraction in (0, 1]")
        if self.checkpoint_every < 0 or self.wrap_batch < 3:
            raise ValueError("checkpoint_every must be >= 0 and wrap_batch >= 3")


@dataclass(frozen=True)
class AuditStatus:
    next_seq: int
    oldest_retained: int
    acked_through: int | None  # highest acknowledged seq, None before the first acknowledgement
    used: int
    capacity: int
    policy: str
    high_water: float
    high_water_reached: bool
    would_block: bool
    records_lost: int
    records_refused: int
    head: bytes
    last_checkpoint_seq: int | None
    signing_key: bool
    torn_slot_discarded: int | None  # seq of a torn append discarded at the last open()


class _Times(NamedTuple):
    boot: int
    tick_ns: int
    utc_ns: int


class AuditTrail:
    """The hash-chained audit trail in flash. No I/O until :meth:`open`."""

    def __init__(self, flash: Flash, serial: str, config: AuditConfig | None = None) -> None:
        check_serial(serial)
        self._flash = flash
        self._serial = serial
        self._tag = module_tag(serial)
        self.config = config or AuditConfig()
        self._ring = AuditRing(flash, serial, self.config.capacity)
        self._sync = self.config.fsync == "always"
        self._capacity = self.config.capacity
        self._every = self.config.checkpoint_every
        self._batch = min(self.config.wrap_batch, self.config.capacity // 2)
        self._open = False
        self._next = 0
        self._head = genesis(serial)
        self._since_checkpoint = 0
        self._last_checkpoint: int | None = None
        self._torn: int | None = None
        self._pending_losses: list[tuple[int, int]] = []
        self._wrapping = False
        self._seed = bytearray()
        self._key: Ed25519PrivateKey | None = None
        self._public = b""

    # ------------------------------------------------------------------ boot
    def open(self, boot: int) -> None:
        """Recover from flash and verify the retained window (raises AuditRingCorrupted).

        ``boot`` is this boot's counter, already counted: a retained record claiming a later
        boot means the counter was rolled back, and is refused like any other corruption.
        """
        self._open = False
        rec = self._ring.open(
            boot, policy=self.config.policy, high_water_permille=round(self.config.high_water * 1000)
        )
        self._next, self._head, self._torn = rec.next_seq, rec.head, rec.torn_seq
        self._last_checkpoint = rec.last_checkpoint_seq
        start = rec.last_checkpoint_seq + 1 if rec.last_checkpoint_seq is not None else rec.meta.floor
        self._since_checkpoint = rec.next_seq - start
        meta = rec.meta
        # A wrap-around drop whose LOSS record never reached flash: write it before anything else.
        self._pending_losses = (
            [(meta.drop_first, meta.drop_count)] if meta.drop_count and meta.drop_loss_seq >= rec.next_seq else []
        )
        self._open = True

    def close(self) -> None:
        """Power-off: wipe the signing seed (it comes back from the core's SSP store at the next
        boot) and refuse appends until :meth:`open`. Everything else is already in flash."""
        self._wipe_key()
        self._open = False

    # ------------------------------------------------------------- AuditSink
    def append(self, entry: AuditEntry, *, boot: int, tick_ns: int, utc_ns: int) -> int:
        """Record one SERVICE or EVENT entry durably; return its sequence number."""
        if not self._open:
            raise AuditError("audit trail not open")
        kind = int(entry.kind)
        if kind != _SERVICE and kind != _EVENT:
            raise ValueError("the core appends SERVICE and EVENT records only")
        meta = self._ring.meta
        cap = self._capacity
        used = self._next - meta.floor
        if meta.policy == "block":
            if used >= cap - INTERNAL_RESERVE:
                self._count_refusal()
                raise AuditRingExhausted("audit ring exhausted: append refused and counted")
        elif cap - used <= 1:
            self._reserve_slot(_Times(boot, tick_ns, utc_ns), _ENTRY)  # wrap around first
        if self._pending_losses or meta.refused_pending:
            self._flush_pending(_Times(boot, tick_ns, utc_ns))
            self._reserve_slot(_Times(boot, tick_ns, utc_ns), _INTERNAL)  # the summary may precede the entry
        seq = self._next
        # Numbers out of range are recorded as the field's maximum, never dropped; text is cut to fit.
        code, status, role, session = int(entry.code), int(entry.status), int(entry.role), entry.session_id
        if not (0 <= code <= U16_MAX and 0 <= status <= U16_MAX and 0 <= role <= 0xFF and 0 <= session <= U32_MAX):
            code, status, role, session = (_clamp(code, U16_MAX), _clamp(status, U16_MAX), _clamp(role, 0xFF),
                                           _clamp(session, U32_MAX))
        keys = entry.key_ids
        if keys and (len(keys) > MAX_KEY_IDS or min(keys) < 0 or max(keys) > U64_MAX):
            keys = tuple(_clamp(k, U64_MAX) for k in keys[:MAX_KEY_IDS])
        operator, detail = entry.operator, entry.detail
        if len(operator) > MAX_OPERATOR_BYTES // 4 and not (len(operator) <= MAX_OPERATOR_BYTES and operator.isascii()):
            operator = _clip(operator, MAX_OPERATOR_BYTES)
        if len(detail) > MAX_DETAIL_BYTES // 4 and not (len(detail) <= MAX_DETAIL_BYTES and detail.isascii()):
            detail = _clip(detail, MAX_DETAIL_BYTES)
        data = pack_record(
            kind, seq, boot, tick_ns, utc_ns, self._tag, code, status, entry.approved, role, session,
            entry.request_digest, entry.response_digest, operator, keys, detail,
        )
        self._commit(data, kind)
        every = self._every
        if every and self._since_checkpoint >= every:
            self._maybe_periodic(_Times(boot, tick_ns, utc_ns))
        return seq

    def would_block(self) -> bool:
        """True under block once only the reserve is left: the core refuses all but the drain services."""
        self._require_open()
        return self._policy == "block" and self._used >= self.config.capacity - self.config.reserve

    def has_room(self, records: int) -> bool:
        """Whether ``records`` more appends fit before the ring is exhausted (always, under wrap).

        The core asks before it runs a service, so a service that could not be recorded is
        refused before it does anything rather than done and left unrecorded."""
        self._require_open()
        return self._policy == "wrap" or self._used + records <= self.config.capacity - INTERNAL_RESERVE

    def count_refusal(self) -> None:
        """A call refused for want of a slot: counted in flash, summarised by a LOSS(REFUSED) record."""
        self._require_open()
        self._count_refusal()

    @property
    def has_signing_key(self) -> bool:
        return self._key is not None

    # ------------------------------------------------------------------ keys
    def set_signing_key(self, private_seed: bytes) -> None:
        """Use this Ed25519 seed (kept by the core in its SSP store) for checkpoints; no record."""
        key = _load_key(private_seed)
        self._wipe_key()
        self._seed = bytearray(private_seed)
        self._key = key
        self._public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def public_key(self) -> bytes:
        if self._key is None:
            raise AuditKeyMissing("no audit signing key")
        return self._public

    def key_statement(self) -> bytes:
        """The public key and serial, self-signed (the PUBKEY service returns this)."""
        if self._key is None:
            raise AuditKeyMissing("no audit signing key")
        return KeyStatement.sign(self._serial, self._key).encode()

    def rotate_key(self, new_seed: bytes, *, boot: int, tick_ns: int, utc_ns: int) -> None:
        """Zeroisation handover: the old key's last act signs a checkpoint naming the new key, the
        old seed is wiped, and the new key's first checkpoint names the old one."""
        self._require_open()
        new_key = _load_key(new_seed)
        t = _Times(boot, tick_ns, utc_ns)
        new_public = new_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        old_public = self._public if self._key is not None else b""
        try:
            if self._key is not None:
                self._reserve_slot(t, _HANDOVER)
                self._write_checkpoint(CheckpointReason.ZEROISATION, b"", t, LinkKind.NEXT_KEY, new_public)
        finally:  # zeroisation must wipe the old key even when its checkpoint could not be written
            self._wipe_key()
            self._seed = bytearray(new_seed)
            self._key, self._public = new_key, new_public
        self._reserve_slot(t, _HANDOVER)
        if old_public:
            self._write_checkpoint(CheckpointReason.KEY_START, b"", t, LinkKind.PREV_KEY, old_public)
        else:
            self._write_checkpoint(CheckpointReason.KEY_START, b"", t)

    def retire_key(self, *, boot: int, tick_ns: int, utc_ns: int) -> None:
        """Zeroisation without a DRBG to make a successor (from an error state): the old key's last
        act signs a ZEROISATION checkpoint naming no next key, then it is wiped. The key made at
        the next initialisation starts its own line of checkpoints (KEY_START, no link)."""
        self._require_open()
        t = _Times(boot, tick_ns, utc_ns)
        try:
            if self._key is not None:
                self._reserve_slot(t, _HANDOVER)
                self._write_checkpoint(CheckpointReason.ZEROISATION, b"", t)
        finally:
            self._wipe_key()
            self._public = b""

    # ----------------------------------------------------------- checkpoints
    def checkpoint(self, nonce: bytes = b"", *, boot: int, tick_ns: int, utc_ns: int) -> bytes:
        """A signed, chained CHECKPOINT record on request; returns its encoded bytes."""
        self._require_open()
        if self._key is None:
            raise AuditKeyMissing("no audit signing key: the module is not initialised")
        if len(nonce) > MAX_NONCE_BYTES:
            raise ValueError(f"nonce longer than {MAX_NONCE_BYTES} bytes")
        t = _Times(boot, tick_ns, utc_ns)
        if self._policy == "block" and self._used >= self.config.capacity - INTERNAL_RESERVE:
            raise AuditRingExhausted("audit ring exhausted: acknowledge records first")
        self._flush_pending(t)
        self._reserve_slot(t, _INTERNAL)
        return self._write_checkpoint(CheckpointReason.REQUEST, bytes(nonce), t)

    def error_checkpoint(self, *, boot: int, tick_ns: int, utc_ns: int) -> bytes:
        """The core calls this on entering an error state (may use the internal reserve)."""
        self._require_open()
        t = _Times(boot, tick_ns, utc_ns)
        self._reserve_slot(t, _INTERNAL)
        return self._write_checkpoint(CheckpointReason.ERROR, b"", t)

    # ----------------------------------------------------------------- drain
    def export(self, from_seq: int, max_records: int) -> list[bytes]:
        """Encoded records from ``max(from_seq, oldest retained)``, at most ``max_records`` of them."""
        self._require_open()
        start = max(from_seq, self._ring.meta.floor)
        stop = min(self._next, start + max(0, max_records))
        return [self._ring.read(seq).record for seq in range(start, stop)]

    def anchor(self, from_seq: int) -> tuple[int, bytes]:
        """(first seq an export from ``from_seq`` returns, chain value before it): an export page's anchor."""
        self._require_open()
        start = min(max(from_seq, self._ring.meta.floor), self._next)
        return start, self.chain_hash(start - 1)

    def chain_hash(self, seq: int) -> bytes:
        """h_seq for any seq from ``oldest retained - 1`` to ``next - 1`` (-1 gives genesis)."""
        self._require_open()
        if seq == self._next - 1:
            return self._head
        if seq == -1:
            return genesis(self._serial)
        if not self._ring.meta.floor - 1 <= seq < self._next - 1:
            raise AuditRangeError(f"no chain value for seq {seq}")
        return self._ring.read(seq + 1).prev

    def acknowledge(self, seq: int, head: bytes) -> None:
        """Free records up to ``seq``, only if ``head`` is the chain hash there (the core audits the ack)."""
        self._require_open()
        if not self._ring.meta.floor - 1 <= seq < self._next:
            raise AuditRangeError(f"cannot acknowledge seq {seq}: retained range is "
                                  f"{self._ring.meta.floor}..{self._next - 1}")
        if not hmac.compare_digest(self.chain_hash(seq), bytes(head)):
            raise AckDigestMismatch(f"head digest does not match the chain at seq {seq}")
        meta = self._ring.meta
        if seq + 1 > meta.ack_next:
            self._ring.update_meta(ack_next=seq + 1, floor=max(meta.floor, seq + 1))

    # ---------------------------------------------------------------- policy
    def set_policy(self, policy: str, high_water: float | None = None) -> None:
        """Set by the Crypto Officer (the core audits the call); kept in flash across boots."""
        self._require_open()
        if policy not in ("block", "wrap"):
            raise ValueError(f"policy must be block or wrap, not {policy!r}")
        permille = self._ring.meta.high_water_permille if high_water is None else round(high_water * 1000)
        if not 0 < permille <= 1000:
            raise ValueError("high_water is a fraction in (0, 1]")
        self._ring.update_meta(policy=policy, high_water_permille=permille)

    def policy_digest(self) -> bytes:
        meta = self._ring.meta
        c = self.config
        return policy_digest(meta.policy, c.capacity, c.checkpoint_every, meta.high_water_permille / 1000,
                             c.reserve, c.fsync, c.lab_mode)

    def status(self) -> AuditStatus:
        self._require_open()
        meta = self._ring.meta
        used = self._used
        return AuditStatus(
            next_seq=self._next,
            oldest_retained=meta.floor,
            acked_through=meta.ack_next - 1 if meta.ack_next else None,
            used=used,
            capacity=self.config.capacity,
            policy=meta.policy,
            high_water=meta.high_water_permille / 1000,
            high_water_reached=used * 1000 >= meta.high_water_permille * self.config.capacity,
            would_block=self.would_block(),
            records_lost=meta.lost_total,
            records_refused=meta.refused_total,
            head=self._head,
            last_checkpoint_seq=self._last_checkpoint,
            signing_key=self._key is not None,
            torn_slot_discarded=self._torn,
        )

    def chain_head(self) -> bytes:
        self._require_open()
        return self._head

    # -------------------------------------------------------------- internals
    @property
    def _policy(self) -> str:
        return self._ring.meta.policy

    @property
    def _used(self) -> int:
        return self._next - self._ring.meta.floor

    def _require_open(self) -> None:
        if not self._open:
            raise AuditError("audit trail not open")

    def _commit(self, data: bytes, kind: int) -> None:
        seq = self._next
        if seq - self._ring.meta.floor >= self._capacity:  # never overwrite a retained record
            raise AuditRingExhausted("no free slot")
        head = self._head
        chain = sha256(CHAIN_TAG + head + data).digest()
        self._ring.write(seq, head, data, chain, sync=self._sync)
        self._head, self._next = chain, seq + 1
        if kind == _CHECKPOINT:
            self._since_checkpoint, self._last_checkpoint = 0, seq
        else:
            self._since_checkpoint += 1

    def _reserve_slot(self, t: _Times, level: int) -> None:
        """Make sure the next write has a free slot: under wrap by dropping the oldest records,
        under block by refusing once the ring is filled to this level's limit."""
        cap = self.config.capacity
        if self._policy == "wrap":
            while not self._wrapping and cap - self._used <= 1:
                self._wrap(t)
            return
        limit = (cap - INTERNAL_RESERVE, cap - HANDOVER_RESERVE, cap)[level]
        if self._used >= limit:
            if level == _ENTRY:
                self._count_refusal()
            raise AuditRingExhausted("audit ring exhausted")

    def _wrap(self, t: _Times) -> None:
        """Checkpoint, drop the oldest batch (metadata first), name the gap in a LOSS record."""
        self._wrapping = True
        try:
            if self.config.capacity - self._used >= 1:
                self._write_checkpoint(CheckpointReason.PRE_OVERWRITE, b"", t)
                self._drop(loss_seq=self._next)
            else:  # full to the last slot (policy just switched from block): drop first
                self._drop(loss_seq=self._next + 1)
                self._write_checkpoint(CheckpointReason.PRE_OVERWRITE, b"", t)
            self._flush_losses(t)
        finally:
            self._wrapping = False

    def _drop(self, *, loss_seq: int) -> None:
        meta = self._ring.meta
        count = min(self._batch, self._used)
        first = meta.floor
        self._ring.update_meta(
            floor=first + count, lost_total=meta.lost_total + count,
            drop_first=first, drop_count=count, drop_loss_seq=loss_seq,
        )
        self._pending_losses.append((first, count))

    def _flush_pending(self, t: _Times) -> None:
        """Before an append: the LOSS records owed by drops, then the refusal summary if it fits."""
        self._flush_losses(t)
        refused = self._ring.meta.refused_pending
        if refused and (self._policy == "wrap" or self._used < self.config.capacity - HANDOVER_RESERVE):
            self._reserve_slot(t, _INTERNAL)
            meta = self._ring.meta
            body = LossBody(0, 0, meta.refused_pending, meta.refused_total)
            self._commit(self._loss(LossReason.REFUSED, body, t), RecordKind.LOSS)
            self._ring.update_meta(refused_pending=0)

    def _flush_losses(self, t: _Times) -> None:
        while self._pending_losses:
            if not self._wrapping:
                self._reserve_slot(t, _INTERNAL)  # under wrap this may write them itself
                if not self._pending_losses:
                    break
            first, count = self._pending_losses.pop(0)
            meta = self._ring.meta
            if meta.drop_count and meta.drop_first == first and meta.drop_loss_seq != self._next:
                self._ring.update_meta(drop_loss_seq=self._next)  # so the next boot does not owe it again
            gap_start = min(meta.ack_next, first)  # everything unacknowledged up to here is gone
            body = LossBody(gap_start, first + count - 1, count, meta.lost_total)
            self._commit(self._loss(LossReason.OVERWRITTEN, body, t), RecordKind.LOSS)

    def _loss(self, reason: LossReason, body: LossBody, t: _Times) -> bytes:
        return loss_record(self._serial, self._next, t.boot, t.tick_ns, t.utc_ns, reason, body).encode()

    def _count_refusal(self) -> None:
        meta = self._ring.meta
        self._ring.update_meta(refused_total=meta.refused_total + 1, refused_pending=meta.refused_pending + 1)

    def _maybe_periodic(self, t: _Times) -> None:
        every = self.config.checkpoint_every
        if not every or self._since_checkpoint < every:
            return
        if self._policy == "block" and self._used >= self.config.capacity - INTERNAL_RESERVE:
            return  # keep the internal reserve; the next checkpoint comes when space frees
        self._reserve_slot(t, _INTERNAL)
        if self._since_checkpoint >= every:
            self._write_checkpoint(CheckpointReason.PERIODIC, b"", t)

    def _write_checkpoint(
        self, reason: CheckpointReason, nonce: bytes, t: _Times, link: LinkKind = LinkKind.NONE, link_key: bytes = b""
    ) -> bytes:
        meta = self._ring.meta
        statement = CheckpointStatement(
            reason, self._serial, self._next, t.boot, t.tick_ns, t.utc_ns, self._head, meta.floor,
            meta.lost_total, nonce, self.policy_digest(), self._public if self._key is not None else ZERO_DIGEST,
            link, link_key,
        )
        if self._key is not None:
            body = CheckpointBody(statement, SigAlg.ED25519, sign_statement(statement.encode(), self._key))
        else:
            body = CheckpointBody(statement, SigAlg.NONE, b"")
        data = checkpoint_record(body).encode()
        self._commit(data, RecordKind.CHECKPOINT)
        return data

    def _wipe_key(self) -> None:
        """Overwrite our copy of the seed (the key object inside OpenSSL cannot be wiped from Python)."""
        self._seed[:] = bytes(len(self._seed))
        self._key = None
        self._public = b""


def _load_key(seed: bytes) -> Ed25519PrivateKey:
    if len(seed) != 32:
        raise ValueError("an Ed25519 seed is 32 bytes")
    return Ed25519PrivateKey.from_private_bytes(bytes(seed))


def _clamp(value: int, top: int) -> int:
    """Out-of-range numbers from a caller are recorded as the field's maximum, never dropped."""
    return value if 0 <= value <= top else top


def _clip(text: str, limit: int) -> str:
    """Cut to ``limit`` UTF-8 bytes at a character boundary (records have a fixed slot)."""
    if len(text) <= limit and text.isascii():
        return text
    raw = text.encode("utf-8", "replace")  # a lone surrogate becomes "?"
    return raw[:limit].decode("utf-8", "ignore")
