"""Conditional algorithm self-tests (CASTs): one known-answer test per approved algorithm and direction.

FIPS 140-3 (ISO/IEC 19790 7.10.3.2) wants every approved algorithm tested before first use, in
each direction it is used (encrypt and decrypt, sign and verify, encapsulate and decapsulate).
The module reads no files, so it holds its own small known-answer data as code
(``module/data/cast_vectors.py``, sealed with the rest), copied from published vectors; every
entry names its source and the test suite checks the copy against the ``cryptography_vectors`` files.

SHA-256 and HMAC-SHA-256 have a second implementation in the module (CPython's ``hashlib`` on the
interpreter's OpenSSL, :mod:`module.algorithms.primitives`: the integrity test, the DRBG, the
audit chain, the login); the ``(hashlib)`` CASTs test that one, as IG 10.3.A asks of the
implementation actually used.

Two CASTs cannot compare against a fixed output because the library (cryptography 50) takes no
caller-supplied randomness: ``MLDSA65PrivateKey.sign(data, context)`` and ``sign_mu(mu)`` are
hedged only, drawing ``rnd`` inside OpenSSL, with no deterministic variant, so ML-DSA-65 signing
checks key generation from the KAT seed against the KAT public key and then that the fresh
signature verifies; ``MLKEM768PublicKey.encapsulate()`` takes no ``m``, so ML-KEM-768
encapsulation checks key generation likewise and then that decapsulation recovers the
encapsulated secret. Decapsulation has fixed-answer CASTs of its own, a valid ciphertext and an
invalid one that must take the implicit-rejection path (FIPS 203 7.3). tests/test_pq_casts.py
fails when the library gains the missing parameter.

The ECDSA CASTs also cover pre-hashed signing (SIGN/VERIFY with ``prehashed``): cryptography's
``ECDSA(Prehashed(h))`` only skips hashing the input (after checking its length) and hands the
digest to the same OpenSSL signing and verification as ``ECDSA(h)``, and the hash has its own CAST.

``corrupt=True`` flips one bit of the expected answer (or, where the check is "must verify" or
"must decapsulate", of the signature or ciphertext) so fault injection drives the real comparison
into failure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from hmac import compare_digest
from typing import Any, Final

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash

from module.algorithms import approved as alg
from module.algorithms import primitives as prim
from module.data.cast_vectors import CAST_VECTORS
from module.wire.defs import DigestAlg, KeyType
from module.wire.handshake import derive_auth_key

__all__ = ["Cast", "CASTS", "CAST_NAMES", "CastFailed", "run_cast", "run_all", "cast_source"]

class CastFailed(Exception):
    """A CAST did not reproduce its known answer: the algorithm must not be used."""

    def __init__(self, name: str, reason: str = "known answer mismatch") -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


@dataclass(frozen=True)
class Cast:
    """One CAST as the security policy lists it."""

    name: str
    algorithm: str
    direction: str
    standard: str
    implementation: str = "cryptography"  # the library that computes it (module.algorithms.primitives: hashlib)


CASTS: Final[tuple[Cast, ...]] = (
    Cast("AES-256-GCM encrypt", "AES-256-GCM", "encrypt", "SP 800-38D"),
    Cast("AES-256-GCM decrypt", "AES-256-GCM", "decrypt", "SP 800-38D"),
    Cast("SHA2-256", "SHA2-256", "digest", "FIPS 180-4"),
    Cast("SHA2-256 (hashlib)", "SHA2-256", "digest", "FIPS 180-4", prim.IMPLEMENTATION),
    Cast("SHA2-384", "SHA2-384", "digest", "FIPS 180-4"),
    Cast("SHA2-512", "SHA2-512", "digest", "FIPS 180-4"),
    Cast("SHA-1", "SHA-1", "digest", "FIPS 180-4"),
    Cast("SHA3-256", "SHA3-256", "digest", "FIPS 202"),
    Cast("SHA3-384", "SHA3-384", "digest", "FIPS 202"),
    Cast("SHA3-512", "SHA3-512", "digest", "FIPS 202"),
    Cast("HMAC-SHA-256", "HMAC-SHA2-256", "generate", "FIPS 198-1"),
    Cast("HMAC-SHA-256 (hashlib)", "HMAC-SHA2-256", "generate", "FIPS 198-1", prim.IMPLEMENTATION),
    Cast("HMAC-SHA-384", "HMAC-SHA2-384", "generate", "FIPS 198-1"),
    Cast("HMAC-SHA-512", "HMAC-SHA2-512", "generate", "FIPS 198-1"),
    Cast("HKDF-SHA256", "KDA HKDF-SHA2-256", "derive", "SP 800-56C Rev. 2 (RFC 5869)"),
    Cast("KBKDF counter HMAC-SHA-256", "KDF SP 800-108 counter, HMAC-SHA2-256", "derive", "SP 800-108 Rev. 1"),
    Cast("AES-KW wrap", "AES-256-KW", "wrap", "SP 800-38F"),
    Cast("AES-KW unwrap", "AES-256-KW", "unwrap", "SP 800-38F"),
    Cast("AES-KWP wrap", "AES-256-KWP", "wrap", "SP 800-38F"),
    Cast("AES-KWP unwrap", "AES-256-KWP", "unwrap", "SP 800-38F"),
    Cast("ECDSA P-256 sign", "ECDSA P-256 SHA2-256", "sign", "FIPS 186-5"),
    Cast("ECDSA P-256 verify", "ECDSA P-256 SHA2-256", "verify", "FIPS 186-5"),
    Cast("ECDSA P-384 sign", "ECDSA P-384 SHA2-384", "sign", "FIPS 186-5"),
    Cast("ECDSA P-384 verify", "ECDSA P-384 SHA2-384", "verify", "FIPS 186-5"),
    Cast("Ed25519 sign", "EdDSA Ed25519", "sign", "FIPS 186-5 (RFC 8032)"),
    Cast("Ed25519 verify", "EdDSA Ed25519", "verify", "FIPS 186-5 (RFC 8032)"),
    Cast("ML-DSA-65 sign", "ML-DSA-65", "sign", "FIPS 204"),
    Cast("ML-DSA-65 verify", "ML-DSA-65", "verify", "FIPS 204"),
    Cast("ML-KEM-768 encapsulate", "ML-KEM-768", "encapsulate", "FIPS 203"),
    Cast("ML-KEM-768 decapsulate", "ML-KEM-768", "decapsulate", "FIPS 203"),
    Cast("ML-KEM-768 decapsulate (implicit rejection)", "ML-KEM-768", "decapsulate", "FIPS 203"),
    Cast("ECDH P-256 shared secret", "KAS-ECC-SSC P-256", "shared secret", "SP 800-56A Rev. 3"),
    Cast("PBKDF2-HMAC-SHA-256", "PBKDF2 HMAC-SHA2-256", "derive", "SP 800-132"),
    Cast("KDA one-step SHA-256", "KDA OneStep SHA2-256", "derive", "SP 800-56C Rev. 2"),
)

CAST_NAMES: Final[tuple[str, ...]] = tuple(c.name for c in CASTS)


class _Mismatch(Exception):
    """Internal: a runner's check failed (turned into CastFailed with the CAST's name)."""


class _Kat:
    """Typed access to one CAST's known-answer entry; a missing or malformed field is a failure."""

    def __init__(self, entry: Mapping[str, Any]) -> None:
        self._entry = entry

    def raw(self, field: str) -> bytes:
        value = self._entry.get(field)
        if not isinstance(value, str):
            raise _Mismatch(f"known-answer field {field!r} missing")
        try:
            return bytes.fromhex(value)
        except ValueError:
            raise _Mismatch(f"known-answer field {field!r} is not hex") from None

    def number(self, field: str) -> int:
        value = self._entry.get(field)
        if not isinstance(value, int) or isinstance(value, bool):
            raise _Mismatch(f"known-answer field {field!r} missing")
        return value


def _flip(data: bytes) -> bytes:
    """One bit changed: the smallest corruption a CAST must still catch."""
    if not data:
        return b"\x01"
    return bytes([data[0] ^ 0x01]) + data[1:]


def _expect(actual: bytes, expected: bytes, what: str) -> None:
    if not compare_digest(actual, expected):
        raise _Mismatch(f"{what} differs from the known answer")


def _expected(kat: _Kat, field: str, corrupt: bool) -> bytes:
    value = kat.raw(field)
    return _flip(value) if corrupt else value


# ------------------------------------------------------------------ runners
def _aes_gcm_encrypt(kat: _Kat, corrupt: bool) -> None:
    out = alg.aes_gcm_encrypt(kat.raw("key"), kat.raw("iv"), kat.raw("plaintext"), kat.raw("aad"))
    expected = kat.raw("ciphertext") + kat.raw("tag")
    _expect(out, _flip(expected) if corrupt else expected, "ciphertext || tag")


def _aes_gcm_decrypt(kat: _Kat, corrupt: bool) -> None:
    ct = kat.raw("ciphertext") + kat.raw("tag")
    try:
        out = alg.aes_gcm_decrypt(kat.raw("key"), kat.raw("iv"), ct, kat.raw("aad"))
    except alg.IntegrityCheckFailed:
        raise _Mismatch("authentic ciphertext rejected") from None
    _expect(out, _expected(kat, "plaintext", corrupt), "plaintext")


def _digest(alg_id: DigestAlg) -> Callable[[_Kat, bool], None]:
    def run(kat: _Kat, corrupt: bool) -> None:
        _expect(alg.digest(alg_id, kat.raw("message")), _expected(kat, "digest", corrupt), "digest")

    return run


def _hmac(key_type: KeyType) -> Callable[[_Kat, bool], None]:
    def run(kat: _Kat, corrupt: bool) -> None:
        _expect(alg.hmac_sign(key_type, kat.raw("key"), kat.raw("message")), _expected(kat, "mac", corrupt), "MAC")

    return run


def _sha1(kat: _Kat, corrupt: bool) -> None:
    _expect(alg.sha1_digest(kat.raw("message")), _expected(kat, "digest", corrupt), "digest")


def _hashlib_sha256(kat: _Kat, corrupt: bool) -> None:
    _expect(prim.sha256(kat.raw("message")), _expected(kat, "digest", corrupt), "digest")


def _hashlib_hmac_sha256(kat: _Kat, corrupt: bool) -> None:
    """Both forms the module uses: the one-shot call (DRBG) and the running MAC (integrity test)."""
    key, message, expected = kat.raw("key"), kat.raw("message"), _expected(kat, "mac", corrupt)
    _expect(prim.hmac_sha256(key, message), expected, "MAC")
    running = prim.HmacSha256(key)
    running.update(message[:7])
    running.update(message[7:])
    _expect(running.digest(), expected, "MAC")


def _hkdf(kat: _Kat, corrupt: bool) -> None:
    out = alg.hkdf_sha256(kat.raw("ikm"), kat.raw("salt"), kat.raw("info"), kat.number("length"))
    _expect(out, _expected(kat, "okm", corrupt), "output keying material")


def _pbkdf2(kat: _Kat, corrupt: bool) -> None:
    """The login's own derivation (the auth key the host sends inside the channel)."""
    out = derive_auth_key(kat.raw("password").decode("utf-8"), kat.raw("salt"), kat.number("iterations"))
    _expect(out, _expected(kat, "derived", corrupt), "derived key")


def _kbkdf(kat: _Kat, corrupt: bool) -> None:
    out = alg.kbkdf_ctr_hmac_sha256_fixed(
        kat.raw("key"), kat.raw("fixed_input"), kat.number("length"), counter_bytes=kat.number("counter_bytes")
    )
    _expect(out, _expected(kat, "derived", corrupt), "derived key")


def _wrap(fn: Callable[[bytes, bytes], bytes]) -> Callable[[_Kat, bool], None]:
    def run(kat: _Kat, corrupt: bool) -> None:
        _expect(fn(kat.raw("kek"), kat.raw("plaintext")), _expected(kat, "wrapped", corrupt), "wrapped key")

    return run


def _unwrap(fn: Callable[[bytes, bytes], bytes]) -> Callable[[_Kat, bool], None]:
    def run(kat: _Kat, corrupt: bool) -> None:
        try:
            out = fn(kat.raw("kek"), kat.raw("wrapped"))
        except alg.IntegrityCheckFailed:
            raise _Mismatch("authentic wrapped key rejected") from None
        _expect(out, _expected(kat, "plaintext", corrupt), "unwrapped key")

    return run


def _sign_kat(key_type: KeyType) -> Callable[[_Kat, bool], None]:
    """Deterministic signatures (RFC 6979 ECDSA, Ed25519) compare against the published signature."""

    def run(kat: _Kat, corrupt: bool) -> None:
        signature = alg.sign(key_type, kat.raw("private"), kat.raw("message"))
        _expect(signature, _expected(kat, "signature", corrupt), "signature")

    return run


def _verify_kat(key_type: KeyType) -> Callable[[_Kat, bool], None]:
    def run(kat: _Kat, corrupt: bool) -> None:
        signature = _expected(kat, "signature", corrupt)
        if not alg.verify(key_type, kat.raw("public"), kat.raw("message"), signature):
            raise _Mismatch("valid signature rejected")

    return run


def _mldsa_sign(kat: _Kat, corrupt: bool) -> None:
    seed, message, context = kat.raw("seed"), kat.raw("message"), kat.raw("context")
    public = alg.public_key(KeyType.ML_DSA_65, seed)
    _expect(alg.digest(DigestAlg.SHA2_256, public), kat.raw("public_sha256"), "public key from seed")
    signature = alg.mldsa65_sign(seed, message, context)
    if not alg.mldsa65_verify(public, message, _flip(signature) if corrupt else signature, context):
        raise _Mismatch("fresh signature does not verify")


def _mldsa_verify(kat: _Kat, corrupt: bool) -> None:
    signature = _expected(kat, "signature", corrupt)
    if not alg.mldsa65_verify(kat.raw("public"), kat.raw("message"), signature, kat.raw("context")):
        raise _Mismatch("valid signature rejected")


def _mlkem_encapsulate(kat: _Kat, corrupt: bool) -> None:
    seed = kat.raw("seed")
    public = alg.public_key(KeyType.ML_KEM_768, seed)
    _expect(alg.digest(DigestAlg.SHA2_256, public), kat.raw("public_sha256"), "encapsulation key from seed")
    shared, ciphertext = alg.mlkem768_encapsulate(public)
    recovered = alg.mlkem768_decapsulate(seed, _flip(ciphertext) if corrupt else ciphertext)
    _expect(recovered, shared, "decapsulated secret")


def _mlkem_decapsulate(kat: _Kat, corrupt: bool) -> None:
    out = alg.mlkem768_decapsulate(kat.raw("seed"), kat.raw("ciphertext"))
    _expect(out, _expected(kat, "shared_secret", corrupt), "shared secret")


def _mlkem_implicit_rejection(kat: _Kat, corrupt: bool) -> None:
    """An invalid ciphertext must give the rejection secret J(z || c) (FIPS 203 7.3), not an error."""
    try:
        out = alg.mlkem768_decapsulate(kat.raw("seed"), kat.raw("ciphertext"))
    except alg.InvalidKeyData:
        raise _Mismatch("invalid ciphertext rejected with an error, not implicitly") from None
    _expect(out, _expected(kat, "shared_secret", corrupt), "implicit rejection secret")


def _ecdh(kat: _Kat, corrupt: bool) -> None:
    out = alg.ecdh_p256(kat.raw("private"), kat.raw("peer_public"))
    _expect(out, _expected(kat, "shared_secret", corrupt), "shared secret Z")


def _one_step_kdf(kat: _Kat, corrupt: bool) -> None:
    """The login's session-key derivation (module.wire.handshake uses the same ConcatKDFHash)."""
    derived = kat.raw("derived")
    out = ConcatKDFHash(algorithm=hashes.SHA256(), length=len(derived), otherinfo=kat.raw("fixed_info")).derive(
        kat.raw("z"))
    _expect(out, _flip(derived) if corrupt else derived, "derived keying material")


_RUNNERS: Final[dict[str, Callable[[_Kat, bool], None]]] = {
    "AES-256-GCM encrypt": _aes_gcm_encrypt,
    "AES-256-GCM decrypt": _aes_gcm_decrypt,
    "SHA2-256": _digest(DigestAlg.SHA2_256),
    "SHA2-256 (hashlib)": _hashlib_sha256,
    "SHA2-384": _digest(DigestAlg.SHA2_384),
    "SHA2-512": _digest(DigestAlg.SHA2_512),
    "SHA-1": _sha1,
    "SHA3-256": _digest(DigestAlg.SHA3_256),
    "SHA3-384": _digest(DigestAlg.SHA3_384),
    "SHA3-512": _digest(DigestAlg.SHA3_512),
    "HMAC-SHA-256": _hmac(KeyType.HMAC_SHA256),
    "HMAC-SHA-256 (hashlib)": _hashlib_hmac_sha256,
    "HMAC-SHA-384": _hmac(KeyType.HMAC_SHA384),
    "HMAC-SHA-512": _hmac(KeyType.HMAC_SHA512),
    "HKDF-SHA256": _hkdf,
    "KBKDF counter HMAC-SHA-256": _kbkdf,
    "AES-KW wrap": _wrap(alg.aes_kw_wrap),
    "AES-KW unwrap": _unwrap(alg.aes_kw_unwrap),
    "AES-KWP wrap": _wrap(alg.aes_kwp_wrap),
    "AES-KWP unwrap": _unwrap(alg.aes_kwp_unwrap),
    "ECDSA P-256 sign": _sign_kat(KeyType.EC_P256),
    "ECDSA P-256 verify": _verify_kat(KeyType.EC_P256),
    "ECDSA P-384 sign": _sign_kat(KeyType.EC_P384),
    "ECDSA P-384 verify": _verify_kat(KeyType.EC_P384),
    "Ed25519 sign": _sign_kat(KeyType.ED25519),
    "Ed25519 verify": _verify_kat(KeyType.ED25519),
    "ML-DSA-65 sign": _mldsa_sign,
    "ML-DSA-65 verify": _mldsa_verify,
    "ML-KEM-768 encapsulate": _mlkem_encapsulate,
    "ML-KEM-768 decapsulate": _mlkem_decapsulate,
    "ML-KEM-768 decapsulate (implicit rejection)": _mlkem_implicit_rejection,
    "ECDH P-256 shared secret": _ecdh,
    "PBKDF2-HMAC-SHA-256": _pbkdf2,
    "KDA one-step SHA-256": _one_step_kdf,
}


class _DataUnavailable(Exception):
    """The module holds no known answer for a CAST (it then fails)."""


def _entry(name: str) -> Mapping[str, Any]:
    entry = CAST_VECTORS.get(name)
    if not isinstance(entry, dict):
        raise _DataUnavailable(f"no known answer for {name!r}")
    return entry


def cast_source(name: str) -> str:
    """Where a CAST's known answer comes from (for the security policy's self-test table)."""
    if name not in _RUNNERS:
        raise KeyError(name)
    return str(_entry(name).get("source", ""))


def run_cast(name: str, corrupt: bool = False) -> None:
    """Run one CAST; raise :class:`CastFailed` unless the algorithm reproduces its known answer."""
    runner = _RUNNERS.get(name)
    if runner is None:
        raise KeyError(f"unknown CAST {name!r}")
    try:
        runner(_Kat(_entry(name)), corrupt)
    except _Mismatch as exc:
        raise CastFailed(name, str(exc)) from None
    except _DataUnavailable as exc:
        raise CastFailed(name, f"known-answer data unavailable ({exc})") from None
    except alg.AlgorithmError as exc:
        raise CastFailed(name, f"{type(exc).__name__}: {exc}") from None
    except UnsupportedAlgorithm as exc:
        raise CastFailed(name, f"algorithm not available in this build ({exc})") from None


def run_all(corrupt: frozenset[str] = frozenset()) -> None:
    """Every CAST in table order; stops at the first failure (the module then enters an error state)."""
    for name in CAST_NAMES:
        run_cast(name, corrupt=name in corrupt)
