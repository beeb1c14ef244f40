"""Key rules the `make mutate` runs found untested (each test names the mutant it kills): one key, one
purpose (SP 800-57 part 1, 5.2: a key made to verify does not sign, one made to unwrap does not wrap,
only a derivation key derives), a key not made exportable never leaves, and a key of a symmetric type
has exactly its type's length (AES-256 32 bytes, HMAC-SHA-512 64: FIPS 197, the policy's key table).
Wrapped values are made with pyca's AES-KWP under a KEK the test knows (the lab's import path)."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import hashes, keywrap
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from conftest import PASSWORDS
from host_tools.client import Client, OperatorSession
from test_key_export_rules import gen, host_kek, refused
from module.wire.defs import Command, KdfAlg, KeyType, KeyUse, Status

KEY_LENGTHS = {KeyType.AES_256: 32, KeyType.HMAC_SHA256: 32, KeyType.HMAC_SHA384: 48, KeyType.HMAC_SHA512: 64}


@pytest.fixture
def alice(client: Client) -> OperatorSession:
    return client.login("alice", PASSWORDS["alice"])


def test_a_key_not_made_exportable_never_leaves(alice: OperatorSession) -> None:
    """KEY_EXPORT of a key generated without ``exportable`` is refused, under a wrap key that would
    wrap an exportable one (keys-exportable-unchecked)."""
    wrap = gen(alice, KeyType.AES_256, uses=int(KeyUse.WRAP))
    kept = gen(alice, KeyType.HMAC_SHA256)
    assert refused(alice, Command.KEY_EXPORT, {"key_id": kept, "wrap_key_id": wrap}) is Status.KEY_NOT_EXPORTABLE
    free = gen(alice, KeyType.HMAC_SHA256, exportable=True)
    assert alice.call(Command.KEY_EXPORT, {"key_id": free, "wrap_key_id": wrap}).data["wrapped"]


def test_a_wrap_key_wraps_and_an_unwrap_key_does_not(alice: OperatorSession) -> None:
    """Export needs a key made to WRAP: a WRAP-only key exports, an UNWRAP-only one is refused
    (keys-wrap-use-unwrap)."""
    key = gen(alice, KeyType.HMAC_SHA256, exportable=True)
    unwrap_only = gen(alice, KeyType.AES_256, uses=int(KeyUse.UNWRAP))
    assert refused(alice, Command.KEY_EXPORT, {"key_id": key, "wrap_key_id": unwrap_only}) is Status.KEY_USE_DENIED
    wrap_only = gen(alice, KeyType.AES_256, uses=int(KeyUse.WRAP))
    assert alice.call(Command.KEY_EXPORT, {"key_id": key, "wrap_key_id": wrap_only}).data["wrapped"]


@pytest.mark.parametrize("key_type", list(KEY_LENGTHS))
def test_an_imported_symmetric_key_has_exactly_its_types_length(alice: OperatorSession, key_type: KeyType) -> None:
    """Material one byte short or long, or half the length, is INVALID_KEY_DATA; the exact length
    imports (keys-symmetric-length)."""
    kek, kek_value = host_kek(alice)
    size = KEY_LENGTHS[key_type]
    uses = KeyUse.ENCRYPT if key_type is KeyType.AES_256 else KeyUse.MAC
    for length in (size // 2, size - 1, size + 1):
        wrapped = keywrap.aes_key_wrap_with_padding(kek_value, os.urandom(length))
        assert refused(alice, Command.KEY_IMPORT, {"wrap_key_id": kek, "wrapped": wrapped, "key_type": int(key_type),
                                                   "uses": int(uses)}) is Status.INVALID_KEY_DATA, length
    wrapped = keywrap.aes_key_wrap_with_padding(kek_value, os.urandom(size))
    assert alice.call(Command.KEY_IMPORT, {"wrap_key_id": kek, "wrapped": wrapped, "key_type": int(key_type),
                                           "uses": int(uses)}).data["key_type"] == int(key_type)


def test_a_verify_only_key_does_not_sign(alice: OperatorSession) -> None:
    """SIGN needs a key made to sign: a VERIFY-only P-256 key is refused, a SIGN-only one signs and
    pyca verifies the signature (crypto-sign-use)."""
    verify_only = gen(alice, KeyType.EC_P256, uses=int(KeyUse.VERIFY))
    assert refused(alice, Command.SIGN, {"key_id": verify_only, "message": b"m"}) is Status.KEY_USE_DENIED
    sign_only = alice.call(Command.KEY_GENERATE, {"key_type": int(KeyType.EC_P256), "uses": int(KeyUse.SIGN)}).data
    signature = alice.call(Command.SIGN, {"key_id": sign_only["key_id"], "message": b"m"}).data["signature"]
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sign_only["public_key"])
    assert len(signature) == 64  # r || s, 32 bytes each
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    public.verify(der, b"m", ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("key_type", [KeyType.AES_256, KeyType.HMAC_SHA256])
def test_only_a_derivation_key_derives(alice: OperatorSession, key_type: KeyType) -> None:
    """DERIVE from an encryption or MAC key is refused; from a GENERIC_SECRET (DERIVE) key it runs
    (crypto-derive-use)."""
    derive = {"kdf": int(KdfAlg.HKDF_SHA256), "key_type": int(KeyType.HMAC_SHA256)}
    other = gen(alice, key_type)
    assert refused(alice, Command.DERIVE, {**derive, "base_key_id": other}) is Status.KEY_USE_DENIED
    secret = gen(alice, KeyType.GENERIC_SECRET)
    assert alice.call(Command.DERIVE, {**derive, "base_key_id": secret}).data["key_type"] == int(KeyType.HMAC_SHA256)
