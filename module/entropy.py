"""SP 800-90B section 4.4 health tests on the raw noise source, before anything uses its samples.

The module trusts its entropy source only as far as the continuous health tests allow: every raw
sample passes through the Repetition Count Test (RCT, 4.4.1: catches a stuck source) and the
Adaptive Proportion Test (APT, 4.4.2: catches a source that became biased without sticking),
both with a false-alarm probability of alpha = 2^-20 per the standard's recommendation.
Samples are 8-bit and the source is treated as non-binary.
"""

from __future__ import annotations

import math
from decimal import Context
from fractions import Fraction
from functools import lru_cache

from module.ports import EntropySource

__all__ = [
    "EntropyHealthError",
    "HealthTestedSource",
    "rct_cutoff",
    "apt_cutoff",
    "ALPHA_LOG2",
    "APT_WINDOW_BINARY",
    "APT_WINDOW_NON_BINARY",
    "STARTUP_SAMPLES",
    "MAX_ENTROPY_INPUT_SAMPLES",
]

ALPHA_LOG2 = 20  # alpha = 2^-20, the false-positive rate SP 800-90B 4.4 recommends
# SP 800-90B 4.4.2: the APT window W is 1024 samples for a binary noise source (two distinct values), 512 otherwise.
APT_WINDOW_BINARY = 1024
APT_WINDOW_NON_BINARY = 512
STARTUP_SAMPLES = 1024  # SP 800-90B 4.3: start-up tests over at least 1024 consecutive samples
MAX_ENTROPY_INPUT_SAMPLES = 2**20  # the DRBG's entropy-input limit; only an absurdly low claimed H reaches it


class EntropyHealthError(Exception):
    """A health test failed; the source stays failed until reset().

    ``test`` is "RCT" or "APT", or "SOURCE" when the noise source broke its interface contract
    (returned fewer samples than asked), which is no statistical test but just as fatal.
    """

    def __init__(self, test: str, message: str) -> None:
        super().__init__(f"{test}: {message}")
        self.test = test
        self.message = message


def _check_h(h: float) -> Fraction:
    if isinstance(h, bool) or not isinstance(h, (int, float)) or not math.isfinite(h) or not 0 < h <= 8:
        raise ValueError(f"claimed min-entropy must be in (0, 8] bits per 8-bit sample, got {h!r}")
    return Fraction(h)


def rct_cutoff(h: float) -> int:
    """SP 800-90B 4.4.1: C = 1 + ceil(-log2(alpha) / H); computed on the exact value of ``h``."""
    return 1 + math.ceil(Fraction(ALPHA_LOG2) / _check_h(h))


def apt_cutoff(h: float, window: int = APT_WINDOW_NON_BINARY) -> int:
    """SP 800-90B 4.4.2: C = 1 + CRITBINOM(W, 2^-H, 1 - alpha), in exact arithmetic.

    CRITBINOM(n, p, q) is the smallest k with P(Binomial(n, p) <= k) >= q. For integer H, p = 2^-H
    is a dyadic rational and the sum is done exactly in integers. For other H, p is irrational, so
    the search runs on rational lower and upper bounds of p (96 bits, refined if needed); the CDF
    is monotone in p, so when both bounds give the same k that k is the exact answer.
    """
    hf = _check_h(h)
    if window < 2:
        raise ValueError(f"APT window must be at least 2 samples, got {window}")
    return _apt_cutoff_exact(hf, window)


@lru_cache(maxsize=64)
def _apt_cutoff_exact(h: Fraction, window: int) -> int:
    if h.denominator == 1:
        return 1 + _critbinom(window, Fraction(1, 2 ** int(h)))
    for bits in (96, 256, 1024):
        p_lo, p_hi = _bracket_pow2(-h, bits)
        k_lo = _critbinom(window, p_lo)
        if k_lo == _critbinom(window, p_hi):
            return 1 + k_lo
    # Only reachable if the binomial CDF sits within ~2^-1000 of 1 - alpha: no such H in practice.
    raise ArithmeticError(f"APT cut-off for H={float(h)} is not decidable at 1024-bit precision")


def _bracket_pow2(exponent: Fraction, bits: int) -> tuple[Fraction, Fraction]:
    """Rationals p_lo <= 2^exponent <= p_hi on a 2^-bits grid (exponent < 0, so 0 < p < 1)."""
    digits = bits * 3 // 10 + 20  # a few more decimal digits than the grid needs
    ctx = Context(prec=digits)
    value = ctx.power(ctx.create_decimal(2), ctx.divide(ctx.create_decimal(exponent.numerator),
                                                        ctx.create_decimal(exponent.denominator)))
    # Decimal rounding of the exponent and of power() is far below 2^-bits; 2^-(bits+8) of slack covers it.
    slack = Fraction(1, 1 << (bits + 8))
    exact = Fraction(value)
    scale = 1 << bits
    lo = Fraction(math.floor((exact - slack) * scale), scale)
    hi = Fraction(math.ceil((exact + slack) * scale), scale)
    return max(lo, Fraction(0)), min(hi, Fraction(1))


def _critbinom(n: int, p: Fraction) -> int:
    """Smallest k with sum_{i<=k} C(n,i) p^i (1-p)^(n-i) >= 1 - 2^-alpha, all in integers.

    With p = a/b and c = b - a, term_i * b^n = C(n,i) a^i c^(n-i), and
    term_{i+1} = term_i * (n-i) * a / ((i+1) * c) divides exactly.
    """
    if not 0 <= p <= 1:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if p == 0 or p == 1:  # degenerate bounds of a bracket: all mass at 0 or at n
        return 0 if p == 0 else n
    a, b = p.numerator, p.denominator
    c = b - a
    target = ((1 << ALPHA_LOG2) - 1) * b**n  # (1 - alpha) * b^n, scaled by 2^alpha
    term = c**n
    total = term
    k = 0
    while (total << ALPHA_LOG2) < target:
        term = term * (n - k) * a // ((k + 1) * c)
        k += 1
        total += term
    return k


class HealthTestedSource:
    """An EntropySource behind the SP 800-90B continuous health tests.

    Every raw sample handed out has been through the RCT and the APT; the tests keep their state
    across calls (an APT window spans reads). The start-up test runs over STARTUP_SAMPLES samples
    before first use and discards them. After a failure every read raises until reset().
    """

    def __init__(self, source: EntropySource, *, window: int = APT_WINDOW_NON_BINARY) -> None:
        self._source = source
        self._window = window
        self._h = 0.0
        self._rct_c = 0
        self._apt_c = 0
        self._failure: EntropyHealthError | None = None
        self._started = False
        self._samples_tested = 0
        self._configure()

    def _configure(self) -> None:
        """Read the source's claimed min-entropy and derive the cut-offs (at construction and reset)."""
        h = self._source.min_entropy_per_sample
        self._h = float(h)
        self._rct_c = rct_cutoff(self._h)
        self._apt_c = apt_cutoff(self._h, self._window)
        self._clear_test_state()

    def _clear_test_state(self) -> None:
        self._rct_a = -1
        self._rct_b = 0
        self._apt_a = -1
        self._apt_b = 0
        self._apt_i = 0  # samples of the current APT window seen so far

    # ------------------------------------------------------------ reporting
    @property
    def min_entropy_per_sample(self) -> float:
        return self._h

    @property
    def rct_cutoff(self) -> int:
        return self._rct_c

    @property
    def apt_cutoff(self) -> int:
        return self._apt_c

    @property
    def apt_window(self) -> int:
        return self._window

    @property
    def failed(self) -> bool:
        return self._failure is not None

    @property
    def failure(self) -> EntropyHealthError | None:
        return self._failure

    @property
    def startup_done(self) -> bool:
        return self._started

    @property
    def samples_tested(self) -> int:
        return self._samples_tested

    def cutoffs(self) -> dict[str, float | int]:
        """What the status service and the security policy show: claimed H and the cut-offs chosen."""
        return {
            "min_entropy_per_sample": self._h,
            "alpha_log2": -ALPHA_LOG2,
            "rct_cutoff": self._rct_c,
            "apt_window": self._window,
            "apt_cutoff": self._apt_c,
            "startup_samples": STARTUP_SAMPLES,
        }

    # ------------------------------------------------------------ operation
    def reset(self) -> None:
        """Leave the failed state: re-read the claim, clear the tests, require a new start-up test."""
        self._failure = None
        self._started = False
        self._configure()

    def startup_test(self) -> None:
        """SP 800-90B 4.3: RCT and APT over STARTUP_SAMPLES samples, which are then discarded."""
        self._raise_if_failed()
        self._test(self._source_read(STARTUP_SAMPLES))
        self._started = True

    def read(self, n: int) -> bytes:
        """n raw samples, each passed through RCT and APT; runs the start-up test first if needed."""
        if n < 0:
            raise ValueError(f"cannot read {n} samples")
        self._raise_if_failed()
        if not self._started:
            self.startup_test()
        samples = self._source_read(n)
        self._test(samples)
        return samples

    def entropy_input(self, bits: int) -> bytes:
        """Enough raw samples to hold ``bits`` bits of min-entropy at the claimed H: ceil(bits / H)."""
        if bits <= 0:
            raise ValueError(f"bits must be positive, got {bits}")
        n = math.ceil(Fraction(bits) / Fraction(self._h))
        if n > MAX_ENTROPY_INPUT_SAMPLES:
            raise ValueError(f"{bits} bits at H={self._h} need {n} samples, above {MAX_ENTROPY_INPUT_SAMPLES}")
        return self.read(n)

    # --------------------------------------------------------------- tests
    def _source_read(self, n: int) -> bytes:
        samples = bytes(self._source.read(n))
        if len(samples) != n:
            # A short read is a source failure too; report it through the same channel.
            self._fail("SOURCE", f"noise source returned {len(samples)} samples, {n} requested")
        return samples

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise EntropyHealthError(
                self._failure.test, f"noise source is in the failed state until reset ({self._failure.message})"
            )

    def _fail(self, test: str, message: str) -> None:
        self._failure = EntropyHealthError(test, message)
        raise self._failure

    def _test(self, samples: bytes) -> None:
        """Run both tests over every sample, continuing the state from the previous call."""
        rct_c, apt_c, window = self._rct_c, self._apt_c, self._window
        rct_a, rct_b = self._rct_a, self._rct_b
        apt_a, apt_b, apt_i = self._apt_a, self._apt_b, self._apt_i
        for index, x in enumerate(samples):
            # 4.4.1 Repetition Count Test
            if x == rct_a:
                rct_b += 1
                if rct_b >= rct_c:
                    self._samples_tested += index + 1
                    self._fail("RCT", f"sample 0x{x:02x} repeated {rct_b} times in a row (cut-off {rct_c}, H={self._h})")
            else:
                rct_a, rct_b = x, 1
            # 4.4.2 Adaptive Proportion Test
            if apt_i == 0:
                apt_a, apt_b = x, 1
            elif x == apt_a:
                apt_b += 1
                if apt_b >= apt_c:
                    self._samples_tested += index + 1
                    self._fail(
                        "APT",
                        f"sample 0x{x:02x} seen {apt_b} times in a window of {window} (cut-off {apt_c}, H={self._h})",
                    )
            apt_i += 1
            if apt_i == window:
                apt_i = 0
        self._rct_a, self._rct_b = rct_a, rct_b
        self._apt_a, self._apt_b, self._apt_i = apt_a, apt_b, apt_i
        self._samples_tested += len(samples)
