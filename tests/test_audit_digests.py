"""The request and response digests of audit records against an Auditor who guesses.

An Auditor holds the export and nothing else. A 4-digit plaintext that went into ENCRYPT and came
back out of DECRYPT has 10,000 candidates: with unkeyed SHA-256 digests each candidate is checked
against the record in a microsecond. The attack below is run against the module's real trail; a
second test runs the same attack against unkeyed digests, so the attack is known to work when the
digests would let it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Iterator
from typing import Any

from audit_view import sink_of
from conftest import PASSWORDS
from host_tools.audit_digest import check_call, find_calls
from host_tools.client import Client, OperatorSession
from module.core import Module
from module.wire.audit.record import AuditRecord, RecordKind, decode_record
from module.wire.defs import Command, KeyType, Status
from module.wire.handshake import derive_session_keys
from module.wire.params import encode_map

SECRET_PIN = b"4821"


def _unkeyed(values: dict[str, Any]) -> bytes:
    """The digest as the Auditor would try it: SHA-256 of the canonical parameter encoding."""
    return hashlib.sha256(encode_map(values)).digest()


def _candidates() -> Iterator[bytes]:
    return (f"{n:04d}".encode() for n in range(10_000))


def brute_force(records: Iterable[AuditRecord]) -> set[bytes]:
    """Every 4-digit plaintext an ENCRYPT request digest or a DECRYPT response digest gives away."""
    found: set[bytes] = set()
    for rec in records:
        if rec.kind is not RecordKind.SERVICE:
            continue
        if rec.code == Command.ENCRYPT and rec.key_ids:
            forms = ({"key_id": rec.key_ids[0], "plaintext": b""}, {"key_id": rec.key_ids[0], "plaintext": b"", "aad": b""})
            for pin in _candidates():
                if any(_unkeyed({**form, "plaintext": pin}) == rec.request_digest for form in forms):
                    found.add(pin)
        if rec.code == Command.DECRYPT:
            for pin in _candidates():
                if _unkeyed({"plaintext": pin}) == rec.response_digest:
                    found.add(pin)
    return found


def _export(auditor: OperatorSession) -> list[AuditRecord]:
    """Every retained record, as an Auditor exports them."""
    out: list[AuditRecord] = []
    seq = 0
    while True:
        page = auditor.audit.export(seq, 256)
        out += [decode_record(bytes(r)) for r in page.records]
        seq = page.first_seq + len(page.records)
        if not page.records or seq >= page.next_seq:
            return out


def _pin_round_trip(client: Client) -> tuple[OperatorSession, int]:
    """alice encrypts the PIN and decrypts it again; her session stays open for the caller."""
    alice = client.login("alice", PASSWORDS["alice"])
    key_id = alice.generate_key(KeyType.AES_256).key_id
    sealed = alice.encrypt(key_id, SECRET_PIN)
    assert alice.decrypt(key_id, sealed) == SECRET_PIN
    return alice, key_id


def test_an_auditor_with_the_export_cannot_brute_force_a_4_digit_plaintext(client: Client, module: Module) -> None:
    alice, _ = _pin_round_trip(client)
    alice.logout()
    with client.login("audrey", PASSWORDS["audrey"]) as audrey:
        records = _export(audrey)
    assert {r.code for r in records} >= {Command.ENCRYPT, Command.DECRYPT}
    assert brute_force(records) == set()


def test_the_attack_recovers_the_pin_from_unkeyed_digests() -> None:
    """The same attack on records whose digests are unkeyed SHA-256: it finds the PIN both ways."""
    encrypt = AuditRecord(RecordKind.SERVICE, 1, 1, 0, 0, bytes(8), int(Command.ENCRYPT), key_ids=(5,),
                          request_digest=_unkeyed({"key_id": 5, "plaintext": SECRET_PIN, "aad": b""}))
    decrypt = AuditRecord(RecordKind.SERVICE, 2, 1, 0, 0, bytes(8), int(Command.DECRYPT), key_ids=(5,),
                          response_digest=_unkeyed({"plaintext": SECRET_PIN}))
    assert brute_force([encrypt]) == {SECRET_PIN}
    assert brute_force([decrypt]) == {SECRET_PIN}


# ----------------------------------------------------------------------------- the calling host
def _service_records(records: list[AuditRecord], command: Command) -> list[AuditRecord]:
    return [r for r in records if r.kind is RecordKind.SERVICE and r.code == command]


def test_the_calling_host_proves_its_own_request_and_response_digests(client: Client) -> None:
    alice, key_id = _pin_round_trip(client)
    alice.logout()
    with client.login("audrey", PASSWORDS["audrey"]) as audrey:
        records = _export(audrey)
    sent = {"key_id": key_id, "plaintext": SECRET_PIN, "aad": b""}
    (encrypt,) = find_calls(records, alice.digest_key, Command.ENCRYPT, sent, session_id=alice.session_id)
    assert encrypt.session_id == alice.session_id and encrypt.operator == "alice"
    # the documented construction, computed here with hmac itself
    assert encrypt.request_digest == hmac.new(alice.digest_key, b"cmsim/audit/request/v1\0" + encode_map(sent),
                                              hashlib.sha256).digest()
    (decrypt,) = _service_records(records, Command.DECRYPT)
    assert check_call(decrypt, alice.digest_key, Command.DECRYPT,
                      {"key_id": key_id, "iv": b"", "ciphertext": b""}, {"plaintext": SECRET_PIN}).response
    # the records written as the session closed are keyed too (the key is taken before the handler wipes it)
    (logout,) = [r for r in _service_records(records, Command.LOGOUT) if r.session_id == alice.session_id]
    assert check_call(logout, alice.digest_key, Command.LOGOUT, {}, {"closed": True}).ok
    finish = [r for r in _service_records(records, Command.AUTH_FINISH) if r.session_id == alice.session_id]
    assert len(finish) == 1
    assert check_call(finish[0], alice.digest_key, Command.AUTH_FINISH, {"auth_key": bytes(32)},
                      secret={"auth_key"}).request


def test_a_wrong_session_key_proves_nothing(client: Client) -> None:
    alice, key_id = _pin_round_trip(client)
    alice.logout()
    with client.login("alice", PASSWORDS["alice"]) as later:  # alice again: a session with its own key
        later_key = later.digest_key
    with client.login("audrey", PASSWORDS["audrey"]) as audrey:
        records = _export(audrey)
        auditor_key = audrey.digest_key
    sent = {"key_id": key_id, "plaintext": SECRET_PIN, "aad": b""}
    assert later_key != alice.digest_key
    (encrypt,) = _service_records(records, Command.ENCRYPT)
    assert check_call(encrypt, alice.digest_key, Command.ENCRYPT, sent).ok  # the right key does
    for wrong in (later_key, auditor_key, bytes(32), None):
        assert not check_call(encrypt, wrong, Command.ENCRYPT, sent).request
        assert find_calls(records, wrong or bytes(32), Command.ENCRYPT, sent) == []
    assert not check_call(encrypt, alice.digest_key, Command.ENCRYPT, {**sent, "plaintext": b"4822"}).request
    assert not check_call(encrypt, alice.digest_key, Command.DECRYPT, sent).ok  # not that service's record


def test_the_digest_key_is_the_one_step_kdf_with_its_own_label() -> None:
    """SP 800-56C rev. 2 one-step KDF with SHA-256, one block: H(counter 1 || Z || label || TH)."""
    z, th = bytes(range(32)), bytes(range(100, 132))
    keys = derive_session_keys(z, th)
    assert keys.digest == hashlib.sha256(b"\0\0\0\1" + z + b"cmsim audit digest key v1" + th).digest()
    assert keys.digest not in (keys.host_to_module, keys.module_to_host, keys.confirm)


# ----------------------------------------------------------------------------- calls without a session
def test_calls_without_a_session_keep_public_digests_or_none(client: Client, module: Module) -> None:
    status = client.call(Command.GET_STATUS).data
    record = sink_of(module).records[-1]
    assert record.entry.session_id == 0
    assert record.entry.request_digest == hashlib.sha256(encode_map({})).digest()
    assert record.entry.response_digest == hashlib.sha256(encode_map(status)).digest()
    # a service that needs a session, sent in clear by mistake: refused, and nothing of it kept
    reply = client.transport.call(int(Command.ENCRYPT), {"key_id": 1, "plaintext": SECRET_PIN}, 0)
    assert reply.status is Status.NOT_AUTHENTICATED
    last = sink_of(module).records[-1].entry
    assert (last.code, last.request_digest, last.response_digest) == (Command.ENCRYPT, bytes(32), bytes(32))
