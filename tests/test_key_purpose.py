"""One key, one purpose (SP 800-57 part 1, 5.2), and non-approved services only with keys made
for them (issue 14). Expected defaults are the purposes the policy names, not the code's table."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from conftest import PASSWORDS
from host_tools.client import Client, OperatorSession
from host_tools.errors import DeviceError
from module.wire.defs import Command, KeyType, KeyUse, Status

E, D, S, V = KeyUse.ENCRYPT, KeyUse.DECRYPT, KeyUse.SIGN, KeyUse.VERIFY
DEFAULTS = {
    KeyType.AES_256: E | D, KeyType.HMAC_SHA256: KeyUse.MAC, KeyType.GENERIC_SECRET: KeyUse.DERIVE,
    KeyType.EC_P256: S | V, KeyType.EC_P384: S | V, KeyType.ED25519: S | V, KeyType.ML_DSA_65: S | V,
    KeyType.ML_KEM_768: KeyUse.DECAPSULATE,
}
TWO_PURPOSES = [
    (KeyType.EC_P256, S | KeyUse.AGREE), (KeyType.EC_P256, V | KeyUse.AGREE), (KeyType.AES_256, E | KeyUse.WRAP),
    (KeyType.AES_256, D | KeyUse.UNWRAP), (KeyType.EC_P256, S | KeyUse.SIGN_NON_APPROVED),
]


@pytest.fixture
def alice(client: Client) -> OperatorSession:
    return client.login("alice", PASSWORDS["alice"])


def uses_of(s: OperatorSession, key_type: KeyType, **extra: object) -> KeyUse:
    return KeyUse(s.call(Command.KEY_GENERATE, {"key_type": int(key_type), **extra}).data["uses"])


def refused(s: OperatorSession, command: Command, params: dict[str, object]) -> Status:
    with pytest.raises(DeviceError) as info:
        s.call(command, params)
    return info.value.status


@pytest.mark.parametrize("key_type", list(DEFAULTS))
def test_default_uses_are_one_purpose(alice: OperatorSession, key_type: KeyType) -> None:
    assert uses_of(alice, key_type) == DEFAULTS[key_type]


@pytest.mark.parametrize(("key_type", "uses"), TWO_PURPOSES)
def test_two_purposes_in_one_key_are_refused(alice: OperatorSession, key_type: KeyType, uses: KeyUse) -> None:
    assert refused(alice, Command.KEY_GENERATE, {"key_type": int(key_type), "uses": int(uses)}) is Status.INVALID_PARAMETER


def test_explicit_single_purposes_are_kept(alice: OperatorSession) -> None:
    assert uses_of(alice, KeyType.EC_P256, uses=int(KeyUse.AGREE)) == KeyUse.AGREE
    assert uses_of(alice, KeyType.AES_256, uses=int(KeyUse.WRAP | KeyUse.UNWRAP)) == KeyUse.WRAP | KeyUse.UNWRAP
    assert uses_of(alice, KeyType.AES_256, uses=int(KeyUse.DECRYPT)) == KeyUse.DECRYPT


def test_sha1_signatures_need_a_key_made_for_them_and_such_a_key_makes_no_approved_signature(
    alice: OperatorSession,
) -> None:
    approved = int(alice.call(Command.KEY_GENERATE, {"key_type": int(KeyType.EC_P256)}).data["key_id"])
    assert refused(alice, Command.SIGN_ECDSA_SHA1, {"key_id": approved, "message": b"m"}) is Status.KEY_USE_DENIED
    legacy = alice.call(Command.KEY_GENERATE, {"key_type": int(KeyType.EC_P256),
                                               "uses": int(KeyUse.SIGN_NON_APPROVED)}).data
    reply = alice.call(Command.SIGN_ECDSA_SHA1, {"key_id": legacy["key_id"], "message": b"legacy"})
    assert reply.approved is False
    sig = reply.data["signature"]
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), legacy["public_key"])
    public.verify(der, b"legacy", ec.ECDSA(hashes.SHA1()))
    assert refused(alice, Command.SIGN, {"key_id": legacy["key_id"], "message": b"m"}) is Status.KEY_USE_DENIED
