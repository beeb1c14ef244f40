"""The role x service x state matrix, against the role policy written down by hand.

Every allowed call succeeds; every forbidden one is refused with the status the published policy
implies (``role_policy.py``, checked here against docs/security_policy/security-policy.md); every
call, refused or not, leaves exactly one service record; a refusal changes nothing. The catalogue
is not consulted for the expected answers: a wrong declaration there fails this test.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from audit_view import sink_of
from module.audit.sink import RecordKind
from module.services.catalog import SPECS
from module.wire.defs import Command, Role, State, Status
from role_policy import LAB_ONLY, POLICY, expected_status
from service_examples import DISRUPTIVE, EXAMPLES, OBSERVABLE_STATES, Prepared, prepare

POLICY_DOC = Path(__file__).resolve().parent.parent / "docs" / "security_policy" / "security-policy.md"
_cache: dict[State, Prepared] = {}


def prepared(state: State, command: Command) -> Prepared:
    if command in DISRUPTIVE:
        return prepare(state)
    if state not in _cache:
        _cache[state] = prepare(state)
    return _cache[state]


# Served calls whose example is refused for a reason of its own (documented here, not hidden).
SERVED_BUT_REFUSED = {
    Command.AUTH_FINISH: Status.SESSION_INVALID,  # the example's session id is not a login in progress
    # seq 0 is not a checkpoint the caller's session asked for with a nonce, so nothing is freed
    # (test_audit_integration acknowledges through the session's own checkpoint).
    Command.AUDIT_ACK: Status.AUDIT_DIGEST_MISMATCH,
}
# The examples' keys are the User's: a Crypto Officer may not use or export them (KeyScope.OWN),
# and is told what a missing key id tells (see tests/test_key_owners.py).
OTHERS_KEYS_UNREACHABLE = {Command.KEY_IMPORT, Command.KEY_EXPORT}
# The audit signing key is made at initialisation: a factory module has none to show or sign with.
NO_AUDIT_KEY_YET = {(Command.AUDIT_PUBKEY, State.UNINITIALISED), (Command.AUDIT_CHECKPOINT, State.UNINITIALISED)}


def served_status(command: Command, state: State, role: Role = Role.USER) -> Status:
    if command in LAB_ONLY:
        return Status.UNKNOWN_COMMAND  # these modules are not in lab mode (tests/test_lab_algorithm_test.py is)
    if (command, state) in NO_AUDIT_KEY_YET:
        return Status.INVALID_STATE
    if command is Command.OPERATOR_CHANGE_PASSWORD and role is not Role.USER:
        return Status.AUTH_FAILED  # the example's current password is the User's, not the caller's
    if role is Role.CRYPTO_OFFICER and command in OTHERS_KEYS_UNREACHABLE and state is State.OPERATIONAL:
        return Status.KEY_NOT_FOUND
    return SERVED_BUT_REFUSED.get(command, Status.OK)


def test_every_service_has_an_example_and_a_hand_written_rule() -> None:
    assert {spec.command for spec in SPECS} == set(EXAMPLES) == set(POLICY)


def _doc_table(name: str) -> list[list[str]]:
    text = POLICY_DOC.read_text(encoding="utf-8")
    block = text.split(f"<!-- begin: {name} -->")[1].split(f"<!-- end: {name} -->")[0]
    rows = [line for line in block.strip().splitlines() if line.startswith("|")][2:]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


DOC_ROLES = {"Unauthenticated": Role.NONE, "Crypto Officer": Role.CRYPTO_OFFICER, "User": Role.USER,
             "Auditor": Role.AUDITOR}
DOC_STATE_COLUMNS = (State.POWER_OFF, State.SELF_TEST, State.UNINITIALISED, State.OPERATIONAL,
                     State.SOFT_ERROR, State.HARD_ERROR, State.ZEROISED)


def test_the_hand_written_policy_is_the_published_one() -> None:
    """Section 4.1 (who may call what), 4.3 (approved or not) and 4.4 (in which states)."""
    roles = {DOC_ROLES[row[0]]: {Command[name] for name in re.findall(r"`(\w+)`", row[3])}
             for row in _doc_table("roles")}
    assert roles == {role: {c for c, rule in POLICY.items() if role in rule.roles} for role in Role}
    # "yes, except ...": a service approved but for some of its calls (its indicator says which)
    approved = {Command[row[1].strip("`")]: row[4].startswith("yes") for row in _doc_table("services")}
    assert approved == {c: rule.approved for c, rule in POLICY.items()}
    states = {Command[row[0].strip("`")]: {st for st, cell in zip(DOC_STATE_COLUMNS, row[1:8]) if cell == "yes"}
              for row in _doc_table("service-states")}
    assert states == {c: set(rule.states) for c, rule in POLICY.items()}


CASES = [
    pytest.param(state, role, command, id=f"{state.name}-{role.name}-{command.name}")
    for state in OBSERVABLE_STATES
    for role in Role
    for command in POLICY
    if not (state is State.UNINITIALISED and role in (Role.USER, Role.AUDITOR))
    and not (state is State.ZEROISED and role is not Role.NONE)
]


@pytest.mark.parametrize(("state", "role", "command"), CASES)
def test_matrix(state: State, role: Role, command: Command) -> None:
    prep = prepared(state, command)
    module = prep.module
    sink = sink_of(module)
    before_seq = sink.next_seq
    before_keys = len(module.keys)
    reply = module.call(command, EXAMPLES[command](prep.fixture), prep.sessions[role])
    refusal = expected_status(command, state, role)
    if refusal is None:
        assert reply.status is served_status(command, state, role), reply.message
        assert reply.approved is (POLICY[command].approved and reply.status is Status.OK)
    else:
        assert reply.status is refusal, reply.message
        assert reply.data == {} and reply.approved is False
        assert module.state is state and len(module.keys) == before_keys
    services = [r for r in sink.since(before_seq) if r.entry.kind is RecordKind.SERVICE]
    assert len(services) == 1
    assert services[0].entry.code == command and services[0].entry.status is reply.status
    assert services[0].entry.role is role  # the refusal is recorded against the caller
