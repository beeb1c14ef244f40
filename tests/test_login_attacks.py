"""Login under attack (issue 14, Authentication): guessing around the delay and enumerating ids.

Every test drives the in-process endpoint through the wire protocol's services; expected statuses
come from the published rule (every failed AUTH_FINISH answers AUTH_FAILED), not from the code.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from audit_view import sink_of
from conftest import PASSWORDS, ModuleFactory, begin_params, initialise, with_config
from firmware_sim.device import InProcessTransport
from firmware_sim.faults import FaultyFlash
from module.ports import MemoryFlash
from host_tools.client import Client
from module.operators import AuthPolicy
from module.ports import ManualClock
from module.wire.defs import AuditEvent, Command, Status
from module.wire.handshake import NONCE_SIZE, derive_auth_key, derive_session_keys, shared_secret, transcript_hash

Finish = Callable[[str], Status]


def half_open(client: Client, operator: str) -> Finish:
    """AUTH_BEGIN now; the returned function sends AUTH_FINISH with a password's auth key later."""
    host_private = ec.generate_private_key(ec.SECP256R1())
    host_ephemeral = host_private.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    host_nonce = os.urandom(NONCE_SIZE)
    device = client.identity()
    begin = client.call(Command.AUTH_BEGIN, {"operator": operator, "host_ephemeral": host_ephemeral,
                                             "host_nonce": host_nonce}).data
    sid, salt, iterations = int(begin["session_id"]), bytes(begin["salt"]), int(begin["iterations"])
    th = transcript_hash(device.serial, operator, sid, host_ephemeral, host_nonce, bytes(begin["module_ephemeral"]),
                         bytes(begin["module_nonce"]), salt, iterations)
    keys = derive_session_keys(shared_secret(host_private, bytes(begin["module_ephemeral"])), th)
    client.transport.bind_session(sid, keys)

    def finish(password: str) -> Status:
        reply = client.transport.call(int(Command.AUTH_FINISH),
                                      {"auth_key": derive_auth_key(password, salt, iterations)}, sid)
        return reply.status

    return finish


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def client(make_module: ModuleFactory, clock: ManualClock) -> Client:
    return initialise(make_module(clock=clock))


def test_half_open_logins_opened_together_never_skip_the_delay(client: Client) -> None:
    """Eight logins begun at one instant: after the first fails, the right password on the others
    neither logs in within the delay nor answers differently from a wrong one."""
    *others, last = [half_open(client, "alice") for _ in range(8)]
    assert last("wrong-password-0") is Status.AUTH_FAILED  # the one evaluated first fails
    right = [finish(PASSWORDS["alice"]) for finish in others[:4]]
    wrong = [finish("wrong-password-1") for finish in others[4:]]
    assert Status.OK not in right
    assert set(right) == set(wrong) and len(set(right)) == 1, (right, wrong)


def test_a_login_finished_within_the_delay_fails_like_a_wrong_one(client: Client, clock: ManualClock) -> None:
    """A login begun after a failure but within the delay: right and wrong password answer alike."""
    assert half_open(client, "alice")("wrong-password-0") is Status.AUTH_FAILED
    right = half_open(client, "alice")(PASSWORDS["alice"])
    clock.advance(0.1)
    wrong = half_open(client, "alice")("wrong-password-1")
    assert right is wrong is Status.AUTH_FAILED
    clock.advance(AuthPolicy().failure_delay_s)
    assert half_open(client, "alice")(PASSWORDS["alice"]) is Status.OK


def test_one_half_open_login_per_operator_id(client: Client) -> None:
    """A second AUTH_BEGIN for the same id replaces the first (documented in the policy, 4.2)."""
    first = half_open(client, "alice")
    second = half_open(client, "alice")
    assert first(PASSWORDS["alice"]) is Status.SESSION_INVALID
    assert second(PASSWORDS["alice"]) is Status.OK


# --------------------------------------------------------------------------- enumeration
def _writes_of_failed_finish(client: Client, flash: FaultyFlash, operator: str) -> list[tuple[str, str]]:
    finish = half_open(client, operator)
    before = flash.count
    assert finish("wrong-password-0") is Status.AUTH_FAILED
    return [(p.kind, p.name) for p in flash.points[before:]]


def test_a_failed_login_does_the_same_flash_work_for_known_and_unknown_ids(make_module: ModuleFactory,
                                                                           clock: ManualClock) -> None:
    flash = FaultyFlash(MemoryFlash())
    client = initialise(make_module(flash=flash, clock=clock))
    known = _writes_of_failed_finish(client, flash, "alice")
    unknown = _writes_of_failed_finish(client, flash, "nobody")
    assert known, "a failed login for a known id writes its failure count"
    assert unknown == known


def test_unknown_ids_are_delayed_and_locked_like_known_ones(client: Client, clock: ManualClock) -> None:
    """The same answers, attempt by attempt, for a known id and an unknown one through a lockout."""
    policy = AuthPolicy()
    answers: dict[str, list[Status]] = {"alice": [], "nobody": []}
    for _ in range(policy.lockout_threshold + 2):
        for name, seen in answers.items():
            seen.append(half_open(client, name)("wrong-password-0"))
            seen.append(half_open(client, name)("wrong-password-1"))  # within the delay
        clock.advance(policy.failure_delay_s)
    assert answers["alice"] == answers["nobody"]
    assert set(answers["alice"]) == {Status.AUTH_FAILED}


def test_unknown_ids_announce_the_iterations_known_ones_do(make_module: ModuleFactory) -> None:
    """After a restart with another default iteration count, known ids keep their own count: an
    unknown id must announce one of the counts known ids announce, not the new default."""
    flash = MemoryFlash()
    initialise(make_module(flash=flash))
    restarted = Client(InProcessTransport(make_module(
        flash=flash, config=with_config(auth=AuthPolicy(pbkdf2_iterations=1500)))))
    def announced(name: str) -> int:
        return int(restarted.call(Command.AUTH_BEGIN, begin_params(name)).data["iterations"])

    known = {announced(name) for name in PASSWORDS}
    assert known == {1000}  # the counts the operators were created with
    assert {announced(f"ghost-{i}") for i in range(20)} <= known


def test_every_refused_login_does_the_same_flash_work(make_module: ModuleFactory, clock: ManualClock) -> None:
    """A failed AUTH_FINISH writes the same flash objects whatever the id: known or unknown,
    evaluated or refused within the delay, locking the id or locked already, the last Crypto
    Officer (only delayed, never locked) past its delay or within it, and again after a power
    cycle. The audit record of each attempt shows the case is the one named."""
    policy = AuthPolicy()
    flash = FaultyFlash(MemoryFlash())
    modules = [make_module(flash=flash, clock=clock)]
    client = initialise(modules[0])
    work: dict[str, list[tuple[str, str]]] = {}

    def attempt(case: str, name: str, reason: str, code: AuditEvent = AuditEvent.LOGIN_FAILURE) -> None:
        work[case] = _writes_of_failed_finish(client, flash, name)
        record = sink_of(modules[-1]).records[-2].entry  # the attempt's event, then the call's record
        assert (record.code, record.operator, record.detail.startswith(reason)) == (code, name, True), case

    attempt("known id, evaluated", "audrey", "wrong auth key")
    reference = work["known id, evaluated"]
    assert ("write", "operators") in reference, "a failed login writes the operator table"
    for failure in range(1, policy.lockout_threshold + 1):  # alice and an unknown id lock, the only officer does not
        locking = AuditEvent.OPERATOR_LOCKOUT if failure == policy.lockout_threshold else AuditEvent.LOGIN_FAILURE
        attempt(f"known id, failure {failure}", "alice", "wrong auth key", locking)
        attempt(f"unknown id, failure {failure}", "ghost", "wrong auth key", locking)
        attempt(f"last officer, failure {failure}", "officer", "wrong auth key")
        clock.advance(policy.max_failure_delay_s)
    attempt("unknown id, evaluated", "nobody", "wrong auth key")
    attempt("last officer, past its delay", "officer", "wrong auth key")
    attempt("last officer, within its delay", "officer", "within")
    attempt("known id, evaluated again", "audrey", "wrong auth key")
    attempt("known id, within the delay", "audrey", "within")
    attempt("unknown id, within the delay", "nobody", "within")
    attempt("known id, locked", "alice", "operator locked")
    attempt("unknown id, locked", "ghost", "operator locked")
    modules[0].power_off()
    modules.append(make_module(flash=flash, clock=clock))
    client = Client(InProcessTransport(modules[-1]))
    attempt("known id, locked, after a power cycle", "alice", "operator locked")
    attempt("unknown id, after a power cycle (its lock was volatile)", "ghost", "wrong auth key")
    attempt("last officer, after a power cycle", "officer", "within")
    attempt("known id, after a power cycle", "audrey", "wrong auth key")
    attempt("unknown id, after a power cycle", "nobody", "wrong auth key")
    differing = {case: writes for case, writes in work.items() if writes != reference}
    assert not differing, (reference, differing)
