"""Third-party phones as agent 1's colleagues, through Kamailio: listed in the
directory as agents, they are transfer targets. Our softphones are the
customer (a customer's line, 2002) and agent 1 (alice, 1001); the colleague
is line 1003.

* linphone-daemon (honours Replaces) as the target of a supervised transfer:
  the customer ends up talking to linphone.
* baresip as the target of an unsupervised (blind) transfer: the INVITE the
  customer's phone sends it carries the screen pop (User-to-User) and the
  transfer marker, taken from the REFER's Refer-To.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from softphone.core.screen_pop import TRANSFER_HEADER, UUI_HEADER, decode_uui
from tests.e2e.conftest import RECORD_SECONDS, record
from tests.e2e.transfer_helpers import only_call, wait_transfer
from tests.helpers import tones
from tests.helpers.baresip import Baresip
from tests.helpers.linphone import Linphone
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
    pulse_server,
    start_agents,
)

pytestmark = pytest.mark.multiprocess
C, A, K = TONES["customer"], TONES["alice"], TONES["carol"]  # K: the colleague's tone
COLLEAGUE = "1003"


def _customer_calls_alice(lab: Lab, agents: Agents, pop: dict[str, str]) -> tuple[str, str]:
    """(customer's call id, alice's call id), with alice's screen pop set."""
    c_call, a_call = call_through_proxy(agents["customer"], agents.accounts["customer"],
                                        agents["alice"], agents.accounts["alice"],
                                        lab.kam.aor(USERS["alice"]))
    api(agents["alice"]).call("call.screen_pop", call_id=a_call, set=pop)
    return c_call, a_call


def _customer_only_with_colleague(agents: Agents, c_call: str) -> None:
    """Agent 1 hung up on the customer, who has one call left: the colleague."""
    api(agents["customer"]).wait_call_state(c_call, "disconnected")
    call = only_call(agents["customer"])
    assert call["state"] == "confirmed" and f"{COLLEAGUE}@" in call["remote_uri"], call


# -- linphone-daemon: supervised ---------------------------------------------------------


@pytest.fixture
def linphone(lab: Lab, tmp_path: Path) -> Iterator[Linphone]:
    require_tool("linphone-daemon", "linphone-cli")
    with pulse_server(tmp_path / "pulse") as pulse:
        phone = Linphone(tmp_path / "linphone", aor=lab.kam.aor(COLLEAGUE), user=COLLEAGUE,
                         password=lab.kam.users[COLLEAGUE], realm=lab.kam.domain,
                         proxy=f"{lab.kam.host}:{lab.kam.udp_port}", pulse=pulse)
        phone.start()
        try:
            phone.wait_registered()
            yield phone
        finally:
            phone.stop()


def test_supervised_transfer_to_linphone_colleague(lab: Lab, linphone: Linphone,
                                                   tmp_path: Path):
    agents = start_agents(lab, tmp_path, ("customer", "alice"), colleagues={"lin": COLLEAGUE})
    customer, alice = agents["customer"], agents["alice"]
    c_call, a_call = _customer_calls_alice(lab, agents, {"case_id": "LC-1"})

    mark_l = linphone.mark()
    started = api(alice).call("transfer.supervised.start", call_id=a_call, target="agent:lin")
    ringing = linphone.wait_event("LinphoneCallIncomingReceived", since=mark_l)
    linphone.command(f"answer {ringing['Id']}")
    consulting = wait_transfer(alice, "consulting")
    assert consulting["target"]["kind"] == "agent", consulting

    mark_l = linphone.mark()
    api(alice).call("transfer.supervised.complete", call_id=a_call)
    wait_transfer(alice, "completed")
    for call_id in (a_call, started["consult_call_id"]):
        api(alice).wait_call_state(call_id, "disconnected")
    assert api(alice).call("call.list")["calls"] == []
    # linphone accepts the customer's INVITE with Replaces by itself (a new
    # call id) and ends the consult it replaces.
    replacing = linphone.wait_event("LinphoneCallIncomingReceived", since=mark_l,
                                    sender="2002@")
    assert replacing["Id"] != ringing["Id"], replacing
    linphone.wait_event("LinphoneCallStreamsRunning", replacing["Id"], since=mark_l)
    linphone.wait_event("LinphoneCallEnd", ringing["Id"], since=mark_l)
    _customer_only_with_colleague(agents, c_call)

    # Audio both ways between the customer and linphone; agent 1 is gone.
    tone = tones.write_tone(tmp_path / "colleague.wav", K, rate=8000, seconds=30)
    linphone.command(f"incall-player-start {tone} {replacing['Id']}")
    heard = linphone.heard(RECORD_SECONDS, FREQS)
    assert has_tone(heard, C) and not has_tone(heard, A), heard
    levels = record([customer], "after", freqs=FREQS)
    assert has_tone(levels["customer"], K) and not has_tone(levels["customer"], A), levels


# -- baresip: unsupervised -----------------------------------------------------------------


@pytest.fixture
def baresip(lab: Lab, tmp_path: Path) -> Iterator[Baresip]:
    require_tool("baresip", "baresip-core")
    tone = tones.write_tone(tmp_path / "colleague.wav", K, rate=8000, seconds=BARESIP_TONE_S)
    phone = Baresip(tmp_path / "baresip", aor=lab.kam.aor(COLLEAGUE),
                    password=lab.kam.users[COLLEAGUE], outbound=lab.kam.outbound_proxy("udp"),
                    audio_source=tone, sip_trace=True)
    phone.start()
    try:
        phone.wait_registered()
        yield phone
    finally:
        phone.stop()


def test_blind_transfer_to_baresip_colleague_carries_the_screen_pop(
        lab: Lab, baresip: Baresip, tmp_path: Path):
    agents = start_agents(lab, tmp_path, ("customer", "alice"), colleagues={"bare": COLLEAGUE})
    customer, alice = agents["customer"], agents["alice"]
    c_call, a_call = _customer_calls_alice(lab, agents, {"case_id": "BC-7", "queue": "Billing"})

    mark_x = baresip.mark()
    api(alice).call("transfer.unsupervised", call_id=a_call, target="agent:bare")
    baresip.wait_call("CALL_INCOMING", since=mark_x, peer="2002@")
    (invite,) = baresip.received_requests("INVITE")
    headers = _headers(invite)
    assert headers[TRANSFER_HEADER.lower()] == "blind", headers
    pop = decode_uui(headers[UUI_HEADER.lower()])
    assert pop["case_id"] == "BC-7" and pop["queue"] == "Billing", pop
    assert "1001@" in headers.get("referred-by", headers.get("b", "")), headers

    next_second()  # baresip's recording of this call: see peers.next_second
    baresip.command("accept")
    baresip.wait_call("CALL_ESTABLISHED", since=mark_x, peer="2002@")
    wait_transfer(alice, "completed")
    api(alice).wait_call_state(a_call, "disconnected")
    _customer_only_with_colleague(agents, c_call)

    levels = record([customer], "after", freqs=FREQS)
    assert has_tone(levels["customer"], K) and not has_tone(levels["customer"], A), levels
    baresip.hangup()
    baresip.wait_call("CALL_CLOSED", since=mark_x, peer="2002@")
    heard = tones.analyse(baresip.recordings("dec")[-1], FREQS, skip=0.3)
    assert has_tone(heard, C) and not has_tone(heard, A), heard


def _headers(message: str) -> dict[str, str]:
    """Header name (lower case) -> value of a SIP message's text."""
    head = message.replace("\r\n", "\n").split("\n\n", 1)[0]
    out: dict[str, str] = {}
    for line in head.split("\n")[1:]:
        name, sep, value = line.partition(":")
        if sep:
            out.setdefault(name.strip().lower(), value.strip())
    return out
