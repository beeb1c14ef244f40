"""`cmsim-device`: the simulated device on a pty, a tty, TCP and Unix sockets.

The device powers the module on, then serves frames until SIGTERM or Ctrl-C, which power it off
cleanly. SIGKILL is a power loss: the flash design (write-new, fsync, rename; the audit ring's
torn-slot detection; the group commit's journal) is what the next boot relies on.

With ``--pty`` (the default) the first line on stdout is the pty path a host opens, as swtpm and
socat print theirs. Both ends of the pty are put in raw mode at once, and the device keeps the
slave end open itself so that a host may close and reopen it without the line going away. A pty
or tty is one line for one host at a time (hosts open it exclusively); ``--tcp`` and ``--unix``
serve any number of hosts at once, each connection with its own line state
(:mod:`firmware_sim.server`).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import tempfile
import tty
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import click

from firmware_sim.device import build_module
from firmware_sim.flash import DirectoryFlash, StateDirectoryError, check_state_directory
from firmware_sim.integrity import DEFAULT_SEAL_PATH
from firmware_sim.server import FRAME_TIMEOUT, Server
from module.audit.trail import AuditConfig
from module.core import Module, ModuleConfig
from module.endpoint import Endpoint
from module.operators import AuthPolicy
from module.ports import Flash, FlashError

if TYPE_CHECKING:
    from firmware_sim.faults import FaultyFlash

__all__ = ["main", "serve_line", "open_pty", "FRAME_TIMEOUT"]

POWER_CUT_EXIT = 137  # what a shell reports for a SIGKILL: the lab's power cut looks the same
STATE_DIR_EXIT = 78  # EX_CONFIG (sysexits.h): the --state directory is not safe to keep SSPs in
FLUSH_FAILED_EXIT = 74  # EX_IOERR: a group commit's flush failed, so its answers never left
log = logging.getLogger("cmsim.device")


class Line(Protocol):
    def fileno(self) -> int: ...


class FdLine:
    """A pty master or a tty file descriptor."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd


class SocketLine:
    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn

    def fileno(self) -> int:
        return self.conn.fileno()


def open_pty() -> tuple[int, int, str]:
    """(master fd, slave fd, slave path), both ends raw: no echo, no line editing, no CR/LF mangling."""
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    return master, slave, os.ttyname(slave)


class Stop:
    """Set by SIGTERM/SIGINT; the serving loop looks at it on every pass (at least every TICK)."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: object) -> None:
        self.requested = True

    def __bool__(self) -> bool:
        return self.requested


def serve_line(endpoint: Endpoint, line: Line, stop: Stop, *, lab: tuple[object, Line] | None = None,
               flash: DirectoryFlash | None = None) -> None:
    """Serve frames on one line (and, with ``lab``, the lab port's command lines) until ``stop``."""
    server = _server(endpoint, stop, flash)
    if isinstance(line, SocketLine):
        server.add_socket_line(line.conn, "socket")
    else:
        server.add_fd_line(line.fileno(), "line")
    _serve(server, lab)


def _server(endpoint: Endpoint, stop: Stop, flash: DirectoryFlash | None, idle_timeout: float | None = None) -> Server:
    """A server whose group commit is the flash's sync (when the flash defers; see flash.py)."""
    commit = None
    if flash is not None:
        def commit() -> None:
            try:
                flash.sync()
            except FlashError as exc:  # what reached the disk is unknown: no answer of this pass may leave
                log.error("group commit failed, the device stops without answering: %s", exc)
                os._exit(FLUSH_FAILED_EXIT)
    return Server(endpoint, lambda: stop.requested, commit=commit, idle_timeout=idle_timeout)


def _serve(server: Server, lab: tuple[object, Line] | None) -> None:
    """Run the loop; a PowerCut from the lab's fault injection ends the process at once."""
    from firmware_sim.faults import PowerCut

    if lab is not None:
        controller, port = lab
        server.add_lab(port.fileno(), controller.handle_line)  # type: ignore[attr-defined]
    try:
        server.serve()
    except PowerCut:
        log.warning("power cut (lab): the device stops here, as it would")
        os._exit(POWER_CUT_EXIT)


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
@click.option("--unix", "unix_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Serve on a Unix socket (hosts use unix://PATH); with --tcp, both (TCP's URL first).")
@click.option("--idle-timeout", type=click.FloatRange(min=0.1),
              help="Close a TCP or Unix connection that sends nothing for this many seconds (default: never).")
@click.option("--state", "state_dir", type=click.Path(file_okay=False, path_type=Path),
              help="State directory (the flash; created 0700). Refused (exit 78) if another user owns it or "
                   "group or others may write it. A private temporary one when omitted.")
@click.option("--capacity", type=click.IntRange(min=16), help="Audit ring capacity in records.")
@click.option("--fsync", type=click.Choice(["always", "os"]), default="always", show_default=True,
              help="Audit write-ahead: every record is fsynced before its answer leaves (survives power "
                   "loss; the records of one pass of the serving loop share one flush), or it is left to the "
                   "OS (survives a crash of this process only).")
@click.option("--seal", "seal_path", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_SEAL_PATH,
              show_default=True, help="Integrity seal written by `cmsim-seal` (`make seal`).")
@click.option("--pbkdf2-iterations", type=click.IntRange(min=1000),
              help="PBKDF2 iterations for credentials set from now on (default 100,000).")
@click.option("--serial", "serial_number", help="Module serial number.")
@click.option("--session-timeout", type=click.FloatRange(min=0.1), help="Idle session timeout in seconds (default 300).")
@click.option("--lab", is_flag=True, help="Lab mode: a fault-injection port on a second pty (stdout's second line).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="warning",
              show_default=True)
def main(use_pty: bool, tty_path: str | None, baud: int, tcp: str | None, unix_path: Path | None,
         idle_timeout: float | None, state_dir: Path | None, capacity: int | None, fsync: str, seal_path: Path, pbkdf2_iterations: int | None, serial_number: str | None,
         session_timeout: float | None, lab: bool, log_level: str) -> None:
    """Run a simulated cmsim device."""
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr, format="cmsim-device: %(message)s")
    if sum(bool(x) for x in (use_pty, tty_path, tcp or unix_path)) > 1:
        raise click.UsageError("give one of --pty, --tty, --tcp/--unix")
    if lab and (tcp or unix_path):
        raise click.UsageError("--lab goes with --pty or --tty")
    with ExitStack() as cleanup:
        if state_dir is None:  # a temporary flash, removed at power-off (not after a power cut: os._exit)
            state_dir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="cmsim-state-")))
            click.echo(f"cmsim-device: no --state given, using {state_dir} (removed at exit)", err=True)
        try:
            check_state_directory(state_dir)
        except StateDirectoryError as exc:
            click.echo(f"cmsim-device: {exc}", err=True)
            sys.exit(STATE_DIR_EXIT)
        _run(use_pty, tty_path, baud, tcp, unix_path, idle_timeout, state_dir, capacity, fsync, seal_path,
             pbkdf2_iterations, serial_number, session_timeout, lab)


def _run(use_pty: bool, tty_path: str | None, baud: int, tcp: str | None, unix_path: Path | None,
         idle_timeout: float | None, state_dir: Path, capacity: int | None, fsync: str, seal_path: Path,
         pbkdf2_iterations: int | None, serial_number: str | None, session_timeout: float | None, lab: bool) -> None:
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
    flashes: list[DirectoryFlash] = []
    entropy = None
    if lab:
        from firmware_sim.faults import FaultyFlash
        from firmware_sim.lab import SwitchableSource

        entropy = SwitchableSource()

    def wrap(flash: Flash) -> Flash:
        assert isinstance(flash, DirectoryFlash)
        flashes.append(flash)
        if not lab:
            return flash
        faulty.append(FaultyFlash(flash))
        return faulty[0]

    module = build_module(state_dir, config=config, seal_path=seal_path, entropy=entropy, wrap_flash=wrap)
    endpoint = Endpoint(module)
    # Group commit: under fsync=always the records of a pass share one flush. Not in lab mode, whose
    # fault injection counts and cuts the per-record syncs themselves.
    group = flashes[0] if fsync == "always" and not lab else None
    server = _server(endpoint, stop, group, idle_timeout)
    lab_port: tuple[object, Line] | None = None
    if lab:
        from firmware_sim.lab import LabController

        assert entropy is not None

        def power_cycle() -> None:
            module.power_off()
            endpoint.reset()
            module.power_on()

        lab_master, lab_slave, lab_path = open_pty()
        lab_port = (LabController(module, faulty[0], entropy, power_cycle), FdLine(lab_master))
    with _powered(module):
        if group is not None:
            group.defer()
        try:
            _serve_on(server, lab_port, tty_path=tty_path, baud=baud, tcp=tcp, unix_path=unix_path,
                      lab_path=lab_path if lab else None)
        finally:
            if group is not None:
                group.defer(False)  # what powering off records is written through again


def _serve_on(server: Server, lab_port: tuple[object, Line] | None, *, tty_path: str | None, baud: int,
              tcp: str | None, unix_path: Path | None, lab_path: str | None) -> None:
    """Open the lines and listeners asked for, print where hosts find them, serve until stopped."""
    if tcp or unix_path:
        if tcp:
            server.add_listener(_tcp_listener(tcp))
        if unix_path:
            server.add_listener(_unix_listener(unix_path))
        try:
            _serve(server, None)
        finally:
            if unix_path:
                unix_path.unlink(missing_ok=True)
    elif tty_path:
        import serial

        with serial.Serial(tty_path, baudrate=baud, timeout=0) as port:
            click.echo(tty_path)
            if lab_path:
                click.echo(f"lab: {lab_path}")
            sys.stdout.flush()
            server.add_fd_line(port.fileno(), tty_path)
            _serve(server, lab_port)
    else:
        master, slave, path = open_pty()
        click.echo(path)
        if lab_path:
            click.echo(f"lab: {lab_path}")
        sys.stdout.flush()
        try:
            server.add_fd_line(master, path)
            _serve(server, lab_port)
        finally:
            os.close(master)
            os.close(slave)


def _tcp_listener(address: str) -> socket.socket:
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        raise click.BadParameter("expected HOST:PORT", param_hint="--tcp")
    listener = socket.create_server((host or "127.0.0.1", int(port)), backlog=128)
    bound = listener.getsockname()
    click.echo(f"socket://{bound[0]}:{bound[1]}")
    sys.stdout.flush()
    return listener


def _unix_listener(path: Path) -> socket.socket:
    if path.is_socket():
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            if probe.connect_ex(os.fspath(path)) == 0:
                raise click.UsageError(f"{path}: another device serves there")
        path.unlink()  # left by a device that lost its power; anything else there is not ours to remove
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o077)  # only this user's hosts may connect
    try:
        listener.bind(os.fspath(path))
    finally:
        os.umask(old)
    listener.listen(128)
    click.echo(f"unix://{path}")
    sys.stdout.flush()
    return listener


if __name__ == "__main__":  # pragma: no cover
    main()
