"""The host tools log what happened on the line (open, close, retransmit, login, logout) through
``logging.getLogger(__name__)``, and leave logging's configuration to the application."""

from __future__ import annotations

import ast
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PASSWORDS
from firmware_sim.device import EndpointLine
from host_tools.client import Client
from host_tools.link import WireTransport
from host_tools.transport import SerialTransport
from module.core import Module
from module.endpoint import Endpoint
from module.wire.defs import Command, KeyType
from module.wire.frame import Frame, FrameDecoder

ROOT = Path(__file__).resolve().parent.parent


def messages(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger]


def test_open_and_close_of_a_pty_are_logged_with_its_name(caplog: pytest.LogCaptureFixture) -> None:
    controller, device = os.openpty()
    try:
        name = os.ttyname(device)
        line = SerialTransport(name)
        with caplog.at_level(logging.DEBUG, logger="host_tools"):
            line.open()
            line.close()
    finally:
        os.close(controller)
        os.close(device)
    logged = messages(caplog, "host_tools.transport")
    assert [m for m in logged if m.startswith("opened ")] == [f"opened {name} at 115200 baud"]
    assert [m for m in logged if m.startswith("closed ")] == [f"closed {name}"]


def test_a_retransmit_is_logged_with_its_session_and_seq(module: Module, caplog: pytest.LogCaptureFixture) -> None:
    class LossyLine(EndpointLine):
        drop_next = False

        def read(self, timeout: float) -> bytes:
            data = super().read(timeout)
            if self.drop_next and data:
                self.drop_next = False
                return b""
            return data

    lossy = LossyLine(Endpoint(module))
    transport = WireTransport(lossy, timeout=0.01, retries=2)
    with caplog.at_level(logging.DEBUG, logger="host_tools"):
        with Client(transport).login("alice", PASSWORDS["alice"]) as alice:
            lossy.drop_next = True
            alice.call(Command.KEY_GENERATE, {"key_type": int(KeyType.AES_256)})
            # The frame sent twice, as the line saw it (not as the host tools report it).
            sent = [f for f in FrameDecoder().feed(lossy.written[-1]) if isinstance(f, Frame)][0]
            assert lossy.written[-1] == lossy.written[-2]
    assert transport.retransmits == 1
    assert messages(caplog, "host_tools.link") == [
        f"LossyLine: retransmit session {sent.session_id} seq {sent.seq} (attempt 2 of 3)"]
    logged = messages(caplog, "host_tools.client")
    assert f"logged in as alice (session {sent.session_id}, role USER)" in logged
    assert logged[-1] == f"logged out alice (session {sent.session_id})"


def test_host_tools_never_configure_logging() -> None:
    """A library leaves handlers and levels to the application (pyserial's loop handler does not)."""
    offenders = []
    for path in sorted((ROOT / "host_tools").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("basicConfig", "dictConfig", "fileConfig"):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            elif isinstance(node, ast.Name) and node.id == "basicConfig":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_a_warning_prints_nothing_when_the_application_configured_no_logging() -> None:
    """Without the library's NullHandler, logging's last resort would add lines to the CLI's stderr."""
    code = "import logging, host_tools.link; logging.getLogger('host_tools.link').warning('no response')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0 and done.stderr == ""
