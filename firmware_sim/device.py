"""Assemble a simulated device: the module with its flash, clock, entropy source and code image."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from firmware_sim.clock import SystemClock
from firmware_sim.entropy import OsNoiseSource
from firmware_sim.flash import DirectoryFlash
from firmware_sim.integrity import DEFAULT_SEAL_PATH, PackageCodeImage, read_seal
from module.audit.sink import AuditSink
from module.core import Module, ModuleConfig
from module.endpoint import Endpoint
from module.ports import EntropySource, Flash
from module.wire.frame import FrameDecoder
from module.wire.handshake import SessionKeys
from module.wire.messages import Reply

__all__ = ["build_module", "InProcessTransport", "EndpointLine"]


def build_module(
    state_dir: str | Path,
    *,
    config: ModuleConfig | None = None,
    seal_path: Path = DEFAULT_SEAL_PATH,
    entropy: EntropySource | None = None,
    durable: bool = True,
    audit: AuditSink | None = None,
    wrap_flash: Callable[[Flash], Flash] | None = None,
) -> Module:
    """A module on a state directory, powered off; call ``power_on()`` to boot it.

    ``wrap_flash`` puts a layer between the module and its flash (the lab's fault injection)."""
    flash: Flash = DirectoryFlash(state_dir, durable=durable)
    return Module(
        flash=wrap_flash(flash) if wrap_flash else flash,
        clock=SystemClock(),
        entropy=entropy or OsNoiseSource(),
        code=PackageCodeImage(),
        seal=read_seal(seal_path),
        config=config,
        audit=audit,
    )


class InProcessTransport:
    """Carries calls straight into a module in this process (tests and the benchmarks' baseline)."""

    def __init__(self, module: Module) -> None:
        self.module = module

    def call(self, command: int, params: Mapping[str, Any], session_id: int) -> Reply:
        return self.module.call(command, params, session_id)

    def bind_session(self, session_id: int, keys: SessionKeys) -> None:
        """Nothing to protect in process: the call never leaves the module's address space."""

    def unbind_session(self, session_id: int) -> None:
        """Nothing bound."""


class EndpointLine:
    """A byte line wired straight into an :class:`~module.endpoint.Endpoint` in this process.

    It honours :class:`host_tools.transport.Transport` (open, close, read, write) the way pyserial's
    ``loop://`` honours a serial port: the full frame codec and secure channel run, only the pty
    is missing. Unit tests use it; integration tests use a real pty.
    """

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._decoder = FrameDecoder()
        self._outbox = bytearray()
        self.written: list[bytes] = []  # every chunk the host wrote, for tests that replay them

    def open(self) -> None:
        """Always open."""

    def close(self) -> None:
        self._outbox.clear()

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))
        for item in self._decoder.feed(data):
            self._outbox += self.endpoint.handle_bytes(item)

    def read(self, timeout: float) -> bytes:
        out = bytes(self._outbox)
        self._outbox.clear()
        return out
