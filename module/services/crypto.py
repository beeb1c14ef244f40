"""Approved cryptographic services over stored keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from module import algorithms
from module.errors import ServiceError
from module.services.keys import SYMMETRIC_KEY_SIZES, own_key, require_type, store_key
from module.services.context import CallContext, KeyPorts
from module.services.registry import ServiceResult
from module.wire.defs import KdfAlg, KeyType, KeyUse, Status

GCM_IV_SIZE = algorithms.GCM_IV_SIZE
SIGNATURE_KEY_TYPES = tuple(sorted(algorithms.SIGNATURE_KEY_TYPES))  # one definition, in the algorithm layer
HMAC_KEY_TYPES = (KeyType.HMAC_SHA256, KeyType.HMAC_SHA384, KeyType.HMAC_SHA512)
DERIVABLE_KEY_TYPES = (KeyType.AES_256, KeyType.HMAC_SHA256, KeyType.HMAC_SHA384, KeyType.HMAC_SHA512, KeyType.GENERIC_SECRET)


def encrypt(module: KeyPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    """AES-256-GCM with a fresh 96-bit IV from the DRBG (never chosen by the caller), at most
    ``gcm_invocation_limit`` (2^32) times per key, counted across power cycles."""
    key = own_key(module, ctx, params["key_id"])
    require_type(key, KeyType.AES_256)
    key.require(KeyUse.ENCRYPT)
    module.keys.count_gcm(key, limit=module.config.gcm_invocation_limit, step=module.config.gcm_reservation_step)
    iv = module.random_bytes(GCM_IV_SIZE)
    ciphertext = algorithms.aes_gcm_encrypt(bytes(key.material), iv, params["plaintext"], params.get("aad", b""))
    return ServiceResult({"iv": iv, "ciphertext": ciphertext}, (key.key_id,))


def decrypt(module: KeyPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    key = own_key(module, ctx, params["key_id"])
    require_type(key, KeyType.AES_256)
    key.require(KeyUse.DECRYPT)
    try:
        plaintext = algorithms.aes_gcm_decrypt(bytes(key.material), params["iv"], params["ciphertext"], params.get("aad", b""))
    except algorithms.IntegrityCheckFailed:
        raise ServiceError(Status.DECRYPT_FAILED, "authentication tag mismatch") from None
    return ServiceResult({"plaintext": plaintext}, (key.key_id,))


def _prehashed(key_type: KeyType, params: Mapping[str, Any]) -> bool:
    """The ``prehashed`` flag, checked: ECDSA only, and the message exactly the curve's digest length."""
    if not params.get("prehashed", False):
        return False
    size = algorithms.ECDSA_DIGEST_SIZES.get(key_type)
    if size is None:
        raise ServiceError(Status.INVALID_PARAMETER, f"prehashed applies to ECDSA keys, not {key_type.name}")
    if len(params["message"]) != size:
        raise ServiceError(Status.INVALID_PARAMETER, f"a prehashed message is the {size}-byte digest")
    return True


def sign(module: KeyPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    """Sign the message, or with ``prehashed`` (ECDSA) a digest the caller computed with the curve's
    hash: still FIPS 186-5 ECDSA with an approved hash, only the hashing step is done outside."""
    key = own_key(module, ctx, params["key_id"])
    require_type(key, *SIGNATURE_KEY_TYPES)
    key.require(KeyUse.SIGN)
    prehashed = _prehashed(key.key_type, params)
    signature = algorithms.sign(key.key_type, bytes(key.material), params["message"], prehashed=prehashed)
    approved = key.key_type not in algorithms.LIBRARY_RANDOMNESS_SIGNATURES  # hedged ML-DSA: rnd not from the DRBG
    return ServiceResult({"signature": signature}, (key.key_id,), approved=approved)


def verify(module: KeyPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    """Verify with a stored key (key_id) or with a given public key (key_type + public_key)."""
    if "key_id" in params:
        if "public_key" in params:
            raise ServiceError(Status.INVALID_PARAMETER, "give key_id or public_key, not both")
        key = own_key(module, ctx, params["key_id"])
        require_type(key, *SIGNATURE_KEY_TYPES)
        key.require(KeyUse.VERIFY)
        key_type, public = key.key_type, key.public
        ids: tuple[int, ...] = (key.key_id,)
    else:
        if "public_key" not in params or "key_type" not in params:
            raise ServiceError(Status.INVALID_PARAMETER, "give key_id, or key_type and public_key")
        key_type, public, ids = params["key_type"], params["public_key"], ()
        if key_type not in SIGNATURE_KEY_TYPES:
            raise ServiceError(Status.KEY_TYPE_MISMATCH, f"{key_type.name} is not a signature key type")
    prehashed = _prehashed(key_type, params)
    valid = algorithms.verify(key_type, public, params["message"], params["signature"], prehashed=prehashed)
    return ServiceResult({"valid": valid}, ids)


def mac_generate(module: KeyPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    key = own_key(module, ctx, params["key_id"])
    require_type(key, *HMAC_KEY_TYPES)
    key.require(KeyUse.MAC)
    return ServiceResult({"mac": algorithms.hmac_sign(key.key_type, bytes(key.material), params["message"])}, (key.key_id,))


def mac_verify(module: KeyPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    key = own_key(module, ctx, params["key_id"])
    require_type(key, *HMAC_KEY_TYPES)
    key.require(KeyUse.MAC)
    valid = algorithms.hmac_verify(key.key_type, bytes(key.material), params["message"], params["mac"])
    return ServiceResult({"valid": valid}, (key.key_id,))


def digest(module: KeyPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    return ServiceResult({"digest": algorithms.digest(params["algorithm"], params["message"])})


def random(module: KeyPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    length: int = params["length"]
    if not 1 <= length <= module.config.max_random_bytes:
        raise ServiceError(Status.INVALID_PARAMETER, f"length must be 1..{module.config.max_random_bytes}")
    return ServiceResult({"random": module.random_bytes(length)})


def derive(module: KeyPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    """HKDF or SP 800-108 KBKDF from a stored secret into a new stored key (never output)."""
    base = own_key(module, ctx, params["base_key_id"])
    base.require(KeyUse.DERIVE)
    key_type: KeyType = params["key_type"]
    if key_type not in DERIVABLE_KEY_TYPES:
        raise ServiceError(Status.KEY_TYPE_MISMATCH, f"cannot derive a {key_type.name} key")
    length = SYMMETRIC_KEY_SIZES[key_type]
    kdf: KdfAlg = params["kdf"]
    salt, info = params.get("salt", b""), params.get("info", b"")
    if kdf is KdfAlg.HKDF_SHA256:
        material = algorithms.hkdf_sha256(bytes(base.material), salt, info, length)
    else:
        material = algorithms.kbkdf_ctr_hmac_sha256(bytes(base.material), salt, info, length)
    key = store_key(module, ctx, params, key_type, material, "derived", inputs=(base,))
    return ServiceResult(key.attributes(), (key.key_id, base.key_id))


def key_agree(module: KeyPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    """ECDH P-256 (SP 800-56A): the shared secret is stored as a derivation key, never output."""
    key = own_key(module, ctx, params["key_id"])
    require_type(key, KeyType.EC_P256)
    key.require(KeyUse.AGREE)
    try:
        shared = algorithms.ecdh_p256(bytes(key.material), params["peer_public_key"])
    except algorithms.InvalidKeyData as exc:
        raise ServiceError(Status.INVALID_KEY_DATA, str(exc)) from None
    secret = store_key(module, ctx, _secret_params(params), KeyType.GENERIC_SECRET, shared, "agreed",
                       inputs=(key,), known_outside=True)  # the host chose the peer: it can know the secret
    return ServiceResult(secret.attributes(), (secret.key_id, key.key_id))


def encapsulate(module: KeyPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    """ML-KEM-768 encapsulation to a given public key; the shared secret stays inside."""
    try:
        shared, ciphertext = algorithms.mlkem768_encapsulate(params["public_key"])
    except algorithms.InvalidKeyData as exc:
        raise ServiceError(Status.INVALID_KEY_DATA, str(exc)) from None
    # encapsulated to a public key the host gave: whoever holds its private key knows the secret
    secret = store_key(module, ctx, _secret_params(params), KeyType.GENERIC_SECRET, shared, "agreed", known_outside=True)
    data = secret.attributes()
    data["ciphertext"] = ciphertext
    return ServiceResult(data, (secret.key_id,))


def decapsulate(module: KeyPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    key = own_key(module, ctx, params["key_id"])
    require_type(key, KeyType.ML_KEM_768)
    key.require(KeyUse.DECAPSULATE)
    try:
        shared = algorithms.mlkem768_decapsulate(bytes(key.material), params["ciphertext"])
    except algorithms.InvalidKeyData as exc:
        raise ServiceError(Status.INVALID_KEY_DATA, str(exc)) from None
    # the ciphertext came from the host, which made the secret when it encapsulated
    secret = store_key(module, ctx, _secret_params(params), KeyType.GENERIC_SECRET, shared, "agreed",
                       inputs=(key,), known_outside=True)
    return ServiceResult(secret.attributes(), (secret.key_id, key.key_id))


def _secret_params(params: Mapping[str, Any]) -> dict[str, Any]:
    return {"label": params.get("label", ""), "exportable": params.get("exportable", False), "uses": int(KeyUse.DERIVE)}


def digest_sha1(module: KeyPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    """SHA-1 as a plain digest: approved for non-signature uses (SP 800-131A Rev. 2)."""
    return ServiceResult({"digest": algorithms.sha1_digest(params["message"])})
