"""Start a simulated device as a subprocess on a fresh pty, and stop it (tests, demo, lab harness).

Only the command line of ``cmsim-device`` is used (run as ``python -m firmware_sim``): the host
side never imports the device.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from host_tools.errors import TransportError

__all__ = ["DeviceProcess", "running_device", "process_start_time", "is_device_process", "state_serial"]

START_TIMEOUT = 30.0
SERIAL_FILE = ".serial"  # in the state directory; a flash object's name never starts with a dot
LEGACY_SERIAL = "CMSIM-0001"  # the firmware's default, which state made before per-directory serials has


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (which may hold spaces), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def process_start_time(pid: int) -> int | None:
    """When the process started, in clock ticks since boot (/proc/PID/stat field 22): with the pid it
    names one process for as long as the machine runs; None without /proc."""
    fields = _proc_stat(pid)
    return int(fields[19]) if fields else None


def is_device_process(pid: int, started: int | None) -> bool:
    """Whether ``pid`` is still the device process that started at ``started``: alive, not a zombie,
    running firmware_sim, and started then (a reused pid has another start time). Without /proc,
    only whether the pid is alive."""
    if not Path("/proc/self/stat").exists():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    fields = _proc_stat(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return False
    if started is not None and int(fields[19]) != started:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(arg in (b"firmware_sim", b"firmware_sim.serve") or arg.endswith(b"cmsim-device") for arg in cmdline)


def state_serial(state_dir: Path, given: str | None = None) -> str:
    """The module serial of a state directory, kept in it: ``given`` when one is given, else the one
    recorded at its first start; a new directory gets a random one (so two devices' exports and pins
    are never confused), one made before serials were recorded keeps the firmware's default.
    ValueError for another serial than a used directory's own."""
    path = state_dir / SERIAL_FILE
    made = state_dir.is_dir() and any(not p.name.startswith(".") for p in state_dir.iterdir())
    if path.exists():
        recorded = path.read_text(encoding="utf-8").strip()
        if given is None or given == recorded:
            return recorded
        if made:  # its audit chain starts from the serial it was made with
            raise ValueError(f"state directory {state_dir} belongs to serial {recorded}, not {given}")
    if given is None:
        given = LEGACY_SERIAL if made else f"CMSIM-{os.urandom(4).hex().upper()}"
    if not state_dir.exists():
        state_dir.parent.mkdir(parents=True, exist_ok=True)
        state_dir.mkdir(mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(given + "\n")
    return given


@dataclass
class DeviceProcess:
    process: subprocess.Popen[bytes]
    port: str  # the pty path (or socket:// URL) the device printed
    state_dir: Path
    lab_port: str | None = None  # the fault-injection port of a device started with --lab

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM: the device powers off cleanly. Returns its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def power_cut(self) -> None:
        """SIGKILL: a power loss, no clean shutdown."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _first_line(process: subprocess.Popen[bytes]) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(process.stdout, selectors.EVENT_READ)
        if not sel.select(START_TIMEOUT):
            raise TransportError(f"the device printed no port within {START_TIMEOUT} s")
    line = process.stdout.readline().decode().strip()
    if not line:
        err = process.stderr.read().decode() if process.stderr is not None else ""
        raise TransportError(f"the device exited before printing its port: {err.strip()}")
    return line


@contextmanager
def running_device(
    state_dir: str | os.PathLike[str] | None = None,
    *,
    args: Sequence[str] = (),
    python: str = sys.executable,
    cwd: str | os.PathLike[str] | None = None,
) -> Iterator[DeviceProcess]:
    """A device on a new pty with ``state_dir`` (a temporary one when None); stopped on exit.
    ``cwd``: where it runs (``-m`` imports from there first: the lab boots copies of the code image)."""
    temp = None
    if state_dir is None:
        temp = tempfile.TemporaryDirectory(prefix="cmsim-state-")
        state_dir = temp.name
    cmd = [python, "-m", "firmware_sim", "--state", os.fspath(state_dir), *args]
    # Unbuffered: the port lines are read one by one with select, so none may hide in a buffer.
    process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
                               cwd=cwd)
    try:
        port = _first_line(process)
        lab = _first_line(process).removeprefix("lab: ") if "--lab" in args else None
        device = DeviceProcess(process, port, Path(state_dir), lab)
        yield device
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        if temp is not None:
            temp.cleanup()
