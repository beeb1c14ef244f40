"""Key management: generate, import and export (AES-KWP wrapped), delete, list, attributes.

A key belongs to the operator who made it (module/keystore.py): every key a service uses is
looked up with :func:`own_key`; delete, list and attributes with :func:`managed_key`, which also
lets a Crypto Officer reach any key. The catalogue declares the same scope for the policy tables.

A key made from other keys (derived, agreed, decapsulated) is exportable only if every input is,
and its value is known outside the module if any input's is, or if a host-chosen peer took part;
such a key may unwrap (import), and wraps for export only keys whose value is known outside
too (:func:`export_wrapped`): it never hands the host a key the host could not compute.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from module import algorithms
from module.errors import ServiceError
from module.keystore import ALLOWED_USES, DEFAULT_USES, StoredKey, purpose_of
from module.services.context import CallContext, KeyPorts
from module.services.registry import ServiceResult
from module.wire.defs import ASYMMETRIC_KEY_TYPES, KeyType, KeyUse, Role, Status

SYMMETRIC_KEY_SIZES: dict[KeyType, int] = {
    KeyType.AES_256: 32,
    KeyType.HMAC_SHA256: 32,
    KeyType.HMAC_SHA384: 48,
    KeyType.HMAC_SHA512: 64,
    KeyType.GENERIC_SECRET: 32,
}


def requested_uses(key_type: KeyType, params: Mapping[str, Any]) -> KeyUse:
    """The uses asked for, or the type's one default purpose when none is given (SP 800-57 pt 1
    5.2: one key, one purpose, so uses from two purposes are refused)."""
    raw = params.get("uses")
    uses = DEFAULT_USES[key_type] if raw is None else KeyUse(raw)
    if uses == KeyUse.NONE or uses & ~ALLOWED_USES[key_type]:
        raise ServiceError(Status.INVALID_PARAMETER, f"uses 0x{int(uses):x} do not fit {key_type.name}")
    if purpose_of(uses) is None:
        raise ServiceError(Status.INVALID_PARAMETER, f"uses 0x{int(uses):x} span two purposes: one key, one purpose")
    return uses


def own_key(module: KeyPorts, ctx: CallContext, key_id: int) -> StoredKey:
    """A key the caller owns (anyone else's answers KEY_NOT_FOUND, as a missing id does)."""
    return module.keys.owned(key_id, ctx.operator)


def managed_key(module: KeyPorts, ctx: CallContext, key_id: int) -> StoredKey:
    """A key the caller may see or delete: its own, or any key for a Crypto Officer."""
    return module.keys.managed(key_id, ctx.operator, officer=ctx.role is Role.CRYPTO_OFFICER)


def store_key(
    module: KeyPorts,
    ctx: CallContext,
    params: Mapping[str, Any],
    key_type: KeyType,
    material: bytes,
    origin: str,
    *,
    inputs: tuple[StoredKey, ...] = (),
    known_outside: bool = False,
) -> StoredKey:
    """Store new key material owned by the caller; key pairs pass the pairwise consistency test first.

    ``inputs`` are the stored keys it was made from: it inherits their strictest exportability
    and whether their value is known outside the module."""
    uses = requested_uses(key_type, params)
    exportable = bool(params.get("exportable", False))
    for source in inputs:
        if exportable and not source.exportable:
            raise ServiceError(
                Status.KEY_NOT_EXPORTABLE, f"made from key {source.key_id}, which is not exportable: cannot be exportable"
            )
        known_outside = known_outside or source.known_outside
    public = b""
    if key_type in ASYMMETRIC_KEY_TYPES:
        try:
            public = algorithms.public_key(key_type, material)
        except algorithms.InvalidKeyData as exc:
            raise ServiceError(Status.INVALID_KEY_DATA, str(exc)) from None
        module.pairwise_consistency(key_type, material, public)
    elif len(material) != SYMMETRIC_KEY_SIZES[key_type]:
        raise ServiceError(Status.INVALID_KEY_DATA, f"{key_type.name} needs {SYMMETRIC_KEY_SIZES[key_type]} bytes")
    return module.keys.add(
        label=params.get("label", ""),
        key_type=key_type,
        uses=uses,
        exportable=exportable,
        origin=origin,
        material=material,
        public=public,
        owner=ctx.operator,
        known_outside=known_outside,
    )


def generate(module: KeyPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    key_type: KeyType = params["key_type"]
    requested_uses(key_type, params)
    if key_type in ASYMMETRIC_KEY_TYPES:
        material = algorithms.generate_private(key_type, module.random_bytes)
    else:
        material = module.random_bytes(SYMMETRIC_KEY_SIZES[key_type])
    key = store_key(module, ctx, params, key_type, material, "generated")
    return ServiceResult(key.attributes(), (key.key_id,))


def import_wrapped(module: KeyPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    wrap_key = own_key(module, ctx, params["wrap_key_id"])
    require_type(wrap_key, KeyType.AES_256)
    wrap_key.require(KeyUse.UNWRAP)
    try:
        material = algorithms.aes_kwp_unwrap(bytes(wrap_key.material), params["wrapped"])
    except algorithms.IntegrityCheckFailed:
        raise ServiceError(Status.DECRYPT_FAILED, "wrapped key failed its integrity check") from None
    # Whoever knows the unwrapping key knows what it unwrapped.
    key = store_key(module, ctx, params, params["key_type"], material, "imported", known_outside=wrap_key.known_outside)
    return ServiceResult(key.attributes(), (key.key_id, wrap_key.key_id))


def export_wrapped(module: KeyPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    key = own_key(module, ctx, params["key_id"])
    wrap_key = own_key(module, ctx, params["wrap_key_id"])
    if not key.exportable:
        raise ServiceError(Status.KEY_NOT_EXPORTABLE, f"key {key.key_id} is not exportable")
    require_type(wrap_key, KeyType.AES_256)
    wrap_key.require(KeyUse.WRAP)
    # A wrapping key the host can know would hand the host the key it wraps; that reveals nothing
    # only when the wrapped key's value is itself known outside (derived from or imported under such a key).
    if wrap_key.known_outside and not key.known_outside:
        raise ServiceError(
            Status.KEY_USE_DENIED,
            f"key {wrap_key.key_id} is known outside the module: it may unwrap, and wrap for export only keys "
            "that are known outside too",
        )
    wrapped = algorithms.aes_kwp_wrap(bytes(wrap_key.material), bytes(key.material))
    return ServiceResult(
        {"key_id": key.key_id, "key_type": int(key.key_type), "wrapped": wrapped}, (key.key_id, wrap_key.key_id)
    )


def delete(module: KeyPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    key_id: int = managed_key(module, ctx, params["key_id"]).key_id
    module.keys.delete(key_id)
    return ServiceResult({"key_id": key_id}, (key_id,))


def list_keys(module: KeyPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    return ServiceResult(
        {"keys": [{"key_id": k.key_id, "label": k.label, "key_type": int(k.key_type), "owner": k.owner}
                  for k in module.keys.visible(ctx.operator, officer=ctx.role is Role.CRYPTO_OFFICER)]}
    )


def attributes(module: KeyPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    key = managed_key(module, ctx, params["key_id"])
    return ServiceResult(key.attributes(), (key.key_id,))


def require_type(key: StoredKey, *types: KeyType) -> None:
    if key.key_type not in types:
        names = ", ".join(t.name for t in types)
        raise ServiceError(Status.KEY_TYPE_MISMATCH, f"key {key.key_id} is {key.key_type.name}, needs {names}")

