"""The host's audit archive: verified records in SQLite, append-only, continuing a chain.

As a Certificate Transparency client keeps the last verified tree head and refuses a log that
does not extend it, the archive keeps the last verified (seq, chain head) and takes only an
export that continues it under a fresh, nonce-bound checkpoint signed by a key it trusts.

One ``archive`` run:
1. checkpoint on the device with a fresh nonce; export from the archive's next seq through it
   (to a temporary file, streaming);
2. verify the file against the archive's trusted key, starting from the archived head;
3. store the verified records and checkpoints in one transaction (append-only: triggers refuse
   updates and deletes);
4. acknowledge the stored range on the device (digest-bound).
A crash between 3 and 4 loses nothing (the device still holds the records) and duplicates
nothing (the next run exports from the archive's new head). Memory stays bounded throughout.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from host_tools.audit_drain import PAGE, TrustedKey, export_through
from host_tools.audit_verify import ExportVerifier, Reason, VerifyResult
from host_tools.client import OperatorSession
from host_tools.errors import CmsimError
from module.wire.audit.chain import chain_next, genesis
from module.wire.audit.common import ZERO_DIGEST
from module.wire.audit.export import Anchor, ExportEnd, ExportFormat, ExportHeader, ExportItem, RecordBatch, RecordItem, iter_export
from module.wire.audit.record import AuditRecord, RecordKind, decode_record
from module.wire.defs import Command, Role, Status

__all__ = ["Archive", "ArchiveRefused", "ArchiveResult", "Follower", "QueryFilter"]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
BATCH = 2000  # rows per executemany

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    schema_version INTEGER NOT NULL,
    serial TEXT NOT NULL,
    public_key BLOB NOT NULL,          -- the key trusted first (from its self-signed statement)
    key_statement BLOB NOT NULL,
    last_seq INTEGER,                  -- the last archived (verified) record
    last_head BLOB                     -- the chain value after it
);
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    kind INTEGER NOT NULL,
    code INTEGER NOT NULL,
    status INTEGER NOT NULL,
    approved INTEGER NOT NULL,
    role INTEGER NOT NULL,
    operator TEXT NOT NULL,
    session_id INTEGER NOT NULL,
    boot INTEGER NOT NULL,
    tick_ns INTEGER NOT NULL,
    utc_ns INTEGER NOT NULL,
    key_ids TEXT NOT NULL,             -- space-separated, for LIKE-free lookups see record_keys
    detail TEXT NOT NULL,
    hash BLOB NOT NULL,                -- h_seq, the chain value after this record
    record BLOB NOT NULL               -- the record exactly as the module encoded it
);
CREATE TABLE IF NOT EXISTS record_keys (seq INTEGER NOT NULL, key_id INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS record_keys_key ON record_keys (key_id);
CREATE INDEX IF NOT EXISTS records_time ON records (utc_ns);
CREATE TABLE IF NOT EXISTS signers (public_key BLOB PRIMARY KEY, first_seq INTEGER NOT NULL);
-- Where the archived chain starts or restarts (its first record, and after a gap that a LOSS
-- record names): the chain value before that record, as the device's export anchored it.
CREATE TABLE IF NOT EXISTS anchors (seq INTEGER PRIMARY KEY, head BLOB NOT NULL);
-- Every acknowledgement the device accepted from this archive: a device that later names records
-- at or before the newest one as lost has forgotten it (restored from a backup): a fork.
CREATE TABLE IF NOT EXISTS acks (seq INTEGER PRIMARY KEY);
-- How far each syslog destination (`cmsim audit forward`) has been sent: the one table that is
-- updated, a cursor over the append-only records, never part of what the archive proves.
CREATE TABLE IF NOT EXISTS forwarded (destination TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
CREATE TRIGGER IF NOT EXISTS acks_no_delete BEFORE DELETE ON acks
    BEGIN SELECT RAISE(ABORT, 'the audit archive is append-only'); END;
CREATE TRIGGER IF NOT EXISTS anchors_no_update BEFORE UPDATE ON anchors
    BEGIN SELECT RAISE(ABORT, 'the audit archive is append-only'); END;
CREATE TRIGGER IF NOT EXISTS anchors_no_delete BEFORE DELETE ON anchors
    BEGIN SELECT RAISE(ABORT, 'the audit archive is append-only'); END;
CREATE TRIGGER IF NOT EXISTS records_no_update BEFORE UPDATE ON records
    BEGIN SELECT RAISE(ABORT, 'the audit archive is append-only'); END;
CREATE TRIGGER IF NOT EXISTS records_no_delete BEFORE DELETE ON records
    BEGIN SELECT RAISE(ABORT, 'the audit archive is append-only'); END;
CREATE TRIGGER IF NOT EXISTS record_keys_no_update BEFORE UPDATE ON record_keys
    BEGIN SELECT RAISE(ABORT, 'the audit archive is append-only'); END;
CREATE TRIGGER IF NOT EXISTS record_keys_no_delete BEFORE DELETE ON record_keys
    BEGIN SELECT RAISE(ABORT, 'the audit archive is append-only'); END;
CREATE TRIGGER IF NOT EXISTS signers_no_delete BEFORE DELETE ON signers
    BEGIN SELECT RAISE(ABORT, 'the audit archive is append-only'); END;
"""


class ArchiveRefused(CmsimError):
    """An export that does not extend the archive: nothing was stored."""

    def __init__(self, reason: Reason, message: str, result: VerifyResult | None = None) -> None:
        super().__init__(f"{reason.value}: {message}")
        self.reason = reason
        self.result = result

    @classmethod
    def of(cls, result: VerifyResult) -> ArchiveRefused:
        where = f" at seq {result.first_bad_seq}" if result.first_bad_seq is not None else ""
        return cls(result.reason or Reason.MALFORMED, f"{result.message}{where}", result)


@dataclass(frozen=True)
class ArchiveResult:
    stored: int  # records added this run
    last_seq: int | None  # the archive's last record after the run
    acknowledged: bool
    verify: VerifyResult


@dataclass(frozen=True)
class QueryFilter:
    since_ns: int | None = None
    until_ns: int | None = None
    operator: str | None = None
    role: Role | None = None
    service: Command | None = None
    status: Status | None = None  # outcome
    key_id: int | None = None
    limit: int | None = None


class Archive:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.db = sqlite3.connect(self.path, isolation_level=None)  # explicit transactions below
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ state
    def trusted_key(self) -> TrustedKey | None:
        row = self.db.execute("SELECT serial, public_key FROM meta WHERE id = 1").fetchone()
        return TrustedKey(row[0], bytes(row[1])) if row else None

    def current_signer(self) -> bytes | None:
        """The newest audit key that signed an archived checkpoint (trusted through the handovers)."""
        row = self.db.execute("SELECT public_key FROM signers ORDER BY first_seq DESC LIMIT 1").fetchone()
        return bytes(row[0]) if row else None

    def head(self) -> tuple[int, bytes] | None:
        """(last archived seq, chain value after it), or None for an empty archive."""
        row = self.db.execute("SELECT last_seq, last_head FROM meta WHERE id = 1").fetchone()
        return (int(row[0]), bytes(row[1])) if row and row[0] is not None else None

    def acknowledged(self) -> int | None:
        """The highest seq this archive acknowledged on the device (None before the first ack)."""
        row = self.db.execute("SELECT max(seq) FROM acks").fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def forwarded(self, destination: str) -> int | None:
        """The last seq sent to ``destination`` (None before the first)."""
        row = self.db.execute("SELECT last_seq FROM forwarded WHERE destination = ?", (destination,)).fetchone()
        return int(row[0]) if row else None

    def set_forwarded(self, destination: str, seq: int) -> None:
        self.db.execute("INSERT INTO forwarded (destination, last_seq) VALUES (?, ?) ON CONFLICT (destination) "
                        "DO UPDATE SET last_seq = excluded.last_seq", (destination, seq))

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM records").fetchone()[0])

    def bind(self, key: TrustedKey) -> None:
        """First use: trust this key (from its verified self-signed statement). Later: same module only.

        Keys after the first are never taken on the device's word: they are trusted only through
        a handover checkpoint the old key signed, which the verifier follows."""
        current = self.trusted_key()
        if current is None:
            self.db.execute("INSERT INTO meta (id, schema_version, serial, public_key, key_statement) "
                            "VALUES (1, ?, ?, ?, ?)", (SCHEMA_VERSION, key.serial, key.public_key, key.statement))
            log.info("%s: trusting the audit key %s of %s on first use", self.path, key.public_key.hex()[:16],
                     key.serial)
        elif current.serial != key.serial:
            log.warning("%s: refused the key of %s; the archive belongs to %s", self.path, key.serial,
                        current.serial)
            raise CmsimError(f"this archive belongs to {current.serial}, not {key.serial}")

    # --------------------------------------------------------------- archive
    def archive(self, session: OperatorSession, key: TrustedKey, *, acknowledge: bool = True,
                after_store: Callable[[], None] | None = None, allow_lab: bool = False,
                progress: Callable[[int, int], None] | None = None) -> ArchiveResult:
        """Pull, verify, store and acknowledge what the device has beyond the archive's head
        (``progress(done, total)`` as the records arrive)."""
        trusted = self.trusted_key()
        if trusted is None:
            raise CmsimError("bind the archive to the device's audit key first")
        nonce = os.urandom(16)
        cp = session.audit.checkpoint(nonce)
        head = self.head()
        start = head[0] + 1 if head else 0
        if cp.seq < start:  # a device's new checkpoint always lies beyond what was archived
            raise ArchiveRefused(Reason.FORK, f"the device's chain ends at seq {cp.seq}, before the archive's "
                                 f"{start - 1}: rolled back, or not the module this archive belongs to")
        with tempfile.TemporaryFile() as tmp:
            export_through(session, tmp, trusted.serial, cp.seq, from_seq=start, progress=progress)
            tmp.seek(0)
            stored, result = self.ingest(tmp, expected_nonce=nonce, allow_lab=allow_lab)
        assert result.verified_through is not None and result.verified_head is not None
        if after_store is not None:
            after_store()  # tests cut the process here to show a crash loses and duplicates nothing
        acked = False
        if acknowledge:
            session.audit.acknowledge(result.verified_through, result.verified_head)
            self.db.execute("INSERT OR IGNORE INTO acks (seq) VALUES (?)", (result.verified_through,))
            acked = True
        return ArchiveResult(stored, result.verified_through, acked, result)

    def ingest(self, export: BinaryIO, *, expected_nonce: bytes | None = None,
               allow_lab: bool = False) -> tuple[int, VerifyResult]:
        """Verify an export file (either format) as a continuation of the archive and store what a
        signed checkpoint covers, in one transaction. Refused (ArchiveRefused) with nothing stored
        unless it extends the archive's head (a LOSS record naming records from at or before the
        archive's acknowledged head is a fork). Two streaming passes over the file: verify, then store."""
        trusted = self.trusted_key()
        if trusted is None:
            raise CmsimError("bind the archive to the device's audit key first")
        head = self.head()
        start = export.tell()
        signer = self.current_signer() or trusted.public_key
        verifier = ExportVerifier(signer, expected_serial=trusted.serial, expected_nonce=expected_nonce, start=head,
                                  acknowledged=self.acknowledged(), allow_lab=allow_lab)
        result = verifier.run(iter_export(export, batch=True))
        if not result.ok or result.verified_through is None or result.verified_head is None:
            raise ArchiveRefused.of(result)
        export.seek(start)
        try:
            return self._store(iter_export(export), head, result), result
        except OverflowError as exc:  # rolled back: a seq or tick at or past 2^63 fits no SQLite INTEGER
            raise ArchiveRefused(Reason.MALFORMED, f"a record field is beyond the archive's signed 64-bit "
                                 f"integers: {exc}", result) from None

    def _store(self, items: Iterator[ExportItem], head: tuple[int, bytes] | None, result: VerifyResult) -> int:
        """One transaction: the verified records (through ``verified_through``) and the new head."""
        assert result.verified_through is not None and result.verified_head is not None
        last = result.verified_through
        h = head[1] if head else b""
        rows: list[tuple[Any, ...]] = []
        key_rows: list[tuple[int, int]] = []
        stored = 0
        self.db.execute("BEGIN IMMEDIATE")
        try:
            expected = head[0] + 1 if head else None
            for item in items:
                if isinstance(item, Anchor):
                    if item.next_seq != expected:  # the chain starts here, or restarts after a gap
                        self.db.execute("INSERT OR IGNORE INTO anchors (seq, head) VALUES (?, ?)",
                                        (item.next_seq, item.head))
                    h, expected = item.head, item.next_seq
                    continue
                if not isinstance(item, RecordItem):
                    continue
                rec = decode_record(item.data)
                h = chain_next(h, item.data)
                if rec.seq > last:
                    break
                rows.append(_row(rec, h, item.data))
                expected = rec.seq + 1
                key_rows += [(rec.seq, _sql_int(k)) for k in rec.key_ids]
                if rec.kind is RecordKind.CHECKPOINT and rec.checkpoint is not None \
                        and rec.checkpoint.statement.signer != ZERO_DIGEST:
                    signer = rec.checkpoint.statement.signer
                    self.db.execute("INSERT OR IGNORE INTO signers (public_key, first_seq) VALUES (?, ?)",
                                    (signer, rec.seq))
                if len(rows) >= BATCH:
                    stored += self._flush(rows, key_rows)
            stored += self._flush(rows, key_rows)
            if h != result.verified_head:  # the verifier proved this chain; recomputing it must agree
                raise CmsimError("internal error: stored chain differs from the verified one")
            self.db.execute("UPDATE meta SET last_seq = ?, last_head = ? WHERE id = 1", (last, result.verified_head))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return stored

    def _flush(self, rows: list[tuple[Any, ...]], key_rows: list[tuple[int, int]]) -> int:
        n = len(rows)
        if rows:
            self.db.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        if key_rows:
            self.db.executemany("INSERT INTO record_keys VALUES (?, ?)", key_rows)
        rows.clear()
        key_rows.clear()
        return n

    # ---------------------------------------------------------------- verify
    def verify(self, *, allow_lab: bool = False) -> VerifyResult:
        """Re-verify everything archived: the chain from its first record, every checkpoint's signature
        (a lab-mode trail, stored with ``allow_lab``, fails again unless ``allow_lab``)."""
        trusted = self.trusted_key()
        if trusted is None:
            raise CmsimError("empty archive")
        verifier = ExportVerifier(trusted.public_key, expected_serial=trusted.serial, allow_lab=allow_lab)
        return verifier.run(self._items(trusted.serial))

    def _items(self, serial: str) -> Iterator[ExportItem]:
        """The archive as export items: anchors where the archived chain starts or restarts."""
        yield ExportHeader(ExportFormat.BINARY, serial)
        anchors = dict(self.db.execute("SELECT seq, head FROM anchors"))
        count, head, next_seq = 0, genesis(serial), 0
        batch: list[bytes] = []
        expected: int | None = None
        for seq, record, h in self.db.execute("SELECT seq, record, hash FROM records ORDER BY seq"):
            if seq != expected:
                if batch:
                    yield RecordBatch(batch)
                    batch = []
                yield Anchor(seq, bytes(anchors.get(seq, b"")))  # a missing anchor fails verification
            batch.append(bytes(record))
            count, head, next_seq, expected = count + 1, bytes(h), seq + 1, seq + 1
            if len(batch) >= BATCH:
                yield RecordBatch(batch)
                batch = []
        if batch:
            yield RecordBatch(batch)
        yield ExportEnd(count, next_seq, head)

    # ----------------------------------------------------------------- query
    def query(self, f: QueryFilter) -> Iterator[tuple[AuditRecord, bytes]]:
        """Archived records matching the filter, with their chain values, in sequence order."""
        where: list[str] = []
        args: list[object] = []
        if f.since_ns is not None:
            where.append("utc_ns >= ?")
            args.append(f.since_ns)
        if f.until_ns is not None:
            where.append("utc_ns < ?")
            args.append(f.until_ns)
        if f.operator is not None:
            where.append("operator = ?")
            args.append(f.operator)
        if f.role is not None:
            where.append("role = ?")
            args.append(int(f.role))
        if f.service is not None:
            where.append("kind = ? AND code = ?")
            args += [int(RecordKind.SERVICE), int(f.service)]
        if f.status is not None:
            where.append("status = ?")
            args.append(int(f.status))
        if f.key_id is not None:
            where.append("seq IN (SELECT seq FROM record_keys WHERE key_id = ?)")
            args.append(_sql_int(f.key_id))
        sql = "SELECT record, hash FROM records" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq"
        if f.limit is not None:
            sql += f" LIMIT {int(f.limit)}"
        for record, h in self.db.execute(sql, args):
            yield decode_record(bytes(record)), bytes(h)

    def records_after(self, seq: int | None, limit: int = -1) -> list[tuple[AuditRecord, bytes]]:
        """Archived records after ``seq`` (from the first for None), at most ``limit`` of them (all
        for -1), with their chain values, in order."""
        rows = self.db.execute("SELECT record, hash FROM records WHERE seq > ? ORDER BY seq LIMIT ?",
                               (-1 if seq is None else seq, limit)).fetchall()
        return [(decode_record(bytes(record)), bytes(h)) for record, h in rows]

    def last_records(self, count: int) -> list[tuple[AuditRecord, bytes]]:
        """The newest ``count`` archived records, in order."""
        rows = self.db.execute("SELECT record, hash FROM (SELECT seq, record, hash FROM records ORDER BY seq DESC "
                               "LIMIT ?) ORDER BY seq", (count,)).fetchall()
        return [(decode_record(bytes(record)), bytes(h)) for record, h in rows]


@dataclass
class Follower:
    """Keeps an archive drained from a running device, one :meth:`step` at a time (`cmsim audit
    follow` loops over it; tests drive it step by step).

    The follower's own calls are records too, so a step that drained on every look would never be
    idle: a step reads one page past the archive's head and drains only when a record there is not
    of the follower's session, or a page of its own has piled up."""

    archive: Archive
    session: OperatorSession
    key: TrustedKey
    allow_lab: bool = False
    progress: Callable[[int, int], None] | None = None

    def pending(self) -> bool:
        """Whether the device holds records past the archive's head that call for a drain."""
        head = self.archive.head()
        page = self.session.audit.export(head[0] + 1 if head else 0, PAGE)
        own = self.session.session_id
        return len(page.records) >= PAGE or any(decode_record(r).session_id != own for r in page.records)

    def step(self) -> list[tuple[AuditRecord, bytes]]:
        """Drain if there is anything new; the records this step archived (none when idle)."""
        if not self.pending():
            return []
        head = self.archive.head()
        self.archive.archive(self.session, self.key, allow_lab=self.allow_lab, progress=self.progress)
        return self.archive.records_after(head[0] if head else None)


def _sql_int(value: int) -> int:
    """A u64 key id as SQLite's signed 64-bit INTEGER (two's complement): a record of a refused call
    carries the key id the caller sent, any u64, and must still be stored and found."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _row(rec: AuditRecord, h: bytes, data: bytes) -> tuple[Any, ...]:
    return (rec.seq, int(rec.kind), rec.code, rec.status, int(rec.approved), rec.role, rec.operator, rec.session_id,
            rec.boot, rec.tick_ns, rec.utc_ns, " ".join(str(k) for k in rec.key_ids), rec.detail, h, data)
