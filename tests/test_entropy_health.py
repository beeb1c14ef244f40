"""SP 800-90B 4.4 continuous health tests (RCT, APT) and the simulated noise sources."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import firmware_sim.entropy as fw_entropy
from firmware_sim.entropy import DEFAULT_MIN_ENTROPY, BiasedSource, OsNoiseSource, StuckSource
from module.entropy import (
    APT_WINDOW_BINARY,
    APT_WINDOW_NON_BINARY,
    STARTUP_SAMPLES,
    EntropyHealthError,
    HealthTestedSource,
    apt_cutoff,
    rct_cutoff,
)
from module.ports import EntropySource

CUTOFFS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "vectors" / "sp800_90b_cutoffs.json").read_text(encoding="utf-8")
)

# 1024 samples with no repeats and every value 4 times: passes both tests at any H, and leaves the
# APT exactly at a window boundary (1024 = 2 x 512), so each test's own samples start a new window.
GOOD_STARTUP = bytes(range(256)) * 4


class ScriptedSource:
    """Hands out a fixed script of samples (start-up samples first), for tests of exact positions."""

    def __init__(self, samples: bytes, h: float = 7.0, startup: bytes = GOOD_STARTUP) -> None:
        self._data = startup + samples
        self._pos = 0
        self._h = h

    @property
    def min_entropy_per_sample(self) -> float:
        return self._h

    def read(self, n: int) -> bytes:
        chunk = self._data[self._pos : self._pos + n]
        self._pos += len(chunk)
        return chunk


def _filler(n: int, avoid: int) -> list[int]:
    """n samples with no two equal neighbours, never ``avoid``, each value rare within a window."""
    values = [v for v in range(256) if v != avoid]
    return [values[i % len(values)] for i in range(n)]


def _started(source: EntropySource) -> HealthTestedSource:
    tested = HealthTestedSource(source)
    tested.startup_test()
    return tested


# ------------------------------------------------------------------ cut-offs
@pytest.mark.parametrize("row", CUTOFFS["rct"], ids=lambda r: f"H={r['h']}")
def test_rct_cutoffs_match_openssl_table(row: dict[str, Any]) -> None:
    assert rct_cutoff(row["h"]) == row["cutoff"]


@pytest.mark.parametrize("row", CUTOFFS["apt"], ids=lambda r: f"H={r['h']}-W={r['window']}")
def test_apt_cutoffs_match_published_tables(row: dict[str, Any]) -> None:
    assert apt_cutoff(row["h"], row["window"]) == row["cutoff"]


def test_rct_table_is_the_whole_openssl_table() -> None:
    assert [r["cutoff"] for r in CUTOFFS["rct"]] == [41, 21, 11, 8, 6, 5, 5, 4, 4]
    assert [r["h"] for r in CUTOFFS["rct"]] == [0.5, 1, 2, 3, 4, 5, 6, 7, 8]


def test_windows_follow_sp800_90b() -> None:
    assert (APT_WINDOW_NON_BINARY, APT_WINDOW_BINARY, STARTUP_SAMPLES) == (512, 1024, 1024)


def test_default_source_cutoffs() -> None:
    tested = HealthTestedSource(OsNoiseSource())
    assert tested.cutoffs() == {
        "min_entropy_per_sample": 4.0,
        "alpha_log2": -20,
        "rct_cutoff": 6,
        "apt_window": 512,
        "apt_cutoff": 62,
        "startup_samples": 1024,
    }
    assert (tested.rct_cutoff, tested.apt_cutoff, tested.apt_window) == (6, 62, 512)


def test_binary_window_option() -> None:
    tested = HealthTestedSource(OsNoiseSource(1.0), window=APT_WINDOW_BINARY)
    assert tested.apt_cutoff == apt_cutoff(1.0, 1024) == 589


@pytest.mark.parametrize("h", [0, -1, 8.01, math.nan, math.inf])
def test_claimed_entropy_is_validated(h: float) -> None:
    with pytest.raises(ValueError):
        rct_cutoff(h)
    with pytest.raises(ValueError):
        apt_cutoff(h)
    with pytest.raises(ValueError):
        HealthTestedSource(ScriptedSource(b"", h=h))


@pytest.mark.parametrize("h", [0, -1, 9])
def test_sources_validate_their_claim(h: float) -> None:
    with pytest.raises(ValueError):
        OsNoiseSource(h)
    with pytest.raises(ValueError):
        StuckSource(0, min_entropy_per_sample=h)
    with pytest.raises(ValueError):
        BiasedSource(0, 0.5, min_entropy_per_sample=h)


def test_apt_cutoff_is_monotone_in_h() -> None:
    values = [apt_cutoff(h / 4) for h in range(1, 33)]
    assert values == sorted(values, reverse=True)


# ------------------------------------------------------------------ RCT
def test_stuck_source_trips_rct_quickly() -> None:
    tested = HealthTestedSource(StuckSource(0x42, min_entropy_per_sample=7.0))
    with pytest.raises(EntropyHealthError) as info:
        tested.startup_test()
    assert info.value.test == "RCT"
    assert "0x42" in str(info.value) and "cut-off 4" in str(info.value)
    assert tested.samples_tested == 4  # the cut-off at H = 7
    assert tested.failed


def test_rct_boundary() -> None:
    below = _started(ScriptedSource(bytes([0x42] * 3 + [0x43])))
    below.read(4)
    at = _started(ScriptedSource(bytes([0x42] * 4)))
    with pytest.raises(EntropyHealthError) as info:
        at.read(4)
    assert info.value.test == "RCT"


def test_rct_run_continues_across_reads() -> None:
    tested = _started(ScriptedSource(bytes([0x42] * 4)))
    tested.read(2)
    with pytest.raises(EntropyHealthError, match="RCT"):
        tested.read(2)


@st.composite
def _runs_below_cutoff(draw: st.DrawFn) -> tuple[float, bytes]:
    h = draw(st.sampled_from([row["h"] for row in CUTOFFS["rct"]]))
    cutoff = rct_cutoff(h)
    runs = draw(st.lists(st.tuples(st.integers(0, 255), st.integers(1, cutoff - 1)), max_size=60))
    out = bytearray()
    previous = GOOD_STARTUP[-1]  # the RCT run carries on from the start-up samples
    for value, length in runs:
        if value == previous:
            value = (value + 1) % 256  # keep runs separate so none grows to the cut-off
        out += bytes([value]) * length
        previous = value
    return h, bytes(out)


@settings(max_examples=150, deadline=None)
@given(case=_runs_below_cutoff(), chunk=st.integers(1, 64))
def test_no_run_at_cutoff_never_fails_rct(case: tuple[float, bytes], chunk: int) -> None:
    """Any sequence without a run of length >= C passes the RCT (the APT may object; not our concern)."""
    h, samples = case
    tested = _started(ScriptedSource(samples, h=h))
    try:
        for start in range(0, len(samples), chunk):
            tested.read(min(chunk, len(samples) - start))
    except EntropyHealthError as exc:
        assert exc.test != "RCT"


@settings(max_examples=50, deadline=None)
@given(case=_runs_below_cutoff(), value=st.integers(0, 255))
def test_a_run_at_cutoff_always_fails(case: tuple[float, bytes], value: int) -> None:
    h, prefix = case
    if (prefix or GOOD_STARTUP)[-1] == value:
        value = (value + 1) % 256
    samples = prefix + bytes([value]) * rct_cutoff(h)
    tested = _started(ScriptedSource(samples, h=h))
    with pytest.raises(EntropyHealthError):
        tested.read(len(samples))


# ------------------------------------------------------------------ APT
def _window_with(value: int, count: int, window: int = 512) -> bytes:
    """A window that starts with ``value`` and holds it ``count`` times, never twice in a row."""
    samples: list[int] = []
    filler = iter(_filler(window, value))
    for i in range(window):
        samples.append(value if i % 2 == 0 and i // 2 < count else next(filler))
    return bytes(samples)


def test_apt_boundary_and_windows_do_not_slide() -> None:
    """17 of 512 (cut-off 18 at H = 7) passes, window after window; 18 fails at the 18th."""
    cutoff = apt_cutoff(7.0)
    assert cutoff == 18
    passing = _window_with(0x00, cutoff - 1) * 3
    failing = _window_with(0x00, cutoff)
    tested = _started(ScriptedSource(passing + failing))
    tested.read(len(passing))
    with pytest.raises(EntropyHealthError) as info:
        tested.read(len(failing))
    assert info.value.test == "APT"
    # The 18th occurrence is at index 2 * 17 of the failing window.
    assert tested.samples_tested == STARTUP_SAMPLES + len(passing) + 2 * (cutoff - 1) + 1


@pytest.mark.parametrize("chunk", [1, 7, 64, 511, 512, 4096])
def test_apt_window_continues_across_reads(chunk: int) -> None:
    samples = _window_with(0x00, 40)
    tested = _started(ScriptedSource(samples))
    with pytest.raises(EntropyHealthError) as info:
        for start in range(0, len(samples), chunk):
            tested.read(min(chunk, len(samples) - start))
    assert info.value.test == "APT"
    assert tested.samples_tested == STARTUP_SAMPLES + 2 * 17 + 1


def test_strongly_biased_source_trips_apt() -> None:
    """Biased but never stuck: the RCT cannot see it, the APT must."""
    tested = HealthTestedSource(BiasedSource(0x00, 0.9, seed=7, avoid_repeats=True))
    with pytest.raises(EntropyHealthError) as info:
        tested.startup_test()
    assert info.value.test == "APT"
    assert "cut-off 62" in str(info.value)  # H = 4.0, W = 512


@pytest.mark.parametrize("seed", range(5))
def test_biased_source_fails_startup(seed: int) -> None:
    with pytest.raises(EntropyHealthError) as info:
        HealthTestedSource(BiasedSource(0x00, 0.9, seed=seed)).startup_test()
    assert info.value.test in {"RCT", "APT"}


def test_biased_source_is_deterministic() -> None:
    assert BiasedSource(0x10, 0.5, seed=3).read(256) == BiasedSource(0x10, 0.5, seed=3).read(256)
    biased = BiasedSource(0x10, 0.9, seed=3, avoid_repeats=True).read(4096)
    assert all(a != b for a, b in zip(biased, biased[1:]))
    assert biased.count(0x10) > 1500


# ------------------------------------------------------------------ healthy source
def test_healthy_os_source_passes_a_large_read() -> None:
    """Real os.urandom bytes, claimed at H = 1 so a false alarm is out of reach (P < 2^-100)."""
    tested = HealthTestedSource(OsNoiseSource(1.0))
    assert len(tested.read(1 << 20)) == 1 << 20
    assert not tested.failed and tested.startup_done


def test_default_claim_passes_a_large_healthy_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """At the default H = 7 a run of 4 equal bytes is an alarm by design (2^-24 per sample on uniform
    bytes), so a large read of live os.urandom would fail now and then: feed seeded uniform bytes."""
    rng = random.Random(2024)
    monkeypatch.setattr(fw_entropy.os, "urandom", rng.randbytes)
    tested = HealthTestedSource(OsNoiseSource())
    tested.startup_test()
    for _ in range(50):
        tested.read(4096)
    assert tested.samples_tested == STARTUP_SAMPLES + 50 * 4096


def _counting(h: float) -> ScriptedSource:
    """Samples that never repeat back to back and are evenly spread: no health test can fire, at any H
    (live os.urandom at H = 7 trips the RCT, cut-off 4, now and then, by design)."""
    return ScriptedSource(bytes(range(256)) * 4, h=h)


def test_entropy_input_sizes() -> None:
    assert len(HealthTestedSource(_counting(7.0)).entropy_input(384)) == 55  # ceil(384 / 7)
    assert len(HealthTestedSource(_counting(7.0)).entropy_input(128)) == 19
    assert len(HealthTestedSource(_counting(0.5)).entropy_input(384)) == 768
    assert len(HealthTestedSource(_counting(8.0)).entropy_input(256)) == 32
    with pytest.raises(ValueError):
        HealthTestedSource(OsNoiseSource()).entropy_input(0)
    with pytest.raises(ValueError, match="samples"):  # 3.84 million samples: refused, not read
        HealthTestedSource(OsNoiseSource(1e-4)).entropy_input(384)


def test_first_read_runs_the_startup_test() -> None:
    tested = HealthTestedSource(ScriptedSource(b"\x01\x02\x03"))
    assert tested.read(3) == b"\x01\x02\x03"  # the scripted start-up samples were discarded
    assert tested.startup_done and tested.samples_tested == STARTUP_SAMPLES + 3


# ------------------------------------------------------------------ failure state
def test_after_failure_reads_keep_raising_until_reset() -> None:
    class Switchable:
        def __init__(self) -> None:
            self.inner: EntropySource = StuckSource(0x00)

        @property
        def min_entropy_per_sample(self) -> float:
            return self.inner.min_entropy_per_sample

        def read(self, n: int) -> bytes:
            return self.inner.read(n)

    source = Switchable()
    tested = HealthTestedSource(source)
    with pytest.raises(EntropyHealthError):
        tested.startup_test()
    source.inner = OsNoiseSource(1.0)  # healthy again, but the failure must stick
    for attempt in (lambda: tested.read(1), lambda: tested.entropy_input(256), tested.startup_test):
        with pytest.raises(EntropyHealthError) as info:
            attempt()
        assert info.value.test == "RCT" and "failed state" in str(info.value)
    assert tested.failure is not None and tested.failure.test == "RCT"
    tested.reset()
    assert not tested.failed and not tested.startup_done
    assert tested.min_entropy_per_sample == 1.0  # the claim is re-read on reset
    tested.startup_test()
    assert len(tested.read(64)) == 64


def test_short_read_is_a_source_failure() -> None:
    tested = HealthTestedSource(ScriptedSource(b"", startup=b"\x00\x01" * 10))
    with pytest.raises(EntropyHealthError) as info:
        tested.startup_test()
    assert info.value.test == "SOURCE"
    with pytest.raises(EntropyHealthError):
        tested.read(1)


def test_sources_honour_the_protocol() -> None:
    for source in (OsNoiseSource(), StuckSource(1), BiasedSource(1, 0.5, seed=1)):
        assert isinstance(source, EntropySource)
        assert source.min_entropy_per_sample == DEFAULT_MIN_ENTROPY == 4.0
        assert len(source.read(100)) == 100
        assert source.read(0) == b""
        with pytest.raises(ValueError):
            source.read(-1)
    assert StuckSource(0x42).read(3) == b"\x42\x42\x42"
