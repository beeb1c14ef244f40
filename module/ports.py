"""Ports: the only ways the module touches the world outside its boundary.

The module does no OS I/O of its own. Whoever hosts it (firmware_sim, or a test) hands in flash, a
clock, an entropy source and its own code image, so self-tests, audit timestamps and every test
are reproducible. Small in-memory implementations live here because they are pure logic and
honour the same contracts as the real ones (as pyserial's ``loop://`` does for a port).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = [
    "Flash",
    "FlashRegion",
    "FlashError",
    "Clock",
    "EntropySource",
    "CodeImage",
    "CompiledFile",
    "MemoryFlash",
    "MemoryRegion",
    "ManualClock",
    "StaticCodeImage",
]


class FlashError(Exception):
    """A flash operation failed; the caller must treat the write as not having happened."""


@runtime_checkable
class FlashRegion(Protocol):
    """A fixed-size area written in place (the audit ring). A power loss may tear a write."""

    @property
    def size(self) -> int: ...

    def read(self, offset: int, length: int) -> bytes: ...

    def write(self, offset: int, data: bytes) -> None: ...

    def sync(self) -> None:
        """Make every completed write durable (fsync on real flash)."""
        ...


@runtime_checkable
class Flash(Protocol):
    """Named blobs replaced atomically (old or new content after a crash, never a mix),
    plus fixed-size regions written in place."""

    def read(self, name: str) -> bytes | None: ...

    def write(self, name: str, data: bytes) -> None: ...

    def delete(self, name: str) -> None: ...

    def names(self) -> list[str]: ...

    def region(self, name: str, size: int) -> FlashRegion:
        """Open (creating zero-filled if absent) a region of exactly ``size`` bytes."""
        ...


@runtime_checkable
class Clock(Protocol):
    def monotonic_ns(self) -> int:
        """Ticks since an arbitrary origin; never goes backwards within a boot."""
        ...

    def utc_ns(self) -> int:
        """Wall-clock UTC in nanoseconds since the Unix epoch (may be set wrong; never trusted)."""
        ...


@runtime_checkable
class EntropySource(Protocol):
    """A raw noise source: ``read(n)`` returns n samples, one per byte, unconditioned."""

    @property
    def min_entropy_per_sample(self) -> float:
        """The claimed min-entropy H in bits per sample (0 < H <= 8)."""
        ...

    def read(self, n: int) -> bytes: ...


@dataclass(frozen=True)
class CompiledFile:
    """A compiled file the interpreter could run in place of sealed source (a cached ``.pyc``)."""

    name: str  # relative to the package, like the names files() gives
    data: bytes
    source_name: str | None  # the source it caches; None: no sealed source (a bare .pyc, an extension)
    source: bytes = b""
    source_mtime: int = 0  # whole seconds, as a timestamp pyc records them
    source_size: int = 0
    optimization: int = 0  # the compile() optimisation level the file's name says


@runtime_checkable
class CodeImage(Protocol):
    """The module's own code, as the integrity test must see it."""

    def files(self) -> Iterable[tuple[str, bytes]]:
        """(relative name, content) pairs in a stable order."""
        ...

    def compiled(self) -> Iterable[CompiledFile]:
        """Every compiled file in the package the running interpreter could load, in a stable order."""
        ...


class MemoryRegion:
    def __init__(self, size: int) -> None:
        self._data = bytearray(size)

    @property
    def size(self) -> int:
        return len(self._data)

    def read(self, offset: int, length: int) -> bytes:
        _check_span(offset, length, len(self._data))
        return bytes(self._data[offset : offset + length])

    def write(self, offset: int, data: bytes) -> None:
        _check_span(offset, len(data), len(self._data))
        self._data[offset : offset + len(data)] = data

    def sync(self) -> None:
        return None

    def wipe(self) -> None:
        self._data[:] = bytes(len(self._data))


class MemoryFlash:
    """Flash held in memory: same contract as the directory flash, nothing survives the process."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}
        self._regions: dict[str, MemoryRegion] = {}

    def read(self, name: str) -> bytes | None:
        _check_name(name)
        return self._blobs.get(name)

    def write(self, name: str, data: bytes) -> None:
        _check_name(name)
        self._blobs[name] = bytes(data)

    def delete(self, name: str) -> None:
        _check_name(name)
        self._blobs.pop(name, None)
        region = self._regions.pop(name, None)
        if region is not None:
            region.wipe()

    def names(self) -> list[str]:
        return sorted(set(self._blobs) | set(self._regions))

    def region(self, name: str, size: int) -> MemoryRegion:
        _check_name(name)
        existing = self._regions.get(name)
        if existing is not None and existing.size == size:
            return existing
        region = MemoryRegion(size)
        self._regions[name] = region
        return region


class ManualClock:
    """A clock that moves only when told to: for tests of delays, timeouts and timestamps."""

    def __init__(self, utc_ns: int = 1_790_000_000 * 10**9, monotonic_ns: int = 0) -> None:
        self._utc = utc_ns
        self._mono = monotonic_ns

    def monotonic_ns(self) -> int:
        return self._mono

    def utc_ns(self) -> int:
        return self._utc

    def advance(self, seconds: float) -> None:
        step = int(seconds * 1e9)
        self._mono += step
        self._utc += step


class StaticCodeImage:
    """A code image given as bytes (tests use it to show a changed byte fails the seal)."""

    def __init__(self, files: dict[str, bytes], compiled: Iterable[CompiledFile] = ()) -> None:
        self._files = dict(files)
        self._compiled = tuple(compiled)

    def files(self) -> Iterable[tuple[str, bytes]]:
        return sorted(self._files.items())

    def compiled(self) -> Iterable[CompiledFile]:
        return self._compiled


def _check_name(name: str) -> None:
    if not name or "/" in name or "\\" in name or name.startswith(".") or len(name) > 64:
        raise FlashError(f"invalid flash object name {name!r}")


def _check_span(offset: int, length: int, size: int) -> None:
    if offset < 0 or length < 0 or offset + length > size:
        raise FlashError(f"access [{offset}, {offset + length}) outside region of {size} bytes")
