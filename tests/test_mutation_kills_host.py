"""Host-side line rules the `make mutate` runs found untested (each test names the mutant it kills),
against a scripted line that answers each request frame with frames the test builds: the host takes
only the answer numbered like its request (same session, same sequence number; docs/protocol.md),
skipping stale or foreign ones, and shows a service as approved only when the answer's APPROVED
flag says so."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from host_tools.link import WireTransport
from module.wire.channel import reply_of, response_frame
from module.wire.defs import Command, Status
from module.wire.frame import Flags, Frame, FrameDecoder, encode_frame
from module.wire.messages import Reply

Answer = Callable[[Frame], list[Frame]]


class ScriptedLine:
    """A line whose device answers each request with ``answer(request)``, all at once."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.pending = b""
        self.decoder = FrameDecoder()

    def open(self) -> None:
        return None

    def close(self) -> None:
        return None

    def write(self, data: bytes) -> None:
        for request in self.decoder.feed(data):
            assert isinstance(request, Frame)
            self.pending += b"".join(encode_frame(f) for f in self.answer(request))

    def read(self, timeout: float) -> bytes:
        data, self.pending = self.pending, b""
        return data


def clear_answer(which: str, session_id: int, seq: int, *, approved: bool = True) -> Frame:
    return response_frame(Reply(Status.OK, approved, {"which": which}, ""), session_id, seq)


def call(answer: Answer) -> Reply:
    return WireTransport(ScriptedLine(answer), timeout=5.0, retries=0).call(Command.GET_STATUS, {}, 0)


def test_an_answer_with_another_sequence_number_is_skipped() -> None:
    """A stale answer (the previous and the next number) on the line before the right one is not
    taken for it (link-any-seq)."""
    reply = call(lambda req: [clear_answer("earlier", 0, req.seq - 1), clear_answer("later", 0, req.seq + 1),
                              clear_answer("mine", 0, req.seq)])
    assert reply.data == {"which": "mine"}


def test_an_answer_for_another_session_is_skipped() -> None:
    """An answer numbered like the request but for another session is not this request's
    (link-any-session)."""
    reply = call(lambda req: [clear_answer("other session", 7, req.seq), clear_answer("mine", 0, req.seq)])
    assert reply.data == {"which": "mine"}


@pytest.mark.parametrize("approved", [False, True])
def test_the_approved_indicator_is_the_answers_flag(approved: bool) -> None:
    """A non-approved service's answer (APPROVED flag clear) reads as not approved, clear or
    protected; with the flag set it reads as approved (channel-approved-flag-ignored)."""
    reply = call(lambda req: [clear_answer("mine", 0, req.seq, approved=approved)])
    assert reply.approved is approved
    key = os.urandom(32)
    frame = response_frame(Reply(Status.OK, approved, {}, ""), 9, 1, AESGCM(key))
    assert bool(frame.flags & Flags.APPROVED) is approved
    (decoded,) = FrameDecoder().feed(encode_frame(frame))
    assert isinstance(decoded, Frame)
    assert reply_of(decoded, AESGCM(key)).approved is approved
