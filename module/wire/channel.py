"""Messages in frames, and the secure channel that protects them inside a session.

Both ends use these functions, so a request or response is encoded exactly once in the code base.

- A request's payload is the parameter map (``module.wire.params``); a response's payload is the
  map ``{"data": ..., "message": ...}``, its status in the header's code field and the
  approved-service indicator in the APPROVED flag.
- Session 0 carries the public services and AUTH_BEGIN in the clear.
- Any other session id: the payload is AES-256-GCM ciphertext under that session's key for the
  direction (host to module, module to host; SP 800-56C one-step KDF from the login's ECDH,
  ``module.wire.handshake``), with the nonce ``direction tag (4 bytes) || sequence number
  (8 bytes)`` and the 16 header bytes as additional data. The host numbers its requests 1, 2,
  3, ... per session (AUTH_FINISH is 1) and the module answers with the same number, so a
  replayed, reordered, altered, truncated or cross-session message fails either the sequence
  check or the tag. ``reply_of`` opens either kind; the host's link decides which kind it may
  believe (a clear answer inside a session only as a dataless refusal).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from module.wire.defs import Status
from module.wire.frame import Flags, Frame
from module.wire.messages import Reply
from module.wire.params import ParamsError, decode_map, encode_map

__all__ = [
    "HOST_TO_MODULE",
    "MODULE_TO_HOST",
    "TAG_SIZE",
    "ChannelError",
    "nonce",
    "request_frame",
    "response_frame",
    "open_payload",
    "request_params",
    "reply_of",
]

HOST_TO_MODULE: Final = b"H2M\x00"
MODULE_TO_HOST: Final = b"M2H\x00"
TAG_SIZE: Final = 16
_SEQ = struct.Struct(">Q")
_ENCRYPTED, _RESPONSE, _APPROVED = int(Flags.ENCRYPTED), int(Flags.RESPONSE), int(Flags.APPROVED)


class ChannelError(ValueError):
    """A protected payload that does not decrypt and authenticate, or a payload that does not decode."""


def nonce(direction: bytes, seq: int) -> bytes:
    return direction + _SEQ.pack(seq)


def _protect(frame: Frame, plaintext: bytes, key: AESGCM, direction: bytes) -> Frame:
    # The header that goes out carries the ciphertext's length; it is the additional data.
    shell = Frame(frame.flags | _ENCRYPTED, frame.session_id, frame.seq, frame.code,
                  bytes(len(plaintext) + TAG_SIZE))
    ciphertext = key.encrypt(nonce(direction, frame.seq), plaintext, shell.header())
    return Frame(shell.flags, shell.session_id, shell.seq, shell.code, ciphertext)


def open_payload(frame: Frame, key: AESGCM | None, direction: bytes) -> bytes:
    """The frame's plaintext payload; a protected one must authenticate under ``key``."""
    if not frame.flags & _ENCRYPTED:
        return frame.payload
    if key is None:
        raise ChannelError("encrypted payload outside a session")
    try:
        return key.decrypt(nonce(direction, frame.seq), frame.payload, frame.header())
    except InvalidTag:
        raise ChannelError("message authentication failed (altered, replayed into another session, "
                           "or sent under another key)") from None


def request_frame(command: int, params: Mapping[str, Any], session_id: int, seq: int,
                  key: AESGCM | None = None) -> Frame:
    """A request; with ``key`` (the session's host-to-module key) the parameters are protected."""
    frame = Frame(0, session_id, seq, command, encode_map(params))
    return _protect(frame, frame.payload, key, HOST_TO_MODULE) if key is not None else frame


def request_params(plaintext: bytes) -> dict[str, Any]:
    try:
        return decode_map(plaintext) if plaintext else {}
    except ParamsError as exc:
        raise ChannelError(f"request parameters do not decode: {exc}") from None


def response_frame(reply: Reply, session_id: int, seq: int, key: AESGCM | None = None) -> Frame:
    """A response to request ``seq``; with ``key`` (module-to-host) the payload is protected."""
    flags = _RESPONSE | (_APPROVED if reply.approved else 0)
    frame = Frame(flags, session_id, seq, int(reply.status), encode_map({"data": reply.data, "message": reply.message}))
    return _protect(frame, frame.payload, key, MODULE_TO_HOST) if key is not None else frame


def reply_of(frame: Frame, key: AESGCM | None = None) -> Reply:
    """The host's view of a response frame (raises ChannelError when it does not authenticate or decode)."""
    plaintext = open_payload(frame, key, MODULE_TO_HOST)
    try:
        body = decode_map(plaintext)
        status = Status(frame.code)
    except (ParamsError, ValueError) as exc:
        raise ChannelError(f"response does not decode: {exc}") from None
    data, message = body.get("data", {}), body.get("message", "")
    if not isinstance(data, dict) or not isinstance(message, str):
        raise ChannelError("response has no data map or message")
    return Reply(status, bool(frame.flags & _APPROVED), data, message)
