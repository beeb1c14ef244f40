"""The endpoint keeps nothing the module has given up (issue 16): no cached data-bearing answer
outside OPERATIONAL, no channel (keys or encrypted last answer) for a session the module closed.

Each attack goes through the in-process endpoint with the host driver and then replays the very
bytes the host wrote, as a retransmitting host (or someone recording the line) would.
"""

from __future__ import annotations

import pytest

from audit_view import sink_of
from conftest import PASSWORDS
from firmware_sim.device import EndpointLine
from host_tools.client import Client, OperatorSession
from host_tools.link import WireTransport
from module import cast
from module.core import Module
from module.endpoint import Endpoint
from module.wire.channel import reply_of, request_frame
from module.wire.defs import Command, KeyType, KeyUse, State, Status
from module.wire.frame import Flags, Frame, FrameDecoder


@pytest.fixture
def line(module: Module) -> EndpointLine:
    return EndpointLine(Endpoint(module))


@pytest.fixture
def wire(line: EndpointLine) -> Client:
    return Client(WireTransport(line, timeout=0.05, retries=0))


def _session_frames(line: EndpointLine, sid: int) -> list[Frame]:
    frames = [f for chunk in line.written for f in FrameDecoder().feed(chunk) if isinstance(f, Frame)]
    return [f for f in frames if f.session_id == sid]


def _send(line: EndpointLine, frame: Frame) -> Frame:
    (out,) = [f for f in FrameDecoder().feed(line.endpoint.handle_bytes(frame)) if isinstance(f, Frame)]
    return out


def _export(alice: OperatorSession) -> bytes:
    """A wrapped key as KEY_EXPORT answers it (the data a retransmit must not bring back)."""
    wrap = alice.call(Command.KEY_GENERATE, {"key_type": int(KeyType.AES_256),
                                             "uses": int(KeyUse.WRAP | KeyUse.UNWRAP)}).data["key_id"]
    key = alice.call(Command.KEY_GENERATE, {"key_type": int(KeyType.HMAC_SHA256), "exportable": True}).data["key_id"]
    return bytes(alice.call(Command.KEY_EXPORT, {"key_id": key, "wrap_key_id": wrap}).data["wrapped"])


def test_a_key_export_retransmitted_after_a_self_test_failure_gets_the_state_refusal(
    module: Module, wire: Client, line: EndpointLine
) -> None:
    alice = wire.login("alice", PASSWORDS["alice"])
    wrapped = _export(alice)
    export = _session_frames(line, alice.session_id)[-1]
    assert export.code == Command.KEY_EXPORT
    module.inject_fault("cast", cast.CAST_NAMES[0])
    assert wire.transport.call(int(Command.SELF_TEST), {}, 0).status is Status.SELF_TEST_FAILED
    assert module.state is State.SOFT_ERROR
    seq = sink_of(module).next_seq
    out = _send(line, export)
    assert out.code == Status.MODULE_ERROR and wrapped not in out.payload
    reply = reply_of(out, wire.transport._sessions[alice.session_id].inbound) if out.flags & Flags.ENCRYPTED \
        else reply_of(out, None)
    assert reply.status is Status.MODULE_ERROR and reply.data == {}
    records = sink_of(module).since(seq)
    assert [(r.entry.code, r.entry.status) for r in records] == [(Command.KEY_EXPORT, Status.MODULE_ERROR)]
    assert records[0].entry.operator == "alice"


def test_a_key_export_retransmitted_after_zeroise_gets_no_wrapped_key(
    module: Module, wire: Client, line: EndpointLine
) -> None:
    alice = wire.login("alice", PASSWORDS["alice"])
    wrapped = _export(alice)
    export = _session_frames(line, alice.session_id)[-1]
    with wire.login("officer", PASSWORDS["officer"]) as officer:
        officer.call(Command.ZEROISE)
    assert module.state is State.ZEROISED
    out = _send(line, export)
    assert out.code == Status.SESSION_INVALID and not out.flags & Flags.ENCRYPTED
    assert wrapped not in out.payload and reply_of(out, None).data == {}


def test_a_clear_answer_cached_in_operational_is_not_replayed_in_an_error_state(
    module: Module, line: EndpointLine
) -> None:
    """Session 0: GET_STATUS answered in OPERATIONAL, retransmitted in SOFT_ERROR, is answered
    afresh (the state changed, the cached answer went with it)."""
    status = request_frame(int(Command.GET_STATUS), {}, 0, 41)
    first = reply_of(_send(line, status), None)
    assert first.data["state_name"] == "OPERATIONAL"
    module.inject_fault("cast", cast.CAST_NAMES[0])
    assert module.call(Command.SELF_TEST).status is Status.SELF_TEST_FAILED
    again = reply_of(_send(line, status), None)
    assert again.status is Status.OK and again.data["state_name"] == "SOFT_ERROR"


def _assert_no_channel_for(line: EndpointLine, wire: Client, sid: int, keys: object, last: Frame) -> None:
    """The endpoint holds nothing for the session: the last request's retransmit gets no cached
    encrypted answer and a frame under the old keys with the next number is an unknown session's."""
    again = _send(line, last)
    assert again.code == Status.SESSION_INVALID and not again.flags & Flags.ENCRYPTED
    following = request_frame(int(Command.RANDOM), {"length": 8}, sid, last.seq + 1, keys)
    out = _send(line, following)
    assert out.code == Status.SESSION_INVALID and not out.flags & Flags.ENCRYPTED
    assert sid not in line.endpoint._channels


def test_after_logout_the_endpoint_holds_no_channel_for_the_session(
    module: Module, wire: Client, line: EndpointLine
) -> None:
    alice = wire.login("alice", PASSWORDS["alice"])
    alice.call(Command.RANDOM, {"length": 8})
    keys = wire.transport._sessions[alice.session_id].outbound
    alice.logout()
    last = _session_frames(line, alice.session_id)[-1]
    assert last.code == Command.LOGOUT
    _assert_no_channel_for(line, wire, alice.session_id, keys, last)


def test_after_zeroise_the_endpoint_holds_no_channel_for_any_session(
    module: Module, wire: Client, line: EndpointLine
) -> None:
    alice = wire.login("alice", PASSWORDS["alice"])
    alice.call(Command.RANDOM, {"length": 8})
    alice_keys = wire.transport._sessions[alice.session_id].outbound
    alice_last = _session_frames(line, alice.session_id)[-1]
    officer = wire.login("officer", PASSWORDS["officer"])
    officer_keys = wire.transport._sessions[officer.session_id].outbound
    officer.call(Command.ZEROISE)
    officer_last = _session_frames(line, officer.session_id)[-1]
    assert officer_last.code == Command.ZEROISE
    _assert_no_channel_for(line, wire, officer.session_id, officer_keys, officer_last)
    _assert_no_channel_for(line, wire, alice.session_id, alice_keys, alice_last)
    assert not line.endpoint._channels


def test_an_expired_session_leaves_no_channel(module: Module, wire: Client, line: EndpointLine) -> None:
    alice = wire.login("alice", PASSWORDS["alice"])
    alice.call(Command.RANDOM, {"length": 8})
    keys = wire.transport._sessions[alice.session_id].outbound
    last = _session_frames(line, alice.session_id)[-1]
    module.clock.advance(module.config.session_idle_timeout_s + 1)  # type: ignore[attr-defined]
    wire.call(Command.GET_STATUS)  # any call expires idle sessions
    assert alice.session_id not in module.sessions
    _assert_no_channel_for(line, wire, alice.session_id, keys, last)
