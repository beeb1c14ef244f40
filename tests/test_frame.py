"""Frame codec: round trips, resynchronisation after garbage, every corruption detected."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from module.wire.frame import (
    MAX_ENCODED,
    MAX_PAYLOAD,
    Flags,
    Frame,
    FrameDecoder,
    FrameError,
    decode_frame,
    encode_frame,
)

frames = st.builds(
    Frame,
    flags=st.sampled_from([Flags.NONE, Flags.RESPONSE, Flags.ENCRYPTED, Flags.RESPONSE | Flags.APPROVED]),
    session_id=st.integers(0, 2**32 - 1),
    seq=st.integers(0, 2**32 - 1),
    code=st.integers(0, 0xFFFF),
    payload=st.binary(max_size=2048),
)


@given(frames)
def test_round_trip(frame: Frame) -> None:
    wire = encode_frame(frame)
    assert wire.endswith(b"\x00") and wire.count(0) == 1  # COBS: the delimiter is the only zero
    assert decode_frame(wire[:-1]) == frame


@given(st.lists(frames, min_size=1, max_size=5), st.integers(1, 64))
def test_stream_cut_anywhere(items: list[Frame], step: int) -> None:
    stream = b"".join(encode_frame(f) for f in items)
    decoder = FrameDecoder()
    out: list[Frame | FrameError] = []
    for i in range(0, len(stream), step):
        out += decoder.feed(stream[i : i + step])
    assert out == items and decoder.pending == 0


@given(st.binary(max_size=300), frames)
def test_resync_after_garbage(garbage: bytes, frame: Frame) -> None:
    """Whatever came before, the first delimiter resynchronises: the next frame arrives intact."""
    decoder = FrameDecoder()
    got = decoder.feed(garbage + b"\x00" + encode_frame(frame))
    assert got[-1] == frame
    assert all(isinstance(g, (Frame, FrameError)) for g in got)


@settings(max_examples=300)
@given(frames, st.data())
def test_any_bit_flip_is_detected(frame: Frame, data: st.DataObject) -> None:
    wire = bytearray(encode_frame(frame)[:-1])
    index = data.draw(st.integers(0, len(wire) - 1))
    bit = data.draw(st.integers(0, 7))
    wire[index] ^= 1 << bit
    decoded = FrameDecoder().feed(bytes(wire) + b"\x00")
    # A flip may create a zero (splitting the frame) but never yields a different valid frame.
    assert all(isinstance(d, FrameError) for d in decoded)


@given(frames, st.data())
def test_truncation_is_detected(frame: Frame, data: st.DataObject) -> None:
    wire = encode_frame(frame)[:-1]
    cut = data.draw(st.integers(0, len(wire) - 1))
    assert all(isinstance(d, FrameError) for d in FrameDecoder().feed(wire[:cut] + b"\x00"))


def test_oversize_run_is_dropped_and_bounded() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"\x01" * (MAX_ENCODED + 10)) == []
    assert decoder.pending == 0  # nothing kept beyond the bound
    good = Frame(Flags.NONE, 0, 1, 1)
    out = decoder.feed(b"\x01" * 5 + b"\x00" + encode_frame(good))
    assert isinstance(out[0], FrameError) and "too long" in str(out[0]) and out[1] == good


def test_oversize_payload_refused_on_encode() -> None:
    with pytest.raises(FrameError):
        encode_frame(Frame(Flags.NONE, 0, 1, 1, bytes(MAX_PAYLOAD + 1)))


def test_expire_drops_a_partial_frame() -> None:
    decoder = FrameDecoder()
    wire = encode_frame(Frame(Flags.NONE, 0, 1, 1, b"abc"))
    decoder.feed(wire[:5])
    assert decoder.pending == 5 and decoder.expire() and decoder.pending == 0
    assert decoder.feed(wire) == [Frame(Flags.NONE, 0, 1, 1, b"abc")]


@pytest.mark.parametrize(
    ("mutate", "why"),
    [
        (lambda raw: bytes([1]) + raw[1:], "version"),  # protocol 1: refused by a version-2 end
        (lambda raw: raw[:1] + bytes([0x80]) + raw[2:], "flags"),
    ],
)
def test_header_checks(mutate: object, why: str) -> None:
    import struct
    import zlib

    from cobs import cobs

    frame = Frame(Flags.NONE, 0, 1, 1, b"x")
    body = mutate(frame.header() + frame.payload)  # type: ignore[operator]
    stuffed = cobs.encode(body + struct.pack(">I", zlib.crc32(body)))
    with pytest.raises(FrameError, match=why):
        decode_frame(stuffed)
