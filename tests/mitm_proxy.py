"""A man in the middle on TCP loopback: between a host driver and a real `cmsim-device --tcp`.

It cuts both directions into frames (``module.wire.frame``), keeps every frame it saw, and hands
each one to a hook that decides what goes on: the frame as it is, another frame, nothing, or a
frame sent back where it came from. The CRC is no security measure, so the proxy re-encodes
whatever it makes with the ordinary encoder, as an attacker on the line would.
"""

from __future__ import annotations

import selectors
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from module.wire.frame import Frame, FrameDecoder, FrameError, encode_frame

Side = Literal["host", "device"]
# hook(source side, frame) -> (destination side, frame) pairs to send
Hook = Callable[[Side, Frame], Iterable[tuple[Side, Frame]]]


def forward(source: Side, frame: Frame) -> Iterable[tuple[Side, Frame]]:
    """The honest wire: every frame to the other side, unchanged."""
    return [("device" if source == "host" else "host", frame)]


@dataclass
class MitmProxy:
    device_address: tuple[str, int]
    hook: Hook = forward
    seen: list[tuple[Side, Frame]] = field(default_factory=list)  # as they arrived, before the hook

    def __post_init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @classmethod
    def to(cls, device_port: str, hook: Hook = forward) -> MitmProxy:
        """A proxy in front of ``socket://HOST:PORT``."""
        host, _, port = device_port.removeprefix("socket://").rpartition(":")
        return cls((host, int(port)), hook)

    @property
    def port(self) -> str:
        host, port = self._server.getsockname()[:2]
        return f"socket://{host}:{port}"

    def requests(self, code: int | None = None) -> list[Frame]:
        return [f for side, f in self.seen if side == "host" and (code is None or f.code == code)]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._server.close()

    def __enter__(self) -> MitmProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ relay
    def _run(self) -> None:
        self._server.settimeout(0.1)
        while not self._stop.is_set():
            try:
                host, _ = self._server.accept()
            except TimeoutError:
                continue
            with host, socket.create_connection(self.device_address) as device:
                self._relay(host, device)

    def _relay(self, host: socket.socket, device: socket.socket) -> None:
        ends: dict[Side, socket.socket] = {"host": host, "device": device}
        decoders: dict[Side, FrameDecoder] = {"host": FrameDecoder(), "device": FrameDecoder()}
        with selectors.DefaultSelector() as sel:
            for side, sock in ends.items():
                sel.register(sock, selectors.EVENT_READ, side)
            while not self._stop.is_set():
                for key, _ in sel.select(0.1):
                    source: Side = key.data
                    chunk = ends[source].recv(65536)
                    if not chunk:
                        return  # either end hung up: the connection is over
                    for item in decoders[source].feed(chunk):
                        if isinstance(item, FrameError):
                            continue
                        self.seen.append((source, item))
                        for destination, out in self.hook(source, item):
                            ends[destination].sendall(encode_frame(out))
