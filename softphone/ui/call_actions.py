"""Which call actions make sense for a call in a given state (no Qt here)."""

from __future__ import annotations

from dataclasses import dataclass

from softphone.core.calls import CallDirection, CallSnapshot, CallState, HoldState

RINGING = (CallState.INCOMING, CallState.EARLY)


@dataclass(frozen=True)
class CallActions:
    """Enabled flags (and toggle states) of the per-call controls.

    Attributes:
        answer / reject: a ringing inbound call (not a queued one).
        hangup: any call not yet ended (cancel, decline or end).
        hold: the call is up, so hold/resume can be sent.
        held: the agent has the call on hold (the Hold toggle is down).
        mute: the call is not ended (muting before the answer is allowed).
        muted: the agent's microphone is cut from this call.
        dtmf: digits go to the call rather than into the number entry.
        transfer: the call is up and the agent's own (not queued, not being
            transferred away), so the Session Transfer screen can move it.
    """

    answer: bool = False
    reject: bool = False
    hangup: bool = False
    hold: bool = False
    held: bool = False
    mute: bool = False
    muted: bool = False
    dtmf: bool = False
    transfer: bool = False


def actions_for(snap: CallSnapshot | None) -> CallActions:
    if snap is None or snap.state == CallState.DISCONNECTED:
        return CallActions()
    # A queued transfer cannot be answered: it is presented once the agent is Available.
    ringing = (snap.direction == CallDirection.INBOUND and snap.state in RINGING
               and not snap.queued)
    confirmed = snap.state == CallState.CONFIRMED
    # A customer handed off in an unsupervised transfer is the target's now:
    # the agent gets them back by themselves if the transfer fails.
    own = confirmed and not snap.handed_off
    return CallActions(
        answer=ringing,
        reject=ringing,
        hangup=True,
        hold=own,
        held=snap.hold in (HoldState.LOCAL, HoldState.BOTH),
        mute=True,
        muted=snap.muted,
        dtmf=own,
        transfer=confirmed and not snap.queued and not snap.handed_off,
    )
