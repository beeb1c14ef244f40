"""Audit records as people and log pipelines read them: one stable dict per record, written as JSON
Lines, CSV or RFC 5424 syslog, from the SQLite archive or straight from an export file.

Apart from :mod:`host_tools.archive`, which only stores and verifies: the same shapes serve
`cmsim audit query`, `audit tail`, `audit show` and the demo.
"""

from __future__ import annotations

import csv
import json
import socket
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Any, BinaryIO, TextIO

from rich.markup import escape

from module.wire.audit.chain import chain_next
from module.wire.audit.checkpoint import CheckpointReason
from module.wire.audit.export import Anchor, RecordItem, iter_export
from module.wire.audit.record import AuditRecord, LossReason, RecordKind, decode_record
from module.wire.defs import AuditEvent, Command, Role, Status

__all__ = ["FORMATS", "code_name", "one_line", "cell", "record_dict", "write_records", "syslog_message", "export_file_records"]

# What would end or split a line in a log pipeline or a terminal: escaped wherever text goes out.
_LINE_ESCAPES = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}


def one_line(text: str) -> str:
    """``text`` with CR, LF and every other control character written as an escape (a backslash
    is doubled), so that no record's text can end its line or forge the next one."""
    if text.isprintable() and "\\" not in text:
        return text
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char in _LINE_ESCAPES:
            out.append(_LINE_ESCAPES[char])
        elif not char.isprintable() and char != " ":
            out.append(f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return "".join(out)


def cell(text: str) -> str:
    """Text for a table cell a person reads: one line, and no rich markup of its own."""
    return escape(one_line(text))


def code_name(rec: AuditRecord) -> str:
    """The name of the record's code (service, event, checkpoint or loss reason); hex when unknown."""
    enums: dict[RecordKind, Any] = {RecordKind.SERVICE: Command, RecordKind.EVENT: AuditEvent,
                                    RecordKind.CHECKPOINT: CheckpointReason, RecordKind.LOSS: LossReason}
    try:
        return str(enums[rec.kind](rec.code).name)
    except ValueError:
        return f"0x{rec.code:04x}"


def record_dict(rec: AuditRecord, h: bytes = b"") -> dict[str, Any]:
    """The stable JSON shape of one record (what --json, jsonl and csv show)."""
    return {
        "seq": rec.seq, "kind": rec.kind.name, "code": rec.code, "name": code_name(rec),
        "status": Status(rec.status).name if rec.status in Status._value2member_map_ else rec.status,
        "approved": rec.approved, "role": Role(rec.role).name if rec.role in Role._value2member_map_ else rec.role,
        "operator": rec.operator, "session_id": rec.session_id, "boot": rec.boot,
        "time": datetime.fromtimestamp(rec.utc_ns / 1e9, timezone.utc).isoformat(timespec="microseconds"),
        "key_ids": list(rec.key_ids), "detail": rec.detail or _body_detail(rec),
        "request_digest": rec.request_digest.hex(),
        "response_digest": rec.response_digest.hex(), **({"hash": h.hex()} if h else {}),
    }


def _body_detail(rec: AuditRecord) -> str:
    """A LOSS record's counts, which live in its body (module-made records carry no detail text)."""
    loss = rec.loss
    if loss is None:
        return ""
    if rec.code == LossReason.REFUSED:
        return f"{loss.count} calls refused unrecorded (total {loss.total})"
    return f"records {loss.first_seq}..{loss.last_seq} lost, {loss.count} by this drop (total {loss.total})"


def syslog_message(rec: AuditRecord, h: bytes) -> str:
    """RFC 5424: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG. Facility 13 (log audit)."""
    severity = 6 if rec.status == 0 else 4  # informational, or warning for a refusal or failure
    d = record_dict(rec, h)
    sd = (f'[cmsim@32473 seq="{rec.seq}" hash="{h.hex()}" status="{d["status"]}" role="{d["role"]}" '
          f'operator="{_sd_escape(one_line(rec.operator))}" approved="{int(rec.approved)}"]')
    msg = f"{d['kind']} {d['name']} {d['status']}" + (f": {one_line(d['detail'])}" if d["detail"] else "")
    return f"<{13 * 8 + severity}>1 {d['time'].replace('+00:00', 'Z')} {socket.gethostname()} cmsim - {d['kind']} {sd} {msg}"


def _sd_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def write_records(records: Iterable[tuple[AuditRecord, bytes]], out: TextIO, fmt: str) -> int:
    n = 0
    if fmt == "csv":
        writer: Any = None
        for rec, h in records:
            d = {k: one_line(v) if isinstance(v, str) else v for k, v in record_dict(rec, h).items()}
            d["key_ids"] = " ".join(str(k) for k in rec.key_ids)
            if writer is None:
                writer = csv.DictWriter(out, fieldnames=list(d))
                writer.writeheader()
            writer.writerow(d)
            n += 1
        return n
    for rec, h in records:
        out.write((json.dumps(record_dict(rec, h), separators=(",", ":")) if fmt == "jsonl" else syslog_message(rec, h)) + "\n")
        n += 1
    return n


FORMATS = ("jsonl", "csv", "syslog")


def export_file_records(fileobj: BinaryIO) -> Iterator[tuple[AuditRecord, bytes]]:
    """Records of an export file with their chain values (for `audit tail` and queries on files)."""
    h = b""
    for item in iter_export(fileobj):
        if isinstance(item, Anchor):
            h = item.head
        elif isinstance(item, RecordItem):
            h = chain_next(h, item.data)
            yield decode_record(item.data), h

