"""The resource-list SUBSCRIBE dialog client (softphone.sip.rls) against a
scripted server on 127.0.0.1 (tests/helpers/rls_server.py): NOTIFY handling
(versions, retransmissions, other dialogs, garbage), refresh,
re-subscription, failure before the list works, unsubscribe, TCP framing.
Digest authentication: test_rls_auth.py."""

from __future__ import annotations

import logging
import socket
from dataclasses import replace
from typing import Any

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QTimer
from pytestqt.qtbot import QtBot

from softphone.core.agent_state import AgentState
from softphone.core.errors import InvalidUriError
from softphone.core.registration import Backoff
from softphone.sip import rls as rls_module
from softphone.sip import rls_transaction, rls_transport
from softphone.sip.rls import ListAccount, ListSubscription
from softphone.sip.rls_message import (
    SipMessage,
    digest_authorization,
    parse_challenge,
    parse_name_addr,
    parse_params,
)
from tests.helpers.rls_server import (
    BOUNDARY,
    LIST,
    FakeServer,
    Recorder,
    accept,
    account,
    client_address,
    rlmi,
    start,
    subscribe,
)


def test_digest_auth_notify_handling_and_unsubscribe(qtbot: QtBot, server: FakeServer):
    sub, rec, req, addr = subscribe(qtbot, server, account(server))
    assert req.uri == LIST and req.get("Event") == "presence"
    assert req.get("Supported") == "eventlist" and req.get("Expires") == "600"
    assert "application/rlmi+xml" in req.get("Accept") and "multipart/related" in req.get("Accept")
    assert req.get("Route") == f"<sip:127.0.0.1:{server.port};lr>"
    server.reply(req, addr, 407, "Proxy Authentication Required",
                 [("Proxy-Authenticate", 'Digest realm="127.0.0.1", nonce="n1", qop="auth"')])
    req2, addr = server.expect(qtbot, "SUBSCRIBE")
    assert req2.get("Call-ID") == req.get("Call-ID") and req2.cseq()[0] == req.cseq()[0] + 1
    auth = req2.get("Proxy-Authorization")
    fields = parse_params(";" + auth.removeprefix("Digest ").replace(", ", ";"))
    challenge = parse_challenge('Digest realm="127.0.0.1", nonce="n1", qop="auth"')
    assert challenge is not None
    expected = digest_authorization(challenge, method="SUBSCRIBE", uri=LIST, username="1001",
                                    password="pw", nc=int(fields["nc"], 16),
                                    cnonce=fields["cnonce"])
    assert auth == expected
    server.reply(req2, addr, 200, "OK", [("Contact", f"<sip:rls@127.0.0.1:{server.port}>"),
                                         ("Expires", "600")])

    ctype, body = rlmi(1, True, {"1002": "Available", "1003": None})
    server.notify(req2, 1, body=body, content_type=ctype)
    ok, _ = server.expect(qtbot, "200")
    assert parse_name_addr(ok.get("To")).tag == parse_name_addr(req2.get("From")).tag
    qtbot.waitUntil(lambda: len(rec.notifications) == 1)
    first = rec.notifications[0]
    assert first.full_state and first.states == {
        "sip:1002@127.0.0.1": (AgentState.AVAILABLE, ""), "sip:1003@127.0.0.1": None}
    assert sub.active

    server.notify(req2, 1, body=body, content_type=ctype)  # a retransmission
    again, _ = server.expect(qtbot, "200")
    assert again.get("CSeq") == ok.get("CSeq")
    ctype, body = rlmi(2, False, {"1003": "Not Ready: Lunch"})
    server.notify(req2, 2, body=body, content_type=ctype)
    server.expect(qtbot, "200")
    qtbot.waitUntil(lambda: len(rec.notifications) == 2)
    assert rec.notifications[1].states == {"sip:1003@127.0.0.1": (AgentState.NOT_READY, "Lunch")}

    ctype, body = rlmi(2, False, {"1003": "Available"})  # an old version
    server.notify(req2, 3, body=body, content_type=ctype)
    server.expect(qtbot, "200")
    server.notify(req2, 4, body=body, content_type=ctype, call_id="another-dialog")
    server.expect(qtbot, "481")
    server.notify(req2, 4, body=body, content_type=ctype, from_tag="forked")
    server.expect(qtbot, "481")
    for garbage in (b"\x00\xff garbage", b"NOTIFY sip:x SIP/2.0\r\nbroken\r\n\r\n",
                    b"SIP/2.0 200 OK\r\nCSeq: 1 SUBSCRIBE\r\nVia: x\r\n\r\n"):
        server.send(garbage, client_address(req2))
    server.notify(req2, 5, body=b"--" + BOUNDARY.encode() + b"\r\n\r\n<list",
                  content_type=ctype)  # malformed RLMI: answered, logged, ignored
    server.expect(qtbot, "200")
    server.quiet(qtbot, 200)
    assert len(rec.notifications) == 2 and rec.failures == []

    sub.stop()
    bye, _ = server.expect(qtbot, "SUBSCRIBE")
    assert bye.get("Expires") == "0" and bye.uri == f"sip:rls@127.0.0.1:{server.port}"
    assert parse_name_addr(bye.get("To")).tag == "srv"
    assert bye.cseq()[0] > req2.cseq()[0]


@pytest.mark.parametrize("code", [404, 489, 415])
def test_refusal_before_any_rlmi_means_not_offered(qtbot: QtBot, server: FakeServer, code: int):
    # _sub: the subscription must stay alive while the test runs.
    _sub, rec, req, addr = subscribe(qtbot, server, account(server))
    server.reply(req, addr, code, "No")
    qtbot.waitUntil(lambda: rec.failures != [])
    assert rec.failures[0].startswith(str(code))
    server.quiet(qtbot)


def test_notify_without_rlmi_means_not_offered_and_unsubscribes(qtbot: QtBot,
                                                                server: FakeServer):
    _sub, rec, req, addr = subscribe(qtbot, server, account(server))
    server.reply(req, addr, 200, "OK", [("Contact", f"<sip:p@127.0.0.1:{server.port}>"),
                                        ("Expires", "600")])
    server.notify(req, 1)  # a presence server's NOTIFY for an unknown presentity
    server.expect(qtbot, "200")
    bye, _ = server.expect(qtbot, "SUBSCRIBE")
    assert bye.get("Expires") == "0"
    assert rec.failures and "no RLMI" in rec.failures[0]


def test_no_answer_is_retransmitted_then_given_up(qtbot: QtBot, server: FakeServer,
                                                  monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(rls_transaction, "T1_S", 0.05)
    monkeypatch.setattr(rls_transaction, "TRANSACTION_TIMEOUT_S", 0.4)
    sub = ListSubscription(account(server), LIST)
    rec = Recorder(sub)
    sub.start()
    qtbot.waitUntil(lambda: rec.failures != [], timeout=3000)
    server._poll()
    branches = {m.get_all("Via")[0] for m, _ in server.inbox}
    assert len(server.inbox) >= 3 and len(branches) == 1  # the same request, resent
    assert sub.transient_failure and rec.failures[0].startswith("408")


def test_partial_state_gap_starts_a_new_subscription(qtbot: QtBot, server: FakeServer):
    sub, rec, req, _addr = start(qtbot, server)
    ctype, body = rlmi(5, False, {"1002": "Talking"})  # versions 2-4 went missing
    server.notify(req, 2, body=body, content_type=ctype)
    server.expect(qtbot, "200")
    qtbot.waitUntil(lambda: len(rec.notifications) == 2)
    old, _ = server.expect(qtbot, "SUBSCRIBE")
    assert old.get("Expires") == "0" and old.get("Call-ID") == req.get("Call-ID")
    new, _ = server.expect(qtbot, "SUBSCRIBE")
    assert new.get("Call-ID") != req.get("Call-ID") and "tag=" not in new.get("To")
    assert rec.failures == []
    sub.stop()


def test_terminated_subscription_is_renewed(qtbot: QtBot, server: FakeServer):
    sub, rec, req, addr = start(qtbot, server)
    server.notify(req, 2, state="terminated;reason=deactivated")
    server.expect(qtbot, "200")
    new, addr = server.expect(qtbot, "SUBSCRIBE")
    assert new.get("Call-ID") != req.get("Call-ID") and new.get("Expires") == "600"
    server.reply(new, addr, 200, "OK", [("Expires", "600")])
    ctype, body = rlmi(1, True, {"1002": "Available"})
    server.notify(new, 1, body=body, content_type=ctype)
    server.expect(qtbot, "200")
    qtbot.waitUntil(lambda: len(rec.notifications) == 2)
    assert rec.failures == []
    sub.stop()


def test_terminated_rejected_gives_up(qtbot: QtBot, server: FakeServer):
    _sub, rec, req, _ = start(qtbot, server)
    server.notify(req, 2, state="terminated;reason=rejected")
    server.expect(qtbot, "200")
    qtbot.waitUntil(lambda: rec.failures != [])
    assert "rejected" in rec.failures[0]
    server.quiet(qtbot)


def test_refresh_before_expiry_and_481_renews(qtbot: QtBot, server: FakeServer):
    sub, rec, req, addr = subscribe(qtbot, server, account(server))
    server.reply(req, addr, 200, "OK", [("Contact", f"<sip:rls@127.0.0.1:{server.port}>"),
                                        ("Expires", "1")])
    ctype, body = rlmi(1, True, {"1002": "Available"})
    server.notify(req, 1, body=body, content_type=ctype)
    server.expect(qtbot, "200")
    refresh, addr = server.expect(qtbot, "SUBSCRIBE", timeout=2500)
    assert refresh.get("Call-ID") == req.get("Call-ID")
    assert parse_name_addr(refresh.get("To")).tag == "srv"
    server.reply(refresh, addr, 481, "Subscription Does Not Exist")  # the server restarted
    new, _ = server.expect(qtbot, "SUBSCRIBE")
    assert new.get("Call-ID") != req.get("Call-ID")
    assert rec.failures == []
    sub.stop()


def test_refresh_now_finds_a_forgotten_subscription(qtbot: QtBot, server: FakeServer):
    sub, rec, req, _ = start(qtbot, server)
    sub.refresh_now()  # as when the account registered again after an outage
    refresh, addr = server.expect(qtbot, "SUBSCRIBE")
    assert refresh.get("Call-ID") == req.get("Call-ID") and "tag=srv" in refresh.get("To")
    server.reply(refresh, addr, 481, "Subscription Does Not Exist")
    new, _ = server.expect(qtbot, "SUBSCRIBE")
    assert new.get("Call-ID") != req.get("Call-ID") and rec.failures == []
    sub.stop()


def test_tcp_stream_with_two_messages_in_one_segment(qtbot: QtBot):
    srv = FakeServer("tcp")
    try:
        sub = ListSubscription(account(srv), LIST)
        rec = Recorder(sub)
        sub.start()
        req, _ = srv.expect(qtbot, "SUBSCRIBE")
        assert req.get_all("Via")[0].startswith("SIP/2.0/TCP ")
        assert req.get("Contact").endswith(";transport=tcp>")
        ok = SipMessage(status=200, reason="OK", headers=[
            *(("Via", v) for v in req.get_all("Via")), ("From", req.get("From")),
            ("To", req.get("To") + ";tag=srv"), ("Call-ID", req.get("Call-ID")),
            ("CSeq", req.get("CSeq")), ("Expires", "600")]).encode()
        ctype, body = rlmi(1, True, {"1002": "Not Ready: Break"})
        notify = SipMessage(method="NOTIFY", uri="sip:x@127.0.0.1", headers=[
            ("Via", f"SIP/2.0/TCP 127.0.0.1:{srv.port};branch=z9hG4bKt1"),
            ("From", f"<{LIST}>;tag=srv"), ("To", req.get("From")),
            ("Call-ID", req.get("Call-ID")), ("CSeq", "1 NOTIFY"), ("Event", "presence"),
            ("Subscription-State", "active;expires=600"), ("Content-Type", ctype)],
            body=body).encode()
        srv.send(ok + notify, None)
        srv.expect(qtbot, "200")
        qtbot.waitUntil(lambda: len(rec.notifications) == 1)
        assert rec.notifications[0].states == {
            "sip:1002@127.0.0.1": (AgentState.NOT_READY, "Break")}
        sub.stop()
        bye, _ = srv.expect(qtbot, "SUBSCRIBE")
        assert bye.get("Expires") == "0"
    finally:
        srv.close()


def test_bad_list_uri_and_unsupported_transport(qtbot: QtBot):
    acc = ListAccount("sip:a@h", "a", "p", "*", "udp", "", "", "127.0.0.1")
    with pytest.raises(InvalidUriError):
        ListSubscription(acc, "not a uri")
    sub = ListSubscription(replace(acc, transport="tls"), LIST)
    rec = Recorder(sub)
    sub.start()
    qtbot.waitUntil(lambda: rec.failures != [])
    assert "tls" in rec.failures[0]


def test_incoming_messages_are_read_one_per_event_loop_pass(qtbot: QtBot):
    # A list server sends the NOTIFYs of all a phone's lists in one timer tick:
    # read together they held the Qt thread for all of them at once.
    queue = rls_transport.OnePerPass()
    order: list[str] = []
    queue.put(lambda: order.append("list 1"))
    queue.put(lambda: order.append("list 2"))
    queue.put(lambda: order.append("list 3"))
    other = QTimer()
    other.setSingleShot(True)
    other.timeout.connect(lambda: order.append("something else"))
    other.start(0)
    assert order == [] and queue.pending() == 3
    qtbot.waitUntil(lambda: len(order) == 4)
    assert order == ["list 1", "something else", "list 2", "list 3"]
    assert rls_transport.incoming_queue() is rls_transport.incoming_queue()


def test_non_ascii_digits_are_not_numbers(qtbot: QtBot, server: FakeServer):
    # str.isdigit() accepts "²" and an Arabic-Indic 1, int() does not: the ValueError escaped
    # the socket's slot (UDP reception could stop) or skipped the rest of a NOTIFY.
    sub, rec, req, _ = start(qtbot, server)
    server.send("NOTIFY sip:x SIP/2.0\r\nContent-Length: ²\r\n\r\nxx".encode(),
                client_address(req))
    server.send("SIP/2.0 200 OK\r\nCSeq: \u0661 SUBSCRIBE\r\n\r\n".encode(), client_address(req))
    ctype, body = rlmi(2, False, {"1002": "Talking"})
    server.notify(req, 2, body=body, content_type=ctype, via_params=";rport=²",
                  state="active;expires=²")
    server.expect(qtbot, "200")  # to the Via's sent-by: the rport is no number
    qtbot.waitUntil(lambda: len(rec.notifications) == 2)
    ctype, body = rlmi(3, False, {"1002": "Available"})
    body = body.replace(b'version="3"', 'version="\u0661"'.encode())
    server.notify(req, 3, body=body, content_type=ctype,
                  state="terminated;reason=deactivated;retry-after=²")
    server.expect(qtbot, "200")
    # The unreadable RLMI does not hide the NOTIFY's Subscription-State.
    new, _ = server.expect(qtbot, "SUBSCRIBE")
    assert new.get("Call-ID") != req.get("Call-ID") and rec.failures == []
    assert len(rec.notifications) == 2
    sub.stop()


@pytest.mark.parametrize("where", ["2xx", "notify"])
def test_a_huge_expires_is_clamped_to_what_was_asked(qtbot: QtBot, server: FakeServer,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture, where: str):
    # Over 2^31 ms QTimer.start raises OverflowError, after the transaction's
    # timers were stopped: no refresh was ever scheduled. A notifier may only
    # shorten what we asked for.
    monkeypatch.setattr(rls_module, "EXPIRES_S", 2)
    sub, rec, req, addr = subscribe(qtbot, server, account(server))
    assert req.get("Expires") == "2"
    huge = "4000000000"
    ctype, body = rlmi(1, True, {"1002": "Available"})
    if where == "notify":  # the NOTIFY overtakes the 2xx: no refresh timer runs yet
        server.notify(req, 1, body=body, content_type=ctype, state=f"active;expires={huge}")
        server.expect(qtbot, "200")
    server.reply(req, addr, 200, "OK", [("Contact", f"<sip:rls@127.0.0.1:{server.port}>"),
                                        ("Expires", huge if where == "2xx" else "2")])
    if where == "2xx":
        server.notify(req, 1, body=body, content_type=ctype)
        server.expect(qtbot, "200")
    refresh, _ = server.expect(qtbot, "SUBSCRIBE", timeout=2500)
    assert refresh.get("Call-ID") == req.get("Call-ID") and refresh.get("Expires") == "2"
    assert rec.failures == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    sub.stop()


def test_min_expires_is_remembered(qtbot: QtBot, server: FakeServer):
    sub, rec, req, addr = subscribe(qtbot, server, account(server))
    server.reply(req, addr, 423, "Interval Too Brief", [("Min-Expires", "1200")])
    req, addr = server.expect(qtbot, "SUBSCRIBE")
    assert req.get("Expires") == "1200"
    accept(qtbot, server, req, addr, rec, expires=1200)
    sub.refresh_now()
    refresh, _ = server.expect(qtbot, "SUBSCRIBE")
    assert refresh.get("Expires") == "1200"  # not 600 again, to be refused again
    sub.stop()


@pytest.mark.parametrize("record_route", ["<sip:proxy.invalid", "sip:a b", "<sip:p1;lr>, <>"])
def test_a_bad_record_route_is_refused_when_it_arrives(qtbot: QtBot, server: FakeServer,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       record_route: str):
    # Stored as text and parsed when the refresh timer fired, it raised there
    # and the subscription died silently: a 2xx with a route set we cannot use
    # is no answer (the transaction times out: the list is not used).
    monkeypatch.setattr(rls_transaction, "TRANSACTION_TIMEOUT_S", 1.5)
    sub, rec, req, addr = subscribe(qtbot, server, account(server))
    server.reply(req, addr, 200, "OK", [("Contact", f"<sip:rls@127.0.0.1:{server.port}>"),
                                        ("Record-Route", record_route), ("Expires", "1")])
    ctype, body = rlmi(1, True, {"1002": "Available"})
    server.notify(req, 1, body=body, content_type=ctype, extra=[("Record-Route", record_route)])
    qtbot.waitUntil(lambda: rec.failures != [], timeout=4000)
    assert rec.failures[0].startswith("408") and sub.transient_failure
    assert rec.notifications == []  # the NOTIFY with that route set was not taken either


def test_an_error_in_a_timer_slot_fails_the_list_rather_than_stalling_it(
        qtbot: QtBot, server: FakeServer, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture):
    sub, rec, _req, _ = start(qtbot, server)

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(sub, "_send_subscribe", broken)
    sub._refresh_timer.start(0)  # the refresh, as when it is due
    qtbot.waitUntil(lambda: rec.failures != [])
    assert sub.transient_failure and "a bug" in caplog.text


def channels(sub: ListSubscription) -> list[Any]:
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    return list(sub.findChildren(rls_transport.Channel))


def test_a_lost_tcp_connection_leaves_no_channel_behind(qtbot: QtBot,
                                                        monkeypatch: pytest.MonkeyPatch):
    # close() deleted the sockets, not the channel: each reconnect kept one
    # (its signals connected, its framer's buffer held).
    srv = FakeServer("tcp")
    try:
        sub = ListSubscription(account(srv), LIST)
        monkeypatch.setattr(sub, "_backoff", Backoff(initial=0.05, maximum=0.05))
        rec = Recorder(sub)
        sub.start()
        for rounds in (1, 2, 3):
            req, _ = srv.expect(qtbot, "SUBSCRIBE")
            srv.reply(req, None, 200, "OK", [("Expires", "600")])
            ctype, body = rlmi(1, True, {"1002": "Available"})
            srv.notify(req, 1, body=body, content_type=ctype)
            srv.expect(qtbot, "200")
            qtbot.waitUntil(lambda: len(rec.notifications) == rounds)  # noqa: B023
            assert len(channels(sub)) == 1
            srv.drop()
        srv.expect(qtbot, "SUBSCRIBE")  # the fourth connection
        assert len(channels(sub)) == 1 and rec.failures == []
        sub.stop()
        assert channels(sub) == []
    finally:
        srv.close()


def test_a_queued_ready_of_a_closed_channel_is_ignored(qtbot: QtBot, server: FakeServer):
    # A UDP channel says "ready" from a zero timer: one closed meanwhile made
    # the subscription send on its successor (a second initial SUBSCRIBE).
    sub = ListSubscription(account(server), LIST)
    sub.start()
    sub._open_channel()  # reopened before the first one's ready was delivered
    server.expect(qtbot, "SUBSCRIBE")
    server.quiet(qtbot)
    assert len(channels(sub)) == 1
    sub.stop()


def test_a_tcp_connect_that_gets_no_answer_times_out(qtbot: QtBot,
                                                     monkeypatch: pytest.MonkeyPatch):
    # A blackholed SYN kept the list "starting" (its members unwatched) for the
    # kernel's ~127 s of SYN retries. A listener whose accept queue is full
    # drops SYNs like that.
    monkeypatch.setattr(rls_transport, "CONNECT_TIMEOUT_S", 0.3)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(3):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        qtbot.wait(100)
        acc = ListAccount(aor="sip:1001@127.0.0.1", username="1001", password="pw", realm="*",
                          transport="tcp", proxy=f"sip:127.0.0.1:{port};lr", registrar="",
                          bind_address="127.0.0.1")
        sub = ListSubscription(acc, LIST)
        rec = Recorder(sub)
        sub.start()
        qtbot.waitUntil(lambda: rec.failures != [], timeout=3000)
        assert "no connection" in rec.failures[0] and sub.transient_failure
    finally:
        for s in (*fillers, listener):
            s.close()


def test_a_pending_notify_requiring_eventlist_shows_the_list_is_offered(
        qtbot: QtBot, server: FakeServer, monkeypatch: pytest.MonkeyPatch):
    # A list awaiting authorisation: no RLMI yet, but Require: eventlist says
    # the server expands it; the first-NOTIFY timer must not give up on it.
    monkeypatch.setattr(rls_module, "FIRST_NOTIFY_TIMEOUT_S", 0.3)
    sub, rec, req, addr = subscribe(qtbot, server, account(server))
    server.reply(req, addr, 200, "OK", [("Contact", f"<sip:rls@127.0.0.1:{server.port}>"),
                                        ("Expires", "600")])
    server.notify(req, 1, state="pending;expires=600")
    server.expect(qtbot, "200")
    server.quiet(qtbot, 600)
    assert rec.failures == [] and sub.active
    ctype, body = rlmi(1, True, {"1002": "Available"})  # authorised
    server.notify(req, 2, body=body, content_type=ctype)
    server.expect(qtbot, "200")
    qtbot.waitUntil(lambda: len(rec.notifications) == 1)
    sub.stop()
