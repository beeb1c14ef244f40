"""Byte transports to a device: open, close, read, write (the trezorlib shape), over pyserial.

``serial.serial_for_url`` gives one implementation for every kind of line: a device path or pty
(``/dev/pts/N``, ``/dev/ttyUSB0``), ``socket://host:port`` for a device on TCP, and ``loop://``
(pyserial's own in-process loopback, which honours the same interface) for unit tests.
"""

from __future__ import annotations

import logging
import termios
import time
from typing import Protocol

import serial

from host_tools.errors import TransportError

__all__ = ["Transport", "SerialTransport", "DEFAULT_BAUD"]

log = logging.getLogger(__name__)

DEFAULT_BAUD = 115200
POLL = 0.02  # seconds a read waits for a first byte before looking at its own deadline again


class Transport(Protocol):
    def open(self) -> None: ...

    def close(self) -> None: ...

    def write(self, data: bytes) -> None: ...

    def read(self, timeout: float) -> bytes:
        """Whatever bytes arrive within ``timeout`` seconds (b"" when none did)."""
        ...


class SerialTransport:
    """A pyserial port. Writes have a timeout (a pty buffers only a few KiB when nobody reads)."""

    def __init__(self, url: str, *, baudrate: int = DEFAULT_BAUD, write_timeout: float = 5.0) -> None:
        self.url = url
        self.baudrate = baudrate
        self.write_timeout = write_timeout
        self._port: serial.SerialBase | None = None

    def open(self) -> None:
        if self._port is not None:
            return
        try:
            self._port = serial.serial_for_url(self.url, baudrate=self.baudrate, timeout=POLL,
                                               write_timeout=self.write_timeout)
        except (serial.SerialException, OSError, ValueError) as exc:
            log.debug("cannot open %s: %s", self.url, exc)
            raise TransportError(f"cannot open {self.url}: {exc}") from None
        log.debug("opened %s at %d baud", self.url, self.baudrate)

    def close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError) as exc:
                log.debug("closing %s: %s", self.url, exc)
            log.debug("closed %s", self.url)

    def _require(self) -> serial.SerialBase:
        if self._port is None:
            raise TransportError(f"{self.url} is not open")
        return self._port

    def write(self, data: bytes) -> None:
        port = self._require()
        try:
            port.write(data)
            port.flush()
        except serial.SerialTimeoutException:
            log.warning("write to %s timed out after %s s", self.url, self.write_timeout)
            raise TransportError(f"write to {self.url} timed out (is the device reading?)") from None
        except (serial.SerialException, OSError, termios.error) as exc:  # tcdrain: EIO once the device is gone
            raise TransportError(f"write to {self.url} failed: {exc}") from None

    def read(self, timeout: float) -> bytes:
        """Blocks up to ``timeout`` for the first byte, then takes what is already there.

        Our own timer (polling in POLL steps) rather than pyserial's inter_byte_timeout, which
        does not work on Linux ptys."""
        port = self._require()
        deadline = time.monotonic() + timeout
        try:
            while True:
                data = port.read(port.in_waiting or 1)
                if data:
                    more = port.in_waiting
                    return bytes(data) + (bytes(port.read(more)) if more else b"")
                if time.monotonic() >= deadline:
                    return b""
        except (serial.SerialException, OSError, termios.error) as exc:  # EIO when the device end closed
            raise TransportError(f"read from {self.url} failed: {exc}") from None

    def __enter__(self) -> SerialTransport:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
