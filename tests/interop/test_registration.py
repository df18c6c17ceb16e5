"""Registration and calls through a real Kamailio (digest auth, UDP/TCP/TLS,
failures, restarts), each softphone a headless process driven by its API."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from softphone.sip.accounts import KEEPALIVE_INTERVAL_S, KEEPALIVE_TIMEOUT_S
from tests.e2e.conftest import record
from tests.helpers.api_client import ApiError
from tests.helpers.instance import HeadlessInstance
from tests.helpers.ports import free_port
from tests.helpers.tones import has_tone
from tests.interop.conftest import Lab, api, call_through_proxy, hang_up
from tests.interop.peers import FREQS, TONES, USERS, start_agents

pytestmark = pytest.mark.multiprocess
# The softphone's UDP keep-alive: one interval plus the answer timeout, and
# some slack for a loaded machine.
KEEPALIVE_DETECT_S = KEEPALIVE_INTERVAL_S + KEEPALIVE_TIMEOUT_S + 3.0
# After Kamailio is back: the first backoff retry (~2 s) or PJSIP's
# retransmission of a REGISTER sent during the outage (up to 4 s apart).
REREGISTER_S = 10.0


def _registered_then_called(lab: Lab, transport: str) -> None:
    a = lab.phone("alice")
    b = lab.phone("bob")
    acc_a = lab.register(a, "1001", transport)
    acc_b = lab.register(b, "1002", transport)

    listed = {i["account_id"]: i for i in api(a).call("account.list")["accounts"]}
    assert listed[acc_a]["state"] == "registered", listed
    assert listed[acc_a]["uri"] == lab.kam.aor("1001")
    assert listed[acc_a]["transport"] == transport
    assert listed[acc_a]["code"] == 200
    assert lab.kam.contacts("1001"), lab.kam.kamcmd("ul.dump")

    # bob calls 1001's AOR at the proxy; Kamailio finds alice by her registration.
    b_call, a_call = call_through_proxy(b, acc_b, a, acc_a, lab.kam.aor("1001"))
    hang_up(b, b_call, a, a_call)


def test_register_udp_and_call_through_proxy(lab: Lab):
    _registered_then_called(lab, "udp")


def test_register_tcp_and_call_through_proxy(lab: Lab):
    _registered_then_called(lab, "tcp")


def test_register_tls_with_test_ca_and_call_through_proxy(lab: Lab):
    _registered_then_called(lab, "tls")


def test_wrong_password_fails_with_clear_message_and_retry(lab: Lab):
    a = lab.phone("alice")
    client = api(a)
    params = lab.kam.account_params("1001", "udp", password="not-the-password")
    account_id = client.call("account.register", **params)["account_id"]
    ev = client.wait_event("registration", lambda e: e["account_id"] == account_id
                           and e["state"] == "failed")
    assert ev["code"] in (401, 403), ev
    assert "password" in ev["message"], ev
    assert ev["retry_in"] is not None and ev["retry_in"] > 0, ev
    assert lab.kam.contacts("1001") == []


def test_missing_password_is_said_and_can_be_given_at_run_time(lab: Lab):
    """An account with no password (a provisioned one before the agent stored
    it): the failure says so, and account.set_password registers it in place."""
    a = lab.phone("alice")
    client = api(a)
    params = {**lab.kam.account_params("1001", "udp"), "password": ""}
    account_id = client.call("account.register", **params)["account_id"]
    failed = client.wait_event("registration", lambda e: e["account_id"] == account_id
                               and e["state"] == "failed")
    assert "none is stored for this account" in failed["message"], failed
    for bad, code in (({"account_id": "nope", "password": "x"}, -32002),
                      ({"account_id": "local", "password": "x"}, -32602),
                      ({"account_id": account_id, "password": "a\r\nb"}, -32602),
                      ({"account_id": account_id}, -32602)):
        with pytest.raises(ApiError) as refused:
            client.call("account.set_password", **bad)
        assert refused.value.code == code, (bad, refused.value)
    mark = client.mark()
    client.call("account.set_password", account_id=account_id,
                password=lab.kam.account_params("1001", "udp")["password"])
    client.wait_event("registration", lambda e: e["account_id"] == account_id
                      and e["state"] == "registered", since=mark)
    assert lab.kam.contacts("1001")
    assert [i["account_id"] for i in client.call("account.list")["accounts"]
            ].count(account_id) == 1


def test_unreachable_registrar_fails_and_retries(lab: Lab):
    """Nothing listens on the port: TCP is refused at once (503); UDP gets no
    answer and PJSIP's transaction timer ends it (408, ~32 s)."""
    a = lab.phone("alice")
    client = api(a)
    dead = free_port()
    accounts = {}
    for user, transport in (("1001", "udp"), ("1002", "tcp")):
        params = {**lab.kam.account_params(user, transport),
                  "registrar": f"sip:127.0.0.1:{dead};transport={transport}",
                  "proxy": f"sip:127.0.0.1:{dead};transport={transport};lr"}
        accounts[transport] = client.call("account.register", **params)["account_id"]

    tcp = client.wait_event("registration", lambda e: e["account_id"] == accounts["tcp"]
                            and e["state"] == "failed", timeout=5)
    assert tcp["code"] == 503, tcp
    assert "unreachable" in tcp["message"], tcp
    assert tcp["retry_in"] > 0, tcp
    assert client.call("status")["running"] is True

    udp = client.wait_event("registration", lambda e: e["account_id"] == accounts["udp"]
                            and e["state"] == "failed", timeout=40)
    assert udp["code"] == 408, udp
    assert "no answer" in udp["message"], udp
    assert udp["retry_in"] > 0, udp
    status = client.call("status")
    assert status["running"] is True
    states = {i["account_id"]: i["state"] for i in status["accounts"]}
    assert states[accounts["udp"]] in ("failed", "registering"), states


def test_reregisters_by_itself_after_kamailio_restart(lab: Lab):
    a = lab.phone("alice")
    client = api(a)
    account_id = lab.register(a, "1001", "tcp")
    assert lab.kam.contacts("1001")

    lab.kam.stop()
    mark = client.mark()
    client.call("account.reregister", account_id=account_id)
    failed = client.wait_event("registration", lambda e: e["account_id"] == account_id
                               and e["state"] == "failed", since=mark)
    assert failed["code"] == 503, failed  # TCP: connection refused
    assert failed["retry_in"] > 0, failed

    lab.kam.wait_ports_free()
    lab.kam.start()  # same ports, empty location table
    assert lab.kam.contacts("1001") == []
    # No further API calls: the backoff retry must bring it back.
    client.wait_event("registration", lambda e: e["account_id"] == account_id
                      and e["state"] == "registered", timeout=20, since=mark)
    assert lab.kam.contacts("1001")


def _registrar_outage_noticed(lab: Lab, phones: dict[str, tuple[HeadlessInstance, str]],
                              during_outage: Callable[[], None] | None = None
                              ) -> dict[str, int]:
    """Stop Kamailio and wait until each phone has noticed by itself (UDP: the
    OPTIONS keep-alive goes unanswered); start it again on the same ports, with
    an empty location table. Returns each phone's event mark from before."""
    marks = {name: api(inst).mark() for name, (inst, _) in phones.items()}
    lab.kam.stop()
    for name, (inst, account_id) in phones.items():
        lost = _wait_registration(inst, account_id, "failed", marks[name], KEEPALIVE_DETECT_S)
        assert lost["code"] == 408 and "no answer" in lost["message"], lost
        assert lost["retry_in"] > 0, lost
    if during_outage is not None:
        during_outage()
    lab.kam.wait_ports_free()
    lab.kam.start()
    return marks


def _wait_registration(inst: HeadlessInstance, account_id: str, state: str, since: int,
                       timeout: float) -> dict[str, Any]:
    def match(e: dict[str, Any]) -> bool:
        return bool(e["account_id"] == account_id and e["state"] == state)

    return api(inst).wait_event("registration", match, timeout=timeout, since=since)


def _registered_again(lab: Lab, inst: HeadlessInstance, account_id: str, user: str,
                      since: int) -> None:
    _wait_registration(inst, account_id, "registered", since, REREGISTER_S)
    assert lab.kam.contacts(user), lab.kam.kamcmd("ul.dump")
    listed = {i["account_id"]: i for i in api(inst).call("account.list")["accounts"]}
    assert listed[account_id]["state"] == "registered", listed


def test_reregisters_by_itself_after_kamailio_restart_udp(lab: Lab):
    """UDP has no connection to lose: the keep-alive notices the outage, and the
    backoff retry re-registers once Kamailio is back. No API calls meanwhile."""
    a = lab.phone("alice")
    b = lab.phone("bob")
    acc_a = lab.register(a, "1001", "udp")
    acc_b = lab.register(b, "1002", "udp")
    # bob quits during the outage, his unanswered keep-alive still in flight
    # (pjsua2 aborted the process when its result came for a deleted account).
    marks = _registrar_outage_noticed(lab, {"alice": (a, acc_a), "bob": (b, acc_b)},
                                      during_outage=lambda: _quits_cleanly(b))
    assert lab.kam.contacts("1001") == []
    _registered_again(lab, a, acc_a, "1001", marks["alice"])


def _quits_cleanly(inst: HeadlessInstance) -> None:
    assert inst.stop() == 0, inst.log_text()[-3000:]


def test_call_survives_kamailio_restart_and_reregistration(lab: Lab, tmp_path: Path):
    """A call through the proxy (UDP) stays up while Kamailio is down and both
    phones re-register by themselves; audio flows both ways afterwards and the
    BYE follows the Record-Route through the restarted proxy."""
    agents = start_agents(lab, tmp_path)
    a, b = agents["alice"], agents["bob"]
    acc_a, acc_b = agents.accounts["alice"], agents.accounts["bob"]
    a_call, b_call = call_through_proxy(a, acc_a, b, acc_b, lab.kam.aor("1002"))

    marks = _registrar_outage_noticed(lab, {"alice": (a, acc_a), "bob": (b, acc_b)})
    for name, inst, account_id in (("alice", a, acc_a), ("bob", b, acc_b)):
        _registered_again(lab, inst, account_id, USERS[name], marks[name])

    for inst, call_id, mark in ((a, a_call, marks["alice"]), (b, b_call, marks["bob"])):
        calls = {c["call_id"]: c for c in api(inst).call("call.list")["calls"]}
        assert calls[call_id]["state"] == "confirmed", calls
        dropped = [e for e in api(inst).events[mark:]
                   if e.get("type") == "call.state" and e["state"] == "disconnected"]
        assert dropped == [], dropped
    levels = record([a, b], "after-restart", freqs=FREQS)
    assert has_tone(levels["alice"], TONES["bob"]), levels
    assert has_tone(levels["bob"], TONES["alice"]), levels

    hang_up(a, a_call, b, b_call)


def test_tls_server_certificate_is_verified(lab: Lab):
    """Without the test CA the registrar's certificate is refused; --tls-no-verify
    (testing only) accepts it."""
    untrusting = lab.softphones("untrusting")  # no --tls-ca-file
    client = api(untrusting)
    account_id = client.call("account.register",
                             **lab.kam.account_params("1001", "tls"))["account_id"]
    ev = client.wait_event("registration", lambda e: e["account_id"] == account_id
                           and e["state"] in ("failed", "registered"))
    assert ev["state"] == "failed", ev
    assert "certificate" in ev["message"], ev
    assert ev["retry_in"] > 0, ev
    assert lab.kam.contacts("1001") == []

    careless = lab.softphones("careless", extra_args=["--tls-no-verify"])
    lab.register(careless, "1002", "tls")


def test_notices_lost_tcp_registrar_connection_by_itself(lab: Lab):
    a = lab.phone("alice")
    client = api(a)
    account_id = lab.register(a, "1001", "tcp")
    mark = client.mark()
    lab.kam.restart()  # closes the phone's TCP connection; location table empty
    # No API calls: the phone should re-register on its own, well before its refresh.
    client.wait_event("registration", lambda e: e["account_id"] == account_id
                      and e["state"] == "registered", timeout=10, since=mark)
