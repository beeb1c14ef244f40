"""What every part of the audit format shares: its version, sizes, integer limits and errors."""

from __future__ import annotations

from typing import Final

__all__ = [
    "FORMAT_VERSION",
    "HASH_SIZE",
    "ZERO_DIGEST",
    "U16_MAX",
    "U32_MAX",
    "U64_MAX",
    "AuditFormatError",
    "UnknownVersionError",
    "TruncatedError",
    "decode_utf8",
]

FORMAT_VERSION: Final = 1  # record, checkpoint-statement and key-statement encoding
HASH_SIZE: Final = 32
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


def decode_utf8(data: bytes, what: str) -> str:
    """Text fields are UTF-8 or the whole item is refused (never decoded with replacement)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AuditFormatError(f"{what} is not UTF-8") from exc
