"""Export files: what a host writes as it drains the module, and the one reader of them.

Two layouts carry the same items: a binary one (magic, header, tagged items) and JSON Lines.
A file is a header, then per page an anchor and its records, then one end marker.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any, BinaryIO, ClassVar, Final, NamedTuple, Union

from module.wire.audit.chain import MAX_SERIAL_BYTES, chain_next, check_serial, genesis
from module.wire.audit.common import (
    FORMAT_VERSION,
    HASH_SIZE,
    U64_MAX,
    AuditFormatError,
    TruncatedError,
    UnknownVersionError,
    decode_utf8,
)
from module.wire.audit.record import RecordKind

__all__ = [
    "EXPORT_VERSION",
    "ExportFormat",
    "ExportHeader",
    "Anchor",
    "RecordItem",
    "RecordBatch",
    "ExportEnd",
    "ExportItem",
    "ExportWriter",
    "iter_export",
    "write_export",
]

EXPORT_VERSION: Final = 1  # export file layout


class ExportFormat(Enum):
    BINARY = "binary"
    JSONL = "jsonl"


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
_KIND_NAMES: Final = {int(k): k.name for k in RecordKind}
JSONL_FORMAT_NAME: Final = "cmsim-audit-export"
MAX_JSONL_LINE: Final = 64 * 1024  # the longest line the writer makes (a 446-byte record) is about 1,100 bytes


# ----------------------------------------------------------------------------- writing
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
            name = _KIND_NAMES.get(kind) or str(kind)
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


# ----------------------------------------------------------------------------- reading
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
        yield _binary_header(fileobj)
        yield from _binary_items(fileobj, batch)
    elif first[:1] == b"{":
        yield from _iter_jsonl(fileobj, first)
    elif MAGIC.startswith(first):
        raise TruncatedError("export cut inside its magic")
    else:
        raise AuditFormatError("not a cmsim audit export")


def _binary_header(fileobj: BinaryIO) -> ExportHeader:
    """The rest of a binary export's file header, after its magic."""
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
    serial = decode_utf8(padded[:serial_len], "serial")
    check_serial(serial)
    return ExportHeader(ExportFormat.BINARY, serial, version, record_version)


def _binary_items(fileobj: BinaryIO, batch: bool) -> Iterator[ExportItem]:
    """The tagged items after the header, one chunk of the file in memory at a time."""
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
            records, pos = _record_run(buf, pos)
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


def _record_run(buf: bytes, pos: int) -> tuple[list[bytes], int]:
    """The whole records from ``pos`` up to another tag or the buffer's end, and where they stop
    (a record cut by the buffer's end is left for the caller to take after a refill)."""
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
    return records, pos


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
            if obj["kind"] != (_KIND_NAMES.get(data[1]) or str(data[1])):
                raise AuditFormatError("record line: kind differs from the record's own")
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
