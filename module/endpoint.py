"""The module's end of the line: frames in, frames out, secure channel and retransmission.

Pure logic like the rest of ``module/``: the device (``firmware_sim``) reads bytes from a pty,
tty or socket, cuts them into frames with :class:`~module.wire.frame.FrameDecoder` and hands each
one to :meth:`Endpoint.handle`; what comes back goes on the line.

Rules it keeps:
- A frame that fails its CRC or header checks runs nothing and changes nothing; it is answered
  with BAD_FRAME (session 0, sequence 0) so a host learns the line is noisy.
- Session 0 is the clear channel (public services and AUTH_BEGIN). Any other session id must
  carry an AES-GCM-protected payload under that session's keys, with the next sequence number;
  anything else is refused with MESSAGE_REJECTED and recorded. A half-open session (keys agreed
  at AUTH_BEGIN, operator not yet authenticated) accepts one thing: its protected AUTH_FINISH.
- Retransmission: a request identical to the last one of its session (same sequence number,
  same bytes; for session 0, where each host starts at its own random number, the same too)
  gets the cached response again; the service does not run twice and is recorded once. Outside
  OPERATIONAL the state is checked first: a retransmit the state no longer allows gets the
  refusal a new request would (recorded), never the cached answer.
- Nothing outlives what the module gave up: every cached answer goes when the module's state
  changes, and a session's channel (its key copies and its last encrypted answer) goes as soon
  as the module no longer holds that session (LOGOUT, ZEROISE, expiry, eviction, operator
  deletion), checked before each frame and after each call. A retransmit after that is a frame
  of an unknown session.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from module.core import Module
from module.wire.channel import (
    HOST_TO_MODULE,
    ChannelError,
    open_payload,
    request_params,
    response_frame,
)
from module.wire.defs import Command, State, Status
from module.wire.frame import Flags, Frame, FrameError, encode_frame
from module.wire.messages import Reply

__all__ = ["Endpoint"]


@dataclass
class _Channel:
    """One session's channel state: keys as of the handshake, last sequence and its answer."""

    inbound: AESGCM | None
    outbound: AESGCM | None
    last_seq: int = 0
    last_request: bytes = b""  # digest of the last request frame's bytes
    last_response: bytes = b""  # the encoded response frame, for a retransmit
    session: object = None  # the module's session object this channel serves (compared by identity)


class Endpoint:
    def __init__(self, module: Module) -> None:
        self.module = module
        self._channels: dict[int, _Channel] = {}
        self._clear = _Channel(None, None)  # session 0: single-entry retransmit cache
        self.frames_rejected = 0
        self._lines: dict[object, _Channel] = {}  # session-0 caches of the device's other lines
        self._state = module.state  # the state the cached answers were given in

    def reset(self) -> None:
        """Power cycle: channel state and retransmit caches are RAM, and RAM is gone."""
        self._channels.clear()
        self._clear = _Channel(None, None)
        self._lines.clear()

    def select_line(self, line: object) -> None:
        """The line the next frames come from: each line has its own session-0 retransmit cache
        (two hosts' clear sequence numbers are unrelated). Protected sessions are module-wide."""
        self._clear = self._lines.setdefault(line, _Channel(None, None))

    def forget_line(self, line: object) -> None:
        """The line went away: its session-0 cache goes with it."""
        if self._lines.pop(line, None) is self._clear:
            self._clear = _Channel(None, None)

    def handle_bytes(self, frame: Frame | FrameError) -> bytes:
        """One decoded item from the line to the bytes to write back."""
        if isinstance(frame, FrameError):
            self.frames_rejected += 1
            return encode_frame(response_frame(Reply(Status.BAD_FRAME, False, {}, str(frame)), 0, 0))
        return self.handle(frame)

    def handle(self, frame: Frame) -> bytes:
        if frame.flags & Flags.RESPONSE:
            self.frames_rejected += 1
            return encode_frame(response_frame(Reply(Status.BAD_FRAME, False, {}, "a response sent to the module"), 0, 0))
        self._follow_module()
        fingerprint = hashlib.sha256(frame.header() + frame.payload).digest()
        if frame.session_id == 0:
            return self._clear_request(frame, fingerprint)
        return self._session_request(frame, fingerprint)

    # ----------------------------------------------------------------- session 0
    def _clear_request(self, frame: Frame, fingerprint: bytes) -> bytes:
        cache = self._clear
        if frame.seq == cache.last_seq and fingerprint == cache.last_request:
            again = self._retransmit(frame, cache)
            if again is not None:
                return again  # else its answer went with a state change: it runs as a new request
        if frame.flags & Flags.ENCRYPTED:
            reply = self.module.record_refusal(frame.code, 0, Status.MESSAGE_REJECTED, "encrypted payload outside a session")
        else:
            reply = self._dispatch(frame, frame.payload, 0)
        out = encode_frame(response_frame(reply, 0, frame.seq))
        self._follow_module()  # a state change in this call drops the older answers, not this one
        cache.last_seq, cache.last_request, cache.last_response = frame.seq, fingerprint, out
        return out

    # ---------------------------------------------------------- protected sessions
    def _session_request(self, frame: Frame, fingerprint: bytes) -> bytes:
        sid = frame.session_id
        channel = self._channels.get(sid)
        if channel is not None and frame.seq == channel.last_seq and fingerprint == channel.last_request:
            again = self._retransmit(frame, channel)
            if again is not None:
                return again  # answered again (or refused for the state), not run again
        if channel is None or not self._session_alive(sid):
            channel = self._open_channel(sid, frame.code)
            if channel is None:
                return self._reject(frame, Status.SESSION_INVALID, "unknown, closed or expired session")
        if not frame.flags & Flags.ENCRYPTED:
            return self._reject(frame, Status.MESSAGE_REJECTED, "a session message must be protected")
        if frame.seq != channel.last_seq + 1:
            return self._reject(frame, Status.MESSAGE_REJECTED,
                                f"sequence {frame.seq}, expected {channel.last_seq + 1} (replayed or reordered)")
        try:
            plaintext = open_payload(frame, channel.inbound, HOST_TO_MODULE)
        except ChannelError as exc:
            return self._reject(frame, Status.MESSAGE_REJECTED, str(exc))
        reply = self._dispatch(frame, plaintext, sid)
        out = encode_frame(response_frame(reply, sid, frame.seq, channel.outbound))
        self._follow_module()  # LOGOUT, ZEROISE, a failed AUTH_FINISH: this channel goes now
        if self._channels.get(sid) is channel:
            channel.last_seq, channel.last_request, channel.last_response = frame.seq, fingerprint, out
        return out

    def _retransmit(self, frame: Frame, cache: _Channel) -> bytes | None:
        """The answer to a repeat of the last request: outside OPERATIONAL the refusal a new
        request would get if the state no longer allows it, else the cached answer (None if it
        went with a state change)."""
        if self.module.state is not State.OPERATIONAL:
            refused = self.module.refuse_for_state(frame.code, frame.session_id)
            if refused is not None:
                return encode_frame(response_frame(refused, frame.session_id, frame.seq, cache.outbound))
        return cache.last_response or None

    def _follow_module(self) -> None:
        """Forget what the module gave up: every cached answer when its state changed, and each
        channel whose session the module no longer holds (keys and last answer go with it)."""
        state = self.module.state
        if state is not self._state:
            self._state = state
            for cache in (self._clear, *self._lines.values(), *self._channels.values()):
                cache.last_response = b""
        sessions = self.module.sessions
        for sid in [sid for sid, ch in self._channels.items() if sessions.get(sid) is not ch.session]:
            del self._channels[sid]

    def _session_alive(self, sid: int) -> bool:
        sess = self.module.sessions.get(sid)
        return sess is not None and sess.authenticated

    def _open_channel(self, sid: int, code: int) -> _Channel | None:
        """Bind a channel to a session the module authenticated, or to a half-open one for its
        AUTH_FINISH only (the keys are agreed at AUTH_BEGIN; they are copied now, so the answer to
        a LOGOUT or a failed AUTH_FINISH can still be protected after the module wiped them; the
        copies go as soon as that answer is sealed)."""
        sess = self.module.sessions.get(sid)
        if sess is None or not (sess.authenticated or code == Command.AUTH_FINISH):
            self._channels.pop(sid, None)
            return None
        channel = _Channel(AESGCM(bytes(sess.host_to_module)), AESGCM(bytes(sess.module_to_host)), session=sess)
        self._channels[sid] = channel
        return channel

    def _reject(self, frame: Frame, status: Status, message: str) -> bytes:
        """Refused before dispatch: recorded, answered in the clear (nothing secret in a refusal)."""
        self.frames_rejected += 1
        reply = self.module.record_refusal(frame.code, frame.session_id, status, message)
        return encode_frame(response_frame(reply, frame.session_id, frame.seq))

    def _dispatch(self, frame: Frame, plaintext: bytes, sid: int) -> Reply:
        try:
            params = request_params(plaintext)
        except ChannelError as exc:
            return self.module.record_refusal(frame.code, sid, Status.INVALID_PARAMETER, str(exc), channel_ok=True)
        return self.module.call(frame.code, params, sid)
