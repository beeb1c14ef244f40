"""Spot checks: claims of the security policy's prose, each tried against a running in-process module.

Each test names the phrase of docs/security_policy/security-policy.md it checks (whitespace
normalised) and fails if the phrase is gone, so the prose and its check change together. The
expected outcomes are the policy's words, not values read from the code under test.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from audit_view import sink_of
from conftest import PASSWORDS, ModuleFactory, begin_params, initialise
from firmware_sim.device import InProcessTransport
from host_tools.client import Client, OperatorSession
from host_tools.errors import DeviceError
from module import ssps
from module.core import Module
from module.ports import MemoryFlash
from module.services.catalog import SPECS
from module.wire.defs import Command, KeyType, KeyUse, Role, State, Status
from module.wire.messages import Reply

POLICY = Path(__file__).resolve().parent.parent / "docs" / "security_policy" / "security-policy.md"
TEXT = " ".join(POLICY.read_text(encoding="utf-8").split())


def claim(phrase: str) -> None:
    """The policy still says this (so the test beside it checks something the policy claims)."""
    assert " ".join(phrase.split()) in TEXT, f"the policy no longer says: {phrase!r}"


def raw(session: OperatorSession | Client, command: Command, params: Mapping[str, Any] | None = None) -> Reply:
    """One call whose refusal comes back as a reply, not an exception."""
    if isinstance(session, Client):
        return session.transport.call(int(command), dict(params or {}), 0)
    return session.client.transport.call(int(command), dict(params or {}), session.session_id)


@pytest.fixture
def module(make_module: ModuleFactory) -> Module:
    mod = make_module(flash=MemoryFlash())
    initialise(mod)
    return mod


@pytest.fixture
def client(module: Module) -> Client:
    return Client(InProcessTransport(module))


def _user_key(client: Client, key_type: KeyType = KeyType.EC_P256, **extra: Any) -> int:
    with client.login("alice", PASSWORDS["alice"]) as alice:
        return int(alice.call(Command.KEY_GENERATE, {"key_type": int(key_type), **extra}).data["key_id"])


# 1
def test_a_crypto_officer_cannot_use_a_users_key(client: Client) -> None:
    claim("Crypto Officer | initialises the module, manages operators, keys and the audit policy")
    key_id = _user_key(client)
    with client.login("officer", PASSWORDS["officer"]) as officer:
        reply = raw(officer, Command.SIGN, {"key_id": key_id, "message": b"m"})
    assert reply.status is Status.ACCESS_DENIED and "signature" not in reply.data


# 2
def test_an_illegal_request_in_a_state_gets_invalid_state(make_module: ModuleFactory) -> None:
    claim("a service called in a state that does not allow it is refused with `INVALID_STATE`")
    client = Client(InProcessTransport(make_module()))  # factory state
    with client.login("co", "cmsim-factory") as factory:
        reply = raw(factory, Command.KEY_GENERATE, {"key_type": int(KeyType.AES_256)})
    assert reply.status is Status.INVALID_STATE


# 3
def test_get_status_works_in_every_state_the_module_can_be_in(make_module: ModuleFactory) -> None:
    claim("only status information leaves the module there")
    seen = {}
    factory_fresh = make_module()
    seen[factory_fresh.state] = factory_fresh.call(Command.GET_STATUS)
    operational = make_module()
    initialise(operational)
    seen[operational.state] = operational.call(Command.GET_STATUS)
    operational.inject_fault("cast", "SHA2-256")
    operational.call(Command.SELF_TEST)
    seen[operational.state] = operational.call(Command.GET_STATUS)
    operational.inject_fault("integrity")
    operational.call(Command.SELF_TEST)
    seen[operational.state] = operational.call(Command.GET_STATUS)
    zeroised = make_module()
    client = initialise(zeroised)
    with client.login("officer", PASSWORDS["officer"]) as officer:
        officer.call(Command.ZEROISE)
    seen[zeroised.state] = zeroised.call(Command.GET_STATUS)
    assert set(seen) == set(State) - {State.POWER_OFF, State.SELF_TEST}  # SELF_TEST never outlives a call
    for state, reply in seen.items():
        assert reply.status is Status.OK and reply.data["state_name"] == state.name


# 4
def test_zeroise_removes_keys_and_operators_from_flash(make_module: ModuleFactory) -> None:
    claim("overwrites the SSPs the module holds in its stores and deletes them from flash")
    flash = MemoryFlash()
    module = make_module(flash=flash)
    client = initialise(module)
    _user_key(client)
    assert {"keystore", "operators"} <= set(flash.names())
    with client.login("officer", PASSWORDS["officer"]) as officer:
        officer.call(Command.ZEROISE)
    assert not {"keystore", "operators", "module_secret"} & set(flash.names())
    assert len(module.keys) == 0 and module.operators.all() == []


# 5
def test_an_error_state_refuses_services_with_module_error(module: Module, client: Client) -> None:
    claim("or `MODULE_ERROR` in an error state")
    alice = client.login("alice", PASSWORDS["alice"])
    module.inject_fault("cast", "AES-256-GCM encrypt")
    assert raw(client, Command.SELF_TEST).status is not Status.OK
    assert module.state is State.SOFT_ERROR
    reply = raw(alice, Command.RANDOM, {"length": 16})
    assert reply.status is Status.MODULE_ERROR and "random" not in reply.data


# 6
def test_a_non_approved_service_answers_with_the_indicator_cleared(client: Client) -> None:
    claim("the non-approved services and calls (section 2.6) never do")
    key_id = _user_key(client)
    legacy = _user_key(client, uses=int(KeyUse.SIGN_NON_APPROVED))  # a key made for the SHA-1 service alone
    with client.login("alice", PASSWORDS["alice"]) as alice:
        reply = alice.call(Command.SIGN_ECDSA_SHA1, {"key_id": legacy, "message": b"legacy"})
        approved = alice.call(Command.SIGN, {"key_id": key_id, "message": b"current"})
        mixed = raw(alice, Command.SIGN_ECDSA_SHA1, {"key_id": key_id, "message": b"legacy"})
    assert reply.status is Status.OK and reply.approved is False and approved.approved is True
    assert mixed.status is Status.KEY_USE_DENIED and mixed.approved is False  # an approved key stays approved-only


# 7
def test_a_refusal_never_carries_the_indicator(client: Client) -> None:
    claim("A refusal or a failure never carries the flag")
    with client.login("audrey", PASSWORDS["audrey"]) as auditor:
        refused = raw(auditor, Command.RANDOM, {"length": 8})
        failed = raw(auditor, Command.AUDIT_ACK, {"seq": 0, "head": bytes(32)})
    assert refused.status is Status.ACCESS_DENIED and refused.approved is False
    assert failed.status is not Status.OK and failed.approved is False


# 8
def test_a_key_not_marked_exportable_does_not_leave(client: Client) -> None:
    claim("a key leaves only if its owner exports it and it was marked exportable when it was made or imported")
    with client.login("alice", PASSWORDS["alice"]) as alice:
        kek = alice.call(Command.KEY_GENERATE, {"key_type": int(KeyType.AES_256),
                                                "uses": int(KeyUse.WRAP | KeyUse.UNWRAP)}).data["key_id"]
        secret = alice.call(Command.KEY_GENERATE, {"key_type": int(KeyType.HMAC_SHA256)}).data["key_id"]
        reply = raw(alice, Command.KEY_EXPORT, {"key_id": secret, "wrap_key_id": kek})
    assert reply.status is Status.KEY_NOT_EXPORTABLE and "wrapped" not in reply.data


# 8b
def test_a_shared_secret_made_exportable_can_be_exported_wrapped(client: Client) -> None:
    """True of today's code (section 2.8 and 9.2 say so); a change to exportability of derived and agreed
    secrets must change those sentences and module/ssps.py together with this test."""
    claim("That includes the shared secrets of `KEY_AGREE`, `ENCAPSULATE` and `DECAPSULATE`")
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    peer = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(Encoding.X962,
                                                                             PublicFormat.UncompressedPoint)
    with client.login("alice", PASSWORDS["alice"]) as alice:
        kek = alice.call(Command.KEY_GENERATE, {"key_type": int(KeyType.AES_256),
                                                "uses": int(KeyUse.WRAP | KeyUse.UNWRAP)}).data["key_id"]
        # exportable itself: an agreed secret is never more exportable than the private key behind it
        ec_key = alice.call(Command.KEY_GENERATE, {"key_type": int(KeyType.EC_P256), "exportable": True,
                                                   "uses": int(KeyUse.AGREE)}).data["key_id"]
        shared = alice.call(Command.KEY_AGREE, {"key_id": ec_key, "peer_public_key": peer, "exportable": True})
        assert "secret" not in shared.data and shared.data["origin"] == "agreed"
        reply = raw(alice, Command.KEY_EXPORT, {"key_id": shared.data["key_id"], "wrap_key_id": kek})
    assert reply.status is Status.OK and len(reply.data["wrapped"]) > 32


# 9
def test_initialisation_refuses_to_keep_the_factory_password(make_module: ModuleFactory) -> None:
    claim("initialisation refuses to keep the factory password")
    module = make_module()
    client = Client(InProcessTransport(module))
    with client.login("co", "cmsim-factory") as factory:
        reply = raw(factory, Command.INITIALISE, {"operator": "officer", "password": "cmsim-factory"})
    assert reply.status is Status.CREDENTIAL_REJECTED and module.state is State.UNINITIALISED


# 10
def test_an_unknown_operator_gets_the_answer_of_a_wrong_password(client: Client) -> None:
    claim("a wrong password and an unknown operator id get the same `AUTH_FAILED` answer")
    answers = []
    for name, password in (("alice", "not-alices-pass"), ("mallory", "a-guess-or-two")):
        with pytest.raises(DeviceError) as refused:
            client.login(name, password)
        answers.append((refused.value.status, refused.value.message))
    assert answers[0] == answers[1] and answers[0][0] is Status.AUTH_FAILED


# 11
def test_the_auditor_reads_the_trail_and_nothing_else(client: Client) -> None:
    claim("it can read, checkpoint and acknowledge the audit trail and do nothing else")
    with client.login("audrey", PASSWORDS["audrey"]) as auditor:
        assert raw(auditor, Command.AUDIT_EXPORT).status is Status.OK
        assert raw(auditor, Command.AUDIT_CHECKPOINT).status is Status.OK
        for command in (Command.KEY_GENERATE, Command.RANDOM, Command.OPERATOR_LIST, Command.ZEROISE):
            assert raw(auditor, command).status is Status.ACCESS_DENIED, command


# 12
def test_the_module_keeps_one_crypto_officer(client: Client) -> None:
    claim("The module always keeps at least one Crypto Officer (`LAST_CRYPTO_OFFICER`)")
    with client.login("officer", PASSWORDS["officer"]) as officer:
        assert raw(officer, Command.OPERATOR_DELETE, {"operator": "officer"}).status is Status.LAST_CRYPTO_OFFICER


# 13
def test_every_call_refused_ones_included_leaves_one_record(module: Module, client: Client) -> None:
    claim("Every service call leaves exactly one record, refused and failed calls included")
    view = sink_of(module)
    with client.login("alice", PASSWORDS["alice"]) as alice:
        mark = view.next_seq
        raw(alice, Command.ZEROISE)
        raw(alice, Command.KEY_ATTRIBUTES, {"key_id": 999})
        services = [r for r in view.since(mark) if r.entry.kind.name == "SERVICE"]
    assert [(Command(r.entry.code), r.entry.status) for r in services] == [
        (Command.ZEROISE, Status.ACCESS_DENIED), (Command.KEY_ATTRIBUTES, Status.KEY_NOT_FOUND)]


# 14
def test_a_record_never_contains_a_password(module: Module, client: Client) -> None:
    claim("A record **never** contains a key, a password")
    password = "bob-secret-pass-77"
    with client.login("officer", PASSWORDS["officer"]) as officer:
        officer.call(Command.OPERATOR_CREATE, {"operator": "bob", "role": int(Role.USER), "password": password})
    raw_records = module.trail.export(0, 4096)
    assert raw_records and not any(password.encode() in record for record in raw_records)


# 15
def test_after_zeroise_only_status_answers_until_a_power_cycle(module: Module, client: Client) -> None:
    claim("The module is then in `ZEROISED`, where only status answers, until a power cycle brings it back "
          "to the factory state")
    with client.login("officer", PASSWORDS["officer"]) as officer:
        officer.call(Command.ZEROISE)
    assert module.state is State.ZEROISED
    assert raw(client, Command.AUTH_BEGIN, begin_params("officer")).status is Status.INVALID_STATE
    assert raw(client, Command.GET_STATUS).status is Status.OK
    module.power_off()
    module.power_on()
    assert module.state is State.UNINITIALISED


# 16
def test_authentication_is_forgotten_at_power_off(module: Module, client: Client) -> None:
    claim("Authentication is forgotten at power-off: every session and its keys are gone")
    alice = client.login("alice", PASSWORDS["alice"])
    module.power_off()
    module.power_on()
    assert raw(alice, Command.RANDOM, {"length": 8}).status is Status.SESSION_INVALID


# 17
def test_the_audit_key_successor_survives_zeroise(make_module: ModuleFactory) -> None:
    claim("the successor, freshly generated, is kept in flash")
    flash = MemoryFlash()
    module = make_module(flash=flash)
    client = initialise(module)
    before = flash.read("audit_key")
    with client.login("officer", PASSWORDS["officer"]) as officer:
        officer.call(Command.ZEROISE)
    after = flash.read("audit_key")
    assert before and after and after != before
    assert any(s.survives_zeroise and "audit_key" in s.flash for s in ssps.SSPS)


# 18
def test_the_factory_operator_has_exactly_the_listed_services(make_module: ModuleFactory) -> None:
    """Section 4.1's generated list: INITIALISE, LOGOUT and the public services, and no other."""
    claim("a session logged in with it may call `INITIALISE`, `LOGOUT` and the public services, and every other "
          "service answers `ACCESS_DENIED`")
    rows = re.findall(r"^\| `(\w+)` \|.*\| (served|refused[^|]*) \|$", _section("factory-operator"), re.M)
    listed = {name for name, note in rows if note == "served"}
    assert "INITIALISE" in listed and not {"AUDIT_EXPORT", "AUDIT_ACK", "AUDIT_SET_POLICY", "ZEROISE"} & listed
    for spec in SPECS:
        if spec.public or Role.CRYPTO_OFFICER not in spec.roles:
            continue
        client = Client(InProcessTransport(make_module()))
        factory = client.login("co", "cmsim-factory")
        status = raw(factory, spec.command).status
        allowed = status not in (Status.ACCESS_DENIED, Status.INVALID_STATE)
        assert allowed == (spec.command.name in listed), (spec.command.name, status.name)


def _section(name: str) -> str:
    text = POLICY.read_text(encoding="utf-8")
    match = re.search(rf"<!-- begin: {name} -->\n(.*?)<!-- end: {name} -->", text, re.S)
    assert match
    return match.group(1)
