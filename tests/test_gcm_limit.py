"""AES-GCM with random IVs: at most 2^32 invocations per key (SP 800-38D 8.3), counted across
power cycles (issue 14). The limit is a configuration value so the test can use a small one; the
count is reserved in flash ahead of use in steps, so a power cut skips counts, never reuses one."""

from __future__ import annotations

import pytest

from conftest import PASSWORDS, ModuleFactory, initialise, with_config
from firmware_sim.device import InProcessTransport
from host_tools.client import Client, OperatorSession
from host_tools.errors import DeviceError
from module.core import ModuleConfig
from module.ports import MemoryFlash
from module.wire.defs import Command, KeyType, Status

LIMIT, STEP = 5, 2


class CountingFlash(MemoryFlash):
    def __init__(self) -> None:
        super().__init__()
        self.writes: dict[str, int] = {}

    def write(self, name: str, data: bytes) -> None:
        self.writes[name] = self.writes.get(name, 0) + 1
        super().write(name, data)


def encrypt(s: OperatorSession, key_id: int) -> Status:
    try:
        s.call(Command.ENCRYPT, {"key_id": key_id, "plaintext": b"p"})
    except DeviceError as exc:
        return exc.status
    return Status.OK


def test_the_default_limit_is_two_to_the_32() -> None:
    assert ModuleConfig().gcm_invocation_limit == 2**32


def test_the_count_survives_power_cycles_and_the_limit_is_refused(make_module: ModuleFactory) -> None:
    flash = CountingFlash()
    module = make_module(flash=flash, config=with_config(gcm_invocation_limit=LIMIT, gcm_reservation_step=STEP))
    initialise(module)
    client = Client(InProcessTransport(module))
    with client.login("alice", PASSWORDS["alice"]) as alice:
        kid = int(alice.call(Command.KEY_GENERATE, {"key_type": int(KeyType.AES_256)}).data["key_id"])
        other = int(alice.call(Command.KEY_GENERATE, {"key_type": int(KeyType.AES_256)}).data["key_id"])
        before = flash.writes.get("keystore", 0)
        assert [encrypt(alice, kid) for _ in range(3)] == [Status.OK] * 3
        assert flash.writes["keystore"] - before == 2  # reserved 0..2, then 2..4: one write per step
    served = 3
    for _ in range(3):
        module.power_off()
        module.power_on()
        with client.login("alice", PASSWORDS["alice"]) as alice:
            results = [encrypt(alice, kid) for _ in range(LIMIT)]
        served += results.count(Status.OK)
        assert set(results) <= {Status.OK, Status.KEY_USAGE_EXHAUSTED}
        assert results[-1] is Status.KEY_USAGE_EXHAUSTED
    assert served <= LIMIT  # never more invocations than the limit, whatever the power did
    with client.login("alice", PASSWORDS["alice"]) as alice:
        with pytest.raises(DeviceError) as info:
            alice.call(Command.ENCRYPT, {"key_id": kid, "plaintext": b"p"})
        assert "2^32" in info.value.message or str(LIMIT) in info.value.message
        assert encrypt(alice, other) is Status.OK  # counted per key
