"""Four-way conferencing mixed at agent 1's softphone (four processes).

Each party's recording must contain the tones of the other three, not its
own, steadily: no tone in any one-second window drifting more than 3 dB.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conftest import InstanceFactory
from tests.e2e.conftest import api, record
from tests.e2e.transfer_helpers import (
    TONES,
    Floor,
    customer_calls_alice,
    start_floor,
    wait_transfer,
)
from tests.helpers import tones
from tests.helpers.api_client import ApiError
from tests.helpers.instance import HeadlessInstance
from tests.helpers.tones import has_tone

pytestmark = pytest.mark.multiprocess
FREQS = list(TONES.values())
C, A, B, K = TONES["customer"], TONES["alice"], TONES["bob"], TONES["carol"]
HEARS = {  # who must hear which tones in a four-way conference
    "customer": [A, B, K], "alice": [C, B, K], "bob": [C, A, K], "carol": [C, A, B],
}


def consulting(softphones: InstanceFactory, tmp_path: Any, four_way: bool = True,
               target: str = "agent:bob", alice_args: list[str] | None = None
               ) -> tuple[Floor, str]:
    floor = start_floor(softphones, tmp_path, carol=True,
                        alice_args=(["--four-way"] if four_way else []) + (alice_args or []))
    if target.startswith("group:"):
        # A group without a URI goes to its first member Available by presence.
        api(floor.alice).wait_event("directory.agent", lambda e: e["agent_id"] == "bob"
                                    and e["state"] == "available")
    _, a_call = customer_calls_alice(floor, pop={"case_id": "K-4"})
    api(floor.alice).call("transfer.supervised.start", call_id=a_call, target=target)
    ringing = api(floor.bob).wait_call_state(None, "incoming")
    api(floor.bob).call("call.answer", call_id=ringing["call_id"])
    wait_transfer(floor.alice, "consulting")
    return floor, a_call


def add_carol(floor: Floor) -> str:
    assert floor.carol is not None
    mark = api(floor.carol).mark()
    fourth = api(floor.alice).call("conference.add_party", target=floor.carol.sip_uri)["call_id"]
    ringing = api(floor.carol).wait_call_state(None, "incoming", since=mark)
    api(floor.carol).call("call.answer", call_id=ringing["call_id"])
    wait_mixing(floor, 3)
    return str(fourth)


def wait_mixing(floor: Floor, joined: int, since: int = 0) -> dict[str, Any]:
    def ok(e: dict[str, Any]) -> bool:
        return not e["ended"] and sum(p["state"] == "joined" for p in e["parties"]) == joined

    return api(floor.alice).wait_event("conference", ok, timeout=15, since=since)


def wait_ended(floor: Floor, since: int = 0, timeout: float = 15) -> dict[str, Any]:
    return api(floor.alice).wait_event("conference", lambda e: e["ended"], timeout=timeout,
                                       since=since)


def fourth_of(conf: dict[str, Any]) -> dict[str, Any]:
    fourth: list[dict[str, Any]] = [p for p in conf["parties"] if p["role"] == "fourth"]
    assert len(fourth) == 1, conf
    return fourth[0]


def calls_of(inst: HeadlessInstance) -> dict[str, dict[str, Any]]:
    return {c["call_id"]: c for c in api(inst).call("call.list")["calls"]}


def wait_no_calls(inst: HeadlessInstance, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while api(inst).call("call.list")["calls"] and time.monotonic() < deadline:
        time.sleep(0.05)  # polling the API: call.list has no event for "all gone"
    assert api(inst).call("call.list")["calls"] == []


def assert_consult_as_before(floor: Floor, a_call: str, tag: str) -> None:
    """Customer on hold hearing nobody; agent 1 and the target hear each other."""
    assert api(floor.alice).call("transfer.status")["transfer"]["phase"] == "consulting"
    assert api(floor.alice).call("conference.list")["conference"] is None
    assert calls_of(floor.alice)[a_call]["hold"] == "local"
    levels = record([floor.customer, floor.alice, floor.bob], tag, freqs=FREQS)
    assert has_tone(levels["alice"], B) and has_tone(levels["bob"], A), levels
    assert not has_tone(levels["customer"], A) and not has_tone(levels["customer"], B), levels
    assert not has_tone(levels["bob"], C) and not has_tone(levels["alice"], C), levels


def test_four_parties_each_hear_the_other_three_steadily(softphones: InstanceFactory,
                                                         tmp_path):
    floor, _ = consulting(softphones, tmp_path)
    add_carol(floor)
    assert api(floor.alice).call("agent.status")["state"] == "conference"
    paths = {}
    for inst in floor.all():
        paths[inst.name] = inst.base / f"{inst.name}-mix.wav"
        api(inst).call("recording.start", path=str(paths[inst.name]))
    time.sleep(12.0)  # the measurement: at least ten whole 1-s windows of mixed audio
    for inst in floor.all():
        api(inst).call("recording.stop")
    for name, expected in HEARS.items():
        own = TONES[name]
        for freq in expected:
            levels = tones.window_levels(paths[name], freq)
            assert len(levels) >= 11, (name, levels)
            assert min(levels) > -40, (name, freq, levels)
            assert max(levels) - min(levels) <= 3.0, (name, freq, levels)
        own_levels = tones.window_levels(paths[name], own)
        assert max(own_levels) < -40, (name, "hears itself", own_levels)


def test_drop_party_then_cancel(softphones: InstanceFactory, tmp_path):
    floor, a_call = consulting(softphones, tmp_path)
    fourth = add_carol(floor)
    api(floor.alice).call("conference.drop_party", call_id=fourth)
    assert floor.carol is not None
    api(floor.carol).wait_call_state(None, "disconnected")
    wait_mixing(floor, 2)
    levels = record([floor.customer, floor.alice, floor.bob], "dropped", freqs=FREQS)
    for name in ("customer", "alice", "bob"):
        for freq in (C, A, B):
            assert has_tone(levels[name], freq) == (freq != TONES[name]), (name, levels)

    api(floor.alice).call("transfer.supervised.cancel", call_id=a_call)
    wait_transfer(floor.alice, "cancelled")
    api(floor.alice).wait_event("conference", lambda e: e["ended"])
    api(floor.bob).wait_call_state(None, "disconnected")
    levels = record([floor.customer, floor.alice, floor.bob], "cancelled", freqs=FREQS)
    assert has_tone(levels["customer"], A) and has_tone(levels["alice"], C), levels
    assert not has_tone(levels["customer"], B) and not has_tone(levels["bob"], C), levels


def test_complete_sends_customer_to_target_and_drops_fourth(softphones: InstanceFactory,
                                                            tmp_path):
    floor, a_call = consulting(softphones, tmp_path)
    add_carol(floor)
    done = api(floor.alice).call("transfer.supervised.complete", call_id=a_call)
    assert done["fourth_party"] == "dropped"
    wait_transfer(floor.alice, "completed")
    assert floor.carol is not None
    api(floor.carol).wait_call_state(None, "disconnected")
    api(floor.alice).wait_event("conference", lambda e: e["ended"])
    api(floor.bob).wait_event("call.state", lambda e: e["state"] == "confirmed", since=0)
    deadline = time.monotonic() + 10
    while api(floor.alice).call("call.list")["calls"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert api(floor.alice).call("call.list")["calls"] == []
    levels = record([floor.customer, floor.bob], "completed", freqs=FREQS)
    assert has_tone(levels["customer"], B) and has_tone(levels["bob"], C), levels
    assert not has_tone(levels["customer"], K), levels


def test_customer_hanging_up_leaves_the_others_connected(softphones: InstanceFactory,
                                                         tmp_path):
    floor, _ = consulting(softphones, tmp_path)
    add_carol(floor)
    (c_call,) = api(floor.customer).call("call.list")["calls"]
    api(floor.customer).call("call.hangup", call_id=c_call["call_id"])
    wait_transfer(floor.alice, "failed")
    wait_mixing(floor, 2)
    assert floor.carol is not None
    levels = record([floor.alice, floor.bob, floor.carol], "without-customer", freqs=FREQS)
    assert has_tone(levels["bob"], K) and has_tone(levels["carol"], B), levels
    assert has_tone(levels["alice"], B) and has_tone(levels["alice"], K), levels
    # One action ends it for everyone left.
    api(floor.alice).call("conference.end")
    api(floor.bob).wait_call_state(None, "disconnected")
    api(floor.carol).wait_call_state(None, "disconnected")
    wait_ended(floor)
    wait_no_calls(floor.alice)


def test_bad_input_leaves_the_three_as_they_were(softphones: InstanceFactory, tmp_path):
    floor, a_call = consulting(softphones, tmp_path)
    assert floor.carol is not None
    # A party that fails to answer.
    api(floor.alice).call("conference.add_party", target=floor.carol.sip_uri)
    ringing = api(floor.carol).wait_call_state(None, "incoming")
    # Adding while a leg is still ringing.
    with pytest.raises(ApiError) as err:
        api(floor.alice).call("conference.add_party", target=floor.carol.sip_uri)
    assert err.value.data["code"] == "invalid_state" and "ringing" in str(err.value.message)
    api(floor.carol).call("call.reject", call_id=ringing["call_id"], code=486)
    ended = wait_ended(floor)
    failure = fourth_of(ended)["failure"]
    assert (failure["status_code"], failure["reason"]) == (486, "Busy Here"), ended
    assert failure["message"] == "Carol did not answer (486 Busy Here)"
    listed = api(floor.alice).call("conference.list")
    assert listed["conference"] is None and listed["last_failure"]["failure"] == failure
    assert_consult_as_before(floor, a_call, "after-fail")
    # Later changes of either leg (mute, re-INVITE, refresh) join nobody.
    consult = api(floor.alice).call("transfer.status")["transfer"]["consult_call_id"]
    for call_id in (consult, a_call):
        for muted in (True, False):
            api(floor.alice).call("call.mute", call_id=call_id, muted=muted)
    assert not [e for e in api(floor.alice).events if e["type"] == "conference"
                and not e["ended"] and e["conference_id"] == ended["conference_id"]
                and e["parties"][0]["state"] == "joined"]
    assert_consult_as_before(floor, a_call, "after-mute")
    # A fifth party.
    add_carol(floor)
    with pytest.raises(ApiError) as err:
        api(floor.alice).call("conference.add_party", target="sip:extra@127.0.0.1:9")
    assert err.value.data["code"] == "invalid_state" and "at most four" in str(err.value.message)


@pytest.mark.parametrize("how", ["declined", "no_answer"])
def test_a_fourth_party_that_does_not_answer_is_reported(softphones: InstanceFactory,
                                                         tmp_path, how: str):
    floor, a_call = consulting(softphones, tmp_path, alice_args=["--consult-timeout", "3"])
    assert floor.carol is not None
    started = time.monotonic()
    fourth = api(floor.alice).call("conference.add_party", target="agent:carol")["call_id"]
    ringing = api(floor.carol).wait_call_state(None, "incoming")
    if how == "declined":
        api(floor.carol).call("call.reject", call_id=ringing["call_id"], code=603)
    ended = wait_ended(floor)
    party = fourth_of(ended)
    assert (party["call_id"], party["state"]) == (fourth, "left")
    if how == "declined":
        assert party["failure"]["status_code"] == 603
        assert party["failure"]["message"] == "Carol did not answer (603 Decline)"
    else:
        # The ring timeout (the consult timeout) hangs the leg up.
        assert time.monotonic() - started >= 2.5
        assert party["failure"] == {"status_code": 408, "reason": "no answer within 3 s",
                                    "message": "Carol did not answer within 3 s"}
        api(floor.carol).wait_call_state(ringing["call_id"], "disconnected")
    assert_consult_as_before(floor, a_call, f"after-{how}")


def test_dropping_the_target_leaves_customer_agent_and_fourth_party(
        softphones: InstanceFactory, tmp_path):
    floor, a_call = consulting(softphones, tmp_path)
    assert floor.carol is not None
    add_carol(floor)
    (k_call,) = api(floor.carol).call("call.list")["calls"]
    consult = api(floor.alice).call("transfer.status")["transfer"]["consult_call_id"]
    mark, mark_carol = api(floor.alice).mark(), api(floor.carol).mark()
    api(floor.alice).call("conference.drop_party", call_id=consult)
    api(floor.bob).wait_call_state(None, "disconnected")
    cancelled = wait_transfer(floor.alice, "cancelled", since=mark)
    assert "target left" in cancelled["reason"], cancelled
    conf = api(floor.alice).wait_event("conference", lambda e: e["transfer_over"], since=mark)
    assert not conf["ended"], conf
    assert {p["role"] for p in conf["parties"] if p["state"] == "joined"} == {"customer",
                                                                                "fourth"}
    levels = record([floor.customer, floor.alice, floor.carol], "no-target", freqs=FREQS)
    for name, hears in {"customer": (A, K), "alice": (C, K), "carol": (C, A)}.items():
        for freq in (C, A, K):
            assert has_tone(levels[name], freq) == (freq in hears), (name, levels)
        assert not has_tone(levels[name], B), (name, levels)
    transfer_events = [e["phase"] for e in api(floor.alice).events[mark:]
                       if e["type"] == "transfer.progress"]
    assert transfer_events == ["cancelled"], transfer_events
    assert api(floor.alice).call("agent.status")["state"] == "conference"
    assert not [e for e in api(floor.carol).events[mark_carol:] if e["type"] == "call.state"]
    with pytest.raises(ApiError) as err:
        api(floor.alice).call("conference.add_party", target="agent:bob")
    assert "transfer is over" in str(err.value.message)

    # conference.end: everyone but the customer is hung up; the customer stays.
    api(floor.alice).call("conference.end")
    api(floor.carol).wait_call_state(k_call["call_id"], "disconnected")
    wait_ended(floor, since=mark)
    assert list(calls_of(floor.alice)) == [a_call]
    levels = record([floor.customer, floor.alice], "after-end", freqs=FREQS)
    assert has_tone(levels["customer"], A) and has_tone(levels["alice"], C), levels
    assert not has_tone(levels["customer"], K) and not has_tone(levels["alice"], K), levels


def test_cancel_with_four_parties_returns_to_the_customer_alone(softphones: InstanceFactory,
                                                                tmp_path):
    floor, a_call = consulting(softphones, tmp_path)
    assert floor.carol is not None
    add_carol(floor)
    api(floor.alice).call("transfer.supervised.cancel", call_id=a_call)
    wait_transfer(floor.alice, "cancelled")
    wait_ended(floor)
    api(floor.bob).wait_call_state(None, "disconnected")
    api(floor.carol).wait_call_state(None, "disconnected")
    assert list(calls_of(floor.alice)) == [a_call]
    levels = record([floor.customer, floor.alice], "cancel-four", freqs=FREQS)
    assert has_tone(levels["customer"], A) and has_tone(levels["alice"], C), levels
    assert not any(has_tone(levels[n], f) for n in ("customer", "alice") for f in (B, K))


@pytest.mark.parametrize("target", ["agent:bob", "group:support"])
def test_complete_sends_the_fourth_party_to_the_target_too(softphones: InstanceFactory,
                                                           tmp_path, target: str):
    floor, a_call = consulting(softphones, tmp_path, target=target)
    assert floor.carol is not None
    fourth = add_carol(floor)
    mark_bob, mark_carol = api(floor.bob).mark(), api(floor.carol).mark()
    done = api(floor.alice).call("transfer.supervised.complete", call_id=a_call,
                                 fourth_party="transfer")
    assert done["fourth_party"] == "transferred"
    wait_transfer(floor.alice, "completed")
    wait_ended(floor)
    # Bob is talking to the customer: the fourth party waits as his next call.
    queued = api(floor.bob).wait_event("call.queued", since=mark_bob)
    (c_call,) = api(floor.customer).call("call.list")["calls"]
    api(floor.customer).call("call.hangup", call_id=c_call["call_id"])
    presented = api(floor.bob).wait_call_state(queued["call_id"], "incoming", since=mark_bob)
    pop = api(floor.bob).wait_event("screen_pop", lambda e: e["call_id"] == queued["call_id"],
                                    since=mark_bob)
    assert pop["data"]["case_id"] == "K-4", pop
    api(floor.bob).call("call.answer", call_id=presented["call_id"])
    api(floor.bob).wait_call_state(queued["call_id"], "confirmed", since=mark_bob)
    api(floor.carol).wait_event("call.state", lambda e: e["state"] == "confirmed",
                                since=mark_carol)
    api(floor.alice).wait_call_state(fourth, "disconnected")
    wait_no_calls(floor.alice)
    levels = record([floor.bob, floor.carol], "sent-along", freqs=FREQS)
    assert has_tone(levels["bob"], K) and has_tone(levels["carol"], B), levels
    assert not has_tone(levels["carol"], A) and not has_tone(levels["carol"], C), levels


def test_fourth_party_refused_when_disabled(softphones: InstanceFactory, tmp_path):
    floor, _ = consulting(softphones, tmp_path, four_way=False)
    assert floor.carol is not None
    with pytest.raises(ApiError) as err:
        api(floor.alice).call("conference.add_party", target=floor.carol.sip_uri)
    assert err.value.data["code"] == "transfer_not_allowed"
    assert api(floor.alice).call("transfer.status")["transfer"]["phase"] == "consulting"
    assert api(floor.alice).call("conference.list")["conference"] is None
