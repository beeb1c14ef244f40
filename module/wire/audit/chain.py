"""What binds records into one module's chain: the serial, the module tag, genesis, the chain hash.

Domain tags: every hash and signature in the format says what it is, so no value can be
replayed as another.
"""

from __future__ import annotations

import hashlib
from typing import Final

from module.wire.audit.common import FORMAT_VERSION, AuditFormatError

__all__ = [
    "CHAIN_TAG",
    "GENESIS_TAG",
    "MODULE_TAG_TAG",
    "MAX_SERIAL_BYTES",
    "check_serial",
    "module_tag",
    "genesis",
    "chain_next",
]

CHAIN_TAG: Final = b"cmsim/audit/chain/v1\x00"
GENESIS_TAG: Final = b"cmsim/audit/genesis\x00"
MODULE_TAG_TAG: Final = b"cmsim/audit/module\x00"
MAX_SERIAL_BYTES: Final = 32


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
