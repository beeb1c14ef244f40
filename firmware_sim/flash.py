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

Group commit (``DirectoryFlash.defer()``): region writes are held in memory (reads see them) and
a region's ``sync()`` does nothing; ``DirectoryFlash.sync()`` makes them all durable at once. A
power loss may persist any subset of several unsynced page-cache writes, while the audit ring's
torn-slot check relies on at most one torn slot (appends in order, each synced before the next).
So a deferred batch goes first to a redo journal beside the region (one write, one fdatasync,
checksummed as a whole), and only then into the region; opening the region replays the journal.
After a power loss the region holds every write of every batch whose journal entry is whole, and
none of a batch whose entry is torn: whole batches in order, so never more than the ring expects.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
from pathlib import Path

from module.ports import FlashError

__all__ = ["DirectoryFlash", "FileRegion", "JOURNAL_SIZE", "StateDirectoryError", "check_state_directory"]

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

JOURNAL_SIZE = 1 << 20  # bytes of redo journal per region; full, the region is synced and it starts over
_ENTRY = struct.Struct(">4sQIH")  # magic, run nonce, entry index, write count; then writes, then 16-byte hash
_WRITE = struct.Struct(">IH")  # offset, length
_MAGIC = b"CMSJ"


class FileRegion:
    def __init__(self, path: Path, size: int, *, durable: bool) -> None:
        self._path = path
        self._size = size
        self._durable = durable
        self._pending: list[tuple[int, bytes]] = []  # deferred writes, in order
        self._deferred = False
        self._journal: int | None = None  # fd of the redo journal, opened on the first deferred batch
        self._journal_at = 0
        self._journal_index = 0
        self._nonce = 0
        try:
            fd = _open_existing_or_new(path, os.O_RDWR)
            if stat.S_IMODE(os.fstat(fd).st_mode) != 0o600:
                os.fchmod(fd, 0o600)
            if os.fstat(fd).st_size != size:
                os.ftruncate(fd, size)
        except OSError as exc:
            raise FlashError(f"cannot open region {path.name}: {exc}") from exc
        self._fd = fd
        self._replay()

    @property
    def size(self) -> int:
        return self._size

    def read(self, offset: int, length: int) -> bytes:
        self._check(offset, length)
        data = os.pread(self._fd, length, offset)
        if not self._pending:
            return data
        out = bytearray(data)
        for at, chunk in self._pending:  # overlay the deferred writes, in order
            lo, hi = max(at, offset), min(at + len(chunk), offset + length)
            if lo < hi:
                out[lo - offset : hi - offset] = chunk[lo - at : hi - at]
        return bytes(out)

    def write(self, offset: int, data: bytes) -> None:
        self._check(offset, len(data))
        if self._deferred:
            self._pending.append((offset, bytes(data)))
            return
        self._pwrite(offset, data)

    def _pwrite(self, offset: int, data: bytes) -> None:
        try:
            written = os.pwrite(self._fd, data, offset)
        except OSError as exc:
            raise FlashError(f"write to {self._path.name} failed: {exc}") from exc
        if written != len(data):
            raise FlashError(f"short write to {self._path.name}: {written} of {len(data)} bytes")

    def sync(self) -> None:
        """Durable now; deferred, at the flash's next ``sync()`` (which the device calls before answering)."""
        if self._deferred:
            return
        if self._durable:
            os.fsync(self._fd)

    def defer(self, on: bool) -> None:
        """Hold writes for a group commit (``on``), or commit what is held and write through again."""
        if not on:
            self.commit()
        self._deferred = on

    def commit(self) -> None:
        """The held writes: into the journal (one fdatasync), then into the region."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        if self._durable:
            self._journal_append(pending)
        for offset, data in pending:
            self._pwrite(offset, data)

    def close(self) -> None:
        self.commit()
        if self._journal is not None:
            if self._durable:
                os.fsync(self._fd)
            os.pwrite(self._journal, bytes(JOURNAL_SIZE), 0)  # its copies of the region must not linger
            if self._durable:
                os.fsync(self._journal)
            os.close(self._journal)
            self._journal = None
            os.unlink(self._journal_path())
        os.close(self._fd)

    # --------------------------------------------------------------- journal
    def _journal_path(self) -> Path:
        return self._path.with_name(f".{self._path.name}.journal")

    def _journal_append(self, pending: list[tuple[int, bytes]]) -> None:
        body = b"".join(_WRITE.pack(offset, len(data)) + data for offset, data in pending)
        try:
            if self._journal is None:
                self._journal = _open_existing_or_new(self._journal_path(), os.O_RDWR)  # never through a link
                self._restart_journal()
            head = _ENTRY.pack(_MAGIC, self._nonce, self._journal_index, len(pending))
            entry = head + body + hashlib.sha256(head + body).digest()[:16]
            if self._journal_at + len(entry) > JOURNAL_SIZE:
                os.fsync(self._fd)  # everything journalled so far is in the region now
                self._restart_journal()
                head = _ENTRY.pack(_MAGIC, self._nonce, 0, len(pending))
                entry = head + body + hashlib.sha256(head + body).digest()[:16]
            written = os.pwrite(self._journal, entry, self._journal_at)
            if written != len(entry):
                raise FlashError(f"short write to the journal of {self._path.name}")
            os.fdatasync(self._journal)
        except OSError as exc:
            raise FlashError(f"journal of {self._path.name}: {exc}") from exc
        self._journal_at += len(entry)
        self._journal_index += 1

    def _restart_journal(self) -> None:
        """A new run: a fresh nonce, so entries of an older run further on are not taken for this one's."""
        assert self._journal is not None
        if os.fstat(self._journal).st_size < JOURNAL_SIZE:  # written once, not sparse: then an fdatasync
            os.pwrite(self._journal, bytes(JOURNAL_SIZE), 0)  # flushes data only, no block allocation
            os.fsync(self._journal)
        self._nonce = int.from_bytes(os.urandom(8), "big")
        self._journal_at = self._journal_index = 0

    def _replay(self) -> None:
        """Apply every whole entry of the journal's current run, then sync the region and drop the journal."""
        path = self._journal_path()
        try:
            fd = os.open(path, os.O_RDONLY | _OPEN)  # a link planted in its place is refused, not read
        except FileNotFoundError:
            return
        except OSError as exc:
            raise FlashError(f"cannot read the journal of {self._path.name}: {exc}") from exc
        try:
            raw = os.read(fd, JOURNAL_SIZE)
        except OSError as exc:
            raise FlashError(f"cannot read the journal of {self._path.name}: {exc}") from exc
        finally:
            os.close(fd)
        for offset, data in _journal_writes(raw, self._size):
            self._pwrite(offset, data)
        if self._durable:
            os.fsync(self._fd)
        path.unlink()

    def _check(self, offset: int, length: int) -> None:
        if offset < 0 or length < 0 or offset + length > self._size:
            raise FlashError(f"access [{offset}, {offset + length}) outside region of {self._size} bytes")


def _journal_writes(raw: bytes, size: int) -> list[tuple[int, bytes]]:
    """The writes of the journal's run (the one its first entry starts), up to the first entry that is not whole."""
    writes: list[tuple[int, bytes]] = []
    at, index, nonce = 0, 0, None
    while at + _ENTRY.size <= len(raw):
        magic, run, entry_index, count = _ENTRY.unpack_from(raw, at)
        if magic != _MAGIC or entry_index != index or (nonce is not None and run != nonce):
            break
        pos, entry = at + _ENTRY.size, []
        for _ in range(count):
            if pos + _WRITE.size > len(raw):
                return writes
            offset, length = _WRITE.unpack_from(raw, pos)
            pos += _WRITE.size
            entry.append((offset, raw[pos : pos + length]))
            pos += length
        if pos + 16 > len(raw) or hashlib.sha256(raw[at:pos]).digest()[:16] != raw[pos : pos + 16]:
            break  # torn: this batch was never committed, so none of its answers left
        if any(offset + len(data) > size for offset, data in entry):
            break
        writes += entry
        at, index, nonce = pos + 16, index + 1, run
    return writes


class DirectoryFlash:
    """``durable=False`` skips fsync: survives a crash of the device process, not of the machine."""

    def __init__(self, directory: str | os.PathLike[str], *, durable: bool = True) -> None:
        self.directory = Path(directory)
        self.durable = durable
        self._regions: dict[str, FileRegion] = {}
        self._deferred = False

    def defer(self, on: bool = True) -> None:
        """Group commit: region writes are held until :meth:`sync` (turning it off commits them)."""
        self._deferred = on
        for region in self._regions.values():
            region.defer(on)

    def sync(self) -> None:
        """Make every held region write durable: one journal fdatasync per region with writes held."""
        for region in self._regions.values():
            region.commit()

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
        self.sync()  # never durable ahead of a region write made before it (blobs are not deferred)
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
        self.sync()
        region = self._regions.pop(name, None)
        if region is not None:
            region.defer(False)
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
        if existing is not None:
            existing.defer(False)  # no longer in the table that sync() goes through
        region = FileRegion(self._path(name), size, durable=self.durable)
        region.defer(self._deferred)
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
