"""The transition table: reachability, exits from every state, and the generated diagram."""

from __future__ import annotations

import pytest

from module.fsm import DATA_OUTPUT_STATES, ERROR_STATES, TRANSITIONS, IllegalTransition, Trigger, mermaid_diagram, next_state
from module.wire.defs import State


def reachable(start: State) -> set[State]:
    seen, todo = {start}, [start]
    while todo:
        state = todo.pop()
        for (src, _), dst in TRANSITIONS.items():
            if src is state and dst not in seen:
                seen.add(dst)
                todo.append(dst)
    return seen


def test_every_state_reachable_from_power_off() -> None:
    assert reachable(State.POWER_OFF) == set(State)


@pytest.mark.parametrize("state", [s for s in State if s is not State.POWER_OFF])
def test_every_powered_state_can_power_off(state: State) -> None:
    assert next_state(state, Trigger.POWER_OFF) is State.POWER_OFF


def test_hard_error_left_only_by_power_cycle_or_zeroise() -> None:
    exits = {trig for (src, trig) in TRANSITIONS if src is State.HARD_ERROR}
    assert exits == {Trigger.POWER_OFF, Trigger.ZEROISE}


def test_soft_error_left_by_self_test() -> None:
    assert next_state(State.SOFT_ERROR, Trigger.SELF_TEST_REQUESTED) is State.SELF_TEST


def test_zeroised_waits_for_power_cycle() -> None:
    assert {trig for (src, trig) in TRANSITIONS if src is State.ZEROISED} == {Trigger.POWER_OFF}


def test_no_data_output_in_self_test_or_error_states() -> None:
    assert not DATA_OUTPUT_STATES & (ERROR_STATES | {State.SELF_TEST, State.POWER_OFF, State.ZEROISED})


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("trigger", list(Trigger))
def test_missing_rows_raise(state: State, trigger: Trigger) -> None:
    if (state, trigger) in TRANSITIONS:
        assert next_state(state, trigger) is TRANSITIONS[(state, trigger)]
    else:
        with pytest.raises(IllegalTransition):
            next_state(state, trigger)


def test_diagram_has_one_line_per_row() -> None:
    diagram = mermaid_diagram()
    for (src, trig), dst in TRANSITIONS.items():
        assert f"{src.name} --> {dst.name}: {trig.name}" in diagram
    assert diagram.count("-->") == len(TRANSITIONS) + 1
