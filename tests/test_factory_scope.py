"""The factory credential initialises and nothing else (issue 14): in UNINITIALISED the factory
operator runs INITIALISE, LOGOUT and the public services only, also after a zeroise and power cycle."""

from __future__ import annotations

import pytest

from conftest import PASSWORDS, ModuleFactory, initialise
from firmware_sim.device import InProcessTransport
from host_tools.client import Client
from module.core import Module
from module.ports import MemoryFlash
from module.wire.defs import Command, State, Status
from role_policy import FACTORY_CREDENTIAL, POLICY

# What the factory credential ran before the rule (issue 14), with parameters that would pass.
REFUSED = {
    Command.AUDIT_EXPORT: {},
    Command.AUDIT_CHECKPOINT: {"nonce": b"n"},
    Command.AUDIT_ACK: {"seq": 0, "head": bytes(32)},
    Command.AUDIT_SET_POLICY: {"policy": 1},
    Command.ZEROISE: {},
}


def _factory_session(module: Module) -> tuple[Client, int]:
    client = Client(InProcessTransport(module))
    session = client.login(module.config.factory_operator, module.config.factory_password)
    return client, session.session_id


def _zeroised_and_restarted(make_module: ModuleFactory) -> Module:
    flash = MemoryFlash()
    module = make_module(flash=flash)
    with initialise(module).login("officer", PASSWORDS["officer"]) as officer:
        officer.call(Command.ZEROISE)
    module.power_off()
    module.power_on()
    assert module.state is State.UNINITIALISED
    return module


@pytest.mark.parametrize("fresh", [True, False], ids=["factory-fresh", "after-zeroise"])
@pytest.mark.parametrize("command", sorted(REFUSED), ids=lambda c: c.name)
def test_the_factory_credential_is_refused_everything_but_initialise(make_module: ModuleFactory, fresh: bool,
                                                                       command: Command) -> None:
    module = make_module() if fresh else _zeroised_and_restarted(make_module)
    client, sid = _factory_session(module)
    reply = client.transport.call(int(command), REFUSED[command], sid)
    assert reply.status is Status.ACCESS_DENIED, reply.message


def test_the_factory_credential_still_initialises_and_logs_out(make_module: ModuleFactory) -> None:
    module = _zeroised_and_restarted(make_module)
    client, sid = _factory_session(module)
    assert client.transport.call(int(Command.SELF_TEST), {}, sid).status is Status.OK  # a public service
    assert client.transport.call(int(Command.LOGOUT), {}, sid).status is Status.OK
    client, sid = _factory_session(module)
    reply = client.transport.call(int(Command.INITIALISE), {"operator": "officer", "password": PASSWORDS["officer"]}, sid)
    assert reply.status is Status.OK


def test_the_hand_written_factory_set_is_initialise_and_logout() -> None:
    """The rule as the issue states it, against the hand-written table the matrix uses."""
    assert FACTORY_CREDENTIAL == {Command.INITIALISE, Command.LOGOUT}
    assert not FACTORY_CREDENTIAL & set(REFUSED)
    assert all(State.UNINITIALISED in POLICY[c].states for c in REFUSED)
