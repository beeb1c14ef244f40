"""The last reachable Crypto Officer under a guessing attack (issue 14, Authentication): ten
anonymous failures must not leave the module without an officer, also across a power cycle, and
the guessing bound must still hold.

The numbers are the security policy's (section 4.2), not read from the module: 10 consecutive
failures lock an operator for 15 minutes, except the last Crypto Officer that is not locked,
which is never locked; from the 10th failure on its delay doubles from 2 s (2, 4, 8, 16, 32 s)
up to 60 s; a power cycle restarts the delay at the first attempt after power-on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from audit_view import sink_of
from conftest import PASSWORDS, ModuleFactory, initialise
from host_tools.client import Client
from host_tools.errors import AuthenticationError
from module.ports import ManualClock
from module.wire.defs import AuditEvent, Command, Role

THRESHOLD = 10
BASE_DELAY_S = 1.0
DELAY_AT_THRESHOLD_S = 2.0  # after the 10th failure
LOCKOUT_S = 900.0
# One attempt as soon as each delay allows, from the first failure: at 0, 1, ..., 9 s (the base
# delay), then 9 + 2 = 11, 11 + 4 = 15, 15 + 8 = 23, 23 + 16 = 39 s; the next, 39 + 32 = 71 s, is
# past the minute.
ATTEMPTS_IN_A_MINUTE = 14


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def client(make_module: ModuleFactory, clock: ManualClock) -> Client:
    return initialise(make_module(clock=clock))  # "officer" is the only Crypto Officer


def module_of(client: Client) -> Any:
    return client.transport.module  # type: ignore[attr-defined]


def fail(client: Client, name: str, times: int, clock: ManualClock, pause: float = BASE_DELAY_S) -> None:
    for _ in range(times):
        with pytest.raises(AuthenticationError):
            client.login(name, "anonymous-guess")
        clock.advance(pause)


def test_ten_anonymous_failures_leave_the_only_officer_able_to_log_in(client: Client, clock: ManualClock) -> None:
    fail(client, "officer", THRESHOLD - 1, clock)
    with pytest.raises(AuthenticationError):
        client.login("officer", "anonymous-guess")  # the 10th failure, at t = 9 s
    clock.advance(DELAY_AT_THRESHOLD_S)
    with client.login("officer", PASSWORDS["officer"]) as officer:
        listed = {o["operator"]: o for o in officer.call(Command.OPERATOR_LIST).data["operators"]}
    assert listed["officer"]["locked"] is False
    assert not any(r.entry.code == AuditEvent.OPERATOR_LOCKOUT for r in sink_of(module_of(client)).records)


def test_the_only_officer_logs_in_after_the_delay_across_a_power_cycle(client: Client, clock: ManualClock) -> None:
    fail(client, "officer", THRESHOLD, clock)
    module = module_of(client)
    module.power_off()
    module.power_on()
    with pytest.raises(AuthenticationError):  # the first attempt after power-on restarts the delay
        client.login("officer", PASSWORDS["officer"])
    clock.advance(DELAY_AT_THRESHOLD_S)
    client.login("officer", PASSWORDS["officer"]).logout()


def test_the_lock_still_holds_while_another_officer_is_unlocked(client: Client, clock: ManualClock) -> None:
    with client.login("officer", PASSWORDS["officer"]) as officer:
        officer.call(Command.OPERATOR_CREATE, {"operator": "second", "role": int(Role.CRYPTO_OFFICER),
                                               "password": "second-pass-1"})
    fail(client, "officer", THRESHOLD, clock)
    clock.advance(LOCKOUT_S / 2)
    with pytest.raises(AuthenticationError):
        client.login("officer", PASSWORDS["officer"])  # locked: "second" can still unlock it
    # "second" is now the last officer that is not locked: the same attack only delays it.
    fail(client, "second", THRESHOLD, clock)
    clock.advance(DELAY_AT_THRESHOLD_S)
    with client.login("second", "second-pass-1") as second:
        second.call(Command.OPERATOR_UNLOCK, {"operator": "officer"})
    client.login("officer", PASSWORDS["officer"]).logout()


def test_ordinary_operators_are_still_locked(client: Client, clock: ManualClock) -> None:
    fail(client, "alice", THRESHOLD, clock)
    clock.advance(60.0)
    with pytest.raises(AuthenticationError):
        client.login("alice", PASSWORDS["alice"])
    assert any(r.entry.code == AuditEvent.OPERATOR_LOCKOUT and r.entry.operator == "alice"
               for r in sink_of(module_of(client)).records)


def test_the_delay_escalates_to_a_cap_for_the_officer_that_is_never_locked(client: Client, clock: ManualClock) -> None:
    """After the 10th failure: 2, 4, 8, 16, 32 s, then 60 s for good; a correct password just
    short of the delay is refused, at the delay it logs in."""
    fail(client, "officer", THRESHOLD - 1, clock)
    for delay in (2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0):
        fail(client, "officer", 1, clock, pause=0.0)  # failures 10, 11, ...
        clock.advance(delay - 0.01)
        with pytest.raises(AuthenticationError):
            client.login("officer", PASSWORDS["officer"])  # within the delay: refused, not counted
        clock.advance(0.01)
    client.login("officer", PASSWORDS["officer"]).logout()


def test_guesses_at_the_never_locked_officer_in_one_minute(client: Client, clock: ManualClock) -> None:
    """Hammer the only officer for one simulated minute: the module evaluates 14 guesses, the
    policy's bound, and 14 x 95^-8 stays below FIPS 140-3's 1e-5 per minute."""
    module = module_of(client)
    before = len(sink_of(module).records)
    for step in range(601):  # one attempt every 0.1 s, from 0 s to 60 s inclusive
        with pytest.raises(AuthenticationError):
            client.login("officer", f"guess-{step:06d}")
        clock.advance(0.1)
    evaluated = sum(1 for r in sink_of(module).records[before:]
                    if r.entry.code == AuditEvent.LOGIN_FAILURE and r.entry.detail == "wrong auth key")
    assert evaluated == ATTEMPTS_IN_A_MINUTE
    assert module.config.auth.max_attempts_per_minute() == ATTEMPTS_IN_A_MINUTE
    assert ATTEMPTS_IN_A_MINUTE / 95**8 < 1e-5


def test_the_policy_and_readme_state_these_figures() -> None:
    root = Path(__file__).resolve().parents[1]
    policy = " ".join((root / "docs/security_policy/security-policy.md").read_text(encoding="utf-8").split())
    readme = " ".join((root / "README.md").read_text(encoding="utf-8").split())
    assert f"at most {ATTEMPTS_IN_A_MINUTE} attempts for one id" in policy
    assert "14 (at 0, 1, ..., 9, 11, 15, 23, 39 s)" in policy
    assert "doubling with each failure: 2, 4, 8, 16, 32, then 60 s (the cap)" in policy
    assert "The last Crypto Officer is never locked" in policy
    assert f"at most {ATTEMPTS_IN_A_MINUTE} attempts a minute, 2.1e-15 per minute" in readme
