"""Every cryptographic and key-management service, through the client, with the indicator."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mlkem
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from audit_view import sink_of
from conftest import PASSWORDS
from host_tools.client import Client, OperatorSession
from host_tools.errors import DeviceError
from module.core import Module
from module.wire.defs import Command, DigestAlg, KdfAlg, KeyType, KeyUse, Status


@pytest.fixture
def alice(client: Client) -> OperatorSession:
    return client.login("alice", PASSWORDS["alice"])


def gen(session: OperatorSession, key_type: KeyType, **extra: object) -> int:
    return int(session.call(Command.KEY_GENERATE, {"key_type": int(key_type), **extra}).data["key_id"])


def status_of(session: OperatorSession, command: Command, params: dict[str, object]) -> Status:
    with pytest.raises(DeviceError) as info:
        session.call(command, params)
    return info.value.status


def test_aes_gcm_round_trip_and_tamper(alice: OperatorSession) -> None:
    kid = gen(alice, KeyType.AES_256)
    enc = alice.call(Command.ENCRYPT, {"key_id": kid, "plaintext": b"secret", "aad": b"a"})
    assert enc.approved and len(enc.data["iv"]) == 12
    params = {"key_id": kid, "iv": enc.data["iv"], "ciphertext": enc.data["ciphertext"], "aad": b"a"}
    assert alice.call(Command.DECRYPT, params).data["plaintext"] == b"secret"
    tampered = dict(params, ciphertext=bytes([params["ciphertext"][0] ^ 1]) + params["ciphertext"][1:])  # type: ignore[index]
    assert status_of(alice, Command.DECRYPT, tampered) is Status.DECRYPT_FAILED


def test_ivs_never_repeat(alice: OperatorSession) -> None:
    kid = gen(alice, KeyType.AES_256)
    ivs = {alice.call(Command.ENCRYPT, {"key_id": kid, "plaintext": b""}).data["iv"] for _ in range(50)}
    assert len(ivs) == 50


@pytest.mark.parametrize("key_type", [KeyType.EC_P256, KeyType.EC_P384, KeyType.ED25519, KeyType.ML_DSA_65])
def test_sign_verify_every_type(alice: OperatorSession, key_type: KeyType) -> None:
    kid = gen(alice, key_type)
    sig = alice.call(Command.SIGN, {"key_id": kid, "message": b"msg"}).data["signature"]
    assert alice.call(Command.VERIFY, {"key_id": kid, "message": b"msg", "signature": sig}).data["valid"] is True
    assert alice.call(Command.VERIFY, {"key_id": kid, "message": b"msh", "signature": sig}).data["valid"] is False
    public = alice.call(Command.KEY_ATTRIBUTES, {"key_id": kid}).data["public_key"]
    given = {"key_type": int(key_type), "public_key": public, "message": b"msg", "signature": sig}
    assert alice.call(Command.VERIFY, given).data["valid"] is True


def test_ecdsa_signature_checks_out_with_pyca(alice: OperatorSession) -> None:
    kid = gen(alice, KeyType.EC_P256)
    sig = alice.call(Command.SIGN, {"key_id": kid, "message": b"interop"}).data["signature"]
    point = alice.call(Command.KEY_ATTRIBUTES, {"key_id": kid}).data["public_key"]
    pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    pub.verify(der, b"interop", ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize(
    ("key_type", "curve", "hash_name", "size"),
    [(KeyType.EC_P256, ec.SECP256R1(), "sha256", 32), (KeyType.EC_P384, ec.SECP384R1(), "sha384", 48)],
)
def test_prehashed_ecdsa_is_the_signature_of_the_message(alice: OperatorSession, key_type: KeyType,
                                                         curve: ec.EllipticCurve, hash_name: str, size: int) -> None:
    """The caller hashes (hashlib); pyca verifies the result as an ordinary signature of the message."""
    kid = gen(alice, key_type)
    digest = hashlib.new(hash_name, b"hashed outside").digest()
    reply = alice.call(Command.SIGN, {"key_id": kid, "message": digest, "prehashed": True})
    assert reply.approved  # FIPS 186-5 ECDSA over an approved hash the caller computed
    sig = reply.data["signature"]
    point = alice.call(Command.KEY_ATTRIBUTES, {"key_id": kid}).data["public_key"]
    pub = ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
    der = encode_dss_signature(int.from_bytes(sig[:size], "big"), int.from_bytes(sig[size:], "big"))
    pub.verify(der, b"hashed outside", ec.ECDSA(getattr(hashes, hash_name.upper())()))
    verify = {"key_id": kid, "message": digest, "signature": sig, "prehashed": True}
    assert alice.call(Command.VERIFY, verify).data["valid"] is True
    assert alice.call(Command.VERIFY, dict(verify, prehashed=False)).data["valid"] is False  # the digest, hashed again
    wrong = bytes(size - 1)
    assert status_of(alice, Command.SIGN, {"key_id": kid, "message": wrong, "prehashed": True}) is Status.INVALID_PARAMETER
    assert status_of(alice, Command.VERIFY, dict(verify, message=digest + b"\x00")) is Status.INVALID_PARAMETER


def test_prehashed_is_ecdsa_only(alice: OperatorSession) -> None:
    for key_type in (KeyType.ED25519, KeyType.ML_DSA_65):
        kid = gen(alice, key_type)
        params = {"key_id": kid, "message": bytes(32), "prehashed": True}
        assert status_of(alice, Command.SIGN, params) is Status.INVALID_PARAMETER


def test_ed25519_signature_checks_out_with_pyca(alice: OperatorSession) -> None:
    kid = gen(alice, KeyType.ED25519)
    sig = alice.call(Command.SIGN, {"key_id": kid, "message": b"interop"}).data["signature"]
    raw = alice.call(Command.KEY_ATTRIBUTES, {"key_id": kid}).data["public_key"]
    ed25519.Ed25519PublicKey.from_public_bytes(raw).verify(sig, b"interop")


@pytest.mark.parametrize(
    ("key_type", "hash_name"),
    [(KeyType.HMAC_SHA256, "sha256"), (KeyType.HMAC_SHA384, "sha384"), (KeyType.HMAC_SHA512, "sha512")],
)
def test_hmac(alice: OperatorSession, key_type: KeyType, hash_name: str) -> None:
    kid = gen(alice, key_type)
    mac = alice.call(Command.MAC_GENERATE, {"key_id": kid, "message": b"m"}).data["mac"]
    assert len(mac) == hashlib.new(hash_name).digest_size
    assert alice.call(Command.MAC_VERIFY, {"key_id": kid, "message": b"m", "mac": mac}).data["valid"] is True
    assert alice.call(Command.MAC_VERIFY, {"key_id": kid, "message": b"n", "mac": mac}).data["valid"] is False


@pytest.mark.parametrize(
    ("alg", "name"),
    [(DigestAlg.SHA2_256, "sha256"), (DigestAlg.SHA2_384, "sha384"), (DigestAlg.SHA2_512, "sha512"),
     (DigestAlg.SHA3_256, "sha3_256"), (DigestAlg.SHA3_384, "sha3_384"), (DigestAlg.SHA3_512, "sha3_512")],
)
def test_digest_matches_hashlib(alice: OperatorSession, alg: DigestAlg, name: str) -> None:
    reply = alice.call(Command.DIGEST, {"algorithm": int(alg), "message": b"abc"})
    assert reply.data["digest"] == hashlib.new(name, b"abc").digest() and reply.approved


def test_non_approved_service_says_so(alice: OperatorSession) -> None:
    reply = alice.call(Command.DIGEST_SHA1, {"message": b"abc"})
    assert reply.data["digest"] == hashlib.sha1(b"abc").digest()
    assert reply.approved is True  # SP 800-131A Rev. 2: SHA-1 is disallowed for signatures only
    kid = gen(alice, KeyType.EC_P256, uses=int(KeyUse.SIGN_NON_APPROVED))
    assert alice.call(Command.SIGN_ECDSA_SHA1, {"key_id": kid, "message": b"x"}).approved is False


def test_random(alice: OperatorSession, module: Module) -> None:
    a = alice.call(Command.RANDOM, {"length": 32}).data["random"]
    b = alice.call(Command.RANDOM, {"length": 32}).data["random"]
    assert len(a) == 32 and a != b
    assert status_of(alice, Command.RANDOM, {"length": 0}) is Status.INVALID_PARAMETER
    assert status_of(alice, Command.RANDOM, {"length": module.config.max_random_bytes + 1}) is Status.INVALID_PARAMETER


@pytest.mark.parametrize("kdf", list(KdfAlg))
def test_derive_gives_usable_key(alice: OperatorSession, kdf: KdfAlg) -> None:
    base = gen(alice, KeyType.GENERIC_SECRET)
    params = {"base_key_id": base, "kdf": int(kdf), "key_type": int(KeyType.HMAC_SHA256), "salt": b"s", "info": b"i"}
    first = alice.call(Command.DERIVE, params).data["key_id"]
    second = alice.call(Command.DERIVE, params).data["key_id"]
    macs = [alice.call(Command.MAC_GENERATE, {"key_id": k, "message": b"m"}).data["mac"] for k in (first, second)]
    assert macs[0] == macs[1]  # same inputs, same derived key


def test_ecdh_both_sides_agree(alice: OperatorSession) -> None:
    a, b = (gen(alice, KeyType.EC_P256, uses=int(KeyUse.AGREE)) for _ in range(2))
    pub = {k: alice.call(Command.KEY_ATTRIBUTES, {"key_id": k}).data["public_key"] for k in (a, b)}
    s1 = alice.call(Command.KEY_AGREE, {"key_id": a, "peer_public_key": pub[b]}).data["key_id"]
    s2 = alice.call(Command.KEY_AGREE, {"key_id": b, "peer_public_key": pub[a]}).data["key_id"]
    derive = {"kdf": int(KdfAlg.HKDF_SHA256), "key_type": int(KeyType.HMAC_SHA256)}
    k1 = alice.call(Command.DERIVE, {"base_key_id": s1, **derive}).data["key_id"]
    k2 = alice.call(Command.DERIVE, {"base_key_id": s2, **derive}).data["key_id"]
    m = [alice.call(Command.MAC_GENERATE, {"key_id": k, "message": b"x"}).data["mac"] for k in (k1, k2)]
    assert m[0] == m[1]
    assert status_of(alice, Command.KEY_AGREE, {"key_id": a, "peer_public_key": b"\x04" + bytes(64)}) is Status.INVALID_KEY_DATA


def test_ecdh_with_external_peer(alice: OperatorSession) -> None:
    kid = gen(alice, KeyType.EC_P256, uses=int(KeyUse.AGREE))
    peer = ec.generate_private_key(ec.SECP256R1())
    point = peer.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    assert alice.call(Command.KEY_AGREE, {"key_id": kid, "peer_public_key": point}).status is Status.OK


def test_mlkem_encapsulate_decapsulate(alice: OperatorSession) -> None:
    kid = gen(alice, KeyType.ML_KEM_768)
    public = alice.call(Command.KEY_ATTRIBUTES, {"key_id": kid}).data["public_key"]
    enc = alice.call(Command.ENCAPSULATE, {"public_key": public}).data
    dec = alice.call(Command.DECAPSULATE, {"key_id": kid, "ciphertext": enc["ciphertext"]}).data
    derive = {"kdf": int(KdfAlg.HKDF_SHA256), "key_type": int(KeyType.HMAC_SHA256)}
    k1 = alice.call(Command.DERIVE, {"base_key_id": enc["key_id"], **derive}).data["key_id"]
    k2 = alice.call(Command.DERIVE, {"base_key_id": dec["key_id"], **derive}).data["key_id"]
    m = [alice.call(Command.MAC_GENERATE, {"key_id": k, "message": b"x"}).data["mac"] for k in (k1, k2)]
    assert m[0] == m[1]
    # A host-side encapsulation with pyca decapsulates inside the module too.
    shared, ct = mlkem.MLKEM768PublicKey.from_public_bytes(public).encapsulate()
    assert alice.call(Command.DECAPSULATE, {"key_id": kid, "ciphertext": ct}).status is Status.OK
    assert status_of(alice, Command.ENCAPSULATE, {"public_key": b"\x00" * 10}) is Status.INVALID_KEY_DATA


@pytest.mark.parametrize("key_type", [KeyType.AES_256, KeyType.HMAC_SHA384, KeyType.EC_P384, KeyType.ED25519, KeyType.ML_DSA_65, KeyType.ML_KEM_768])
def test_export_import_round_trip(alice: OperatorSession, key_type: KeyType) -> None:
    wrap = gen(alice, KeyType.AES_256, uses=int(KeyUse.WRAP | KeyUse.UNWRAP))
    kid = gen(alice, key_type, exportable=True)
    wrapped = alice.call(Command.KEY_EXPORT, {"key_id": kid, "wrap_key_id": wrap}).data["wrapped"]
    new = alice.call(Command.KEY_IMPORT, {"wrap_key_id": wrap, "wrapped": wrapped, "key_type": int(key_type)}).data
    old = alice.call(Command.KEY_ATTRIBUTES, {"key_id": kid}).data
    assert new["public_key"] == old["public_key"] and new["origin"] == "imported"
    bad = bytes([wrapped[0] ^ 0x80]) + wrapped[1:]
    assert status_of(alice, Command.KEY_IMPORT, {"wrap_key_id": wrap, "wrapped": bad, "key_type": int(key_type)}) is Status.DECRYPT_FAILED


def test_import_of_wrong_length_symmetric_key_refused(alice: OperatorSession) -> None:
    wrap = gen(alice, KeyType.AES_256, uses=int(KeyUse.WRAP | KeyUse.UNWRAP))
    hmac_key = gen(alice, KeyType.HMAC_SHA512, exportable=True)
    wrapped = alice.call(Command.KEY_EXPORT, {"key_id": hmac_key, "wrap_key_id": wrap}).data["wrapped"]
    assert status_of(alice, Command.KEY_IMPORT, {"wrap_key_id": wrap, "wrapped": wrapped, "key_type": int(KeyType.AES_256)}) is Status.INVALID_KEY_DATA


def test_non_exportable_key_stays_inside(alice: OperatorSession) -> None:
    wrap = gen(alice, KeyType.AES_256, uses=int(KeyUse.WRAP | KeyUse.UNWRAP))
    kid = gen(alice, KeyType.AES_256)
    assert status_of(alice, Command.KEY_EXPORT, {"key_id": kid, "wrap_key_id": wrap}) is Status.KEY_NOT_EXPORTABLE


def test_key_attributes_enforced(alice: OperatorSession) -> None:
    enc_only = gen(alice, KeyType.AES_256, uses=int(KeyUse.ENCRYPT))
    enc = alice.call(Command.ENCRYPT, {"key_id": enc_only, "plaintext": b"x"}).data
    params = {"key_id": enc_only, "iv": enc["iv"], "ciphertext": enc["ciphertext"]}
    assert status_of(alice, Command.DECRYPT, params) is Status.KEY_USE_DENIED
    assert status_of(alice, Command.KEY_GENERATE, {"key_type": int(KeyType.AES_256), "uses": int(KeyUse.SIGN)}) is Status.INVALID_PARAMETER
    hmac_key = gen(alice, KeyType.HMAC_SHA256)
    assert status_of(alice, Command.SIGN, {"key_id": hmac_key, "message": b"x"}) is Status.KEY_TYPE_MISMATCH
    assert status_of(alice, Command.SIGN, {"key_id": 999_999, "message": b"x"}) is Status.KEY_NOT_FOUND


def test_list_delete(alice: OperatorSession, module: Module) -> None:
    kid = gen(alice, KeyType.AES_256, label="temp")
    listed = alice.call(Command.KEY_LIST).data["keys"]
    assert {"key_id": kid, "label": "temp", "key_type": int(KeyType.AES_256), "owner": "alice"} in listed
    material = module.keys.get(kid).material
    alice.call(Command.KEY_DELETE, {"key_id": kid})
    assert not any(material)
    assert status_of(alice, Command.KEY_ATTRIBUTES, {"key_id": kid}) is Status.KEY_NOT_FOUND


def test_bad_parameters_refused_and_audited_once(alice: OperatorSession, module: Module) -> None:
    before = len(sink_of(module).records)
    for params in ({}, {"key_type": 9999}, {"key_type": "AES"}, {"key_type": 1, "bogus": 1}):
        assert status_of(alice, Command.KEY_GENERATE, params) is Status.INVALID_PARAMETER  # type: ignore[arg-type]
    new = sink_of(module).records[before:]
    assert len(new) == 4 and all(r.entry.status is Status.INVALID_PARAMETER for r in new)
    assert len(module.keys) == 0


def test_unknown_command_refused(client: Client, module: Module) -> None:
    reply = client.transport.call(0x7E, {}, 0)
    assert reply.status is Status.UNKNOWN_COMMAND
    assert sink_of(module).records[-1].entry.code == 0x7E


def test_audit_records_hold_no_secrets(client: Client, module: Module) -> None:
    with client.login("officer", PASSWORDS["officer"]) as officer:
        officer.call(Command.OPERATOR_CREATE, {"operator": "bob", "role": 2, "password": "bob-secret-pw"})
    for rec in sink_of(module).records:
        assert b"bob-secret-pw" not in repr(rec).encode()
    params_digest = sink_of(module).records[-2].entry.request_digest
    from module.wire.params import encode_map

    # the password left out; keyed by the session's digest key (docs/audit-format.md, "Request and response digests")
    expected = hmac.new(officer.digest_key, b"cmsim/audit/request/v1\0" + encode_map({"operator": "bob", "role": 2}),
                        hashlib.sha256).digest()
    assert params_digest == expected
