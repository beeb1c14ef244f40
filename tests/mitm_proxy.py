"""A man in the middle between a host driver and a real `cmsim-device`: on TCP loopback (in front
of `--tcp`) or on a pty pair (the host opens the proxy's pty, the proxy holds the device's).

It cuts both directions into frames (``module.wire.frame``), keeps every frame it saw, and hands
each one to a hook that decides what goes on: the frame as it is, another frame, nothing, or a
frame sent back where it came from. The CRC is no security measure, so the proxy re-encodes
whatever it makes with the ordinary encoder, as an attacker on the line would.
"""

from __future__ import annotations

import fcntl
import os
import selectors
import socket
import threading
import tty
from collections.abc import Callable, Iterable
from typing import Literal

from module.wire.frame import Frame, FrameDecoder, FrameError, encode_frame

Side = Literal["host", "device"]
# hook(source side, frame) -> (destination side, frame) pairs to send
Hook = Callable[[Side, Frame], Iterable[tuple[Side, Frame]]]


def forward(source: Side, frame: Frame) -> Iterable[tuple[Side, Frame]]:
    """The honest wire: every frame to the other side, unchanged."""
    return [("device" if source == "host" else "host", frame)]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class MitmProxy:
    """The relay and what it saw; :meth:`to` picks the line from the device's port."""

    def __init__(self, hook: Hook = forward) -> None:
        self.hook = hook
        self.seen: list[tuple[Side, Frame]] = []  # as they arrived, before the hook
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def to(device_port: str, hook: Hook = forward) -> MitmProxy:
        """A proxy in front of ``socket://HOST:PORT`` (TCP) or of a pty path."""
        if device_port.startswith("socket://"):
            host, _, port = device_port.removeprefix("socket://").rpartition(":")
            return TcpMitmProxy((host, int(port)), hook)
        return PtyMitmProxy(device_port, hook)

    @property
    def port(self) -> str:
        raise NotImplementedError

    def requests(self, code: int | None = None) -> list[Frame]:
        return [f for side, f in self.seen if side == "host" and (code is None or f.code == code)]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def __enter__(self) -> MitmProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        raise NotImplementedError

    def _relay(self, ends: dict[Side, int]) -> None:
        """Frames both ways between two file descriptors until either end hangs up or close()."""
        decoders: dict[Side, FrameDecoder] = {"host": FrameDecoder(), "device": FrameDecoder()}
        with selectors.DefaultSelector() as sel:
            for side, fd in ends.items():
                sel.register(fd, selectors.EVENT_READ, side)
            while not self._stop.is_set():
                for key, _ in sel.select(0.1):
                    source: Side = key.data
                    try:
                        chunk = os.read(ends[source], 65536)
                    except BlockingIOError:
                        continue
                    if not chunk:
                        return  # either end hung up: the connection is over
                    for item in decoders[source].feed(chunk):
                        if isinstance(item, FrameError):
                            continue
                        self.seen.append((source, item))
                        for destination, out in self.hook(source, item):
                            _write_all(ends[destination], encode_frame(out))


class TcpMitmProxy(MitmProxy):
    """Listens on loopback; each host connection gets its own connection to the device."""

    def __init__(self, device_address: tuple[str, int], hook: Hook = forward) -> None:
        super().__init__(hook)
        self.device_address = device_address
        self._server = socket.create_server(("127.0.0.1", 0))
        self._thread.start()

    @property
    def port(self) -> str:
        host, port = self._server.getsockname()[:2]
        return f"socket://{host}:{port}"

    def close(self) -> None:
        super().close()
        self._server.close()

    def _run(self) -> None:
        self._server.settimeout(0.1)
        while not self._stop.is_set():
            try:
                host, _ = self._server.accept()
            except TimeoutError:
                continue
            with host, socket.create_connection(self.device_address) as device:
                self._relay({"host": host.fileno(), "device": device.fileno()})


class PtyMitmProxy(MitmProxy):
    """A pty of its own for the host, and the device's pty held open (and locked, so no other
    host reads the device's answers) for the proxy's lifetime."""

    def __init__(self, device_path: str, hook: Hook = forward) -> None:
        super().__init__(hook)
        self._master, self._slave = os.openpty()  # the slave stays open here: a host's close is no EOF
        tty.setraw(self._master)
        tty.setraw(self._slave)
        self._path = os.ttyname(self._slave)
        self._device = os.open(device_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        fcntl.flock(self._device, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as pyserial's exclusive=True does
        tty.setraw(self._device)
        os.set_blocking(self._master, False)
        self._thread.start()

    @property
    def port(self) -> str:
        return self._path

    def close(self) -> None:
        super().close()
        for fd in (self._device, self._master, self._slave):
            os.close(fd)

    def _run(self) -> None:
        self._relay({"host": self._master, "device": self._device})
