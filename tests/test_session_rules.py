"""Session and operator rules at their edges, on the manual clock: the idle and handshake timeouts
(just before and just after each), use refreshing the idle timer, a half-open login that is no
session, the delay checked again at AUTH_FINISH, the failure counter reset by a good login, who
may change whose password, and the last-Crypto-Officer guard.

The numbers come from the security policy, not from the module's configuration object: section
2.9 (a session ends after 300 s idle, an unfinished login after 30 s), section 4.2 (1 s delay
after a failure; 10 *consecutive* failures lock, so a good login starts the count again) and
section 4.1 (the module always keeps at least one Crypto Officer).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from conftest import PASSWORDS, ModuleFactory, begin_params, initialise
from firmware_sim.device import InProcessTransport
from host_tools.client import Client
from host_tools.errors import AuthenticationError, DeviceError
from module.core import Module
from module.ports import ManualClock
from module.wire.defs import Command, Role, Status
from module.wire.messages import Reply

IDLE_TIMEOUT_S = 300.0
HANDSHAKE_TIMEOUT_S = 30.0
LOCKOUT_THRESHOLD = 10
FAILURE_DELAY_S = 1.0
EPSILON_S = 0.001


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def client(make_module: ModuleFactory, clock: ManualClock) -> Client:
    return initialise(make_module(clock=clock))


def module_of(client: Client) -> Module:
    transport = client.transport
    assert isinstance(transport, InProcessTransport)
    return transport.module


def key_list(client: Client, session_id: int) -> Status:
    return module_of(client).call(Command.KEY_LIST, {}, session_id).status


def test_the_policy_numbers_are_the_defaults(client: Client) -> None:
    config = module_of(client).config
    assert (config.session_idle_timeout_s, config.handshake_timeout_s) == (IDLE_TIMEOUT_S, HANDSHAKE_TIMEOUT_S)
    assert (config.auth.lockout_threshold, config.auth.failure_delay_s) == (LOCKOUT_THRESHOLD, FAILURE_DELAY_S)


@pytest.mark.parametrize(("idle", "expected"), [(IDLE_TIMEOUT_S, Status.OK),
                                                (IDLE_TIMEOUT_S + EPSILON_S, Status.SESSION_INVALID)])
def test_idle_timeout_edge(client: Client, clock: ManualClock, idle: float, expected: Status) -> None:
    session = client.login("alice", PASSWORDS["alice"])
    clock.advance(idle)
    assert key_list(client, session.session_id) is expected


def test_use_refreshes_the_idle_timer(client: Client, clock: ManualClock) -> None:
    session = client.login("alice", PASSWORDS["alice"])
    for _ in range(3):  # 3 x 200 s since login, never more than 200 s since the last use
        clock.advance(IDLE_TIMEOUT_S * 2 / 3)
        assert key_list(client, session.session_id) is Status.OK
    clock.advance(IDLE_TIMEOUT_S + EPSILON_S)
    assert key_list(client, session.session_id) is Status.SESSION_INVALID


def test_logging_out_of_a_session_the_device_already_closed_is_not_an_error(client: Client, clock: ManualClock) -> None:
    """A LOGOUT retransmitted after its answer was lost meets a closed session: SESSION_INVALID is then
    what the host asked for, and its keys are dropped; any other refusal still raises."""
    session = client.login("alice", PASSWORDS["alice"])
    clock.advance(IDLE_TIMEOUT_S + EPSILON_S)  # the device closes it: as good as a LOGOUT that ran
    session.logout()
    assert not session.open and key_list(client, session.session_id) is Status.SESSION_INVALID


class SlowHost(InProcessTransport):
    """A host that waits ``pause`` seconds (on the manual clock) between AUTH_BEGIN and AUTH_FINISH."""

    def __init__(self, module: Module, clock: ManualClock, pause: float) -> None:
        super().__init__(module)
        self.clock, self.pause = clock, pause

    def call(self, command: int, params: Mapping[str, Any], session_id: int) -> Reply:
        if command == Command.AUTH_FINISH:
            self.clock.advance(self.pause)
        return super().call(command, params, session_id)


def test_a_half_open_login_ends_after_the_handshake_timeout(client: Client, clock: ManualClock) -> None:
    module = module_of(client)
    Client(SlowHost(module, clock, HANDSHAKE_TIMEOUT_S)).login("alice", PASSWORDS["alice"]).logout()
    with pytest.raises(DeviceError) as late:
        Client(SlowHost(module, clock, HANDSHAKE_TIMEOUT_S + EPSILON_S)).login("alice", PASSWORDS["alice"])
    assert late.value.status is Status.SESSION_INVALID
    assert len(module.sessions) == 0  # nothing half-open left behind


def test_a_good_login_resets_the_failure_counter(client: Client, clock: ManualClock) -> None:
    for _ in range(2):  # twice (threshold - 1) failures, a good login between: never locked
        for _ in range(LOCKOUT_THRESHOLD - 1):
            with pytest.raises(AuthenticationError) as failed:
                client.login("alice", "wrong-password-1")
            assert failed.value.status is Status.AUTH_FAILED
            clock.advance(FAILURE_DELAY_S)
        client.login("alice", PASSWORDS["alice"]).logout()
    with client.login("officer", PASSWORDS["officer"]) as officer:
        listed = officer.call(Command.OPERATOR_LIST).data["operators"]
    assert {(op["operator"], op["locked"], op["failures"]) for op in listed if op["operator"] == "alice"} \
        == {("alice", False, 0)}


@pytest.mark.parametrize("name", ["alice", "audrey"])
def test_only_a_crypto_officer_changes_another_operators_password(client: Client, name: str) -> None:
    with client.login(name, PASSWORDS[name]) as session:
        for target in ("officer", "alice" if name == "audrey" else "audrey"):
            with pytest.raises(DeviceError) as refused:
                session.call(Command.OPERATOR_CHANGE_PASSWORD, {"operator": target, "password": "taken-over-pw1"})
            assert refused.value.status is Status.ACCESS_DENIED
        session.call(Command.OPERATOR_CHANGE_PASSWORD, {"operator": name, "password": "my-own-new-pw1",
                                                        "current_password": PASSWORDS[name]})
    client.login("officer", PASSWORDS["officer"]).logout()  # the officer's password still works
    client.login(name, "my-own-new-pw1").logout()
    with client.login("officer", PASSWORDS["officer"]) as officer:
        officer.call(Command.OPERATOR_CHANGE_PASSWORD, {"operator": name, "password": "reset-by-co-1"})
    client.login(name, "reset-by-co-1").logout()


def test_the_last_crypto_officer_cannot_be_deleted_but_one_of_two_can(client: Client) -> None:
    with client.login("officer", PASSWORDS["officer"]) as officer:
        officer.call(Command.OPERATOR_CREATE, {"operator": "oscar", "role": int(Role.CRYPTO_OFFICER),
                                               "password": "oscar-pass-12"})
        officer.call(Command.OPERATOR_DELETE, {"operator": "oscar"})  # one of two: allowed
        with pytest.raises(DeviceError) as refused:  # the last one: refused
            officer.call(Command.OPERATOR_DELETE, {"operator": "officer"})
        assert refused.value.status is Status.LAST_CRYPTO_OFFICER
        names = {op["operator"] for op in officer.call(Command.OPERATOR_LIST).data["operators"]}
    assert names == {"officer", "alice", "audrey"}


def test_a_half_open_login_is_not_a_session(client: Client) -> None:
    module = module_of(client)
    begin = client.call(Command.AUTH_BEGIN, begin_params("alice")).data
    for command in (Command.KEY_LIST, Command.LOGOUT):
        reply = module.call(command, {}, begin["session_id"])
        assert (reply.status, reply.data) == (Status.SESSION_INVALID, {}), command.name


def test_a_login_begun_before_another_for_the_same_id_is_replaced(client: Client, clock: ManualClock) -> None:
    """One half-open login per operator id: a login begun (and failed) in between replaces this one,
    so its right password is never evaluated within the delay that failure started."""
    module = module_of(client)

    class BeganEarly(InProcessTransport):
        """Between this host's AUTH_BEGIN and AUTH_FINISH, someone else fails a login as alice."""

        def call(self, command: int, params: Mapping[str, Any], session_id: int) -> Reply:
            if command == Command.AUTH_FINISH:
                with pytest.raises(AuthenticationError):
                    client.login("alice", "wrong-password-1")
            return super().call(command, params, session_id)

    with pytest.raises(DeviceError) as replaced:
        Client(BeganEarly(module)).login("alice", PASSWORDS["alice"])
    assert replaced.value.status is Status.SESSION_INVALID
    clock.advance(FAILURE_DELAY_S)
    client.login("alice", PASSWORDS["alice"]).logout()
