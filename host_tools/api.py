"""Typed service calls on a session: one method per service, named results, wire enums in and out.

    with Device.open(port) as dev:
        with dev.login("alice", password) as s:
            key = s.generate_key(KeyType.EC_P256, label="k1")
            signature = s.sign(key.key_id, b"message")
            assert s.verify(b"message", signature, key_id=key.key_id)
        with dev.login("audrey", password) as auditor:
            page = auditor.audit.export(from_seq=0)

Every method is a thin layer over :meth:`host_tools.client.OperatorSession.call`; refusals raise the
:class:`host_tools.errors.DeviceError` subclass for the status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from module.wire.defs import AuditPolicy, Command, DigestAlg, KdfAlg, KeyType, KeyUse, Role
from module.wire.messages import Reply

__all__ = ["KeyInfo", "Ciphertext", "OperatorInfo", "AuditPage", "Checkpoint", "SessionServices", "AuditServices"]


@dataclass(frozen=True)
class KeyInfo:
    key_id: int
    key_type: KeyType
    label: str = ""
    uses: KeyUse = KeyUse.NONE
    exportable: bool = False
    origin: str = ""
    public_key: bytes = b""

    @classmethod
    def of(cls, data: dict[str, Any]) -> KeyInfo:
        return cls(int(data["key_id"]), KeyType(data["key_type"]), str(data.get("label", "")),
                   KeyUse(data.get("uses", 0)), bool(data.get("exportable", False)), str(data.get("origin", "")),
                   bytes(data.get("public_key", b"")))


@dataclass(frozen=True)
class Ciphertext:
    iv: bytes
    ciphertext: bytes  # with the 16-byte GCM tag at the end


@dataclass(frozen=True)
class OperatorInfo:
    operator: str
    role: Role
    locked: bool
    failures: int


@dataclass(frozen=True)
class AuditPage:
    first_seq: int
    anchor: bytes  # chain value before the first record
    records: list[bytes]
    next_seq: int
    oldest_retained: int


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    record: bytes


class AuditServices:
    """The audit services of a session (Auditor or Crypto Officer)."""

    def __init__(self, session: SessionServices) -> None:
        self._s = session

    def export(self, from_seq: int = 0, max_records: int = 64) -> AuditPage:
        d = self._s.call(Command.AUDIT_EXPORT, {"from_seq": from_seq, "max_records": max_records}).data
        return AuditPage(int(d["first_seq"]), d["anchor"], list(d["records"]), int(d["next_seq"]),
                         int(d["oldest_retained"]))

    def checkpoint(self, nonce: bytes = b"") -> Checkpoint:
        d = self._s.call(Command.AUDIT_CHECKPOINT, {"nonce": nonce}).data
        return Checkpoint(int(d["seq"]), d["checkpoint"])

    def acknowledge(self, seq: int, head: bytes) -> int:
        """Free records through ``seq``; ``head`` must be the chain hash there. Returns the oldest retained."""
        return int(self._s.call(Command.AUDIT_ACK, {"seq": seq, "head": head}).data["oldest_retained"])

    def set_policy(self, policy: AuditPolicy, high_water_permille: int | None = None) -> bytes:
        params: dict[str, Any] = {"policy": int(policy)}
        if high_water_permille is not None:
            params["high_water_permille"] = high_water_permille
        return bytes(self._s.call(Command.AUDIT_SET_POLICY, params).data["policy_digest"])


class SessionServices:
    """Mixed into :class:`host_tools.client.OperatorSession`: the typed methods."""

    def call(self, command: Command, params: Mapping[str, Any] | None = None) -> Reply:
        """Provided by :class:`host_tools.client.OperatorSession`."""
        raise NotImplementedError

    @property
    def audit(self) -> AuditServices:
        return AuditServices(self)

    # ------------------------------------------------------------ life cycle
    def initialise(self, operator: str, password: str) -> None:
        self.call(Command.INITIALISE, {"operator": operator, "password": password})

    def zeroise(self) -> None:
        self.call(Command.ZEROISE)

    # ------------------------------------------------------------ operators
    def create_operator(self, operator: str, role: Role, password: str) -> None:
        self.call(Command.OPERATOR_CREATE, {"operator": operator, "role": int(role), "password": password})

    def delete_operator(self, operator: str) -> None:
        self.call(Command.OPERATOR_DELETE, {"operator": operator})

    def change_password(self, password: str, operator: str | None = None, current_password: str | None = None) -> None:
        """An own change needs ``current_password``; a Crypto Officer changing another's does not."""
        params: dict[str, Any] = {"password": password}
        if operator is not None:
            params["operator"] = operator
        if current_password is not None:
            params["current_password"] = current_password
        self.call(Command.OPERATOR_CHANGE_PASSWORD, params)

    def list_operators(self) -> list[OperatorInfo]:
        ops = self.call(Command.OPERATOR_LIST).data["operators"]
        return [OperatorInfo(o["operator"], Role(o["role"]), bool(o["locked"]), int(o["failures"])) for o in ops]

    def unlock_operator(self, operator: str) -> None:
        self.call(Command.OPERATOR_UNLOCK, {"operator": operator})

    # ----------------------------------------------------------------- keys
    def generate_key(self, key_type: KeyType, *, label: str = "", exportable: bool = False,
                     uses: KeyUse | None = None) -> KeyInfo:
        params: dict[str, Any] = {"key_type": int(key_type), "label": label, "exportable": exportable}
        if uses is not None:
            params["uses"] = int(uses)
        return KeyInfo.of(self.call(Command.KEY_GENERATE, params).data)

    def import_key(self, wrap_key_id: int, wrapped: bytes, key_type: KeyType, *, label: str = "",
                   exportable: bool = False, uses: KeyUse | None = None) -> KeyInfo:
        params: dict[str, Any] = {"wrap_key_id": wrap_key_id, "wrapped": wrapped, "key_type": int(key_type),
                                  "label": label, "exportable": exportable}
        if uses is not None:
            params["uses"] = int(uses)
        return KeyInfo.of(self.call(Command.KEY_IMPORT, params).data)

    def export_key(self, key_id: int, wrap_key_id: int) -> bytes:
        return bytes(self.call(Command.KEY_EXPORT, {"key_id": key_id, "wrap_key_id": wrap_key_id}).data["wrapped"])

    def delete_key(self, key_id: int) -> None:
        self.call(Command.KEY_DELETE, {"key_id": key_id})

    def list_keys(self) -> list[tuple[int, KeyType, str]]:
        keys = self.call(Command.KEY_LIST).data["keys"]
        return [(int(k["key_id"]), KeyType(k["key_type"]), str(k["label"])) for k in keys]

    def key_attributes(self, key_id: int) -> KeyInfo:
        return KeyInfo.of(self.call(Command.KEY_ATTRIBUTES, {"key_id": key_id}).data)

    # --------------------------------------------------------------- crypto
    def encrypt(self, key_id: int, plaintext: bytes, aad: bytes = b"") -> Ciphertext:
        d = self.call(Command.ENCRYPT, {"key_id": key_id, "plaintext": plaintext, "aad": aad}).data
        return Ciphertext(d["iv"], d["ciphertext"])

    def decrypt(self, key_id: int, ciphertext: Ciphertext, aad: bytes = b"") -> bytes:
        params = {"key_id": key_id, "iv": ciphertext.iv, "ciphertext": ciphertext.ciphertext, "aad": aad}
        return bytes(self.call(Command.DECRYPT, params).data["plaintext"])

    def sign(self, key_id: int, message: bytes, *, prehashed: bool = False) -> bytes:
        """``prehashed``: ECDSA, ``message`` is the caller's digest (SHA-256 for P-256, SHA-384 for P-384)."""
        params: dict[str, Any] = {"key_id": key_id, "message": message}
        if prehashed:
            params["prehashed"] = True
        return bytes(self.call(Command.SIGN, params).data["signature"])

    def verify(self, message: bytes, signature: bytes, *, key_id: int | None = None,
               key_type: KeyType | None = None, public_key: bytes | None = None, prehashed: bool = False) -> bool:
        """With a stored key (``key_id``) or a given one (``key_type`` and ``public_key``)."""
        params: dict[str, Any] = {"message": message, "signature": signature}
        if prehashed:
            params["prehashed"] = True
        if key_id is not None:
            params["key_id"] = key_id
        if key_type is not None:
            params["key_type"] = int(key_type)
        if public_key is not None:
            params["public_key"] = public_key
        return bool(self.call(Command.VERIFY, params).data["valid"])

    def mac(self, key_id: int, message: bytes) -> bytes:
        return bytes(self.call(Command.MAC_GENERATE, {"key_id": key_id, "message": message}).data["mac"])

    def mac_verify(self, key_id: int, message: bytes, mac: bytes) -> bool:
        return bool(self.call(Command.MAC_VERIFY, {"key_id": key_id, "message": message, "mac": mac}).data["valid"])

    def digest(self, algorithm: DigestAlg, message: bytes) -> bytes:
        return bytes(self.call(Command.DIGEST, {"algorithm": int(algorithm), "message": message}).data["digest"])

    def random(self, length: int) -> bytes:
        return bytes(self.call(Command.RANDOM, {"length": length}).data["random"])

    def derive(self, base_key_id: int, kdf: KdfAlg, key_type: KeyType, *, salt: bytes = b"", info: bytes = b"",
               label: str = "", exportable: bool = False) -> KeyInfo:
        params = {"base_key_id": base_key_id, "kdf": int(kdf), "key_type": int(key_type), "salt": salt,
                  "info": info, "label": label, "exportable": exportable}
        return KeyInfo.of(self.call(Command.DERIVE, params).data)

    def key_agree(self, key_id: int, peer_public_key: bytes, *, label: str = "") -> KeyInfo:
        params = {"key_id": key_id, "peer_public_key": peer_public_key, "label": label}
        return KeyInfo.of(self.call(Command.KEY_AGREE, params).data)

    def encapsulate(self, public_key: bytes, *, label: str = "") -> tuple[KeyInfo, bytes]:
        """ML-KEM-768 to a given public key: the stored shared secret and the ciphertext to send."""
        d = self.call(Command.ENCAPSULATE, {"public_key": public_key, "label": label}).data
        return KeyInfo.of(d), bytes(d["ciphertext"])

    def decapsulate(self, key_id: int, ciphertext: bytes, *, label: str = "") -> KeyInfo:
        return KeyInfo.of(self.call(Command.DECAPSULATE, {"key_id": key_id, "ciphertext": ciphertext, "label": label}).data)
