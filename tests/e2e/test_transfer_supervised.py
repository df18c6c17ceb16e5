"""Supervised (attended) transfer between separate softphone processes.

Audio is checked by tone detection after every step: the customer must end up
talking to the right person, and never hear a conversation they are not in.
"""

from __future__ import annotations

import pytest

from tests.conftest import InstanceFactory
from tests.e2e.conftest import api, record
from tests.e2e.transfer_helpers import (
    TONES,
    customer_calls_alice,
    only_call,
    start_floor,
    wait_transfer,
)
from tests.helpers.tones import has_tone

pytestmark = pytest.mark.multiprocess
FREQS = list(TONES.values())
C, A, B = TONES["customer"], TONES["alice"], TONES["bob"]


def test_supervised_complete_customer_ends_with_agent_2_and_the_screen_pop(
        softphones: InstanceFactory, tmp_path):
    floor = start_floor(softphones, tmp_path)
    alice, bob = floor.alice, floor.bob
    _, a_call = customer_calls_alice(floor, pop={"case_id": "C-42", "notes": "VIP <b>x</b>"})

    started = api(alice).call("transfer.supervised.start", call_id=a_call, target="agent:bob")
    consult = started["consult_call_id"]
    ringing = api(bob).wait_call_state(None, "incoming")
    pop = api(bob).wait_event("screen_pop", lambda e: e["call_id"] == ringing["call_id"])
    assert pop["data"]["case_id"] == "C-42"
    assert pop["data"]["notes"] == "VIP <b>x</b>"
    assert pop["data"]["number"] == "customer"  # the caller, not agent 1
    api(bob).call("call.answer", call_id=ringing["call_id"])
    wait_transfer(alice, "consulting")
    assert api(alice).call("agent.status")["state"] == "consult"

    levels = record(floor.all(), "consult", freqs=FREQS)
    assert has_tone(levels["alice"], B) and has_tone(levels["bob"], A), levels
    assert not has_tone(levels["customer"], A) and not has_tone(levels["customer"], B), levels
    assert not has_tone(levels["bob"], C), levels

    mark_bob = api(bob).mark()
    api(alice).call("transfer.supervised.complete", call_id=a_call)
    done = wait_transfer(alice, "completed")
    assert done["consult_call_id"] == consult
    api(alice).wait_event("call.state", lambda e: e["call_id"] == a_call
                          and e["state"] == "disconnected")
    api(alice).wait_event("call.state", lambda e: e["call_id"] == consult
                          and e["state"] == "disconnected")
    replaced = api(bob).wait_call_state(None, "confirmed", since=mark_bob)
    api(bob).wait_event("call.state", lambda e: e["call_id"] == ringing["call_id"]
                        and e["state"] == "disconnected")

    assert api(alice).call("call.list")["calls"] == []
    bob_call = only_call(bob)
    assert bob_call["call_id"] == replaced["call_id"]
    bob_pop = api(bob).call("call.screen_pop", call_id=bob_call["call_id"])["data"]
    assert bob_pop["case_id"] == "C-42" and bob_pop["number"] == "customer"

    levels = record(floor.all(), "after", freqs=FREQS)
    assert has_tone(levels["customer"], B) and has_tone(levels["bob"], C), levels
    assert not has_tone(levels["customer"], A), levels


def test_supervised_cancel_returns_to_the_customer(softphones: InstanceFactory, tmp_path):
    floor = start_floor(softphones, tmp_path)
    cust, alice, bob = floor.customer, floor.alice, floor.bob
    c_call, a_call = customer_calls_alice(floor)
    started = api(alice).call("transfer.supervised.start", call_id=a_call, target="agent:bob")
    ringing = api(bob).wait_call_state(None, "incoming")
    api(bob).call("call.answer", call_id=ringing["call_id"])
    wait_transfer(alice, "consulting")

    api(alice).call("transfer.supervised.cancel", call_id=a_call)
    wait_transfer(alice, "cancelled")
    api(bob).wait_call_state(ringing["call_id"], "disconnected")
    api(alice).wait_event("call.updated", lambda e: e["call_id"] == a_call
                          and e["hold"] == "none")
    api(cust).wait_event("call.updated", lambda e: e["call_id"] == c_call
                         and e["hold"] == "none")
    assert [c["call_id"] for c in api(alice).call("call.list")["calls"]] == [a_call]
    assert started["consult_call_id"] not in {c["call_id"] for c in
                                              api(alice).call("call.list")["calls"]}
    levels = record(floor.all(), "cancelled", freqs=FREQS)
    assert has_tone(levels["customer"], A) and has_tone(levels["alice"], C), levels
    assert not has_tone(levels["bob"], A), levels


@pytest.mark.parametrize("how", ["declined", "no_answer"])
def test_consult_failure_leaves_customer_on_hold_then_resume(
        softphones: InstanceFactory, tmp_path, how):
    floor = start_floor(softphones, tmp_path,
                        alice_args=["--consult-timeout", "2"] if how == "no_answer" else None)
    cust, alice, bob = floor.customer, floor.alice, floor.bob
    c_call, a_call = customer_calls_alice(floor)
    api(alice).call("transfer.supervised.start", call_id=a_call, target="agent:bob")
    ringing = api(bob).wait_call_state(None, "incoming")
    if how == "declined":
        api(bob).call("call.reject", call_id=ringing["call_id"], code=603)
    failed = wait_transfer(alice, "consult_failed")
    assert failed["status_code"] in ((603,) if how == "declined" else (408, 487))
    calls = api(alice).call("call.list")["calls"]
    assert [(c["call_id"], c["hold"]) for c in calls] == [(a_call, "local")]
    levels = record(floor.all(), "held", freqs=FREQS)
    assert not has_tone(levels["customer"], A), levels

    # One action brings the customer back.
    api(alice).call("call.resume", call_id=a_call)
    wait_transfer(alice, "cancelled")
    api(cust).wait_event("call.updated", lambda e: e["call_id"] == c_call
                         and e["hold"] == "none")
    levels = record(floor.all(), "resumed", freqs=FREQS)
    assert has_tone(levels["customer"], A) and has_tone(levels["alice"], C), levels
