"""Rejection, hangup from either side, several calls, shutdown with calls up."""

from __future__ import annotations

import pytest

from tests.conftest import InstanceFactory
from tests.e2e.conftest import TONE_A, TONE_B, TONE_C, api, connect, record, start_pair
from tests.helpers.api_client import ApiError
from tests.helpers.tones import has_tone

pytestmark = pytest.mark.multiprocess


def test_rejected_call_reports_status_to_caller(softphones: InstanceFactory, tone_files):
    a, b = start_pair(softphones, tone_files)
    out = api(a).call("call.make", uri=b.sip_uri)["call_id"]
    incoming = api(b).wait_call_state(None, "incoming")
    assert incoming["direction"] == "inbound"
    api(b).call("call.reject", call_id=incoming["call_id"], code=486)
    ended = api(a).wait_call_state(out, "disconnected")
    assert ended["status_code"] == 486
    api(b).wait_call_state(incoming["call_id"], "disconnected")


def test_caller_hangs_up_and_ringing_call_is_cancelled(softphones: InstanceFactory, tone_files):
    a, b = start_pair(softphones, tone_files)
    # Cancel while ringing.
    out = api(a).call("call.make", uri=b.sip_uri)["call_id"]
    ringing = api(b).wait_call_state(None, "incoming")
    api(a).wait_call_state(out, "early")
    api(a).call("call.hangup", call_id=out)
    api(b).wait_call_state(ringing["call_id"], "disconnected")
    # Hang up a connected call from the caller's side.
    a_call, b_call = connect(a, b)
    api(a).call("call.hangup", call_id=a_call)
    api(b).wait_call_state(b_call, "disconnected")
    api(a).wait_call_state(a_call, "disconnected")


def test_incoming_state_is_reported_once(softphones: InstanceFactory, tone_files):
    """pjsua reports "incoming" twice (callback and state); the API must not."""
    a, b = start_pair(softphones, tone_files)
    a_call, b_call = connect(a, b)
    incoming = [e for e in api(b).events
                if e["type"] == "call.state" and e["state"] == "incoming"]
    assert len(incoming) == 1
    ids = {c["call_id"] for c in api(b).call("call.list")["calls"]}
    assert ids == {b_call}
    api(a).call("call.hangup", call_id=a_call)
    api(b).wait_call_state(b_call, "disconnected")


def test_two_calls_at_once_with_auto_hold(softphones: InstanceFactory, tone_files):
    """Answering a second call holds the first: the agent only talks to one."""
    a = softphones("alice", audio_in=tone_files[TONE_A], audio_out=softphones.base / "a.wav")
    b = softphones("bob", audio_in=tone_files[TONE_B], audio_out=softphones.base / "b.wav")
    c = softphones("carol", audio_in=tone_files[TONE_C], audio_out=softphones.base / "c.wav")
    _, a_from_b = connect(b, a)
    _, a_from_c = connect(c, a)
    api(a).wait_event("call.updated",
                      lambda e: e["call_id"] == a_from_b and e["hold"] == "local")
    calls = {x["call_id"]: x for x in api(a).call("call.list")["calls"]}
    assert set(calls) == {a_from_b, a_from_c}
    levels = record([a, b, c], "second")
    assert has_tone(levels["alice"], TONE_C) and not has_tone(levels["alice"], TONE_B), levels
    assert has_tone(levels["carol"], TONE_A), levels
    assert not has_tone(levels["bob"], TONE_A), levels  # bob is on hold

    # Resuming bob's call holds carol's.
    api(a).call("call.resume", call_id=a_from_b)
    api(a).wait_event("call.updated",
                      lambda e: e["call_id"] == a_from_c and e["hold"] == "local")
    api(a).wait_event("call.updated",
                      lambda e: e["call_id"] == a_from_b and e["hold"] == "none")
    levels = record([a, b, c], "swapped")
    assert has_tone(levels["alice"], TONE_B) and not has_tone(levels["alice"], TONE_C), levels
    assert has_tone(levels["bob"], TONE_A), levels


def test_mute_cuts_only_the_agents_microphone(softphones: InstanceFactory, tone_files):
    a, b = start_pair(softphones, tone_files)
    a_call, _ = connect(a, b)
    api(a).call("call.mute", call_id=a_call, muted=True)
    levels = record([a, b], "muted")
    assert not has_tone(levels["bob"], TONE_A), levels
    assert has_tone(levels["alice"], TONE_B), levels
    api(a).call("call.mute", call_id=a_call, muted=False)
    levels = record([a, b], "unmuted")
    assert has_tone(levels["bob"], TONE_A), levels


def test_shutdown_with_calls_up_exits_cleanly(softphones: InstanceFactory, tone_files):
    a, b = start_pair(softphones, tone_files)
    _, b_call = connect(a, b)
    connect(a, b)  # a second call, so one is held and one is active
    assert a.stop() == 0  # SIGTERM
    ended = api(b).wait_call_state(b_call, "disconnected")
    assert ended["call_id"] == b_call
    assert "SIP engine stopped" in a.log_text()
    assert "Traceback" not in a.log_text()


def test_quit_through_the_api_exits_cleanly(softphones: InstanceFactory, tone_files):
    a, b = start_pair(softphones, tone_files)
    _, b_call = connect(a, b)
    assert a.stop(use_signal=False) == 0
    api(b).wait_call_state(b_call, "disconnected")
    assert not (a.profile / "api.json").exists()


def test_a_call_beyond_the_call_table_is_refused_clearly(softphones: InstanceFactory):
    """The PyPI wheel holds 4 calls at once (PJSUA_MAX_CALLS): one more is a
    clear error for the agent making it, and a busy answer for a caller."""
    a, b, c = softphones("alice"), softphones("bob"), softphones("carol")
    mark = api(b).mark()
    calls = [api(a).call("call.make", uri=b.sip_uri)["call_id"] for _ in range(4)]
    api(b).wait_event("call.state", lambda e: e["state"] == "incoming"
                      and len({x["call_id"] for x in api(b).events[mark:]
                               if x.get("state") == "incoming"}) == 4, since=mark)
    with pytest.raises(ApiError) as refused:
        api(a).call("call.make", uri=c.sip_uri)
    assert "4 calls are up, as many as this softphone can hold at once" in str(refused.value)
    assert len(api(a).call("call.list")["calls"]) == 4  # the others untouched
    # Bob's table is full too: Carol's call is turned away, not lost silently.
    out = api(c).call("call.make", uri=b.sip_uri)["call_id"]
    ended = api(c).wait_call_state(out, "disconnected")
    assert 400 <= ended["status_code"] < 600, ended
    for call_id in calls:
        api(a).call("call.hangup", call_id=call_id)
    for call_id in calls:
        api(a).wait_call_state(call_id, "disconnected")
