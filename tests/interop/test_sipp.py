"""Message-level cases with sipp against our headless softphone: a peer that
queues (182) then answers, a REFER the transfer policy refuses, malformed
INVITEs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import InstanceFactory
from tests.helpers.instance import HeadlessInstance
from tests.helpers.sipp import Sipp
from tests.helpers.tools import require_tool
from tests.interop.conftest import api

pytestmark = pytest.mark.multiprocess


@pytest.fixture
def sipps(tmp_path: Path) -> Iterator[list[Sipp]]:
    require_tool("sipp", "sip-tester")
    started: list[Sipp] = []
    yield started
    for s in started:
        s.stop()


def _run(sipps: list[Sipp], tmp_path: Path, scenario: str, **kwargs: object) -> Sipp:
    s = Sipp(tmp_path / f"sipp-{len(sipps)}", scenario, **kwargs)  # type: ignore[arg-type]
    sipps.append(s)
    return s.start()


def _sip_port(inst: HeadlessInstance) -> int:
    return int(api(inst).call("status")["sip_port"])


def test_call_to_peer_that_answers_182_then_200(softphones: InstanceFactory,
                                                 sipps: list[Sipp], tmp_path: Path):
    uas = _run(sipps, tmp_path, "uas_182_then_200.xml")
    alice = softphones("alice")
    a = api(alice)
    call_id = a.call("call.make", uri=f"sip:queue@{uas.uri_host}")["call_id"]
    early = a.wait_event("call.state", lambda e: e["call_id"] == call_id
                         and e["state"] == "early")
    assert early["status_code"] == 182, early
    a.wait_call_state(call_id, "confirmed")
    a.call("call.hangup", call_id=call_id)
    a.wait_call_state(call_id, "disconnected")
    assert uas.wait() == 0, uas.report()


def test_refer_to_a_domain_not_allowed_is_refused(softphones: InstanceFactory,
                                                  sipps: list[Sipp], tmp_path: Path):
    prov = tmp_path / "provisioning.toml"
    prov.write_text('schema_version = 1\n\n[security]\nallowed_transfer_domains = '
                    '["example.com"]\n')
    alice = softphones("alice", extra_args=["--provisioning", str(prov)])
    a = api(alice)
    mark = a.mark()
    uac = _run(sipps, tmp_path, "uac_refer_forbidden.xml",
               remote=f"127.0.0.1:{_sip_port(alice)}",
               keys={"callee": "alice", "refer_target": "sip:boss@evil.test"})
    incoming = a.wait_call_state(None, "incoming", since=mark)
    a.call("call.answer", call_id=incoming["call_id"])
    # sipp gets 403 for its REFER, then hangs up (BYE answered 200).
    assert uac.wait() == 0, uac.report()
    a.wait_call_state(incoming["call_id"], "disconnected", since=mark)
    assert "SIP/2.0 403" in uac.messages.read_text(), uac.report()
    # No call was placed towards the refused target.
    placed = [e for e in a.events[mark:]
              if e.get("type") == "call.state" and e.get("direction") == "outbound"]
    assert placed == [], placed
    assert a.call("call.list")["calls"] == []


def test_malformed_invites_are_rejected_and_the_phone_keeps_running(
        softphones: InstanceFactory, sipps: list[Sipp], tmp_path: Path):
    alice = softphones("alice")
    a = api(alice)
    mark = a.mark()
    uac = _run(sipps, tmp_path, "uac_malformed_invite.xml",
               remote=f"127.0.0.1:{_sip_port(alice)}", keys={"callee": "alice"})
    assert uac.wait() == 0, uac.report()
    trace = uac.messages.read_text()
    assert trace.count("SIP/2.0 400") >= 2, uac.report()
    assert "Dropping" in alice.log_text() and "Max-Forwards" in alice.log_text()
    assert alice.proc is not None and alice.proc.poll() is None
    status = a.call("status")
    assert status["running"] is True and status["calls"] == [], status
    assert not [e for e in a.events[mark:] if e.get("type") == "call.state"]


def test_dtmf_falls_back_to_sip_info(softphones: InstanceFactory, sipps: list[Sipp],
                                     tmp_path: Path):
    """A peer without telephone-event in its SDP gets DTMF as SIP INFO."""
    uas = _run(sipps, tmp_path, "uas_dtmf_info.xml")
    alice = softphones("alice")
    a = api(alice)
    call_id = a.call("call.make", uri=f"sip:dtmf@{uas.uri_host}")["call_id"]
    a.wait_call_state(call_id, "confirmed")
    assert a.call("call.dtmf", call_id=call_id, digits="5") == {"method": "sip_info"}
    # sipp's trace shows the INFO once it has answered it (a bounded poll).
    end = time.monotonic() + 10
    while time.monotonic() < end and "INFO sip:" not in _text(uas.messages):
        time.sleep(0.02)
    a.call("call.hangup", call_id=call_id)
    a.wait_call_state(call_id, "disconnected")
    assert uas.wait() == 0, uas.report()
    assert "application/dtmf-relay" in _text(uas.messages)


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""
