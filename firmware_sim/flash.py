"""Flash as a state directory: what survives a power cycle of the simulated device.

Blobs are replaced crash-consistently (write a temporary file, fsync it, rename it over the old
one, fsync the directory), so after a power loss a reader sees the old or the new content, never
a mix. Regions are files written in place; a power loss can tear such a write, which is why the
audit ring checks every slot.
"""

from __future__ import annotations

import os
from pathlib import Path

from module.ports import FlashError

__all__ = ["DirectoryFlash", "FileRegion"]


class FileRegion:
    def __init__(self, path: Path, size: int, *, durable: bool) -> None:
        self._path = path
        self._size = size
        self._durable = durable
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            if os.fstat(fd).st_size != size:
                os.ftruncate(fd, size)
        except OSError as exc:
            raise FlashError(f"cannot open region {path.name}: {exc}") from exc
        self._fd = fd

    @property
    def size(self) -> int:
        return self._size

    def read(self, offset: int, length: int) -> bytes:
        self._check(offset, length)
        return os.pread(self._fd, length, offset)

    def write(self, offset: int, data: bytes) -> None:
        self._check(offset, len(data))
        try:
            written = os.pwrite(self._fd, data, offset)
        except OSError as exc:
            raise FlashError(f"write to {self._path.name} failed: {exc}") from exc
        if written != len(data):
            raise FlashError(f"short write to {self._path.name}: {written} of {len(data)} bytes")

    def sync(self) -> None:
        if self._durable:
            os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)

    def _check(self, offset: int, length: int) -> None:
        if offset < 0 or length < 0 or offset + length > self._size:
            raise FlashError(f"access [{offset}, {offset + length}) outside region of {self._size} bytes")


class DirectoryFlash:
    """``durable=False`` skips fsync: survives a crash of the device process, not of the machine."""

    def __init__(self, directory: str | os.PathLike[str], *, durable: bool = True) -> None:
        self.directory = Path(directory)
        self.durable = durable
        self._regions: dict[str, FileRegion] = {}

    def _path(self, name: str) -> Path:
        if not name or "/" in name or "\\" in name or name.startswith(".") or len(name) > 64:
            raise FlashError(f"invalid flash object name {name!r}")
        return self.directory / name

    def read(self, name: str) -> bytes | None:
        path = self._path(name)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise FlashError(f"cannot read {name}: {exc}") from exc

    def write(self, name: str, data: bytes) -> None:
        path = self._path(name)
        tmp = path.with_name(f".{name}.tmp")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if self.durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
            self._sync_directory()
        except OSError as exc:
            raise FlashError(f"cannot write {name}: {exc}") from exc

    def delete(self, name: str) -> None:
        path = self._path(name)
        region = self._regions.pop(name, None)
        if region is not None:
            region.write(0, bytes(region.size))
            region.sync()
            region.close()
        elif path.exists():
            # Overwrite before unlinking so the old bytes do not linger in the file's blocks.
            size = path.stat().st_size
            with open(path, "r+b") as handle:
                handle.write(bytes(size))
                handle.flush()
                if self.durable:
                    os.fsync(handle.fileno())
        try:
            path.unlink(missing_ok=True)
            self._sync_directory()
        except OSError as exc:
            raise FlashError(f"cannot delete {name}: {exc}") from exc

    def names(self) -> list[str]:
        if not self.directory.exists():
            return []
        return sorted(p.name for p in self.directory.iterdir() if not p.name.startswith("."))

    def region(self, name: str, size: int) -> FileRegion:
        existing = self._regions.get(name)
        if existing is not None and existing.size == size:
            return existing
        self.directory.mkdir(parents=True, exist_ok=True)
        region = FileRegion(self._path(name), size, durable=self.durable)
        self._regions[name] = region
        return region

    def close(self) -> None:
        for region in self._regions.values():
            region.close()
        self._regions.clear()

    def _sync_directory(self) -> None:
        if not self.durable:
            return
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
