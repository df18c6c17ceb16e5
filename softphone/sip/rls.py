"""One resource-list subscription (RFC 4662) per agent group, outside pjsua.

pjsua2 cannot subscribe to a resource list: its buddies answer RLMI's
``multipart/related`` NOTIFYs with 415 and send no ``Supported: eventlist``,
and it has no generic SUBSCRIBE API. :class:`ListSubscription` is therefore a
small SIP SUBSCRIBE dialog client of its own, on the Qt main thread (Qt's
sockets and timers, no thread of ours), on a socket bound to the account's
local address, sending through the account's outbound proxy (else its
registrar) and answering digest challenges with the account's credentials:

* ``SUBSCRIBE`` with ``Event: presence``, ``Supported: eventlist`` and
  ``Accept: application/pidf+xml, application/rlmi+xml, multipart/related``;
  retransmitted on UDP (RFC 3261 timer E), given up after
  :data:`TRANSACTION_TIMEOUT_S` (shorter than timer F: a failure only means
  falling back or trying again);
* every NOTIFY of the dialog answered 200 (481 for other dialogs, a cached
  answer for retransmissions), its RLMI read by :mod:`softphone.core.rlmi`:
  full and partial state, versions (an old one is ignored, a gap starts a new
  subscription to get full state again);
* refreshed before it expires; ``Subscription-State: terminated`` starts a new
  subscription (at once for ``deactivated``/``timeout``, else with backoff),
  as does a failed refresh; unsubscribed (``Expires: 0``) by :meth:`stop`.

Until the first RLMI NOTIFY arrives the list is only *offered*: an error
response (404, 489, 415...), no answer, or a NOTIFY without RLMI (a server
that treats the list URI as an ordinary presentity) makes it fail for good
(:attr:`ListSubscription.failed`), and the presence service watches those
agents one by one instead.

Incoming messages of every subscription are read one per pass of the event
loop, in order (:class:`OnePerPass`), so that NOTIFYs arriving together do not
hold the Qt thread for all of them at once.

Only UDP and TCP: a TLS account keeps per-agent subscriptions.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import secrets
import socket
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar

from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal
from PySide6.QtNetwork import QHostAddress, QHostInfo, QTcpSocket, QUdpSocket

from softphone.core.errors import InvalidUriError
from softphone.core.redact import redact
from softphone.core.registration import Backoff
from softphone.core.rlmi import (
    ListNotification,
    RlmiError,
    is_list_body,
    parse_decimal,
    parse_list_notify,
)
from softphone.core.sip_uri import parse_sip_uri
from softphone.sip.rls_message import (
    Challenge,
    NameAddr,
    SipMessage,
    SipParseError,
    StreamFramer,
    digest_authorization,
    new_branch,
    new_tag,
    parse_challenge,
    parse_message,
    parse_name_addr,
    parse_subscription_state,
    via_params,
)

log = logging.getLogger("softphone.sip.rls")
_F = TypeVar("_F", bound=Callable[..., Any])

EXPIRES_S = 600
MAX_EXPIRES_S = 86400  # the most a 423's Min-Expires makes us ask for
T1_S = 0.5
T2_S = 4.0
TRANSACTION_TIMEOUT_S = 8.0
# A TCP connection not made in this is lost (a blackholed SYN is retried by the
# kernel for ~127 s, the list "starting" and its members unwatched meanwhile).
CONNECT_TIMEOUT_S = 5.0
# At most this many SUBSCRIBEs answer one's challenges and 423s.
MAX_CHAIN = 4
# After the 2xx, the first NOTIFY must come within this (RFC 6665 says at once).
FIRST_NOTIFY_TIMEOUT_S = 5.0
MAX_DATAGRAM = 65535
USER_AGENT = "softphone-rls/1"
# Final responses that mean "this server does not offer that list".
_NOT_OFFERED = {400, 403, 404, 405, 415, 416, 420, 421, 433, 488, 489, 493, 501, 604}
_GONE_REASONS = {"rejected", "noresource", "invariant"}


@dataclass(frozen=True)
class ListAccount:
    """The account a list is subscribed from (copied from its ``AccountSpec``).

    Attributes:
        aor: address of record (the From of the SUBSCRIBE).
        username / password / realm: digest credentials (realm ``*`` = any).
        transport: ``udp`` or ``tcp``.
        proxy: outbound proxy URI ("" = none).
        registrar: registrar URI (the next hop when there is no proxy).
        bind_address: local address of the account's transport.
    """

    aor: str
    username: str
    password: str = field(repr=False)
    realm: str
    transport: str
    proxy: str
    registrar: str
    bind_address: str


def _slot(func: _F) -> _F:
    """A socket slot of :class:`_Channel`: an exception (a bug) is logged,
    never raised into Qt."""

    @functools.wraps(func)
    def wrapper(*args: Any) -> Any:
        try:
            return func(*args)
        except Exception:
            log.exception("rls: error in %s", func.__qualname__)
            return None

    return wrapper  # type: ignore[return-value]


class _Channel(QObject):
    """A UDP socket or TCP connection carrying one subscription's messages.

    Signals:
        ready(): the socket can send (bound, or connected).
        received(object, object): a parsed :class:`SipMessage` and the
            (host, port) it came from.
        lost(str): the TCP connection closed or could not be made.
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
            self.local_host = _concrete_local(self.bind_address, host, port)
            self.local_port = int(udp.localPort())
            self._open = True
            QTimer.singleShot(0, self, self._emit_ready)
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

    @_slot
    def _on_connect_timeout(self) -> None:
        if self._tcp is not None and not self._open:
            self._tcp.blockSignals(True)
            self._tcp.abort()
            self._on_lost(f"no connection after {CONNECT_TIMEOUT_S:g} s")

    @_slot
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

    @_slot
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

    @_slot
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

    @_slot
    def _handle(self, data: bytes, source: tuple[str, int]) -> None:
        if not self._open:
            return  # closed while the message waited
        try:
            msg = parse_message(data)
        except ValueError as exc:  # SipParseError, or a bug: never out of this slot
            log.info("rls: ignoring an unreadable message from %s:%s: %s", *source, exc)
            return
        if log.isEnabledFor(logging.DEBUG):  # the trace costs, even unlogged
            log.debug("rls: received from %s:%s:\n%s", *source, _trace(data))
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


class Credentials(Protocol):
    """Digest credentials (an ``AccountSpec`` or a :class:`ListAccount`)."""

    @property
    def username(self) -> str: ...
    @property
    def password(self) -> str: ...
    @property
    def realm(self) -> str: ...


@dataclass(frozen=True)
class _Chain:
    """What a SUBSCRIBE and the ones answering its challenges (or its 423)
    have been through: ``tries`` of them so far, the authorization headers
    answered afresh (a challenge to those again means refused credentials)
    and whether a stale nonce was answered already."""

    tries: int = 0
    answered: frozenset[str] = frozenset()
    stale_retried: bool = False


@dataclass
class _Transaction:
    """An outgoing SUBSCRIBE waiting for its final response."""

    request: SipMessage
    data: bytes
    branch: str
    expires: int
    host: str
    port: int
    chain: _Chain = field(default_factory=_Chain)
    interval: float = 0.5


class ListSubscription(QObject):
    """A SUBSCRIBE dialog to one resource list (see the module docstring).

    Signals:
        notified(object): a :class:`~softphone.core.rlmi.ListNotification`
            from an RLMI NOTIFY of this subscription.
        failed(str): the list is not offered (or cannot be used): give up on it.

    ``credentials`` gives the account's digest credentials as they are now
    (``AccountManager.spec``: a password set since is used from the next
    authentication); without it, or when it gives None, ``account``'s. A
    challenge to our answer without ``stale=true`` means a wrong password:
    the list fails (not transiently) rather than trying forever.

    Attributes:
        list_uri: the list's URI.
        active: the server expands the list: an RLMI NOTIFY has arrived (or a
            pending one with ``Require: eventlist``).
        transient_failure: after :attr:`failed`: the server did not answer
            (or could not then); trying again later may work, unlike a refusal.
    """

    notified = Signal(object)
    failed = Signal(str)

    def __init__(self, account: ListAccount, list_uri: str, parent: QObject | None = None,
                 credentials: Callable[[], Credentials | None] | None = None) -> None:
        super().__init__(parent)
        self.account = account
        # The account's credentials as they are now (its password may change).
        self._current_credentials = credentials
        self.list_uri = str(parse_sip_uri(list_uri))
        self.active = False
        self.transient_failure = False
        self._hop: tuple[str, int] | None = None
        self._channel: _Channel | None = None
        self._tx: _Transaction | None = None
        self._stopped = False
        self._done = False
        self._backoff = Backoff(initial=2.0, maximum=300.0)
        self._contact_user = "rls-" + secrets.token_hex(4)
        self._challenges: dict[str, Challenge] = {}  # header -> the challenge it answers
        self._nonce_uses: dict[str, int] = {}  # nonce -> nc last sent with it
        self._min_expires = 0  # a 423's Min-Expires: asked for from then on
        self._last_version = -1
        self._last_notify: tuple[int, bytes, tuple[str, int]] | None = None
        self._reset_dialog()
        self._tx_timer = self._timer(self._on_retransmit)
        self._tx_deadline = self._timer(self._on_tx_timeout)
        self._refresh_timer = self._timer(self._refresh)
        self._notify_timer = self._timer(self._on_no_notify)
        self._retry_timer = self._timer(self._subscribe)

    def _timer(self, slot: Callable[[], None]) -> QTimer:
        timer = QTimer(self)
        timer.setSingleShot(True)
        timer.timeout.connect(lambda: self._guarded(slot))
        return timer

    def _guarded(self, slot: Callable[[], None]) -> None:
        """Run a timer's or a channel's slot: an exception (a bug) fails the list, which
        falls back to per-agent subscriptions, rather than leaving it stuck."""
        try:
            slot()
        except Exception as exc:
            log.exception("rls: %s: error in %s", self.list_uri, slot.__name__)
            self._fail(f"internal error: {exc}", transient=True)

    def _reset_dialog(self) -> None:
        self._call_id = secrets.token_hex(12)
        self._local_tag = new_tag()
        self._remote_tag = ""
        self._remote_target = ""
        self._route_set: list[NameAddr] = []  # parsed when received
        self._cseq = 0
        self._remote_cseq = -1
        self._established = False
        self._last_notify = None
        self._last_version = -1

    # -- life cycle ---------------------------------------------------------------

    def start(self) -> None:
        """Subscribe (asynchronously; results come as signals)."""
        try:
            hop_uri = parse_sip_uri(self.account.proxy or self.account.registrar
                                    or self.account.aor)
        except InvalidUriError as exc:
            self._fail(f"no usable next hop: {exc}")
            return
        if self.account.transport not in ("udp", "tcp"):
            self._fail(f"{self.account.transport} is not supported for lists")
            return
        host = hop_uri.host.strip("[]")
        port = hop_uri.port or 5060
        if _is_ip(host):
            self._resolved(host, port)
            return
        def on_lookup(info: QHostInfo) -> None:
            addresses = [a.toString() for a in info.addresses()]
            if not addresses:
                self._fail(f"cannot resolve {host}: {info.errorString()}", transient=True)
            else:
                self._resolved(addresses[0], port)
        QHostInfo.lookupHost(  # type: ignore[call-overload]
            host, lambda info: self._guarded(lambda: on_lookup(info)))

    def stop(self) -> None:
        """Unsubscribe (Expires: 0, not waited for) and close the socket."""
        if self._stopped:
            return
        self._stopped = True
        for timer in (self._tx_timer, self._tx_deadline, self._refresh_timer,
                      self._notify_timer, self._retry_timer):
            timer.stop()
        if self._established and self._channel is not None and self._hop is not None:
            self._send_subscribe(0)
        self._tx = None
        self._close_channel()

    def refresh_now(self) -> None:
        """Refresh at once (the account registered again: the server may have
        restarted and forgotten the subscription, which the refresh finds out)."""
        if self._stopped or self._done or self._tx is not None:
            return
        if self._established:
            self._refresh_timer.stop()
            self._subscribe()
        elif self._retry_timer.isActive():
            self._retry_timer.stop()
            self._subscribe()

    def _resolved(self, host: str, port: int) -> None:
        if self._stopped:
            return
        self._hop = (host, port)
        self._open_channel()

    def _open_channel(self) -> None:
        assert self._hop is not None
        self._close_channel()
        channel = _Channel(self.account.transport, self.account.bind_address, self)
        channel.ready.connect(lambda: self._from(channel, self._subscribe))
        channel.received.connect(
            lambda msg, source: self._from(channel, lambda: self._on_message(msg, source)))
        channel.lost.connect(lambda reason: self._from(channel,
                                                       lambda: self._on_channel_lost(reason)))
        self._channel = channel
        channel.open(*self._hop)

    def _from(self, channel: _Channel, slot: Callable[[], None]) -> None:
        """Run ``slot`` for a signal of ``channel`` unless that channel was
        closed since (a queued signal of an old one is not this dialog's)."""
        if channel is self._channel:
            self._guarded(slot)

    def _close_channel(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    def _on_channel_lost(self, reason: str) -> None:
        if self._stopped or self._done:
            return
        log.info("rls: %s: connection lost (%s)", self.list_uri, reason)
        self._tx_timer.stop()
        self._tx_deadline.stop()
        self._tx = None
        self._refresh_timer.stop()
        self._established = False
        if not self.active:
            self._fail(f"no connection to the server ({reason})", transient=True)
            return
        self._close_channel()  # _subscribe opens a new one
        self._reset_dialog()
        self._retry_timer.start(int(self._backoff.next_delay() * 1000))

    def _fail(self, reason: str, *, transient: bool = False) -> None:
        if self._done or self._stopped:
            return
        self._done = True
        self.transient_failure = transient
        log.info("rls: %s not usable: %s", self.list_uri, reason)
        if self._established:
            try:
                self._send_subscribe(0)
            except Exception:  # it must not keep the list from failing
                log.exception("rls: %s: could not unsubscribe", self.list_uri)
        for timer in (self._tx_timer, self._tx_deadline, self._refresh_timer,
                      self._notify_timer, self._retry_timer):
            timer.stop()
        self._tx = None
        self._close_channel()
        self.failed.emit(reason)

    # -- requests -----------------------------------------------------------------

    def _subscribe(self) -> None:
        """Send the SUBSCRIBE (initial, or refresh inside the dialog)."""
        if self._stopped or self._done:
            return
        if self._channel is None:
            if self._hop is not None:
                self._open_channel()
            return
        self._send_subscribe(self._wanted_expires())

    def _wanted_expires(self) -> int:
        """The Expires our SUBSCRIBEs ask for (what a notifier may shorten)."""
        return max(EXPIRES_S, self._min_expires)

    def _refresh(self) -> None:
        if self._tx is not None:  # a SUBSCRIBE is in flight: refresh after it
            self._refresh_timer.start(1000)
            return
        self._subscribe()

    def _send_subscribe(self, expires: int, chain: _Chain | None = None) -> None:
        channel = self._channel
        if channel is None or self._hop is None:
            return
        self._cseq += 1
        branch = new_branch()
        in_dialog = self._established and bool(self._remote_tag)
        ruri = self._remote_target if in_dialog and self._remote_target else self.list_uri
        route_set = self._route_set if in_dialog else []
        routes = [r.text for r in route_set]
        if route_set and not _is_loose(route_set[0].uri):
            # A strict router (RFC 3261 12.2.1.1): it becomes the Request-URI.
            routes = [*routes[1:], f"<{ruri}>"]
            ruri = route_set[0].uri
        if not in_dialog and self.account.proxy:
            routes = [f"<{self.account.proxy}>"] if ";lr" in self.account.proxy.lower() else []
        transport = channel.transport.upper()
        sent_by = f"{_host_for_uri(channel.local_host)}:{channel.local_port}"
        contact_params = "" if channel.transport == "udp" else ";transport=tcp"
        headers = [
            ("Via", f"SIP/2.0/{transport} {sent_by};branch={branch};rport"),
            ("Max-Forwards", "70"),
            ("From", f"<{self.account.aor}>;tag={self._local_tag}"),
            ("To", f"<{self.list_uri}>" + (f";tag={self._remote_tag}" if in_dialog else "")),
            ("Call-ID", self._call_id),
            ("CSeq", f"{self._cseq} SUBSCRIBE"),
            ("Contact", f"<sip:{self._contact_user}@{sent_by}{contact_params}>"),
        ]
        headers += [("Route", r) for r in routes]
        headers += [
            ("Event", "presence"),
            ("Supported", "eventlist"),
            ("Accept", "application/pidf+xml, application/rlmi+xml, multipart/related"),
            ("Expires", str(expires)),
            ("User-Agent", USER_AGENT),
        ]
        credentials = self._credentials()
        for header_name, challenge in self._challenges.items():
            nc = self._nonce_uses[challenge.nonce] = self._nonce_uses.get(challenge.nonce, 0) + 1
            headers.append((header_name, digest_authorization(
                challenge, method="SUBSCRIBE", uri=ruri, username=self._username(credentials),
                password=credentials.password, nc=nc)))
        request = SipMessage(method="SUBSCRIBE", uri=ruri, headers=headers)
        data = request.encode()
        host, port = self._hop
        if log.isEnabledFor(logging.DEBUG):
            log.debug("rls: sending to %s:%s:\n%s", host, port, _trace(data))
        if not channel.send(data, host, port):
            log.info("rls: %s: could not send the SUBSCRIBE", self.list_uri)
        if expires == 0:
            return  # an unsubscribe is not waited for
        self._tx = _Transaction(request, data, branch, expires, host, port, chain or _Chain(),
                                T1_S)
        if channel.transport == "udp":
            self._tx_timer.start(int(T1_S * 1000))
        self._tx_deadline.start(int(TRANSACTION_TIMEOUT_S * 1000))

    def _credentials(self) -> Credentials:
        """The account's credentials now (read at every authentication)."""
        current = self._current_credentials() if self._current_credentials else None
        return current if current is not None else self.account

    def _username(self, credentials: Credentials) -> str:
        if credentials.username:
            return credentials.username
        try:
            return parse_sip_uri(self.account.aor).user or ""
        except InvalidUriError:
            return ""

    def _on_retransmit(self) -> None:
        tx = self._tx
        if tx is None or self._channel is None:
            return
        self._channel.send(tx.data, tx.host, tx.port)
        tx.interval = min(tx.interval * 2, T2_S)
        self._tx_timer.start(int(tx.interval * 1000))

    def _on_tx_timeout(self) -> None:
        if self._tx is None:
            return
        self._tx = None
        self._tx_timer.stop()
        self._request_failed(408, "no answer")

    # -- incoming messages -------------------------------------------------------

    def _on_message(self, msg: SipMessage, source: tuple[str, int]) -> None:
        if self._stopped or self._done:
            return
        try:
            if msg.is_request:
                self._on_request(msg, source)
            else:
                self._on_response(msg)
        except (SipParseError, RlmiError, InvalidUriError, ValueError) as exc:
            log.info("rls: %s: ignoring a bad message from %s:%s: %s", self.list_uri,
                     source[0], source[1], exc)
        except Exception:  # hostile input must never take the app down
            log.exception("rls: %s: could not handle a message from %s:%s", self.list_uri,
                          source[0], source[1])

    def _on_response(self, msg: SipMessage) -> None:
        tx = self._tx
        via = msg.get_all("Via")
        if tx is None or not via or via_params(via[0]).get("branch") != tx.branch:
            return  # a stray or late response (or the answer to an unsubscribe)
        if msg.cseq()[1] != "SUBSCRIBE":
            return
        if msg.status < 200:
            tx.interval = T2_S
            return
        # Read before the transaction ends: a 2xx whose dialog cannot be used
        # (a bad To, Contact or Record-Route raises) is no answer at all.
        dialog = _dialog_of_2xx(msg) if 200 <= msg.status < 300 else None
        self._tx = None
        self._tx_timer.stop()
        self._tx_deadline.stop()
        if msg.status in (401, 407):
            self._on_challenge(msg, tx)
        elif dialog is not None:
            self._on_success(msg, tx, dialog)
        elif (msg.status == 423 and tx.chain.tries < MAX_CHAIN
              and (min_expires := parse_decimal(msg.get("Min-Expires"))) is not None):
            self._min_expires = min(min_expires, MAX_EXPIRES_S)
            self._send_subscribe(self._wanted_expires(),
                                 replace(tx.chain, tries=tx.chain.tries + 1))
        else:
            self._request_failed(msg.status, msg.reason)

    def _on_challenge(self, msg: SipMessage, tx: _Transaction) -> None:
        header = "WWW-Authenticate" if msg.status == 401 else "Proxy-Authenticate"
        answer = "Authorization" if msg.status == 401 else "Proxy-Authorization"
        credentials = self._credentials()
        challenges = [c for c in (parse_challenge(v) for v in msg.values(header))
                      if c is not None and c.supported]
        usable = [c for c in challenges
                  if credentials.realm in ("*", "") or c.realm == credentials.realm]
        # Not a failure to retry: per-agent buddies use pjsua's own authentication.
        if not usable or not credentials.password:
            self._fail(f"{msg.status} no credentials for the challenge")
            return
        challenge = usable[0]
        chain = tx.chain
        if answer in chain.answered:
            # Our answer to a challenge of this very request was refused: a
            # stale nonce (RFC 7616 3.3) earns one more try, else the password
            # is wrong (credentials cached from an earlier request are answered
            # afresh once: a restarted server forgot its nonces).
            if not challenge.stale or chain.stale_retried:
                self._fail(f"{msg.status} the server refused our credentials")
                return
            chain = replace(chain, stale_retried=True)
        if chain.tries >= MAX_CHAIN:
            self._fail(f"{msg.status} the server refused our credentials")
            return
        self._challenges[answer] = challenge
        nonces = {c.nonce for c in self._challenges.values()}
        self._nonce_uses = {n: uses for n, uses in self._nonce_uses.items() if n in nonces}
        self._send_subscribe(tx.expires, replace(chain, tries=chain.tries + 1,
                                                 answered=chain.answered | {answer}))

    def _on_success(self, msg: SipMessage, tx: _Transaction,
                    dialog: tuple[str, str, list[NameAddr]]) -> None:
        if not self._established:
            self._remote_tag, remote_target, self._route_set = dialog
            self._remote_target = remote_target or self._remote_target
            self._established = bool(self._remote_tag)
        expires = parse_decimal(msg.get("Expires", str(tx.expires)))
        # A notifier may shorten what we asked for, not lengthen it (RFC 6665 4.2.1.1).
        expires = tx.expires if expires is None else min(expires, tx.expires)
        if expires <= 0:
            return
        self._schedule_refresh(expires)
        if not self.active and not self._notify_timer.isActive():
            self._notify_timer.start(int(FIRST_NOTIFY_TIMEOUT_S * 1000))

    def _schedule_refresh(self, expires: int) -> None:
        # Clamped again: past 2^31 ms QTimer.start raises OverflowError.
        expires = min(expires, self._wanted_expires(), MAX_EXPIRES_S)
        self._refresh_timer.start(int(refresh_delay(expires) * 1000))

    def _request_failed(self, code: int, reason: str) -> None:
        """A SUBSCRIBE failed: before the list ever worked that means "not
        offered"; later, try again (a new dialog) with backoff."""
        if not self.active or code in _NOT_OFFERED:
            self._fail(f"{code} {reason}".strip(),
                       transient=code not in _NOT_OFFERED and code not in (401, 407))
            return
        if code != 408:
            self._established = False  # a refused refresh ended the subscription (RFC 6665)
        # 481: the server forgot the dialog (it restarted): a new one at once.
        delay = 0.0 if code == 481 and self._backoff.failures == 0 else self._backoff.next_delay()
        log.info("rls: %s: SUBSCRIBE failed (%s %s); subscribing again in %.1f s",
                 self.list_uri, code, reason, delay)
        self._restart(delay)

    def _restart(self, delay: float) -> None:
        """Start a new subscription dialog after ``delay`` seconds."""
        self._refresh_timer.stop()
        # A refresh in flight belongs to the old dialog: its 2xx must not make the new one.
        self._tx = None
        self._tx_timer.stop()
        self._tx_deadline.stop()
        if self._established:
            self._send_subscribe(0)
        self._reset_dialog()
        self._retry_timer.start(int(delay * 1000))

    def _on_no_notify(self) -> None:
        if not self.active:
            self._fail("no NOTIFY after the SUBSCRIBE was accepted", transient=True)

    def _on_request(self, msg: SipMessage, source: tuple[str, int]) -> None:
        if msg.method == "ACK":
            return
        if msg.method != "NOTIFY":
            self._respond(msg, source, 405, "Method Not Allowed", [("Allow", "NOTIFY")])
            return
        number, _ = msg.cseq()
        from_tag = parse_name_addr(msg.get("From")).tag
        to_tag = parse_name_addr(msg.get("To")).tag
        if msg.get("Call-ID") != self._call_id or to_tag != self._local_tag or (
                self._remote_tag and from_tag != self._remote_tag):
            self._respond(msg, source, 481, "Subscription Does Not Exist")
            return
        if not self._remote_tag:
            # The NOTIFY overtook the 2xx (RFC 6665 4.1.2.4): it makes the dialog.
            self._remote_tag = from_tag
        last = self._last_notify
        if last is not None and number == last[0]:
            self._send_raw(last[1], last[2])  # a retransmission
            return
        if number <= self._remote_cseq:
            # An older NOTIFY retransmitted: handled already. A 200, not RFC 3261's
            # 500: a notifier may end the subscription on a NOTIFY's error answer.
            self._respond(msg, source, 200, "OK")
            return
        event = msg.get("Event").partition(";")[0].strip().lower()
        if event != "presence":
            self._respond(msg, source, 489, "Bad Event")
            return
        state_text = msg.get("Subscription-State")
        if not state_text:
            self._respond(msg, source, 400, "Missing Subscription-State")
            return
        # Read first: a bad Contact or Record-Route raises before anything changed.
        contact = msg.get_all("Contact")
        remote_target = parse_name_addr(contact[0]).uri if contact else ""
        route_set = [parse_name_addr(v) for v in msg.get_all("Record-Route")]
        self._remote_cseq = number
        self._remote_target = remote_target or self._remote_target
        if not self._established and not self._route_set:
            self._route_set = route_set  # the NOTIFY made the dialog: its order as is
        self._established = True
        self._respond(msg, source, 200, "OK", remember=number)
        state, params = parse_subscription_state(state_text)
        self._on_notify(msg, state, params)

    def _on_notify(self, msg: SipMessage, state: str, params: dict[str, str]) -> None:
        content_type = msg.get("Content-Type")
        notification: ListNotification | None = None
        if msg.body.strip() and is_list_body(content_type):
            try:
                notification = parse_list_notify(content_type, msg.body)
            except ValueError as exc:  # RlmiError, or a bug: the state below still counts
                log.warning("rls: %s: unreadable list NOTIFY: %s", self.list_uri, exc)
        elif msg.body.strip():
            log.info("rls: %s: NOTIFY with %s instead of RLMI", self.list_uri,
                     content_type or "no Content-Type")
        if notification is not None:
            if self._apply(notification):
                return  # a new subscription replaces this one
        elif not self.active:
            if state == "pending" and _requires_eventlist(msg):
                # A list awaiting authorisation: the server expands it (RLMI follows).
                self._offered("pending authorisation")
            elif state != "terminated":
                self._fail("the server did not expand the list (no RLMI in its NOTIFY)")
                return
        if state == "terminated":
            self._on_terminated(params)
        elif state in ("active", "pending"):
            expires = parse_decimal(params.get("expires", ""))
            if expires is not None and expires > 0:
                expires = min(expires, self._wanted_expires())
                remaining = self._refresh_timer.remainingTime() / 1000
                if not self._refresh_timer.isActive() or remaining > refresh_delay(expires):
                    self._schedule_refresh(expires)

    def _apply(self, notification: ListNotification) -> bool:
        """Take an RLMI notification; True when it started a new subscription."""
        for problem in notification.problems:
            log.info("rls: %s: %s", self.list_uri, problem)
        if not notification.full_state and notification.version <= self._last_version:
            log.info("rls: %s: ignoring old RLMI version %d (have %d)", self.list_uri,
                     notification.version, self._last_version)
            return False
        gap = (not notification.full_state and self._last_version >= 0
               and notification.version != self._last_version + 1)
        if not notification.full_state and self._last_version < 0:
            gap = True  # partial state before any full state
        self._last_version = notification.version
        if not self.active:
            self._offered(f"{len(notification.states)} resources")
        self._backoff.reset()
        self.notified.emit(notification)
        if gap:
            log.info("rls: %s: RLMI version gap (got %d): subscribing again for full state",
                     self.list_uri, notification.version)
            self._restart(0)
        return gap

    def _offered(self, what: str) -> None:
        """The server expands the list: from now on failures are retried."""
        self.active = True
        self._notify_timer.stop()
        log.info("rls: %s: the server expands the list (%s)", self.list_uri, what)

    def _on_terminated(self, params: dict[str, str]) -> None:
        reason = params.get("reason", "").lower()
        self._established = False
        self._refresh_timer.stop()
        self._tx = None
        self._tx_timer.stop()
        self._tx_deadline.stop()
        if reason in _GONE_REASONS or not self.active:
            self._fail(f"the server ended the subscription ({reason or 'no reason'})")
            return
        retry_after = parse_decimal(params.get("retry-after", ""))
        if reason in ("deactivated", "timeout", "") and self._backoff.failures == 0:
            delay = 0.0
        else:
            delay = self._backoff.next_delay()
        if retry_after is not None:
            delay = max(delay, min(float(retry_after), 3600.0))
        log.info("rls: %s: subscription terminated (%s); subscribing again in %.1f s",
                 self.list_uri, reason or "no reason", delay)
        self._reset_dialog()
        self._retry_timer.start(int(delay * 1000))

    # -- responses we send -------------------------------------------------------

    def _respond(self, request: SipMessage, source: tuple[str, int], status: int, reason: str,
                 extra: list[tuple[str, str]] | None = None, remember: int | None = None
                 ) -> None:
        headers = [("Via", v) for v in request.get_all("Via")]
        to = request.get("To")
        if status != 481 and "tag=" not in to:
            to += f";tag={self._local_tag}"
        headers += [("From", request.get("From")), ("To", to),
                    ("Call-ID", request.get("Call-ID")), ("CSeq", request.get("CSeq")),
                    ("User-Agent", USER_AGENT)]
        headers += extra or []
        data = SipMessage(status=status, reason=reason, headers=headers).encode()
        destination = _response_destination(request, source, self._channel)
        self._send_raw(data, destination)
        if remember is not None:
            self._last_notify = (remember, data, destination)

    def _send_raw(self, data: bytes, destination: tuple[str, int]) -> None:
        if self._channel is not None:
            if log.isEnabledFor(logging.DEBUG):
                log.debug("rls: sending to %s:%s:\n%s", *destination, _trace(data))
            self._channel.send(data, *destination)


def _dialog_of_2xx(msg: SipMessage) -> tuple[str, str, list[NameAddr]]:
    """The remote tag, remote target ("" if no Contact) and route set (RFC
    3261 12.1.2: the Record-Route reversed) a 2xx gives; raises
    :class:`SipParseError`."""
    contact = msg.get_all("Contact")
    return (parse_name_addr(msg.get("To")).tag,
            parse_name_addr(contact[0]).uri if contact else "",
            [parse_name_addr(v) for v in reversed(msg.get_all("Record-Route"))])


def _requires_eventlist(msg: SipMessage) -> bool:
    """Whether a NOTIFY has ``Require: eventlist`` (an RLS's, RFC 4662 5.3)."""
    return any(option.strip().lower() == "eventlist"
               for value in msg.values("Require") for option in value.split(","))


def _is_loose(uri: str) -> bool:
    """Whether a route's URI has the ``lr`` parameter (a loose router)."""
    params = uri.partition("?")[0].split(";")[1:]
    return any(p.partition("=")[0].strip().lower() == "lr" for p in params)


def refresh_delay(expires: int) -> float:
    """Seconds after which a subscription of ``expires`` seconds is refreshed:
    a tenth (at least 5 s, at most 60 s) before it runs out."""
    return max(1.0, expires - max(5.0, min(60.0, expires * 0.1)))


def _response_destination(request: SipMessage, source: tuple[str, int],
                          channel: _Channel | None) -> tuple[str, int]:
    """Where a response goes (RFC 3261 18.2.2 with RFC 3581 rport): the top
    Via's received/rport, else its sent-by; on TCP, the connection's peer."""
    if channel is not None and channel.transport == "tcp":
        return source
    via = request.get_all("Via")
    if not via:
        return source
    proto_sent_by = via[0].partition(";")[0]
    params = via_params(via[0])
    sent_by = proto_sent_by.split()[-1] if proto_sent_by.split() else ""
    host, port = _split_host_port(sent_by)
    host = params.get("received") or host or source[0]
    rport = parse_decimal(params.get("rport", ""), 5)
    port = rport if rport is not None and 0 < rport < 65536 else (port or 5060)
    if not _is_ip(host):
        host = source[0]  # no DNS for responses: the address it came from
    return host, port


def _split_host_port(text: str) -> tuple[str, int | None]:
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.lstrip(":")
    else:
        host, _, port_text = text.partition(":")
    port = parse_decimal(port_text, 5)
    return host, port if port is not None and 0 < port < 65536 else None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _concrete_local(bind_address: str, host: str, port: int) -> str:
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


def _host_for_uri(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _trace(data: bytes) -> str:
    return redact(data[:4000].decode("utf-8", "replace"))

