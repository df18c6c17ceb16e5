"""A baresip customer calls agent 1 through Kamailio; agent 1 blind-transfers
to agent 2 and to a group URI that Kamailio forks to its members.

baresip follows the REFER by itself (it cannot do attended transfers, see
../shared/notes/test-lab.md); it records what it hears with ``sndfile``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import record
from tests.helpers import tones
from tests.helpers.baresip import Baresip
from tests.helpers.tools import require_tool
from tests.interop.conftest import Lab, api
from tests.interop.peers import BARESIP_TONE_S, FREQS, TONES, Agents, next_second, start_agents

pytestmark = pytest.mark.multiprocess
C, A, B, K = TONES["customer"], TONES["alice"], TONES["bob"], TONES["carol"]


@pytest.fixture
def customer(lab: Lab, tmp_path: Path) -> Iterator[Baresip]:
    """baresip registered as 2001; stopped before Kamailio (fixture order)."""
    require_tool("baresip", "baresip-core")
    # aufile needs the codec's rate (PCMU: 8 kHz); baresip hangs up when the
    # file ends, so it lasts longer than any call of a test.
    tone = tones.write_tone(tmp_path / "customer.wav", C, rate=8000, seconds=BARESIP_TONE_S)
    phone = Baresip(tmp_path / "baresip", aor=lab.kam.aor("2001"),
                    password=lab.kam.users["2001"], outbound=lab.kam.outbound_proxy("udp"),
                    audio_source=tone)
    phone.start()
    try:
        phone.wait_registered()
        yield phone
    finally:
        phone.stop()


def _customer_calls_alice(lab: Lab, customer: Baresip, agents: Agents,
                          pop: dict[str, str]) -> str:
    a = api(agents["alice"])
    mark = a.mark()
    customer.dial(lab.kam.aor("1001"))
    incoming = a.wait_call_state(None, "incoming", since=mark)
    assert incoming["account_id"] == agents.accounts["alice"], incoming
    a.call("call.answer", call_id=incoming["call_id"])
    customer.wait_call("CALL_ESTABLISHED")
    a.wait_call_state(incoming["call_id"], "confirmed", since=mark)
    a.call("call.screen_pop", call_id=incoming["call_id"], set=pop)
    next_second()  # the transferred call's recording must get another name
    return str(incoming["call_id"])


def _customer_heard(customer: Baresip, since: int) -> dict[float, float]:
    """Hang up at the customer and analyse what it heard after the transfer.

    The first recording is the call with agent 1. After it, a forked or queued
    transfer can leave baresip more than one file (early media from a branch
    that was cancelled, then the answered one): take each tone's loudest level
    among them.
    """
    customer.hangup()
    customer.wait_call("CALL_CLOSED", since=since)
    heard = customer.recordings("dec")
    assert len(heard) >= 2, list(customer.rec_dir.iterdir())
    levels = [tones.analyse(path, FREQS, skip=0.3) for path in heard[1:]]
    return {f: max(level[f] for level in levels) for f in FREQS}


def test_blind_transfer_to_agent(lab: Lab, customer: Baresip, tmp_path: Path):
    agents = start_agents(lab, tmp_path)
    alice, bob = agents["alice"], agents["bob"]
    a_call = _customer_calls_alice(lab, customer, agents, {"case_id": "BS-1"})

    mark_c = customer.mark()
    api(alice).call("transfer.unsupervised", call_id=a_call, target="agent:bob")
    ringing = api(bob).wait_call_state(None, "incoming")
    pop = api(bob).wait_event("screen_pop", lambda e: e["call_id"] == ringing["call_id"])
    assert pop["data"]["case_id"] == "BS-1", pop
    api(bob).call("call.answer", call_id=ringing["call_id"])
    api(alice).wait_event("transfer.progress", lambda e: e["phase"] == "completed")
    api(alice).wait_call_state(a_call, "disconnected")
    customer.wait_call("CALL_ESTABLISHED", since=mark_c)

    levels = record([bob], "after", freqs=FREQS)
    assert tones.has_tone(levels["bob"], C) and not tones.has_tone(levels["bob"], A), levels
    heard = _customer_heard(customer, mark_c)
    assert tones.has_tone(heard, B) and not tones.has_tone(heard, A), heard


def _not_ready(agents: Agents, name: str) -> None:
    api(agents[name]).call("agent.set_state", state="not_ready", reason="Break")
    api(agents["alice"]).wait_event("directory.agent", lambda e: e["agent_id"] == name
                                    and e["state"] == "not_ready")


def test_blind_transfer_to_group_forked_by_kamailio(lab: Lab, customer: Baresip,
                                                    tmp_path: Path):
    """bob is Not Ready (his branch queues with 182), carol Available: carol
    rings with the screen pop and answers; Kamailio CANCELs bob's branch."""
    agents = start_agents(lab, tmp_path, ("alice", "bob", "carol"), publish=True)
    alice, bob, carol = agents["alice"], agents["bob"], agents["carol"]
    _not_ready(agents, "bob")
    a_call = _customer_calls_alice(lab, customer, agents, {"case_id": "GR-1"})

    mark_c, mark_b = customer.mark(), api(bob).mark()
    api(alice).call("transfer.unsupervised", call_id=a_call, target="group:support")
    queued = api(bob).wait_event("call.queued", since=mark_b)
    ringing = api(carol).wait_call_state(None, "incoming")
    pop = api(carol).wait_event("screen_pop", lambda e: e["call_id"] == ringing["call_id"])
    assert pop["data"]["case_id"] == "GR-1" and pop["data"]["number"] == "2001", pop
    next_second()  # bob's queued branch already sent early media: see peers.next_second
    api(carol).call("call.answer", call_id=ringing["call_id"])
    api(alice).wait_event("transfer.progress", lambda e: e["phase"] == "completed")
    customer.wait_call("CALL_ESTABLISHED", since=mark_c)
    # The losing branch was cancelled: bob's queue is empty again.
    api(bob).wait_call_state(queued["call_id"], "disconnected", since=mark_b)
    assert api(bob).call("agent.status")["queued_call_id"] is None
    assert "GROUP support" in lab.kam.log_text()

    levels = record([carol], "after", freqs=FREQS)
    assert tones.has_tone(levels["carol"], C), levels
    heard = _customer_heard(customer, mark_c)
    assert tones.has_tone(heard, K) and not tones.has_tone(heard, A), heard


def test_blind_transfer_to_group_waits_until_a_member_is_available(
        lab: Lab, customer: Baresip, tmp_path: Path):
    """Both members Not Ready: both branches queue (182); carol becomes
    Available, her queued call is presented with the pop and she answers."""
    agents = start_agents(lab, tmp_path, ("alice", "bob", "carol"), publish=True)
    alice, bob, carol = agents["alice"], agents["bob"], agents["carol"]
    for name in ("bob", "carol"):
        _not_ready(agents, name)
    a_call = _customer_calls_alice(lab, customer, agents, {"case_id": "GR-2"})

    mark_c, mark_b, mark_k = customer.mark(), api(bob).mark(), api(carol).mark()
    api(alice).call("transfer.unsupervised", call_id=a_call, target="group:support")
    bob_queued = api(bob).wait_event("call.queued", since=mark_b)
    queued = api(carol).wait_event("call.queued", since=mark_k)
    # (baresip's NOTIFYs report only 100 and the final answer, not the 182:
    # agent 1 does not see the phase "queued" here, unlike with a pjsua customer.)

    api(carol).call("agent.set_state", state="available")
    presented = api(carol).wait_call_state(queued["call_id"], "incoming", since=mark_k)
    pop = api(carol).wait_event("screen_pop", lambda e: e["call_id"] == presented["call_id"],
                                since=mark_k)
    assert pop["data"]["case_id"] == "GR-2", pop
    next_second()  # bob's queued branch already sent early media: see peers.next_second
    api(carol).call("call.answer", call_id=presented["call_id"])
    api(alice).wait_event("transfer.progress", lambda e: e["phase"] == "completed")
    customer.wait_call("CALL_ESTABLISHED", since=mark_c)
    # Kamailio CANCELs bob's queued branch.
    api(bob).wait_call_state(bob_queued["call_id"], "disconnected", since=mark_b)
    assert api(bob).call("agent.status")["queued_call_id"] is None

    levels = record([carol], "after", freqs=FREQS)
    assert tones.has_tone(levels["carol"], C), levels
    heard = _customer_heard(customer, mark_c)
    assert tones.has_tone(heard, K), heard
