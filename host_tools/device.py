"""`Device`: a client on a serial line, pty or socket, opened from a port name.

    with Device.open("/dev/pts/5") as dev:
        dev.status()
        with dev.login("alice", password) as session:
            session.call(Command.RANDOM, {"length": 32})
"""

from __future__ import annotations

from host_tools.client import Client
from host_tools.known_devices import KnownDevices
from host_tools.link import WireTransport
from host_tools.transport import SerialTransport

__all__ = ["Device"]


class Device(Client):
    """A :class:`~host_tools.client.Client` that owns its line and closes it."""

    transport: WireTransport

    @classmethod
    def open(cls, port: str, *, timeout: float = 5.0, retries: int = 2, baudrate: int = 115200,
             known_devices: KnownDevices | None = None, expect_fingerprint: str | None = None) -> Device:
        """``known_devices`` (default: the store in CMSIM_HOME) and ``expect_fingerprint`` as for Client."""
        line = SerialTransport(port, baudrate=baudrate)
        line.open()
        return cls(WireTransport(line, timeout=timeout, retries=retries), known_devices=known_devices,
                   expect_fingerprint=expect_fingerprint)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
