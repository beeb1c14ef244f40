"""The module's finite state machine: one transition table, as data.

The table drives the module, the state diagram in the security policy and the state-machine
tests; nothing else lists transitions. Which services run in which state is declared per service
in the service registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum, unique
from types import MappingProxyType

from module.wire.defs import State

__all__ = ["Trigger", "TRANSITIONS", "IllegalTransition", "next_state", "ERROR_STATES", "DATA_OUTPUT_STATES",
           "data_output_allowed"]


@unique
class Trigger(IntEnum):
    POWER_ON = 1
    POWER_OFF = 2
    SELF_TEST_PASS_FACTORY = 3  # all pre-operational tests passed, module not yet initialised
    SELF_TEST_PASS_INITIALISED = 4  # all pre-operational tests passed, module initialised
    SELF_TEST_REQUESTED = 5  # on-demand self-test
    INITIALISE = 6  # factory Crypto Officer set the first credential
    SOFT_FAULT = 7  # CAST, PCT, DRBG or entropy health failure
    HARD_FAULT = 8  # integrity failure, corrupted persistent state, internal defect
    ZEROISE = 9


_S, _T = State, Trigger

TRANSITIONS: Mapping[tuple[State, Trigger], State] = MappingProxyType(
    {
        (_S.POWER_OFF, _T.POWER_ON): _S.SELF_TEST,
        (_S.SELF_TEST, _T.SELF_TEST_PASS_FACTORY): _S.UNINITIALISED,
        (_S.SELF_TEST, _T.SELF_TEST_PASS_INITIALISED): _S.OPERATIONAL,
        (_S.SELF_TEST, _T.SOFT_FAULT): _S.SOFT_ERROR,
        (_S.SELF_TEST, _T.HARD_FAULT): _S.HARD_ERROR,
        (_S.UNINITIALISED, _T.INITIALISE): _S.OPERATIONAL,
        (_S.UNINITIALISED, _T.SELF_TEST_REQUESTED): _S.SELF_TEST,
        (_S.UNINITIALISED, _T.SOFT_FAULT): _S.SOFT_ERROR,
        (_S.UNINITIALISED, _T.HARD_FAULT): _S.HARD_ERROR,
        (_S.UNINITIALISED, _T.ZEROISE): _S.ZEROISED,
        (_S.OPERATIONAL, _T.SELF_TEST_REQUESTED): _S.SELF_TEST,
        (_S.OPERATIONAL, _T.SOFT_FAULT): _S.SOFT_ERROR,
        (_S.OPERATIONAL, _T.HARD_FAULT): _S.HARD_ERROR,
        (_S.OPERATIONAL, _T.ZEROISE): _S.ZEROISED,
        (_S.SOFT_ERROR, _T.SELF_TEST_REQUESTED): _S.SELF_TEST,
        (_S.SOFT_ERROR, _T.HARD_FAULT): _S.HARD_ERROR,
        (_S.SOFT_ERROR, _T.ZEROISE): _S.ZEROISED,
        (_S.HARD_ERROR, _T.ZEROISE): _S.ZEROISED,
        (_S.SELF_TEST, _T.POWER_OFF): _S.POWER_OFF,
        (_S.UNINITIALISED, _T.POWER_OFF): _S.POWER_OFF,
        (_S.OPERATIONAL, _T.POWER_OFF): _S.POWER_OFF,
        (_S.SOFT_ERROR, _T.POWER_OFF): _S.POWER_OFF,
        (_S.HARD_ERROR, _T.POWER_OFF): _S.POWER_OFF,
        (_S.ZEROISED, _T.POWER_OFF): _S.POWER_OFF,
    }
)

ERROR_STATES = frozenset({State.SOFT_ERROR, State.HARD_ERROR})
# States in which anything but status may leave the module (ISO/IEC 19790 7.3.3 data output).
DATA_OUTPUT_STATES = frozenset({State.UNINITIALISED, State.OPERATIONAL})


def data_output_allowed(state: State, service_states: frozenset[State]) -> bool:
    """Whether an answer carrying data may leave now: in a data-output state, or from a status
    service (one declared for a state without data output: status, self-test, logout, zeroise);
    dispatch withholds any other, so no data leaves a call that ended in an error state."""
    return state in DATA_OUTPUT_STATES or bool(service_states - DATA_OUTPUT_STATES)


class IllegalTransition(Exception):
    """The table has no row for (state, trigger): a defect in the caller, never a user error."""

    def __init__(self, state: State, trigger: Trigger) -> None:
        super().__init__(f"no transition from {state.name} on {trigger.name}")
        self.state = state
        self.trigger = trigger


def next_state(state: State, trigger: Trigger) -> State:
    try:
        return TRANSITIONS[(state, trigger)]
    except KeyError:
        raise IllegalTransition(state, trigger) from None


def mermaid_diagram() -> str:
    """The state diagram, generated from the table (for the security policy)."""
    lines = ["stateDiagram-v2", "    [*] --> POWER_OFF"]
    for (src, trig), dst in TRANSITIONS.items():
        lines.append(f"    {src.name} --> {dst.name}: {trig.name}")
    return "\n".join(lines) + "\n"
