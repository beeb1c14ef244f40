"""The audit trail: hash-chained records in the flash ring, signed checkpoints, block/wrap policy,
digest-bound drain. It implements :class:`~module.audit.sink.AuditSink` for the core, and puts
together the parts that each do one job: :mod:`.log` (the chain's append end), :mod:`.checkpoints`
(the signing key and checkpoint records), :mod:`.space` (reserve, refusals, wrap-around), over
:mod:`.ring` (slots in flash); the drain (export pages, the digest-bound acknowledgement) is here.

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
from typing import Final, Literal

from module.audit.checkpoints import AuditKeyMissing, Checkpoints, load_key, public_bytes
from module.audit.log import AuditRangeError, ChainLog, Times
from module.audit.ring import AuditError, AuditRing, AuditRingCorrupted, AuditRingExhausted
from module.audit.sink import AuditEntry
from module.audit.space import HANDOVER, HANDOVER_RESERVE, INTERNAL, INTERNAL_RESERVE, RingSpace
from module.ports import Flash
from module.wire.audit.chain import check_serial, module_tag
from module.wire.audit.checkpoint import MAX_NONCE_BYTES, CheckpointReason, LinkKind
from module.wire.audit.common import U16_MAX, U32_MAX, U64_MAX
from module.wire.audit.policy import policy_digest
from module.wire.audit.record import MAX_DETAIL_BYTES, MAX_KEY_IDS, MAX_OPERATOR_BYTES, RecordKind, pack_record
from module.wire.defs import AuditPolicy

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

Policy = Literal["block", "wrap"]  # AuditPolicy labels: how a configuration spells the policy
Fsync = Literal["always", "os"]

_SERVICE, _EVENT = int(RecordKind.SERVICE), int(RecordKind.EVENT)
_POLICY_LABELS: Final = tuple(p.label for p in AuditPolicy)


class AckDigestMismatch(AuditError):
    """The host's head digest is not the chain hash at that seq, or the seq is not a checkpoint this
    session asked for with its own nonce: it did not verify what it acks."""


_ISSUED_LIMIT: Final = 64  # sessions whose last nonce checkpoint is remembered (volatile, per boot)


@dataclass(frozen=True)
class AuditConfig:
    capacity: int = 4096
    policy: Policy = "block"  # initial policy; a policy set later is kept in flash
    checkpoint_every: int = 1024  # 0 disables periodic checkpoints
    high_water: float = 0.8
    reserve: int = 32
    fsync: Fsync = "always"
    wrap_batch: int = 64  # records dropped per wrap-around (one checkpoint and one LOSS record each)
    lab_mode: bool = False  # fault injection enabled: stated in every checkpoint, the key statement, the policy digest
    # Calls without an authenticated session: never recorded into the last public_reserve slots
    # an authenticated call may use (None: a sixteenth of the ring, at least 2), and at most public_rate of them
    # per public_interval_s of the module's clock (None: no rate bound); the excess is refused and
    # counted (LOSS(REFUSED)).
    public_rate: int | None = None
    public_interval_s: float = 1.0
    public_reserve: int | None = None

    def __post_init__(self) -> None:
        if self.capacity < 16:
            raise ValueError("capacity must be at least 16 slots")
        if self.policy not in _POLICY_LABELS or self.fsync not in ("always", "os"):
            raise ValueError(f"policy must be block or wrap, fsync always or os: {self.policy!r}, {self.fsync!r}")
        if not 0 <= self.reserve <= self.capacity - INTERNAL_RESERVE - 1:
            raise ValueError("reserve must leave room for records")
        if not 0.0 < self.high_water <= 1.0:
            raise ValueError("high_water is a fraction in (0, 1]")
        if self.checkpoint_every < 0 or self.wrap_batch < 3:
            raise ValueError("checkpoint_every must be >= 0 and wrap_batch >= 3")
        if (self.public_rate is not None and self.public_rate < 1) or self.public_interval_s <= 0:
            raise ValueError("public_rate must be >= 1 and public_interval_s > 0")
        if self.public_reserve is not None and not 2 <= self.public_reserve < self.capacity - self.reserve:
            raise ValueError("public_reserve must be at least 2 and leave room below the reserve")

    @property
    def public_slots(self) -> int:
        """Slots a call without an authenticated session never takes: at least 2, so under wrap a
        public call never makes the ring overwrite; more than a wrap batch (the default ring's 256
        against 64), so once the ring has wrapped public calls do not refill what a drop freed."""
        return self.public_reserve if self.public_reserve is not None else max(self.capacity // 16, 2)


@dataclass(frozen=True)
class AuditStatus:
    next_seq: int
    oldest_retained: int
    acked_through: int | None  # highest acknowledged seq, None before the first acknowledgement
    used: int
    capacity: int
    policy: str  # the policy's label
    high_water: float
    high_water_reached: bool
    would_block: bool
    records_lost: int
    records_refused: int
    head: bytes
    last_checkpoint_seq: int | None
    signing_key: bool
    torn_slot_discarded: int | None  # seq of a torn append discarded at the last open()


class AuditTrail:
    """The hash-chained audit trail in flash. No I/O until :meth:`open`."""

    def __init__(self, flash: Flash, serial: str, config: AuditConfig | None = None) -> None:
        check_serial(serial)
        self._serial = serial
        self._tag = module_tag(serial)
        self.config = config or AuditConfig()
        self._every = self.config.checkpoint_every
        self._open = False
        self._log = ChainLog(AuditRing(flash, serial, self.config.capacity), serial, sync=self.config.fsync == "always")
        self._checkpoints = Checkpoints(self._log, serial, self.policy_digest, lab=self.config.lab_mode)
        self._space = RingSpace(self._log, self._checkpoints, serial, reserve=self.config.reserve,
                                wrap_batch=self.config.wrap_batch)
        self._issued: dict[int, int] = {}  # session id -> seq of the last checkpoint it asked for with a nonce
        self._public_window = -1  # the public-rate interval now counted (volatile)
        self._public_calls = 0

    # ------------------------------------------------------------------ boot
    def open(self, boot: int) -> None:
        """Recover from flash and verify the retained window (raises AuditRingCorrupted).

        ``boot`` is this boot's counter, already counted: a retained record claiming a later
        boot means the counter was rolled back, and is refused like any other corruption.
        """
        self._open = False
        c = self.config
        rec = self._log.recover(boot, AuditPolicy.from_label(c.policy), round(c.high_water * 1000))
        self._space.recover(rec)
        self._issued.clear()
        self._checkpoints.suspended = False  # a new boot: its self-tests decide again
        self._open = True

    def close(self) -> None:
        """Power-off: wipe the signing seed (it comes back from the core's SSP store at the next
        boot) and refuse appends until :meth:`open`. Everything else is already in flash."""
        self._checkpoints.wipe()
        self._open = False

    # ------------------------------------------------------------- AuditSink
    def append(self, entry: AuditEntry, *, boot: int, tick_ns: int, utc_ns: int) -> int:
        """Record one SERVICE or EVENT entry durably; return its sequence number."""
        if not self._open:
            raise AuditError("audit trail not open")
        kind = int(entry.kind)
        if kind != _SERVICE and kind != _EVENT:
            raise ValueError("the core appends SERVICE and EVENT records only")
        self._space.before_entry(boot, tick_ns, utc_ns)
        log = self._log
        seq = log.next
        log.commit(_pack_entry(entry, kind, seq, boot, tick_ns, utc_ns, self._tag), kind)
        every = self._every
        if every and log.since_checkpoint >= every:
            self._maybe_periodic(Times(boot, tick_ns, utc_ns))
        return seq

    def would_block(self) -> bool:
        """True under block once only the reserve is left: the core refuses all but the drain services."""
        self._require_open()
        return self._space.would_block()

    def has_room(self, records: int) -> bool:
        """Whether ``records`` more appends fit before the ring is exhausted (always, under wrap).

        The core asks before it runs a service, so a service that could not be recorded is
        refused before it does anything rather than done and left unrecorded."""
        self._require_open()
        return self._space.has_room(records)

    def count_refusal(self) -> None:
        """A call refused for want of a slot: counted in flash, summarised by a LOSS(REFUSED) record."""
        self._require_open()
        self._space.count_refusal()

    def admits_public(self, now_ns: int, *, share: bool = True) -> bool:
        """Whether a call without an authenticated session may be recorded now (counts it if so).

        The rate (when set): at most ``public_rate`` per interval of the module's clock. The share
        (``share=False`` for the login handshake, which a drain needs even on a full ring): under
        block not past ``capacity - reserve - public_slots`` records, under wrap not past
        ``capacity - public_slots``, so a public call never takes what an authenticated one needs
        and never makes the ring overwrite an unacknowledged record."""
        if not self._open:
            return True  # the core refuses or counts calls on a trail it could not open
        c = self.config
        if share:
            used, limit = self._log.used, c.capacity - c.public_slots
            if self._log.policy is AuditPolicy.BLOCK:
                limit -= c.reserve
            if used >= limit:
                return False
        if c.public_rate is None:
            return True
        window = now_ns // max(1, round(c.public_interval_s * 1e9))
        if window != self._public_window:
            self._public_window, self._public_calls = window, 0
        if self._public_calls >= c.public_rate:
            return False
        self._public_calls += 1
        return True

    # ------------------------------------------------------------------ keys
    @property
    def has_signing_key(self) -> bool:
        return self._checkpoints.has_key

    def set_signing_key(self, private_seed: bytes) -> None:
        """Use this Ed25519 seed (kept by the core in its SSP store) for checkpoints; no record."""
        self._checkpoints.install(private_seed, load_key(private_seed))

    def public_key(self) -> bytes:
        return self._checkpoints.public_key()

    def key_statement(self) -> bytes:
        """The public key and serial, self-signed (the PUBKEY service returns this)."""
        return self._checkpoints.key_statement()

    def rotate_key(self, new_seed: bytes, *, boot: int, tick_ns: int, utc_ns: int) -> None:
        """Zeroisation handover: the old key's last act signs a checkpoint naming the new key, the
        old seed is wiped, and the new key's first checkpoint names the old one."""
        self._require_open()
        new_key = load_key(new_seed)
        t = Times(boot, tick_ns, utc_ns)
        new_public = public_bytes(new_key)
        cps, space = self._checkpoints, self._space
        old_public = cps.public_key() if cps.has_key else b""
        try:
            if cps.has_key:
                space.reserve(t, HANDOVER)
                cps.write(CheckpointReason.ZEROISATION, b"", t, LinkKind.NEXT_KEY, new_public)
        finally:  # zeroisation must wipe the old key even when its checkpoint could not be written
            cps.install(new_seed, new_key)
        space.reserve(t, HANDOVER)
        if old_public:
            cps.write(CheckpointReason.KEY_START, b"", t, LinkKind.PREV_KEY, old_public)
        else:
            cps.write(CheckpointReason.KEY_START, b"", t)

    def retire_key(self, *, boot: int, tick_ns: int, utc_ns: int) -> None:
        """Zeroisation without a DRBG to make a successor (from an error state): the old key's last
        act signs a ZEROISATION checkpoint naming no next key, then it is wiped. The key made at
        the next initialisation starts its own line of checkpoints (KEY_START, no link)."""
        self._require_open()
        t = Times(boot, tick_ns, utc_ns)
        try:
            if self._checkpoints.has_key:
                self._space.reserve(t, HANDOVER)
                self._checkpoints.write(CheckpointReason.ZEROISATION, b"", t)
        finally:
            self._checkpoints.wipe()

    # ----------------------------------------------------------- checkpoints
    @property
    def signing_suspended(self) -> bool:
        return self._checkpoints.suspended

    def suspend_signing(self) -> None:
        """Entering an error state: no cryptography from now on; checkpoints are chained, unsigned."""
        self._checkpoints.suspended = True

    def resume_signing(self, *, boot: int, tick_ns: int, utc_ns: int) -> None:
        """Out of the error state after passing self-tests (operational or, after a zeroisation,
        uninitialised): sign again, starting with a RECOVERY checkpoint (when there is a key) whose
        signed head covers every unsigned record of the error state."""
        cps = self._checkpoints
        if not cps.suspended:
            return
        self._require_open()
        cps.suspended = False
        if cps.has_key:
            t = Times(boot, tick_ns, utc_ns)
            self._space.reserve(t, INTERNAL)
            cps.write(CheckpointReason.RECOVERY, b"", t)

    def checkpoint(self, nonce: bytes = b"", *, boot: int, tick_ns: int, utc_ns: int, session_id: int = 0) -> bytes:
        """A signed, chained CHECKPOINT record on request; returns its encoded bytes. With a nonce
        and a session, it becomes the one checkpoint that session may acknowledge through."""
        self._require_open()
        if not self._checkpoints.has_key:
            raise AuditKeyMissing("no audit signing key: the module is not initialised")
        if len(nonce) > MAX_NONCE_BYTES:
            raise ValueError(f"nonce longer than {MAX_NONCE_BYTES} bytes")
        t = Times(boot, tick_ns, utc_ns)
        if self._space.exhausted():
            raise AuditRingExhausted("audit ring exhausted: acknowledge records first")
        self._space.flush_pending(t)
        self._space.reserve(t, INTERNAL)
        record = self._checkpoints.write(CheckpointReason.REQUEST, bytes(nonce), t)
        if session_id and nonce:
            issued = self._issued
            issued.pop(session_id, None)
            issued[session_id] = self._log.next - 1
            if len(issued) > _ISSUED_LIMIT:
                del issued[next(iter(issued))]  # the longest-idle session's
        return record

    def error_checkpoint(self, *, boot: int, tick_ns: int, utc_ns: int) -> bytes:
        """The core calls this on entering an error state (may use the internal reserve)."""
        self._require_open()
        t = Times(boot, tick_ns, utc_ns)
        self._space.reserve(t, INTERNAL)
        return self._checkpoints.write(CheckpointReason.ERROR, b"", t)

    def _maybe_periodic(self, t: Times) -> None:
        every = self.config.checkpoint_every
        if not every or self._log.since_checkpoint < every:
            return
        if self._space.exhausted():
            return  # keep the internal reserve; the next checkpoint comes when space frees
        self._space.reserve(t, INTERNAL)
        if self._log.since_checkpoint >= every:
            self._checkpoints.write(CheckpointReason.PERIODIC, b"", t)

    # ----------------------------------------------------------------- drain
    def export(self, from_seq: int, max_records: int) -> list[bytes]:
        """Encoded records from ``max(from_seq, oldest retained)``, at most ``max_records`` of them."""
        self._require_open()
        log = self._log
        start = max(from_seq, log.meta.floor)
        stop = min(log.next, start + max(0, max_records))
        return [log.ring.read(seq).record for seq in range(start, stop)]

    def anchor(self, from_seq: int) -> tuple[int, bytes]:
        """(first seq an export from ``from_seq`` returns, chain value before it): an export page's anchor."""
        self._require_open()
        start = min(max(from_seq, self._log.meta.floor), self._log.next)
        return start, self._log.chain_hash(start - 1)

    def chain_hash(self, seq: int) -> bytes:
        """h_seq for any seq from ``oldest retained - 1`` to ``next - 1`` (-1 gives genesis)."""
        self._require_open()
        return self._log.chain_hash(seq)

    def acknowledge(self, seq: int, head: bytes, *, session_id: int | None = None) -> None:
        """Free records up to ``seq``, only if ``head`` is the chain hash there (the core audits the ack).

        With ``session_id`` (the service always gives it), ``seq`` must also be the last checkpoint
        that session asked for with a nonce: the chain head is public (GET_STATUS, an empty export
        page's anchor), so only the checkpoint that closes the session's own verified export shows
        it drained what it frees."""
        self._require_open()
        log = self._log
        if not log.meta.floor - 1 <= seq < log.next:
            raise AuditRangeError(f"cannot acknowledge seq {seq}: retained range is "
                                  f"{log.meta.floor}..{log.next - 1}")
        if not hmac.compare_digest(log.chain_hash(seq), bytes(head)):
            raise AckDigestMismatch(f"head digest does not match the chain at seq {seq}")
        if session_id is not None and self._issued.get(session_id) != seq:
            raise AckDigestMismatch(f"seq {seq} is not the checkpoint this session asked for with its nonce: "
                                    "checkpoint with a fresh nonce, export and verify through it, then acknowledge it")
        meta = log.meta
        if seq + 1 > meta.ack_next:
            log.ring.update_meta(ack_next=seq + 1, floor=max(meta.floor, seq + 1))

    # ---------------------------------------------------------------- policy
    def set_policy(self, policy: str, high_water: float | None = None) -> None:
        """Set by the Crypto Officer (the core audits the call); kept in flash across boots."""
        self._require_open()
        if policy not in _POLICY_LABELS:
            raise ValueError(f"policy must be block or wrap, not {policy!r}")
        ring = self._log.ring
        permille = ring.meta.high_water_permille if high_water is None else round(high_water * 1000)
        if not 0 < permille <= 1000:
            raise ValueError("high_water is a fraction in (0, 1]")
        ring.update_meta(policy=AuditPolicy.from_label(policy), high_water_permille=permille)

    def policy_digest(self) -> bytes:
        meta = self._log.meta
        c = self.config
        return policy_digest(meta.policy.label, c.capacity, c.checkpoint_every, meta.high_water_permille / 1000,
                             c.reserve, c.fsync, c.lab_mode)

    def status(self) -> AuditStatus:
        self._require_open()
        log = self._log
        meta = log.meta
        used = log.used
        return AuditStatus(
            next_seq=log.next,
            oldest_retained=meta.floor,
            acked_through=meta.ack_next - 1 if meta.ack_next else None,
            used=used,
            capacity=self.config.capacity,
            policy=meta.policy.label,
            high_water=meta.high_water_permille / 1000,
            high_water_reached=used * 1000 >= meta.high_water_permille * self.config.capacity,
            would_block=self.would_block(),
            records_lost=meta.lost_total,
            records_refused=meta.refused_total,
            head=log.head,
            last_checkpoint_seq=log.last_checkpoint,
            signing_key=self._checkpoints.has_key,
            torn_slot_discarded=log.torn,
        )

    def chain_head(self) -> bytes:
        self._require_open()
        return self._log.head

    def _require_open(self) -> None:
        if not self._open:
            raise AuditError("audit trail not open")


def _pack_entry(entry: AuditEntry, kind: int, seq: int, boot: int, tick_ns: int, utc_ns: int, tag: bytes) -> bytes:
    """Encode an entry as a record; numbers out of range are recorded as the field's maximum,
    never dropped, and text is cut to fit."""
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
    return pack_record(
        kind, seq, boot, tick_ns, utc_ns, tag, code, status, entry.approved, role, session,
        entry.request_digest, entry.response_digest, operator, keys, detail,
    )


def _clamp(value: int, top: int) -> int:
    """Out-of-range numbers from a caller are recorded as the field's maximum, never dropped."""
    return value if 0 <= value <= top else top


def _clip(text: str, limit: int) -> str:
    """Cut to ``limit`` UTF-8 bytes at a character boundary (records have a fixed slot)."""
    if len(text) <= limit and text.isascii():
        return text
    raw = text.encode("utf-8", "replace")  # a lone surrogate becomes "?"
    return raw[:limit].decode("utf-8", "ignore")
