"""Login, session and operator rules the `make mutate` runs found untested (each test names the mutant
it kills). From the security policy: a session ends at LOGOUT, timeout, eviction of an unfinished
login, lockout and OPERATOR_DELETE (its SSP table); a failed attempt delays the next by 1 s, 10
failures lock, a Crypto Officer may unlock (section 4); passwords are 8 to 128 characters. Stated
here, as what a reviewer would expect: an operator has a role (NONE is none); an unlock starts the
failure count from zero; a full table evicts the unfinished login begun first; a host forgets the
sessions INITIALISE ends."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from conftest import PASSWORDS, ModuleFactory, begin_params, initialise, with_config
from firmware_sim.device import EndpointLine, InProcessTransport
from host_tools.client import Client
from host_tools.errors import AuthenticationError, DeviceError, TransportError
from host_tools.link import WireTransport
from module.core import Module
from module.endpoint import Endpoint
from module.ports import ManualClock
from module.wire.defs import Command, Role, Status
from module.wire.messages import Reply

FAILURE_DELAY_S = 1.0
LOCKOUT_THRESHOLD = 10
MIN_PASSWORD_LENGTH = 8
WRONG_AUTH_KEY = bytes(32)  # the auth key is 32 bytes; no password derives to all zeros


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def module(make_module: ModuleFactory, clock: ManualClock) -> Module:
    mod = make_module(clock=clock)
    initialise(mod)
    return mod


@pytest.fixture
def client(module: Module) -> Client:
    return Client(InProcessTransport(module))


def key_list(module: Module, session_id: int) -> Status:
    return module.call(Command.KEY_LIST, {}, session_id).status


def failures_of(client: Client, name: str) -> tuple[bool, int]:
    with client.login("officer", PASSWORDS["officer"]) as officer:
        listed = officer.call(Command.OPERATOR_LIST).data["operators"]
    (entry,) = [op for op in listed if op["operator"] == name]
    return entry["locked"], entry["failures"]


def fail_logins(client: Client, clock: ManualClock, name: str, times: int) -> None:
    for _ in range(times):
        with pytest.raises(AuthenticationError):
            client.login(name, "wrong-password-1")
        clock.advance(FAILURE_DELAY_S)


def test_a_failed_login_cannot_be_retried_on_its_session(module: Module, clock: ManualClock) -> None:
    """A wrong auth key ends the half-open login: a second guess needs a new AUTH_BEGIN (and so a new
    signed handshake), even after the failure delay (auth-failed-session-kept)."""

    class SecondGuess(InProcessTransport):
        """Sends a wrong auth key first, waits out the delay, then the right one on the same session."""

        first: Reply | None = None

        def call(self, command: int, params: Mapping[str, Any], session_id: int) -> Reply:
            if command == Command.AUTH_FINISH:
                self.first = super().call(command, {"auth_key": WRONG_AUTH_KEY}, session_id)
                clock.advance(FAILURE_DELAY_S)
            return super().call(command, params, session_id)

    host = SecondGuess(module)
    with pytest.raises(DeviceError) as second:
        Client(host).login("alice", PASSWORDS["alice"])
    assert host.first is not None and host.first.status is Status.AUTH_FAILED
    assert second.value.status is Status.SESSION_INVALID
    assert len(module.sessions) == 0


def test_auth_finish_on_an_open_session_is_refused_and_changes_nothing(module: Module, client: Client) -> None:
    """AUTH_FINISH belongs to a login in progress: on an authenticated session it is SESSION_INVALID,
    whatever key it carries, and neither ends the session nor counts a failure (auth-finish-twice)."""
    session = client.login("alice", PASSWORDS["alice"])
    reply = module.call(Command.AUTH_FINISH, {"auth_key": WRONG_AUTH_KEY}, session.session_id)
    assert reply.status is Status.SESSION_INVALID
    assert key_list(module, session.session_id) is Status.OK
    session.logout()
    assert failures_of(client, "alice") == (False, 0)


def test_a_lockout_ends_the_operators_open_sessions(module: Module, client: Client, clock: ManualClock) -> None:
    """Ten failures lock the id, and the sessions it already has end with the lock (a password being
    guessed is a password that may be known) (auth-lock-keeps-sessions)."""
    session = client.login("alice", PASSWORDS["alice"])
    other = client.login("officer", PASSWORDS["officer"])
    fail_logins(client, clock, "alice", LOCKOUT_THRESHOLD)
    assert key_list(module, session.session_id) is Status.SESSION_INVALID
    assert key_list(module, other.session_id) is Status.OK  # another operator's session is untouched
    assert failures_of(client, "alice")[0] is True


def test_deleting_an_operator_ends_its_sessions(module: Module, client: Client) -> None:
    """A deleted operator's open session is closed with it (operators-delete-keeps-sessions)."""
    with client.login("officer", PASSWORDS["officer"]) as officer:
        officer.call(Command.OPERATOR_CREATE, {"operator": "bob", "role": int(Role.USER), "password": "bob-pass-123"})
        bob = client.login("bob", "bob-pass-123")
        assert key_list(module, bob.session_id) is Status.OK
        officer.call(Command.OPERATOR_DELETE, {"operator": "bob"})
        assert key_list(module, bob.session_id) is Status.SESSION_INVALID
        assert key_list(module, officer.session_id) is Status.OK


def test_an_operator_needs_a_role(client: Client) -> None:
    """Role NONE (0) is no role: OPERATOR_CREATE refuses it and stores nothing (operators-create-without-role)."""
    with client.login("officer", PASSWORDS["officer"]) as officer:
        with pytest.raises(DeviceError) as refused:
            officer.call(Command.OPERATOR_CREATE, {"operator": "nobody", "role": 0, "password": "nobody-pass-1"})
        assert refused.value.status is Status.INVALID_PARAMETER
        names = {op["operator"] for op in officer.call(Command.OPERATOR_LIST).data["operators"]}
    assert names == {"officer", "alice", "audrey"}


def test_an_unlock_starts_the_failure_count_again(client: Client, clock: ManualClock) -> None:
    """After OPERATOR_UNLOCK one mistake is one failure, not an eleventh: the operator is not locked
    again by it and logs in after the delay (operators-unlock-keeps-failures)."""
    fail_logins(client, clock, "alice", LOCKOUT_THRESHOLD)
    assert failures_of(client, "alice")[0] is True
    with client.login("officer", PASSWORDS["officer"]) as officer:
        officer.call(Command.OPERATOR_UNLOCK, {"operator": "alice"})
    assert failures_of(client, "alice") == (False, 0)
    fail_logins(client, clock, "alice", 1)
    assert failures_of(client, "alice") == (False, 1)
    client.login("alice", PASSWORDS["alice"]).logout()


@pytest.mark.parametrize(("length", "accepted"), [(MIN_PASSWORD_LENGTH - 1, False), (MIN_PASSWORD_LENGTH, True)])
def test_the_shortest_allowed_password_is_eight_characters(client: Client, length: int, accepted: bool) -> None:
    """8 characters is allowed, 7 is not (password-min-length-off-by-one)."""
    password = "abcdefghij"[:length]
    with client.login("officer", PASSWORDS["officer"]) as officer:
        params = {"operator": "bob", "role": int(Role.USER), "password": password}
        if accepted:
            officer.call(Command.OPERATOR_CREATE, params)
        else:
            with pytest.raises(DeviceError) as refused:
                officer.call(Command.OPERATOR_CREATE, params)
            assert refused.value.status is Status.CREDENTIAL_REJECTED
    if accepted:
        client.login("bob", password).logout()


def test_a_full_table_evicts_the_oldest_unfinished_login(make_module: ModuleFactory, clock: ManualClock) -> None:
    """With every place for unfinished logins taken, past each one's guard time, a new AUTH_BEGIN
    evicts the one begun first, and the newer ones stay (sessions-evict-newest)."""
    module = make_module(clock=clock, config=with_config(max_unfinished_logins=3, login_guard_s=2.0))
    client = initialise(module)
    begun = []
    for name in ("alice", "audrey", "officer"):
        begun.append(client.call(Command.AUTH_BEGIN, begin_params(name)).data["session_id"])
        clock.advance(1.0)
    clock.advance(2.0)  # every one past its guard (the newest by 2 s)
    newest = client.call(Command.AUTH_BEGIN, begin_params("nobody")).data["session_id"]
    assert begun[0] not in module.sessions
    assert all(sid in module.sessions for sid in (*begun[1:], newest))


def test_the_failure_delay_is_a_whole_second(client: Client, clock: ManualClock) -> None:
    """Half a second after a failure the right password still fails; a second after, it logs in
    (auth-delay-unit)."""
    with pytest.raises(AuthenticationError):
        client.login("alice", "wrong-password-1")
    clock.advance(FAILURE_DELAY_S / 2)
    with pytest.raises(AuthenticationError):  # refused for the delay: not counted, the delay not restarted
        client.login("alice", PASSWORDS["alice"])
    clock.advance(FAILURE_DELAY_S / 2)
    client.login("alice", PASSWORDS["alice"]).logout()


def test_an_own_password_change_waits_out_the_failure_delay(client: Client, clock: ManualClock) -> None:
    """The current password proves who changes it like a login does: within the delay after a failed
    login, even the right one is AUTH_FAILED and nothing changes; after it, the change goes through
    (auth-begin-no-lock-check)."""
    change = {"password": "alice-new-pass-1", "current_password": PASSWORDS["alice"]}
    with client.login("alice", PASSWORDS["alice"]) as alice:
        with pytest.raises(AuthenticationError):
            client.login("alice", "wrong-password-1")
        with pytest.raises(DeviceError) as early:
            alice.call(Command.OPERATOR_CHANGE_PASSWORD, change)
        assert early.value.status is Status.AUTH_FAILED
        clock.advance(FAILURE_DELAY_S)
        client.login("alice", PASSWORDS["alice"]).logout()  # the old password still holds
        clock.advance(FAILURE_DELAY_S)
        alice.call(Command.OPERATOR_CHANGE_PASSWORD, change)
    client.login("alice", "alice-new-pass-1").logout()


def test_the_host_forgets_the_factory_session_after_initialise(make_module: ModuleFactory) -> None:
    """INITIALISE ends every session on the device, the factory credential's too: the host marks its
    session closed and drops its keys (client-initialise-keeps-session)."""
    module = make_module()
    client = Client(WireTransport(EndpointLine(Endpoint(module)), timeout=0.05, retries=0))
    factory = client.login(module.config.factory_operator, module.config.factory_password)
    factory.call(Command.INITIALISE, {"operator": "officer", "password": PASSWORDS["officer"]})
    assert factory.open is False
    with pytest.raises(TransportError):  # the host holds no keys for it any more
        client.call(Command.KEY_LIST, {}, factory.session_id)
