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

__all__ = ["DeviceProcess", "running_device"]

START_TIMEOUT = 30.0


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
