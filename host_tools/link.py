"""The protocol layer on the host: service calls as frames over a byte transport.

One request in flight per session, and several sessions in flight at once: threads that call on
different sessions share the line, one of them reads for all at a time and hands each answer to
the thread whose (session, sequence number) it carries. A response that does not arrive within ``timeout`` seconds
makes the host send the very same frame again (same sequence number, same bytes), up to
``retries`` times: the device answers a repeat from its cache, so nothing runs twice. Inside a
session every request is protected with the session's keys (``module.wire.channel``), and so
must every answer be: a clear answer on a session is accepted only as a refusal that carries no
data (MESSAGE_REJECTED, SESSION_INVALID, BAD_FRAME); anything else is a line attack. Clear
requests (session 0) are numbered from a random start per connection (the host nonce), so the
device's session-0 retransmit cache never gives one host another host's answer.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from host_tools.errors import InvalidResponseError, LineAttackError, TransportError
from host_tools.transport import Transport
from module.wire.channel import ChannelError, reply_of, request_frame
from module.wire.defs import Status
from module.wire.frame import Flags, Frame, FrameDecoder, FrameError, encode_frame
from module.wire.handshake import SessionKeys
from module.wire.messages import Reply

__all__ = ["WireTransport", "CLEAR_REFUSALS"]

# The only clear answers a session may get: refusals before dispatch, which carry no data.
CLEAR_REFUSALS = frozenset({Status.MESSAGE_REJECTED, Status.SESSION_INVALID, Status.BAD_FRAME})

log = logging.getLogger(__name__)


@dataclass
class _SessionState:
    outbound: AESGCM
    inbound: AESGCM
    seq: int = 0


class WireTransport:
    """A :class:`host_tools.client.CallTransport` over a serial line, pty or socket."""

    def __init__(self, transport: Transport, *, timeout: float = 5.0, retries: int = 2) -> None:
        self.transport = transport
        self.timeout = timeout
        self.retries = retries
        self._decoder = FrameDecoder()
        self._sessions: dict[int, _SessionState] = {}
        self._clear_seq = secrets.randbelow(0xFFFFFFFF)  # the host nonce: this connection's first number
        self.retransmits = 0
        # The calls in flight: (session, seq) -> its answer once read, None while awaited. One
        # thread at a time reads (``_reading``) and files what it reads for everyone.
        self._cond = threading.Condition()
        self._awaited: dict[tuple[int, int], Frame | None] = {}
        self._resend: set[tuple[int, int]] = set()  # told by the device that a frame arrived damaged
        self._reading = False
        self._write_lock = threading.Lock()
        self.peak_in_flight = 0  # the most calls ever awaited at once (for benchmarks and tests)
        self.name = str(getattr(transport, "url", type(transport).__name__))  # for the log

    # --------------------------------------------------------- CallTransport
    def call(self, command: int, params: Mapping[str, Any], session_id: int) -> Reply:
        state = self._sessions.get(session_id) if session_id else None
        if session_id and state is None:
            raise TransportError(f"session {session_id} is not bound on this transport (log in first)")
        with self._cond:
            if state is not None:
                if any(key[0] == session_id for key in self._awaited):
                    raise TransportError(f"session {session_id} already has a request in flight (one at a time)")
                state.seq += 1
                seq = state.seq
            else:
                self._clear_seq = self._clear_seq % 0xFFFFFFFF + 1
                seq = self._clear_seq
            self._await_from_now((session_id, seq))
        try:
            frame = request_frame(command, params, session_id, seq, state.outbound if state is not None else None)
            response = self._exchange(encode_frame(frame), session_id, seq)
        finally:
            self._await_no_more((session_id, seq))
        # _await took only a frame numbered (session_id, seq): an answer renumbered on the line is
        # skipped like a stale one, so it can never stand for this request's.
        if not response.flags & Flags.RESPONSE:
            raise LineAttackError(f"a request came back as the answer to {command:#04x} (reflected on the line)")
        protected = bool(response.flags & Flags.ENCRYPTED)
        if session_id and not protected:
            return _clear_refusal(response, command)
        if not session_id and protected:
            raise LineAttackError("a protected answer on the clear channel")
        try:
            return reply_of(response, state.inbound if state is not None else None)
        except ChannelError as exc:
            raise InvalidResponseError(str(exc)) from None

    def send_raw(self, data: bytes, session_id: int, seq: int) -> Frame | None:
        """Write ``data`` as it is and await the frame numbered (session_id, seq), once: for a lab
        that repeats an earlier request's exact bytes or forges one. No retransmit and no check of
        the answer (the caller judges it); None when nothing came within the timeout."""
        with self._cond:
            self._await_from_now((session_id, seq))
        try:
            with self._write_lock:
                self.transport.write(data)
            return self._await(session_id, seq)
        finally:
            self._await_no_more((session_id, seq))

    def _await_from_now(self, key: tuple[int, int]) -> None:
        """Under the lock: frames numbered ``key`` are filed for the caller from now on."""
        self._awaited[key] = None
        self.peak_in_flight = max(self.peak_in_flight, len(self._awaited))

    def _await_no_more(self, key: tuple[int, int]) -> None:
        with self._cond:
            self._awaited.pop(key, None)
            self._resend.discard(key)

    def bind_session(self, session_id: int, keys: SessionKeys) -> None:
        """At AUTH_BEGIN's answer: protect this session's messages (AUTH_FINISH first) with its keys."""
        self._sessions[session_id] = _SessionState(AESGCM(keys.host_to_module), AESGCM(keys.module_to_host))

    def unbind_session(self, session_id: int) -> None:
        self._sessions.pop(session_id, None)

    def close(self) -> None:
        self.transport.close()

    # -------------------------------------------------------------- exchange
    def _exchange(self, data: bytes, session_id: int, seq: int) -> Frame:
        for attempt in range(self.retries + 1):
            if attempt:
                self.retransmits += 1
                log.info("%s: retransmit session %d seq %d (attempt %d of %d)", self.name, session_id, seq,
                         attempt + 1, self.retries + 1)
            with self._write_lock:
                self.transport.write(data)
            frame = self._await(session_id, seq)
            if frame is not None:
                return frame
        log.warning("%s: no response to session %d seq %d in %s s after %d attempts", self.name, session_id, seq,
                    self.timeout, self.retries + 1)
        raise TransportError(f"no response in {self.timeout} s after {self.retries + 1} attempts")

    def _await(self, session_id: int, seq: int) -> Frame | None:
        """The response to (session, seq), or None to send it again (timeout, or the device saw a
        frame damaged); stale responses and line noise are skipped. Whoever finds no reader reads."""
        key = (session_id, seq)
        deadline = time.monotonic() + self.timeout
        with self._cond:
            while True:
                frame = self._awaited.get(key)
                if frame is not None:
                    self._awaited[key] = None  # taken; a retransmit's answer would be filed again
                    return frame
                if key in self._resend:
                    self._resend.discard(key)
                    return None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    if not self._reading and len(self._awaited) == 1:
                        self._decoder.expire()  # a partial frame will not be completed now
                    return None
                if self._reading:
                    self._cond.wait(remaining)
                    continue
                self._reading = True
                self._cond.release()
                try:
                    chunk = self.transport.read(remaining)
                finally:
                    self._cond.acquire()
                    self._reading = False
                self._file(chunk)
                self._cond.notify_all()

    def _file(self, chunk: bytes) -> None:
        """Hand each frame read to the call that awaits it (under the lock)."""
        for item in self._decoder.feed(chunk):
            if isinstance(item, FrameError):
                continue
            key = next((k for k in self._awaited if item.session_id == k[0] and item.seq == k[1]), None)
            if key is not None:
                if self._awaited[key] is None:  # the first answer stands (a retransmit's is the same)
                    self._awaited[key] = item
            elif item.session_id == 0 and item.seq == 0 and item.code == Status.BAD_FRAME:
                log.info("%s: the device saw a frame damaged; %d in flight sent again", self.name, len(self._awaited))
                self._resend.update(k for k, v in self._awaited.items() if v is None)


def _clear_refusal(frame: Frame, command: int) -> Reply:
    """A clear answer inside a session: only a dataless refusal before dispatch is believed."""
    try:
        reply = reply_of(frame, None)
    except ChannelError as exc:
        raise LineAttackError(f"clear answer inside a session that does not decode: {exc}") from None
    if reply.status not in CLEAR_REFUSALS or reply.data:
        raise LineAttackError(f"clear answer ({reply.status.name}) to {command:#04x} inside a protected session: "
                              "only a dataless refusal may be clear; someone on the line made this one")
    return reply
