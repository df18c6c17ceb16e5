"""The transfer issue's peer-to-peer cases again, through Kamailio: every phone
registered, every request (INVITE, REFER, NOTIFY, 182, 480, 603) relayed by
the proxy. The customer is one of our softphones registered as a customer's
line, so its hold state and audio can be checked like in tests/e2e.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import record
from tests.e2e.transfer_helpers import only_call, wait_transfer
from tests.helpers import tones
from tests.helpers.baresip import Baresip
from tests.helpers.kamailio import DEFAULT_GROUPS, Kamailio, TlsFiles
from tests.helpers.tones import has_tone
from tests.helpers.tools import require_tool
from tests.interop.conftest import Lab, api, call_through_proxy
from tests.interop.peers import (
    BARESIP_TONE_S,
    FREQS,
    TONES,
    USERS,
    Agents,
    next_second,
    start_agents,
)

pytestmark = pytest.mark.multiprocess
C, A, B = TONES["customer"], TONES["alice"], TONES["bob"]
# The external party's tone (between bob's and carol's, no harmonic of the others).
X = 1750.0
ALL = [*FREQS, X]

# The lab's dial plan for this module: the number rings the line of baresip
# user 2001 (a static route in the proxy, written as a one-line "group" of
# tests/helpers/kamailio.py: sip:004930555123@DOMAIN -> 2001's contact).
EXTERNAL_NUMBER = "004930555123"
EXTERNAL_USER = "2001"


@pytest.fixture
def kamailio(tmp_path: Path, test_pki: TlsFiles) -> Iterator[Kamailio]:
    """The lab's Kamailio (see conftest.py) with the external number routed."""
    kam = Kamailio(tmp_path / "kamailio", tls=test_pki,
                   groups={**DEFAULT_GROUPS, EXTERNAL_NUMBER: [EXTERNAL_USER]})
    kam.start()
    try:
        yield kam
    finally:
        kam.stop()


FLOOR = ("customer", "alice", "bob")


def _customer_calls_alice(lab: Lab, agents: Agents, pop: dict[str, str] | None = None
                          ) -> tuple[str, str]:
    """The customer calls 1001 at the proxy; alice answers. (customer id, alice id)."""
    c_call, a_call = call_through_proxy(agents["customer"], agents.accounts["customer"],
                                        agents["alice"], agents.accounts["alice"],
                                        lab.kam.aor(USERS["alice"]))
    if pop:
        api(agents["alice"]).call("call.screen_pop", call_id=a_call, set=pop)
    return c_call, a_call


def _customer_back_with_alice(agents: Agents, c_call: str, a_call: str, tag: str) -> None:
    """The customer's call is resumed and they talk to alice again, both ways."""
    api(agents["customer"]).wait_event("call.updated", lambda e: e["call_id"] == c_call
                                       and e["hold"] == "none")
    (call,) = api(agents["alice"]).call("call.list")["calls"]
    assert (call["call_id"], call["hold"]) == (a_call, "none"), call
    levels = record([agents["customer"], agents["alice"]], tag, freqs=FREQS)
    assert has_tone(levels["customer"], A) and has_tone(levels["alice"], C), levels
    assert not has_tone(levels["customer"], B), levels


# -- supervised ---------------------------------------------------------------------


def test_supervised_cancel_via_proxy(lab: Lab, tmp_path: Path):
    agents = start_agents(lab, tmp_path, FLOOR)
    alice, bob = agents["alice"], agents["bob"]
    c_call, a_call = _customer_calls_alice(lab, agents)
    started = api(alice).call("transfer.supervised.start", call_id=a_call, target="agent:bob")
    ringing = api(bob).wait_call_state(None, "incoming")
    assert "1001@" in ringing["remote_uri"], ringing  # the consult comes from agent 1
    api(bob).call("call.answer", call_id=ringing["call_id"])
    wait_transfer(alice, "consulting")

    api(alice).call("transfer.supervised.cancel", call_id=a_call)
    wait_transfer(alice, "cancelled")
    api(bob).wait_call_state(ringing["call_id"], "disconnected")
    assert started["consult_call_id"] not in {c["call_id"] for c in
                                              api(alice).call("call.list")["calls"]}
    _customer_back_with_alice(agents, c_call, a_call, "cancelled")
    assert api(bob).call("call.list")["calls"] == []


def test_consult_declined_via_proxy_customer_held_then_resumed(lab: Lab, tmp_path: Path):
    agents = start_agents(lab, tmp_path, FLOOR)
    customer, alice, bob = agents["customer"], agents["alice"], agents["bob"]
    c_call, a_call = _customer_calls_alice(lab, agents)
    api(alice).call("transfer.supervised.start", call_id=a_call, target="agent:bob")
    ringing = api(bob).wait_call_state(None, "incoming")
    api(bob).call("call.reject", call_id=ringing["call_id"], code=603)
    failed = wait_transfer(alice, "consult_failed")
    assert failed["status_code"] == 603, failed  # relayed by Kamailio
    calls = api(alice).call("call.list")["calls"]
    assert [(c["call_id"], c["hold"]) for c in calls] == [(a_call, "local")]
    api(customer).wait_event("call.updated", lambda e: e["call_id"] == c_call
                             and e["hold"] == "remote")
    levels = record([customer], "held", freqs=FREQS)
    assert not has_tone(levels["customer"], A), levels

    # One action brings the customer back.
    api(alice).call("call.resume", call_id=a_call)
    wait_transfer(alice, "cancelled")
    _customer_back_with_alice(agents, c_call, a_call, "resumed")


def test_supervised_to_external_number_via_proxy_dial_plan(
        lab: Lab, tmp_path: Path, external: Baresip):
    """A manually entered number: Kamailio routes it to the external party
    (baresip); after the consult the customer's replacing INVITE goes there
    too (baresip takes it as a second call: it ignores Replaces) and agent 1
    hangs up the consult. Customer and external party talk, both ways."""
    agents = start_agents(lab, tmp_path, ("customer", "alice"))
    customer, alice = agents["customer"], agents["alice"]
    c_call, a_call = _customer_calls_alice(lab, agents, pop={"case_id": "EXT-1"})

    mark_x = external.mark()
    started = api(alice).call("transfer.supervised.start", call_id=a_call,
                              target="0049 30 555123")
    consulting = wait_transfer(alice, "consulting")
    assert consulting["target"]["kind"] == "external", consulting
    assert consulting["target"]["uri"] == f"sip:{EXTERNAL_NUMBER}@{lab.kam.domain}", consulting
    external.wait_call("CALL_ESTABLISHED", since=mark_x)
    levels = record([alice], "consult", freqs=ALL)
    assert has_tone(levels["alice"], X), levels
    assert f"GROUP {EXTERNAL_NUMBER}" in lab.kam.log_text()

    next_second()  # the replacing call's recording must get another name (baresip.py)
    mark_x = external.mark()
    api(alice).call("transfer.supervised.complete", call_id=a_call)
    wait_transfer(alice, "completed")
    for call_id in (a_call, started["consult_call_id"]):
        api(alice).wait_call_state(call_id, "disconnected")
    assert api(alice).call("call.list")["calls"] == []
    external.wait_call("CALL_ESTABLISHED", since=mark_x, peer="2002@")
    external.wait_call("CALL_CLOSED", since=mark_x, peer="1001@")  # agent 1 hung up
    api(customer).wait_call_state(c_call, "disconnected")
    call = only_call(customer)
    assert call["state"] == "confirmed" and EXTERNAL_NUMBER in call["remote_uri"], call

    levels = record([customer], "after", freqs=ALL)
    assert has_tone(levels["customer"], X) and not has_tone(levels["customer"], A), levels
    heard = _external_heard(external, mark_x)
    assert has_tone(heard, C) and not has_tone(heard, A), heard


# -- unsupervised -----------------------------------------------------------------------


def test_unsupervised_to_not_ready_agent_queued_via_proxy_then_connected(
        lab: Lab, tmp_path: Path):
    agents = start_agents(lab, tmp_path, FLOOR)
    customer, alice, bob = agents["customer"], agents["alice"], agents["bob"]
    api(bob).call("agent.set_state", state="not_ready", reason="Break")
    c_call, a_call = _customer_calls_alice(lab, agents, pop={"case_id": "QP-1"})

    mark_b = api(bob).mark()
    api(alice).call("transfer.unsupervised", call_id=a_call, target="agent:bob")
    queued = api(bob).wait_event("call.queued", since=mark_b)
    # The 182 went through the proxy to the customer, whose NOTIFY told agent 1.
    wait_transfer(alice, "queued")
    assert "RPL 182 Queued for INVITE" in lab.kam.log_text()
    assert api(bob).call("agent.status")["queued_call_id"] == queued["call_id"]

    api(bob).call("agent.set_state", state="available")
    presented = api(bob).wait_call_state(queued["call_id"], "incoming", since=mark_b)
    pop = api(bob).wait_event("screen_pop", lambda e: e["call_id"] == presented["call_id"],
                              since=mark_b)
    assert pop["data"]["case_id"] == "QP-1" and pop["data"]["number"] == "2002", pop
    api(bob).call("call.answer", call_id=presented["call_id"])
    wait_transfer(alice, "completed")
    api(alice).wait_call_state(a_call, "disconnected")
    api(customer).wait_call_state(c_call, "disconnected")
    assert only_call(customer)["state"] == "confirmed"
    levels = record([customer, bob], "connected", freqs=FREQS)
    assert has_tone(levels["customer"], B) and has_tone(levels["bob"], C), levels
    assert not has_tone(levels["customer"], A), levels


def test_queued_transfer_hold_timer_via_proxy_returns_customer(lab: Lab, tmp_path: Path):
    agents = start_agents(lab, tmp_path, FLOOR, args={"bob": ["--max-queue-seconds", "2"]})
    alice, bob = agents["alice"], agents["bob"]
    api(bob).call("agent.set_state", state="not_ready", reason="Lunch")
    c_call, a_call = _customer_calls_alice(lab, agents)
    api(alice).call("transfer.unsupervised", call_id=a_call, target="agent:bob")
    wait_transfer(alice, "queued")
    failed = wait_transfer(alice, "failed", timeout=20)
    assert failed["status_code"] == 480, failed
    assert "the customer is back" in failed["reason"], failed
    api(alice).wait_event("agent.state", lambda e: e["state"] == "talking")
    assert not only_call(alice)["handed_off"]
    _customer_back_with_alice(agents, c_call, a_call, "returned")


def test_unsupervised_target_refusal_via_proxy_returns_customer(lab: Lab, tmp_path: Path):
    agents = start_agents(lab, tmp_path, FLOOR)
    alice, bob = agents["alice"], agents["bob"]
    c_call, a_call = _customer_calls_alice(lab, agents)
    api(alice).call("transfer.unsupervised", call_id=a_call, target="agent:bob")
    ringing = api(bob).wait_call_state(None, "incoming")
    api(bob).call("call.reject", call_id=ringing["call_id"], code=603)
    failed = wait_transfer(alice, "failed")
    assert failed["status_code"] == 603, failed
    _customer_back_with_alice(agents, c_call, a_call, "returned")


# -- the external party -------------------------------------------------------------------


@pytest.fixture
def external(lab: Lab, tmp_path: Path) -> Iterator[Baresip]:
    """baresip as the external party on line 2001; it answers by itself."""
    require_tool("baresip", "baresip-core")
    tone = tones.write_tone(tmp_path / "external.wav", X, rate=8000,
                            seconds=BARESIP_TONE_S)
    phone = Baresip(tmp_path / "baresip", aor=lab.kam.aor(EXTERNAL_USER),
                    password=lab.kam.users[EXTERNAL_USER],
                    outbound=lab.kam.outbound_proxy("udp"), audio_source=tone,
                    answermode="auto")
    phone.start()
    try:
        phone.wait_registered()
        yield phone
    finally:
        phone.stop()


def _external_heard(external: Baresip, since: int) -> dict[float, float]:
    """Hang up at baresip and analyse what it heard in its last call."""
    external.hangup()
    external.wait_call("CALL_CLOSED", since=since, peer="2002@")
    heard = external.recordings("dec")
    assert len(heard) >= 2, list(external.rec_dir.iterdir())
    return tones.analyse(heard[-1], ALL, skip=0.3)
