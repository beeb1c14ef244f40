"""Password changes under attack (issue 14): a stolen session cannot keep or take over the account."""

from __future__ import annotations

import pytest

from conftest import PASSWORDS, ModuleFactory, initialise
from host_tools.client import Client
from host_tools.errors import DeviceError
from module.ports import ManualClock
from module.wire.defs import Command, Status


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def client(make_module: ModuleFactory, clock: ManualClock) -> Client:
    return initialise(make_module(clock=clock))


def _status(session: object, params: dict[str, object]) -> Status:
    try:
        session.call(Command.OPERATOR_CHANGE_PASSWORD, params)  # type: ignore[attr-defined]
    except DeviceError as exc:
        return exc.status
    return Status.OK


def test_an_own_change_needs_the_current_password(client: Client, clock: ManualClock) -> None:
    with client.login("alice", PASSWORDS["alice"]) as alice:
        assert _status(alice, {"password": "stolen-new-pw1"}) is Status.INVALID_PARAMETER
        assert _status(alice, {"password": "stolen-new-pw1", "current_password": "not-her-pw-1"}) is Status.AUTH_FAILED
        clock.advance(1.0)
        assert _status(alice, {"password": "her-new-pw-12", "current_password": PASSWORDS["alice"]}) is Status.OK
    client.login("alice", "her-new-pw-12").logout()


def test_a_wrong_current_password_is_a_failed_attempt(client: Client) -> None:
    """Within the delay a stolen session cannot try current passwords any faster than a login can."""
    with client.login("alice", PASSWORDS["alice"]) as alice:
        assert _status(alice, {"password": "stolen-new-pw1", "current_password": "not-her-pw-1"}) is Status.AUTH_FAILED
        right = _status(alice, {"password": "stolen-new-pw1", "current_password": PASSWORDS["alice"]})
    assert right is Status.AUTH_FAILED  # the right one, within the delay, answers like a wrong one


@pytest.mark.parametrize("by", ["alice", "officer"])
def test_a_change_closes_the_operators_other_sessions(client: Client, clock: ManualClock, by: str) -> None:
    stolen = client.login("alice", PASSWORDS["alice"])
    with client.login(by, PASSWORDS[by]) as changer:
        params: dict[str, object] = {"operator": "alice", "password": "fresh-alice-pw1"}
        if by == "alice":
            params["current_password"] = PASSWORDS["alice"]
        assert _status(changer, params) is Status.OK
        if by == "alice":
            assert len(changer.call(Command.RANDOM, {"length": 4}).data["random"]) == 4  # the changer's stays
    with pytest.raises(DeviceError) as closed:
        stolen.call(Command.RANDOM, {"length": 4})
    assert closed.value.status is Status.SESSION_INVALID


@pytest.mark.parametrize("weak", ["aaaaaaaa", "zzzzzzzzzzzzzzzzzzzz", "short1"])
def test_trivially_weak_passwords_are_refused(client: Client, weak: str) -> None:
    with client.login("officer", PASSWORDS["officer"]) as officer:
        with pytest.raises(DeviceError) as refused:
            officer.call(Command.OPERATOR_CREATE, {"operator": "bob", "role": 2, "password": weak})
        assert refused.value.status is Status.CREDENTIAL_REJECTED
        assert _status(officer, {"operator": "alice", "password": weak}) is Status.CREDENTIAL_REJECTED
