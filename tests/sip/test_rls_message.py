"""SIP message parsing, stream framing and digest auth of the resource-list
subscriber (softphone.sip.rls_message), including malformed input."""

from __future__ import annotations

import random

import pytest

from softphone.sip.rls import refresh_delay
from softphone.sip.rls_dialog import Dialog, LocalAddress, NotifyKind
from softphone.sip.rls_message import (
    MAX_MESSAGE_BYTES,
    SipMessage,
    SipParseError,
    StreamFramer,
    digest_authorization,
    parse_challenge,
    parse_message,
    parse_name_addr,
    parse_subscription_state,
    split_commas,
    via_params,
)

NOTIFY = (
    b"NOTIFY sip:rls-1@127.0.0.1:40000 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1;rport, SIP/2.0/UDP 10.0.0.1;branch=z2\r\n"
    b"t: <sip:1001@127.0.0.1>;tag=ours\r\n"
    b"f: <sip:support-list@127.0.0.1>;tag=theirs\r\n"
    b"i: abc\r\n"
    b"CSeq: 7 NOTIFY\r\n"
    b"Subscription-State: active;expires=599\r\n"
    b"Record-Route: <sip:p1;lr>,\r\n <sip:p2;lr>\r\n"
    b"Content-Type: text/plain\r\n"
    b"l: 5\r\n\r\nhelloEXTRA"
)


def test_request_with_compact_folded_and_joined_headers():
    msg = parse_message(NOTIFY)
    assert (msg.method, msg.uri, msg.is_request) == ("NOTIFY", "sip:rls-1@127.0.0.1:40000", True)
    assert msg.get("To") == "<sip:1001@127.0.0.1>;tag=ours"
    assert parse_name_addr(msg.get("from")).tag == "theirs"
    assert msg.get("Call-ID") == "abc"
    assert msg.cseq() == (7, "NOTIFY")
    assert msg.get_all("Via")[1] == "SIP/2.0/UDP 10.0.0.1;branch=z2"
    assert via_params(msg.get_all("Via")[0]) == {"branch": "z9hG4bK1", "rport": ""}
    assert msg.get_all("Record-Route") == ["<sip:p1;lr>", "<sip:p2;lr>"]
    assert msg.body == b"hello"  # Content-Length wins over trailing bytes
    assert parse_subscription_state(msg.get("Subscription-State")) == (
        "active", {"expires": "599"})


def test_response_and_round_trip():
    msg = SipMessage(status=200, reason="OK", headers=[("CSeq", "2 SUBSCRIBE"), ("Call-ID", "x")],
                     body=b"")
    again = parse_message(msg.encode())
    assert (again.status, again.reason, again.method) == (200, "OK", "SUBSCRIBE")
    assert again.get("Content-Length") == "0"


def test_name_addr_forms():
    assert parse_name_addr('"A, B" <sip:a@h;transport=tcp>;tag=1;x="y"').uri == (
        "sip:a@h;transport=tcp")
    assert parse_name_addr("sip:a@h;tag=2").tag == "2"
    assert split_commas('"x, y" <sip:a@h>, <sip:b@h;p=1,2>') == ['"x, y" <sip:a@h>',
                                                                 "<sip:b@h;p=1,2>"]
    for bad in ("<sip:a@h", "", "<>"):
        with pytest.raises(SipParseError):
            parse_name_addr(bad)


@pytest.mark.parametrize("data", [
    b"", b"\r\n\r\n", b"HELLO\r\n\r\n", b"SIP/2.0 99 Low\r\nCSeq: 1 X\r\n\r\n",
    b"NOTIFY sip:a SIP/2.0\r\nBad header\r\n\r\n",
    b"NOTIFY sip:a SIP/2.0\r\n continuation first\r\n\r\n",
    b"NOTIFY sip:a SIP/2.0\r\nContent-Length: 99\r\n\r\nshort",
    b"NOTIFY sip:a SIP/2.0\r\nContent-Length: -1\r\n\r\n",
    b"NOTIFY sip:a SIP/2.0\r\nFrom: \xff\r\n\r\n",
    b"SIP/2.0 200 OK\r\nCSeq: x\r\n\r\n",
    b"NOTIFY sip:a SIP/2.0\r\n" + b"X-A: b\r\n" * 300 + b"\r\n",
    b"NOTIFY sip:a SIP/2.0\r\nno end of headers",
    # Digits to str.isdigit(), not to int(): a superscript two, an Arabic-Indic one.
    "NOTIFY sip:a SIP/2.0\r\nContent-Length: ²\r\n\r\nxx".encode(),
    "SIP/2.0 200 OK\r\nCSeq: \u0661 SUBSCRIBE\r\n\r\n".encode(),
])
def test_malformed_messages(data):
    with pytest.raises(SipParseError):
        parse_message(data)


def test_oversized_message():
    with pytest.raises(SipParseError):
        parse_message(b"NOTIFY sip:a SIP/2.0\r\n\r\n" + b"x" * MAX_MESSAGE_BYTES)


def test_random_garbage_only_raises_parse_errors():
    rng = random.Random(3261)
    for _ in range(500):
        data = bytearray(NOTIFY)
        for _ in range(rng.randint(1, 6)):
            pos = rng.randrange(len(data))
            data[pos:pos + rng.randint(0, 3)] = bytes(rng.randrange(256)
                                                      for _ in range(rng.randint(0, 3)))
        try:
            msg = parse_message(bytes(data))
            msg.get_all("Via")
            parse_name_addr(msg.get("To", "<sip:x>"))
        except SipParseError:
            pass


def test_stream_framer():
    framer = StreamFramer()
    first = b"SIP/2.0 200 OK\r\nCSeq: 1 SUBSCRIBE\r\nContent-Length: 3\r\n\r\nabc"
    second = b"NOTIFY sip:a SIP/2.0\r\nl: 0\r\n\r\n"
    assert framer.feed(b"\r\n\r\n" + first[:10]) == []
    assert framer.feed(first[10:] + second[:5]) == [first]
    assert framer.feed(second[5:]) == [second]
    with pytest.raises(SipParseError, match="Content-Length"):
        StreamFramer().feed(b"NOTIFY sip:a SIP/2.0\r\n\r\n")
    with pytest.raises(SipParseError):
        StreamFramer().feed(b"NOTIFY sip:a SIP/2.0\r\nContent-Length: 999999999\r\n\r\n")
    with pytest.raises(SipParseError):
        StreamFramer().feed(b"X" * 70_000)


def test_digest_rfc2617_example():
    challenge = parse_challenge(
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"')
    assert challenge is not None and challenge.supported
    header = digest_authorization(challenge, method="GET", uri="/dir/index.html",
                                  username="Mufasa", password="Circle Of Life", nc=1,
                                  cnonce="0a4f113b")
    assert 'response="6629fae49393a05397450978507c4ef1"' in header
    assert "nc=00000001" in header and 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in header


def test_digest_without_qop_and_unsupported_challenges():
    challenge = parse_challenge('Digest realm="127.0.0.1", nonce="abc"')
    assert challenge is not None and challenge.qop == ()
    header = digest_authorization(challenge, method="SUBSCRIBE", uri="sip:l@h", username="u",
                                  password="p")
    assert "qop" not in header and "cnonce" not in header
    assert parse_challenge("Basic realm=x") is None
    assert parse_challenge('Digest realm="x"') is None  # no nonce
    only_int = parse_challenge('Digest realm="x", nonce="n", qop="auth-int"')
    assert only_int is not None and not only_int.supported
    odd = parse_challenge('Digest realm="x", nonce="n", algorithm=SHA-512-256')
    assert odd is not None and not odd.supported
    sha = parse_challenge('Digest realm="x", nonce="n", algorithm=SHA-256, qop="auth"')
    assert sha is not None and sha.supported


def test_refresh_delay():
    assert refresh_delay(600) == 540
    assert refresh_delay(60) == 54
    assert refresh_delay(10) == 5
    assert refresh_delay(1) == 1


def _local() -> LocalAddress:
    return LocalAddress("udp", "127.0.0.1:40000", "rls-1")


def _ok(dialog: Dialog, sub: SipMessage, record_route: str) -> SipMessage:
    return SipMessage(status=200, reason="OK", headers=[
        ("Via", sub.get("Via")), ("From", sub.get("From")), ("To", sub.get("To") + ";tag=srv"),
        ("Call-ID", dialog.call_id), ("CSeq", sub.get("CSeq")),
        ("Contact", "<sip:rls@10.0.0.9>"), ("Record-Route", record_route)])


def test_dialog_route_set_strict_router_and_refused_values():
    dialog = Dialog()
    sub = dialog.subscribe(list_uri="sip:l@h", aor="sip:a@h", proxy="sip:p;lr", local=_local(),
                           expires=600, branch="z9hG4bK1", authorize=lambda ruri: [])
    assert sub.uri == "sip:l@h" and sub.get_all("Route") == ["<sip:p;lr>"]
    assert sub.cseq() == (1, "SUBSCRIBE") and not dialog.in_dialog
    with pytest.raises(SipParseError):  # refused whole: nothing of it is kept
        dialog.take_2xx(_ok(dialog, sub, "<sip:p2;lr>, <sip:bad"))
    assert not dialog.established and dialog.route_set == []
    dialog.take_2xx(_ok(dialog, sub, "<sip:p2;lr>, <sip:strict>"))
    assert dialog.in_dialog and [r.uri for r in dialog.route_set] == ["sip:strict", "sip:p2;lr"]
    refresh = dialog.subscribe(list_uri="sip:l@h", aor="sip:a@h", proxy="sip:p;lr",
                               local=_local(), expires=600, branch="z9hG4bK2",
                               authorize=lambda ruri: [("Authorization", ruri)])
    # The first route is a strict router: it becomes the Request-URI.
    assert refresh.uri == "sip:strict" and refresh.get("Authorization") == "sip:strict"
    assert refresh.get_all("Route") == ["<sip:p2;lr>", "<sip:rls@10.0.0.9>"]
    assert refresh.cseq()[0] == 2 and parse_name_addr(refresh.get("To")).tag == "srv"


def test_dialog_classifies_notifies():
    dialog = Dialog()

    def notify(cseq: int, call_id: str | None = None, from_tag: str = "srv") -> SipMessage:
        return SipMessage(method="NOTIFY", uri="sip:rls-1@127.0.0.1", headers=[
            ("From", f"<sip:l@h>;tag={from_tag}"), ("To", f"<sip:a@h>;tag={dialog.local_tag}"),
            ("Call-ID", call_id or dialog.call_id), ("CSeq", f"{cseq} NOTIFY"),
            ("Record-Route", "<sip:p1;lr>"), ("Record-Route", "<sip:p2;lr>")])

    first = notify(1)
    assert dialog.classify_notify(first) is NotifyKind.NEW  # it overtook the 2xx
    assert dialog.remote_tag == "srv"
    dialog.take_notify(first)
    assert [r.uri for r in dialog.route_set] == ["sip:p1;lr", "sip:p2;lr"]  # as received
    dialog.last_answer = (1, b"200", ("127.0.0.1", 5060))
    assert dialog.classify_notify(notify(1)) is NotifyKind.RETRANSMISSION
    dialog.take_notify(notify(3))
    assert dialog.classify_notify(notify(2)) is NotifyKind.OLD
    assert dialog.classify_notify(notify(4, call_id="x")) is NotifyKind.OTHER_DIALOG
    assert dialog.classify_notify(notify(4, from_tag="fork")) is NotifyKind.OTHER_DIALOG
    answer = dialog.response(notify(4), 200, "OK")
    assert parse_name_addr(answer.get("To")).tag == dialog.local_tag
