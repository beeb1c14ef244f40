"""Power on, factory state, initialisation, zeroisation, persistence across power cycles."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit_view import sink_of
from conftest import PASSWORDS, ModuleFactory, begin_params, initialise
from firmware_sim.device import InProcessTransport
from firmware_sim.flash import DirectoryFlash
from host_tools.client import Client
from host_tools.errors import DeviceError
from module.audit.sink import RecordKind
from module.core import PoweredOff
from module.identity import IDENTITY_FLASH_NAME
from module.ports import ManualClock
from module.wire.defs import AuditEvent, Command, KeyType, State, Status


def test_power_on_lands_in_factory_state(make_module: ModuleFactory) -> None:
    module = make_module()
    assert module.state is State.UNINITIALISED
    status = module.call(Command.GET_STATUS)
    assert status.status is Status.OK and status.data["state_name"] == "UNINITIALISED"
    assert status.data["boot_counter"] == 1


def test_powered_off_module_does_not_answer(make_module: ModuleFactory) -> None:
    module = make_module(power_on=False)
    with pytest.raises(PoweredOff):
        module.call(Command.GET_STATUS)
    assert module.flash.names() == [IDENTITY_FLASH_NAME]  # the test's seeded identity; not even the ring was touched


def test_factory_credential_cannot_be_kept(make_module: ModuleFactory) -> None:
    module = make_module()
    client = Client(InProcessTransport(module))
    with client.login("co", module.config.factory_password) as factory:
        for bad in (module.config.factory_password, "short"):
            with pytest.raises(DeviceError) as info:
                factory.call(Command.INITIALISE, {"operator": "officer", "password": bad})
            assert info.value.status is Status.CREDENTIAL_REJECTED
    assert module.state is State.UNINITIALISED


def test_factory_officer_can_do_nothing_but_initialise(make_module: ModuleFactory) -> None:
    module = make_module()
    client = Client(InProcessTransport(module))
    with client.login("co", module.config.factory_password) as factory:
        with pytest.raises(DeviceError) as info:
            factory.call(Command.KEY_GENERATE, {"key_type": int(KeyType.AES_256)})
        assert info.value.status is Status.INVALID_STATE


def test_initialise_enters_approved_mode_and_removes_factory_account(make_module: ModuleFactory) -> None:
    module = make_module()
    client = initialise(module)
    assert module.state is State.OPERATIONAL
    with pytest.raises(DeviceError) as info:
        client.login("co", module.config.factory_password)
    assert info.value.status is Status.AUTH_FAILED
    events = [r.entry.detail for r in sink_of(module).records if r.entry.code == AuditEvent.STATE_CHANGE]
    assert any("UNINITIALISED->OPERATIONAL" in d for d in events)


def test_state_persists_across_power_cycle(make_module: ModuleFactory, tmp_path: Path) -> None:
    flash = DirectoryFlash(tmp_path)
    module = make_module(flash=flash)
    client = initialise(module)
    with client.login("alice", PASSWORDS["alice"]) as alice:
        key_id = alice.call(Command.KEY_GENERATE, {"key_type": int(KeyType.ED25519)}).data["key_id"]
        signature = alice.call(Command.SIGN, {"key_id": key_id, "message": b"m"}).data["signature"]
    module.power_off()
    assert module.state is State.POWER_OFF
    module2 = make_module(flash=DirectoryFlash(tmp_path))
    assert module2.state is State.OPERATIONAL and module2.boot_counter == 2
    client2 = Client(InProcessTransport(module2))
    with client2.login("alice", PASSWORDS["alice"]) as alice:
        valid = alice.call(Command.VERIFY, {"key_id": key_id, "message": b"m", "signature": signature}).data["valid"]
    assert valid is True


def test_sessions_forgotten_at_power_off(make_module: ModuleFactory) -> None:
    clock = ManualClock()
    module = make_module(clock=clock)
    client = initialise(module)
    session = client.login("alice", PASSWORDS["alice"])
    module.power_off()
    module.power_on()
    reply = module.call(Command.KEY_LIST, {}, session.session_id)
    assert reply.status is Status.SESSION_INVALID


def test_zeroise_wipes_everything_and_needs_power_cycle(make_module: ModuleFactory, tmp_path: Path) -> None:
    flash = DirectoryFlash(tmp_path)
    module = make_module(flash=flash)
    client = initialise(module)
    with client.login("alice", PASSWORDS["alice"]) as alice:
        alice.call(Command.KEY_GENERATE, {"key_type": int(KeyType.AES_256)})
    stored = [module.keys.get(1)]
    officer = client.login("officer", PASSWORDS["officer"])
    officer.call(Command.ZEROISE)
    assert module.state is State.ZEROISED
    assert all(not any(k.material) for k in stored)  # the in-memory copy was overwritten
    assert not (tmp_path / "keystore").exists() and not (tmp_path / "operators").exists()
    assert module.call(Command.GET_STATUS).status is Status.OK
    assert module.call(Command.AUTH_BEGIN, begin_params("officer")).status is Status.INVALID_STATE
    assert any(r.entry.code == AuditEvent.ZEROISATION for r in sink_of(module).records)
    module.power_off()
    module.power_on()
    assert module.state is State.UNINITIALISED
    initialise(module)
    assert module.state is State.OPERATIONAL


def test_boot_records_every_self_test(make_module: ModuleFactory) -> None:
    from module import cast

    module = make_module()
    details = [r.entry.detail for r in sink_of(module).records if r.entry.code == AuditEvent.SELF_TEST_RESULT]
    assert any(d.startswith("integrity") for d in details)
    assert any(d.startswith("HMAC_DRBG") for d in details)
    assert any(d.startswith("entropy") for d in details)
    for name in cast.CAST_NAMES:
        assert f"CAST {name}: pass" in details
    assert all(r.entry.kind is RecordKind.EVENT for r in sink_of(module).records)
