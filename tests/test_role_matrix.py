"""The role x service x state matrix, generated from the service catalogue.

Every allowed call succeeds; every forbidden one is refused with the status the declaration
implies; every call, refused or not, leaves exactly one service record; a refusal changes nothing.
"""

from __future__ import annotations

import pytest

from audit_view import sink_of
from module.audit.sink import RecordKind
from module.fsm import ERROR_STATES
from module.services.catalog import SPECS
from module.services.registry import ServiceSpec
from module.wire.defs import Command, Role, State, Status
from service_examples import DISRUPTIVE, EXAMPLES, OBSERVABLE_STATES, Prepared, prepare

_cache: dict[State, Prepared] = {}


def prepared(state: State, command: Command) -> Prepared:
    if command in DISRUPTIVE:
        return prepare(state)
    if state not in _cache:
        _cache[state] = prepare(state)
    return _cache[state]


def expected_status(spec: ServiceSpec, state: State, role: Role) -> Status | None:
    """The refusal the declaration implies, or None when the call must be served."""
    if state not in spec.states:
        return Status.MODULE_ERROR if state in ERROR_STATES else Status.INVALID_STATE
    if spec.public or spec.command is Command.AUTH_FINISH:
        return None
    if role is Role.NONE:
        return Status.NOT_AUTHENTICATED
    if role not in spec.roles:
        return Status.ACCESS_DENIED
    return None


# Served calls whose example is refused for a reason of its own (documented here, not hidden).
SERVED_BUT_REFUSED = {
    Command.AUTH_FINISH: Status.SESSION_INVALID,  # the example's session id is not a login in progress
    # seq 0 is not a checkpoint the caller's session asked for with a nonce, so nothing is freed
    # (test_audit_integration acknowledges through the session's own checkpoint).
    Command.AUDIT_ACK: Status.AUDIT_DIGEST_MISMATCH,
}
# The audit signing key is made at initialisation: a factory module has none to show or sign with.
NO_AUDIT_KEY_YET = {(Command.AUDIT_PUBKEY, State.UNINITIALISED), (Command.AUDIT_CHECKPOINT, State.UNINITIALISED)}


def served_status(command: Command, state: State) -> Status:
    if (command, state) in NO_AUDIT_KEY_YET:
        return Status.INVALID_STATE
    return SERVED_BUT_REFUSED.get(command, Status.OK)


def test_every_service_has_an_example() -> None:
    assert {spec.command for spec in SPECS} == set(EXAMPLES)


CASES = [
    pytest.param(state, role, spec, id=f"{state.name}-{role.name}-{spec.command.name}")
    for state in OBSERVABLE_STATES
    for role in Role
    for spec in SPECS
    if not (state is State.UNINITIALISED and role in (Role.USER, Role.AUDITOR))
    and not (state is State.ZEROISED and role is not Role.NONE)
]


@pytest.mark.parametrize(("state", "role", "spec"), CASES)
def test_matrix(state: State, role: Role, spec: ServiceSpec) -> None:
    prep = prepared(state, spec.command)
    module = prep.module
    sink = sink_of(module)
    before_seq = sink.next_seq
    before_keys = len(module.keys)
    reply = module.call(spec.command, EXAMPLES[spec.command](prep.fixture), prep.sessions[role])
    refusal = expected_status(spec, state, role)
    if refusal is None:
        assert reply.status is served_status(spec.command, state), reply.message
        assert reply.approved is (spec.approved and reply.status is Status.OK)
    else:
        assert reply.status is refusal, reply.message
        assert reply.data == {} and reply.approved is False
        assert module.state is state and len(module.keys) == before_keys
    services = [r for r in sink.since(before_seq) if r.entry.kind is RecordKind.SERVICE]
    assert len(services) == 1
    assert services[0].entry.code == spec.command and services[0].entry.status is reply.status
    assert services[0].entry.role is role  # the refusal is recorded against the caller
