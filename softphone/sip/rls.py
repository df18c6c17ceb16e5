"""One resource-list subscription (RFC 4662) per agent group, outside pjsua.

pjsua2 cannot subscribe to a resource list: its buddies answer RLMI's
``multipart/related`` NOTIFYs with 415 and send no ``Supported: eventlist``,
and it has no generic SUBSCRIBE API. :class:`ListSubscription` is therefore a
small SIP SUBSCRIBE dialog client of its own, on the Qt main thread (Qt's
sockets and timers, no thread of ours), on a socket bound to the account's
local address, sending through the account's outbound proxy (else its
registrar) and answering digest challenges with the account's credentials:

* ``SUBSCRIBE`` with ``Event: presence``, ``Supported: eventlist`` and
  ``Accept: application/pidf+xml, application/rlmi+xml, multipart/related``,
  sent in a client transaction of :mod:`softphone.sip.rls_transaction`
  (resent on UDP, given up sooner than timer F), its challenges answered by
  :mod:`softphone.sip.rls_auth`;
* every NOTIFY of the dialog answered by :mod:`softphone.sip.rls_requests`
  (200, 481 for other dialogs, a cached answer for retransmissions), its RLMI
  read by :mod:`softphone.core.rlmi`: full and partial state, versions (an
  old one is ignored, a gap starts a new subscription to get full state again);
* refreshed before it expires; ``Subscription-State: terminated`` starts a new
  subscription (at once for ``deactivated``/``timeout``, else with backoff),
  as does a failed refresh; unsubscribed (``Expires: 0``) by :meth:`stop`.

Until the first RLMI NOTIFY arrives the list is only *offered*: an error
response (404, 489, 415...), no answer, no TCP connection, or a NOTIFY
without RLMI (a server that treats the list URI as an ordinary presentity)
makes it fail (:attr:`ListSubscription.failed`), and the presence service
watches those agents one by one instead; so do refused credentials at any
time (pjsua's buddies authenticate on their own).

This module is the policy (start and stop, refresh, backoff, what a failure
means, RLMI versions); :mod:`softphone.sip.rls_dialog` holds the dialog's
state and builds its messages, :mod:`softphone.sip.rls_transport` the sockets
(incoming messages of every subscription are read one per pass of the event
loop, so that NOTIFYs arriving together do not hold the Qt thread), and
:mod:`softphone.sip.rls_message` parses. Every timer and socket slot is
guarded: an exception is logged (and fails the list) instead of reaching Qt.

Only UDP and TCP: a TLS account keeps per-agent subscriptions.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtNetwork import QHostInfo

from softphone.core.errors import InvalidUriError
from softphone.core.registration import Backoff
from softphone.core.rlmi import (
    ListNotification,
    RlmiError,
    is_list_body,
    parse_decimal,
    parse_list_notify,
)
from softphone.core.sip_uri import parse_sip_uri
from softphone.sip.rls_auth import MAX_CHAIN, Chain, Credentials, CredentialsRefused, DigestAnswers
from softphone.sip.rls_dialog import Dialog, LocalAddress
from softphone.sip.rls_message import SipMessage, SipParseError, new_branch, via_params
from softphone.sip.rls_requests import RequestAnswerer
from softphone.sip.rls_transaction import SubscribeTransaction, guarded_timer
from softphone.sip.rls_transport import Channel, host_for_uri, is_ip, trace

log = logging.getLogger("softphone.sip.rls")

EXPIRES_S = 600
MAX_EXPIRES_S = 86400  # the most a 423's Min-Expires makes us ask for
# After the 2xx, the first NOTIFY must come within this (RFC 6665 says at once).
FIRST_NOTIFY_TIMEOUT_S = 5.0
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
        self._channel: Channel | None = None
        self._tx: SubscribeTransaction | None = None
        self._stopped = False
        self._done = False
        self._backoff = Backoff(initial=2.0, maximum=300.0)
        self._contact_user = "rls-" + secrets.token_hex(4)
        self._digest = DigestAnswers()
        self._min_expires = 0  # a 423's Min-Expires: asked for from then on
        self._last_version = -1
        self._dialog = Dialog()
        self._requests = RequestAnswerer(lambda: self._dialog, lambda: self._channel)
        self._refresh_timer = self._timer(self._refresh)
        self._notify_timer = self._timer(self._on_no_notify)
        self._retry_timer = self._timer(self._subscribe)

    def _timer(self, slot: Callable[[], None]) -> QTimer:
        return guarded_timer(self, self._guarded, slot)

    def _guarded(self, slot: Callable[[], None]) -> None:
        """Run a timer's or a channel's slot: an exception (a bug) fails the
        list, which falls back to per-agent subscriptions, rather than leaving
        it stuck."""
        try:
            slot()
        except Exception as exc:
            log.exception("rls: %s: error in %s", self.list_uri, slot.__name__)
            self._fail(f"internal error: {exc}", transient=True)

    def _reset_dialog(self) -> None:
        """A new dialog for the next SUBSCRIBE (its versions start again)."""
        self._dialog = Dialog()
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
        if is_ip(host):
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
        for timer in (self._refresh_timer, self._notify_timer, self._retry_timer):
            timer.stop()
        if self._dialog.established and self._channel is not None and self._hop is not None:
            self._send_subscribe(0)
        self._end_transaction()
        self._close_channel()

    def refresh_now(self) -> None:
        """Refresh at once (the account registered again: the server may have
        restarted and forgotten the subscription, which the refresh finds out)."""
        if self._stopped or self._done or self._tx is not None:
            return
        if self._dialog.established:
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
        channel = Channel(self.account.transport, self.account.bind_address, self)
        channel.ready.connect(lambda: self._from(channel, self._subscribe))
        channel.received.connect(
            lambda msg, source: self._from(channel, lambda: self._on_message(msg, source)))
        channel.lost.connect(lambda reason: self._from(channel,
                                                       lambda: self._on_channel_lost(reason)))
        self._channel = channel
        channel.open(*self._hop)

    def _from(self, channel: Channel, slot: Callable[[], None]) -> None:
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
        self._end_transaction()
        self._refresh_timer.stop()
        self._dialog.established = False
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
        if self._dialog.established:
            try:
                self._send_subscribe(0)
            except Exception:  # it must not keep the list from failing
                log.exception("rls: %s: could not unsubscribe", self.list_uri)
        for timer in (self._refresh_timer, self._notify_timer, self._retry_timer):
            timer.stop()
        self._end_transaction()
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

    def _send_subscribe(self, expires: int, chain: Chain | None = None) -> None:
        channel = self._channel
        if channel is None or self._hop is None:
            return
        branch = new_branch()
        local = LocalAddress(channel.transport,
                             f"{host_for_uri(channel.local_host)}:{channel.local_port}",
                             self._contact_user)
        request = self._dialog.subscribe(
            list_uri=self.list_uri, aor=self.account.aor, proxy=self.account.proxy,
            local=local, expires=expires, branch=branch, authorize=self._authorization)
        data = request.encode()
        host, port = self._hop
        if log.isEnabledFor(logging.DEBUG):
            log.debug("rls: sending to %s:%s:\n%s", host, port, trace(data))
        if not channel.send(data, host, port):
            log.info("rls: %s: could not send the SUBSCRIBE", self.list_uri)
        if expires == 0:
            return  # an unsubscribe is not waited for
        self._tx = SubscribeTransaction(channel, data, branch, expires, (host, port),
                                        chain or Chain(), self._guarded, self)
        self._tx.timed_out.connect(lambda: self._guarded(self._on_tx_timeout))
        self._tx.start()

    def _authorization(self, request_uri: str) -> list[tuple[str, str]]:
        return self._digest.headers(request_uri, self._credentials(), self.account.aor)

    def _credentials(self) -> Credentials:
        """The account's credentials now (read at every authentication)."""
        current = self._current_credentials() if self._current_credentials else None
        return current if current is not None else self.account

    def _on_tx_timeout(self) -> None:
        if self._tx is None:
            return
        self._end_transaction()
        self._request_failed(408, "no answer")

    def _end_transaction(self) -> None:
        """The SUBSCRIBE in flight (if any) is done with: no more resending or waiting."""
        tx, self._tx = self._tx, None
        if tx is not None:
            tx.stop()
            tx.deleteLater()

    # -- incoming messages -------------------------------------------------------

    def _on_message(self, msg: SipMessage, source: tuple[str, int]) -> None:
        if self._stopped or self._done:
            return
        try:
            if msg.is_request:
                notify = self._requests.answer(msg, source)
                if notify is not None:
                    self._on_notify(msg, *notify)
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
            tx.provisional()
            return
        if 200 <= msg.status < 300:
            # Before the transaction ends: a 2xx whose dialog cannot be used
            # (a bad To, Contact or Record-Route raises) is no answer at all.
            self._dialog.take_2xx(msg)
        self._end_transaction()
        if msg.status in (401, 407):
            self._on_challenge(msg, tx)
        elif 200 <= msg.status < 300:
            self._on_success(msg, tx)
        elif (msg.status == 423 and tx.chain.tries < MAX_CHAIN
              and (min_expires := parse_decimal(msg.get("Min-Expires"))) is not None):
            self._min_expires = min(min_expires, MAX_EXPIRES_S)
            self._send_subscribe(self._wanted_expires(), tx.chain.next())
        else:
            self._request_failed(msg.status, msg.reason)

    def _on_challenge(self, msg: SipMessage, tx: SubscribeTransaction) -> None:
        try:
            chain = self._digest.take_challenge(msg, tx.chain, self._credentials())
        except CredentialsRefused as exc:
            # Not a failure to retry: per-agent buddies use pjsua's own authentication.
            self._fail(str(exc))
            return
        self._send_subscribe(tx.expires, chain)

    def _on_success(self, msg: SipMessage, tx: SubscribeTransaction) -> None:
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
            self._dialog.established = False  # a refused refresh ended the subscription (RFC 6665)
        # 481: the server forgot the dialog (it restarted): a new one at once.
        delay = 0.0 if code == 481 and self._backoff.failures == 0 else self._backoff.next_delay()
        log.info("rls: %s: SUBSCRIBE failed (%s %s); subscribing again in %.1f s",
                 self.list_uri, code, reason, delay)
        self._restart(delay)

    def _restart(self, delay: float) -> None:
        """Start a new subscription dialog after ``delay`` seconds."""
        self._refresh_timer.stop()
        self._end_transaction()  # one in flight is the old dialog's: not for the new one
        if self._dialog.established:
            self._send_subscribe(0)
        self._reset_dialog()
        self._retry_timer.start(int(delay * 1000))

    def _on_no_notify(self) -> None:
        if not self.active:
            self._fail("no NOTIFY after the SUBSCRIBE was accepted", transient=True)

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
        self._dialog.established = False
        self._refresh_timer.stop()
        self._end_transaction()
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


def _requires_eventlist(msg: SipMessage) -> bool:
    """Whether a NOTIFY has ``Require: eventlist`` (an RLS's, RFC 4662 5.3)."""
    return any(option.strip().lower() == "eventlist"
               for value in msg.values("Require") for option in value.split(","))


def refresh_delay(expires: int) -> float:
    """Seconds after which a subscription of ``expires`` seconds is refreshed:
    a tenth (at least 5 s, at most 60 s) before it runs out."""
    return max(1.0, expires - max(5.0, min(60.0, expires * 0.1)))
