"""The simulated hardware noise source, and two broken ones for fault injection and tests.

All three honour module.ports.EntropySource: ``read(n)`` returns n raw 8-bit samples and
``min_entropy_per_sample`` is the claimed min-entropy H the module's health tests are tuned to.
The faulty sources keep claiming the healthy source's H (a broken source does not know it is
broken), which is exactly what the SP 800-90B continuous tests exist to catch.
"""

from __future__ import annotations

import os
import random

__all__ = ["OsNoiseSource", "StuckSource", "BiasedSource", "DEFAULT_MIN_ENTROPY"]

DEFAULT_MIN_ENTROPY = 4.0


def _check_h(h: float) -> float:
    if not 0 < h <= 8:
        raise ValueError(f"claimed min-entropy must be in (0, 8] bits per sample, got {h!r}")
    return float(h)


def _check_n(n: int) -> None:
    if n < 0:
        raise ValueError(f"cannot read {n} samples")


class OsNoiseSource:
    """The device's noise source, simulated with os.urandom bytes.

    The claim defaults to 4.0 bits per sample: well below the 8 bits a uniform byte carries, as a
    real noise source's claim sits conservatively below its estimate. The cut-offs that follow
    (RCT 6, APT 62 of 512) keep the false-alarm rate of a healthy source near 2^-40 per sample
    (the RCT fires on 6 equal uniform bytes), so a device does not drop into an error state once
    in ~16,000 boots, as a claim of 7.0 (RCT 4: 2^-24 per sample) would make it do.
    """

    def __init__(self, min_entropy_per_sample: float = DEFAULT_MIN_ENTROPY) -> None:
        self._h = _check_h(min_entropy_per_sample)

    @property
    def min_entropy_per_sample(self) -> float:
        return self._h

    def read(self, n: int) -> bytes:
        _check_n(n)
        return os.urandom(n)


class StuckSource:
    """A source stuck at one sample value: the Repetition Count Test must trip within a few samples."""

    def __init__(self, value: int = 0x00, min_entropy_per_sample: float = DEFAULT_MIN_ENTROPY) -> None:
        if not 0 <= value <= 0xFF:
            raise ValueError(f"sample value must be a byte, got {value}")
        self._value = value
        self._h = _check_h(min_entropy_per_sample)

    @property
    def min_entropy_per_sample(self) -> float:
        return self._h

    def read(self, n: int) -> bytes:
        _check_n(n)
        return bytes([self._value]) * n


class BiasedSource:
    """A source that emits ``value`` with probability ``p`` and a uniform random byte otherwise.

    Deterministic for a given ``seed`` (random.Random, which is fine here: this is a fault model,
    not a source of secrets), so tests that rely on which health test trips are reproducible.
    With ``avoid_repeats`` no sample equals the one before it: a source that is biased without
    sticking, which the Repetition Count Test cannot see and only the Adaptive Proportion Test can.
    """

    def __init__(
        self,
        value: int,
        p: float,
        *,
        seed: int | None = None,
        avoid_repeats: bool = False,
        min_entropy_per_sample: float = DEFAULT_MIN_ENTROPY,
    ) -> None:
        if not 0 <= value <= 0xFF:
            raise ValueError(f"sample value must be a byte, got {value}")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"bias probability must be in [0, 1], got {p}")
        self._value = value
        self._p = p
        self._rng = random.Random(seed)
        self._avoid_repeats = avoid_repeats
        self._previous = -1
        self._h = _check_h(min_entropy_per_sample)

    @property
    def min_entropy_per_sample(self) -> float:
        return self._h

    def read(self, n: int) -> bytes:
        _check_n(n)
        rng, p, value = self._rng, self._p, self._value
        if not self._avoid_repeats:
            return bytes(value if rng.random() < p else rng.randrange(256) for _ in range(n))
        out = bytearray(n)
        previous = self._previous
        for i in range(n):
            x = value if rng.random() < p else rng.randrange(256)
            if x == previous:  # redraw uniformly among the 255 other values
                x = (previous + 1 + rng.randrange(255)) % 256
            out[i] = previous = x
        self._previous = previous
        return bytes(out)
