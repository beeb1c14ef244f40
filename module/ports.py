"""Ports: the only ways the module touches the world outside its boundary.

The module does no OS I/O of its own. Whoever hosts it (firmware_sim, or a test) hands in flash, a
clock, an entropy source and its own code image, so self-tests, audit timestamps and every test
are reproducible. Small in-memory implementations live here because they are pure logic and
honour the same contracts as the real ones (as pyserial's ``loop://`` does for a port), and so
does :class:`JournalledFlash`, the pure-logic layer over any flash that makes a call's writes one
crash-consistent step.
"""

from __future__ import annotations

import struct
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
    "JournalledFlash",
    "JOURNAL_FLASH_NAME",
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


JOURNAL_FLASH_NAME = "call-journal"  # a committed call's writes, until every one of them is in place
_J_MAGIC = b"CMSC"
_J_OP = struct.Struct(">BB I I I")  # kind, name length, region size, offset, data length; then name, data
_J_WRITE, _J_DELETE, _J_REGION = 1, 2, 3


class JournalledFlash:
    """A flash whose writes during a call are one crash-consistent step (a redo journal).

    Between :meth:`begin` and :meth:`commit` every blob write, delete and region write is held in
    memory (reads see it). :meth:`commit` makes them durable together: one journal blob holding
    all of them (replaced atomically, so whole or absent), then each write in place, then the
    journal is deleted. Whoever boots on the same flash first replays a journal left there (the
    writes are idempotent), so after a power loss either every write of the call is in flash or
    none is. A call that wrote only audit slots (no effect to bind them to) skips the journal:
    its slots are written in order, each synced, as the ring's torn-slot rule expects.
    Outside a call writes go straight through.

    Once the journal is in flash the step is committed: a write in place that fails after it is
    kept (reads see it) and goes into every later journal until it is in place, so a later step
    never replaces the journal that still owes it."""

    def __init__(self, inner: Flash) -> None:
        self.inner = inner
        self._staged: list[tuple[int, str, int, int, bytes]] | None = None  # kind, name, size, offset, data
        self._blobs: dict[str, bytes | None] = {}  # staged blob contents (None: deleted)
        self._regions: dict[str, _JournalledRegion] = {}
        self._sync_wanted: set[str] = set()  # regions synced during the call: synced at its commit
        self._unapplied: list[tuple[int, str, int, int, bytes]] = []  # committed, not yet all in place
        self._recovered = False

    # ---------------------------------------------------------------- the call's step
    @property
    def active(self) -> bool:
        return self._staged is not None

    def begin(self) -> None:
        self._recover()
        self._staged, self._blobs, self._sync_wanted = [], {}, set()

    def abort(self) -> None:
        """Forget what the call staged (nothing of it reached flash)."""
        self._staged, self._blobs = None, {}

    def commit(self) -> None:
        """Every staged write durable, as one step (raises FlashError: then none of them is)."""
        staged, self._staged, self._blobs = self._staged, None, {}
        if not staged:
            return
        if not self._unapplied and all(kind == _J_REGION and name == staged[0][1] for kind, name, _, _, _ in staged):
            for op in staged:  # records only: in order, each synced before the next when the ring asks
                self._apply(op)
                if op[1] in self._sync_wanted:
                    self._regions[op[1]].inner.sync()
            return
        ops = self._unapplied + staged
        self.inner.write(JOURNAL_FLASH_NAME, _encode_journal(ops))  # the commit point
        self._unapplied = ops
        try:
            self._apply_all(ops)
            self.inner.delete(JOURNAL_FLASH_NAME)
        except FlashError:
            return  # committed all the same: the journal holds them for the next step or boot
        self._unapplied = []

    # ---------------------------------------------------------------- Flash
    def read(self, name: str) -> bytes | None:
        self._recover()
        if self._staged is not None and name in self._blobs:
            return self._blobs[name]
        owed = self._owed_blobs()
        if name in owed:
            return owed[name]
        return self.inner.read(name)

    def write(self, name: str, data: bytes) -> None:
        self._write_op((_J_WRITE, name, 0, 0, bytes(data)))

    def delete(self, name: str) -> None:
        self._write_op((_J_DELETE, name, 0, 0, b""))

    def names(self) -> list[str]:
        self._recover()
        names = set(self.inner.names()) - {JOURNAL_FLASH_NAME}
        for name, data in (*self._owed_blobs().items(), *self._blobs.items()):
            (names.add if data is not None else names.discard)(name)
        return sorted(names)

    def region(self, name: str, size: int) -> FlashRegion:
        self._recover()
        existing = self._regions.get(name)
        if existing is None or existing.size != size:
            existing = _JournalledRegion(self, name, self.inner.region(name, size))
            self._regions[name] = existing
        return existing

    # ---------------------------------------------------------------- mechanism
    def _write_op(self, op: tuple[int, str, int, int, bytes]) -> None:
        """Staged within a call; outside one, straight through (or, while a committed step is
        still owed, as a step of its own, so the journal that owes it is never replaced)."""
        self._recover()
        kind, name, _, _, data = op
        if kind != _J_REGION:
            _check_name(name)
        if self._staged is None and not self._unapplied:
            self._apply(op)
            return
        alone = self._staged is None
        if alone:
            self.begin()
        assert self._staged is not None
        self._staged.append(op)
        if kind != _J_REGION:
            self._blobs[name] = data if kind == _J_WRITE else None
        if alone:
            self.commit()

    def _owed_blobs(self) -> dict[str, bytes | None]:
        return {name: (data if kind == _J_WRITE else None)
                for kind, name, _, _, data in self._unapplied if kind != _J_REGION}

    def _overlaid_region_writes(self, name: str) -> list[tuple[int, bytes]]:
        """Writes to region ``name`` that reads must see over flash: owed ones, then staged ones."""
        return [(off, data) for kind, n, _, off, data in (*self._unapplied, *(self._staged or ()))
                if kind == _J_REGION and n == name]

    def _apply(self, op: tuple[int, str, int, int, bytes]) -> None:
        kind, name, size, offset, data = op
        if kind == _J_WRITE:
            self.inner.write(name, data)
        elif kind == _J_DELETE:
            self.inner.delete(name)
        else:
            self.inner.region(name, size).write(offset, data)

    def _apply_all(self, staged: list[tuple[int, str, int, int, bytes]]) -> None:
        for op in staged:
            self._apply(op)
        for kind, name, size, _, _ in staged:
            if kind == _J_REGION:
                self.inner.region(name, size).sync()

    def _recover(self) -> None:
        """Once, before anything reads: a journal left by a power loss is rolled forward."""
        if self._recovered:
            return
        self._recovered = True
        raw = self.inner.read(JOURNAL_FLASH_NAME)
        if raw is None:
            return
        staged = _decode_journal(raw)
        self._apply_all(staged)
        self.inner.delete(JOURNAL_FLASH_NAME)


class _JournalledRegion:
    def __init__(self, flash: JournalledFlash, name: str, inner: FlashRegion) -> None:
        self._flash, self._name, self.inner = flash, name, inner

    @property
    def size(self) -> int:
        return self.inner.size

    def read(self, offset: int, length: int) -> bytes:
        data = self.inner.read(offset, length)
        staged = self._flash._overlaid_region_writes(self._name)
        if not staged:
            return data
        out = bytearray(data)
        for at, chunk in staged:  # overlay the call's writes, in order
            lo, hi = max(at, offset), min(at + len(chunk), offset + length)
            if lo < hi:
                out[lo - offset : hi - offset] = chunk[lo - at : hi - at]
        return bytes(out)

    def write(self, offset: int, data: bytes) -> None:
        _check_span(offset, len(data), self.inner.size)
        self._flash._write_op((_J_REGION, self._name, self.inner.size, offset, bytes(data)))

    def sync(self) -> None:
        if self._flash.active:  # within a call: at its commit
            self._flash._sync_wanted.add(self._name)
        else:
            self.inner.sync()


def _encode_journal(staged: list[tuple[int, str, int, int, bytes]]) -> bytes:
    parts = [_J_MAGIC, struct.pack(">I", len(staged))]
    for kind, name, size, offset, data in staged:
        raw_name = name.encode()
        parts += [_J_OP.pack(kind, len(raw_name), size, offset, len(data)), raw_name, data]
    return b"".join(parts)


def _decode_journal(raw: bytes) -> list[tuple[int, str, int, int, bytes]]:
    """The journal's writes. Its blob is replaced atomically (whole or absent, the flash's
    contract), so one that does not parse exactly is damage: refused, never guessed at."""
    try:
        if raw[:4] != _J_MAGIC:
            raise ValueError("no journal magic")
        (count,), at, ops = struct.unpack_from(">I", raw, 4), 8, []
        for _ in range(count):
            kind, name_len, size, offset, length = _J_OP.unpack_from(raw, at)
            at += _J_OP.size
            name, data = raw[at : at + name_len].decode(), raw[at + name_len : at + name_len + length]
            at += name_len + length
            if kind not in (_J_WRITE, _J_DELETE, _J_REGION) or len(data) != length:
                raise ValueError("a write of the journal is cut short")
            ops.append((kind, name, size, offset, data))
        if at != len(raw):
            raise ValueError("bytes after the last write")
    except (ValueError, struct.error, UnicodeDecodeError) as exc:
        raise FlashError(f"the call journal is damaged: {exc}") from exc
    return ops


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
