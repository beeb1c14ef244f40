"""`cmsim device`: start, stop and inspect a simulated device in the background (`cmsim-device` on a pty).

What `start` remembers in CMSIM_HOME: ``device.json`` (pid, the process's start time, pty, state
directory, serial) and ``device.tty``, a symlink to the pty, the stable path later commands and
``CMSIM_PORT`` use (a ``/dev/pts/N`` may be another process's once the device is gone). A pid is
taken to be the device's only while the process with it started when the device did and runs
``firmware_sim``, so a dead device whose pid was reused is never signalled nor reported running.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

from host_tools.cli.context import (
    EXIT_DEVICE,
    EXIT_NO_DEVICE,
    EXIT_USAGE,
    Ctx,
    device_file,
    fail,
    pass_ctx,
    remembered_port,
    state_home,
)
from host_tools.device_process import is_device_process, process_start_time, state_serial

__all__ = ["COMMANDS", "device", "tty_link"]


def tty_link() -> Path:
    """The stable path of the remembered device's pty (a symlink in CMSIM_HOME)."""
    return state_home() / "device.tty"


@click.group()
def device() -> None:
    """Start, stop and inspect a simulated device in the background."""


@device.command("start")
@click.option("--state", "state_dir", type=click.Path(file_okay=False), help="State directory (default: CMSIM_HOME/state).")
@click.option("--serial", help="Module serial (default: the state directory's own, chosen at its first start).")
@click.option("--arg", "extra", multiple=True, help="Extra cmsim-device option (repeatable), e.g. --arg=--fsync=os.")
@pass_ctx
def device_start(c: Ctx, state_dir: str | None, serial: str | None, extra: tuple[str, ...]) -> None:
    """Start `cmsim-device` on a new pty; later commands find it through CMSIM_HOME/device.tty."""
    home = state_home()
    home.mkdir(parents=True, exist_ok=True)
    if _running() is not None:
        fail(EXIT_DEVICE, f"a device is already running (port {remembered_port()}); `cmsim device stop` first")
    state = Path(state_dir).resolve() if state_dir else home / "state"
    try:
        serial = state_serial(state, serial)
    except ValueError as exc:
        fail(EXIT_USAGE, str(exc))
    log = open(home / "device.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "firmware_sim", "--state", str(state), "--serial", serial, *extra],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, start_new_session=True)
    assert proc.stdout is not None
    pty = proc.stdout.readline().decode().strip()
    proc.stdout.close()
    if not pty:
        fail(EXIT_NO_DEVICE, f"the device did not start; see {home / 'device.log'}")
    link = tty_link()
    if "://" in pty:  # a socket (--arg=--unix=PATH or --tcp): its URL is already stable
        link.unlink(missing_ok=True)
        port = pty
    else:
        tmp = link.with_name(f".{link.name}.new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(pty)
        os.replace(tmp, link)  # atomically: a reader sees the old link or the new one
        port = str(link)
    info = {"pid": proc.pid, "started": process_start_time(proc.pid), "port": port, "pty": pty,
            "state": str(state), "serial": serial}
    device_file().write_text(json.dumps(info), encoding="utf-8")
    c.emit(info, lambda: click.echo(f"device {serial} started: port {port}" + (f" -> {pty}" if port != pty else "")
                                    + f" (pid {proc.pid}, state {state})\nlater commands use it; or: export "
                                    f"CMSIM_PORT={port}"))


def _remembered() -> dict[str, Any]:
    path = device_file()
    return dict(json.loads(path.read_text(encoding="utf-8"))) if path.exists() else {}


def _running() -> int | None:
    """The remembered device's pid while that process is still the device, else None."""
    info = _remembered()
    if "pid" not in info:
        return None
    pid = int(info["pid"])
    _reap(pid)
    started = info.get("started")
    return pid if is_device_process(pid, int(started) if started is not None else None) else None


def _forget() -> None:
    device_file().unlink(missing_ok=True)
    tty_link().unlink(missing_ok=True)


@device.command("stop")
@pass_ctx
def device_stop(c: Ctx) -> None:
    """Power the device off cleanly (SIGTERM)."""
    if not device_file().exists():
        fail(EXIT_NO_DEVICE, "no device started by `cmsim device start`")
    pid = _running()
    if pid is None:
        _forget()
        fail(EXIT_NO_DEVICE, "the remembered device is no longer running (forgotten now)")
    started = _remembered().get("started")
    try:
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):  # until it is gone, reaped by its parent (init, once `start` has exited)
            _reap(pid)
            if _gone(pid, started):
                break
            time.sleep(0.05)
        else:
            if _running() is not None:  # not merely waiting to be reaped
                os.kill(pid, signal.SIGKILL)
                _reap(pid)
    except ProcessLookupError:
        pass
    _forget()
    c.emit({"stopped": pid})


def _gone(pid: int, started: int | None) -> bool:
    """Whether the process is no more (reaped, not a zombie still waiting for its parent)."""
    if started is not None:
        return process_start_time(pid) != started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _reap(pid: int) -> None:
    """Collect the exit status if the device is our own child (a zombie still answers kill 0)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


@device.command("status")
@pass_ctx
def device_status(c: Ctx) -> None:
    """Whether the remembered device runs (the very process started, not a reused pid), and where.
    Exit 6 when it does not."""
    info = _remembered()
    info["running"] = _running() is not None
    c.emit(info)
    if not info["running"]:
        sys.exit(EXIT_NO_DEVICE)


COMMANDS = [device]
