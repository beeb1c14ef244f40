"""The device's serving loop: many lines at once, each with its own state, one module behind them.

A line is a pty or tty (one host at a time, never closed by the device) or a connection accepted
on a TCP or Unix-socket listener. Every line has its own frame decoder, partial-frame timer,
output buffer and session-0 retransmit cache. Protected sessions are the module's, so they share
one :class:`~module.endpoint.Endpoint`: a session's sequence numbers and retransmit cache are
kept once, whichever connection its frames come in on (per-connection copies would let a frame
recorded on one connection be replayed on another).

One pass of the loop (``selectors`` over non-blocking descriptors):

1. read what every ready line has (at most ``READ_SIZE`` each, so one busy peer cannot starve
   the others) and hand each decoded frame to the endpoint;
2. group commit: ``commit()`` (the flash's ``sync``) makes the audit records of every request
   of the pass durable at once; only then are the pass's answers queued (write-ahead kept);
3. write what each line's buffer holds as far as the peer takes it, without ever blocking. A
   connection whose buffer passes ``max_output`` is closed, as is one idle for ``idle_timeout``;
   a socket error closes that connection only, and is logged.

``stop`` (SIGTERM, SIGINT) is looked at on every pass, and a pass waits at most ``TICK``.
"""

from __future__ import annotations

import logging
import os
import selectors
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from module.endpoint import Endpoint
from module.wire.defs import Command, Status
from module.wire.frame import Flags, Frame, FrameDecoder, FrameError, decode_frame

__all__ = ["Server", "FRAME_TIMEOUT", "TICK", "MAX_OUTPUT", "READ_SIZE"]

FRAME_TIMEOUT = 1.0  # seconds: a partial frame with no byte for this long is dropped
TICK = 0.2  # seconds a pass waits for an event at most: the stop flag and the timers are looked at this often
MAX_OUTPUT = 1 << 20  # bytes of answers a peer may leave unread before its connection is dropped
READ_SIZE = 65536
log = logging.getLogger("cmsim.device")

_Stop = Callable[[], bool]


@dataclass(eq=False)
class _Line:
    """What the device keeps per line."""

    fd: int
    name: str
    sock: socket.socket | None  # None for a pty or tty: read and written with os.read/os.write
    decoder: FrameDecoder
    last_byte: float
    last_activity: float
    out: bytearray = field(default_factory=bytearray)
    writing: bool = False  # registered for EVENT_WRITE


class Server:
    """Serves lines and listeners until ``stop()`` says so (see the module docstring).

    ``commit`` is called once per pass that produced answers, before any of them is written;
    ``handle_lab`` (the lab port) gets whole command lines from ``lab_fd``."""

    def __init__(self, endpoint: Endpoint, stop: _Stop, *, commit: Callable[[], None] | None = None,
                 idle_timeout: float | None = None, max_output: int = MAX_OUTPUT,
                 clock: Callable[[], float] = time.monotonic,
                 decoder: Callable[[], FrameDecoder] = FrameDecoder) -> None:
        self.endpoint = endpoint
        self.stop = stop
        self.commit = commit
        self.idle_timeout = idle_timeout
        self.max_output = max_output
        self.clock = clock
        self._decoder = decoder
        self._sel = selectors.DefaultSelector()
        self._lines: dict[int, _Line] = {}
        self._listeners: dict[int, socket.socket] = {}
        self._lab: tuple[int, Callable[[bytes], bytes]] | None = None
        self._lab_buffer = bytearray()
        self.passes = 0
        self.commits = 0

    # ------------------------------------------------------------------ set-up
    def add_fd_line(self, fd: int, name: str) -> None:
        """A pty master or a tty: one line for one host at a time, kept open whatever the host does."""
        os.set_blocking(fd, False)
        self._add(_Line(fd, name, None, self._decoder(), self.clock(), self.clock()))

    def add_socket_line(self, sock: socket.socket, name: str) -> None:
        """A connected socket; the device closes it when the peer hangs up or misbehaves."""
        sock.setblocking(False)
        self._add(_Line(sock.fileno(), name, sock, self._decoder(), self.clock(), self.clock()))

    def add_listener(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._listeners[sock.fileno()] = sock
        self._sel.register(sock.fileno(), selectors.EVENT_READ, "listen")

    def add_lab(self, fd: int, handle: Callable[[bytes], bytes]) -> None:
        """The lab port: newline-terminated commands, each answered by ``handle``."""
        self._lab = (fd, handle)
        self._sel.register(fd, selectors.EVENT_READ, "lab")

    def _add(self, line: _Line) -> None:
        self._lines[line.fd] = line
        self.endpoint.forget_line(line.fd)  # a fresh session-0 cache: a new peer may reuse the descriptor
        self._sel.register(line.fd, selectors.EVENT_READ, "line")

    @property
    def connections(self) -> int:
        return sum(1 for line in self._lines.values() if line.sock is not None)

    # -------------------------------------------------------------------- loop
    def serve(self) -> None:
        """Until stop(); closes every connection and listener on the way out."""
        try:
            while not self.stop():
                self.run_pass(TICK)
        finally:
            self.close()

    def run_pass(self, timeout: float) -> None:
        """One pass: reads, the group commit, writes, timers."""
        self.passes += 1
        answers: list[tuple[_Line, bytes]] = []
        for key, mask in self._sel.select(timeout):
            if key.data == "listen":
                self._accept(self._listeners[key.fd])
            elif key.data == "lab":
                self._lab_read()
            else:
                line = self._lines.get(key.fd)
                if line is None:
                    continue
                if mask & selectors.EVENT_READ:
                    self._read(line, answers)
                if mask & selectors.EVENT_WRITE and line.fd in self._lines:
                    self._flush(line)
        if answers:
            if self.commit is not None:
                self.commit()  # write-ahead: every record of this pass durable before any answer leaves
                self.commits += 1
            for line, data in answers:
                if line.fd in self._lines and self._lines[line.fd] is line:
                    line.out += data
            for line in {id(line): line for line, _ in answers}.values():
                if self._lines.get(line.fd) is line:
                    self._flush(line)
        self._timers()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                sock, peer = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE and the like: the listener stays, this peer waits
                log.warning("accept failed: %s", exc)
                return
            name = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else f"unix#{sock.fileno()}"
            log.info("host connected from %s", name)
            self.add_socket_line(sock, name)

    def _read(self, line: _Line, answers: list[tuple[_Line, bytes]]) -> None:
        try:
            data = line.sock.recv(READ_SIZE) if line.sock is not None else os.read(line.fd, READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            if line.sock is None:  # EIO on a pty whose slave nobody holds: not an end of the line
                log.debug("%s: read: %s", line.name, exc)
                return
            self.drop(line, f"read failed: {exc}")
            return
        if not data:
            if line.sock is not None:
                self.drop(line, "hung up", level=logging.INFO)
            return
        now = self.clock()
        line.last_byte = line.last_activity = now
        self.endpoint.select_line(line.fd)
        for item in line.decoder.feed(data):
            answer = self.endpoint.handle_bytes(item)
            if log.isEnabledFor(logging.DEBUG):
                _trace(item, answer)
            answers.append((line, answer))

    def _flush(self, line: _Line) -> None:
        """Write what the peer takes now; the rest waits for EVENT_WRITE."""
        while line.out:
            try:
                sent = line.sock.send(line.out) if line.sock is not None else os.write(line.fd, line.out)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                if line.sock is None:
                    log.warning("%s: write failed, %d bytes of answers dropped: %s", line.name, len(line.out), exc)
                    line.out.clear()
                    break
                self.drop(line, f"write failed: {exc}")
                return
            del line.out[:sent]
        if len(line.out) > self.max_output:
            if line.sock is not None:
                self.drop(line, f"{len(line.out)} bytes of answers left unread")
                return
            log.warning("%s: %d bytes of answers left unread, dropped", line.name, len(line.out))
            line.out.clear()
        want = bool(line.out)
        if want != line.writing:
            line.writing = want
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if want else 0)
            self._sel.modify(line.fd, events, "line")

    def _timers(self) -> None:
        now = self.clock()
        for line in list(self._lines.values()):
            if line.decoder.pending and now - line.last_byte > FRAME_TIMEOUT:
                line.decoder.expire()
            if self.idle_timeout is not None and line.sock is not None and now - line.last_activity > self.idle_timeout:
                self.drop(line, f"idle for {self.idle_timeout:g} s", level=logging.INFO)

    def _lab_read(self) -> None:
        assert self._lab is not None
        fd, handle = self._lab
        try:
            self._lab_buffer += os.read(fd, READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.debug("lab port: read: %s", exc)
            return
        while b"\n" in self._lab_buffer and len(self._lab_buffer) < 65536:
            command, _, rest = bytes(self._lab_buffer).partition(b"\n")
            self._lab_buffer[:] = rest
            reply = memoryview(handle(command))
            while reply:  # the lab port is a test rig's control line: short answers, written whole
                reply = reply[os.write(fd, reply):]
        if len(self._lab_buffer) >= 65536:
            self._lab_buffer.clear()

    # ---------------------------------------------------------------- shutdown
    def drop(self, line: _Line, why: str, *, level: int = logging.WARNING) -> None:
        """Close one connection (its sessions stay the module's: they time out or log out)."""
        log.log(level, "%s: %s; connection closed", line.name, why)
        self._lines.pop(line.fd, None)
        self.endpoint.forget_line(line.fd)
        self._sel.unregister(line.fd)
        if line.sock is not None:
            line.sock.close()

    def close(self) -> None:
        for line in list(self._lines.values()):
            if line.sock is not None:
                self.drop(line, "the device stops", level=logging.INFO)
        for sock in self._listeners.values():
            self._sel.unregister(sock.fileno())
            sock.close()
        self._listeners.clear()
        self._sel.close()


def _trace(request: Frame | FrameError, answer: bytes) -> None:
    """One debug line per frame: command, session, seq, flags and the answer's status; never a
    payload (it may hold a password proof, a key or plaintext), only the headers."""
    try:
        response = decode_frame(answer[:-1])  # without the delimiter
        status = _name(Status, response.code)
    except FrameError as exc:
        status = f"unreadable answer ({exc})"
    if isinstance(request, FrameError):
        log.debug("frame rejected (%s) -> %s", request, status)
        return
    encrypted = " encrypted" if request.flags & Flags.ENCRYPTED else ""
    log.debug("frame %s session %d seq %d%s -> %s", _name(Command, request.code), request.session_id, request.seq,
              encrypted, status)


def _name(enum: type[Command] | type[Status], code: int) -> str:
    try:
        return enum(code).name
    except ValueError:
        return f"0x{code:02x}"
