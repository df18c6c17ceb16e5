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
from tests.helpers.tones import has_tone

pytestmark = pytest.mark.multiprocess
FREQS = list(TONES.values())
C, A, B, K = TONES["customer"], TONES["alice"], TONES["bob"], TONES["carol"]
HEARS = {  # who must hear which tones in a four-way conference
    "customer": [A, B, K], "alice": [C, B, K], "bob": [C, A, K], "carol": [C, A, B],
}


def consulting(softphones: InstanceFactory, tmp_path: Any, four_way: bool = True
               ) -> tuple[Floor, str]:
    floor = start_floor(softphones, tmp_path, carol=True,
                        alice_args=["--four-way"] if four_way else None)
    _, a_call = customer_calls_alice(floor, pop={"case_id": "K-4"})
    api(floor.alice).call("transfer.supervised.start", call_id=a_call, target="agent:bob")
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


def wait_mixing(floor: Floor, joined: int) -> dict[str, Any]:
    def ok(e: dict[str, Any]) -> bool:
        return not e["ended"] and sum(p["state"] == "joined" for p in e["parties"]) == joined

    return api(floor.alice).wait_event("conference", ok, timeout=15)


def test_four_parties_each_hear_the_other_three_steadily(softphones: InstanceFactory,
                                                         tmp_path):
    floor, _ = consulting(softphones, tmp_path)
    add_carol(floor)
    assert api(floor.alice).call("agent.status")["state"] == "conference"
    paths = {}
    for inst in floor.all():
        paths[inst.name] = inst.base / f"{inst.name}-mix.wav"
        api(inst).call("recording.start", path=str(paths[inst.name]))
    time.sleep(10.5)  # the measurement: ten seconds of mixed audio
    for inst in floor.all():
        api(inst).call("recording.stop")
    for name, expected in HEARS.items():
        own = TONES[name]
        for freq in expected:
            levels = tones.window_levels(paths[name], freq)
            assert len(levels) >= 10, (name, levels)
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
    api(floor.alice).wait_event("conference", lambda e: any(
        p["role"] == "fourth" and p["state"] == "left" for p in e["parties"]) or e["ended"])
    transfer = api(floor.alice).call("transfer.status")["transfer"]
    assert transfer["phase"] == "consulting"
    calls = {c["call_id"]: c for c in api(floor.alice).call("call.list")["calls"]}
    assert calls[a_call]["hold"] == "local"
    levels = record([floor.customer, floor.alice, floor.bob], "after-fail", freqs=FREQS)
    assert has_tone(levels["alice"], B) and has_tone(levels["bob"], A), levels
    assert not has_tone(levels["customer"], A) and not has_tone(levels["customer"], B), levels
    # A fifth party.
    add_carol(floor)
    with pytest.raises(ApiError) as err:
        api(floor.alice).call("conference.add_party", target="sip:extra@127.0.0.1:9")
    assert err.value.data["code"] == "invalid_state" and "at most four" in str(err.value.message)


def test_fourth_party_refused_when_disabled(softphones: InstanceFactory, tmp_path):
    floor, _ = consulting(softphones, tmp_path, four_way=False)
    assert floor.carol is not None
    with pytest.raises(ApiError) as err:
        api(floor.alice).call("conference.add_party", target=floor.carol.sip_uri)
    assert err.value.data["code"] == "transfer_not_allowed"
    assert api(floor.alice).call("transfer.status")["transfer"]["phase"] == "consulting"
    assert api(floor.alice).call("conference.list")["conference"] is None
