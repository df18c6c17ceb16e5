"""Supervised (attended) transfer between separate softphone processes.

Audio is checked by tone detection after every step: the customer must end up
talking to the right person, and never hear a conversation they are not in.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import InstanceFactory
from tests.e2e.conftest import api, record
from tests.e2e.transfer_helpers import (
    FREQS,
    TONES,
    assert_talking,
    customer_calls_alice,
    only_call,
    start_floor,
    wait_transfer,
)
from tests.helpers.instance import HeadlessInstance
from tests.helpers.kamailio import Kamailio, kamailio_binary
from tests.helpers.tones import has_tone
from tests.helpers.tools import missing

pytestmark = pytest.mark.multiprocess
C, A, B = TONES["customer"], TONES["alice"], TONES["bob"]


def test_supervised_complete_customer_ends_with_agent_2_and_the_screen_pop(
        softphones: InstanceFactory, tmp_path):
    floor = start_floor(softphones, tmp_path)
    alice, bob = floor.alice, floor.bob
    _, a_call = customer_calls_alice(floor, pop={"case_id": "C-42", "notes": "VIP <b>x</b>"},
                                     baseline=True)

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
    c_call, a_call = customer_calls_alice(floor, baseline=True)
    started = api(alice).call("transfer.supervised.start", call_id=a_call, target="agent:bob")
    ringing = api(bob).wait_call_state(None, "incoming")
    api(bob).call("call.answer", call_id=ringing["call_id"])
    wait_transfer(alice, "consulting")
    # During the consult: Alice and Bob talk, the held customer hears neither.
    assert_talking(alice, bob, "consult", others=[cust])

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


@pytest.mark.parametrize("how", ["declined", "busy", "no_answer"])
def test_consult_failure_leaves_customer_on_hold_then_resume(
        softphones: InstanceFactory, tmp_path, how):
    floor = start_floor(softphones, tmp_path,
                        alice_args=["--consult-timeout", "2"] if how == "no_answer" else None)
    cust, alice, bob = floor.customer, floor.alice, floor.bob
    c_call, a_call = customer_calls_alice(floor)
    api(alice).call("transfer.supervised.start", call_id=a_call, target="agent:bob")
    ringing = api(bob).wait_call_state(None, "incoming")
    if how in ("declined", "busy"):
        api(bob).call("call.reject", call_id=ringing["call_id"],
                      code=603 if how == "declined" else 486)
    failed = wait_transfer(alice, "consult_failed")
    expected = {"declined": (603,), "busy": (486,), "no_answer": (408, 487)}[how]
    assert failed["status_code"] in expected, failed
    assert "the customer is on hold" in failed["reason"]
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


def test_consult_call_rings_at_once_at_a_not_ready_target(softphones: InstanceFactory,
                                                          tmp_path):
    floor = start_floor(softphones, tmp_path)
    cust, alice, bob = floor.customer, floor.alice, floor.bob
    api(bob).call("agent.set_state", state="not_ready", reason="Training")
    api(alice).wait_event("directory.agent", lambda e: e["agent_id"] == "bob"
                          and e["state"] == "not_ready")
    _, a_call = customer_calls_alice(floor, pop={"case_id": "NR-1"})
    mark_bob = api(bob).mark()
    api(alice).call("transfer.supervised.start", call_id=a_call, target="agent:bob")
    ringing = api(bob).wait_call_state(None, "incoming", since=mark_bob)
    # Presented, ringing, with the screen pop: not queued behind Not Ready.
    assert not [e for e in api(bob).events[mark_bob:] if e["type"] == "call.queued"]
    assert api(bob).call("agent.status")["queued_call_id"] is None
    (bob_call,) = api(bob).call("call.list")["calls"]
    assert (bob_call["call_id"], bob_call["queued"]) == (ringing["call_id"], False)
    pop = api(bob).wait_event("screen_pop", lambda e: e["call_id"] == ringing["call_id"],
                              since=mark_bob)
    assert pop["data"]["case_id"] == "NR-1"
    api(bob).call("call.answer", call_id=ringing["call_id"])
    wait_transfer(alice, "consulting")
    assert_talking(alice, bob, "consult", others=[cust])

    api(alice).call("transfer.supervised.complete", call_id=a_call)
    wait_transfer(alice, "completed")
    api(alice).wait_call_state(a_call, "disconnected")
    assert_talking(cust, bob, "after", others=[alice])


@pytest.mark.parametrize("how", ["manual_uri", "preset"])
def test_supervised_to_a_manual_address_or_a_preset(softphones: InstanceFactory, tmp_path,
                                                    how):
    floor = start_floor(softphones, tmp_path)
    cust, alice, bob = floor.customer, floor.alice, floor.bob
    # Bob is no agent of Alice's directory here: his address is an external
    # number to her, and the preset dials it.
    api(alice).call("directory.set", directory={
        "agents": [], "groups": [], "my_groups": [],
        "presets": [{"id": "legal", "name": "Legal", "number": bob.sip_uri}]})
    _, a_call = customer_calls_alice(floor, pop={"case_id": "EXT-9"}, baseline=True)
    target = bob.sip_uri if how == "manual_uri" else "preset:legal"

    mark_alice, mark_bob = api(alice).mark(), api(bob).mark()
    started = api(alice).call("transfer.supervised.start", call_id=a_call, target=target)
    ringing = api(bob).wait_call_state(None, "incoming", since=mark_bob)
    pop = api(bob).wait_event("screen_pop", lambda e: e["call_id"] == ringing["call_id"],
                              since=mark_bob)
    assert pop["data"]["case_id"] == "EXT-9" and pop["data"]["number"] == "customer"
    api(bob).call("call.answer", call_id=ringing["call_id"])
    consulting = wait_transfer(alice, "consulting", since=mark_alice)
    kind = "external" if how == "manual_uri" else "preset"
    assert (consulting["target"]["kind"], consulting["target"]["uri"]) == (kind, bob.sip_uri)
    assert consulting["consult_call_id"] == started["consult_call_id"]
    assert_talking(alice, bob, "consult", others=[cust])

    mark_bob = api(bob).mark()
    api(alice).call("transfer.supervised.complete", call_id=a_call)
    wait_transfer(alice, "completed", since=mark_alice)
    api(alice).wait_call_state(a_call, "disconnected")
    replaced = api(bob).wait_call_state(None, "confirmed", since=mark_bob)
    api(bob).wait_call_state(ringing["call_id"], "disconnected")
    assert api(alice).call("call.list")["calls"] == []
    assert only_call(bob)["call_id"] == replaced["call_id"]
    bob_pop = api(bob).call("call.screen_pop", call_id=replaced["call_id"])["data"]
    assert bob_pop["case_id"] == "EXT-9"
    assert_talking(cust, bob, "after", others=[alice])


@pytest.fixture
def registrar(tmp_path: Path) -> Iterator[Kamailio]:
    """A Kamailio registrar/proxy (requested before ``softphones``, so the
    phones stop, and un-REGISTER, before it does)."""
    if kamailio_binary() is None:
        missing("kamailio is not installed (apt-get install kamailio kamailio-tls-modules)")
    kam = Kamailio(tmp_path / "kamailio")
    kam.start()
    try:
        yield kam
    finally:
        kam.stop()


def register(inst: HeadlessInstance, kam: Kamailio, user: str) -> str:
    mark = api(inst).mark()
    account_id = str(api(inst).call("account.register", **kam.account_params(user))["account_id"])
    api(inst).wait_event("registration", lambda e: e["account_id"] == account_id
                         and e["state"] == "registered", since=mark)
    return account_id


def test_supervised_to_a_number_dialled_at_the_registered_domain(
        registrar: Kamailio, softphones: InstanceFactory, tmp_path):
    """A bare number typed as the target goes to the registered account's
    domain (through its proxy): consult, complete, audio at each step."""
    floor = start_floor(softphones, tmp_path)
    cust, alice, bob = floor.customer, floor.alice, floor.bob
    c_acc = register(cust, registrar, "2001")
    a_acc = register(alice, registrar, "1001")
    b_acc = register(bob, registrar, "1002")
    mark_alice = api(alice).mark()
    c_call = api(cust).call("call.make", uri=registrar.aor("1001"), account_id=c_acc,
                            screen_pop={"case_id": "NUM-5"})["call_id"]
    incoming = api(alice).wait_call_state(None, "incoming", since=mark_alice)
    assert incoming["account_id"] == a_acc
    a_call = incoming["call_id"]
    api(alice).call("call.answer", call_id=a_call)
    api(cust).wait_call_state(c_call, "confirmed")
    assert_talking(cust, alice, "baseline")

    mark_bob = api(bob).mark()
    api(alice).call("transfer.supervised.start", call_id=a_call, target="1002")
    ringing = api(bob).wait_call_state(None, "incoming", since=mark_bob)
    assert ringing["account_id"] == b_acc
    pop = api(bob).wait_event("screen_pop", lambda e: e["call_id"] == ringing["call_id"],
                              since=mark_bob)
    assert pop["data"]["case_id"] == "NUM-5"
    api(bob).call("call.answer", call_id=ringing["call_id"])
    consulting = wait_transfer(alice, "consulting", since=mark_alice)
    assert consulting["target"] == {"kind": "external", "uri": registrar.aor("1002"),
                                    "label": "1002", "ref": ""}
    assert_talking(alice, bob, "consult", others=[cust])

    mark_bob = api(bob).mark()
    api(alice).call("transfer.supervised.complete", call_id=a_call)
    wait_transfer(alice, "completed", since=mark_alice, timeout=20)
    api(alice).wait_call_state(a_call, "disconnected")
    replaced = api(bob).wait_call_state(None, "confirmed", since=mark_bob)
    assert api(alice).call("call.list")["calls"] == []
    bob_pop = api(bob).call("call.screen_pop", call_id=replaced["call_id"])["data"]
    assert bob_pop["case_id"] == "NUM-5"
    assert_talking(cust, bob, "after", others=[alice])
