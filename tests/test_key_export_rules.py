"""No key leaves in a form its exporter can read unless its owner made it exportable (issue 14).

Derived, agreed and encapsulated keys inherit the strictest exportability of their inputs; a key
whose value is known outside the module (agreed with a host-chosen peer, derived from one, or
imported under one) may unwrap but never wrap a key for export. The lab's import path (ECDH,
HKDF, AES-KWP: host_tools/lab/keytransport.py) keeps working. Expected values come from pyca."""

from __future__ import annotations

import hashlib
import hmac
import os

import pytest
from cryptography.hazmat.primitives import hashes, keywrap
from cryptography.hazmat.primitives.asymmetric import ec, mlkem
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from conftest import PASSWORDS
from host_tools.client import Client, OperatorSession
from host_tools.errors import DeviceError
from module.wire.defs import Command, KdfAlg, KeyType, KeyUse, Status


@pytest.fixture
def alice(client: Client) -> OperatorSession:
    return client.login("alice", PASSWORDS["alice"])


def gen(s: OperatorSession, key_type: KeyType, **extra: object) -> int:
    return int(s.call(Command.KEY_GENERATE, {"key_type": int(key_type), **extra}).data["key_id"])


def refused(s: OperatorSession, command: Command, params: dict[str, object]) -> Status:
    with pytest.raises(DeviceError) as info:
        s.call(command, params)
    return info.value.status


def host_kek(s: OperatorSession, **derive_extra: object) -> tuple[int, bytes]:
    """The lab's path: module P-256 key, ECDH with a host ephemeral, HKDF into an AES wrap key the host knows."""
    pair = s.call(Command.KEY_GENERATE, {"key_type": int(KeyType.EC_P256), "uses": int(KeyUse.AGREE),
                                         **derive_extra}).data
    host = ec.generate_private_key(ec.SECP256R1())
    point = host.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    secret = s.call(Command.KEY_AGREE, {"key_id": pair["key_id"], "peer_public_key": point, **derive_extra}).data
    salt, info = os.urandom(16), b"cmsim lab key transport v1"
    kek = s.call(Command.DERIVE, {"base_key_id": secret["key_id"], "kdf": int(KdfAlg.HKDF_SHA256),
                                  "key_type": int(KeyType.AES_256), "uses": int(KeyUse.WRAP | KeyUse.UNWRAP),
                                  "salt": salt, "info": info, **derive_extra}).data
    z = host.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), pair["public_key"]))
    return int(kek["key_id"]), HKDF(hashes.SHA256(), 32, salt, info).derive(z)


def test_a_wrap_key_agreed_with_the_host_never_wraps_for_export(alice: OperatorSession) -> None:
    kek, _ = host_kek(alice, exportable=True)
    mine = gen(alice, KeyType.HMAC_SHA256, exportable=True)
    assert refused(alice, Command.KEY_EXPORT, {"key_id": mine, "wrap_key_id": kek}) is Status.KEY_USE_DENIED
    assert alice.call(Command.KEY_ATTRIBUTES, {"key_id": kek}).data["known_outside"] is True


def test_a_key_imported_under_a_host_known_key_is_host_known_too(alice: OperatorSession) -> None:
    kek, kek_value = host_kek(alice)
    laundered = os.urandom(32)
    imported = alice.call(Command.KEY_IMPORT, {
        "wrap_key_id": kek, "wrapped": keywrap.aes_key_wrap_with_padding(kek_value, laundered),
        "key_type": int(KeyType.AES_256), "uses": int(KeyUse.WRAP | KeyUse.UNWRAP)}).data
    assert imported["known_outside"] is True
    mine = gen(alice, KeyType.AES_256, exportable=True)
    assert refused(alice, Command.KEY_EXPORT, {"key_id": mine, "wrap_key_id": imported["key_id"]}) \
        is Status.KEY_USE_DENIED


def test_a_host_known_key_still_wraps_a_key_the_host_knows_already(alice: OperatorSession) -> None:
    """What the lab's ACVP path needs: a result made only from values the host holds (a test key
    imported under the host KEK) goes back out under that KEK, and it is exactly what the host holds."""
    kek, kek_value = host_kek(alice)
    material = os.urandom(32)
    imported = alice.call(Command.KEY_IMPORT, {
        "wrap_key_id": kek, "wrapped": keywrap.aes_key_wrap_with_padding(kek_value, material),
        "key_type": int(KeyType.HMAC_SHA256), "uses": int(KeyUse.MAC), "exportable": True}).data
    assert imported["known_outside"] is True
    blob = alice.call(Command.KEY_EXPORT, {"key_id": imported["key_id"], "wrap_key_id": kek}).data["wrapped"]
    assert keywrap.aes_key_unwrap_with_padding(kek_value, blob) == material
    secret = gen(alice, KeyType.HMAC_SHA256, exportable=True)  # made inside: never under the host's KEK
    assert refused(alice, Command.KEY_EXPORT, {"key_id": secret, "wrap_key_id": kek}) is Status.KEY_USE_DENIED


def test_derived_agreed_and_decapsulated_keys_are_no_more_exportable_than_their_inputs(alice: OperatorSession) -> None:
    secret = gen(alice, KeyType.GENERIC_SECRET)  # not exportable
    derive = {"base_key_id": secret, "kdf": int(KdfAlg.HKDF_SHA256), "key_type": int(KeyType.HMAC_SHA256)}
    assert refused(alice, Command.DERIVE, {**derive, "exportable": True}) is Status.KEY_NOT_EXPORTABLE
    assert alice.call(Command.DERIVE, derive).data["exportable"] is False
    for kdf in KdfAlg:
        assert refused(alice, Command.DERIVE, {**derive, "kdf": int(kdf), "exportable": True}) is Status.KEY_NOT_EXPORTABLE
    pair = gen(alice, KeyType.EC_P256, uses=int(KeyUse.AGREE))
    peer = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    assert refused(alice, Command.KEY_AGREE, {"key_id": pair, "peer_public_key": peer, "exportable": True}) \
        is Status.KEY_NOT_EXPORTABLE
    kem = gen(alice, KeyType.ML_KEM_768)
    public = alice.call(Command.KEY_ATTRIBUTES, {"key_id": kem}).data["public_key"]
    _, ciphertext = mlkem.MLKEM768PublicKey.from_public_bytes(public).encapsulate()
    assert refused(alice, Command.DECAPSULATE, {"key_id": kem, "ciphertext": ciphertext, "exportable": True}) \
        is Status.KEY_NOT_EXPORTABLE
    # exportable inputs pass exportability on, and the outputs are still known outside
    open_secret = gen(alice, KeyType.GENERIC_SECRET, exportable=True)
    child = alice.call(Command.DERIVE, {**derive, "base_key_id": open_secret, "exportable": True}).data
    assert child["exportable"] is True and child["known_outside"] is False


def test_the_lab_import_path_still_imports_working_keys(alice: OperatorSession) -> None:
    kek, kek_value = host_kek(alice)
    material = os.urandom(32)
    key = alice.call(Command.KEY_IMPORT, {"wrap_key_id": kek, "key_type": int(KeyType.HMAC_SHA256),
                                          "wrapped": keywrap.aes_key_wrap_with_padding(kek_value, material),
                                          "uses": int(KeyUse.MAC)}).data
    mac = alice.call(Command.MAC_GENERATE, {"key_id": key["key_id"], "message": b"vector"}).data["mac"]
    assert mac == hmac.new(material, b"vector", hashlib.sha256).digest()


def test_a_module_made_wrap_key_still_exports_and_reimports(alice: OperatorSession) -> None:
    wrap = gen(alice, KeyType.AES_256, uses=int(KeyUse.WRAP | KeyUse.UNWRAP))
    mine = gen(alice, KeyType.HMAC_SHA256, exportable=True)
    blob = alice.call(Command.KEY_EXPORT, {"key_id": mine, "wrap_key_id": wrap}).data["wrapped"]
    back = alice.call(Command.KEY_IMPORT, {"wrap_key_id": wrap, "wrapped": blob, "key_type": int(KeyType.HMAC_SHA256)}).data
    assert back["known_outside"] is False
    macs = {alice.call(Command.MAC_GENERATE, {"key_id": k, "message": b"m"}).data["mac"] for k in (mine, back["key_id"])}
    assert len(macs) == 1
