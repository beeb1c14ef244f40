"""Secure-channel rules the `make mutate` runs found untested (each test names the mutant it kills),
over the endpoint with the whole frame codec (EndpointLine). From docs/protocol.md: every frame of a
session is AES-256-GCM with nonce ``direction ("H2M\\0" or "M2H\\0") || sequence (8 bytes,
big-endian)`` and the 16 header bytes as additional data; an unprotected message in a session is
refused with MESSAGE_REJECTED in a clear response, whatever its sequence number; a half-open login
takes nothing but its AUTH_FINISH, which a clear refusal before dispatch says."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from audit_view import sink_of
from conftest import PASSWORDS
from firmware_sim.device import EndpointLine
from host_tools.client import Client
from host_tools.errors import DeviceError
from host_tools.link import WireTransport
from module.core import Module
from module.endpoint import Endpoint
from module.wire.channel import request_frame
from module.wire.defs import Command, Status
from module.wire.frame import Flags, Frame, FrameDecoder, encode_frame
from module.wire.messages import Reply
from module.wire.params import encode_map

H2M, M2H = b"H2M\x00", b"M2H\x00"
TAG_SIZE = 16


def nonce(direction: bytes, seq: int) -> bytes:
    return direction + seq.to_bytes(8, "big")


def protected(key: AESGCM, session_id: int, seq: int, code: int, plaintext: bytes) -> Frame:
    """A request frame sealed by hand as docs/protocol.md says (not through module.wire.channel)."""
    header_of = Frame(int(Flags.ENCRYPTED), session_id, seq, code, bytes(len(plaintext) + TAG_SIZE))
    return Frame(header_of.flags, session_id, seq, code, key.encrypt(nonce(H2M, seq), plaintext, header_of.header()))


def answer(line: EndpointLine, frame: Frame) -> Frame:
    line.write(encode_frame(frame))
    (reply,) = [f for f in FrameDecoder().feed(line.read(0)) if isinstance(f, Frame)]
    return reply


@pytest.fixture
def line(module: Module) -> EndpointLine:
    return EndpointLine(Endpoint(module))


@pytest.fixture
def transport(line: EndpointLine) -> WireTransport:
    return WireTransport(line, timeout=0.05, retries=0)


def test_both_directions_use_the_documented_nonces(line: EndpointLine, transport: WireTransport) -> None:
    """A request sealed by hand with nonce "H2M\\0" || seq runs, and its answer opens under
    "M2H\\0" || seq with the session's module-to-host key (channel-nonce-direction-fixed)."""
    with Client(transport).login("alice", PASSWORDS["alice"]) as alice:
        state = transport._sessions[alice.session_id]
        state.seq += 1
        reply = answer(line, protected(state.outbound, alice.session_id, state.seq, int(Command.RANDOM),
                                       encode_map({"length": 8})))
        assert reply.code == Status.OK and reply.flags & Flags.ENCRYPTED
        plaintext = state.inbound.decrypt(nonce(M2H, state.seq), reply.payload, reply.header())
        assert b"random" in plaintext


def test_an_unprotected_message_with_the_right_sequence_number_is_refused(
    module: Module, line: EndpointLine, transport: WireTransport
) -> None:
    """Numbered exactly as the next request, but not protected: MESSAGE_REJECTED in the clear, and the
    service does not run (endpoint-clear-in-session)."""
    with Client(transport).login("officer", PASSWORDS["officer"]) as officer:
        state = transport._sessions[officer.session_id]
        start = sink_of(module).next_seq
        clear = request_frame(int(Command.OPERATOR_LIST), {}, officer.session_id, state.seq + 1)
        reply = answer(line, clear)
        assert reply.code == Status.MESSAGE_REJECTED and not reply.flags & Flags.ENCRYPTED
        (record,) = sink_of(module).since(start)
        assert (record.entry.code, record.entry.status) == (Command.OPERATOR_LIST, Status.MESSAGE_REJECTED)


def test_a_half_open_login_keeps_no_channel_for_other_requests(module: Module, line: EndpointLine) -> None:
    """A protected AUTH_FINISH whose parameters do not decode leaves the login half-open; a protected
    KEY_LIST after it, under the same keys and in sequence, still gets the clear refusal before
    dispatch, not an answer through the login's channel (endpoint-closed-channel-reused)."""
    seen: list[Frame] = []

    class Probe(WireTransport):
        def call(self, command: int, params: Mapping[str, Any], session_id: int) -> Reply:
            if command == Command.AUTH_FINISH:
                state = self._sessions[session_id]
                for code, plaintext in ((Command.AUTH_FINISH, b"\xff"), (Command.KEY_LIST, encode_map({}))):
                    state.seq += 1
                    seen.append(answer(line, protected(state.outbound, session_id, state.seq, int(code), plaintext)))
            return super().call(command, params, session_id)

    with pytest.raises(DeviceError) as login:
        Client(Probe(line, timeout=0.05, retries=0)).login("alice", PASSWORDS["alice"])
    assert login.value.status is Status.MESSAGE_REJECTED  # the login, now out of sequence, fails closed
    undecodable, key_list = seen
    assert undecodable.code == Status.INVALID_PARAMETER
    assert key_list.code == Status.SESSION_INVALID and not key_list.flags & Flags.ENCRYPTED
