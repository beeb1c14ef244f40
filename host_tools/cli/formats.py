"""Public keys and signatures in the forms other tools read: the device speaks raw bytes (an X9.62
uncompressed point for ECDSA, the raw key for Ed25519, ML-DSA and ML-KEM; r || s for ECDSA
signatures); PEM and DER are SubjectPublicKeyInfo, and DER signatures are X9.62 ECDSA-Sig-Value,
as `openssl dgst -verify` wants them. Host-side conversion only: nothing here touches the device."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, mlkem
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from module.wire.defs import KeyType

__all__ = ["PUBLIC_FORMATS", "SIGNATURE_FORMATS", "FormatError", "public_key_out", "public_key_in",
           "signature_out", "signature_in"]

PUBLIC_FORMATS = ("pem", "der", "raw")
SIGNATURE_FORMATS = ("raw", "der")

_EC_CURVES: dict[KeyType, ec.EllipticCurve] = {KeyType.EC_P256: ec.SECP256R1(), KeyType.EC_P384: ec.SECP384R1()}
_EC_SIZES = {KeyType.EC_P256: 32, KeyType.EC_P384: 48}


class FormatError(ValueError):
    """Bytes that are not the key or signature the option needs, or a form this key type has not."""


def _load_raw(key_type: KeyType, raw: bytes) -> Any:
    try:
        if key_type in _EC_CURVES:
            return ec.EllipticCurvePublicKey.from_encoded_point(_EC_CURVES[key_type], raw)
        if key_type == KeyType.ED25519:
            return ed25519.Ed25519PublicKey.from_public_bytes(raw)
        if key_type == KeyType.ML_DSA_65:
            return mldsa.MLDSA65PublicKey.from_public_bytes(raw)
        if key_type == KeyType.ML_KEM_768:
            return mlkem.MLKEM768PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise FormatError(f"not a {key_type.name} public key: {exc}") from None
    raise FormatError(f"a {key_type.name} key has no public key")


def _raw_of(key_type: KeyType, key: Any) -> bytes:
    if key_type in _EC_CURVES:
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != _EC_CURVES[key_type].name:
            raise FormatError(f"not a {key_type.name} public key")
        return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    if key_type == KeyType.ED25519 and isinstance(key, ed25519.Ed25519PublicKey):
        return key.public_bytes_raw()
    if key_type == KeyType.ML_DSA_65 and isinstance(key, mldsa.MLDSA65PublicKey):
        return key.public_bytes_raw()
    if key_type == KeyType.ML_KEM_768 and isinstance(key, mlkem.MLKEM768PublicKey):
        return key.public_bytes_raw()
    raise FormatError(f"not a {key_type.name} public key")


def public_key_out(key_type: KeyType, raw: bytes, fmt: str) -> bytes:
    """The device's raw public key as ``fmt`` (pem, der: SubjectPublicKeyInfo; raw: as the device gives it)."""
    if fmt == "raw":
        return raw
    key = _load_raw(key_type, raw)
    encoding = serialization.Encoding.PEM if fmt == "pem" else serialization.Encoding.DER
    return bytes(key.public_bytes(encoding, serialization.PublicFormat.SubjectPublicKeyInfo))


def public_key_in(key_type: KeyType, data: bytes) -> bytes:
    """A public key file in any of the forms (PEM, DER or raw) as the raw bytes the device takes."""
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            return _raw_of(key_type, serialization.load_pem_public_key(data))
        except ValueError as exc:
            raise FormatError(f"not a PEM public key: {exc}") from None
    if data[:1] == b"\x30":  # an ASN.1 SEQUENCE: DER SubjectPublicKeyInfo (no raw key form starts so)
        try:
            return _raw_of(key_type, serialization.load_der_public_key(data))
        except ValueError:
            pass  # not DER after all: taken as raw below, and checked there
    _load_raw(key_type, data)
    return data


def signature_out(key_type: KeyType, raw: bytes, fmt: str) -> bytes:
    """The device's signature as ``fmt``: der is X9.62 for ECDSA (other types have only one form)."""
    if fmt == "raw":
        return raw
    size = _EC_SIZES.get(key_type)
    if size is None:
        raise FormatError(f"{key_type.name} signatures have one form only: use --format raw")
    if len(raw) != 2 * size:
        raise FormatError(f"an ECDSA signature of {len(raw)} bytes, expected {2 * size}")
    return encode_dss_signature(int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big"))


def signature_in(key_type: KeyType, data: bytes, fmt: str) -> bytes:
    """A signature file in ``fmt`` as the raw bytes the device takes."""
    if fmt == "raw":
        return data
    size = _EC_SIZES.get(key_type)
    if size is None:
        raise FormatError(f"{key_type.name} signatures have one form only: use --format raw")
    try:
        r, s = decode_dss_signature(data)
    except ValueError as exc:
        raise FormatError(f"not a DER ECDSA signature: {exc}") from None
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")
