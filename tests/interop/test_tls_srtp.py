"""TLS to Kamailio with the lab's test CA, SRTP mandatory: a call with audio."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import record
from tests.helpers import tones
from tests.interop.conftest import Lab, api, call_through_proxy, hang_up
from tests.interop.peers import FREQS, TONES, USERS, start_agents

pytestmark = pytest.mark.multiprocess


def test_tls_call_with_mandatory_srtp_has_audio_both_ways(lab: Lab, tmp_path: Path):
    # --sip-trace: the SDP in the logs shows the media is SRTP (RTP/SAVP + crypto).
    agents = start_agents(lab, tmp_path, ("alice", "bob"), transport="tls", srtp="mandatory",
                          extra_args=["--sip-trace"])
    alice, bob = agents["alice"], agents["bob"]
    for name, inst in agents.phones.items():
        (acc,) = [i for i in api(inst).call("account.list")["accounts"] if not i["is_local"]]
        assert (acc["state"], acc["transport"]) == ("registered", "tls"), acc
        assert lab.kam.contacts(USERS[name])

    a_call, b_call = call_through_proxy(alice, agents.accounts["alice"], bob,
                                        agents.accounts["bob"], lab.kam.aor("1002"))
    # Signalling went over TLS: Kamailio saw the INVITE on its TLS socket.
    assert f"REQ INVITE {lab.kam.aor('1002')} from" in lab.kam.log_text()
    assert "/tls (From sip:1001@" in lab.kam.log_text()
    (call,) = api(alice).call("call.list")["calls"]
    assert call["media_active"], call

    levels = record([alice, bob], "tls", freqs=FREQS)
    assert tones.has_tone(levels["alice"], TONES["bob"]), levels
    assert tones.has_tone(levels["bob"], TONES["alice"]), levels
    hang_up(alice, a_call, bob, b_call)
    for inst in (alice, bob):
        sdp = [line for line in inst.log_text().splitlines() if line.startswith("m=audio")]
        assert sdp and all("RTP/SAVP" in line for line in sdp), sdp
        assert "a=crypto:" in inst.log_text()
