"""What zeroisation, logout and power-off leave behind: nothing of a secret, in flash or in RAM;
and nothing leaves the module that its audit record has not reached flash for.

RAM is checked through references to the buffers the module held (taken through its public
stores before the wipe), so an object dropped without being overwritten shows up as non-zero.
"""

from __future__ import annotations

import pytest

from conftest import PASSWORDS, ModuleFactory, begin_params, initialise
from firmware_sim.faults import FaultyFlash
from host_tools.client import Client
from module.core import Module
from module.ports import MemoryFlash
from module.wire.defs import Command, KeyType, State, Status

GHOST = begin_params("ghost")  # an unknown operator: its salt is derived


def flash_blobs(flash: MemoryFlash) -> list[bytes]:
    return [blob for name in flash.names() if (blob := flash.read(name)) is not None]


def zero(buffer: bytearray) -> bool:
    return len(buffer) > 0 and not any(buffer)


def test_zeroisation_removes_the_module_secret_from_flash(make_module: ModuleFactory) -> None:
    flash = MemoryFlash()
    module = make_module(flash=flash)
    client = initialise(module)
    ghost_salt = module.call(Command.AUTH_BEGIN, GHOST).data["salt"]
    secrets = [blob for blob in flash_blobs(flash) if len(blob) >= 16]
    secret = flash.read("module_secret")
    assert secret and secret in secrets  # what the salt of an unknown operator is derived from
    with client.login("officer", PASSWORDS["officer"]) as officer:
        officer.call(Command.ZEROISE)
    assert not any(secret in blob for blob in flash_blobs(flash))
    module.power_off()
    module.power_on()
    initialise(module)
    assert module.call(Command.AUTH_BEGIN, GHOST).data["salt"] != ghost_salt  # a new secret, not the old one


def held_buffers(module: Module) -> list[bytearray]:
    keys = [key.material for key in module.keys.all()]
    verifiers = [op.verifier for op in module.operators.all()]
    assert keys and verifiers
    return keys + verifiers


def test_power_off_wipes_keys_and_verifiers_in_ram(module: Module, client: Client) -> None:
    with client.login("alice", PASSWORDS["alice"]) as alice:
        for key_type in (KeyType.AES_256, KeyType.HMAC_SHA256, KeyType.EC_P256):
            alice.call(Command.KEY_GENERATE, {"key_type": int(key_type)})
    buffers = held_buffers(module)
    module.power_off()
    assert all(zero(buffer) for buffer in buffers)
    module.power_on()  # and the keys come back from flash
    assert len(module.keys.all()) == 3


def test_logout_and_zeroise_wipe_every_session_key(module: Module, client: Client) -> None:
    for end in (Command.LOGOUT, Command.ZEROISE):
        session = client.login("officer", PASSWORDS["officer"])
        held = module.sessions.get(session.session_id)
        assert held is not None
        parts = [held.host_to_module, held.module_to_host, held.confirm_key, held.digest_key]
        assert not any(zero(part) for part in parts)
        if end is Command.LOGOUT:
            session.logout()
        else:
            session.call(end)
        assert all(zero(part) for part in parts), end.name


def test_a_result_whose_record_cannot_be_written_is_withheld(make_module: ModuleFactory) -> None:
    """Write-ahead: the audit record reaches flash before the result leaves the module."""
    flash = FaultyFlash(MemoryFlash())
    module = make_module(flash=flash)
    client = initialise(module)
    with client.login("alice", PASSWORDS["alice"]) as alice:
        flash.fail_next_write()  # RANDOM writes nothing but its record
        reply = module.call(Command.RANDOM, {"length": 32}, alice.session_id)
        assert (reply.status, reply.data, reply.approved) == (Status.FLASH_FAILURE, {}, False)
        assert len(alice.call(Command.RANDOM, {"length": 32}).data["random"]) == 32  # the next one is served


@pytest.mark.parametrize(("fault", "state"), [("cast", State.SOFT_ERROR), ("integrity", State.HARD_ERROR)])
def test_entering_an_error_state_wipes_the_drbg(module: Module, fault: str, state: State) -> None:
    from module.cast import CAST_NAMES

    assert not module.drbg.is_zeroised()
    module.inject_fault(fault, CAST_NAMES[-1] if fault == "cast" else "")
    assert module.call(Command.SELF_TEST).status is Status.SELF_TEST_FAILED
    assert module.state is state and module.drbg.is_zeroised()
