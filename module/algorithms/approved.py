"""The module's approved algorithms: thin typed wrappers over pyca/cryptography.

Nothing here reimplements a primitive. The wrappers fix the module's parameter choices (AES-256,
96-bit GCM IVs, 128-bit tags, SHA-256 with P-256 and SHA-384 with P-384, pure ML-DSA with an
empty context), keep every key as plain bytes so the key store can wipe it, and turn library
exceptions into the few errors the services map to status codes.

Randomness: key generation draws every random byte from the function it is given (the module's
HMAC_DRBG). ECDSA signs deterministically (RFC 6979, approved by FIPS 186-5) and Ed25519 is
deterministic. ML-DSA signing (hedged) and ML-KEM encapsulation take their randomness from
OpenSSL's RNG, because the library accepts no caller-supplied randomness for them; the services
that use them therefore answer "not approved" (LIBRARY_RANDOMNESS_SIGNATURES, the catalogue).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Union

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, hmac, keywrap
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, mlkem
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.kbkdf import KBKDFHMAC, CounterLocation, Mode
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from module.wire.defs import DigestAlg, KeyType

__all__ = [
    "AlgorithmError",
    "IntegrityCheckFailed",
    "InvalidKeyData",
    "InvalidParameter",
    "WrongKeyType",
    "ShortRandomOutput",
    "PairwiseConsistencyFailed",
    "AES_256_KEY_SIZE",
    "GCM_IV_SIZE",
    "GCM_TAG_SIZE",
    "KBKDF_COUNTER_BYTES",
    "KBKDF_LENGTH_BYTES",
    "PRIVATE_KEY_SIZES",
    "PUBLIC_KEY_SIZES",
    "SIGNATURE_KEY_TYPES",
    "ECDSA_DIGEST_SIZES",
    "LIBRARY_RANDOMNESS_SIGNATURES",
    "MLKEM768_CIPHERTEXT_SIZE",
    "aes_gcm_encrypt",
    "aes_gcm_decrypt",
    "digest",
    "sha1_digest",
    "hmac_sign",
    "hmac_verify",
    "hkdf_sha256",
    "kbkdf_ctr_hmac_sha256",
    "kbkdf_ctr_hmac_sha256_fixed",
    "aes_kw_wrap",
    "aes_kw_unwrap",
    "aes_kwp_wrap",
    "aes_kwp_unwrap",
    "generate_private",
    "public_key",
    "sign",
    "verify",
    "mldsa65_sign",
    "mldsa65_verify",
    "ecdh_p256",
    "mlkem768_encapsulate",
    "mlkem768_decapsulate",
    "pairwise_consistency_test",
    "load_ec_private_key",
]


class AlgorithmError(Exception):
    """Base of every error raised by the algorithm layer."""


class IntegrityCheckFailed(AlgorithmError):
    """An authentication tag or a key-wrap integrity check did not verify: release nothing."""


class InvalidKeyData(AlgorithmError):
    """Key bytes, a public point or an encapsulated key are malformed for their type."""


class InvalidParameter(AlgorithmError, ValueError):
    """A non-key parameter (IV size, output length, plaintext size) is outside what the module allows."""


class WrongKeyType(AlgorithmError, ValueError):
    """The key type does not belong to the requested algorithm (a caller defect, not bad input)."""


class ShortRandomOutput(AlgorithmError):
    """The random source returned fewer bytes than asked; the key would not be full strength."""


class PairwiseConsistencyFailed(AlgorithmError):
    """A freshly generated or imported key pair does not work as a pair (FIPS 140-3 PCT)."""


AES_256_KEY_SIZE: Final = 32
GCM_IV_SIZE: Final = 12
GCM_TAG_SIZE: Final = 16
KBKDF_COUNTER_BYTES: Final = 4  # [i]_32, before the fixed input data
KBKDF_LENGTH_BYTES: Final = 4  # [L]_32 at the end of the fixed input data
MLKEM768_CIPHERTEXT_SIZE: Final = 1088
_HKDF_SHA256_MAX: Final = 255 * 32

_DIGESTS: Final[dict[DigestAlg, Callable[[], hashes.HashAlgorithm]]] = {
    DigestAlg.SHA2_256: hashes.SHA256,
    DigestAlg.SHA2_384: hashes.SHA384,
    DigestAlg.SHA2_512: hashes.SHA512,
    DigestAlg.SHA3_256: hashes.SHA3_256,
    DigestAlg.SHA3_384: hashes.SHA3_384,
    DigestAlg.SHA3_512: hashes.SHA3_512,
}

_HMAC_HASHES: Final[dict[KeyType, Callable[[], hashes.HashAlgorithm]]] = {
    KeyType.HMAC_SHA256: hashes.SHA256,
    KeyType.HMAC_SHA384: hashes.SHA384,
    KeyType.HMAC_SHA512: hashes.SHA512,
}

# EC key type -> (curve, hash used with it, scalar/coordinate size in bytes)
_EC_PARAMS: Final[dict[KeyType, tuple[ec.EllipticCurve, Callable[[], hashes.HashAlgorithm], int]]] = {
    KeyType.EC_P256: (ec.SECP256R1(), hashes.SHA256, 32),
    KeyType.EC_P384: (ec.SECP384R1(), hashes.SHA384, 48),
}

PRIVATE_KEY_SIZES: Final[dict[KeyType, int]] = {
    KeyType.EC_P256: 32,  # big-endian private scalar d
    KeyType.EC_P384: 48,
    KeyType.ED25519: 32,  # RFC 8032 seed
    KeyType.ML_DSA_65: 32,  # FIPS 204 seed xi
    KeyType.ML_KEM_768: 64,  # FIPS 203 seed d || z
}

PUBLIC_KEY_SIZES: Final[dict[KeyType, int]] = {
    KeyType.EC_P256: 65,  # uncompressed X9.62 point 04 || X || Y
    KeyType.EC_P384: 97,
    KeyType.ED25519: 32,
    KeyType.ML_DSA_65: 1952,
    KeyType.ML_KEM_768: 1184,
}

SIGNATURE_KEY_TYPES: Final = frozenset({KeyType.EC_P256, KeyType.EC_P384, KeyType.ED25519, KeyType.ML_DSA_65})
# ECDSA key type -> the length of a caller's digest for pre-hashed signing (its curve's hash)
ECDSA_DIGEST_SIZES: Final[dict[KeyType, int]] = {t: h().digest_size for t, (_, h, _) in _EC_PARAMS.items()}
# Signatures whose randomness the library draws from its own RNG, not from the module's DRBG
# (hedged ML-DSA: no deterministic variant, no caller rnd in cryptography): not approved calls.
LIBRARY_RANDOMNESS_SIGNATURES: Final = frozenset({KeyType.ML_DSA_65})

_PCT_MESSAGE: Final = b"cmsim pairwise consistency test"

_PrivateKey = Union[ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, mldsa.MLDSA65PrivateKey]


def _as_key_type(key_type: KeyType | int) -> KeyType:
    """Accept a plain int from a decoder as well as the enum member (identity checks below need the member)."""
    try:
        return KeyType(key_type)
    except ValueError:
        raise WrongKeyType(f"unknown key type {key_type!r}") from None


# ---------------------------------------------------------------- symmetric
def _check_aes256_key(key: bytes) -> None:
    if len(key) != AES_256_KEY_SIZE:
        raise InvalidKeyData(f"AES-256 key must be {AES_256_KEY_SIZE} bytes, got {len(key)}")


def aes_gcm_encrypt(key: bytes, iv: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """AES-256-GCM; returns ciphertext || 16-byte tag. The IV must be fresh (the caller's duty)."""
    _check_aes256_key(key)
    if len(iv) != GCM_IV_SIZE:
        raise InvalidParameter(f"GCM IV must be {GCM_IV_SIZE} bytes, got {len(iv)}")
    return AESGCM(key).encrypt(iv, plaintext, aad)


def aes_gcm_decrypt(key: bytes, iv: bytes, ct_and_tag: bytes, aad: bytes) -> bytes:
    """AES-256-GCM authenticated decryption; nothing is released unless the tag verifies."""
    _check_aes256_key(key)
    if len(iv) != GCM_IV_SIZE:
        raise InvalidParameter(f"GCM IV must be {GCM_IV_SIZE} bytes, got {len(iv)}")
    if len(ct_and_tag) < GCM_TAG_SIZE:
        raise IntegrityCheckFailed("ciphertext shorter than the GCM tag")
    try:
        return AESGCM(key).decrypt(iv, ct_and_tag, aad)
    except InvalidTag:
        raise IntegrityCheckFailed("GCM authentication tag mismatch") from None


def digest(alg: DigestAlg, data: bytes) -> bytes:
    """SHA-2 / SHA-3 message digest."""
    try:
        factory = _DIGESTS[DigestAlg(alg)]
    except (KeyError, ValueError):
        raise InvalidParameter(f"unsupported digest algorithm {alg!r}") from None
    h = hashes.Hash(factory())
    h.update(data)
    return h.finalize()


def sha1_digest(data: bytes) -> bytes:
    """SHA-1 (FIPS 180-4) as a plain digest: acceptable for non-signature uses (SP 800-131A Rev. 2)."""
    h = hashes.Hash(hashes.SHA1())
    h.update(data)
    return h.finalize()


def _hmac_hash(key_type: KeyType) -> hashes.HashAlgorithm:
    try:
        return _HMAC_HASHES[_as_key_type(key_type)]()
    except KeyError:
        raise WrongKeyType(f"{key_type!r} is not an HMAC key type") from None


def hmac_sign(key_type: KeyType, key: bytes, data: bytes) -> bytes:
    """HMAC with the hash bound to the key's type (FIPS 198-1); full-length tag."""
    h = hmac.HMAC(key, _hmac_hash(key_type))
    h.update(data)
    return h.finalize()


def hmac_verify(key_type: KeyType, key: bytes, data: bytes, tag: bytes) -> bool:
    """Constant-time comparison of a full-length tag (truncated tags are not accepted)."""
    h = hmac.HMAC(key, _hmac_hash(key_type))
    h.update(data)
    try:
        h.verify(tag)
    except InvalidSignature:
        return False
    return True


def hkdf_sha256(key: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 HKDF (SP 800-56C two-step KDF); an empty salt means HashLen zero bytes."""
    if not 1 <= length <= _HKDF_SHA256_MAX:
        raise InvalidParameter(f"HKDF-SHA256 output length must be 1..{_HKDF_SHA256_MAX}")
    return HKDF(hashes.SHA256(), length, salt or None, info).derive(key)


def kbkdf_ctr_hmac_sha256(key: bytes, label: bytes, context: bytes, length: int) -> bytes:
    """SP 800-108 counter mode, the module's one configuration.

    PRF HMAC-SHA-256; K(i) = PRF(key, [i]_32 || label || 0x00 || context || [L]_32), counter
    before the fixed input data. That is :func:`kbkdf_ctr_hmac_sha256_fixed` with this fixed input.
    """
    _check_kbkdf_length(length)
    return KBKDFHMAC(
        hashes.SHA256(),
        Mode.CounterMode,
        length,
        KBKDF_COUNTER_BYTES,
        KBKDF_LENGTH_BYTES,
        CounterLocation.BeforeFixed,
        label,
        context,
        None,
    ).derive(key)


def kbkdf_ctr_hmac_sha256_fixed(
    key: bytes, fixed_input: bytes, length: int, *, counter_bytes: int = KBKDF_COUNTER_BYTES
) -> bytes:
    """SP 800-108 counter mode (HMAC-SHA-256, counter before fixed data) over opaque fixed input.

    The CAVP files give the fixed input data whole and vary the counter width, so the
    vector tests and the CAST drive this form; the module's services use the one above.
    """
    _check_kbkdf_length(length)
    if counter_bytes not in (1, 2, 3, 4):
        raise InvalidParameter("KBKDF counter width must be 1..4 bytes")
    return KBKDFHMAC(
        hashes.SHA256(),
        Mode.CounterMode,
        length,
        counter_bytes,
        None,
        CounterLocation.BeforeFixed,
        None,
        None,
        fixed_input,
    ).derive(key)


def _check_kbkdf_length(length: int) -> None:
    if not 1 <= length <= 255 * 32:
        raise InvalidParameter("KBKDF output length must be 1..8160 bytes")


def aes_kw_wrap(kek: bytes, plaintext: bytes) -> bytes:
    """SP 800-38F / RFC 3394 AES-KW with an AES-256 KEK; plaintext a multiple of 8, at least 16 bytes."""
    _check_aes256_key(kek)
    if len(plaintext) < 16 or len(plaintext) % 8:
        raise InvalidParameter("AES-KW plaintext must be a multiple of 8 bytes, at least 16")
    return keywrap.aes_key_wrap(kek, plaintext)


def aes_kw_unwrap(kek: bytes, wrapped: bytes) -> bytes:
    """AES-KW unwrap; a wrong KEK, a changed byte or a malformed length all fail the integrity check."""
    _check_aes256_key(kek)
    try:
        return keywrap.aes_key_unwrap(kek, wrapped)
    except (keywrap.InvalidUnwrap, ValueError):
        raise IntegrityCheckFailed("AES-KW integrity check failed") from None


def aes_kwp_wrap(kek: bytes, plaintext: bytes) -> bytes:
    """SP 800-38F / RFC 5649 AES-KWP (any plaintext length): the key import/export format."""
    _check_aes256_key(kek)
    if not plaintext:
        raise InvalidParameter("AES-KWP plaintext must not be empty")
    return keywrap.aes_key_wrap_with_padding(kek, plaintext)


def aes_kwp_unwrap(kek: bytes, wrapped: bytes) -> bytes:
    """AES-KWP unwrap; any failure (ICV, padding, length) is an integrity failure."""
    _check_aes256_key(kek)
    try:
        return keywrap.aes_key_unwrap_with_padding(kek, wrapped)
    except (keywrap.InvalidUnwrap, ValueError):
        raise IntegrityCheckFailed("AES-KWP integrity check failed") from None


# --------------------------------------------------------------- key pairs
def _check_size(key_type: KeyType, private: bytes) -> None:
    try:
        size = PRIVATE_KEY_SIZES[key_type]
    except KeyError:
        raise WrongKeyType(f"{key_type!r} is not an asymmetric key type") from None
    if len(private) != size:
        raise InvalidKeyData(f"{key_type.name} private key must be {size} bytes, got {len(private)}")


def _ec_params(key_type: KeyType) -> tuple[ec.EllipticCurve, Callable[[], hashes.HashAlgorithm], int]:
    try:
        return _EC_PARAMS[key_type]
    except KeyError:
        raise WrongKeyType(f"{key_type!r} is not an EC key type") from None


def load_ec_private_key(key_type: KeyType, private: bytes) -> ec.EllipticCurvePrivateKey:
    """A pyca EC key from the module's fixed-width big-endian scalar (1 <= d < n)."""
    curve, _, _ = _ec_params(key_type)
    _check_size(key_type, private)
    d = int.from_bytes(private, "big")
    if not 1 <= d < curve.group_order:
        raise InvalidKeyData(f"{key_type.name} private scalar out of range [1, n-1]")
    return ec.derive_private_key(d, curve)


def _load_ec_public(key_type: KeyType, point: bytes) -> ec.EllipticCurvePublicKey:
    curve, _, size = _ec_params(key_type)
    if len(point) != 1 + 2 * size or point[0] != 0x04:
        raise InvalidKeyData(f"{key_type.name} public key must be an uncompressed point of {1 + 2 * size} bytes")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
    except ValueError:
        raise InvalidKeyData(f"{key_type.name} public point is not on the curve") from None


def _load_private(key_type: KeyType, private: bytes) -> _PrivateKey:
    if key_type in _EC_PARAMS:
        return load_ec_private_key(key_type, private)
    _check_size(key_type, private)
    if key_type is KeyType.ED25519:
        return ed25519.Ed25519PrivateKey.from_private_bytes(private)
    if key_type is KeyType.ML_DSA_65:
        return mldsa.MLDSA65PrivateKey.from_seed_bytes(private)
    raise WrongKeyType(f"{key_type!r} is not a signature key type")


def _load_mlkem_private(private: bytes) -> mlkem.MLKEM768PrivateKey:
    _check_size(KeyType.ML_KEM_768, private)
    return mlkem.MLKEM768PrivateKey.from_seed_bytes(private)


def _load_mlkem_public(public: bytes) -> mlkem.MLKEM768PublicKey:
    if len(public) != PUBLIC_KEY_SIZES[KeyType.ML_KEM_768]:
        raise InvalidKeyData(f"ML-KEM-768 public key must be {PUBLIC_KEY_SIZES[KeyType.ML_KEM_768]} bytes")
    try:
        return mlkem.MLKEM768PublicKey.from_public_bytes(public)
    except ValueError:
        raise InvalidKeyData("ML-KEM-768 public key fails the FIPS 203 encapsulation key check") from None


def generate_private(key_type: KeyType, random_bytes: Callable[[int], bytes]) -> bytes:
    """New private key material; every random bit comes from ``random_bytes`` (the module DRBG).

    EC keys follow FIPS 186-5 A.4.1 (extra random bits): c from len(n) + 8 bytes,
    d = (c mod (n - 1)) + 1: d lies in [1, n-1], the 64 extra bits make the modular bias
    negligible, and no rejection loop is needed.
    """
    key_type = _as_key_type(key_type)
    size = PRIVATE_KEY_SIZES.get(key_type)
    if size is None:
        raise WrongKeyType(f"{key_type!r} is not an asymmetric key type")
    if key_type in _EC_PARAMS:
        curve, _, _ = _EC_PARAMS[key_type]
        raw = _draw(random_bytes, size + 8)
        n = curve.group_order
        d = int.from_bytes(raw, "big") % (n - 1) + 1
        return d.to_bytes(size, "big")
    return _draw(random_bytes, size)


def _draw(random_bytes: Callable[[int], bytes], n: int) -> bytes:
    raw = random_bytes(n)
    if len(raw) != n:
        raise ShortRandomOutput(f"random source returned {len(raw)} of {n} bytes")
    return bytes(raw)


def public_key(key_type: KeyType, private: bytes) -> bytes:
    """The public key for stored private material: EC as an uncompressed point, others raw."""
    key_type = _as_key_type(key_type)
    if key_type is KeyType.ML_KEM_768:
        return _load_mlkem_private(private).public_key().public_bytes_raw()
    key = _load_private(key_type, private)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return key.public_key().public_bytes_raw()


def _ecdsa_hash(key_type: KeyType, message: bytes, prehashed: bool) -> hashes.HashAlgorithm | Prehashed:
    """The curve's hash, or for a caller-hashed ``message`` (FIPS 186-5 6.4.1 from step 2 on) that
    hash as already applied; the digest must be exactly its length."""
    if prehashed and key_type not in ECDSA_DIGEST_SIZES:
        raise InvalidParameter(f"{key_type.name}: pre-hashed signing is ECDSA only")
    if not prehashed:
        return _EC_PARAMS[key_type][1]()
    if len(message) != ECDSA_DIGEST_SIZES[key_type]:
        raise InvalidParameter(f"{key_type.name}: a pre-hashed message is a {ECDSA_DIGEST_SIZES[key_type]}-byte digest")
    return Prehashed(_EC_PARAMS[key_type][1]())


def sign(key_type: KeyType, private: bytes, message: bytes, *, prehashed: bool = False) -> bytes:
    """Sign ``message``: ECDSA (RFC 6979 nonces) as raw r || s, Ed25519, or pure ML-DSA-65 with an empty context.

    ``prehashed``: ECDSA only, ``message`` is the digest of the curve's hash (SHA-256 for P-256,
    SHA-384 for P-384) computed by the caller; the signature is the one over the original message.
    """
    key_type = _as_key_type(key_type)
    if prehashed and key_type not in ECDSA_DIGEST_SIZES:
        raise InvalidParameter(f"{key_type.name}: pre-hashed signing is ECDSA only")
    if key_type is KeyType.ML_DSA_65:
        return mldsa65_sign(private, message)
    key = _load_private(key_type, private)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        algorithm = _ecdsa_hash(key_type, message, prehashed)
        size = _EC_PARAMS[key_type][2]
        der = key.sign(message, ec.ECDSA(algorithm, deterministic_signing=True))
        r, s = decode_dss_signature(der)
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(message)
    raise WrongKeyType(f"{key_type!r} is not a signature key type")


def verify(key_type: KeyType, public: bytes, message: bytes, signature: bytes, *, prehashed: bool = False) -> bool:
    """True only for a valid signature; any malformed key or signature is simply False.

    ``prehashed`` as for :func:`sign` (a digest of the wrong length is an error, not False).
    """
    key_type = _as_key_type(key_type)
    if key_type not in SIGNATURE_KEY_TYPES:
        raise WrongKeyType(f"{key_type!r} is not a signature key type")
    algorithm = _ecdsa_hash(key_type, message, prehashed) if key_type in ECDSA_DIGEST_SIZES or prehashed else None
    try:
        if key_type is KeyType.ML_DSA_65:
            return mldsa65_verify(public, message, signature)
        if key_type is KeyType.ED25519:
            if len(public) != PUBLIC_KEY_SIZES[key_type] or len(signature) != 64:
                return False
            ed25519.Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
            return True
        assert algorithm is not None  # an ECDSA key type from here on
        size = _EC_PARAMS[key_type][2]
        if len(signature) != 2 * size:
            return False
        r = int.from_bytes(signature[:size], "big")
        s = int.from_bytes(signature[size:], "big")
        if r == 0 or s == 0:
            return False
        key = _load_ec_public(key_type, public)
        key.verify(encode_dss_signature(r, s), message, ec.ECDSA(algorithm))
        return True
    except (InvalidSignature, InvalidKeyData, ValueError):
        return False


def mldsa65_sign(private: bytes, message: bytes, context: bytes = b"") -> bytes:
    """ML-DSA-65 pure signing (hedged: the library draws rnd). The module itself always uses an empty context."""
    _check_size(KeyType.ML_DSA_65, private)
    if len(context) > 255:
        raise InvalidParameter("ML-DSA context must be at most 255 bytes")
    return mldsa.MLDSA65PrivateKey.from_seed_bytes(private).sign(message, context)


def mldsa65_verify(public: bytes, message: bytes, signature: bytes, context: bytes = b"") -> bool:
    """ML-DSA-65 pure verification with a context (vectors carry one); False for anything malformed."""
    if len(public) != PUBLIC_KEY_SIZES[KeyType.ML_DSA_65] or len(context) > 255:
        return False
    try:
        mldsa.MLDSA65PublicKey.from_public_bytes(public).verify(signature, message, context)
    except (InvalidSignature, ValueError):
        return False
    return True


def ecdh_p256(private: bytes, peer_public_point: bytes) -> bytes:
    """SP 800-56A ECC CDH primitive on P-256: the 32-byte shared secret Z (x-coordinate).

    The peer point gets full public-key validation (on the curve, not the identity) first.
    """
    key = load_ec_private_key(KeyType.EC_P256, private)
    peer = _load_ec_public(KeyType.EC_P256, peer_public_point)
    return key.exchange(ec.ECDH(), peer)


def mlkem768_encapsulate(public: bytes) -> tuple[bytes, bytes]:
    """ML-KEM-768 encapsulation: (shared secret, ciphertext). Randomness comes from the library."""
    shared, ciphertext = _load_mlkem_public(public).encapsulate()
    return shared, ciphertext


def mlkem768_decapsulate(private_seed: bytes, ciphertext: bytes) -> bytes:
    """ML-KEM-768 decapsulation; a tampered ciphertext yields the implicit-rejection secret, not an error.

    A ciphertext of the wrong length is malformed encapsulated key data (InvalidKeyData).
    """
    if len(ciphertext) != MLKEM768_CIPHERTEXT_SIZE:
        raise InvalidKeyData(f"ML-KEM-768 ciphertext must be {MLKEM768_CIPHERTEXT_SIZE} bytes")
    try:
        return _load_mlkem_private(private_seed).decapsulate(ciphertext)
    except ValueError:
        raise InvalidKeyData("ML-KEM-768 ciphertext rejected") from None


def pairwise_consistency_test(key_type: KeyType, private: bytes, public: bytes, corrupt: bool = False) -> None:
    """FIPS 140-3 PCT (IG 10.3.A) on key-pair generation and import.

    Signature keys sign and verify a fixed message; EC keys also recompute the public point
    from the private scalar (SP 800-56A 5.6.2.1.4, covering P-256 key agreement use); ML-KEM
    keys encapsulate to the public key and decapsulate with the private one. ``corrupt``
    flips one bit of the public key first, as a key-pair mismatch would, so fault injection
    exercises the real check.
    """
    key_type = _as_key_type(key_type)
    if key_type not in PRIVATE_KEY_SIZES:
        raise WrongKeyType(f"{key_type!r} is not an asymmetric key type")
    if corrupt:
        public = _flip_last_bit(public)
    try:
        if key_type is KeyType.ML_KEM_768:
            shared, ciphertext = mlkem768_encapsulate(public)
            if mlkem768_decapsulate(private, ciphertext) != shared:
                raise PairwiseConsistencyFailed("ML-KEM-768 decapsulation does not recover the encapsulated secret")
            return
        if key_type in _EC_PARAMS and public_key(key_type, private) != public:
            raise PairwiseConsistencyFailed(f"{key_type.name} public point does not match the private scalar")
        signature = sign(key_type, private, _PCT_MESSAGE)
        if not verify(key_type, public, _PCT_MESSAGE, signature):
            raise PairwiseConsistencyFailed(f"{key_type.name} signature does not verify with the public key")
    except InvalidKeyData as exc:
        raise PairwiseConsistencyFailed(f"{key_type.name}: {exc}") from None


def _flip_last_bit(data: bytes) -> bytes:
    if not data:
        return b"\x01"
    return data[:-1] + bytes([data[-1] ^ 0x01])
