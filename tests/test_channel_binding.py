"""The secure channel as docs/protocol.md specifies it, checked with a hand-built AES-GCM rather
than the channel code: nonces "H2M\\0"/"M2H\\0" || 8-byte big-endian sequence, the header as
additional data; a session id given to a new login after a logout starts a fresh channel; and
the host takes only the response numbered like its request.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from conftest import PASSWORDS
from firmware_sim.device import EndpointLine
from host_tools.client import Client
from host_tools.link import WireTransport
from module.core import Module
from module.endpoint import Endpoint
from module.wire.channel import request_frame, response_frame
from module.wire.defs import Command, Status
from module.wire.frame import Flags, Frame, FrameDecoder, encode_frame
from module.wire.handshake import SessionKeys
from module.wire.messages import Reply
from module.wire.params import decode_map, encode_map

H2M, M2H = b"H2M\x00", b"M2H\x00"  # docs/protocol.md, "Secure channel"


def spec_nonce(direction: bytes, seq: int) -> bytes:
    return direction + struct.pack(">Q", seq)


class KeyKeeper(WireTransport):
    """The wire transport, keeping the session keys each login gave it."""

    def __init__(self, line: EndpointLine) -> None:
        super().__init__(line, timeout=0.05, retries=0)
        self.keys: dict[int, SessionKeys] = {}

    def bind_session(self, session_id: int, keys: SessionKeys) -> None:
        self.keys[session_id] = keys
        super().bind_session(session_id, keys)


def exchange(line: EndpointLine, frame: Frame) -> Frame:
    line.write(encode_frame(frame))
    (answer,) = [f for f in FrameDecoder().feed(line.read(0)) if isinstance(f, Frame)]
    return answer


def hand_sealed_request(keys: SessionKeys, session_id: int, seq: int, command: Command,
                        params: Mapping[str, Any]) -> Frame:
    plaintext = encode_map(params)
    shell = Frame(int(Flags.ENCRYPTED), session_id, seq, int(command), bytes(len(plaintext) + 16))
    sealed = AESGCM(keys.host_to_module).encrypt(spec_nonce(H2M, seq), plaintext, shell.header())
    return Frame(shell.flags, session_id, seq, int(command), sealed)


def test_both_directions_use_the_documented_nonces(module: Module) -> None:
    line = EndpointLine(Endpoint(module))
    host = KeyKeeper(line)
    session = Client(host).login("alice", PASSWORDS["alice"])
    keys = host.keys[session.session_id]
    # AUTH_FINISH was the session's sequence 1 (docs/protocol.md, "Login"): the next request is 2.
    answer = exchange(line, hand_sealed_request(keys, session.session_id, 2, Command.RANDOM, {"length": 7}))
    assert answer.code == Status.OK and answer.flags & Flags.ENCRYPTED and answer.seq == 2
    body = decode_map(AESGCM(keys.module_to_host).decrypt(spec_nonce(M2H, 2), answer.payload, answer.header()))
    assert len(body["data"]["random"]) == 7
    # The direction tag is part of the nonce: the same bytes under the other tag do not open.
    with pytest.raises(InvalidTag):
        AESGCM(keys.module_to_host).decrypt(spec_nonce(H2M, 2), answer.payload, answer.header())


def test_a_session_id_reused_after_logout_gets_a_fresh_channel(module: Module,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Session ids come from the DRBG; a repeat is rare but legal. Forced here (the only route is
    the module's random source): the new login's keys and sequence numbers must be the ones used,
    not the closed channel's."""
    real = module.random_bytes
    monkeypatch.setattr(module, "random_bytes", lambda n: b"\x00\x00\x00\x2a" if n == 4 else real(n))
    line = EndpointLine(Endpoint(module))
    host = KeyKeeper(line)
    client = Client(host)
    with client.login("alice", PASSWORDS["alice"]) as first:
        for _ in range(3):
            first.call(Command.RANDOM, {"length": 1})
    first_keys = host.keys[0x2A]
    with client.login("alice", PASSWORDS["alice"]) as second:
        assert second.session_id == first.session_id == 0x2A and host.keys[0x2A] != first_keys
        assert len(second.call(Command.RANDOM, {"length": 5}).data["random"]) == 5


class StaleFirstLine(EndpointLine):
    """Puts a well-formed answer with another sequence number on the line before the real one."""

    def write(self, data: bytes) -> None:
        (request,) = [f for f in FrameDecoder().feed(data) if isinstance(f, Frame)]
        stale = response_frame(Reply(Status.OK, False, {"stale": True}), request.session_id, request.seq + 1)
        self._outbox += encode_frame(stale)
        super().write(data)


def test_the_host_takes_only_the_response_with_its_sequence_number(module: Module) -> None:
    line = StaleFirstLine(Endpoint(module))
    reply = WireTransport(line, timeout=0.05, retries=0).call(int(Command.GET_STATUS), {}, 0)
    assert reply.status is Status.OK and "stale" not in reply.data and reply.data["state_name"] == "OPERATIONAL"


def test_request_frame_matches_the_documented_layout() -> None:
    """The host's own sealing agrees with the hand-built one, byte for byte."""
    keys = SessionKeys(bytes(range(32)), bytes(range(32, 64)), bytes(32), bytes(32))
    ours = request_frame(int(Command.RANDOM), {"length": 3}, 9, 4, AESGCM(keys.host_to_module))
    assert ours == hand_sealed_request(keys, 9, 4, Command.RANDOM, {"length": 3})


def test_the_retransmit_cache_answers_only_the_very_same_bytes(module: Module) -> None:
    """docs/protocol.md: a repeat is the same sequence number *and* the same bytes. Another request
    under a used number is not a repeat: in a session it is refused, in the clear it runs."""
    line = EndpointLine(Endpoint(module))
    host = KeyKeeper(line)
    session = Client(host).login("alice", PASSWORDS["alice"])
    keys = host.keys[session.session_id]
    first = hand_sealed_request(keys, session.session_id, 2, Command.RANDOM, {"length": 7})  # 1 was AUTH_FINISH
    answer = exchange(line, first)
    assert answer.code == Status.OK
    assert exchange(line, first) == answer  # the very same bytes: the cached answer
    other = hand_sealed_request(keys, session.session_id, 2, Command.RANDOM, {"length": 9})
    assert exchange(line, other).code == Status.MESSAGE_REJECTED
    status = exchange(line, request_frame(int(Command.GET_STATUS), {}, 0, 5))
    version = exchange(line, request_frame(int(Command.GET_VERSION), {}, 0, 5))
    assert "state_name" in decode_map(status.payload)["data"]
    assert "version" in decode_map(version.payload)["data"] and "state_name" not in decode_map(version.payload)["data"]
