"""Unsupervised (blind) transfers: queueing at the target, fail-back, groups."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import InstanceFactory
from tests.e2e.conftest import api, record
from tests.e2e.transfer_helpers import (
    FREQS,
    TONES,
    assert_talking,
    calls,
    customer_calls_alice,
    only_call,
    received_responses,
    start_floor,
    start_one,
    wait_transfer,
    wait_until,
)
from tests.helpers import tones
from tests.helpers.api_client import ApiError
from tests.helpers.tones import has_tone

pytestmark = pytest.mark.multiprocess
C, A, B, K = TONES["customer"], TONES["alice"], TONES["bob"], TONES["carol"]


def test_unsupervised_to_available_agent(softphones: InstanceFactory, tmp_path):
    floor = start_floor(softphones, tmp_path, alice_args=["--wrap-up-seconds", "30"])
    alice, bob = floor.alice, floor.bob
    _, a_call = customer_calls_alice(floor, pop={"case_id": "C-7"}, baseline=True)

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
    _, a_call = customer_calls_alice(floor, pop={"case_id": "Q-1"}, baseline=True)

    mark_bob = api(bob).mark()
    api(alice).call("transfer.unsupervised", call_id=a_call, target="agent:bob")
    queued = api(bob).wait_event("call.queued", since=mark_bob)
    # The Call object keeps its documented state; `queued` says it waits.
    assert (queued["state"], queued["queued"], queued["direction"]) == (
        "incoming", True, "inbound"), queued
    assert queued["max_wait_s"] > 0
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


def test_a_failed_outbound_call_leaves_a_not_ready_agent_not_ready(
        softphones: InstanceFactory, tmp_path):
    """Default wrap-up policy (back to Available): a call that never connected
    must not make Bob Available, or he would be handed queued transfers."""
    floor = start_floor(softphones, tmp_path)
    cust, alice, bob = floor.customer, floor.alice, floor.bob
    api(bob).call("agent.set_state", state="not_ready", reason="Break")
    mark_bob, mark_cust = api(bob).mark(), api(cust).mark()
    out = api(bob).call("call.make", uri=cust.sip_uri)["call_id"]
    api(bob).wait_event("agent.state", lambda e: e["state"] == "talking", since=mark_bob)
    ringing = api(cust).wait_call_state(None, "incoming", since=mark_cust)
    api(cust).call("call.reject", call_id=ringing["call_id"], code=486)
    api(bob).wait_call_state(out, "disconnected", since=mark_bob)
    back = api(bob).wait_event("agent.state", lambda e: e["state"] != "talking",
                               since=mark_bob)
    assert (back["state"], back["reason"]) == ("not_ready", "Break"), back
    states = [e["state"] for e in api(bob).events[mark_bob:] if e["type"] == "agent.state"]
    assert "available" not in states and "after_call_work" not in states, states

    # So a transfer to him is queued, not presented.
    _, a_call = customer_calls_alice(floor)
    mark_bob = api(bob).mark()
    api(alice).call("transfer.unsupervised", call_id=a_call, target="agent:bob")
    wait_transfer(alice, "queued")
    api(bob).wait_event("call.queued", since=mark_bob)
    assert api(bob).call("agent.status")["state"] == "not_ready"


def test_second_transferred_call_is_refused_486_and_returns_to_its_transferor(
        softphones: InstanceFactory, tmp_path):
    floor = start_floor(softphones, tmp_path, carol=True)
    cust, alice, bob, carol = floor.customer, floor.alice, floor.bob, floor.carol
    assert carol is not None and floor.directory is not None
    dan = start_one(softphones, tmp_path, "dan")  # a second customer, Carol's
    api(carol).call("directory.set", directory=floor.directory)
    api(bob).call("agent.set_state", state="not_ready", reason="Break")

    _, a_call = customer_calls_alice(floor, pop={"case_id": "FIRST"})
    mark_bob = api(bob).mark()
    api(alice).call("transfer.unsupervised", call_id=a_call, target="agent:bob")
    first = api(bob).wait_event("call.queued", since=mark_bob)
    wait_transfer(alice, "queued")

    d_call, k_call = calls(dan, carol)
    assert_talking(dan, carol, "second-baseline")
    api(carol).call("transfer.unsupervised", call_id=k_call, target="agent:bob")
    failed = wait_transfer(carol, "failed")
    assert failed["status_code"] == 486, failed
    assert "the customer is back" in failed["reason"]
    api(dan).wait_event("call.updated", lambda e: e["call_id"] == d_call and e["hold"] == "none"
                        and e["media_active"])
    (call,) = api(carol).call("call.list")["calls"]
    assert call["call_id"] == k_call and not call["handed_off"] and call["hold"] == "none"
    assert_talking(dan, carol, "second-returned", others=[cust, bob])

    # Bob still holds only the first call, still queued; Alice's transfer waits.
    assert api(bob).call("agent.status")["queued_call_id"] == first["call_id"]
    assert [e["call_id"] for e in api(bob).events[mark_bob:] if e["type"] == "call.queued"] == [
        first["call_id"]]
    assert api(alice).call("transfer.status")["transfer"]["phase"] == "queued"


@pytest.mark.parametrize("first", ["original_leg", "queued_leg"])
def test_customer_hanging_up_while_queued_is_reported_failed(
        softphones: InstanceFactory, tmp_path, first):
    """The customer hangs up (both their calls, in either order) while queued
    at Bob: the transfer did not complete and must not say so."""
    floor = start_floor(softphones, tmp_path)
    cust, alice, bob = floor.customer, floor.alice, floor.bob
    api(bob).call("agent.set_state", state="not_ready", reason="Break")
    c_call, a_call = customer_calls_alice(floor)
    mark_alice, mark_bob = api(alice).mark(), api(bob).mark()
    api(alice).call("transfer.unsupervised", call_id=a_call, target="agent:bob")
    queued = api(bob).wait_event("call.queued", since=mark_bob)
    wait_transfer(alice, "queued")
    (new_leg,) = [c["call_id"] for c in api(cust).call("call.list")["calls"]
                  if c["call_id"] != c_call]

    order = [c_call, new_leg] if first == "original_leg" else [new_leg, c_call]
    for call_id in order:
        api(cust).call("call.hangup", call_id=call_id)
        api(cust).wait_call_state(call_id, "disconnected")

    ended = api(alice).wait_event("transfer.progress", lambda e: e["phase"] in (
        "failed", "completed"), since=mark_alice)
    assert ended["phase"] == "failed", ended
    assert "the customer hung up while queued" in ended["reason"], ended
    api(alice).wait_call_state(a_call, "disconnected", since=mark_alice)
    api(bob).wait_call_state(queued["call_id"], "disconnected", since=mark_bob)
    assert api(bob).call("agent.status")["queued_call_id"] is None
    assert not [e for e in api(alice).events[mark_alice:]
                if e["type"] == "transfer.progress" and e["phase"] == "completed"]
    # Nothing is left anywhere, and Bob becoming Available gets no call.
    mark_bob = api(bob).mark()
    api(bob).call("agent.set_state", state="available")
    api(bob).wait_event("agent.state", lambda e: e["state"] == "available", since=mark_bob)
    for inst in (cust, alice, bob):
        assert api(inst).call("call.list")["calls"] == [], inst.name


def test_queued_call_182_is_sent_again_to_keep_it_alive(softphones: InstanceFactory, tmp_path):
    floor = start_floor(softphones, tmp_path, customer_args=["--sip-trace"])
    cust, alice, bob = floor.customer, floor.alice, floor.bob
    assert api(bob).call("agent.set_queue_refresh", seconds=0.5) == {"seconds": 0.5}
    with pytest.raises(ApiError) as err:
        api(bob).call("agent.set_queue_refresh", seconds=0)
    assert err.value.data["code"] == "invalid_params"
    api(bob).call("agent.set_state", state="not_ready", reason="Break")
    _, a_call = customer_calls_alice(floor, pop={"case_id": "KA-1"}, baseline=True)
    assert received_responses(cust, 182) == 0

    api(alice).call("transfer.unsupervised", call_id=a_call, target="agent:bob")
    wait_transfer(alice, "queued")
    # The first 182, then at least three refreshes, seen by the customer's phone.
    wait_until("four 182s at the customer", lambda: received_responses(cust, 182) >= 4)
    transfer = api(alice).call("transfer.status")["transfer"]
    assert (transfer["phase"], transfer["notify_code"]) == ("queued", 182), transfer
    levels = record([cust, bob], "queued", freqs=FREQS)
    assert not tones_heard(levels), levels

    mark_bob = api(bob).mark()
    api(bob).call("agent.set_state", state="available")
    ringing = api(bob).wait_event("call.state", lambda e: e["state"] == "incoming",
                                  since=mark_bob)
    api(bob).call("call.answer", call_id=ringing["call_id"])
    wait_transfer(alice, "completed")
    api(alice).wait_call_state(a_call, "disconnected")
    sent = received_responses(cust, 182)
    assert_talking(cust, bob, "after-queue", others=[alice])
    assert received_responses(cust, 182) == sent  # no refresh once answered


def test_agent_1_never_takes_the_customer_back_while_the_new_call_is_pending(
        softphones: InstanceFactory, tmp_path):
    """Alice's watchdog runs out long before Bob's queue gives up: she must not
    resume the customer (who would then have two calls), only be alerted;
    the final result (here Bob answering) decides."""
    floor = start_floor(softphones, tmp_path, customer_args=["--sip-trace"],
                        bob_args=["--max-queue-seconds", "600"])
    cust, alice, bob = floor.customer, floor.alice, floor.bob
    timers = api(alice).call("transfer.set_timers", pending_silence_s=2)
    assert timers == {"consult_timeout_s": 30.0, "complete_timeout_s": 30.0,
                      "pending_silence_s": 2.0}
    for bad in ({"pending_silence_s": 0}, {"consult_timeout_s": "5"}, {"enabled": False}):
        with pytest.raises(ApiError) as err:
            api(alice).call("transfer.set_timers", **bad)
        assert err.value.code == -32602, bad
    api(bob).call("agent.set_queue_refresh", seconds=0.5)
    api(bob).call("agent.set_state", state="not_ready", reason="Lunch")
    c_call, a_call = customer_calls_alice(floor)
    mark_alice, mark_cust = api(alice).mark(), api(cust).mark()
    api(alice).call("transfer.unsupervised", call_id=a_call, target="agent:bob")
    wait_transfer(alice, "queued")

    # While Bob keeps refreshing his 182, each NOTIFY is news: no alert.
    wait_until("eight 182s (4 s, twice the watchdog)",
               lambda: received_responses(cust, 182) >= 8)
    assert [e["phase"] for e in api(alice).events[mark_alice:]
            if e["type"] == "transfer.progress"] == ["holding", "completing", "queued"]

    # Bob falls silent (as a target behind a dead link would): Alice is alerted
    # and keeps the customer where they are.
    api(bob).call("agent.set_queue_refresh", seconds=170)
    alert = api(alice).wait_event("transfer.progress", lambda e: "still pending" in e["reason"],
                                  since=mark_alice)
    assert alert["phase"] == "queued" and alert["notify_code"] == 182, alert
    (mine,) = api(alice).call("call.list")["calls"]
    assert (mine["call_id"], mine["hold"], mine["handed_off"]) == (a_call, "local", True), mine
    assert not [e for e in api(cust).events[mark_cust:] if e["type"] == "call.updated"
                and e["call_id"] == c_call and e["hold"] == "none"]
    assert len(api(cust).call("call.list")["calls"]) == 2  # held by Alice + queued at Bob
    # Nor can Alice take the customer back by hand while the new call is pending.
    with pytest.raises(ApiError) as refused:
        api(alice).call("call.resume", call_id=a_call)
    assert refused.value.code == -32003 and "being transferred" in str(refused.value)
    levels = record([cust, alice], "pending", freqs=FREQS)
    assert not tones.has_tone(levels["customer"], TONES["alice"]), levels
    assert not tones.has_tone(levels["alice"], TONES["customer"]), levels

    mark_bob = api(bob).mark()
    api(bob).call("agent.set_state", state="available")
    ringing = api(bob).wait_event("call.state", lambda e: e["state"] == "incoming",
                                  since=mark_bob)
    api(bob).call("call.answer", call_id=ringing["call_id"])
    wait_transfer(alice, "completed", since=mark_alice)
    api(alice).wait_call_state(a_call, "disconnected")
    assert api(alice).call("call.list")["calls"] == []
    only_call(cust)
    assert_talking(cust, bob, "after-queue", others=[alice])


def tones_heard(levels: dict[str, dict[float, float]]) -> list[tuple[str, float]]:
    return [(name, f) for name, lv in levels.items() for f in FREQS if tones.has_tone(lv, f)]
