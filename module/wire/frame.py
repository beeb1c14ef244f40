"""Frames on the serial line: COBS-stuffed, 0x00-delimited, CRC-32 protected.

On the wire a frame is ``COBS(header || payload || crc32) || 0x00``. COBS leaves no zero byte
inside a frame, so a receiver that lost a byte or read garbage resynchronises at the next 0x00:
at most the frame in progress is lost, never the stream. The CRC-32 (IEEE, as zlib computes it)
covers header and payload and catches line noise; it is no security measure (the secure
channel's AES-GCM is).

Header (16 bytes, big-endian): version u8, flags u8, session id u32, sequence u32, code u16
(a ``Command`` in a request, a ``Status`` in a response), payload length u32.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from enum import IntFlag
from typing import Final

from cobs import cobs

__all__ = [
    "PROTOCOL_VERSION",
    "MAX_PAYLOAD",
    "MAX_ENCODED",
    "HEADER_SIZE",
    "Flags",
    "Frame",
    "FrameError",
    "encode_frame",
    "decode_frame",
    "FrameDecoder",
]

PROTOCOL_VERSION: Final = 2  # 2: ECDH login signed by the device identity (docs/protocol.md)
MAX_PAYLOAD: Final = 192 * 1024  # one audit export page (256 records of at most 512 bytes) fits
_HEADER = struct.Struct(">BBIIHI")
_CRC = struct.Struct(">I")
HEADER_SIZE: Final = _HEADER.size
# The longest stuffed frame: COBS adds one byte per 254 bytes (and one more), plus the delimiter.
MAX_ENCODED: Final = (HEADER_SIZE + MAX_PAYLOAD + _CRC.size) * 255 // 254 + 2


class Flags(IntFlag):
    NONE = 0
    RESPONSE = 0x01  # sent by the module
    ENCRYPTED = 0x02  # payload is AES-GCM ciphertext under the session's key for this direction
    APPROVED = 0x04  # response: the approved-service indicator


_KNOWN_FLAGS = int(Flags.RESPONSE | Flags.ENCRYPTED | Flags.APPROVED)


class FrameError(ValueError):
    """Bytes between two delimiters that are not a frame: the receiver drops them and resyncs."""


@dataclass(frozen=True, slots=True)
class Frame:
    flags: int  # a combination of Flags (kept a plain int: IntFlag arithmetic is slow on the hot path)
    session_id: int
    seq: int
    code: int
    payload: bytes = b""
    version: int = PROTOCOL_VERSION

    def header(self) -> bytes:
        """The 16 header bytes: also the additional authenticated data of an encrypted payload."""
        return _HEADER.pack(self.version, self.flags, self.session_id, self.seq, self.code, len(self.payload))


def encode_frame(frame: Frame) -> bytes:
    """The bytes to write to the line, delimiter included."""
    if len(frame.payload) > MAX_PAYLOAD:
        raise FrameError(f"payload of {len(frame.payload)} bytes exceeds {MAX_PAYLOAD}")
    body = frame.header() + frame.payload
    return cobs.encode(body + _CRC.pack(zlib.crc32(body))) + b"\x00"


def decode_frame(stuffed: bytes) -> Frame:
    """One frame from the bytes between delimiters (delimiter excluded)."""
    if len(stuffed) > MAX_ENCODED:
        raise FrameError("frame too long")
    try:
        raw = cobs.decode(stuffed)
    except cobs.DecodeError as exc:
        raise FrameError(f"bad COBS stuffing: {exc}") from None
    if len(raw) < HEADER_SIZE + _CRC.size:
        raise FrameError(f"frame of {len(raw)} bytes is shorter than header and CRC")
    body, (crc,) = raw[:-4], _CRC.unpack_from(raw, len(raw) - 4)
    if zlib.crc32(body) != crc:
        raise FrameError("CRC-32 mismatch")
    version, flags, session_id, seq, code, length = _HEADER.unpack_from(body)
    if version != PROTOCOL_VERSION:
        raise FrameError(f"protocol version {version} (this end speaks {PROTOCOL_VERSION})")
    if length != len(body) - HEADER_SIZE:
        raise FrameError(f"length field {length} but {len(body) - HEADER_SIZE} payload bytes")
    if flags & ~_KNOWN_FLAGS:
        raise FrameError(f"unknown flags 0x{flags:02x}")
    return Frame(flags, session_id, seq, code, body[HEADER_SIZE:], version)


class FrameDecoder:
    """Cuts a byte stream into frames. Bounded: an over-long run without a delimiter is dropped.

    ``feed`` returns a :class:`Frame` or a :class:`FrameError` per delimiter seen (errors are
    returned, not raised, so one bad frame never stops the frames after it). ``expire`` drops a
    partial frame, for a reader whose frame timer ran out.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._overflow = False

    @property
    def pending(self) -> int:
        """Bytes of a frame in progress (0 between frames)."""
        return len(self._buf)

    def expire(self) -> bool:
        """Drop the partial frame, if any; True when something was dropped."""
        dropped = bool(self._buf) or self._overflow
        self._buf.clear()
        self._overflow = False
        return dropped

    def feed(self, data: bytes) -> list[Frame | FrameError]:
        """Every frame (or error) that the delimiters in ``data`` complete; the rest is kept."""
        out: list[Frame | FrameError] = []
        start = 0
        while True:
            end = data.find(b"\x00", start)
            if end < 0:
                self._append(data[start:])
                return out
            self._append(data[start:end])
            start = end + 1
            if self._overflow:
                out.append(FrameError("frame too long: dropped up to the next delimiter"))
            elif self._buf:
                try:
                    out.append(decode_frame(bytes(self._buf)))
                except FrameError as exc:
                    out.append(exc)
            self._buf.clear()
            self._overflow = False

    def _append(self, chunk: bytes) -> None:
        if self._overflow or not chunk:
            return
        if len(self._buf) + len(chunk) > MAX_ENCODED:
            self._buf.clear()
            self._overflow = True
        else:
            self._buf += chunk
