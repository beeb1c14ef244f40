"""A frame that fails the channel check is nobody's (issue 14, Sessions): recorded with no operator
and a note naming the session it claimed, never against the operator whose session id it carries."""

from __future__ import annotations

from audit_view import sink_of
from conftest import PASSWORDS
from firmware_sim.device import EndpointLine
from host_tools.client import Client
from host_tools.link import WireTransport
from module.audit.sink import RecordKind
from module.core import Module
from module.endpoint import Endpoint
from module.wire.channel import request_frame
from module.wire.defs import Command, Role, Status
from module.wire.frame import Frame, FrameDecoder, encode_frame


def test_a_keyless_frame_claiming_a_session_is_recorded_against_no_one(module: Module) -> None:
    line = EndpointLine(Endpoint(module))
    wire = Client(WireTransport(line, timeout=0.05, retries=0))
    with wire.login("alice", PASSWORDS["alice"]) as alice:
        before = sink_of(module).next_seq
        for command in (Command.ZEROISE, Command.KEY_DELETE):
            line.write(encode_frame(request_frame(int(command), {}, alice.session_id, 7)))
            (frame,) = [f for f in FrameDecoder().feed(line.read(0)) if isinstance(f, Frame)]
            assert frame.code == Status.MESSAGE_REJECTED
        refusals = [r.entry for r in sink_of(module).since(before) if r.entry.kind is RecordKind.SERVICE]
        assert [e.code for e in refusals] == [Command.ZEROISE, Command.KEY_DELETE]
        for entry in refusals:
            assert (entry.operator, entry.role) == ("", Role.NONE)
            assert f"claimed session {alice.session_id}" in entry.detail
        assert len(alice.random(4)) == 4  # her session is untouched
