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

from conftest import PASSWORDS, ModuleFactory, initialise
from host_tools.client import Client
from module.operators import AuthPolicy
from module.ports import ManualClock
from module.wire.defs import Command, Status
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
