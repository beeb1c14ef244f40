"""Canonical encoding of service parameters and results (a small typed TLV).

One encoding serves three purposes: the payload of a request or response on the wire, the input
to the request/response digests in audit records (as the TPM's cpHash/rpHash), and the
comparison of docs examples with the code. It is deterministic: map keys are sorted, integers
are unsigned 64-bit big-endian, so the same parameters always give the same digest.

Layout of a value: ``tag (1 byte) || length (4 bytes, big-endian) || content``.
A map's content is a sequence of ``name length (1 byte) || name (UTF-8) || value``.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping, Sequence
from enum import IntEnum, unique
from typing import Union, cast

__all__ = ["Tag", "Value", "encode_value", "decode_value", "encode_map", "decode_map", "digest_map", "ParamsError"]

Value = Union[bytes, int, str, bool, Sequence["Value"], Mapping[str, "Value"]]

MAX_DEPTH = 8
_HEADER = struct.Struct(">BI")
_U64 = struct.Struct(">Q")


class ParamsError(ValueError):
    """The bytes are not a well-formed parameter encoding."""


@unique
class Tag(IntEnum):
    BYTES = 0x01
    UINT = 0x02
    STR = 0x03
    BOOL = 0x04
    LIST = 0x05
    MAP = 0x06


_TAGS: dict[int, Tag] = {int(t): t for t in Tag}
_UINT_HEADER = _HEADER.pack(Tag.UINT, 8)
_TRUE = _HEADER.pack(Tag.BOOL, 1) + b"\x01"
_FALSE = _HEADER.pack(Tag.BOOL, 1) + b"\x00"


def encode_value(value: Value, _depth: int = 0) -> bytes:
    if _depth > MAX_DEPTH:
        raise ParamsError("nesting too deep")
    kind = type(value)  # exact types first: the common case, and a bool is not taken for an int
    if kind is bytes:
        raw = cast(bytes, value)
        return _HEADER.pack(Tag.BYTES, len(raw)) + raw
    if kind is int:
        number = cast(int, value)
        if not 0 <= number < 2**64:
            raise ParamsError(f"integer {number} outside 0..2^64-1")
        return _UINT_HEADER + _U64.pack(number)
    if kind is str:
        text = cast(str, value).encode("utf-8")
        return _HEADER.pack(Tag.STR, len(text)) + text
    if kind is dict:
        body = _encode_entries(cast(dict[str, Value], value), _depth + 1)
        return _HEADER.pack(Tag.MAP, len(body)) + body
    if kind is bool:
        return _TRUE if value else _FALSE
    return _encode_other(value, _depth)


def _encode_other(value: Value, _depth: int) -> bytes:
    """Subclasses and other containers (bytearray, memoryview, IntEnum, mappings, sequences)."""
    if isinstance(value, bool):
        return _TRUE if value else _FALSE
    if isinstance(value, int):
        if not 0 <= value < 2**64:
            raise ParamsError(f"integer {value} outside 0..2^64-1")
        return _UINT_HEADER + _U64.pack(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        return _HEADER.pack(Tag.BYTES, len(raw)) + raw
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return _HEADER.pack(Tag.STR, len(raw)) + raw
    if isinstance(value, Mapping):
        body = _encode_entries(value, _depth + 1)
        return _HEADER.pack(Tag.MAP, len(body)) + body
    if isinstance(value, Sequence):
        body = b"".join(encode_value(item, _depth + 1) for item in value)
        return _HEADER.pack(Tag.LIST, len(body)) + body
    raise ParamsError(f"cannot encode {type(value).__name__}")


def _encode_entries(mapping: Mapping[str, Value], depth: int) -> bytes:
    parts = []
    for name in sorted(mapping):
        raw = name.encode("utf-8")
        if not 0 < len(raw) < 256:
            raise ParamsError(f"bad parameter name {name!r}")
        parts.append(bytes([len(raw)]) + raw + encode_value(mapping[name], depth))
    return b"".join(parts)


def encode_map(mapping: Mapping[str, Value]) -> bytes:
    """The canonical bytes of a parameter map (a MAP value)."""
    return encode_value(mapping)


def decode_value(data: bytes, _depth: int = 0) -> Value:
    value, end = _decode_at(memoryview(data), 0, _depth)
    if end != len(data):
        raise ParamsError(f"{len(data) - end} trailing bytes")
    return value


def decode_map(data: bytes) -> dict[str, Value]:
    value = decode_value(data)
    if not isinstance(value, dict):
        raise ParamsError("top level is not a map")
    return value


def digest_map(mapping: Mapping[str, Value]) -> bytes:
    """SHA-256 of the canonical encoding: the unkeyed audit digest (``module.wire.audit.digest``)."""
    return hashlib.sha256(encode_map(mapping)).digest()


def _decode_at(buf: memoryview, pos: int, depth: int) -> tuple[Value, int]:
    if depth > MAX_DEPTH:
        raise ParamsError("nesting too deep")
    if pos + _HEADER.size > len(buf):
        raise ParamsError("truncated value header")
    tag_byte, length = _HEADER.unpack_from(buf, pos)
    pos += _HEADER.size
    end = pos + length
    if end > len(buf):
        raise ParamsError("value runs past the end")
    tag = _TAGS.get(tag_byte)  # a dict lookup: Tag(byte) costs a microsecond per value
    if tag is None:
        raise ParamsError(f"unknown tag 0x{tag_byte:02x}")
    content = buf[pos:end]
    if tag is Tag.BYTES:
        return bytes(content), end
    if tag is Tag.UINT:
        if length != 8:
            raise ParamsError("integer must be 8 bytes")
        return int(_U64.unpack(content)[0]), end
    if tag is Tag.STR:
        try:
            return bytes(content).decode("utf-8"), end
        except UnicodeDecodeError:
            raise ParamsError("string is not UTF-8") from None
    if tag is Tag.BOOL:
        if length != 1 or content[0] not in (0, 1):
            raise ParamsError("bad boolean")
        return content[0] == 1, end
    if tag is Tag.LIST:
        items: list[Value] = []
        inner = pos
        while inner < end:
            item, inner = _decode_at(buf[:end], inner, depth + 1)
            items.append(item)
        return items, end
    entries: dict[str, Value] = {}
    inner = pos
    previous: str | None = None
    while inner < end:
        name_len = buf[inner]
        inner += 1
        if name_len == 0 or inner + name_len > end:
            raise ParamsError("bad parameter name length")
        try:
            name = bytes(buf[inner : inner + name_len]).decode("utf-8")
        except UnicodeDecodeError:
            raise ParamsError("parameter name is not UTF-8") from None
        if previous is not None and name <= previous:
            raise ParamsError("map keys not in canonical (sorted, unique) order")
        previous = name
        inner += name_len
        entries[name], inner = _decode_at(buf[:end], inner, depth + 1)
    return entries, end
