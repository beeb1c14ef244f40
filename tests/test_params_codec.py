"""The canonical parameter encoding: round trips, determinism, strict decoding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from module.wire.params import ParamsError, decode_map, decode_value, digest_map, encode_map, encode_value

names = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12)
scalars = st.one_of(st.binary(max_size=64), st.integers(0, 2**64 - 1), st.text(max_size=32), st.booleans())
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(names, inner, max_size=4)), max_leaves=12)


@given(st.dictionaries(names, values, max_size=8))
def test_round_trip(mapping: dict[str, object]) -> None:
    assert decode_map(encode_map(mapping)) == mapping  # type: ignore[arg-type]


@given(st.dictionaries(names, scalars, max_size=8))
def test_digest_independent_of_insertion_order(mapping: dict[str, object]) -> None:
    reordered = dict(reversed(list(mapping.items())))
    assert digest_map(mapping) == digest_map(reordered)  # type: ignore[arg-type]


@given(st.binary(max_size=64))
def test_decoder_never_crashes(data: bytes) -> None:
    try:
        decode_value(data)
    except ParamsError:
        pass


@given(st.dictionaries(names, values, min_size=1, max_size=4), st.data())
def test_truncation_detected(mapping: dict[str, object], data: st.DataObject) -> None:
    encoded = encode_map(mapping)  # type: ignore[arg-type]
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(ParamsError):
        decode_value(encoded[:cut])


def test_rejects_unsorted_keys_and_trailing_bytes() -> None:
    a, b = encode_value({"a": 1}), encode_value({"b": 2})
    body = a[5:] + b[5:]
    swapped = bytes([0x06]) + len(body).to_bytes(4, "big") + b[5:] + a[5:]
    with pytest.raises(ParamsError):
        decode_value(swapped)
    with pytest.raises(ParamsError):
        decode_value(encode_value({"a": 1}) + b"\x00")


@pytest.mark.parametrize("bad", [-1, 2**64, 1.5, None])
def test_rejects_unencodable(bad: object) -> None:
    with pytest.raises(ParamsError):
        encode_value(bad)  # type: ignore[arg-type]
