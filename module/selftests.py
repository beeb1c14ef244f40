"""The self-tests: the pre-operational suite (integrity, entropy start-up, DRBG health, every
CAST) and the conditional pairwise consistency test. Each result is recorded; a failure is
raised as :class:`SelfTestFailure` for the core to enter its error state."""

from __future__ import annotations

from module import algorithms, cast
from module.drbg import DrbgHealthTestError, health_test, load_drbg_kat
from module.entropy import EntropyHealthError, HealthTestedSource
from module.errors import SelfTestFailure
from module.integrity import check_compiled, check_seal
from module.lab import FaultPlan, LabBreaks
from module.ports import Clock, CodeImage
from module.recorder import AuditRecorder
from module.rng import Rng
from module.wire.defs import AuditEvent, KeyType, Status

__all__ = ["INTEGRITY_CAST", "SelfTests"]

# The integrity test's algorithm in the implementation it runs on (hashlib), known-answer tested
# before it; the DRBG runs on the same HMAC, so it is tested before the DRBG's health test too.
INTEGRITY_CAST = "HMAC-SHA-256 (hashlib)"


class SelfTests:
    def __init__(
        self,
        *,
        code: CodeImage,
        seal: bytes | None,
        entropy: HealthTestedSource,
        rng: Rng,
        recorder: AuditRecorder,
        clock: Clock,
        faults: FaultPlan,
        breaks: LabBreaks,
    ) -> None:
        self.code = code
        self.seal = seal
        self.entropy = entropy
        self.rng = rng
        self.recorder = recorder
        self.clock = clock
        self.faults = faults
        self.breaks = breaks
        self.self_test_ms = 0.0  # how long the last suite took, by the clock port

    def run(self, personalization: bytes) -> SelfTestFailure | None:
        """Every pre-operational test, then the DRBG instantiated; the first failure, or None."""
        started = self.clock.monotonic_ns()
        failure: SelfTestFailure | None = None
        try:
            # The integrity test's own algorithm is tested first (FIPS 140-3 IG 10.3.A).
            self._cast(INTEGRITY_CAST)
            self._integrity()
            self._entropy()
            self._drbg()
            for name in cast.CAST_NAMES:
                if name != INTEGRITY_CAST:
                    self._cast(name)
            self.rng.instantiate(personalization)
        except SelfTestFailure as exc:
            failure = exc
        self.self_test_ms = (self.clock.monotonic_ns() - started) / 1e6
        return failure

    def pairwise_consistency(self, key_type: KeyType, private: bytes, public: bytes) -> None:
        """The conditional test a new key pair passes before it is stored."""
        corrupt = self.faults.corrupt_pct
        self.faults.corrupt_pct = False
        try:
            algorithms.pairwise_consistency_test(key_type, private, public, corrupt=corrupt)
        except algorithms.PairwiseConsistencyFailed as exc:
            self.recorder.event(AuditEvent.PCT_RESULT, status=Status.SELF_TEST_FAILED,
                                detail=f"{key_type.name}: FAIL {exc}")
            raise SelfTestFailure(f"PCT {key_type.name}", str(exc)) from None
        self.recorder.event(AuditEvent.PCT_RESULT, detail=f"{key_type.name}: pass")

    def _result(self, name: str, passed: bool, message: str = "") -> None:
        detail = f"{name}: {'pass' if passed else 'FAIL ' + message}"
        status = Status.OK if passed else Status.SELF_TEST_FAILED
        self.recorder.event(AuditEvent.SELF_TEST_RESULT, status=status, detail=detail)

    def _integrity(self) -> None:
        problem = check_seal(self.code, self.seal) or check_compiled(self.code)
        if self.faults.corrupt_integrity:
            self.faults.corrupt_integrity = False
            problem = "integrity seal does not match the module code (injected fault)"
        self._result("integrity HMAC-SHA-256", problem is None, problem or "")
        if problem is not None:
            raise SelfTestFailure("integrity", problem, hard=True)

    def _entropy(self) -> None:
        self.entropy.reset()
        try:
            self.entropy.startup_test()
        except EntropyHealthError as exc:
            self._result(f"entropy start-up {exc.test}", False, str(exc))
            raise SelfTestFailure(f"entropy {exc.test}", str(exc)) from None
        self._result("entropy start-up RCT+APT", True)

    def _drbg(self) -> None:
        kat = load_drbg_kat()
        if self.faults.corrupt_drbg_kat:
            self.faults.corrupt_drbg_kat = False
            kat = kat.corrupted()
        try:
            health_test(kat)
        except DrbgHealthTestError as exc:
            self._result("HMAC_DRBG health test", False, str(exc))
            raise SelfTestFailure("HMAC_DRBG", str(exc)) from None
        self._result("HMAC_DRBG health test", True)

    def _cast(self, name: str) -> None:
        corrupt = name in self.faults.corrupt_casts
        self.faults.corrupt_casts.discard(name)
        try:
            cast.run_cast(name, corrupt=corrupt)
        except cast.CastFailed as exc:
            self._result(f"CAST {name}", False, str(exc))
            if self.breaks.ignore_self_test_failures:
                return
            raise SelfTestFailure(f"CAST {name}", str(exc)) from None
        self._result(f"CAST {name}", True)
