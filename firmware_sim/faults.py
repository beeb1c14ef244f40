"""Flash faults for tests and the lab: a power cut at the N-th write, a failing next write.

:class:`FaultyFlash` wraps a flash (a :class:`~firmware_sim.flash.DirectoryFlash`, or a
:class:`~module.ports.MemoryFlash` in unit tests) and counts its write points: every blob write,
every delete and every region write. Armed with ``cut_at(n)``, the n-th write point from now (or
the n-th region write, with ``kind="region"``) is where the power goes: a blob write or delete
does not happen (the directory flash replaces blobs atomically, so a cut leaves the old blob), a
region write happens only in part (its first ``tear`` bytes, or with ``suffix`` all but those,
torn as a real flash write can be), and then :class:`PowerCut` is raised. PowerCut derives from BaseException so that nothing in the module
can catch it and carry on: the test drops the module object, as the power would, and boots a new
one on the same files. (The module writes a call's effect and record through a journal, so a
call's write points are the journal object, the writes in place and the journal's removal.)
"""

from __future__ import annotations

from dataclasses import dataclass

from module.ports import Flash, FlashError, FlashRegion

__all__ = ["PowerCut", "FaultyFlash", "FaultyRegion", "WritePoint"]


class PowerCut(BaseException):
    """The simulated power failed at a write point."""


@dataclass(frozen=True)
class WritePoint:
    index: int  # 1-based count since the flash was made
    kind: str  # "write", "delete" or "region"
    name: str
    offset: int = 0
    length: int = 0


class FaultyFlash:
    def __init__(self, inner: Flash) -> None:
        self.inner = inner
        self.points: list[WritePoint] = []  # every write point so far, for tests that sweep them
        self.syncs = 0  # region syncs so far
        self.interrupted: tuple[int, bytes] | None = None  # (offset, data) of the region write a cut tore
        self._cut_left: int | None = None
        self._cut_kind: str | None = None
        self._tear = 0
        self._suffix = False
        self._fail_next = False
        self._regions: dict[str, FaultyRegion] = {}

    # ----------------------------------------------------------------- arming
    @property
    def count(self) -> int:
        return len(self.points)

    def cut_at(self, n: int, *, tear: int = 0, suffix: bool = False, kind: str | None = None) -> None:
        """Cut the power at the n-th write point from now (1 = the next), counting only points of
        ``kind`` when given; a region write keeps its first ``tear`` bytes (with ``suffix``, all
        but its first ``tear`` bytes land)."""
        if n < 1:
            raise ValueError("n counts from 1")
        self._cut_left, self._cut_kind, self._tear, self._suffix = n, kind, tear, suffix

    def fail_next_write(self) -> None:
        """The next write point fails with FlashError (the module must report it and change nothing)."""
        self._fail_next = True

    def disarm(self) -> None:
        self._cut_left, self._fail_next = None, False

    def _point(self, kind: str, name: str, offset: int = 0, length: int = 0) -> bool:
        """Record a write point; raise FlashError for an armed failure; True when power goes here
        (and at every point after it, until disarmed)."""
        self.points.append(WritePoint(self.count + 1, kind, name, offset, length))
        if self._cut_left is not None and self._cut_kind in (None, kind):
            self._cut_left -= 1
        if self._fail_next:
            self._fail_next = False
            raise FlashError(f"injected failure of the write to {name}")
        return self._cut_left is not None and self._cut_left <= 0

    # ------------------------------------------------------------------- Flash
    def read(self, name: str) -> bytes | None:
        return self.inner.read(name)

    def write(self, name: str, data: bytes) -> None:
        if self._point("write", name, 0, len(data)):
            raise PowerCut(f"power cut before {name} was replaced")
        self.inner.write(name, data)

    def delete(self, name: str) -> None:
        if self._point("delete", name):
            raise PowerCut(f"power cut before {name} was deleted")
        self.inner.delete(name)

    def names(self) -> list[str]:
        return self.inner.names()

    def region(self, name: str, size: int) -> FaultyRegion:
        existing = self._regions.get(name)
        if existing is None or existing.size != size:
            existing = FaultyRegion(self, name, self.inner.region(name, size))
            self._regions[name] = existing
        return existing


class FaultyRegion:
    def __init__(self, flash: FaultyFlash, name: str, inner: FlashRegion) -> None:
        self._flash = flash
        self._name = name
        self._inner = inner

    @property
    def size(self) -> int:
        return self._inner.size

    def read(self, offset: int, length: int) -> bytes:
        return self._inner.read(offset, length)

    def write(self, offset: int, data: bytes) -> None:
        flash = self._flash
        if flash._point("region", self._name, offset, len(data)):
            flash.interrupted = (offset, bytes(data))
            cut = max(0, min(flash._tear, len(data)))
            at, torn = (offset + cut, data[cut:]) if flash._suffix else (offset, data[:cut])
            if torn:
                self._inner.write(at, torn)
            raise PowerCut(f"power cut during a write to {self._name} at {offset} ({len(torn)} of {len(data)} bytes)")
        self._inner.write(offset, data)

    def sync(self) -> None:
        self._flash.syncs += 1
        self._inner.sync()
