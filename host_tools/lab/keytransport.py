"""Test keys into the module through its own services: no new service, no key in clear on the line.

    KEY_GENERATE  an EC P-256 key pair in the module (uses AGREE)
    KEY_AGREE     with an ephemeral P-256 key of the harness -> a GENERIC_SECRET both ends know (Z)
    DERIVE        HKDF-SHA-256(Z, salt, info) -> an AES-256 key with uses WRAP|UNWRAP (the KEK),
                  which the harness computes too
    KEY_IMPORT    each test key wrapped with AES-KWP under the KEK (SP 800-38F)

All of it runs inside the encrypted, authenticated session of the lab's User. The module never
outputs Z or the KEK; the harness knows them because it is the other party of the key agreement.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Protocol

from cryptography.hazmat.primitives import hashes, keywrap
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from host_tools.errors import DeviceError
from module.wire.defs import Command, KdfAlg, KeyType, KeyUse, Status
from module.wire.messages import Reply

__all__ = ["KeyTransport", "RawCaller"]

INFO = b"cmsim lab key transport v1"


class RawCaller(Protocol):
    """What the transport needs: one request as ``who``, the reply as the module gave it (the lab's World)."""

    def raw(self, command: Command | int, params: Mapping[str, Any] | None = None, who: str | None = None) -> Reply: ...


class KeyTransport:
    def __init__(self, world: RawCaller, who: str) -> None:
        self.world = world
        self.who = who
        self.kek_id: int | None = None
        self._kek = b""
        self._made: list[int] = []
        self.imported = 0
        self.deleted = 0

    def _ok(self, reply: Reply, what: str) -> Reply:
        if reply.status is not Status.OK:
            raise DeviceError(reply.status, f"key transport, {what}: {reply.message}")
        return reply

    def establish(self) -> None:
        w = self.world
        pair = self._ok(w.raw(Command.KEY_GENERATE, {"key_type": int(KeyType.EC_P256), "uses": int(KeyUse.AGREE),
                                                     "label": "lab key agreement"}, self.who), "KEY_GENERATE")
        pair_id, module_public = int(pair.data["key_id"]), bytes(pair.data["public_key"])
        self._made.append(pair_id)
        ephemeral = ec.generate_private_key(ec.SECP256R1())
        point = ephemeral.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        agreed = self._ok(w.raw(Command.KEY_AGREE, {"key_id": pair_id, "peer_public_key": point,
                                                    "label": "lab shared secret"}, self.who), "KEY_AGREE")
        secret_id = int(agreed.data["key_id"])
        self._made.append(secret_id)
        z = ephemeral.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), module_public))
        salt = os.urandom(16)
        derived = self._ok(w.raw(Command.DERIVE, {
            "base_key_id": secret_id, "kdf": int(KdfAlg.HKDF_SHA256), "key_type": int(KeyType.AES_256),
            "uses": int(KeyUse.WRAP | KeyUse.UNWRAP), "salt": salt, "info": INFO, "label": "lab KEK",
        }, self.who), "DERIVE")
        self.kek_id = int(derived.data["key_id"])
        self._made.append(self.kek_id)
        self._kek = HKDF(hashes.SHA256(), 32, salt, INFO).derive(z)

    def wrap(self, material: bytes) -> bytes:
        return keywrap.aes_key_wrap_with_padding(self._kek, material)

    def unwrap(self, wrapped: bytes) -> bytes:
        return keywrap.aes_key_unwrap_with_padding(self._kek, wrapped)

    def import_key(self, key_type: KeyType, material: bytes, uses: KeyUse, *, exportable: bool = False) -> Reply:
        """KEY_IMPORT of ``material`` wrapped under the KEK; the reply as the module gave it."""
        if self.kek_id is None:
            self.establish()
        assert self.kek_id is not None
        reply = self.world.raw(Command.KEY_IMPORT, {
            "wrap_key_id": self.kek_id, "wrapped": self.wrap(material), "key_type": int(key_type),
            "uses": int(uses), "label": "lab test key", "exportable": exportable,
        }, self.who)
        if reply.status is Status.OK:
            self.imported += 1
        return reply

    def export_key(self, key_id: int) -> bytes | None:
        """KEY_EXPORT of an exportable key under the KEK, unwrapped here; None when the module refuses.

        The KEK is known here, so the module wraps under it only keys known outside already (imported
        under the KEK, made from such keys, or agreed with a peer key chosen here); it refuses a key it
        generated, which never leaves in a form this side can read."""
        if self.kek_id is None:
            self.establish()
        reply = self.world.raw(Command.KEY_EXPORT, {"key_id": key_id, "wrap_key_id": self.kek_id}, self.who)
        if reply.status is not Status.OK:
            return None
        return self.unwrap(bytes(reply.data["wrapped"]))

    def delete(self, key_id: int) -> Reply:
        reply = self.world.raw(Command.KEY_DELETE, {"key_id": key_id}, self.who)
        if reply.status is Status.OK:
            self.deleted += 1
        return reply

    def close(self) -> None:
        for key_id in reversed(self._made):
            self.world.raw(Command.KEY_DELETE, {"key_id": key_id}, self.who)
        self._made.clear()
        self.kek_id, self._kek = None, b""
