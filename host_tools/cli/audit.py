"""`cmsim audit`: the audit trail's public key, export, offline verification, acknowledgement,
checkpoint, policy, tail, SQLite archive (once, or following a running device), syslog forwarding,
query and show."""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

import click
from rich.table import Table

from host_tools.archive import Archive, ArchiveRefused, Follower, QueryFilter
from host_tools.audit_key_file import AuditKeyFile, UnvouchedKeyError
from host_tools.audit_drain import TrustedKey, export_through, fetch_public_key
from host_tools.audit_formats import FORMATS, cell, code_name, export_file_records, record_dict, write_records
from host_tools.audit_verify import Reason, VerifyResult, verify_export
from host_tools.cli.context import (
    EXIT_FILE,
    EXIT_INTERRUPTED,
    EXIT_NO_DEVICE,
    EXIT_UNPROVEN,
    EXIT_VERIFY,
    HEX,
    INPUT_FILE,
    OUTPUT_FILE,
    CommandSession,
    Ctx,
    Emit,
    atomic_output,
    fail,
    jsonable,
    pass_ctx,
    with_session,
)
from host_tools.cli.names import ROLES
from host_tools.errors import TransportError
from host_tools.known_devices import KnownDevices
from host_tools.syslog_forward import SyslogTarget, forward
from module.wire.audit.common import AuditFormatError
from module.wire.audit.export import ExportFormat
from module.wire.audit.record import AuditRecord, decode_record
from module.wire.defs import AuditPolicy, Command, Role, Status

__all__ = ["COMMANDS", "audit"]


@click.group()
def audit() -> None:
    """The audit trail: public key, export, offline verification, drain, archive, query."""


@audit.command("pubkey")
@click.option("--out", "outfile", type=OUTPUT_FILE, default="-",
              help="Where to write the audit key file (binary: the key statement and the identity's signature).")
@pass_ctx
def audit_pubkey(c: Ctx, outfile: str) -> None:
    """The audit public key, its self-signed statement and the device identity's signature over it
    (no login): the file `audit verify`, `ack` and `archive --import` trust through the pinned identity."""
    k = fetch_public_key(c.device())
    c.identity_notice()
    if outfile != "-":
        with atomic_output(outfile) as f:
            f.write(k.key_file)
    elif not c.as_json:
        sys.stdout.buffer.write(k.key_file)
        return
    c.emit({"serial": k.serial, "public_key": k.public_key, "fingerprint": c.device().identity().fingerprint,
            "out": outfile},
           lambda: click.echo(f"{k.serial} audit key {k.public_key.hex()} -> {outfile}", err=True))


def _load_pubkey(c: Ctx, path: str) -> TrustedKey:
    """The audit key of an `audit pubkey --out` file, trusted only through the identity that signs it
    and the pin store (or --expect-fingerprint): a file alone proves nothing about who made it."""
    data = Path(path).read_bytes()
    try:
        key_file = AuditKeyFile.parse(data)
    except AuditFormatError as exc:
        fail(EXIT_FILE, f"{path}: not an audit key file (as `cmsim audit pubkey --out` writes): {exc}")
    known = KnownDevices()
    try:
        statement, newly = key_file.trust(known, c.expect_fingerprint)
    except UnvouchedKeyError as exc:
        fail(EXIT_VERIFY, f"{path}: {exc}")
    if newly:
        click.echo(f"cmsim: pinned device {statement.serial} with identity fingerprint {key_file.fingerprint} "
                   f"in {known.path} (from {path})", err=True)
    return TrustedKey(statement.serial, statement.public_key, key_file.statement, data)


def _is_archive(db: str) -> bool:
    """Whether ``db`` is an SQLite file holding an archive's meta table, read without writing to it."""
    try:
        con = sqlite3.connect(f"{Path(db).resolve().as_uri()}?mode=ro", uri=True)
        try:
            return con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone() \
                is not None
        finally:
            con.close()
    except sqlite3.DatabaseError:
        return False


@contextmanager
def _archive(db: str, create: bool = False) -> Iterator[Archive]:
    """The SQLite archive at ``db`` (a new one only with ``create``); a file that is not one is a
    one-line error (exit 7), and is never written to."""
    exists = Path(db).exists() and Path(db).stat().st_size > 0
    if (exists or not create) and not _is_archive(db):
        fail(EXIT_FILE, f"{db}: not a cmsim audit archive (made by `cmsim audit archive --db`)")
    try:
        archive = Archive(db)
    except sqlite3.DatabaseError as exc:
        fail(EXIT_FILE, f"{db}: not a cmsim audit archive (SQLite): {exc}")
    with archive:
        try:
            yield archive
        except sqlite3.DatabaseError as exc:
            fail(EXIT_FILE, f"{db}: not a cmsim audit archive, or a damaged one: {exc}")


def _format_of(path: str, given: str | None) -> ExportFormat:
    if given:
        return ExportFormat.JSONL if given == "jsonl" else ExportFormat.BINARY
    return ExportFormat.JSONL if path.endswith(".jsonl") else ExportFormat.BINARY


@audit.command("export")
@click.option("--out", "outfile", required=True, type=OUTPUT_FILE)
@click.option("--format", "fmt", type=click.Choice(["jsonl", "binary"]), help="Default: by extension (.jsonl).")
@click.option("--from", "from_seq", type=int, default=0, show_default=True)
@with_session
def audit_export(c: Ctx, s: CommandSession, outfile: str, fmt: str | None, from_seq: int) -> Emit:
    """Checkpoint with a fresh nonce, then export everything retained up to it (Auditor or CO)."""
    nonce = os.urandom(16)
    session = s.open()  # logged in before the output file is created
    with atomic_output(outfile) as out, c.progress("export") as bar:
        cp = session.audit.checkpoint(nonce)
        statement = decode_record(cp.record).checkpoint
        assert statement is not None  # the checkpoint service answers with a checkpoint record
        serial = statement.statement.serial  # from the session: no clear GET_STATUS, which a full ring may refuse
        count = export_through(session, out, serial, cp.seq, from_seq=from_seq, fmt=_format_of(outfile, fmt),
                               progress=bar)
    return Emit({"records": count, "checkpoint_seq": cp.seq, "nonce": nonce, "out": outfile},
                lambda: click.echo(f"{count} records through checkpoint {cp.seq} -> {outfile} (nonce {nonce.hex()})"))


def _report(c: Ctx, result: VerifyResult, what: str, trusted: bytes | None = None, *, need_fresh: bool = False) -> None:
    """OK (exit 0), UNPROVEN (exit 9: signed, but no nonce proves the tail) or FAILED (exit 5)."""
    unproven = result.ok and need_fresh and not result.fresh
    verdict = "UNPROVEN" if unproven else "OK" if result.ok else "FAILED"
    data = {"ok": result.ok, "verdict": verdict, "fresh": result.fresh,
            "reason": result.reason.value if result.reason else None,
            "first_bad_seq": result.first_bad_seq, "message": result.message, "records": result.records,
            "verified_through": result.verified_through, "checkpoints": result.checkpoints,
            "serial": result.serial, "lab": result.lab}
    c.emit(data, lambda: click.echo(f"{what}: {verdict}, {result.message}" if result.ok else
                                     f"{what}: FAILED {_failure(result, trusted)}"))
    if not result.ok:
        sys.exit(EXIT_VERIFY)
    if unproven:
        sys.exit(EXIT_UNPROVEN)


def _failure(result: VerifyResult, trusted: bytes | None = None) -> str:
    """A failed verification in words: what the file is not, whose it is, or where the chain broke and why."""
    reason = result.reason
    if reason is Reason.BAD_SIGNATURE and trusted is not None and result.keys and trusted not in result.keys:
        return (f"BAD_SIGNATURE at seq {result.first_bad_seq}: an export of another module (serial "
                f"{result.serial}): none of its checkpoints is signed by the key given ({result.message})")
    if reason is Reason.MALFORMED and result.first_bad_seq is None and not result.records:
        return f"MALFORMED: {_not_export_text(result.message)}"
    if reason is Reason.FOREIGN_MODULE:
        return f"FOREIGN_MODULE: an export of another module ({result.message})"
    where = f" at seq {result.first_bad_seq}" if result.first_bad_seq is not None else ""
    return f"{reason.value if reason else ''}{where}: {result.message}"


@audit.command("verify")
@click.argument("export_file", required=False, type=INPUT_FILE)
@click.option("--pubkey", type=INPUT_FILE, help="Audit key file from `audit pubkey --out` (checked against the pinned identity).")
@click.option("--nonce", type=HEX, help="Require a checkpoint binding this nonce (hex).")
@click.option("--db", type=INPUT_FILE, help="Re-verify a whole archive instead.")
@click.option("--allow-lab", is_flag=True, help="Accept a lab-mode (fault injection) trail; reported as such.")
@pass_ctx
def audit_verify(c: Ctx, export_file: str | None, pubkey: str | None, nonce: bytes | None, db: str | None,
                 allow_lab: bool) -> None:
    """Offline, no device: exit 0 when the export (or archive) verifies, 5 with the reason otherwise,
    9 when it verifies without --nonce (freshness and completeness at the tail unproven)."""
    if db:
        with _archive(db) as archive:
            _report(c, archive.verify(allow_lab=allow_lab), db)
        return
    if not export_file or not pubkey:
        raise click.UsageError("give EXPORT_FILE and --pubkey, or --db")
    trusted = _load_pubkey(c, pubkey)
    size = Path(export_file).stat().st_size
    with open(export_file, "rb") as f, c.progress("verify", unit="bytes") as bar:
        counted = io.BufferedReader(_Counting(f, lambda n: bar(n, size)))
        result = verify_export(counted, trusted.public_key, expected_serial=trusted.serial,
                               expected_nonce=nonce or None, allow_lab=allow_lab)
    _report(c, result, export_file, trusted.public_key, need_fresh=True)


class _Counting(io.RawIOBase):
    """A read-only file wrapper that reports how far the reader got (for a progress bar)."""

    def __init__(self, f: BinaryIO, report: Callable[[int], None]) -> None:
        self._f, self._report, self._done = f, report, 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self._done += len(data)
        self._report(self._done)
        return data

    def readinto(self, buf: Any) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)


@audit.command("ack")
@click.argument("export_file", type=INPUT_FILE)
@click.option("--pubkey", type=INPUT_FILE, required=True)
@with_session
def audit_ack(c: Ctx, s: CommandSession, export_file: str, pubkey: str) -> Emit | None:
    """Verify an export, then acknowledge on the device what it proved (frees those records).

    The device frees records only through a checkpoint this session asked for with its own nonce,
    so the records after the file's last checkpoint are exported and verified again up to one."""
    trusted = _load_pubkey(c, pubkey)
    with open(export_file, "rb") as f:
        result = verify_export(f, trusted.public_key, expected_serial=trusted.serial)
    if not result.ok or result.verified_through is None or result.verified_head is None:
        _report(c, result, export_file, trusted.public_key)
        return None
    nonce = os.urandom(16)
    session = s.open()
    cp = session.audit.checkpoint(nonce)
    rest = io.BytesIO()
    export_through(session, rest, trusted.serial, cp.seq, from_seq=result.verified_through + 1)
    rest.seek(0)
    fresh = verify_export(rest, result.keys[-1] if result.keys else trusted.public_key,
                          expected_serial=trusted.serial, expected_nonce=nonce,
                          start=(result.verified_through, result.verified_head))
    if not fresh.ok or fresh.verified_through is None or fresh.verified_head is None:
        _report(c, fresh, "the records after the file")
        return None
    oldest = s.audit.acknowledge(fresh.verified_through, fresh.verified_head)
    return Emit({"acknowledged_through": fresh.verified_through, "oldest_retained": oldest})


@audit.command("checkpoint")
@click.option("--nonce", type=HEX, default="", help="Hex nonce to bind (freshness).")
@with_session
def audit_checkpoint(c: Ctx, s: CommandSession, nonce: bytes) -> Emit:
    """A signed checkpoint now, binding the nonce (Auditor or CO)."""
    cp = s.audit.checkpoint(nonce)
    return Emit({"seq": cp.seq, "checkpoint": cp.record})


@audit.command("policy")
@click.argument("policy", type=click.Choice(["block", "wrap"]))
@click.option("--high-water", type=click.IntRange(1, 1000), help="High-water mark in permille.")
@with_session
def audit_policy(c: Ctx, s: CommandSession, policy: str, high_water: int | None) -> Emit:
    """Full-ring policy (Crypto Officer)."""
    digest_ = s.audit.set_policy(AuditPolicy[policy.upper()], high_water)
    return Emit({"policy": policy, "policy_digest": digest_})


@audit.command("tail")
@click.option("-n", "count", type=click.IntRange(1, 256), default=20, show_default=True)
@with_session
def audit_tail(c: Ctx, s: CommandSession, count: int) -> _Records:
    """The newest records (Auditor or CO)."""
    first = max(0, s.audit.export(0, 0).next_seq - count)
    page = s.audit.export(first, count)
    return _Records(page.records)


@dataclass(frozen=True)
class _Records:
    """Encoded records, shown as `_records_out` shows them once the session is closed."""

    encoded: list[bytes]

    def show(self, c: Ctx) -> None:
        records = [decode_record(r) for r in self.encoded]
        _records_out(c, [(r, b"") for r in records])


def _records_out(c: Ctx, records: list[Any]) -> None:
    if c.as_json:
        c.emit({"records": [record_dict(r, h) for r, h in records]})
        return
    if not c.tty:
        write_records(iter(records), sys.stdout, "jsonl")
        return
    table = Table("seq", "time (UTC)", "kind", "name", "operator", "status", "detail")
    for r, _ in records:
        d = record_dict(r)
        table.add_row(str(r.seq), d["time"][11:23], r.kind.name, code_name(r), cell(r.operator) or "-",
                      str(d["status"]), cell(r.detail[:40]))
    c.console.print(table)


@audit.command("archive")
@click.option("--db", required=True, type=OUTPUT_FILE, help="SQLite archive (created on first use).")
@click.option("--import", "import_file", type=INPUT_FILE,
              help="Offline: take this export file instead of the device (nothing is acknowledged).")
@click.option("--pubkey", type=INPUT_FILE,
              help="Audit key file to bind a new archive to (default: fetched from the device).")
@click.option("--allow-lab", is_flag=True, help="Store a lab-mode (fault injection) trail.")
@pass_ctx
def audit_archive(c: Ctx, db: str, import_file: str | None, pubkey: str | None, allow_lab: bool) -> None:
    """Pull new records, verify them against the archive, store them, then acknowledge them."""
    started = time.perf_counter()
    with _archive(db, create=True) as archive:
        trusted = _bound(c, archive, pubkey)
        with _whose_refusal(c, archive, trusted, import_file):
            if import_file:
                with open(import_file, "rb") as f, _not_an_export(import_file):
                    stored, verified = archive.ingest(f, allow_lab=allow_lab)
                last, acked = verified.verified_through, False
            else:
                with c.session() as s, c.progress("archive") as bar:
                    result = archive.archive(s, trusted, allow_lab=allow_lab, progress=bar)
                stored, last, acked = result.stored, result.last_seq, result.acknowledged
    elapsed = time.perf_counter() - started
    c.emit({"stored": stored, "last_seq": last, "acknowledged": acked, "seconds": round(elapsed, 3)},
           lambda: click.echo(f"{stored} records archived in {elapsed:.2f} s, through seq {last}"
                              + (", acknowledged on the device" if acked else "")))


def _bound(c: Ctx, archive: Archive, pubkey: str | None) -> TrustedKey:
    """The archive's trusted key: on first use the audit key file given, else the device's (vouched for by its pinned identity)."""
    if archive.trusted_key() is None:
        archive.bind(_load_pubkey(c, pubkey) if pubkey else fetch_public_key(c.device()))
    trusted = archive.trusted_key()
    assert trusted is not None
    return trusted


@contextmanager
def _whose_refusal(c: Ctx, archive: Archive, trusted: TrustedKey, import_file: str | None = None) -> Iterator[None]:
    """An archive refusal that is another module's trail is said so (exit 5 either way)."""
    try:
        yield
    except ArchiveRefused as exc:
        whose = _another_module(c, archive, trusted, exc, import_file)
        if whose is None:
            raise
        fail(EXIT_VERIFY, f"archive refused the export, nothing stored: {whose} ({exc})")


class _Interrupted(Exception):
    """Raised by the Ctrl-C handler into a wait between steps (never into a step)."""


class _StopRequest:
    """Ctrl-C as a request to stop a loop of steps: a wait between steps ends at once, a step in
    progress (a drain, a batch sent) finishes first, so the archive, the device's acknowledgement and
    the syslog cursor agree; a second Ctrl-C interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._waiting = False

    def _handler(self, signum: int, frame: object) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if self._waiting:
            raise _Interrupted

    def wait(self, seconds: float) -> None:
        """The poll interval (a command's own pause between looks at the device, not a test's)."""
        try:
            self._waiting = True
            if not self.requested:
                time.sleep(seconds)
        except _Interrupted:
            pass
        finally:
            self._waiting = False

    @contextmanager
    def installed(self) -> Iterator[_StopRequest]:
        previous = signal.signal(signal.SIGINT, self._handler)
        try:
            yield self
        except _Interrupted:  # the handler ran in the instant a wait began or ended
            self.requested = True
        finally:
            signal.signal(signal.SIGINT, previous)


def _follow(c: Ctx, archive: Archive, trusted: TrustedKey, *, interval: float, allow_lab: bool,
            on_start: Callable[[Follower], None], on_new: Callable[[Follower, list[Any]], None],
            stop_with: _StopRequest) -> NoReturn:
    """Catch up (with progress), then step the follower every ``interval`` seconds until Ctrl-C (exit
    130) or until the device goes away (exit 6); the archive is consistent either way."""
    with c.session() as s:
        follower = Follower(archive, s, trusted, allow_lab=allow_lab)
        with c.progress("archive") as bar, _whose_refusal(c, archive, trusted):
            archive.archive(s, trusted, allow_lab=allow_lab, progress=bar)  # a Ctrl-C here rolls back
        on_start(follower)
        try:
            with stop_with.installed() as stop:
                while not stop.requested:
                    on_new(follower, follower.step())
                    stop.wait(interval)
        except (TransportError, OSError) as exc:
            fail(EXIT_NO_DEVICE, f"the device went away ({exc}); {_through(archive)}")
    fail(EXIT_INTERRUPTED, f"stopped; {_through(archive)}")


def _through(archive: Archive) -> str:
    head = archive.head()
    return f"the archive holds everything through seq {head[0]}" if head else "the archive is empty"


def _record_line(c: Ctx, record: AuditRecord, h: bytes) -> None:
    """One record as it arrives: a table-like line on a terminal, else (and with --json) a JSON line."""
    d = record_dict(record, h)
    if c.tty:
        click.echo(f"{record.seq:>8} {d['time'][11:23]} {record.kind.name:<10} {code_name(record):<18} "
                   f"{cell(record.operator) or '-':<10} {d['status']} {cell(record.detail[:60])}".rstrip())
    else:
        click.echo(json.dumps(jsonable(d), separators=(",", ":")))
    sys.stdout.flush()


@audit.command("follow")
@click.option("--db", required=True, type=OUTPUT_FILE, help="SQLite archive (created on first use).")
@click.option("-n", "lines", type=click.IntRange(min=0), default=10, show_default=True,
              help="Archived records to show before following.")
@click.option("--interval", type=click.FloatRange(min=0.05), default=1.0, show_default=True,
              help="Seconds between looks at the device.")
@click.option("--all", "show_all", is_flag=True, help="Show the follower's own calls too (archived either way).")
@click.option("--pubkey", type=INPUT_FILE, help="Key statement to bind a new archive to (default: the device's).")
@click.option("--allow-lab", is_flag=True, help="Store a lab-mode (fault injection) trail.")
@pass_ctx
def audit_follow(c: Ctx, db: str, lines: int, interval: float, show_all: bool, pubkey: str | None,
                 allow_lab: bool) -> None:
    """Keep draining a running device into the archive, printing new records as they come (as
    `journalctl -f`): each is verified, stored and acknowledged first (Auditor or CO).

    Ctrl-C stops it (exit 130) once the step in progress is done; a device that goes away ends it
    (exit 6). Either way the archive holds every record it printed, and the next run goes on from there."""
    with _archive(db, create=True) as archive:
        trusted = _bound(c, archive, pubkey)

        def show(follower: Follower, records: list[Any]) -> None:
            for record, h in records:
                if show_all or record.session_id != follower.session.session_id:
                    _record_line(c, record, h)

        _follow(c, archive, trusted, interval=interval, allow_lab=allow_lab,
                on_start=lambda f: show(f, archive.last_records(lines) if lines else []),
                on_new=show, stop_with=_StopRequest())


@audit.command("forward")
@click.option("--db", required=True, type=OUTPUT_FILE, help="The SQLite archive whose records are sent.")
@click.option("--syslog", "url", required=True, metavar="tcp://HOST:PORT",
              help="Syslog server: RFC 5424 messages over TCP, octet-counted (RFC 6587).")
@click.option("--follow", "live", is_flag=True,
              help="Keep draining the device into the archive (as `audit follow`) and forward as records come.")
@click.option("--interval", type=click.FloatRange(min=0.05), default=1.0, show_default=True,
              help="With --follow: seconds between looks at the device.")
@click.option("--pubkey", type=INPUT_FILE, help="With --follow: key statement to bind a new archive to.")
@click.option("--allow-lab", is_flag=True, help="With --follow: store a lab-mode (fault injection) trail.")
@pass_ctx
def audit_forward(c: Ctx, db: str, url: str, live: bool, interval: float, pubkey: str | None,
                  allow_lab: bool) -> None:
    """Send the archive's records to a syslog server, each once and in order, with its seq and chain
    hash in the structured data; the archive keeps how far each server got, so a rerun goes on from
    there and sends nothing twice. Exit 7 when the server cannot be reached or drops the connection,
    130 on Ctrl-C (after the batch in progress), 6 when the followed device goes away."""
    try:
        target = SyslogTarget.parse(url)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--syslog")
    with _archive(db, create=live) as archive:
        try:
            sock = target.connect(c.timeout)
        except OSError as exc:
            fail(EXIT_FILE, f"syslog server {target.destination}: cannot connect: {exc.strerror or exc}")
        with sock:
            stop = _StopRequest()

            def send(*_: object) -> None:
                try:
                    sent = forward(archive, sock, target.destination, stop=lambda: stop.requested)
                except OSError as exc:
                    fail(EXIT_FILE, f"syslog server {target.destination}: {exc.strerror or exc}; "
                                    f"sent through seq {archive.forwarded(target.destination)}")
                if sent and not c.as_json and sys.stderr.isatty():
                    click.echo(f"{sent} records -> {target.destination}", err=True)

            if live:
                _follow(c, archive, _bound(c, archive, pubkey), interval=interval, allow_lab=allow_lab,
                        on_start=send, on_new=send, stop_with=stop)
            with stop.installed():
                before = archive.forwarded(target.destination)
                sent = forward(archive, sock, target.destination, stop=lambda: stop.requested)
        last = archive.forwarded(target.destination)
    if stop.requested:
        fail(EXIT_INTERRUPTED, f"stopped; sent through seq {last}")
    c.emit({"sent": sent, "through_seq": last, "destination": target.destination, "previously_through": before},
           lambda: click.echo(f"{sent} records sent to {target.destination}, through seq {last}"))


def _another_module(c: Ctx, archive: Archive, trusted: TrustedKey, exc: ArchiveRefused,
                    import_file: str | None) -> str | None:
    """Whether a refusal is another module's trail rather than a fork or rollback of this one: none
    of the export's checkpoints is signed by a key the archive trusts (an imported file is verified
    again on its own to see its signers), or, for a device whose chain ends before the archive's
    head, the device's own audit key is not one of them."""
    known = {trusted.public_key} | ({signer} if (signer := archive.current_signer()) else set())
    result = exc.result
    if import_file is not None and (result is None or not result.keys):
        with open(import_file, "rb") as f:
            result = verify_export(f, trusted.public_key, expected_serial=trusted.serial)
    if result is not None and result.keys and not known.intersection(result.keys):
        return "an export of another module: none of its checkpoints is signed by this archive's audit key"
    if exc.reason is Reason.FORK and import_file is None:
        device_key = fetch_public_key(c.device()).public_key
        if device_key not in known:
            return (f"the device is another module: its audit key {device_key.hex()[:16]}... is not the one "
                    "this archive trusts")
    return None


def _time(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """An ISO 8601 time as nanoseconds since the epoch (UTC when no zone is given)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time (e.g. 2026-12-01 or 2026-12-01T08:00:00+01:00)")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1e9)


@audit.command("query")
@click.option("--db", required=True, type=INPUT_FILE)
@click.option("--since", "since_ns", callback=_time, help="ISO 8601 time (UTC when no zone).")
@click.option("--until", "until_ns", callback=_time, help="ISO 8601 time (UTC when no zone).")
@click.option("--operator", "op")
@click.option("--role", type=click.Choice(sorted(ROLES) + ["none"]))
@click.option("--service", type=click.Choice(sorted(c.name.lower() for c in Command)))
@click.option("--status", "outcome", type=click.Choice(sorted(s.name.lower() for s in Status)))
@click.option("--key-id", type=int)
@click.option("--limit", type=int)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="jsonl", show_default=True)
def audit_query(db: str, since_ns: int | None, until_ns: int | None, op: str | None, role: str | None,
                service: str | None, outcome: str | None, key_id: int | None, limit: int | None, fmt: str) -> None:
    """Archived records by time, operator, role, service, outcome or key; jsonl, csv or RFC 5424 syslog."""
    f = QueryFilter(
        since_ns=since_ns, until_ns=until_ns, operator=op,
        role=(Role.NONE if role == "none" else ROLES[role]) if role else None,
        service=Command[service.upper()] if service else None, status=Status[outcome.upper()] if outcome else None,
        key_id=key_id, limit=limit,
    )
    with _archive(db) as archive:
        write_records(archive.query(f), sys.stdout, fmt)


@audit.command("show")
@click.argument("export_file", type=INPUT_FILE)
@pass_ctx
def audit_show(c: Ctx, export_file: str) -> None:
    """The records of an export file (no verification: use `audit verify`)."""
    with open(export_file, "rb") as f, _not_an_export(export_file):
        records = list(export_file_records(f))
    _records_out(c, records)


@contextmanager
def _not_an_export(path: str) -> Iterator[None]:
    """A file that does not parse as an export is a one-line error naming it (exit 7)."""
    try:
        yield
    except AuditFormatError as exc:
        fail(EXIT_FILE, f"{path}: {_not_export_text(str(exc))}")


def _not_export_text(detail: str) -> str:
    what = "not a cmsim audit export (JSON Lines or binary, as `cmsim audit export` writes)"
    return what if detail.startswith("not a cmsim audit export") else f"{what}: {detail}"


COMMANDS = [audit]
