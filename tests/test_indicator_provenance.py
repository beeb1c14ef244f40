"""IG 2.4.C: the approved-service indicator says what is true of each call's randomness.

ML-DSA-65 signing (hedged) and ML-KEM-768 encapsulation take their randomness from OpenSSL's RNG
inside the bound library, not from the module's DRBG: cryptography offers no way to hand them the
module's bits (tests/test_pq_casts.py checks that). Those calls are therefore not approved; key
generation for both draws only from the DRBG and stays approved, as do decapsulation,
verification and the deterministic signatures (ECDSA with RFC 6979, Ed25519).
"""

from __future__ import annotations

import pytest

from audit_view import sink_of
from conftest import PASSWORDS
from host_tools.client import Client, OperatorSession
from module.core import Module
from module.services.catalog import SERVICES
from module.audit.sink import RecordKind
from module.wire.defs import Command, KeyType


@pytest.fixture
def alice(client: Client) -> OperatorSession:
    return client.login("alice", PASSWORDS["alice"])


def generate(session: OperatorSession, key_type: KeyType) -> tuple[int, bool, bytes]:
    reply = session.call(Command.KEY_GENERATE, {"key_type": int(key_type)})
    return int(reply.data["key_id"]), reply.approved, bytes(reply.data.get("public_key", b""))


def last_service_record_approved(module: Module, command: Command) -> bool:
    record = [r for r in sink_of(module).records if r.entry.kind is RecordKind.SERVICE and r.entry.code == command][-1]
    return bool(record.entry.approved)


def test_mldsa_signing_is_not_approved_and_the_record_agrees(alice: OperatorSession, module: Module) -> None:
    key_id, keygen_approved, _ = generate(alice, KeyType.ML_DSA_65)
    assert keygen_approved, "ML-DSA key generation draws its seed from the module's DRBG"
    reply = alice.call(Command.SIGN, {"key_id": key_id, "message": b"m"})
    assert reply.data["signature"] and reply.approved is False
    assert last_service_record_approved(module, Command.SIGN) is False
    assert alice.call(Command.VERIFY, {"key_id": key_id, "message": b"m",
                                       "signature": reply.data["signature"]}).approved is True


@pytest.mark.parametrize("key_type", [KeyType.EC_P256, KeyType.EC_P384, KeyType.ED25519], ids=lambda k: k.name)
def test_deterministic_signing_stays_approved(alice: OperatorSession, module: Module, key_type: KeyType) -> None:
    key_id, _, _ = generate(alice, key_type)
    assert alice.call(Command.SIGN, {"key_id": key_id, "message": b"m"}).approved is True
    assert last_service_record_approved(module, Command.SIGN) is True


def test_mlkem_encapsulation_is_not_approved_decapsulation_is(alice: OperatorSession, module: Module) -> None:
    key_id, keygen_approved, public = generate(alice, KeyType.ML_KEM_768)
    assert keygen_approved
    enc = alice.call(Command.ENCAPSULATE, {"public_key": public})
    assert enc.data["ciphertext"] and enc.approved is False
    assert last_service_record_approved(module, Command.ENCAPSULATE) is False
    dec = alice.call(Command.DECAPSULATE, {"key_id": key_id, "ciphertext": enc.data["ciphertext"]})
    assert dec.approved is True


def test_the_catalogue_declares_it() -> None:
    assert SERVICES[Command.ENCAPSULATE].approved is False
    sign = SERVICES[Command.SIGN]
    assert sign.approved and "ML-DSA-65" in sign.not_approved_when
