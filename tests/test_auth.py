"""Login: mutual challenge-response, obscured feedback, delay, lockout, sessions, and the FIPS bounds."""

from __future__ import annotations

from typing import Any

import pytest

from audit_view import sink_of
from conftest import PASSWORDS, ModuleFactory, begin_params, initialise, with_config
from host_tools.client import Client
from host_tools.errors import AuthenticationError, DeviceError
from module.operators import AuthPolicy
from module.ports import ManualClock
from module.wire.defs import AuditEvent, Command, Role, Status


def module_of_client(client: Client) -> Any:
    return client.transport.module  # type: ignore[attr-defined]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def client(make_module: ModuleFactory, clock: ManualClock) -> Client:
    module = make_module(clock=clock)
    return initialise(module)


def test_login_gives_role(client: Client) -> None:
    with client.login("alice", PASSWORDS["alice"]) as session:
        assert session.role is Role.USER


def test_wrong_password_and_unknown_operator_look_alike(client: Client, clock: ManualClock) -> None:
    errors = []
    for name, password in (("alice", "wrong-password"), ("nobody", "wrong-password")):
        with pytest.raises(AuthenticationError) as info:
            client.login(name, password)
        errors.append((info.value.status, info.value.message))
        clock.advance(2)
    assert errors[0] == errors[1] == (Status.AUTH_FAILED, "authentication failed")


def test_unknown_operator_salt_is_stable(client: Client) -> None:
    salts = [
        client.call(Command.AUTH_BEGIN, begin_params("ghost")).data["salt"] for _ in range(2)
    ]
    assert salts[0] == salts[1]


def test_delay_after_failure(client: Client, clock: ManualClock) -> None:
    with pytest.raises(AuthenticationError):
        client.login("alice", "wrong-password")
    with pytest.raises(AuthenticationError) as info:
        client.login("alice", PASSWORDS["alice"])
    assert info.value.status is Status.AUTH_FAILED  # the right password within the delay answers like a wrong one
    assert sink_of(module_of_client(client)).records[-2].entry.detail.startswith("within")
    clock.advance(1.0)
    client.login("alice", PASSWORDS["alice"]).logout()


def test_lockout_and_unlock(client: Client, clock: ManualClock) -> None:
    module = client.transport.module  # type: ignore[attr-defined]
    for _ in range(module.config.auth.lockout_threshold):
        with pytest.raises(AuthenticationError):
            client.login("alice", "wrong-password")
        clock.advance(1.0)
    with pytest.raises(AuthenticationError) as info:
        client.login("alice", PASSWORDS["alice"])
    assert info.value.status is Status.AUTH_FAILED  # locked: answered like a wrong password
    assert sink_of(module_of_client(client)).records[-2].entry.detail == "operator locked after repeated failures"
    assert any(r.entry.code == AuditEvent.OPERATOR_LOCKOUT for r in sink_of(module).records)
    with client.login("officer", PASSWORDS["officer"]) as officer:
        officer.call(Command.OPERATOR_UNLOCK, {"operator": "alice"})
    client.login("alice", PASSWORDS["alice"]).logout()


def test_lock_expires_after_lockout_period(client: Client, clock: ManualClock) -> None:
    module = client.transport.module  # type: ignore[attr-defined]
    for _ in range(module.config.auth.lockout_threshold):
        with pytest.raises(AuthenticationError):
            client.login("alice", "wrong-password")
        clock.advance(1.0)
    clock.advance(module.config.auth.lockout_s)
    client.login("alice", PASSWORDS["alice"]).logout()


def test_lock_survives_power_cycle(client: Client, clock: ManualClock) -> None:
    module = client.transport.module  # type: ignore[attr-defined]
    for _ in range(module.config.auth.lockout_threshold):
        with pytest.raises(AuthenticationError):
            client.login("alice", "wrong-password")
        clock.advance(1.0)
    module.power_off()
    module.power_on()
    with pytest.raises(AuthenticationError) as info:
        client.login("alice", PASSWORDS["alice"])
    assert info.value.status is Status.AUTH_FAILED  # locked: answered like a wrong password
    assert sink_of(module_of_client(client)).records[-2].entry.detail == "operator locked after repeated failures"


def test_every_login_attempt_is_audited(client: Client, clock: ManualClock) -> None:
    module = client.transport.module  # type: ignore[attr-defined]
    before = len(sink_of(module).records)
    with pytest.raises(AuthenticationError):
        client.login("alice", "wrong-password")
    new = sink_of(module).records[before:]
    assert [r.entry.code for r in new] == [Command.AUTH_BEGIN, AuditEvent.LOGIN_FAILURE, Command.AUTH_FINISH]
    assert new[-1].entry.status is Status.AUTH_FAILED


def test_session_limit_and_idle_timeout(make_module: ModuleFactory) -> None:
    clock = ManualClock()
    module = make_module(clock=clock, config=with_config(max_sessions=2, officer_reserved_sessions=0, session_idle_timeout_s=60.0))
    client = initialise(module)
    first = client.login("alice", PASSWORDS["alice"])
    client.login("alice", PASSWORDS["alice"])
    with pytest.raises(DeviceError) as info:
        client.login("alice", PASSWORDS["alice"])
    assert info.value.status is Status.SESSION_LIMIT
    clock.advance(61)
    reply = module.call(Command.KEY_LIST, {}, first.session_id)
    assert reply.status is Status.SESSION_INVALID
    assert any(r.entry.code == AuditEvent.SESSION_EXPIRED for r in sink_of(module).records)
    client.login("alice", PASSWORDS["alice"]).logout()


def test_bad_auth_key_outputs_nothing(client: Client) -> None:
    begin = client.call(Command.AUTH_BEGIN, begin_params("alice")).data
    reply = client.transport.call(int(Command.AUTH_FINISH), {"auth_key": bytes(32)}, begin["session_id"])
    assert reply.status is Status.AUTH_FAILED and reply.data == {}


def test_auth_finish_outside_its_half_open_session_is_refused(client: Client) -> None:
    begin = client.call(Command.AUTH_BEGIN, begin_params("alice")).data
    assert client.transport.call(int(Command.AUTH_FINISH), {"auth_key": bytes(32)}, 0).status is Status.SESSION_INVALID
    assert client.transport.call(int(Command.KEY_LIST), {}, begin["session_id"]).status is Status.SESSION_INVALID


def test_fips_bounds_hold_for_the_default_policy() -> None:
    policy = AuthPolicy()
    assert policy.guess_probability_per_attempt() < 1e-6
    assert policy.guess_probability_per_minute() < 1e-5
    # The bound is the policy's, so a weaker policy must fail it: the check can fail.
    weak = AuthPolicy(min_password_length=3, alphabet_size=10, failure_delay_s=0.001, lockout_threshold=10**6)
    assert weak.guess_probability_per_attempt() >= 1e-6 or weak.guess_probability_per_minute() >= 1e-5


def test_brute_force_bound_measured_against_the_module(client: Client, clock: ManualClock) -> None:
    """Hammer the module for one simulated minute: it evaluates at most the policy's attempts."""
    module = client.transport.module  # type: ignore[attr-defined]
    policy = module.config.auth
    before = len(sink_of(module).records)
    for step in range(600):  # one attempt every 0.1 s for 60 s
        with pytest.raises(AuthenticationError):
            client.login("alice", f"guess-{step:06d}")
        clock.advance(0.1)
    # Every failure answers AUTH_FAILED; the audit says which ones had their auth key evaluated
    # (the one that locked the id is recorded as the lockout).
    evaluated = sum(1 for r in sink_of(module).records[before:]
                    if r.entry.code in (AuditEvent.LOGIN_FAILURE, AuditEvent.OPERATOR_LOCKOUT)
                    and r.entry.detail == "wrong auth key")
    assert evaluated > 1  # the count is of something that happens
    assert evaluated <= policy.max_attempts_per_minute()
    assert evaluated * policy.guess_probability_per_attempt() < 1e-5
