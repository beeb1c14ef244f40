"""Byte transports to a device: open, close, read, write (the trezorlib shape), over pyserial.

``serial.serial_for_url`` gives one implementation for every kind of line: a device path or pty
(``/dev/pts/N``, ``/dev/ttyUSB0``), ``socket://host:port`` for a device on TCP, and ``loop://``
(pyserial's own in-process loopback, which honours the same interface) for unit tests.

Two exceptions to pyserial: ``socket://host:port`` and ``unix://path`` are plain sockets read
with ``recv`` (pyserial's socket port reports at most one byte waiting, so a frame came in one or
two bytes per call); and a device path is opened exclusively (a pty is one line: a second host on
it would read the first one's answers), so a second host gets "in use" rather than a timeout.
"""

from __future__ import annotations

import logging
import select
import socket
import termios
import time
from typing import Protocol

import serial

from host_tools.errors import TransportError

__all__ = ["Transport", "SerialTransport", "DEFAULT_BAUD"]

log = logging.getLogger(__name__)

DEFAULT_BAUD = 115200
POLL = 0.02  # seconds a read waits for a first byte before looking at its own deadline again
READ_SIZE = 65536


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
        self._sock: socket.socket | None = None

    def open(self) -> None:
        if self._port is not None or self._sock is not None:
            return
        if self.url.startswith(("socket://", "unix://")):
            self._sock = self._connect()
            log.debug("connected to %s", self.url)
            return
        exclusive = "://" not in self.url  # a device path; pyserial's URL handlers take no lock
        try:
            self._port = serial.serial_for_url(self.url, baudrate=self.baudrate, timeout=POLL,
                                               write_timeout=self.write_timeout,
                                               **({"exclusive": True} if exclusive else {}))
        except (serial.SerialException, OSError, ValueError) as exc:
            log.debug("cannot open %s: %s", self.url, exc)
            if exclusive and "exclusively lock" in str(exc):
                raise TransportError(f"{self.url} is in use by another host (a line serves one host at a time; "
                                     "a device on --tcp or --unix serves many)") from None
            raise TransportError(f"cannot open {self.url}: {exc}") from None
        log.debug("opened %s at %d baud", self.url, self.baudrate)

    def _connect(self) -> socket.socket:
        try:
            if self.url.startswith("unix://"):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    sock.settimeout(self.write_timeout)
                    sock.connect(self.url.removeprefix("unix://"))
                except OSError:
                    sock.close()
                    raise
            else:
                host, _, port = self.url.removeprefix("socket://").rpartition(":")
                if not port.isdigit():
                    raise ValueError("expected socket://HOST:PORT")
                sock = socket.create_connection((host, int(port)), timeout=self.write_timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, ValueError) as exc:
            log.debug("cannot open %s: %s", self.url, exc)
            raise TransportError(f"cannot open {self.url}: {exc}") from None
        sock.settimeout(self.write_timeout)  # sendall gives up after this; reads wait in select
        return sock

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
            log.debug("closed %s", self.url)
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
        if self._sock is not None:
            try:
                self._sock.sendall(data)
            except TimeoutError:
                log.warning("write to %s timed out after %s s", self.url, self.write_timeout)
                raise TransportError(f"write to {self.url} timed out (is the device reading?)") from None
            except OSError as exc:
                raise TransportError(f"write to {self.url} failed: {exc}") from None
            return
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
        if self._sock is not None:
            return self._recv(self._sock, timeout)
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

    def _recv(self, sock: socket.socket, timeout: float) -> bytes:
        """Whatever the socket has once it is readable (a whole frame or more in one call)."""
        try:
            ready, _, _ = select.select([sock], [], [], max(0.0, timeout))
            if not ready:
                return b""
            data = sock.recv(READ_SIZE)
        except OSError as exc:
            raise TransportError(f"read from {self.url} failed: {exc}") from None
        if not data:
            raise TransportError(f"read from {self.url} failed: the device closed the connection")
        return data

    def __enter__(self) -> SerialTransport:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
