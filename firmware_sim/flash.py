"""Flash as a state directory: what survives a power cycle of the simulated device.

Blobs are replaced crash-consistently (write a temporary file, fsync it, rename it over the old
one, fsync the directory), so after a power loss a reader sees the old or the new content, never
a mix. Regions are files written in place; a power loss can tear such a write, which is why the
audit ring checks every slot.

The directory holds SSPs in plaintext (see the security policy, SSP management), so nobody else
may reach it: :func:`check_state_directory` refuses one another user owns or may write, the
directory is created 0700, and every file is created ``O_CREAT|O_EXCL|O_NOFOLLOW`` with mode
0600 (a stale or planted temporary file is unlinked first, never followed) and opened
``O_NOFOLLOW``, so a symlink planted in place of a flash object is refused, never followed.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from module.ports import FlashError

__all__ = ["DirectoryFlash", "FileRegion", "StateDirectoryError", "check_state_directory"]

_NEW = os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC  # never an existing file, never a link
_OPEN = os.O_NOFOLLOW | os.O_CLOEXEC


class StateDirectoryError(Exception):
    """The state directory is not safe to keep SSPs in (the message says why, in one line)."""


def check_state_directory(directory: str | os.PathLike[str]) -> Path:
    """Create the directory 0700 if missing; refuse a symlink, a non-directory, a directory owned
    by another user or one that group or others may write (they could plant or swap files)."""
    path = Path(directory)
    if not os.path.lexists(path):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.mkdir(mode=0o700)
        except OSError as exc:
            raise StateDirectoryError(f"state directory {path}: cannot create it: {exc.strerror}") from exc
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode):
        raise StateDirectoryError(f"state directory {path} is a symlink: give the real directory")
    if not stat.S_ISDIR(st.st_mode):
        raise StateDirectoryError(f"state directory {path} is not a directory")
    if st.st_uid != os.geteuid():
        raise StateDirectoryError(
            f"state directory {path} is owned by uid {st.st_uid}, not by this device's user (uid {os.geteuid()})"
        )
    if st.st_mode & 0o022:
        raise StateDirectoryError(
            f"state directory {path} is writable by group or others (mode {stat.S_IMODE(st.st_mode):04o}): "
            f"chmod 700 it or use another"
        )
    return path


def _open_existing_or_new(path: Path, flags: int) -> int:
    """An existing regular file (never through a symlink), or a new one with mode 0600."""
    try:
        fd = os.open(path, flags | _OPEN)
    except FileNotFoundError:
        fd = os.open(path, flags | _NEW, 0o600)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{path.name} is not a regular file")
    return fd


class FileRegion:
    def __init__(self, path: Path, size: int, *, durable: bool) -> None:
        self._path = path
        self._size = size
        self._durable = durable
        try:
            fd = _open_existing_or_new(path, os.O_RDWR)
            if stat.S_IMODE(os.fstat(fd).st_mode) != 0o600:
                os.fchmod(fd, 0o600)
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
            fd = os.open(path, os.O_RDONLY | _OPEN)  # a symlink in its place fails (ELOOP)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise FlashError(f"cannot read {name}: {exc}") from exc
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise FlashError(f"cannot read {name}: not a regular file")
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            return b"".join(chunks)
        except OSError as exc:
            raise FlashError(f"cannot read {name}: {exc}") from exc
        finally:
            os.close(fd)

    def write(self, name: str, data: bytes) -> None:
        path = self._path(name)
        tmp = path.with_name(f".{name}.tmp")
        try:
            self._make_directory()
            # A leftover of a cut write, or something planted: unlinked (a link is removed, not
            # followed), then the new file is created exclusively.
            tmp.unlink(missing_ok=True)
            fd = os.open(tmp, os.O_WRONLY | _NEW, 0o600)
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
        elif path.exists() and not path.is_symlink():
            # Overwrite before unlinking so the old bytes do not linger in the file's blocks
            # (a symlink in its place is only unlinked: what it points at is not ours).
            try:
                fd = os.open(path, os.O_WRONLY | _OPEN)
                try:
                    size = os.fstat(fd).st_size
                    if stat.S_ISREG(os.fstat(fd).st_mode):
                        view = memoryview(bytes(size))
                        while view:
                            view = view[os.write(fd, view) :]
                        if self.durable:
                            os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                raise FlashError(f"cannot delete {name}: {exc}") from exc
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
        self._make_directory()
        region = FileRegion(self._path(name), size, durable=self.durable)
        self._regions[name] = region
        return region

    def close(self) -> None:
        for region in self._regions.values():
            region.close()
        self._regions.clear()

    def _make_directory(self) -> None:
        if not self.directory.is_dir():
            self.directory.parent.mkdir(parents=True, exist_ok=True)
            self.directory.mkdir(mode=0o700, exist_ok=True)

    def _sync_directory(self) -> None:
        if not self.durable:
            return
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
