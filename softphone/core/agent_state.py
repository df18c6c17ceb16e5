"""Agent states: what the agent chose, and the busy states that follow calls.

The agent chooses Logged Out, Available or Not Ready (with a reason). While
calls exist the state follows them (Talking, Consult, Conference, Transfer);
when the last call ends the agent goes to After Call Work for the wrap-up
time, then back to Available or to the state chosen before the call.

After Call Work (and the "back to Available" policy) only follows a call the
agent actually talked on. A call that never connected (a failed or unanswered
outbound call, a missed inbound one) returns the agent to exactly the state
they were in before it (Not Ready stays Not Ready, a running wrap-up goes on),
unless they chose another state meanwhile.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass

from softphone.core.errors import InvalidParamsError, InvalidStateError


class AgentState(enum.StrEnum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    NOT_READY = "not_ready"
    TALKING = "talking"
    CONSULT = "consult"
    CONFERENCE = "conference"
    TRANSFER = "transfer"
    AFTER_CALL_WORK = "after_call_work"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def colour(self) -> str:
        """The colour the desktop shows the state in (hex RGB)."""
        return _COLOURS[self]

    @property
    def is_busy(self) -> bool:
        return self in BUSY_STATES


BUSY_STATES = frozenset({AgentState.TALKING, AgentState.CONSULT, AgentState.CONFERENCE,
                         AgentState.TRANSFER})
# What the agent may choose; the rest follow calls.
CHOSEN_STATES = frozenset({AgentState.LOGGED_OUT, AgentState.AVAILABLE, AgentState.NOT_READY,
                           AgentState.AFTER_CALL_WORK})

_LABELS = {
    AgentState.LOGGED_OUT: "Logged Out",
    AgentState.AVAILABLE: "Available",
    AgentState.NOT_READY: "Not Ready",
    AgentState.TALKING: "Talking",
    AgentState.CONSULT: "Consult",
    AgentState.CONFERENCE: "Conference",
    AgentState.TRANSFER: "Transfer",
    AgentState.AFTER_CALL_WORK: "After Call Work",
}
_COLOURS = {
    AgentState.LOGGED_OUT: "#7f8c8d",
    AgentState.AVAILABLE: "#27ae60",
    AgentState.NOT_READY: "#c0392b",
    AgentState.TALKING: "#2980b9",
    AgentState.CONSULT: "#8e44ad",
    AgentState.CONFERENCE: "#16a085",
    AgentState.TRANSFER: "#d35400",
    AgentState.AFTER_CALL_WORK: "#f39c12",
}


class CallActivity(enum.Enum):
    """What the agent's calls amount to right now (most involved first)."""

    NONE = 0
    TALKING = 1
    TRANSFER = 2
    CONSULT = 3
    CONFERENCE = 4


_BUSY_FOR_ACTIVITY = {
    CallActivity.TALKING: AgentState.TALKING,
    CallActivity.TRANSFER: AgentState.TRANSFER,
    CallActivity.CONSULT: AgentState.CONSULT,
    CallActivity.CONFERENCE: AgentState.CONFERENCE,
}


@dataclass(frozen=True)
class AgentStatus:
    """Attributes:
    state: the current state.
    reason: the Not Ready reason code ("" otherwise).
    since: wall-clock time (epoch seconds) the state began, for the UI timer.
    wrap_up_until: epoch seconds After Call Work ends, or None.
    """

    state: AgentState
    reason: str = ""
    since: float = 0.0
    wrap_up_until: float | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "state": self.state.value,
            "label": self.state.label,
            "colour": self.state.colour,
            "reason": self.reason,
            "since": self.since,
            "wrap_up_until": self.wrap_up_until,
        }


class AgentStateMachine:
    """Tracks the agent's state; callers report call activity and choices.

    Attributes:
        wrap_up_seconds: After Call Work length; 0 skips it.
        wrap_up_returns_to: ``"available"`` or ``"previous"`` (the chosen state
            before the call).
        reasons: allowed Not Ready reason codes (empty = any non-empty text).
        on_change: called with the new :class:`AgentStatus` after every change.
        schedule_wrap_up: called with seconds (or None to cancel) so the owner
            can arm a timer that calls :meth:`wrap_up_expired`.
    """

    def __init__(self, *, wrap_up_seconds: float = 0.0, wrap_up_returns_to: str = "available",
                 reasons: list[str] | None = None, initial: AgentState = AgentState.AVAILABLE,
                 clock: Callable[[], float] = time.time) -> None:
        if wrap_up_returns_to not in ("available", "previous"):
            raise InvalidParamsError("wrap_up_returns_to must be available or previous")
        self.wrap_up_seconds = wrap_up_seconds
        self.wrap_up_returns_to = wrap_up_returns_to
        self.reasons = list(reasons or [])
        self._clock = clock
        self.on_change: Callable[[AgentStatus], None] = lambda status: None
        self.schedule_wrap_up: Callable[[float | None], None] = lambda seconds: None
        self._chosen = initial
        self._chosen_reason = ""
        self._chosen_while_busy = False
        self._activity = CallActivity.NONE
        self._status = AgentStatus(initial, "", clock())
        # The status when the current busy spell began (restored if no call of
        # the spell was talked on).
        self._before_calls: AgentStatus | None = None

    @property
    def status(self) -> AgentStatus:
        return self._status

    @property
    def state(self) -> AgentState:
        return self._status.state

    @property
    def chosen(self) -> AgentState:
        """The state the agent chose, which returns once calls and wrap-up end."""
        return self._chosen

    def is_available(self) -> bool:
        return self._status.state == AgentState.AVAILABLE

    # -- the agent's choices ----------------------------------------------------

    def set_state(self, state: AgentState | str, reason: str = "") -> AgentStatus:
        """The agent chooses a state.

        During calls the choice is remembered and applies when they end (so an
        agent can pick Not Ready for after this call). Choosing After Call Work
        starts a wrap-up; choosing anything during wrap-up ends it early.
        """
        try:
            state = AgentState(state)
        except ValueError:
            raise InvalidParamsError(
                f"unknown agent state {str(state)[:40]!r}; choose one of "
                + ", ".join(s.value for s in sorted(CHOSEN_STATES))
            ) from None
        if state not in CHOSEN_STATES:
            raise InvalidParamsError(f"{state.label} follows calls and cannot be chosen")
        if state == AgentState.NOT_READY:
            reason = reason.strip()
            if not reason:
                raise InvalidParamsError("Not Ready needs a reason")
            if self.reasons and reason not in self.reasons:
                raise InvalidParamsError(
                    f"unknown Not Ready reason {reason[:40]!r}; allowed: {', '.join(self.reasons)}"
                )
        elif reason:
            raise InvalidParamsError("only Not Ready takes a reason")
        if state == AgentState.AFTER_CALL_WORK:
            if self._activity != CallActivity.NONE:
                raise InvalidStateError("After Call Work starts when the calls have ended")
            self._start_wrap_up()
            return self._status
        if state == AgentState.LOGGED_OUT and self._activity != CallActivity.NONE:
            raise InvalidStateError("end or transfer your calls before logging out")
        self._chosen, self._chosen_reason = state, reason
        if self._activity == CallActivity.NONE:
            self._chosen_while_busy = False
            self.schedule_wrap_up(None)
            self._enter(state, reason)
        else:
            self._chosen_while_busy = True
        return self._status

    def end_wrap_up(self) -> AgentStatus:
        """The agent ends After Call Work early."""
        if self._status.state != AgentState.AFTER_CALL_WORK:
            raise InvalidStateError("not in After Call Work")
        self._finish_wrap_up()
        return self._status

    def wrap_up_expired(self) -> None:
        if self._status.state == AgentState.AFTER_CALL_WORK:
            self._finish_wrap_up()

    # -- call activity ------------------------------------------------------------

    def calls_changed(self, activity: CallActivity, *, wrap_up: bool = True) -> AgentStatus:
        """Report what the agent's calls amount to now.

        ``wrap_up=False`` when the last call ended without the agent having
        talked (a failed outbound call, a missed or rejected one): no After
        Call Work then, and the agent goes back to the state they were in
        before the call (not to Available), unless they chose one meanwhile.
        """
        previous = self._activity
        self._activity = activity
        if activity != CallActivity.NONE:
            if previous == CallActivity.NONE:
                self._before_calls = self._status
            busy = _BUSY_FOR_ACTIVITY[activity]
            if self._status.state != busy:
                self.schedule_wrap_up(None)
                self._enter(busy, "")
        elif previous != CallActivity.NONE:
            before, self._before_calls = self._before_calls, None
            if not wrap_up and not self._chosen_while_busy and before is not None:
                self._restore(before)
            elif wrap_up and self.wrap_up_seconds > 0:
                self._start_wrap_up()
            else:
                state, reason = self._after_calls(), self._chosen_reason_for_return()
                self._chosen, self._chosen_reason = state, reason
                self._returned()
                self._enter(state, reason)
        return self._status

    # -- internals ----------------------------------------------------------------

    def _start_wrap_up(self) -> None:
        until = self._clock() + self.wrap_up_seconds if self.wrap_up_seconds > 0 else None
        self._enter(AgentState.AFTER_CALL_WORK, "", wrap_up_until=until)
        self.schedule_wrap_up(self.wrap_up_seconds if self.wrap_up_seconds > 0 else None)

    def _restore(self, before: AgentStatus) -> None:
        """Back to ``before`` after calls the agent never talked on."""
        if before.state != AgentState.AFTER_CALL_WORK:
            self._enter(before.state, before.reason)
            return
        until = before.wrap_up_until
        if until is None:  # an open-ended wrap-up the agent chose
            self._enter(AgentState.AFTER_CALL_WORK, "")
            return
        left = until - self._clock()
        if left <= 0:
            self._finish_wrap_up()
            return
        self._enter(AgentState.AFTER_CALL_WORK, "", wrap_up_until=until)
        self.schedule_wrap_up(left)

    def _finish_wrap_up(self) -> None:
        self.schedule_wrap_up(None)
        state, reason = self._after_calls(), self._chosen_reason_for_return()
        self._chosen, self._chosen_reason = state, reason
        self._returned()
        self._enter(state, reason)

    def _after_calls(self) -> AgentState:
        # A state chosen during the call is honoured in both policies: the
        # agent asked for it (e.g. Not Ready: no next call for me).
        if self.wrap_up_returns_to == "available" and not self._chosen_while_busy:
            return AgentState.AVAILABLE
        return self._chosen

    def _returned(self) -> None:
        self._chosen_while_busy = False

    def _chosen_reason_for_return(self) -> str:
        return self._chosen_reason if self._after_calls() == AgentState.NOT_READY else ""

    def _enter(self, state: AgentState, reason: str, wrap_up_until: float | None = None) -> None:
        if (state, reason) == (self._status.state, self._status.reason) and wrap_up_until is None:
            return
        self._status = AgentStatus(state, reason, self._clock(), wrap_up_until)
        self.on_change(self._status)


def presence_note(status: AgentStatus) -> str:
    """The PIDF note naming the state, e.g. ``Not Ready: Break``."""
    if status.state == AgentState.NOT_READY and status.reason:
        return f"{status.state.label}: {status.reason}"
    return status.state.label


def state_from_note(note: str) -> tuple[AgentState, str] | None:
    """Parse a note written by :func:`presence_note` (other clients: None)."""
    label, _, reason = note.partition(":")
    for state in AgentState:
        if state.label.lower() == label.strip().lower():
            return state, reason.strip()[:64] if state == AgentState.NOT_READY else ""
    return None
