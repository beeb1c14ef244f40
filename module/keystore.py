"""The SSP store: keys with ids and attributes, persisted crash-consistently through the flash port.

The whole store is one flash object replaced atomically (write new, sync, rename on real flash),
so after a power loss it holds either the old or the new set of keys, never half a key. Key
material lives in bytearrays so zeroisation can overwrite it in place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from module.errors import ServiceError
from module.ports import Flash, FlashError
from module.wire.defs import KeyType, KeyUse, Status

__all__ = ["StoredKey", "KeyStore", "ALLOWED_USES", "DEFAULT_USES", "PURPOSES", "purpose_of"]

FLASH_NAME = "keystore"

# Which uses each key type can carry at all (the attribute a caller asks for must fit).
ALLOWED_USES: dict[KeyType, KeyUse] = {
    KeyType.AES_256: KeyUse.ENCRYPT | KeyUse.DECRYPT | KeyUse.WRAP | KeyUse.UNWRAP,
    KeyType.HMAC_SHA256: KeyUse.MAC,
    KeyType.HMAC_SHA384: KeyUse.MAC,
    KeyType.HMAC_SHA512: KeyUse.MAC,
    KeyType.GENERIC_SECRET: KeyUse.DERIVE,
    KeyType.EC_P256: KeyUse.SIGN | KeyUse.VERIFY | KeyUse.AGREE | KeyUse.SIGN_NON_APPROVED,
    KeyType.EC_P384: KeyUse.SIGN | KeyUse.VERIFY,
    KeyType.ED25519: KeyUse.SIGN | KeyUse.VERIFY,
    KeyType.ML_DSA_65: KeyUse.SIGN | KeyUse.VERIFY,
    KeyType.ML_KEM_768: KeyUse.DECAPSULATE,
}

# One key, one purpose (SP 800-57 part 1, 5.2): a key's uses all lie in one of these.
PURPOSES: dict[str, KeyUse] = {
    "encryption": KeyUse.ENCRYPT | KeyUse.DECRYPT,
    "signature": KeyUse.SIGN | KeyUse.VERIFY,
    "authentication (MAC)": KeyUse.MAC,
    "key derivation": KeyUse.DERIVE,
    "key wrapping": KeyUse.WRAP | KeyUse.UNWRAP,
    "key agreement": KeyUse.AGREE,
    "key encapsulation": KeyUse.DECAPSULATE,
    "non-approved signature (SHA-1)": KeyUse.SIGN_NON_APPROVED,
}

# The uses a key gets when the caller names none: the type's main purpose, approved.
DEFAULT_USES: dict[KeyType, KeyUse] = {
    KeyType.AES_256: KeyUse.ENCRYPT | KeyUse.DECRYPT,
    KeyType.HMAC_SHA256: KeyUse.MAC,
    KeyType.HMAC_SHA384: KeyUse.MAC,
    KeyType.HMAC_SHA512: KeyUse.MAC,
    KeyType.GENERIC_SECRET: KeyUse.DERIVE,
    KeyType.EC_P256: KeyUse.SIGN | KeyUse.VERIFY,
    KeyType.EC_P384: KeyUse.SIGN | KeyUse.VERIFY,
    KeyType.ED25519: KeyUse.SIGN | KeyUse.VERIFY,
    KeyType.ML_DSA_65: KeyUse.SIGN | KeyUse.VERIFY,
    KeyType.ML_KEM_768: KeyUse.DECAPSULATE,
}


def purpose_of(uses: KeyUse) -> str | None:
    """The one purpose ``uses`` serve, or None when they are empty or span two purposes."""
    for name, flags in PURPOSES.items():
        if uses and not uses & ~flags:
            return name
    return None


@dataclass
class StoredKey:
    key_id: int
    label: str
    key_type: KeyType
    uses: KeyUse
    exportable: bool
    origin: str  # generated, imported, derived, agreed
    material: bytearray
    public: bytes = b""
    owner: str = ""  # operator id; "" for entries older than owners: no User's key
    # The value is known outside the module (agreed with a host-chosen peer, or derived from or
    # imported under such a key): it may unwrap, never wrap a key for export.
    known_outside: bool = False
    # AES-GCM invocations reserved in flash (persisted) and used (memory; resumes at the reserve).
    gcm_reserved: int = 0
    gcm_used: int = 0

    def require(self, use: KeyUse) -> None:
        if not self.uses & use:
            raise ServiceError(Status.KEY_USE_DENIED, f"key {self.key_id} does not allow {use.name}")

    def attributes(self) -> dict[str, object]:
        """Everything about the key except its secret part."""
        return {
            "key_id": self.key_id,
            "label": self.label,
            "key_type": int(self.key_type),
            "uses": int(self.uses),
            "exportable": self.exportable,
            "origin": self.origin,
            "public_key": self.public,
            "owner": self.owner,
            "known_outside": self.known_outside,
        }

    def wipe(self) -> None:
        self.material[:] = bytes(len(self.material))


class KeyStore:
    def __init__(self, flash: Flash, capacity: int) -> None:
        self._flash = flash
        self._capacity = capacity
        self._keys: dict[int, StoredKey] = {}
        self._next_id = 1

    def load(self) -> None:
        self.wipe_memory()
        raw = self._flash.read(FLASH_NAME)
        if raw is None:
            return
        doc = json.loads(raw.decode())
        self._next_id = int(doc["next_id"])
        for item in doc["keys"]:
            key = StoredKey(
                key_id=int(item["key_id"]),
                label=item["label"],
                key_type=KeyType(item["key_type"]),
                uses=KeyUse(item["uses"]),
                exportable=bool(item["exportable"]),
                origin=item["origin"],
                material=bytearray.fromhex(item["material"]),
                public=bytes.fromhex(item["public"]),
                owner=str(item.get("owner", "")),
                # Older entries: agreed secrets and keys derived from them cannot be told apart any
                # more, so an agreed or derived key is taken as known outside.
                known_outside=bool(item.get("known_outside", item["origin"] in ("agreed", "derived"))),
                gcm_reserved=int(item.get("gcm_reserved", 0)),
            )
            key.gcm_used = key.gcm_reserved  # whatever was reserved may have been used before the power went
            self._keys[key.key_id] = key

    def _save(self) -> None:
        doc = {
            "next_id": self._next_id,
            "keys": [
                {
                    "key_id": k.key_id,
                    "label": k.label,
                    "key_type": int(k.key_type),
                    "uses": int(k.uses),
                    "exportable": k.exportable,
                    "origin": k.origin,
                    "material": k.material.hex(),
                    "public": k.public.hex(),
                    "owner": k.owner,
                    "known_outside": k.known_outside,
                    "gcm_reserved": k.gcm_reserved,
                }
                for k in self._keys.values()
            ],
        }
        self._flash.write(FLASH_NAME, json.dumps(doc, sort_keys=True).encode())

    def add(
        self,
        *,
        label: str,
        key_type: KeyType,
        uses: KeyUse,
        exportable: bool,
        origin: str,
        material: bytes | bytearray,
        owner: str,
        public: bytes = b"",
        known_outside: bool = False,
    ) -> StoredKey:
        if len(self._keys) >= self._capacity:
            raise ServiceError(Status.KEYSTORE_FULL, f"key store holds its maximum of {self._capacity} keys")
        if uses & ~ALLOWED_USES[key_type]:
            raise ServiceError(
                Status.INVALID_PARAMETER, f"uses 0x{int(uses):x} not allowed for {key_type.name}"
            )
        key = StoredKey(self._next_id, label, key_type, uses, exportable, origin, bytearray(material), public, owner,
                        known_outside)
        self._keys[key.key_id] = key
        self._next_id += 1
        try:
            self._save()
        except FlashError:
            # The flash write failed: forget the key so memory matches flash, then re-raise.
            self._keys.pop(key.key_id).wipe()
            self._next_id -= 1
            raise
        return key

    def get(self, key_id: int) -> StoredKey:
        key = self._keys.get(key_id)
        if key is None:
            raise ServiceError(Status.KEY_NOT_FOUND, f"no key {key_id}")
        return key

    def owned(self, key_id: int, operator: str) -> StoredKey:
        """The caller's own key; anyone else's is answered as if it did not exist."""
        key = self._keys.get(key_id)
        if key is None or not operator or key.owner != operator:
            raise ServiceError(Status.KEY_NOT_FOUND, f"no key {key_id}")
        return key

    def managed(self, key_id: int, operator: str, *, officer: bool) -> StoredKey:
        """A key the caller may see and delete: its own, or any key for a Crypto Officer."""
        return self.get(key_id) if officer else self.owned(key_id, operator)

    def visible(self, operator: str, *, officer: bool) -> list[StoredKey]:
        """The keys KEY_LIST shows: the caller's own, or every key for a Crypto Officer."""
        return [k for k in self.all() if officer or (operator and k.owner == operator)]

    def disown(self, operator: str) -> None:
        """An operator is gone: its keys belong to no User (a Crypto Officer may still delete them),
        so a new operator given the same id later does not inherit them."""
        mine = [k for k in self._keys.values() if k.owner == operator]
        if not mine:
            return
        for key in mine:
            key.owner = ""
        try:
            self._save()
        except FlashError:
            for key in mine:
                key.owner = operator
            raise

    def count_gcm(self, key: StoredKey, *, limit: int, step: int) -> None:
        """Count one AES-GCM invocation with a random IV, or refuse past ``limit`` (SP 800-38D 8.3).

        The count is reserved in flash ``step`` invocations ahead, before the invocation's output
        exists: the key store is written once per step, and a boot resumes at the reserve, so a
        power cut at any point skips at most a step of counts and never reuses one."""
        if key.gcm_used >= limit:
            raise ServiceError(
                Status.KEY_USAGE_EXHAUSTED,
                f"key {key.key_id} reached its limit of {limit} AES-GCM invocations (SP 800-38D 8.3: 2^32 "
                "with random IVs); make a new key",
            )
        if key.gcm_used >= key.gcm_reserved:
            reserved = key.gcm_reserved
            key.gcm_reserved = min(key.gcm_used + max(step, 1), limit)
            try:
                self._save()
            except FlashError:
                key.gcm_reserved = reserved
                raise
        key.gcm_used += 1

    def delete(self, key_id: int) -> None:
        key = self.get(key_id)
        del self._keys[key_id]
        try:
            self._save()
        except FlashError:
            self._keys[key_id] = key
            raise
        key.wipe()

    def all(self) -> list[StoredKey]:
        return [self._keys[k] for k in sorted(self._keys)]

    def __len__(self) -> int:
        return len(self._keys)

    def wipe_memory(self) -> None:
        for key in self._keys.values():
            key.wipe()
        self._keys.clear()

    def zeroise(self) -> None:
        self.wipe_memory()
        self._next_id = 1
        self._flash.delete(FLASH_NAME)
