"""Registration and calls through a real Kamailio (digest auth, UDP/TCP/TLS,
failures, restarts), each softphone a headless process driven by its API."""

from __future__ import annotations

import pytest

from tests.helpers.ports import free_port
from tests.interop.conftest import Lab, api, call_through_proxy, hang_up

pytestmark = pytest.mark.multiprocess


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


def test_call_survives_kamailio_restart(lab: Lab):
    a = lab.phone("alice")
    b = lab.phone("bob")
    acc_a = lab.register(a, "1001", "udp")
    acc_b = lab.register(b, "1002", "udp")
    a_call, b_call = call_through_proxy(a, acc_a, b, acc_b, lab.kam.aor("1002"))
    mark_a, mark_b = api(a).mark(), api(b).mark()

    lab.kam.restart()
    assert lab.kam.starts == 2 and lab.kam.contacts("1001") == []

    for inst, call_id in ((a, a_call), (b, b_call)):
        calls = {c["call_id"]: c for c in api(inst).call("call.list")["calls"]}
        assert calls[call_id]["state"] == "confirmed", calls
    for inst, mark in ((a, mark_a), (b, mark_b)):
        dropped = [e for e in api(inst).events[mark:]
                   if e.get("type") == "call.state" and e["state"] == "disconnected"]
        assert dropped == [], dropped

    # The BYE follows the Record-Route through the restarted proxy.
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
