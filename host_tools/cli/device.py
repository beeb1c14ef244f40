"""`cmsim device`: start, stop and inspect a simulated device in the background (`cmsim-device` on a pty)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from host_tools.cli.context import (
    EXIT_DEVICE,
    EXIT_NO_DEVICE,
    Ctx,
    device_file,
    fail,
    pass_ctx,
    remembered_port,
    state_home,
)

__all__ = ["COMMANDS", "device"]


@click.group()
def device() -> None:
    """Start, stop and inspect a simulated device in the background."""


@device.command("start")
@click.option("--state", "state_dir", type=click.Path(file_okay=False), help="State directory (default: CMSIM_HOME/state).")
@click.option("--arg", "extra", multiple=True, help="Extra cmsim-device option (repeatable), e.g. --arg=--fsync=os.")
@pass_ctx
def device_start(c: Ctx, state_dir: str | None, extra: tuple[str, ...]) -> None:
    """Start `cmsim-device` on a new pty and remember its port for later commands."""
    home = state_home()
    home.mkdir(parents=True, exist_ok=True)
    if _alive():
        fail(EXIT_DEVICE, f"a device is already running (port {remembered_port()}); `cmsim device stop` first")
    state = Path(state_dir) if state_dir else home / "state"
    log = open(home / "device.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "firmware_sim", "--state", str(state), *extra],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, start_new_session=True)
    assert proc.stdout is not None
    port = proc.stdout.readline().decode().strip()
    proc.stdout.close()
    if not port:
        fail(EXIT_NO_DEVICE, f"the device did not start; see {home / 'device.log'}")
    device_file().write_text(json.dumps({"pid": proc.pid, "port": port, "state": str(state)}), encoding="utf-8")
    c.emit({"pid": proc.pid, "port": port, "state": str(state)},
           lambda: click.echo(f"device started: port {port} (pid {proc.pid}, state {state})\n"
                              f"later commands use it; or: export CMSIM_PORT={port}"))


def _alive() -> bool:
    path = device_file()
    if not path.exists():
        return False
    pid = int(json.loads(path.read_text(encoding="utf-8"))["pid"])
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@device.command("stop")
@pass_ctx
def device_stop(c: Ctx) -> None:
    """Power the device off cleanly (SIGTERM)."""
    path = device_file()
    if not path.exists():
        fail(EXIT_NO_DEVICE, "no device started by `cmsim device start`")
    pid = int(json.loads(path.read_text(encoding="utf-8"))["pid"])
    try:
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            _reap(pid)
            os.kill(pid, 0)
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
        _reap(pid)
    except ProcessLookupError:
        pass
    path.unlink()
    c.emit({"stopped": pid})


def _reap(pid: int) -> None:
    """Collect the exit status if the device is our own child (a zombie still answers kill 0)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


@device.command("status")
@pass_ctx
def device_status(c: Ctx) -> None:
    """Whether the remembered device runs, and where."""
    path = device_file()
    info = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    info["running"] = _alive()
    c.emit(info)
    if not info["running"]:
        sys.exit(EXIT_NO_DEVICE)


COMMANDS = [device]
