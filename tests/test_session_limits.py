"""Sessions under attack (issue 14, Sessions): one operator cannot take every slot, a slot is kept
that only a Crypto Officer can take, and a flood of unfinished logins cannot make a login that
has begun fail.

The module tells callers apart only by session (the line is not authenticated, and every host
on the pty shares one line), so unfinished logins are bounded for all callers together. The
numbers are the security policy's (section 2.9), not read from the module: 16 sessions, at most
8 per operator, the last one for a Crypto Officer only; 32 unfinished logins, each kept at least
2 s against other ids' logins.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import PASSWORDS, ModuleFactory, begin_params, initialise
from host_tools.client import Client, OperatorSession
from host_tools.errors import DeviceError
from module.ports import ManualClock
from module.wire.defs import Command, Role, Status
from test_login_attacks import half_open

MAX_SESSIONS = 16
PER_OPERATOR = 8
OFFICER_RESERVE = 1
MAX_HALF_OPEN = 32
LOGIN_GUARD_S = 2.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def client(make_module: ModuleFactory, clock: ManualClock) -> Client:
    return initialise(make_module(clock=clock))


def open_until_refused(client: Client, name: str, password: str) -> tuple[list[OperatorSession], Status]:
    opened: list[OperatorSession] = []
    with pytest.raises(DeviceError) as refused:
        for _ in range(MAX_SESSIONS + 1):
            opened.append(client.login(name, password))
    return opened, refused.value.status


def test_an_auditor_holding_every_session_it_can_leaves_the_officer_a_login(client: Client) -> None:
    opened, status = open_until_refused(client, "audrey", PASSWORDS["audrey"])
    assert (len(opened), status) == (PER_OPERATOR, Status.SESSION_LIMIT)
    client.login("officer", PASSWORDS["officer"]).logout()


def test_the_last_slot_is_for_a_crypto_officer(client: Client) -> None:
    alice, _ = open_until_refused(client, "alice", PASSWORDS["alice"])
    audrey, status = open_until_refused(client, "audrey", PASSWORDS["audrey"])
    assert (len(alice) + len(audrey), status) == (MAX_SESSIONS - OFFICER_RESERVE, Status.SESSION_LIMIT)
    officer = client.login("officer", PASSWORDS["officer"])  # the reserved slot
    with pytest.raises(DeviceError) as full:
        client.login("officer", PASSWORDS["officer"])
    assert full.value.status is Status.SESSION_LIMIT
    for session in [*alice, *audrey, officer]:
        session.logout()


def test_a_refused_login_proved_its_password_and_counts_no_failure(client: Client) -> None:
    opened, _ = open_until_refused(client, "alice", PASSWORDS["alice"])
    opened[0].logout()
    with client.login("alice", PASSWORDS["alice"]), client.login("officer", PASSWORDS["officer"]) as officer:
        listed = {o["operator"]: o for o in officer.call(Command.OPERATOR_LIST).data["operators"]}
    assert (listed["alice"]["failures"], listed["alice"]["locked"]) == (0, False)


def test_anonymous_logins_begun_after_a_victims_do_not_make_it_fail(client: Client) -> None:
    victim = half_open(client, "alice")
    answers = [client.transport.call(int(Command.AUTH_BEGIN), begin_params(f"nobody-{i}"), 0).status
               for i in range(MAX_HALF_OPEN + 8)]
    assert victim(PASSWORDS["alice"]) is Status.OK
    assert answers[:MAX_HALF_OPEN - 1] == [Status.OK] * (MAX_HALF_OPEN - 1)  # the victim holds one
    assert set(answers[MAX_HALF_OPEN - 1:]) == {Status.SESSION_LIMIT}  # the flood is refused, not the victim


def test_after_the_guard_a_new_login_evicts_the_oldest_unfinished_one(client: Client, clock: ManualClock) -> None:
    stale = half_open(client, "alice")
    for i in range(MAX_HALF_OPEN - 1):
        clock.advance(0.001)
        client.transport.call(int(Command.AUTH_BEGIN), begin_params(f"nobody-{i}"), 0)
    clock.advance(LOGIN_GUARD_S + 0.001)
    client.login("audrey", PASSWORDS["audrey"]).logout()  # room made by evicting the oldest: alice's
    assert stale(PASSWORDS["alice"]) is Status.SESSION_INVALID


def test_a_flood_of_logins_never_ends_an_open_session(client: Client, clock: ManualClock) -> None:
    officer = client.login("officer", PASSWORDS["officer"])
    for i in range(2 * MAX_HALF_OPEN):
        clock.advance(LOGIN_GUARD_S / 4)  # the oldest unfinished logins are past the guard: evicted
        client.transport.call(int(Command.AUTH_BEGIN), begin_params(f"nobody-{i}"), 0)
    assert officer.call(Command.OPERATOR_LIST).status is Status.OK
    officer.logout()


def test_unfinished_logins_take_no_session_slot(client: Client, clock: ManualClock) -> None:
    for i in range(MAX_HALF_OPEN):
        client.transport.call(int(Command.AUTH_BEGIN), begin_params(f"nobody-{i}"), 0)
    clock.advance(LOGIN_GUARD_S + 0.001)
    opened, status = open_until_refused(client, "alice", PASSWORDS["alice"])
    assert (len(opened), status) == (PER_OPERATOR, Status.SESSION_LIMIT)
    with client.login("officer", PASSWORDS["officer"]) as officer:
        assert officer.role is Role.CRYPTO_OFFICER


def test_the_docs_state_these_limits() -> None:
    root = Path(__file__).resolve().parents[1]
    policy = " ".join((root / "docs/security_policy/security-policy.md").read_text(encoding="utf-8").split())
    protocol = " ".join((root / "docs/protocol.md").read_text(encoding="utf-8").split())
    assert f"holds at most {PER_OPERATOR} of the {MAX_SESSIONS} sessions" in policy
    assert f"all callers together, at {MAX_HALF_OPEN}, and keeps each at least {LOGIN_GUARD_S:g} s" in policy
    assert f"at most {MAX_SESSIONS} sessions are open. An operator holds at most {PER_OPERATOR}" in protocol
    assert f"at most {MAX_HALF_OPEN} are held for all hosts together, and each is kept at least {LOGIN_GUARD_S:g} s" in protocol
