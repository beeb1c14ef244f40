"""`cmsim-device`: the simulated device on a pty, a tty or a TCP socket.

The device powers the module on, then serves frames on one line until SIGTERM or Ctrl-C, which
power it off cleanly. SIGKILL is a power loss: the flash design (write-new, fsync, rename; the
audit ring's torn-slot detection) is what the next boot relies on.

With ``--pty`` (the default) the first line on stdout is the pty path a host opens, as swtpm and
socat print theirs. Both ends of the pty are put in raw mode at once, and the device keeps the
slave end open itself so that a host may close and reopen it without the line going away.
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import socket
import sys
import tempfile
import time
import tty
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import click
import serial

from firmware_sim.device import build_module
from firmware_sim.faults import FaultyFlash, PowerCut
from firmware_sim.flash import StateDirectoryError, check_state_directory
from firmware_sim.lab import LabController, SwitchableSource
from firmware_sim.integrity import DEFAULT_SEAL_PATH
from module.audit.trail import AuditConfig
from module.core import Module, ModuleConfig
from module.endpoint import Endpoint
from module.operators import AuthPolicy
from module.ports import Flash
from module.wire.defs import Command, Status
from module.wire.frame import Flags, Frame, FrameDecoder, FrameError, decode_frame

__all__ = ["main", "serve_line", "open_pty"]

FRAME_TIMEOUT = 1.0  # seconds: a partial frame with no byte for this long is dropped
POWER_CUT_EXIT = 137  # what a shell reports for a SIGKILL: the lab's power cut looks the same
STATE_DIR_EXIT = 78  # EX_CONFIG (sysexits.h): the --state directory is not safe to keep SSPs in
READ_SIZE = 65536
log = logging.getLogger("cmsim.device")


class Line(Protocol):
    def fileno(self) -> int: ...

    def read(self) -> bytes:
        """Bytes that are ready (b"" when the other end went away)."""
        ...

    def write(self, data: bytes) -> None: ...


class FdLine:
    """A pty master or a tty file descriptor."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd

    def read(self) -> bytes:
        try:
            return os.read(self.fd, READ_SIZE)
        except OSError:  # EIO on a pty whose slave nobody holds; we hold it, so only a brief pause
            time.sleep(0.05)
            return b""

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:  # blocking writes: a host that stops reading stalls only its own line
            view = view[os.write(self.fd, view):]


class SocketLine:
    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn

    def fileno(self) -> int:
        return self.conn.fileno()

    def read(self) -> bytes:
        try:
            return self.conn.recv(READ_SIZE)
        except OSError:
            return b""

    def write(self, data: bytes) -> None:
        self.conn.sendall(data)


def open_pty() -> tuple[int, int, str]:
    """(master fd, slave fd, slave path), both ends raw: no echo, no line editing, no CR/LF mangling."""
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    return master, slave, os.ttyname(slave)


class Stop:
    """Set by SIGTERM/SIGINT; the serving loop checks it between reads."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: object) -> None:
        self.requested = True


def serve_line(endpoint: Endpoint, line: Line, stop: Stop, *, hangup_ends: bool = False,
               lab: tuple[LabController, Line] | None = None) -> None:
    """Serve frames on one line until ``stop`` (or, with ``hangup_ends``, until the peer hangs up);
    with ``lab``, also the lab port's command lines. A PowerCut ends the process at once."""
    decoder = FrameDecoder()
    last_byte = time.monotonic()
    lab_buffer = bytearray()
    with selectors.DefaultSelector() as sel:
        sel.register(line.fileno(), selectors.EVENT_READ, "data")
        if lab is not None:
            sel.register(lab[1].fileno(), selectors.EVENT_READ, "lab")
        while not stop.requested:
            ready = sel.select(timeout=0.2)
            if not ready:
                if decoder.pending and time.monotonic() - last_byte > FRAME_TIMEOUT:
                    decoder.expire()
                continue
            try:
                for key, _ in ready:
                    if key.data == "lab" and lab is not None:
                        lab_buffer += lab[1].read()
                        while b"\n" in lab_buffer and len(lab_buffer) < 65536:
                            command, _, rest = bytes(lab_buffer).partition(b"\n")
                            lab_buffer[:] = rest
                            lab[1].write(lab[0].handle_line(command))
                        if len(lab_buffer) >= 65536:
                            lab_buffer.clear()
                        continue
                    data = line.read()
                    if not data:
                        if hangup_ends:
                            return
                        continue
                    last_byte = time.monotonic()
                    for item in decoder.feed(data):
                        answer = endpoint.handle_bytes(item)
                        if log.isEnabledFor(logging.DEBUG):
                            _trace(item, answer)
                        line.write(answer)
            except PowerCut:
                log.warning("power cut (lab): the device stops here, as it would")
                os._exit(POWER_CUT_EXIT)


def _trace(request: Frame | FrameError, answer: bytes) -> None:
    """One debug line per frame: command, session, seq, flags and the answer's status; never a
    payload (it may hold a password proof, a key or plaintext), only the headers."""
    try:
        response = decode_frame(answer[:-1])  # without the delimiter
        status = _name(Status, response.code)
    except FrameError as exc:
        status = f"unreadable answer ({exc})"
    if isinstance(request, FrameError):
        log.debug("frame rejected (%s) -> %s", request, status)
        return
    encrypted = " encrypted" if request.flags & Flags.ENCRYPTED else ""
    log.debug("frame %s session %d seq %d%s -> %s", _name(Command, request.code), request.session_id, request.seq,
              encrypted, status)


def _name(enum: type[Command] | type[Status], code: int) -> str:
    try:
        return enum(code).name
    except ValueError:
        return f"0x{code:02x}"


@contextmanager
def _powered(module: Module) -> Iterator[Module]:
    module.power_on()
    log.info("powered on: state %s, self-tests %.1f ms", module.state.name, module.self_test_ms)
    try:
        yield module
    finally:
        module.power_off()
        log.info("powered off")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--pty", "use_pty", is_flag=True, help="Serve on a new pty (the default); its path is stdout's first line.")
@click.option("--tty", "tty_path", type=click.Path(), help="Serve on this serial device.")
@click.option("--baud", type=int, default=115200, show_default=True, help="Baud rate for --tty.")
@click.option("--tcp", "tcp", metavar="HOST:PORT", help="Serve on a TCP socket (hosts use socket://HOST:PORT).")
@click.option("--state", "state_dir", type=click.Path(file_okay=False, path_type=Path),
              help="State directory (the flash; created 0700). Refused (exit 78) if another user owns it or "
                   "group or others may write it. A private temporary one when omitted.")
@click.option("--capacity", type=click.IntRange(min=16), help="Audit ring capacity in records.")
@click.option("--fsync", type=click.Choice(["always", "os"]), default="always", show_default=True,
              help="Audit write-ahead: fsync each record (survives power loss) or leave it to the OS "
                   "(survives a crash of this process only).")
@click.option("--seal", "seal_path", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_SEAL_PATH,
              show_default=True, help="Integrity seal written by `cmsim-seal` (`make seal`).")
@click.option("--pbkdf2-iterations", type=click.IntRange(min=1000),
              help="PBKDF2 iterations for credentials set from now on (default 100,000).")
@click.option("--serial", "serial_number", help="Module serial number.")
@click.option("--session-timeout", type=click.FloatRange(min=0.1), help="Idle session timeout in seconds (default 300).")
@click.option("--lab", is_flag=True, help="Lab mode: a fault-injection port on a second pty (stdout's second line).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="warning",
              show_default=True)
def main(use_pty: bool, tty_path: str | None, baud: int, tcp: str | None, state_dir: Path | None,
         capacity: int | None, fsync: str, seal_path: Path, pbkdf2_iterations: int | None, serial_number: str | None,
         session_timeout: float | None, lab: bool, log_level: str) -> None:
    """Run a simulated cmsim device."""
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr, format="cmsim-device: %(message)s")
    if sum(bool(x) for x in (use_pty, tty_path, tcp)) > 1:
        raise click.UsageError("give one of --pty, --tty, --tcp")
    with ExitStack() as cleanup:
        if state_dir is None:  # a temporary flash, removed at power-off (not after a power cut: os._exit)
            state_dir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="cmsim-state-")))
            click.echo(f"cmsim-device: no --state given, using {state_dir} (removed at exit)", err=True)
        try:
            check_state_directory(state_dir)
        except StateDirectoryError as exc:
            click.echo(f"cmsim-device: {exc}", err=True)
            sys.exit(STATE_DIR_EXIT)
        _run(use_pty, tty_path, baud, tcp, state_dir, capacity, fsync, seal_path, pbkdf2_iterations, serial_number,
             session_timeout, lab)


def _run(use_pty: bool, tty_path: str | None, baud: int, tcp: str | None, state_dir: Path, capacity: int | None,
         fsync: str, seal_path: Path, pbkdf2_iterations: int | None, serial_number: str | None,
         session_timeout: float | None, lab: bool) -> None:
    config = ModuleConfig()
    audit = AuditConfig(fsync="os") if fsync == "os" else config.audit
    if capacity is not None:
        audit = replace(audit, capacity=capacity, reserve=min(audit.reserve, capacity // 4))
    config = replace(config, audit=replace(audit, lab_mode=lab))
    if pbkdf2_iterations is not None:
        config = replace(config, auth=AuthPolicy(pbkdf2_iterations=pbkdf2_iterations))
    if serial_number:
        config = replace(config, serial=serial_number)
    if session_timeout is not None:
        config = replace(config, session_idle_timeout_s=session_timeout)
    stop = Stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    faulty: list[FaultyFlash] = []
    entropy = SwitchableSource() if lab else None

    def wrap(flash: Flash) -> Flash:
        faulty.append(FaultyFlash(flash))
        return faulty[0]

    module = build_module(state_dir, config=config, seal_path=seal_path, entropy=entropy,
                          wrap_flash=wrap if lab else None)
    endpoint = Endpoint(module)
    lab_port: tuple[LabController, Line] | None = None
    if lab:
        assert entropy is not None

        def power_cycle() -> None:
            module.power_off()
            endpoint.reset()
            module.power_on()

        lab_master, lab_slave, lab_path = open_pty()
        lab_port = (LabController(module, faulty[0], entropy, power_cycle), FdLine(lab_master))
    with _powered(module):
        if tcp:
            if lab:
                raise click.UsageError("--lab goes with --pty or --tty")
            _serve_tcp(endpoint, tcp, stop)
        elif tty_path:
            with serial.Serial(tty_path, baudrate=baud, timeout=0) as port:
                click.echo(tty_path)
                if lab:
                    click.echo(f"lab: {lab_path}")
                sys.stdout.flush()
                serve_line(endpoint, FdLine(port.fileno()), stop, lab=lab_port)
        else:
            master, slave, path = open_pty()
            click.echo(path)
            if lab:
                click.echo(f"lab: {lab_path}")
            sys.stdout.flush()
            try:
                serve_line(endpoint, FdLine(master), stop, lab=lab_port)
            finally:
                os.close(master)
                os.close(slave)


def _serve_tcp(endpoint: Endpoint, address: str, stop: Stop) -> None:
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        raise click.BadParameter("expected HOST:PORT", param_hint="--tcp")
    with socket.create_server((host or "127.0.0.1", int(port))) as server:
        server.settimeout(0.2)
        bound = server.getsockname()
        click.echo(f"socket://{bound[0]}:{bound[1]}")
        sys.stdout.flush()
        while not stop.requested:
            try:
                conn, peer = server.accept()
            except TimeoutError:
                continue
            log.info("host connected from %s", peer)
            with conn:
                serve_line(endpoint, SocketLine(conn), stop, hangup_ends=True)


if __name__ == "__main__":  # pragma: no cover
    main()
