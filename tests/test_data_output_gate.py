"""Data output is decided in one place (module/fsm.py's DATA_OUTPUT_STATES, applied by dispatch):
an answer with data leaves only in a data-output state, or from a status service (one the
catalogue declares for a state without data output). A service that entered an error state
while it ran and still produced data must not hand that data out (ISO/IEC 19790 7.3.3)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from module.core import Module
from module.errors import SelfTestFailure
from module.fsm import DATA_OUTPUT_STATES, data_output_allowed
from module.services.catalog import SERVICES
from module.services.context import CallContext, ServicePorts
from module.services.registry import ServiceResult
from module.wire.defs import Command, State, Status
from conftest import PASSWORDS, ModuleFactory, initialise


def _entering_error_mid_call(module: Module) -> None:
    """RANDOM's handler made defective: a conditional test fails inside it, yet it returns its bytes."""

    def handler(ports: ServicePorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
        module.states.enter_error(SelfTestFailure("continuous test", "failed inside the call"))
        return ServiceResult({"random": b"\x42" * int(params["length"])})

    services = dict(module.dispatcher.services)
    services[Command.RANDOM] = dataclasses.replace(services[Command.RANDOM], handler=handler)
    module.dispatcher.services = services


def test_data_produced_by_a_call_that_ended_in_an_error_state_is_withheld(make_module: ModuleFactory) -> None:
    module = make_module()
    client = initialise(module)
    _entering_error_mid_call(module)
    with client.login("alice", PASSWORDS["alice"]) as alice:
        reply = module.call(Command.RANDOM, {"length": 16}, alice.session_id)
        assert module.state is State.SOFT_ERROR
        assert reply.status is Status.MODULE_ERROR and reply.data == {} and not reply.approved
        assert "data output inhibited" in reply.message


def test_status_services_still_answer_in_error_states(make_module: ModuleFactory) -> None:
    module = make_module()
    initialise(module)
    module.states.enter_error(SelfTestFailure("a test", "failed"))
    status = module.call(Command.GET_STATUS)
    assert status.status is Status.OK and status.data["state"] == int(State.SOFT_ERROR)


def test_the_rule_reads_the_declarations() -> None:
    # Status services are exactly those declared for a state without data output.
    status_services = {s.command.name for s in SERVICES.values() if s.states - DATA_OUTPUT_STATES}
    assert status_services == {"GET_STATUS", "GET_VERSION", "SELF_TEST", "LOGOUT", "ZEROISE"}
    random = SERVICES[Command.RANDOM]
    assert [s for s in State if data_output_allowed(s, random.states)] == sorted(DATA_OUTPUT_STATES)
    zeroise = SERVICES[Command.ZEROISE]
    assert data_output_allowed(State.ZEROISED, zeroise.states)  # its "zeroised" answer is status
