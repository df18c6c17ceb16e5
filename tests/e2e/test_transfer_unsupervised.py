"""Unsupervised (blind) transfers: queueing at the target, fail-back, groups."""

from __future__ import annotations

from typing import Any

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
from tests.helpers.api_client import ApiError
from tests.helpers.tones import has_tone

pytestmark = pytest.mark.multiprocess
FREQS = list(TONES.values())
C, A, B, K = TONES["customer"], TONES["alice"], TONES["bob"], TONES["carol"]


def test_unsupervised_to_available_agent(softphones: InstanceFactory, tmp_path):
    floor = start_floor(softphones, tmp_path, alice_args=["--wrap-up-seconds", "30"])
    alice, bob = floor.alice, floor.bob
    _, a_call = customer_calls_alice(floor, pop={"case_id": "C-7"})

    api(alice).call("transfer.unsupervised", call_id=a_call, target="agent:bob")
    # Agent 1 is freed at once: wrap-up, not talking.
    api(alice).wait_event("agent.state", lambda e: e["state"] == "after_call_work")
    ringing = api(bob).wait_call_state(None, "incoming")
    pop = api(bob).wait_event("screen_pop", lambda e: e["call_id"] == ringing["call_id"])
    assert pop["data"]["case_id"] == "C-7" and pop["data"]["number"] == "customer"
    api(bob).call("call.answer", call_id=ringing["call_id"])
    wait_transfer(alice, "completed")
    api(alice).wait_call_state(a_call, "disconnected")
    assert api(alice).call("call.list")["calls"] == []

    levels = record(floor.all(), "after", freqs=FREQS)
    assert has_tone(levels["customer"], B) and has_tone(levels["bob"], C), levels
    assert not has_tone(levels["customer"], A) and not has_tone(levels["alice"], C), levels


def test_unsupervised_to_not_ready_agent_waits_then_connects(softphones: InstanceFactory,
                                                             tmp_path):
    floor = start_floor(softphones, tmp_path)
    cust, alice, bob = floor.customer, floor.alice, floor.bob
    api(bob).call("agent.set_state", state="not_ready", reason="Break")
    _, a_call = customer_calls_alice(floor, pop={"case_id": "Q-1"})

    mark_bob = api(bob).mark()
    api(alice).call("transfer.unsupervised", call_id=a_call, target="agent:bob")
    queued = api(bob).wait_event("call.queued", since=mark_bob)
    wait_transfer(alice, "queued")
    assert api(bob).call("agent.status")["queued_call_id"] == queued["call_id"]
    # Not presented yet: no "incoming" state and nobody hears anybody.
    assert not [e for e in api(bob).events[mark_bob:]
                if e["type"] == "call.state" and e["state"] == "incoming"]
    with pytest.raises(ApiError) as err:
        api(bob).call("call.answer", call_id=queued["call_id"])
    assert err.value.data["code"] == "invalid_state"
    levels = record([cust, bob], "queued", freqs=FREQS)
    assert not has_tone(levels["customer"], B) and not has_tone(levels["bob"], C), levels

    api(bob).call("agent.set_state", state="available")
    presented = api(bob).wait_call_state(queued["call_id"], "incoming", since=mark_bob)
    pop = api(bob).wait_event("screen_pop", lambda e: e["call_id"] == presented["call_id"],
                              since=mark_bob)
    assert pop["data"]["case_id"] == "Q-1"
    api(bob).call("call.answer", call_id=presented["call_id"])
    wait_transfer(alice, "completed")
    levels = record(floor.all(), "connected", freqs=FREQS)
    assert has_tone(levels["customer"], B) and has_tone(levels["bob"], C), levels


def test_queued_transfer_hold_timer_returns_customer(softphones: InstanceFactory, tmp_path):
    floor = start_floor(softphones, tmp_path, bob_args=["--max-queue-seconds", "2"])
    cust, alice, bob = floor.customer, floor.alice, floor.bob
    api(bob).call("agent.set_state", state="not_ready", reason="Lunch")
    c_call, a_call = customer_calls_alice(floor)
    api(alice).call("transfer.unsupervised", call_id=a_call, target="agent:bob")
    wait_transfer(alice, "queued")
    failed = wait_transfer(alice, "failed", timeout=20)
    assert failed["status_code"] == 480
    assert "the customer is back" in failed["reason"]
    api(alice).wait_event("agent.state", lambda e: e["state"] == "talking")
    api(cust).wait_event("call.updated", lambda e: e["call_id"] == c_call
                         and e["hold"] == "none")
    (call,) = api(alice).call("call.list")["calls"]
    assert call["call_id"] == a_call and not call["handed_off"]
    levels = record(floor.all(), "returned", freqs=FREQS)
    assert has_tone(levels["customer"], A) and has_tone(levels["alice"], C), levels


def test_target_refusal_returns_customer(softphones: InstanceFactory, tmp_path):
    floor = start_floor(softphones, tmp_path)
    cust, alice, bob = floor.customer, floor.alice, floor.bob
    c_call, a_call = customer_calls_alice(floor)
    api(alice).call("transfer.unsupervised", call_id=a_call, target="agent:bob")
    ringing = api(bob).wait_call_state(None, "incoming")
    api(bob).call("call.reject", call_id=ringing["call_id"], code=603)
    failed = wait_transfer(alice, "failed")
    assert failed["status_code"] == 603
    api(cust).wait_event("call.updated", lambda e: e["call_id"] == c_call
                         and e["hold"] == "none")
    levels = record(floor.all(), "returned", freqs=FREQS)
    assert has_tone(levels["customer"], A) and has_tone(levels["alice"], C), levels


def test_unsupervised_to_group_goes_to_first_member_available(softphones: InstanceFactory,
                                                              tmp_path):
    floor = start_floor(softphones, tmp_path, carol=True)
    cust, alice, bob, carol = floor.customer, floor.alice, floor.bob, floor.carol
    assert carol is not None
    for agent in (bob, carol):
        api(agent).call("agent.set_state", state="not_ready", reason="Training")
    for agent_id in ("bob", "carol"):
        def is_not_ready(e: dict[str, Any], a: str = agent_id) -> bool:
            return bool(e["agent_id"] == a and e["state"] == "not_ready")

        api(alice).wait_event("directory.agent", is_not_ready)
    _, a_call = customer_calls_alice(floor, pop={"case_id": "G-3"})

    mark_bob = api(bob).mark()
    api(alice).call("transfer.unsupervised", call_id=a_call, target="group:support")
    wait_transfer(alice, "waiting_for_agent")
    api(carol).call("agent.set_state", state="available")
    ringing = api(carol).wait_call_state(None, "incoming")
    pop = api(carol).wait_event("screen_pop", lambda e: e["call_id"] == ringing["call_id"])
    assert pop["data"]["case_id"] == "G-3"
    api(carol).call("call.answer", call_id=ringing["call_id"])
    wait_transfer(alice, "completed")
    assert not [e for e in api(bob).events[mark_bob:] if e["type"] in ("call.state",
                                                                       "call.queued")]
    api(carol).wait_call_state(ringing["call_id"], "confirmed")
    assert only_call(carol)["call_id"] == ringing["call_id"]
    levels = record([cust, carol], "connected", freqs=FREQS)
    assert has_tone(levels["customer"], K) and has_tone(levels["carol"], C), levels


def test_transfer_refusals_through_the_api(softphones: InstanceFactory, tmp_path):
    floor = start_floor(softphones, tmp_path)
    alice, bob = floor.alice, floor.bob
    with pytest.raises(ApiError) as err:
        api(alice).call("transfer.unsupervised", call_id="call-99", target="agent:bob")
    assert err.value.data["code"] == "not_found"
    _, a_call = customer_calls_alice(floor)
    # Alice has no registered account, so a bare number could not even be
    # dialled: the rule on kinds is still what refuses it.
    for target in ("sip:someone@127.0.0.1:9", "+4930123", "preset:legal"):
        with pytest.raises(ApiError) as err:
            api(alice).call("transfer.unsupervised", call_id=a_call, target=target)
        assert err.value.data["code"] == "transfer_not_allowed", target
        assert "agent or an agent group only" in str(err.value.message), target
    with pytest.raises(ApiError) as err:
        api(alice).call("transfer.unsupervised", call_id=a_call, target="agent:nobody")
    assert err.value.data["code"] == "not_found"
    # Nothing happened to the call.
    (call,) = api(alice).call("call.list")["calls"]
    assert (call["state"], call["hold"], call["handed_off"]) == ("confirmed", "none", False)
    # A second transfer while one runs.
    api(alice).call("transfer.supervised.start", call_id=a_call, target="agent:bob")
    api(bob).wait_call_state(None, "incoming")
    with pytest.raises(ApiError) as err:
        api(alice).call("transfer.unsupervised", call_id=a_call, target="agent:bob")
    assert err.value.data["code"] == "invalid_state"
    with pytest.raises(ApiError) as err:
        api(alice).call("call.screen_pop", call_id=a_call, set={"Bad Key": "x"})
    assert err.value.code == -32602
    with pytest.raises(ApiError) as err:
        api(alice).call("call.screen_pop", call_id=a_call, set={"notes": "x" * 5000})
    assert err.value.code == -32602
    api(alice).call("transfer.supervised.cancel", call_id=a_call)
    wait_transfer(alice, "cancelled")
