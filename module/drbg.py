"""SP 800-90A Rev.1 HMAC_DRBG with SHA-256: the module's own deterministic random bit generator.

Written by hand on the module's ``hashlib`` HMAC-SHA-256 (:mod:`module.algorithms.primitives`,
known-answer tested by its own CAST before this DRBG's health test) rather than borrowed, because the DRBG is part of the
module's cryptographic boundary: the module must own its working state (so it can wipe it) and
must be able to prove it correct with a known-answer health test (SP 800-90A section 11.3,
FIPS 140-3 IG 10.3.A). Security strength 256 bits, no prediction resistance, no derivation
function (HMAC_DRBG has none).

The working state (K, V) lives in bytearrays that are overwritten in place on uninstantiate.
Python's ``hmac`` still makes short-lived ``bytes`` copies of the key while computing; a
simulation cannot do better than wiping what it owns.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from hmac import compare_digest

from module.algorithms import primitives
from module.data.drbg_kat import DRBG_KAT

__all__ = [
    "HmacDrbg",
    "DrbgKat",
    "DrbgError",
    "DrbgReseedRequired",
    "DrbgHealthTestError",
    "health_test",
    "load_drbg_kat",
    "SECURITY_STRENGTH_BITS",
    "OUTLEN",
    "MIN_ENTROPY_INPUT_BYTES",
    "MIN_NONCE_BYTES",
    "MAX_ENTROPY_INPUT_BYTES",
    "MAX_INPUT_BYTES",
    "MAX_REQUEST_BYTES",
    "MAX_RESEED_INTERVAL",
]

SECURITY_STRENGTH_BITS = 256
OUTLEN = primitives.SHA256_SIZE  # 32 bytes
# SP 800-90A 8.6.3/10.1: entropy input of at least security_strength bits, nonce of at least
# security_strength / 2 bits (the caller is responsible for them carrying that much entropy).
MIN_ENTROPY_INPUT_BYTES = SECURITY_STRENGTH_BITS // 8
MIN_NONCE_BYTES = SECURITY_STRENGTH_BITS // 16
# SP 800-90A Table 2 allows up to 2^35 bits for entropy input, personalization and additional
# input. The module enforces smaller limits (permitted: an implementation may be stricter): 1 MiB
# of entropy input (room for very low claimed min-entropy per sample) and 64 KiB for the others.
MAX_ENTROPY_INPUT_BYTES = 2**20
MAX_INPUT_BYTES = 2**16
# SP 800-90A Table 2: max_number_of_bits_per_request = 2^19 bits.
MAX_REQUEST_BYTES = 2**19 // 8
# SP 800-90A Table 2: reseed_interval at most 2^48 requests.
MAX_RESEED_INTERVAL = 2**48


class DrbgError(Exception):
    """Base class for DRBG conditions the caller must handle."""


class DrbgReseedRequired(DrbgError):
    """The reseed interval is used up: the caller must reseed from the entropy source first."""


class DrbgHealthTestError(DrbgError):
    """The DRBG health test failed: the DRBG must not be used (the module enters an error state)."""


class HmacDrbg:
    """HMAC_DRBG (SHA-256) per SP 800-90A Rev.1 section 10.1.2."""

    def __init__(self, reseed_interval: int = 2**20) -> None:
        if not 1 <= reseed_interval <= MAX_RESEED_INTERVAL:
            raise ValueError(f"reseed_interval must be in [1, 2^48], got {reseed_interval}")
        self._reseed_interval = reseed_interval
        self._k = bytearray(OUTLEN)
        self._v = bytearray(OUTLEN)
        self._reseed_counter = 0
        self._instantiated = False

    # ------------------------------------------------------------ properties
    @property
    def reseed_counter(self) -> int:
        """Number of generate requests since the last (re)seed, plus one (SP 800-90A's counter)."""
        return self._reseed_counter

    @property
    def reseed_interval(self) -> int:
        return self._reseed_interval

    @property
    def instantiated(self) -> bool:
        return self._instantiated

    # ------------------------------------------------------------- functions
    def instantiate(self, entropy_input: bytes, nonce: bytes, personalization: bytes = b"") -> None:
        """SP 800-90A 10.1.2.3: K = 0x00.., V = 0x01.., then update with the seed material."""
        _check_length("entropy_input", entropy_input, MIN_ENTROPY_INPUT_BYTES, MAX_ENTROPY_INPUT_BYTES)
        _check_length("nonce", nonce, MIN_NONCE_BYTES, MAX_INPUT_BYTES)
        _check_length("personalization", personalization, 0, MAX_INPUT_BYTES)
        self._k[:] = b"\x00" * OUTLEN
        self._v[:] = b"\x01" * OUTLEN
        self._update(bytes(entropy_input) + bytes(nonce) + bytes(personalization))
        self._reseed_counter = 1
        self._instantiated = True

    def reseed(self, entropy_input: bytes, additional_input: bytes = b"") -> None:
        """SP 800-90A 10.1.2.4: fold fresh entropy into the state and restart the counter."""
        self._require_instantiated()
        _check_length("entropy_input", entropy_input, MIN_ENTROPY_INPUT_BYTES, MAX_ENTROPY_INPUT_BYTES)
        _check_length("additional_input", additional_input, 0, MAX_INPUT_BYTES)
        self._update(bytes(entropy_input) + bytes(additional_input))
        self._reseed_counter = 1

    def generate(self, n_bytes: int, additional_input: bytes = b"") -> bytes:
        """SP 800-90A 10.1.2.5: n_bytes of output; raises DrbgReseedRequired when the interval is spent."""
        self._require_instantiated()
        if not 0 < n_bytes <= MAX_REQUEST_BYTES:
            raise ValueError(f"n_bytes must be in [1, {MAX_REQUEST_BYTES}] (2^19 bits), got {n_bytes}")
        _check_length("additional_input", additional_input, 0, MAX_INPUT_BYTES)
        if self._reseed_counter > self._reseed_interval:
            raise DrbgReseedRequired(
                f"reseed required: {self._reseed_counter - 1} requests since the last seed "
                f"(interval {self._reseed_interval})"
            )
        additional = bytes(additional_input)
        if additional:
            self._update(additional)
        out = bytearray()
        while len(out) < n_bytes:
            self._v[:] = _hmac(self._k, self._v)
            out += self._v
        self._update(additional)
        self._reseed_counter += 1
        return bytes(out[:n_bytes])

    def uninstantiate(self) -> None:
        """SP 800-90A 9.4: overwrite K and V in place so no copy of the state survives in our buffers."""
        for buf in (self._k, self._v):
            for i in range(len(buf)):
                buf[i] = 0
        self._reseed_counter = 0
        self._instantiated = False

    def is_zeroised(self) -> bool:
        """True when the DRBG is uninstantiated and every byte of K and V is zero."""
        return not self._instantiated and not any(self._k) and not any(self._v)

    # --------------------------------------------------------------- helpers
    def _update(self, provided_data: bytes) -> None:
        """HMAC_DRBG_Update (SP 800-90A 10.1.2.2); writes K and V in place to keep the same buffers."""
        self._k[:] = _hmac(self._k, bytes(self._v) + b"\x00" + provided_data)
        self._v[:] = _hmac(self._k, self._v)
        if not provided_data:
            return
        self._k[:] = _hmac(self._k, bytes(self._v) + b"\x01" + provided_data)
        self._v[:] = _hmac(self._k, self._v)

    def _require_instantiated(self) -> None:
        if not self._instantiated:
            raise ValueError("the DRBG is not instantiated")


def _hmac(key: bytearray | bytes, data: bytearray | bytes) -> bytes:
    return primitives.hmac_sha256(bytes(key), bytes(data))


def _check_length(name: str, value: bytes, minimum: int, maximum: int) -> None:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{name} must be bytes, got {type(value).__name__}")
    if not minimum <= len(value) <= maximum:
        raise ValueError(f"{name} must be {minimum}..{maximum} bytes, got {len(value)}")


# ------------------------------------------------------------------ health test
@dataclass(frozen=True)
class DrbgKat:
    """One known-answer case: instantiate, reseed, generate (discarded), generate -> returned_bits."""

    source: str
    entropy_input: bytes
    nonce: bytes
    personalization: bytes
    entropy_input_reseed: bytes
    additional_input_reseed: bytes
    additional_input_1: bytes
    additional_input_2: bytes
    returned_bits: bytes

    def corrupted(self) -> DrbgKat:
        """The same case with one bit of the expected answer flipped: the health test must fail on it."""
        flipped = bytes([self.returned_bits[0] ^ 0x01]) + self.returned_bits[1:]
        return replace(self, returned_bits=flipped)


def load_drbg_kat() -> DrbgKat:
    """The health-test KAT the module holds (module/data/drbg_kat.py), as bytes.

    A missing or malformed entry is a health-test failure, not a crash: it raises DrbgHealthTestError.
    """
    raw = DRBG_KAT
    try:
        return DrbgKat(
            source=str(raw["source"]),
            entropy_input=bytes.fromhex(raw["entropyInput"]),
            nonce=bytes.fromhex(raw["nonce"]),
            personalization=bytes.fromhex(raw.get("personalizationString", "")),
            entropy_input_reseed=bytes.fromhex(raw["entropyInputReseed"]),
            additional_input_reseed=bytes.fromhex(raw.get("additionalInputReseed", "")),
            additional_input_1=bytes.fromhex(raw.get("additionalInput1", "")),
            additional_input_2=bytes.fromhex(raw.get("additionalInput2", "")),
            returned_bits=bytes.fromhex(raw["returnedBits"]),
        )
    except (KeyError, TypeError, ValueError) as exc:  # ValueError: not hex
        raise DrbgHealthTestError(f"DRBG known answer unavailable: {exc!r}") from exc


def health_test(kat: DrbgKat) -> None:
    """SP 800-90A 11.3 / FIPS 140-3 IG 10.3.A health test on a fresh DRBG instance.

    Follows the CAVP procedure the known answer was made with: instantiate, reseed, generate
    (discarded), generate, compare; then uninstantiate and check K and V were wiped, and check the
    error paths (a request on the wiped instance and an oversized request are refused).
    Raises DrbgHealthTestError on any mismatch.
    """
    drbg = HmacDrbg()
    n = len(kat.returned_bits)
    try:
        drbg.instantiate(kat.entropy_input, kat.nonce, kat.personalization)
        drbg.reseed(kat.entropy_input_reseed, kat.additional_input_reseed)
        drbg.generate(n, kat.additional_input_1)
        got = drbg.generate(n, kat.additional_input_2)
    except (DrbgError, ValueError, TypeError) as exc:
        drbg.uninstantiate()
        raise DrbgHealthTestError(f"DRBG health test could not run: {exc}") from exc
    if not compare_digest(got, kat.returned_bits):
        drbg.uninstantiate()
        raise DrbgHealthTestError("DRBG output does not match the known answer")
    try:
        drbg.generate(MAX_REQUEST_BYTES + 1)
    except ValueError:
        pass
    else:
        drbg.uninstantiate()
        raise DrbgHealthTestError("DRBG accepted a request above the 2^19-bit limit")
    drbg.uninstantiate()
    if not drbg.is_zeroised():
        raise DrbgHealthTestError("DRBG uninstantiate left K or V non-zero")
    try:
        drbg.generate(1)
    except ValueError:
        return
    raise DrbgHealthTestError("an uninstantiated DRBG still produced output")
