"""Power, zeroisation and self-test rules the `make mutate` runs found untested (each test names the
mutant it kills). From the security policy: ZEROISE overwrites the DRBG state, and from an error
state (no DRBG to make a successor) destroys the audit key without one; power-off forgets every
volatile secret (the DRBG's K and V among them: SP 800-90A's uninstantiate); the factory state is
UNINITIALISED until INITIALISE (the state table); every approved algorithm passes its known-answer
test before use, and a test that cannot run has not passed."""

from __future__ import annotations

import pytest

from conftest import PASSWORDS, ModuleFactory, initialise
from host_tools.client import Client
from module import cast
from module.cast import CAST_NAMES, CastFailed, run_cast
from module.core import Module
from module.ports import MemoryFlash
from module.wire.defs import Command, State, Status

AUDIT_KEY_FLASH_NAME = "audit_key"  # the flash file the security policy's SSP table names for the seed


def test_power_off_leaves_no_drbg_state(module: Module) -> None:
    """(power-off-keeps-drbg)"""
    assert not module.drbg.is_zeroised()
    module.power_off()
    assert module.drbg.is_zeroised()


def test_zeroisation_leaves_no_drbg_state(module: Module, client: Client) -> None:
    """(zeroise-drbg-kept)"""
    officer = client.login("officer", PASSWORDS["officer"])
    assert not module.drbg.is_zeroised()
    officer.call(Command.ZEROISE)
    assert module.drbg.is_zeroised()


def test_zeroisation_from_an_error_state_destroys_the_audit_keys_seed(make_module: ModuleFactory) -> None:
    """In SOFT_ERROR there is no DRBG to make a successor: the audit key signs its last checkpoint
    and its seed leaves flash (audit-key-retired-kept-in-flash)."""
    flash = MemoryFlash()
    module = make_module(flash=flash)
    client = initialise(module)
    assert flash.read(AUDIT_KEY_FLASH_NAME)
    officer = client.login("officer", PASSWORDS["officer"])
    module.inject_fault("cast", CAST_NAMES[-1])
    assert module.call(Command.SELF_TEST).status is Status.SELF_TEST_FAILED
    assert module.state is State.SOFT_ERROR
    officer.call(Command.ZEROISE)
    assert flash.read(AUDIT_KEY_FLASH_NAME) is None


def test_a_module_with_only_the_factory_credential_boots_uninitialised(make_module: ModuleFactory) -> None:
    """A factory-fresh module power-cycled before INITIALISE is still UNINITIALISED: the factory
    credential is no operator (power-factory-counts-as-initialised)."""
    flash = MemoryFlash()
    module = make_module(flash=flash)
    assert module.state is State.UNINITIALISED
    module.power_off()
    module.power_on()
    assert module.state is State.UNINITIALISED
    initialise(module)  # the factory credential still initialises it
    module.power_off()
    module.power_on()
    assert module.state is State.OPERATIONAL


@pytest.mark.parametrize("name", [CAST_NAMES[0], CAST_NAMES[-1]])
def test_a_cast_without_its_known_answer_fails(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """(cast-missing-data-passes)"""
    run_cast(name)  # the vector is there: it passes
    monkeypatch.delitem(cast.CAST_VECTORS, name)
    with pytest.raises(CastFailed):
        run_cast(name)


def test_a_module_whose_cast_data_is_missing_does_not_become_operational(
    monkeypatch: pytest.MonkeyPatch, make_module: ModuleFactory
) -> None:
    """The same at boot: the module stops in an error state, not OPERATIONAL (cast-missing-data-passes)."""
    module = make_module()
    assert module.state is State.UNINITIALISED
    monkeypatch.delitem(cast.CAST_VECTORS, CAST_NAMES[0])
    module.power_off()
    module.power_on()
    assert module.state in (State.SOFT_ERROR, State.HARD_ERROR)
