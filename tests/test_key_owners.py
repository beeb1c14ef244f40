"""Keys have owners (issue 14): a key belongs to the operator who made it; another User cannot
see, use, export, read or delete it, and is told exactly what a missing key id would tell; a
Crypto Officer can list and delete any key but not use or export it. Through the wire protocol."""

from __future__ import annotations

import json

import pytest

from conftest import PASSWORDS, ModuleFactory, initialise
from firmware_sim.device import InProcessTransport
from host_tools.client import Client, OperatorSession
from host_tools.errors import DeviceError
from module.ports import MemoryFlash
from module.wire.defs import Command, KdfAlg, KeyType, KeyUse, Role, State, Status

BOB_PASSWORD = "bob-password-9"


def refusal(session: OperatorSession, command: Command, params: dict[str, object]) -> tuple[Status, str]:
    with pytest.raises(DeviceError) as info:
        session.call(command, params)
    return info.value.status, info.value.message


def add_bob(client: Client) -> None:
    with client.login("officer", PASSWORDS["officer"]) as officer:
        officer.call(Command.OPERATOR_CREATE, {"operator": "bob", "role": int(Role.USER), "password": BOB_PASSWORD})


def gen(session: OperatorSession, key_type: KeyType, **extra: object) -> int:
    return int(session.call(Command.KEY_GENERATE, {"key_type": int(key_type), **extra}).data["key_id"])


def listed(session: OperatorSession) -> set[int]:
    return {int(k["key_id"]) for k in session.call(Command.KEY_LIST).data["keys"]}


def test_another_user_gets_what_a_missing_key_gets(client: Client) -> None:
    add_bob(client)
    with client.login("alice", PASSWORDS["alice"]) as alice, client.login("bob", BOB_PASSWORD) as bob:
        aes = gen(alice, KeyType.AES_256, exportable=True)
        wrap = gen(bob, KeyType.AES_256, uses=int(KeyUse.WRAP | KeyUse.UNWRAP))
        hmac_key = gen(alice, KeyType.HMAC_SHA256)
        secret = gen(alice, KeyType.GENERIC_SECRET)
        ec = gen(alice, KeyType.EC_P256)
        missing = 999
        assert listed(bob) == {wrap} and listed(alice) == {aes, hmac_key, secret, ec}
        attempts: list[tuple[Command, dict[str, object], dict[str, object]]] = [
            (Command.ENCRYPT, {"key_id": aes, "plaintext": b"x"}, {"key_id": missing, "plaintext": b"x"}),
            (Command.KEY_EXPORT, {"key_id": aes, "wrap_key_id": wrap}, {"key_id": missing, "wrap_key_id": wrap}),
            (Command.KEY_ATTRIBUTES, {"key_id": aes}, {"key_id": missing}),
            (Command.KEY_DELETE, {"key_id": aes}, {"key_id": missing}),
            (Command.MAC_GENERATE, {"key_id": hmac_key, "message": b"m"}, {"key_id": missing, "message": b"m"}),
            (Command.SIGN, {"key_id": ec, "message": b"m"}, {"key_id": missing, "message": b"m"}),
            (Command.DERIVE, {"base_key_id": secret, "kdf": int(KdfAlg.HKDF_SHA256), "key_type": int(KeyType.AES_256)},
             {"base_key_id": missing, "kdf": int(KdfAlg.HKDF_SHA256), "key_type": int(KeyType.AES_256)}),
        ]
        for command, theirs, absent in attempts:
            status, message = refusal(bob, command, theirs)
            expected_status, expected_message = refusal(bob, command, absent)
            assert status is expected_status is Status.KEY_NOT_FOUND, command.name
            foreign = theirs.get("key_id", theirs.get("base_key_id"))
            assert message == expected_message.replace(str(missing), str(foreign)), (command.name, message)
        # a wrap key of alice's is no use to bob either (and his own key does not leave under it)
        alice_wrap = gen(alice, KeyType.AES_256, uses=int(KeyUse.WRAP | KeyUse.UNWRAP))
        own = gen(bob, KeyType.AES_256, exportable=True)
        assert refusal(bob, Command.KEY_EXPORT, {"key_id": own, "wrap_key_id": alice_wrap})[0] is Status.KEY_NOT_FOUND
        # alice's keys are all still there and usable by her
        alice.call(Command.ENCRYPT, {"key_id": aes, "plaintext": b"x"})
        assert listed(alice) == {aes, hmac_key, secret, ec, alice_wrap}


def test_crypto_officer_lists_and_deletes_any_key_but_cannot_export_it(client: Client) -> None:
    with client.login("alice", PASSWORDS["alice"]) as alice:
        aes = gen(alice, KeyType.AES_256, exportable=True)
        doomed = gen(alice, KeyType.HMAC_SHA256)
    with client.login("officer", PASSWORDS["officer"]) as officer:
        wrap = gen(officer, KeyType.AES_256, uses=int(KeyUse.WRAP | KeyUse.UNWRAP))
        keys = {int(k["key_id"]): k for k in officer.call(Command.KEY_LIST).data["keys"]}
        assert keys[aes]["owner"] == "alice" and keys[wrap]["owner"] == "officer"
        assert officer.call(Command.KEY_ATTRIBUTES, {"key_id": aes}).data["owner"] == "alice"
        assert refusal(officer, Command.KEY_EXPORT, {"key_id": aes, "wrap_key_id": wrap})[0] is Status.KEY_NOT_FOUND
        officer.call(Command.KEY_DELETE, {"key_id": doomed})
        assert doomed not in listed(officer)
    with client.login("alice", PASSWORDS["alice"]) as alice:
        assert listed(alice) == {aes}


def test_owners_survive_a_power_cycle_and_old_entries_belong_to_no_user(make_module: ModuleFactory) -> None:
    flash = MemoryFlash()
    module = make_module(flash=flash)
    client = initialise(module)
    add_bob(client)
    with client.login("alice", PASSWORDS["alice"]) as alice:
        mine = gen(alice, KeyType.AES_256)
        legacy = gen(alice, KeyType.HMAC_SHA256)
    module.power_off()
    # An entry written before keys had owners: no "owner" field at all.
    doc = json.loads(flash.read("keystore") or b"")
    for entry in doc["keys"]:
        if entry["key_id"] == legacy:
            entry.pop("owner", None)
    flash.write("keystore", json.dumps(doc).encode())
    module.power_on()
    client = Client(InProcessTransport(module))
    with client.login("alice", PASSWORDS["alice"]) as alice, client.login("bob", BOB_PASSWORD) as bob:
        assert listed(alice) == {mine} and listed(bob) == set()
        assert refusal(alice, Command.MAC_GENERATE, {"key_id": legacy, "message": b"m"})[0] is Status.KEY_NOT_FOUND
        assert refusal(bob, Command.ENCRYPT, {"key_id": mine, "plaintext": b"x"})[0] is Status.KEY_NOT_FOUND
        alice.call(Command.ENCRYPT, {"key_id": mine, "plaintext": b"x"})
    with client.login("officer", PASSWORDS["officer"]) as officer:
        keys = {int(k["key_id"]): k for k in officer.call(Command.KEY_LIST).data["keys"]}
        assert keys[legacy]["owner"] == "" and keys[mine]["owner"] == "alice"
        officer.call(Command.KEY_DELETE, {"key_id": legacy})


def test_a_new_operator_with_a_deleted_operators_id_does_not_inherit_the_keys(client: Client) -> None:
    add_bob(client)
    with client.login("bob", BOB_PASSWORD) as bob:
        kept = gen(bob, KeyType.AES_256)
    with client.login("officer", PASSWORDS["officer"]) as officer:
        officer.call(Command.OPERATOR_DELETE, {"operator": "bob"})
        officer.call(Command.OPERATOR_CREATE, {"operator": "bob", "role": int(Role.USER), "password": BOB_PASSWORD})
        keys = {int(k["key_id"]): k for k in officer.call(Command.KEY_LIST).data["keys"]}
        assert keys[kept]["owner"] == ""
    with client.login("bob", BOB_PASSWORD) as bob:
        assert listed(bob) == set()


KEY_ID_PARAMS = ("key_id", "wrap_key_id", "base_key_id")


def test_every_declared_key_scope_holds_for_another_user_and_the_officer() -> None:
    """Driven by the catalogue: each service naming a stored key refuses another User with
    KEY_NOT_FOUND; a Crypto Officer reaches any key exactly where the scope is MANAGE."""
    from service_examples import EXAMPLES, prepare

    from module.services.catalog import SPECS
    from module.services.registry import KeyScope

    prepared = prepare(State.OPERATIONAL)
    client = Client(InProcessTransport(prepared.module))
    add_bob(client)
    bob = client.login("bob", BOB_PASSWORD)
    checked = 0
    for spec in SPECS:
        params = EXAMPLES[spec.command](prepared.fixture)
        if spec.key_scope is KeyScope.NONE or not set(KEY_ID_PARAMS) & set(params):
            continue
        if Role.USER in spec.roles:
            reply = prepared.module.call(spec.command, params, bob.session_id)
            assert reply.status is Status.KEY_NOT_FOUND, (spec.command.name, reply.status.name)
            checked += 1
        if Role.CRYPTO_OFFICER in spec.roles:
            reply = prepared.module.call(spec.command, params, prepared.sessions[Role.CRYPTO_OFFICER])
            officer_reaches = spec.key_scope is KeyScope.MANAGE
            assert (reply.status is not Status.KEY_NOT_FOUND) is officer_reaches, (spec.command.name, reply.status.name)
    assert checked >= 13
