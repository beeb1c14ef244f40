"""Each self-test forced to fail: error state, no data output, audited; recovery as documented."""

from __future__ import annotations

from typing import Any

import pytest

from audit_view import sink_of
from conftest import PASSWORDS, ModuleFactory, initialise
from firmware_sim.entropy import BiasedSource, StuckSource
from module import cast
from module.core import Module
from module.services.catalog import SPECS
from module.wire.defs import AuditEvent, Command, KeyType, State, Status

NOT_DATA = {Command.GET_STATUS, Command.GET_VERSION, Command.SELF_TEST, Command.ZEROISE, Command.LOGOUT}


def assert_no_data_output(module: Module, session_id: int) -> None:
    """Every service that could output data is refused with MODULE_ERROR and outputs nothing."""
    for spec in SPECS:
        if spec.command in NOT_DATA:
            continue
        reply = module.call(spec.command, {}, session_id)
        assert reply.status is Status.MODULE_ERROR, spec.name
        assert reply.data == {}


def login_alice(module: Module) -> int:
    from firmware_sim.device import InProcessTransport
    from host_tools.client import Client

    session = Client(InProcessTransport(module)).login("alice", PASSWORDS["alice"])
    return session.session_id


@pytest.mark.parametrize("name", cast.CAST_NAMES)
def test_cast_failure_is_a_soft_error_left_by_self_test(module: Module, name: str) -> None:
    sid = login_alice(module)
    module.inject_fault("cast", name)
    reply = module.call(Command.SELF_TEST, {}, sid)
    assert reply.status is Status.SELF_TEST_FAILED
    assert module.state is State.SOFT_ERROR
    assert name in module.status_data()["last_error"]
    assert_no_data_output(module, sid)
    status = module.call(Command.GET_STATUS, {}, sid)
    assert status.status is Status.OK and status.data["state_name"] == "SOFT_ERROR"
    assert module.call(Command.SELF_TEST, {}, sid).status is Status.OK
    assert module.state is State.OPERATIONAL
    assert module.call(Command.RANDOM, {"length": 8}, sid).status is Status.OK
    details = [r.entry.detail for r in sink_of(module).records if r.entry.code == AuditEvent.SELF_TEST_RESULT]
    assert f"CAST {name}: pass" in details and any(d.startswith(f"CAST {name}: FAIL") for d in details)


def test_cast_failure_at_power_on(make_module: ModuleFactory) -> None:
    module = make_module(power_on=False)
    module.state = State.POWER_OFF
    module.faults.corrupt_casts.add(cast.CAST_NAMES[0])
    module.power_on()
    assert module.state is State.SOFT_ERROR


def test_integrity_failure_is_hard(module: Module) -> None:
    sid = login_alice(module)
    module.inject_fault("integrity")
    assert module.call(Command.SELF_TEST, {}, sid).status is Status.SELF_TEST_FAILED
    assert module.state is State.HARD_ERROR
    assert module.call(Command.SELF_TEST, {}, sid).status is Status.MODULE_ERROR  # only a power cycle helps
    assert_no_data_output(module, sid)
    module.power_off()
    module.power_on()
    assert module.state is State.OPERATIONAL


def test_missing_seal_names_the_fix(make_module: ModuleFactory) -> None:
    module = make_module(seal=None)
    assert module.state is State.HARD_ERROR
    assert "make seal" in module.status_data()["last_error"]


def test_stale_seal_fails(make_module: ModuleFactory, seal: bytes) -> None:
    module = make_module(seal=bytes([seal[0] ^ 1]) + seal[1:])
    assert module.state is State.HARD_ERROR
    assert "does not match" in module.status_data()["last_error"]


def test_changed_code_fails_the_seal(seal: bytes) -> None:
    from firmware_sim.integrity import PackageCodeImage
    from module.integrity import check_seal
    from module.ports import StaticCodeImage

    files = dict(PackageCodeImage().files())
    assert check_seal(StaticCodeImage(files), seal) is None
    name = "core.py"
    files[name] = files[name].replace(b"Module", b"Modulf", 1)
    assert check_seal(StaticCodeImage(files), seal) is not None


def test_drbg_health_failure(module: Module) -> None:
    sid = login_alice(module)
    module.inject_fault("drbg")
    assert module.call(Command.SELF_TEST, {}, sid).status is Status.SELF_TEST_FAILED
    assert module.state is State.SOFT_ERROR
    assert_no_data_output(module, sid)


def test_pct_failure_on_generation_stores_nothing(module: Module) -> None:
    sid = login_alice(module)
    module.inject_fault("pct")
    reply = module.call(Command.KEY_GENERATE, {"key_type": int(KeyType.EC_P256)}, sid)
    assert reply.status is Status.SELF_TEST_FAILED and reply.data == {}
    assert module.state is State.SOFT_ERROR
    assert len(module.keys) == 0
    assert any(r.entry.code == AuditEvent.PCT_RESULT and "FAIL" in r.entry.detail for r in sink_of(module).records)


@pytest.mark.parametrize("source", [StuckSource(0x42), BiasedSource(0x00, 0.9, seed=1)], ids=["stuck", "biased"])
def test_bad_entropy_source_at_power_on(make_module: ModuleFactory, source: Any) -> None:
    module = make_module(entropy=source)
    assert module.state is State.SOFT_ERROR
    assert "entropy" in module.status_data()["last_error"]


def test_entropy_failure_while_operational(make_module: ModuleFactory) -> None:
    from firmware_sim.entropy import OsNoiseSource

    class Switchable:
        def __init__(self) -> None:
            self.inner: Any = OsNoiseSource()

        @property
        def min_entropy_per_sample(self) -> float:
            return float(self.inner.min_entropy_per_sample)

        def read(self, n: int) -> bytes:
            return bytes(self.inner.read(n))

    source = Switchable()
    module = make_module(entropy=source)
    initialise(module)
    sid = login_alice(module)
    source.inner = StuckSource(0x00)
    reply = module.call(Command.SELF_TEST, {}, sid)
    assert reply.status is Status.SELF_TEST_FAILED and module.state is State.SOFT_ERROR
    source.inner = OsNoiseSource()
    assert module.call(Command.SELF_TEST, {}, sid).status is Status.OK


def test_zeroise_still_possible_in_hard_error(module: Module) -> None:
    from firmware_sim.device import InProcessTransport
    from host_tools.client import Client

    officer = Client(InProcessTransport(module)).login("officer", PASSWORDS["officer"])
    module.inject_fault("integrity")
    module.call(Command.SELF_TEST, {}, officer.session_id)
    assert module.state is State.HARD_ERROR
    assert module.call(Command.ZEROISE, {}, officer.session_id).status is Status.OK
    assert module.state is State.ZEROISED
