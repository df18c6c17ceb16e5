"""A linphone-daemon customer (liblinphone honours Replaces) in an attended
transfer through Kamailio: agent 1 consults agent 2, completes, and the
customer ends up talking to agent 2. linphone's sound card is a private
PulseAudio daemon, so what it hears is recorded too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import RECORD_SECONDS, record
from tests.helpers import tones
from tests.helpers.linphone import Linphone
from tests.helpers.tools import require_tool
from tests.interop.conftest import Lab, api
from tests.interop.peers import FREQS, TONES, Agents, pulse_server, start_agents

pytestmark = pytest.mark.multiprocess
C, A, B = TONES["customer"], TONES["alice"], TONES["bob"]


@pytest.fixture
def customer(lab: Lab, tmp_path: Path) -> Iterator[Linphone]:
    """linphone-daemon registered as 2002; stopped before Kamailio (fixture order)."""
    require_tool("linphone-daemon", "linphone-cli")
    with pulse_server(tmp_path / "pulse") as pulse:
        phone = Linphone(tmp_path / "linphone", aor=lab.kam.aor("2002"), user="2002",
                         password=lab.kam.users["2002"], realm=lab.kam.domain,
                         proxy=f"{lab.kam.host}:{lab.kam.udp_port}", pulse=pulse)
        phone.start()
        try:
            phone.wait_registered()
            yield phone
        finally:
            phone.stop()


def _attended_transfer(lab: Lab, customer: Linphone, agents: Agents) -> tuple[str, str, int]:
    """Customer calls agent 1, who consults agent 2 and completes; returns
    (agent 1's customer call id, agent 1's consult call id, linphone event mark)."""
    alice, bob = agents["alice"], agents["bob"]
    a, b = api(alice), api(bob)
    mark = a.mark()
    c_call = customer.call(lab.kam.aor("1001"))
    incoming = a.wait_call_state(None, "incoming", since=mark)
    a_call = str(incoming["call_id"])
    a.call("call.answer", call_id=a_call)
    a.wait_call_state(a_call, "confirmed", since=mark)
    customer.wait_event("LinphoneCallStreamsRunning", c_call)
    a.call("call.screen_pop", call_id=a_call, set={"case_id": "LP-1"})

    # Consult agent 2 (rings whatever his state), then complete: REFER with
    # Replaces to linphone, which holds agent 1 and INVITEs agent 2 with Replaces.
    mark_b = b.mark()
    started = a.call("transfer.supervised.start", call_id=a_call, target="agent:bob")
    ringing = b.wait_call_state(None, "incoming", since=mark_b)
    b.call("call.answer", call_id=ringing["call_id"])
    a.wait_event("transfer.progress", lambda e: e["phase"] == "consulting")
    mark_c = customer.mark()
    a.call("transfer.supervised.complete", call_id=started["consult_call_id"])
    return a_call, str(started["consult_call_id"]), mark_c


def test_attended_transfer_linphone_customer_ends_with_agent_2(
        lab: Lab, customer: Linphone, tmp_path: Path):
    agents = start_agents(lab, tmp_path)
    bob = agents["bob"]
    _, consult, mark_c = _attended_transfer(lab, customer, agents)

    # Agent 2's consult call is replaced by the call with the customer.
    new = customer.wait_event("LinphoneCallStreamsRunning", since=mark_c, timeout=10)
    api(agents["alice"]).wait_call_state(consult, "disconnected")
    (call,) = api(bob).call("call.list")["calls"]
    assert call["state"] == "confirmed" and "2002@" in call["remote_uri"], call
    pop = api(bob).call("call.screen_pop", call_id=call["call_id"])
    assert pop["data"]["case_id"] == "LP-1", pop

    # Audio both ways: the customer plays a tone into the new call; agent 2
    # hears it, and the customer hears agent 2 (agent 1 neither way).
    tone = tones.write_tone(tmp_path / "customer-lp.wav", C, rate=8000, seconds=30)
    customer.command(f"incall-player-start {tone} {new['Id']}")
    heard = customer.heard(RECORD_SECONDS, FREQS)
    assert tones.has_tone(heard, B) and not tones.has_tone(heard, A), heard
    levels = record([bob], "after", freqs=FREQS)
    assert tones.has_tone(levels["bob"], C) and not tones.has_tone(levels["bob"], A), levels


def test_attended_transfer_linphone_agent_1_sees_completion(
        lab: Lab, customer: Linphone, tmp_path: Path):
    agents = start_agents(lab, tmp_path)
    a = api(agents["alice"])
    a_call, _, _ = _attended_transfer(lab, customer, agents)
    a.wait_event("transfer.progress", lambda e: e["phase"] == "completed", timeout=3)
    a.wait_call_state(a_call, "disconnected", timeout=3)
    assert a.call("call.list")["calls"] == []
