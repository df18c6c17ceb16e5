from __future__ import annotations

import pytest

from softphone.core.agent_state import (
    AgentState,
    AgentStateMachine,
    AgentStatus,
    CallActivity,
    presence_note,
    state_from_note,
)
from softphone.core.errors import InvalidParamsError, InvalidStateError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def machine(**kwargs) -> tuple[AgentStateMachine, list[AgentStatus], list[float | None]]:
    clock = Clock()
    sm = AgentStateMachine(clock=clock, reasons=["Break", "Lunch", "Training"], **kwargs)
    changes: list[AgentStatus] = []
    timers: list[float | None] = []
    sm.on_change = changes.append
    sm.schedule_wrap_up = timers.append
    return sm, changes, timers


def test_busy_states_follow_calls_and_wrap_up_returns_to_available():
    sm, changes, timers = machine(wrap_up_seconds=30)
    sm.calls_changed(CallActivity.TALKING)
    assert sm.state == AgentState.TALKING
    sm.calls_changed(CallActivity.CONSULT)
    assert sm.state == AgentState.CONSULT
    sm.calls_changed(CallActivity.NONE)
    assert sm.state == AgentState.AFTER_CALL_WORK
    assert sm.status.wrap_up_until == 1030.0
    assert timers[-1] == 30
    sm.wrap_up_expired()
    assert sm.state == AgentState.AVAILABLE
    assert [c.state for c in changes] == [AgentState.TALKING, AgentState.CONSULT,
                                          AgentState.AFTER_CALL_WORK, AgentState.AVAILABLE]


def test_not_ready_chosen_during_a_call_applies_after_it():
    sm, _, _ = machine(wrap_up_seconds=10)
    sm.calls_changed(CallActivity.TALKING)
    sm.set_state("not_ready", "Lunch")
    assert sm.state == AgentState.TALKING
    sm.calls_changed(CallActivity.NONE)
    sm.end_wrap_up()
    assert (sm.state, sm.status.reason) == (AgentState.NOT_READY, "Lunch")


def test_wrap_up_returns_to_previous_state_when_configured():
    sm, _, _ = machine(wrap_up_seconds=10, wrap_up_returns_to="previous")
    sm.set_state("not_ready", "Break")
    sm.calls_changed(CallActivity.TALKING)  # e.g. an outbound call while Not Ready
    sm.calls_changed(CallActivity.NONE)
    sm.wrap_up_expired()
    assert (sm.state, sm.status.reason) == (AgentState.NOT_READY, "Break")


def test_no_wrap_up_when_zero_or_not_talked():
    sm, _, _ = machine(wrap_up_seconds=0)
    sm.calls_changed(CallActivity.TALKING)
    sm.calls_changed(CallActivity.NONE)
    assert sm.state == AgentState.AVAILABLE
    sm2, _, _ = machine(wrap_up_seconds=10)
    sm2.calls_changed(CallActivity.TALKING)
    sm2.calls_changed(CallActivity.NONE, wrap_up=False)
    assert sm2.state == AgentState.AVAILABLE


def test_state_changes_record_their_start_time():
    clock = Clock()
    sm = AgentStateMachine(clock=clock)
    clock.now = 2000.0
    sm.set_state("not_ready", "Break")
    assert sm.status.since == 2000.0


@pytest.mark.parametrize(("state", "reason", "error"), [
    ("talking", "", InvalidParamsError),
    ("bogus", "", InvalidParamsError),
    ("not_ready", "", InvalidParamsError),
    ("not_ready", "Nap", InvalidParamsError),
    ("available", "Break", InvalidParamsError),
])
def test_bad_choices(state, reason, error):
    sm, changes, _ = machine()
    with pytest.raises(error):
        sm.set_state(state, reason)
    assert changes == []


def test_cannot_log_out_or_wrap_up_during_calls():
    sm, _, _ = machine()
    sm.calls_changed(CallActivity.TALKING)
    with pytest.raises(InvalidStateError):
        sm.set_state("logged_out")
    with pytest.raises(InvalidStateError):
        sm.set_state("after_call_work")
    with pytest.raises(InvalidStateError):
        sm.end_wrap_up()


def test_presence_note_round_trip():
    status = AgentStatus(AgentState.NOT_READY, "Break", 0)
    assert presence_note(status) == "Not Ready: Break"
    assert state_from_note("Not Ready: Break") == (AgentState.NOT_READY, "Break")
    assert state_from_note("After Call Work") == (AgentState.AFTER_CALL_WORK, "")
    assert state_from_note("On the phone") is None


def test_every_state_has_a_colour_and_label():
    assert all(s.colour.startswith("#") and s.label for s in AgentState)


@pytest.mark.parametrize(("state", "reason"), [("not_ready", "Break"), ("logged_out", "")])
def test_a_call_that_never_connected_returns_to_the_state_before_it(state, reason):
    # Default policy (wrap-up returns to Available), with and without a wrap-up:
    # a failed outbound call must not make a Not Ready or Logged Out agent
    # Available (they would then be given queued transfers).
    for wrap_up_seconds in (0, 30):
        sm, changes, _ = machine(wrap_up_seconds=wrap_up_seconds)
        sm.set_state(state, reason)
        sm.calls_changed(CallActivity.TALKING)  # dialling counts as talking
        assert sm.state == AgentState.TALKING
        sm.calls_changed(CallActivity.NONE, wrap_up=False)  # it failed
        assert (sm.state, sm.status.reason) == (AgentState(state), reason)
        assert AgentState.AVAILABLE not in [c.state for c in changes]
        assert AgentState.AFTER_CALL_WORK not in [c.state for c in changes]
        # A call that was talked on still ends in wrap-up, then Available.
        sm.calls_changed(CallActivity.TALKING)
        sm.calls_changed(CallActivity.NONE, wrap_up=True)
        if wrap_up_seconds:
            assert sm.state == AgentState.AFTER_CALL_WORK
            sm.wrap_up_expired()
        assert sm.state == AgentState.AVAILABLE


def test_a_failed_call_during_wrap_up_resumes_the_wrap_up():
    clock = Clock()
    sm = AgentStateMachine(clock=clock, wrap_up_seconds=30)
    timers: list[float | None] = []
    sm.schedule_wrap_up = timers.append
    sm.calls_changed(CallActivity.TALKING)
    sm.calls_changed(CallActivity.NONE)
    assert sm.status.wrap_up_until == 1030.0
    clock.now = 1010.0
    sm.calls_changed(CallActivity.TALKING)
    assert timers[-1] is None  # the wrap-up timer stops while dialling
    clock.now = 1012.0
    sm.calls_changed(CallActivity.NONE, wrap_up=False)
    assert (sm.state, sm.status.wrap_up_until, timers[-1]) == (
        AgentState.AFTER_CALL_WORK, 1030.0, 18.0)
    # ... and one whose time ran out meanwhile ends it.
    sm.calls_changed(CallActivity.TALKING)
    clock.now = 1040.0
    sm.calls_changed(CallActivity.NONE, wrap_up=False)
    assert sm.state == AgentState.AVAILABLE


def test_a_state_chosen_during_a_failed_call_wins():
    sm, _, _ = machine()
    sm.set_state("not_ready", "Break")
    sm.calls_changed(CallActivity.TALKING)
    sm.set_state("available")
    sm.calls_changed(CallActivity.NONE, wrap_up=False)
    assert sm.state == AgentState.AVAILABLE
