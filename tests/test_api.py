"""The typed client API: every method once, against a module behind the full frame codec and channel."""

from __future__ import annotations

import pytest

from audit_view import sink_of
from conftest import PASSWORDS
from firmware_sim.device import EndpointLine
from host_tools.audit_drain import fetch_public_key
from host_tools.client import Client
from host_tools.errors import DeviceError
from host_tools.link import WireTransport
from module.core import Module
from module.endpoint import Endpoint
from module.wire.defs import AuditPolicy, DigestAlg, KdfAlg, KeyType, KeyUse, Role, Status


@pytest.fixture
def dev(module: Module) -> Client:
    return Client(WireTransport(EndpointLine(Endpoint(module)), timeout=0.05, retries=0))


def test_key_and_crypto_methods(dev: Client) -> None:
    with dev.login("alice", PASSWORDS["alice"]) as s:
        aes = s.generate_key(KeyType.AES_256, label="data", exportable=True)
        assert aes.key_type is KeyType.AES_256 and aes.label == "data" and aes.uses & KeyUse.ENCRYPT
        box = s.encrypt(aes.key_id, b"plain", aad=b"hdr")
        assert s.decrypt(aes.key_id, box, aad=b"hdr") == b"plain"
        ec = s.generate_key(KeyType.EC_P256)
        sig = s.sign(ec.key_id, b"msg")
        assert s.verify(b"msg", sig, key_id=ec.key_id)
        assert s.verify(b"msg", sig, key_type=KeyType.EC_P256, public_key=ec.public_key)
        assert not s.verify(b"other", sig, key_id=ec.key_id)
        hmac_key = s.generate_key(KeyType.HMAC_SHA256)
        tag = s.mac(hmac_key.key_id, b"m")
        assert s.mac_verify(hmac_key.key_id, b"m", tag) and not s.mac_verify(hmac_key.key_id, b"n", tag)
        assert len(s.digest(DigestAlg.SHA3_256, b"abc")) == 32 and len(s.random(48)) == 48
        secret = s.generate_key(KeyType.GENERIC_SECRET, exportable=True)
        derived = s.derive(secret.key_id, KdfAlg.HKDF_SHA256, KeyType.AES_256, info=b"ctx", label="derived")
        assert derived.key_type is KeyType.AES_256 and derived.label == "derived"
        mine, peer = (s.generate_key(KeyType.EC_P256, uses=KeyUse.AGREE) for _ in range(2))
        agreed = s.key_agree(mine.key_id, peer.public_key)
        assert agreed.key_type is KeyType.GENERIC_SECRET
        kem = s.generate_key(KeyType.ML_KEM_768)
        shared, ct = s.encapsulate(kem.public_key)
        assert s.decapsulate(kem.key_id, ct).key_type is KeyType.GENERIC_SECRET and shared.key_id
        kek = s.generate_key(KeyType.AES_256, uses=KeyUse.WRAP | KeyUse.UNWRAP)
        wrapped = s.export_key(secret.key_id, kek.key_id)
        s.generate_key(KeyType.AES_256)  # unrelated key, to show the import gives a new id
        back = s.import_key(kek.key_id, wrapped, KeyType.GENERIC_SECRET, label="back")
        assert back.key_id != secret.key_id and s.key_attributes(back.key_id).label == "back"
        ids = [k[0] for k in s.list_keys()]
        s.delete_key(back.key_id)
        assert back.key_id in ids and back.key_id not in [k[0] for k in s.list_keys()]
        with pytest.raises(DeviceError) as info:
            s.key_attributes(back.key_id)
        assert info.value.status is Status.KEY_NOT_FOUND


def test_operator_methods(dev: Client) -> None:
    with dev.login("officer", PASSWORDS["officer"]) as s:
        s.create_operator("bob", Role.USER, "bob-password-1")
        assert ("bob", Role.USER) in [(o.operator, o.role) for o in s.list_operators()]
        s.change_password("bob-password-2", operator="bob")
        s.unlock_operator("bob")
        s.delete_operator("bob")
        assert "bob" not in [o.operator for o in s.list_operators()]


def test_audit_methods(module: Module, dev: Client) -> None:
    key = fetch_public_key(dev)
    with dev.login("officer", PASSWORDS["officer"]) as officer:
        digest = officer.audit.set_policy(AuditPolicy.BLOCK, high_water_permille=700)
        assert len(digest) == 32
    with dev.login("audrey", PASSWORDS["audrey"]) as s:
        cp = s.audit.checkpoint(b"fresh")
        page = s.audit.export(0, 5)
        assert page.first_seq == 0 and len(page.records) == 5 and page.next_seq > cp.seq
        oldest = s.audit.acknowledge(cp.seq, module.trail.chain_hash(cp.seq))  # the session's own checkpoint
        assert oldest == cp.seq + 1
    assert len(key.public_key) == 32
    assert sink_of(module).records[0].seq == cp.seq + 1
