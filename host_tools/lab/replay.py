"""Retransmits and stale frames, as a lab sends them: the exact bytes of an earlier request again,
or a new request on a session id the module should have forgotten, under that session's old keys.

The harness's line goes through :class:`TapTransport`, which keeps the last frame written. A
:class:`SentFrame` snapshot holds that frame with its session's channel keys (the host's copies,
kept after the host itself has forgotten the session), so the answer to a replay can be opened
and a leaked answer seen for what it is, even when the module should know nothing of the session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from host_tools.errors import TransportError
from host_tools.link import WireTransport
from host_tools.transport import Transport
from module.wire.channel import reply_of, request_frame
from module.wire.frame import Flags, encode_frame
from module.wire.messages import Reply

__all__ = ["TapTransport", "SentFrame", "Answer", "snapshot", "resend", "forge"]


class TapTransport:
    """A :class:`~host_tools.transport.Transport` that remembers the last bytes it wrote."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.last_write = b""
        self.url = getattr(inner, "url", type(inner).__name__)

    def open(self) -> None:
        self.inner.open()

    def close(self) -> None:
        self.inner.close()

    def write(self, data: bytes) -> None:
        self.last_write = bytes(data)
        self.inner.write(data)

    def read(self, timeout: float) -> bytes:
        return self.inner.read(timeout)


@dataclass(frozen=True)
class SentFrame:
    """One request as it went on the line, with the keys of its session at the time."""

    command: int
    session_id: int
    seq: int
    data: bytes
    outbound: AESGCM | None
    inbound: AESGCM | None


@dataclass(frozen=True)
class Answer:
    reply: Reply
    protected: bool  # the answer came sealed under the session's keys (a clear one is a refusal at most)


def snapshot(wire: WireTransport, tap: TapTransport, command: int, session_id: int) -> SentFrame:
    """The request just sent on ``session_id`` (call right after it was answered)."""
    state = wire._sessions.get(session_id) if session_id else None  # noqa: SLF001 - the lab keeps the keys
    if session_id and state is None:
        raise TransportError(f"session {session_id} is not bound: nothing to snapshot")
    seq = state.seq if state is not None else wire._clear_seq  # noqa: SLF001
    return SentFrame(command, session_id, seq, tap.last_write, state.outbound if state else None,
                     state.inbound if state else None)


def _exchange(wire: WireTransport, tap: TapTransport, data: bytes, session_id: int, seq: int,
              inbound: AESGCM | None) -> Answer:
    frame = wire.send_raw(data, session_id, seq)  # written through the tap, read by the wire's reader
    if frame is None:
        raise TransportError(f"no answer to the repeated frame (session {session_id:#x}, seq {seq})")
    protected = bool(frame.flags & Flags.ENCRYPTED)
    return Answer(reply_of(frame, inbound if protected else None), protected)


def resend(wire: WireTransport, tap: TapTransport, sent: SentFrame) -> Answer:
    """The very same bytes again (a retransmit)."""
    return _exchange(wire, tap, sent.data, sent.session_id, sent.seq, sent.inbound)


def forge(wire: WireTransport, tap: TapTransport, sent: SentFrame, command: int,
          params: Mapping[str, Any]) -> Answer:
    """A new request (the next sequence number) on ``sent``'s session, under its old keys."""
    if sent.outbound is None:
        raise ValueError("a clear request has no session to forge on")
    frame = request_frame(command, dict(params), sent.session_id, sent.seq + 1, sent.outbound)
    return _exchange(wire, tap, encode_frame(frame), sent.session_id, sent.seq + 1, sent.inbound)
