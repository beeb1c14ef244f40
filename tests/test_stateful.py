"""Hypothesis drives the module through random service sequences against a small reference model.

The model knows only the state machine, who is logged in, and the role policy written down by hand
(``role_policy.py``, from the published security policy, not from the catalogue);
after every step the module's state, the status of the call and its single audit record must
agree with it.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from conftest import PASSWORDS, initialise
from firmware_sim.device import InProcessTransport
from host_tools.client import Client
from audit_view import TrailView, sink_of
from module.audit.sink import RecordKind
from module.wire.defs import Command, Role, State, Status
from service_examples import DISRUPTIVE, EXAMPLES, Fixture, make_fixture, new_module
from role_policy import FACTORY_CREDENTIAL, POLICY, expected_status
from test_role_matrix import NO_AUDIT_KEY_YET, SERVED_BUT_REFUSED, served_status

NAMES = {Role.CRYPTO_OFFICER: "officer", Role.USER: "alice", Role.AUDITOR: "audrey"}
ROUTINE = [command for command in POLICY if command not in DISRUPTIVE]


class ModuleMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.module = new_module()
        self.client = Client(InProcessTransport(self.module))
        initialise(self.module)
        self.fixture: Fixture = make_fixture(self.client)  # stale after zeroisation, where key services are refused anyway
        self.model_state = State.OPERATIONAL
        self.initialised = True
        self.sessions: dict[Role, int] = {Role.NONE: 0}
        self.factory = False  # the Crypto Officer session is the factory credential's
        self.audit_key = True  # ZEROISE keeps a successor key, except from an error state

    @property
    def sink(self) -> TrailView:
        return sink_of(self.module)

    def _call(self, command: Command, params: dict[str, object], session_id: int) -> Status:
        before = self.sink.next_seq
        reply = self.module.call(command, params, session_id)
        services = [r for r in self.sink.since(before) if r.entry.kind is RecordKind.SERVICE]
        assert len(services) == 1 and services[0].entry.status is reply.status
        return reply.status

    @precondition(lambda self: self.model_state in (State.OPERATIONAL, State.UNINITIALISED))
    @rule(role=st.sampled_from([Role.CRYPTO_OFFICER, Role.USER, Role.AUDITOR]))
    def login(self, role: Role) -> None:
        if self.model_state is State.UNINITIALISED:
            if role is not Role.CRYPTO_OFFICER:
                return
            session = self.client.login(self.module.config.factory_operator, self.module.config.factory_password)
            self.factory = True
        else:
            session = self.client.login(NAMES[role], PASSWORDS[NAMES[role]])
        old = self.sessions.get(role)
        if old:
            assert self._call(Command.LOGOUT, {}, old) is Status.OK
        self.sessions[role] = session.session_id

    @rule(data=st.data())
    def routine_call(self, data: st.DataObject) -> None:
        command = data.draw(st.sampled_from(ROUTINE))
        role = data.draw(st.sampled_from(sorted(self.sessions)))
        status = self._call(command, EXAMPLES[command](self.fixture), self.sessions[role])
        refusal = expected_status(command, self.model_state, role)
        factory_only = (role is Role.CRYPTO_OFFICER and self.factory and command not in FACTORY_CREDENTIAL
                        and Role.NONE not in POLICY[command].roles)
        if refusal is None and factory_only:
            refusal = Status.ACCESS_DENIED  # the factory credential initialises and nothing else, in any state
        elif refusal is None and (command, self.model_state) in NO_AUDIT_KEY_YET:
            # a factory-fresh module has no audit key; one zeroised from OPERATIONAL kept a successor
            refusal = SERVED_BUT_REFUSED.get(command, Status.OK) if self.audit_key else Status.INVALID_STATE
        elif refusal is None:  # served: what the role matrix expects (other operators' keys out of reach)
            refusal = served_status(command, self.model_state, role)
            if command is Command.OPERATOR_CREATE and status is Status.OPERATOR_EXISTS:
                refusal = Status.OPERATOR_EXISTS  # bob was created by an earlier step
        assert status is refusal, (command.name, self.model_state, role)

    @rule(cast_name=st.sampled_from(["drbg", "integrity", "cast"]))
    def fail_self_test(self, cast_name: str) -> None:
        from module import cast

        if self.model_state not in (State.OPERATIONAL, State.UNINITIALISED, State.SOFT_ERROR):
            return
        self.module.inject_fault(cast_name, cast.CAST_NAMES[0] if cast_name == "cast" else "")
        assert self._call(Command.SELF_TEST, {}, 0) is Status.SELF_TEST_FAILED
        self.model_state = State.HARD_ERROR if cast_name == "integrity" else State.SOFT_ERROR

    @rule()
    def self_test(self) -> None:
        status = self._call(Command.SELF_TEST, {}, 0)
        if self.model_state in (State.OPERATIONAL, State.UNINITIALISED, State.SOFT_ERROR):
            assert status is Status.OK
            self.model_state = State.OPERATIONAL if self.initialised else State.UNINITIALISED
        else:
            assert status is (Status.MODULE_ERROR if self.model_state is State.HARD_ERROR else Status.INVALID_STATE)

    @precondition(lambda self: Role.CRYPTO_OFFICER in self.sessions)
    @rule()
    def zeroise(self) -> None:
        status = self._call(Command.ZEROISE, {}, self.sessions[Role.CRYPTO_OFFICER])
        if self.factory:
            assert status is Status.ACCESS_DENIED  # the factory credential may not zeroise
            return
        assert status is Status.OK
        self.audit_key = self.model_state not in (State.SOFT_ERROR, State.HARD_ERROR)
        self.model_state, self.initialised = State.ZEROISED, False
        self.sessions = {Role.NONE: 0}

    @rule()
    def power_cycle(self) -> None:
        self.module.power_off()
        self.module.power_on()
        self.sessions = {Role.NONE: 0}
        self.factory = False
        self.model_state = State.OPERATIONAL if self.initialised else State.UNINITIALISED

    @precondition(lambda self: self.model_state is State.UNINITIALISED)
    @rule()
    def initialise(self) -> None:
        initialise(self.module)
        self.initialised, self.model_state = True, State.OPERATIONAL
        self.fixture = make_fixture(self.client)
        self.sessions = {Role.NONE: 0}
        self.factory, self.audit_key = False, True

    @invariant()
    def state_matches_model(self) -> None:
        assert self.module.state is self.model_state

    @invariant()
    def status_always_answers(self) -> None:
        reply = self.module.call(Command.GET_STATUS)
        assert reply.status is Status.OK and reply.data["state"] == int(self.model_state)


TestModuleMachine = ModuleMachine.TestCase
TestModuleMachine.settings = settings(
    max_examples=25, stateful_step_count=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
