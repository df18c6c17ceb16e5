"""Sockets of the resource-list subscriber (:mod:`softphone.sip.rls`).

A :class:`Channel` is one subscription's UDP socket or TCP connection (Qt's
sockets, on the Qt main thread): it says when it can send, hands over parsed
messages and says when it is lost (a TCP connection that closed, or was not
made within :data:`CONNECT_TIMEOUT_S`). Messages of every channel are read
one per pass of the event loop (:class:`OnePerPass`). A closed channel emits
nothing more and is deleted.

Also the address helpers: where a response goes (RFC 3261 18.2.2, RFC 3581),
host/port text, the local address for Via and Contact.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import socket
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal
from PySide6.QtNetwork import QHostAddress, QTcpSocket, QUdpSocket

from softphone.core.redact import redact
from softphone.core.rlmi import parse_decimal
from softphone.sip.rls_message import (
    SipMessage,
    SipParseError,
    StreamFramer,
    parse_message,
    via_params,
)

log = logging.getLogger("softphone.sip.rls")
_F = TypeVar("_F", bound=Callable[..., Any])

MAX_DATAGRAM = 65535
# A TCP connection not made in this is lost (a blackholed SYN is retried by the
# kernel for ~127 s, the list "starting" and its members unwatched meanwhile).
CONNECT_TIMEOUT_S = 5.0


def guarded_slot(func: _F) -> _F:
    """A Qt slot whose exception (a bug) is logged, never raised into Qt."""

    @functools.wraps(func)
    def wrapper(*args: Any) -> Any:
        try:
            return func(*args)
        except Exception:
            log.exception("rls: error in %s", func.__qualname__)
            return None

    return wrapper  # type: ignore[return-value]


class Channel(QObject):
    """A UDP socket or TCP connection carrying one subscription's messages.

    Signals:
        ready(): the socket can send (bound, or connected).
        received(object, object): a parsed :class:`SipMessage` and the
            (host, port) it came from.
        lost(str): the socket could not be opened, or the TCP connection
            closed or was not made in time.
    """

    ready = Signal()
    received = Signal(object, object)
    lost = Signal(str)

    def __init__(self, transport: str, bind_address: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.transport = transport
        self.bind_address = bind_address
        self.local_host = ""
        self.local_port = 0
        self._udp: QUdpSocket | None = None
        self._tcp: QTcpSocket | None = None
        self._framer = StreamFramer()
        self._open = False
        self._lost = False
        self._closed = False
        self._connect_timer = QTimer(self)
        self._connect_timer.setSingleShot(True)
        self._connect_timer.timeout.connect(self._on_connect_timeout)

    def open(self, host: str, port: int) -> None:
        """Bind (UDP) or connect to ``host:port`` (TCP, a numeric address)."""
        bind = QHostAddress(self.bind_address)
        if self.transport == "udp":
            udp = QUdpSocket(self)
            if not udp.bind(bind, 0):
                reason = f"cannot bind UDP on {self.bind_address}: {udp.errorString()}"
                QTimer.singleShot(0, self, lambda: self._on_lost(reason))
                return
            udp.readyRead.connect(self._read_udp)
            self._udp = udp
            self.local_host = concrete_local(self.bind_address, host, port)
            self.local_port = int(udp.localPort())
            self._open = True
            QTimer.singleShot(0, self, self._emit_ready)  # dropped if deleted first
            return
        tcp = QTcpSocket(self)
        self._tcp = tcp
        self._connect_timer.start(int(CONNECT_TIMEOUT_S * 1000))
        tcp.connected.connect(self._on_connected)
        tcp.readyRead.connect(self._read_tcp)
        tcp.disconnected.connect(lambda: self._on_lost("the connection closed"))
        tcp.errorOccurred.connect(lambda _err: self._on_lost(tcp.errorString()))
        if not tcp.bind(bind, 0):
            reason = f"cannot bind TCP on {self.bind_address}"
            QTimer.singleShot(0, self, lambda: self._on_lost(reason))
            return
        tcp.connectToHost(QHostAddress(host), port)

    def close(self) -> None:
        """Close the socket and delete the channel (later): it emits nothing more."""
        if self._closed:
            return
        self._closed = True
        self._open = False
        self._connect_timer.stop()
        self.blockSignals(True)
        for sock in (self._udp, self._tcp):
            if sock is not None:
                sock.blockSignals(True)
                if isinstance(sock, QTcpSocket):
                    sock.flush()
                sock.close()
                sock.deleteLater()
        self._udp = None
        self._tcp = None
        self.deleteLater()

    def send(self, data: bytes, host: str, port: int) -> bool:
        if not self._open:
            return False
        if self._udp is not None:
            return int(self._udp.writeDatagram(data, QHostAddress(host), port)) == len(data)
        if self._tcp is not None:
            return int(self._tcp.write(data)) == len(data)
        return False

    @guarded_slot
    def _on_connect_timeout(self) -> None:
        if self._tcp is not None and not self._open:
            self._tcp.blockSignals(True)
            self._tcp.abort()
            self._on_lost(f"no connection after {CONNECT_TIMEOUT_S:g} s")

    @guarded_slot
    def _on_connected(self) -> None:
        assert self._tcp is not None
        self._connect_timer.stop()
        self.local_host = self._tcp.localAddress().toString()
        self.local_port = int(self._tcp.localPort())
        self._open = True
        self.ready.emit()

    def _emit_ready(self) -> None:
        if not self._closed:
            self.ready.emit()

    def _on_lost(self, reason: str) -> None:
        if self._lost or self._closed:
            return
        self._connect_timer.stop()
        self._lost = True
        self._open = False
        self.lost.emit(reason)

    @guarded_slot
    def _read_udp(self) -> None:
        udp = self._udp
        # A message handled here may close the channel: stop reading then.
        while udp is not None and self._udp is udp and udp.hasPendingDatagrams():
            datagram = udp.receiveDatagram(MAX_DATAGRAM)
            data = bytes(datagram.data().data())
            if not data.strip(b"\r\n\x00 "):
                continue  # keepalive
            source = (datagram.senderAddress().toString(), int(datagram.senderPort()))
            self._deliver(data, source)

    @guarded_slot
    def _read_tcp(self) -> None:
        tcp = self._tcp
        if tcp is None:
            return
        data = bytes(tcp.readAll().data())
        try:
            messages = self._framer.feed(data)
        except SipParseError as exc:
            log.warning("rls: closing the connection: %s", exc)
            tcp.abort()
            self._on_lost(str(exc))
            return
        source = (tcp.peerAddress().toString(), int(tcp.peerPort()))
        for raw in messages:
            self._deliver(raw, source)

    def _deliver(self, data: bytes, source: tuple[str, int]) -> None:
        incoming_queue().put(lambda: self._handle(data, source))

    @guarded_slot
    def _handle(self, data: bytes, source: tuple[str, int]) -> None:
        if not self._open:
            return  # closed while the message waited
        try:
            msg = parse_message(data)
        except ValueError as exc:  # SipParseError, or a bug: never out of this slot
            log.info("rls: ignoring an unreadable message from %s:%s: %s", *source, exc)
            return
        if log.isEnabledFor(logging.DEBUG):  # the trace costs, even unlogged
            log.debug("rls: received from %s:%s:\n%s", *source, trace(data))
        self.received.emit(msg, source)


class OnePerPass(QObject):
    """Runs queued calls in order, one per pass of the Qt event loop.

    Every list subscription's incoming messages are read through one such
    queue (:func:`incoming_queue`): a list server sends the NOTIFYs of all a
    phone's lists from one timer tick (and a big full state as several at
    once), and reading them in one go held the Qt thread for all of them
    (~0.3 ms per agent whose state changed, a hundred agents a tick in a
    large contact centre). One message per pass lets the window, the API and
    PJSIP's pump run in between.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._calls: deque[Callable[[], None]] = deque()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._run_one)

    def put(self, call: Callable[[], None]) -> None:
        self._calls.append(call)
        if not self._timer.isActive():
            self._timer.start()

    def pending(self) -> int:
        return len(self._calls)

    @guarded_slot
    def _run_one(self) -> None:
        if not self._calls:
            return
        call = self._calls.popleft()
        if self._calls:
            self._timer.start()  # the next one in the next pass
        call()


_incoming: OnePerPass | None = None


def incoming_queue() -> OnePerPass:
    """The queue every subscription's incoming messages are read through
    (made on first use, a child of the application)."""
    global _incoming
    if _incoming is not None:
        try:
            _incoming.objectName()
            return _incoming
        except RuntimeError:  # its application is gone (tests make new ones)
            pass
    _incoming = OnePerPass(QCoreApplication.instance())
    return _incoming


# -- addresses ----------------------------------------------------------------------------


def response_destination(request: SipMessage, source: tuple[str, int],
                         transport: str) -> tuple[str, int]:
    """Where a response goes (RFC 3261 18.2.2 with RFC 3581 rport): the top
    Via's received/rport, else its sent-by; on TCP, the connection's peer."""
    if transport == "tcp":
        return source
    via = request.get_all("Via")
    if not via:
        return source
    proto_sent_by = via[0].partition(";")[0]
    params = via_params(via[0])
    sent_by = proto_sent_by.split()[-1] if proto_sent_by.split() else ""
    host, port = split_host_port(sent_by)
    host = params.get("received") or host or source[0]
    rport = parse_decimal(params.get("rport", ""), 5)
    port = rport if rport is not None and 0 < rport < 65536 else (port or 5060)
    if not is_ip(host):
        host = source[0]  # no DNS for responses: the address it came from
    return host, port


def split_host_port(text: str) -> tuple[str, int | None]:
    """``host:port`` or ``[v6]:port`` -> (host, port or None)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.lstrip(":")
    else:
        host, _, port_text = text.partition(":")
    port = parse_decimal(port_text, 5)
    return host, port if port is not None and 0 < port < 65536 else None


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def concrete_local(bind_address: str, host: str, port: int) -> str:
    """The address to put in Via/Contact: the bind address, or for a wildcard
    bind the interface address towards ``host`` (a connected UDP socket sends
    nothing; it only asks the routing table)."""
    try:
        if not ipaddress.ip_address(bind_address).is_unspecified:
            return bind_address
    except ValueError:
        return bind_address
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((host, port))
            return str(probe.getsockname()[0])
    except OSError:
        return bind_address


def host_for_uri(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def trace(data: bytes) -> str:
    """A message for the debug log (credentials redacted)."""
    return redact(data[:4000].decode("utf-8", "replace"))
