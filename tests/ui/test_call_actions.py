"""Which actions are enabled for which call state."""

from __future__ import annotations

from softphone.core.calls import CallDirection, CallState, HoldState
from softphone.ui.call_actions import CallActions, actions_for
from tests.ui.fakes import snapshot


def test_no_call_or_ended_call_enables_nothing():
    assert actions_for(None) == CallActions()
    assert actions_for(snapshot(state=CallState.DISCONNECTED)) == CallActions()


def test_ringing_inbound_call():
    acts = actions_for(snapshot(state=CallState.INCOMING, direction=CallDirection.INBOUND))
    assert acts.answer and acts.reject and acts.hangup and acts.mute
    assert not acts.hold and not acts.dtmf


def test_outbound_call_being_set_up_can_only_be_cancelled_or_muted():
    for state in (CallState.CALLING, CallState.EARLY, CallState.CONNECTING):
        acts = actions_for(snapshot(state=state))
        assert not acts.answer and not acts.reject and not acts.hold and not acts.dtmf
        assert acts.hangup and acts.mute


def test_confirmed_call_hold_and_mute_toggles():
    acts = actions_for(snapshot(state=CallState.CONFIRMED))
    assert acts.hangup and acts.hold and acts.dtmf and not acts.answer
    assert not acts.held and not acts.muted
    assert actions_for(snapshot(hold=HoldState.LOCAL)).held
    assert actions_for(snapshot(hold=HoldState.BOTH)).held
    assert not actions_for(snapshot(hold=HoldState.REMOTE)).held
    assert actions_for(snapshot(muted=True)).muted


def test_transfer_only_for_an_up_call_that_is_the_agents_own():
    assert actions_for(snapshot(state=CallState.CONFIRMED)).transfer
    assert actions_for(snapshot(state=CallState.CONFIRMED, hold=HoldState.LOCAL)).transfer
    for state in (CallState.CALLING, CallState.EARLY, CallState.INCOMING, CallState.CONNECTING):
        assert not actions_for(snapshot(state=state)).transfer, state
    assert not actions_for(snapshot(state=CallState.CONFIRMED, queued=True)).transfer
    assert not actions_for(snapshot(state=CallState.CONFIRMED, handed_off=True)).transfer


def test_a_handed_off_customer_cannot_be_resumed_or_dialled_into():
    handed_off = actions_for(snapshot(state=CallState.CONFIRMED, hold=HoldState.LOCAL,
                                      handed_off=True))
    assert handed_off.held and not handed_off.hold and not handed_off.dtmf
    assert handed_off.hangup  # the agent may still give up on the customer
    own = actions_for(snapshot(state=CallState.CONFIRMED, hold=HoldState.LOCAL))
    assert own.hold and own.dtmf
