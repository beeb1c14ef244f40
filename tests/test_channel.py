"""The secure channel and the endpoint, with the whole frame codec but no pty (EndpointLine).

Replayed, reordered, altered, truncated, cross-session and unprotected messages are refused with
MESSAGE_REJECTED and recorded; a retransmitted request is answered from the cache and runs once.
"""

from __future__ import annotations

import pytest

from audit_view import sink_of
from conftest import PASSWORDS
from firmware_sim.device import EndpointLine
from host_tools.client import Client
from host_tools.errors import AuthenticationError, DeviceError, TransportError
from host_tools.link import WireTransport
from module.core import Module
from module.endpoint import Endpoint
from module.wire.channel import reply_of, request_frame
from module.wire.defs import Command, KeyType, Status
from module.wire.frame import Flags, Frame, FrameDecoder, encode_frame


@pytest.fixture
def line(module: Module) -> EndpointLine:
    return EndpointLine(Endpoint(module))


@pytest.fixture
def wire(line: EndpointLine) -> Client:
    return Client(WireTransport(line, timeout=0.05, retries=0))


def answer(line: EndpointLine, data: bytes) -> Frame:
    line.write(data)
    (frame,) = [f for f in FrameDecoder().feed(line.read(0)) if isinstance(f, Frame)]
    return frame


def test_services_work_through_the_channel(module: Module, wire: Client) -> None:
    with wire.login("alice", PASSWORDS["alice"]) as alice:
        key = alice.call(Command.KEY_GENERATE, {"key_type": int(KeyType.AES_256)}).data["key_id"]
        enc = alice.call(Command.ENCRYPT, {"key_id": key, "plaintext": b"secret"})
        assert enc.approved
        dec = alice.call(Command.DECRYPT, {"key_id": key, "iv": enc.data["iv"], "ciphertext": enc.data["ciphertext"]})
        assert dec.data["plaintext"] == b"secret"


def test_session_payloads_are_encrypted_on_the_line(module: Module, wire: Client, line: EndpointLine) -> None:
    with wire.login("alice", PASSWORDS["alice"]) as alice:
        alice.call(Command.DIGEST, {"algorithm": 1, "message": b"a very recognisable plaintext"})
    assert not any(b"recognisable" in chunk for chunk in line.written)


def _last_session_request(line: EndpointLine) -> Frame:
    frames = [f for chunk in line.written for f in FrameDecoder().feed(chunk) if isinstance(f, Frame)]
    return [f for f in frames if f.session_id][-1]


def test_replay_is_rejected_and_recorded(module: Module, wire: Client, line: EndpointLine) -> None:
    with wire.login("alice", PASSWORDS["alice"]) as alice:
        alice.call(Command.RANDOM, {"length": 8})
        first = _last_session_request(line)
        alice.call(Command.RANDOM, {"length": 8})
        keys_before = len(module.keys)
        seq_before = sink_of(module).next_seq
        reply = answer(line, encode_frame(first))  # an older message again
        assert reply.code == Status.MESSAGE_REJECTED and not reply.flags & Flags.ENCRYPTED
        assert "replayed or reordered" in reply_of(reply).message
        records = sink_of(module).since(seq_before)
        assert [(r.entry.code, r.entry.status) for r in records] == [(Command.RANDOM, Status.MESSAGE_REJECTED)]
        # a replay proves nothing about its sender: recorded against no one, naming the session it claimed
        assert records[0].entry.operator == "" and len(module.keys) == keys_before
        assert f"claimed session {alice.session_id}" in records[0].entry.detail
        alice.call(Command.RANDOM, {"length": 8})  # the session goes on


def test_reordered_message_is_rejected(module: Module, wire: Client, line: EndpointLine) -> None:
    with wire.login("alice", PASSWORDS["alice"]) as alice:
        alice.call(Command.RANDOM, {"length": 8})
        last = _last_session_request(line)
        transport = wire.transport
        assert isinstance(transport, WireTransport)
        state = transport._sessions[alice.session_id]
        ahead = request_frame(int(Command.RANDOM), {"length": 8}, alice.session_id, last.seq + 2, state.outbound)
        assert answer(line, encode_frame(ahead)).code == Status.MESSAGE_REJECTED


@pytest.mark.parametrize("where", ["payload", "header-code", "truncated"])
def test_altered_message_is_rejected(module: Module, wire: Client, line: EndpointLine, where: str) -> None:
    with wire.login("alice", PASSWORDS["alice"]) as alice:
        alice.call(Command.RANDOM, {"length": 8})
        last = _last_session_request(line)
        payload = bytearray(last.payload)
        code = last.code
        if where == "payload":
            payload[3] ^= 0x40
        elif where == "header-code":
            code = int(Command.KEY_GENERATE)
        else:
            payload = payload[:-1]
        forged = Frame(last.flags, last.session_id, last.seq + 1, code, bytes(payload))
        reply = answer(line, encode_frame(forged))
        assert reply.code == Status.MESSAGE_REJECTED
        assert "authentication failed" in reply_of(reply).message


def test_cross_session_message_is_rejected(module: Module, wire: Client, line: EndpointLine) -> None:
    alice = wire.login("alice", PASSWORDS["alice"])
    officer = wire.login("officer", PASSWORDS["officer"])
    alice.call(Command.RANDOM, {"length": 8})
    stolen = _last_session_request(line)
    moved = Frame(stolen.flags, officer.session_id, 1, stolen.code, stolen.payload)
    assert answer(line, encode_frame(moved)).code == Status.MESSAGE_REJECTED
    alice.logout()
    officer.logout()


def test_unprotected_message_in_a_session_is_rejected(module: Module, wire: Client, line: EndpointLine) -> None:
    with wire.login("officer", PASSWORDS["officer"]) as officer:
        clear = request_frame(int(Command.OPERATOR_LIST), {}, officer.session_id, 1)
        assert answer(line, encode_frame(clear)).code == Status.MESSAGE_REJECTED


def test_retransmit_runs_once_and_is_recorded_once(module: Module, wire: Client, line: EndpointLine) -> None:
    with wire.login("alice", PASSWORDS["alice"]) as alice:
        alice.call(Command.KEY_GENERATE, {"key_type": int(KeyType.AES_256)})
        request = line.written[-1]
        keys, seq = len(module.keys), sink_of(module).next_seq
        first = line.endpoint.handle_bytes(FrameDecoder().feed(request)[0])
        again = line.endpoint.handle_bytes(FrameDecoder().feed(request)[0])
        assert first == again  # the cached answer, byte for byte
        assert len(module.keys) == keys and sink_of(module).next_seq == seq  # nothing ran, nothing recorded


def test_same_sequence_with_other_bytes_is_not_a_retransmit_in_the_clear(module: Module, line: EndpointLine) -> None:
    """Session 0: a request reusing the last sequence number with different bytes runs as itself."""
    version = encode_frame(request_frame(int(Command.GET_VERSION), {}, 0, 7))
    status = encode_frame(request_frame(int(Command.GET_STATUS), {}, 0, 7))
    first = line.endpoint.handle_bytes(FrameDecoder().feed(version)[0])
    seq = sink_of(module).next_seq
    second = line.endpoint.handle_bytes(FrameDecoder().feed(status)[0])
    assert second != first
    (frame,) = [f for f in FrameDecoder().feed(second) if isinstance(f, Frame)]
    assert frame.code == Status.OK and "state_name" in reply_of(frame).data  # GET_STATUS answered, not GET_VERSION
    assert sink_of(module).next_seq == seq + 1  # and it left its own record


def test_same_sequence_with_other_bytes_in_a_session_is_refused_not_answered_from_the_cache(
    module: Module, wire: Client, line: EndpointLine
) -> None:
    with wire.login("alice", PASSWORDS["alice"]) as alice:
        alice.call(Command.KEY_GENERATE, {"key_type": int(KeyType.AES_256)})
        request = _last_session_request(line)
        cached = line.endpoint.handle_bytes(FrameDecoder().feed(encode_frame(request))[0])
        altered = Frame(request.flags, request.session_id, request.seq, request.code,
                        request.payload[:-1] + bytes([request.payload[-1] ^ 1]))
        keys, seq = len(module.keys), sink_of(module).next_seq
        out = line.endpoint.handle_bytes(FrameDecoder().feed(encode_frame(altered))[0])
        assert out != cached
        (frame,) = [f for f in FrameDecoder().feed(out) if isinstance(f, Frame)]
        assert frame.code == Status.MESSAGE_REJECTED
        assert len(module.keys) == keys and sink_of(module).next_seq == seq + 1  # nothing ran; the refusal is recorded


def test_retransmit_after_a_lost_answer(module: Module, line: EndpointLine) -> None:
    """The host's timer fires (the answer was lost): it sends the same bytes and gets the answer."""

    class LossyLine(EndpointLine):
        drop_next = False

        def read(self, timeout: float) -> bytes:
            data = super().read(timeout)
            if self.drop_next and data:
                self.drop_next = False
                return b""
            return data

    lossy = LossyLine(line.endpoint)
    transport = WireTransport(lossy, timeout=0.01, retries=2)
    client = Client(transport)
    with client.login("alice", PASSWORDS["alice"]) as alice:
        keys = len(module.keys)
        lossy.drop_next = True
        alice.call(Command.KEY_GENERATE, {"key_type": int(KeyType.AES_256)})
        assert transport.retransmits == 1 and len(module.keys) == keys + 1


def test_wrong_password_says_nothing_about_why(module: Module, wire: Client) -> None:
    messages = set()
    for operator, password in (("alice", "wrong-password-1"), ("nobody", "wrong-password-1")):
        with pytest.raises(AuthenticationError) as info:
            wire.login(operator, password)
        module.clock.advance(module.config.auth.failure_delay_s)  # type: ignore[attr-defined]  # the delay, in seconds
        messages.add((info.value.status, info.value.message))
    assert len(messages) == 1  # same status and message for a wrong password and an unknown operator


def test_undecodable_parameters_are_refused_and_recorded(module: Module, line: EndpointLine) -> None:
    seq = sink_of(module).next_seq
    bad = Frame(Flags.NONE, 0, 77, int(Command.GET_STATUS), b"\x06\x00\x00\x00\xff")
    reply = answer(line, encode_frame(bad))
    assert reply.code == Status.INVALID_PARAMETER
    assert [r.entry.status for r in sink_of(module).since(seq)] == [Status.INVALID_PARAMETER]


def test_garbage_gets_bad_frame_and_changes_nothing(module: Module, line: EndpointLine) -> None:
    seq, state = sink_of(module).next_seq, module.state
    reply = answer(line, b"\x05garbage\x00")
    assert reply.code == Status.BAD_FRAME and (reply.session_id, reply.seq) == (0, 0)
    assert sink_of(module).next_seq == seq and module.state is state


def test_session_requests_after_logout_are_refused(module: Module, wire: Client, line: EndpointLine) -> None:
    alice = wire.login("alice", PASSWORDS["alice"])
    transport = wire.transport
    assert isinstance(transport, WireTransport)
    state = transport._sessions[alice.session_id]
    alice.logout()
    with pytest.raises(TransportError):  # the host forgot the session's keys
        wire.call(Command.RANDOM, {"length": 1}, alice.session_id)
    late = request_frame(int(Command.RANDOM), {"length": 1}, alice.session_id, state.seq + 1, state.outbound)
    assert answer(line, encode_frame(late)).code == Status.SESSION_INVALID  # the module did too


def test_two_hosts_never_share_a_cached_clear_answer(module: Module) -> None:
    """Each connection numbers its clear requests from its own random start (the host nonce), so
    the second host's SELF_TEST runs and is recorded instead of being answered from the cache."""
    endpoint = Endpoint(module)
    before = len([r for r in sink_of(module).records if r.entry.code == Command.SELF_TEST])
    for _ in range(2):
        host = Client(WireTransport(EndpointLine(endpoint), timeout=0.05, retries=0))
        assert host.call(Command.SELF_TEST).data["passed"]
    after = [r for r in sink_of(module).records if r.entry.code == Command.SELF_TEST]
    assert len(after) - before == 2


class FinishLate(WireTransport):
    """Keys bound at AUTH_BEGIN's answer; sends another protected request before AUTH_FINISH."""

    early: list[Status]

    def call(self, command: int, params: object, session_id: int) -> object:  # type: ignore[override]
        if command == Command.AUTH_FINISH:
            self.early.append(super().call(int(Command.KEY_LIST), {}, session_id).status)
        return super().call(command, params, session_id)  # type: ignore[arg-type]


def test_a_half_open_session_takes_nothing_but_its_auth_finish(module: Module, line: EndpointLine) -> None:
    transport = FinishLate(line, timeout=0.05, retries=0)
    transport.early = []
    with pytest.raises(DeviceError) as info:
        Client(transport).login("alice", PASSWORDS["alice"])
    assert transport.early == [Status.SESSION_INVALID]  # protected, right keys, but not AUTH_FINISH
    assert info.value.status is Status.MESSAGE_REJECTED  # and the login, now out of sequence, fails closed
    refusals = [r.entry for r in sink_of(module).records if r.entry.code == Command.KEY_LIST]
    assert [(e.status, e.operator) for e in refusals] == [(Status.SESSION_INVALID, "")]
