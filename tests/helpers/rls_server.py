"""A scripted SIP server (proxy and resource-list server in one) on 127.0.0.1
for the tests of :mod:`softphone.sip.rls`, and the steps they share."""

from __future__ import annotations

import socket
from typing import Any

from pytestqt.qtbot import QtBot

from softphone.core.rlmi import ListNotification
from softphone.sip.rls import ListAccount, ListSubscription
from softphone.sip.rls_message import (
    SipMessage,
    StreamFramer,
    parse_message,
    parse_name_addr,
    parse_params,
)

LIST = "sip:support-list@127.0.0.1"
BOUNDARY = "b0undary"


class FakeServer:
    """A scripted SIP server (proxy + RLS in one) on a UDP or TCP socket."""

    def __init__(self, transport: str = "udp") -> None:
        self.transport = transport
        if transport == "udp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        if transport == "tcp":
            self.sock.listen(1)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.conn: socket.socket | None = None
        self.framer = StreamFramer()
        self.inbox: list[tuple[SipMessage, Any]] = []
        self.raw: list[bytes] = []

    def close(self) -> None:
        for s in (self.conn, self.sock):
            if s is not None:
                s.close()

    def _poll(self) -> bool:
        if self.transport == "tcp":
            if self.conn is None:
                try:
                    self.conn, _ = self.sock.accept()
                    self.conn.setblocking(False)
                except BlockingIOError:
                    return bool(self.inbox)
            try:
                data = self.conn.recv(65535)
            except BlockingIOError:
                return bool(self.inbox)
            for raw in self.framer.feed(data):
                self.raw.append(raw)
                self.inbox.append((parse_message(raw), None))
            return bool(self.inbox)
        while True:
            try:
                data, addr = self.sock.recvfrom(65535)
            except BlockingIOError:
                return bool(self.inbox)
            self.raw.append(data)
            self.inbox.append((parse_message(data), addr))

    def expect(self, qtbot: QtBot, what: str, timeout: int = 3000) -> tuple[SipMessage, Any]:
        """The next message: a request ``what`` ("SUBSCRIBE") or a response ("200")."""
        qtbot.waitUntil(self._poll, timeout=timeout)
        msg, addr = self.inbox.pop(0)
        got = msg.method if msg.is_request else str(msg.status)
        assert got == what, (what, msg)
        return msg, addr

    def quiet(self, qtbot: QtBot, ms: int = 300) -> None:
        """Nothing arrives for ``ms`` (the client stays silent)."""
        qtbot.wait(ms)
        self._poll()
        assert not self.inbox, self.inbox

    def drop(self) -> None:
        """Close the TCP connection (the next one is accepted)."""
        assert self.conn is not None
        self.conn.close()
        self.conn = None
        self.framer = StreamFramer()

    def send(self, data: bytes, addr: Any) -> None:
        if self.transport == "tcp":
            assert self.conn is not None
            self.conn.sendall(data)
        else:
            self.sock.sendto(data, addr)

    def reply(self, req: SipMessage, addr: Any, status: int, reason: str,
              headers: list[tuple[str, str]] | None = None, to_tag: str = "srv") -> None:
        to = req.get("To")
        if "tag=" not in to:
            to += f";tag={to_tag}"
        hs = [("Via", v) for v in req.get_all("Via")] + [
            ("From", req.get("From")), ("To", to), ("Call-ID", req.get("Call-ID")),
            ("CSeq", req.get("CSeq"))] + (headers or [])
        self.send(SipMessage(status=status, reason=reason, headers=hs).encode(), addr)

    def notify(self, sub: SipMessage, cseq: int, *, body: bytes = b"", content_type: str = "",
               state: str = "active;expires=600", call_id: str | None = None,
               from_tag: str = "srv", via_params: str = "",
               extra: list[tuple[str, str]] | None = None) -> None:
        contact = parse_name_addr(sub.get_all("Contact")[0]).uri
        via = (f"SIP/2.0/{self.transport.upper()} 127.0.0.1:{self.port};branch=z9hG4bKn{cseq}"
               + via_params)
        hs = [("Via", via), ("From", f"<{LIST}>;tag={from_tag}"), ("To", sub.get("From")),
              ("Call-ID", call_id or sub.get("Call-ID")), ("CSeq", f"{cseq} NOTIFY"),
              ("Event", "presence"), ("Contact", f"<sip:rls@127.0.0.1:{self.port}>"),
              ("Subscription-State", state), ("Require", "eventlist"), *(extra or [])]
        if content_type:
            hs.append(("Content-Type", content_type))
        data = SipMessage(method="NOTIFY", uri=contact, headers=hs, body=body).encode()
        self.send(data, client_address(sub))


def client_address(sub: SipMessage) -> tuple[str, int]:
    """Where the client of SUBSCRIBE ``sub`` listens (its Contact)."""
    contact = parse_name_addr(sub.get_all("Contact")[0]).uri
    host, port = contact.split("@")[1].split(";")[0].split(":")
    return host, int(port)


def rlmi(version: int, full: bool, members: dict[str, str | None]) -> tuple[str, bytes]:
    """An RLMI body; ``members``: user -> PIDF note (None: no instance)."""
    resources = ""
    parts = b""
    for user, note in members.items():
        uri = f"sip:{user}@127.0.0.1"
        if note is None:
            resources += f'<resource uri="{uri}"/>'
            continue
        resources += (f'<resource uri="{uri}"><instance id="i" state="active" cid="{user}@c"/>'
                      "</resource>")
        pidf = (f'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="{uri}"><tuple id="t">'
                f"<status><basic>open</basic></status><note>{note}</note></tuple></presence>")
        parts += (f"--{BOUNDARY}\r\nContent-ID: <{user}@c>\r\n"
                  f"Content-Type: application/pidf+xml\r\n\r\n{pidf}\r\n").encode()
    doc = (f'<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="{LIST}" version="{version}" '
           f'fullState="{str(full).lower()}">{resources}</list>')
    body = (f"--{BOUNDARY}\r\nContent-ID: <root@c>\r\nContent-Type: application/rlmi+xml\r\n\r\n"
            f"{doc}\r\n").encode() + parts + f"--{BOUNDARY}--\r\n".encode()
    ctype = (f'multipart/related;type="application/rlmi+xml";start="<root@c>";'
             f'boundary="{BOUNDARY}"')
    return ctype, body


def account(srv: FakeServer, password: str = "pw") -> ListAccount:
    return ListAccount(aor="sip:1001@127.0.0.1", username="1001", password=password, realm="*",
                       transport=srv.transport, proxy=f"sip:127.0.0.1:{srv.port};lr",
                       registrar="", bind_address="127.0.0.1")


class Recorder:
    def __init__(self, sub: ListSubscription) -> None:
        self.notifications: list[ListNotification] = []
        self.failures: list[str] = []
        sub.notified.connect(self.notifications.append)
        sub.failed.connect(self.failures.append)


def subscribe(qtbot: QtBot, srv: FakeServer, acct: ListAccount, **kwargs: Any
              ) -> tuple[ListSubscription, Recorder, SipMessage, Any]:
    """Start a list subscription and return it with the SUBSCRIBE ``srv`` got."""
    sub = ListSubscription(acct, LIST, **kwargs)
    rec = Recorder(sub)
    sub.start()
    req, addr = srv.expect(qtbot, "SUBSCRIBE")
    return sub, rec, req, addr


def accept(qtbot: QtBot, srv: FakeServer, req: SipMessage, addr: Any, rec: Recorder, *,
           expires: int = 600, members: dict[str, str | None] | None = None) -> None:
    """Answer the SUBSCRIBE ``req`` 200 and deliver a first full state
    (``members``; by default 1002 Available); wait until ``rec`` has it."""
    srv.reply(req, addr, 200, "OK", [("Contact", f"<sip:rls@127.0.0.1:{srv.port}>"),
                                     ("Expires", str(expires))])
    ctype, body = rlmi(1, True, members if members is not None else {"1002": "Available"})
    seen = len(rec.notifications)
    srv.notify(req, 1, body=body, content_type=ctype)
    srv.expect(qtbot, "200")
    qtbot.waitUntil(lambda: len(rec.notifications) == seen + 1)


def start(qtbot: QtBot, srv: FakeServer, password: str = "pw"
          ) -> tuple[ListSubscription, Recorder, SipMessage, Any]:
    """Subscribe, answer 200 (no auth) and deliver a first full state."""
    sub, rec, req, addr = subscribe(qtbot, srv, account(srv, password))
    accept(qtbot, srv, req, addr, rec, members={"1002": "Available", "1003": None})
    return sub, rec, req, addr


def challenge(server: FakeServer, req: SipMessage, addr: Any, nonce: str, *,
              stale: bool = False, status: int = 407) -> None:
    header = "Proxy-Authenticate" if status == 407 else "WWW-Authenticate"
    value = f'Digest realm="127.0.0.1", nonce="{nonce}", qop="auth"'
    server.reply(req, addr, status, "Unauthorized",
                 [(header, value + (", stale=true" if stale else ""))])


def digest_fields(req: SipMessage, header: str = "Proxy-Authorization") -> dict[str, str]:
    return parse_params(";" + req.get(header).removeprefix("Digest ").replace(", ", ";"))
