"""HMAC_DRBG (SP 800-90A) against the NIST CAVP vectors, plus its health test and limits."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from module.drbg import (
    MAX_INPUT_BYTES,
    MAX_REQUEST_BYTES,
    DrbgHealthTestError,
    DrbgKat,
    DrbgReseedRequired,
    HmacDrbg,
    health_test,
    load_drbg_kat,
)

VECTORS_PATH = Path(__file__).parent / "vectors" / "hmac_drbg_sha256.json"
VECTORS: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
CASES: list[dict[str, str]] = VECTORS["tests"]


def _h(case: dict[str, str], key: str) -> bytes:
    return bytes.fromhex(case.get(key, ""))


@pytest.mark.parametrize("case", CASES, ids=[str(c["count"]) for c in CASES])
def test_cavp_vector(case: dict[str, str]) -> None:
    """The file's "procedure": instantiate, optional reseed, generate and discard, generate and compare."""
    expected = _h(case, "returnedBits")
    drbg = HmacDrbg()
    drbg.instantiate(_h(case, "entropyInput"), _h(case, "nonce"), _h(case, "personalizationString"))
    if "entropyInputReseed" in case:
        drbg.reseed(_h(case, "entropyInputReseed"), _h(case, "additionalInputReseed"))
    drbg.generate(len(expected), _h(case, "additionalInput1"))
    assert drbg.generate(len(expected), _h(case, "additionalInput2")).hex() == expected.hex()


def test_vector_file_covers_reseed_and_plain_cases() -> None:
    assert VECTORS["hash"] == "SHA-256"
    assert any("entropyInputReseed" in c for c in CASES)
    assert any("entropyInputReseed" not in c for c in CASES)


# ------------------------------------------------------------------ health test
def test_shipped_kat_is_a_reseed_case_from_the_vector_file() -> None:
    kat = load_drbg_kat()
    assert "CAVP" in kat.source
    matches = [c for c in CASES if _h(c, "returnedBits") == kat.returned_bits]
    assert len(matches) == 1
    case = matches[0]
    assert "entropyInputReseed" in case
    assert kat.entropy_input == _h(case, "entropyInput")
    assert kat.entropy_input_reseed == _h(case, "entropyInputReseed")
    assert kat.additional_input_2 == _h(case, "additionalInput2")


def test_health_test_passes() -> None:
    health_test(load_drbg_kat())


def test_corrupted_kat_fails() -> None:
    with pytest.raises(DrbgHealthTestError, match="known answer"):
        health_test(load_drbg_kat().corrupted())


@pytest.mark.parametrize(
    "field", ["entropy_input", "nonce", "personalization", "entropy_input_reseed",
              "additional_input_reseed", "additional_input_1", "additional_input_2"]
)
def test_any_changed_input_fails_the_health_test(field: str) -> None:
    """Each input must reach the output: a DRBG ignoring one would still pass a weaker test."""
    kat = load_drbg_kat()
    value: bytes = getattr(kat, field)
    changes: dict[str, Any] = {field: bytes([value[0] ^ 0x80]) + value[1:]}
    with pytest.raises(DrbgHealthTestError):
        health_test(replace(kat, **changes))


def test_health_test_detects_a_drbg_that_does_not_wipe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(HmacDrbg, "uninstantiate", lambda self: None)
    with pytest.raises(DrbgHealthTestError):
        health_test(load_drbg_kat())


def test_kat_with_unusable_inputs_fails_cleanly() -> None:
    kat: DrbgKat = replace(load_drbg_kat(), entropy_input=b"\x00" * 8)
    with pytest.raises(DrbgHealthTestError, match="could not run"):
        health_test(kat)


# ------------------------------------------------------------------ life cycle
def _fresh(reseed_interval: int = 2**20) -> HmacDrbg:
    drbg = HmacDrbg(reseed_interval=reseed_interval)
    drbg.instantiate(b"\x11" * 32, b"\x22" * 16, b"test")
    return drbg


def test_uninstantiate_wipes_k_and_v_in_place() -> None:
    drbg = _fresh()
    drbg.generate(64)
    k, v = drbg._k, drbg._v  # the very buffers the DRBG owns
    assert any(k) and any(v) and not drbg.is_zeroised()
    drbg.uninstantiate()
    assert k is drbg._k and v is drbg._v
    assert k == bytearray(32) and v == bytearray(32)
    assert drbg.is_zeroised() and not drbg.instantiated and drbg.reseed_counter == 0
    with pytest.raises(ValueError):
        drbg.generate(1)
    with pytest.raises(ValueError):
        drbg.reseed(b"\x33" * 32)


def test_generate_before_instantiate_raises() -> None:
    with pytest.raises(ValueError, match="not instantiated"):
        HmacDrbg().generate(16)


def test_reseed_required_after_interval() -> None:
    drbg = _fresh(reseed_interval=3)
    assert drbg.reseed_counter == 1
    for expected_counter in (2, 3, 4):
        drbg.generate(16)
        assert drbg.reseed_counter == expected_counter
    with pytest.raises(DrbgReseedRequired):
        drbg.generate(16)
    drbg.reseed(b"\x44" * 32)
    assert drbg.reseed_counter == 1
    assert len(drbg.generate(16)) == 16


def test_reseed_interval_bounds() -> None:
    with pytest.raises(ValueError):
        HmacDrbg(reseed_interval=0)
    with pytest.raises(ValueError):
        HmacDrbg(reseed_interval=2**48 + 1)


def test_request_size_limits() -> None:
    drbg = _fresh()
    assert len(drbg.generate(MAX_REQUEST_BYTES)) == MAX_REQUEST_BYTES == 65536
    for bad in (0, -1, MAX_REQUEST_BYTES + 1):
        with pytest.raises(ValueError):
            drbg.generate(bad)
    assert len(drbg.generate(1)) == 1
    assert len(drbg.generate(33)) == 33


def test_input_length_limits() -> None:
    drbg = HmacDrbg()
    with pytest.raises(ValueError, match="entropy_input"):
        drbg.instantiate(b"\x00" * 31, b"\x00" * 16)
    with pytest.raises(ValueError, match="nonce"):
        drbg.instantiate(b"\x00" * 32, b"\x00" * 15)
    with pytest.raises(ValueError, match="personalization"):
        drbg.instantiate(b"\x00" * 32, b"\x00" * 16, b"\x00" * (MAX_INPUT_BYTES + 1))
    assert not drbg.instantiated
    drbg.instantiate(b"\x00" * 32, b"\x00" * 16, b"\x00" * MAX_INPUT_BYTES)
    with pytest.raises(ValueError, match="entropy_input"):
        drbg.reseed(b"\x00" * 31)
    with pytest.raises(ValueError, match="additional_input"):
        drbg.reseed(b"\x00" * 32, b"\x00" * (MAX_INPUT_BYTES + 1))
    with pytest.raises(ValueError, match="additional_input"):
        drbg.generate(16, b"\x00" * (MAX_INPUT_BYTES + 1))
    with pytest.raises(TypeError):
        drbg.generate(16, "text")  # type: ignore[arg-type]


def test_outputs_differ_across_calls() -> None:
    drbg = _fresh()
    assert drbg.generate(32) != drbg.generate(32)


# ------------------------------------------------------------------ properties
_entropy = st.binary(min_size=32, max_size=64)
_nonce = st.binary(min_size=16, max_size=32)
_pers = st.binary(max_size=48)


@settings(max_examples=50, deadline=None)
@given(entropy=_entropy, nonce=_nonce, pers=_pers, add=st.binary(max_size=32), n=st.integers(1, 200))
def test_same_inputs_same_outputs(entropy: bytes, nonce: bytes, pers: bytes, add: bytes, n: int) -> None:
    a, b = HmacDrbg(), HmacDrbg()
    a.instantiate(entropy, nonce, pers)
    b.instantiate(entropy, nonce, pers)
    assert a.generate(n, add) == b.generate(n, add)
    a.reseed(entropy[::-1], add)
    b.reseed(entropy[::-1], add)
    assert a.generate(n) == b.generate(n)


@settings(max_examples=50, deadline=None)
@given(entropy=_entropy, nonce=_nonce, pers=_pers, other=_pers)
def test_different_personalization_different_output(entropy: bytes, nonce: bytes, pers: bytes, other: bytes) -> None:
    if pers == other:
        other = pers + b"\x00"
    a, b = HmacDrbg(), HmacDrbg()
    a.instantiate(entropy, nonce, pers)
    b.instantiate(entropy, nonce, other)
    assert a.generate(32) != b.generate(32)
