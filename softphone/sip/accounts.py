"""SIP accounts: the local (serverless) account and registered ones.

Registration retries are ours, not pjsua's: pjsua retries at a fixed interval,
while hundreds of desktops losing one registrar must back off and spread out.

Outages: a dropped TCP/TLS connection is reported by pjsua
(:meth:`AccountManager.transport_lost`). UDP has no connection, so a
registrar that goes away, and comes back having forgotten every binding, would
go unnoticed until the next refresh (up to the whole expiry). Registered UDP
accounts therefore send their registrar an OPTIONS keep-alive every
``KEEPALIVE_INTERVAL_S``: any response proves it is there; none within
``KEEPALIVE_TIMEOUT_S`` is an outage, reported like a failed REGISTER and
retried with the same backoff, so the binding is back soon after the
registrar. (An outage shorter than one interval can still be missed.)
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import pjsua2 as pj
from PySide6.QtCore import QObject, QTimer, Signal

from softphone.core.errors import InvalidParamsError, NotFoundError, SipError
from softphone.core.ids import IdFactory
from softphone.core.registration import (
    AUTH_FAILURE_RETRY_S,
    Backoff,
    RegistrationState,
    describe_failure,
    is_auth_failure,
)
from softphone.core.sip_uri import SipUri
from softphone.sip.account_config import (
    RTP_PORT_HIGH,
    RTP_PORT_LOW,
    account_config,
    media_config,
    validate,
)

# Re-exported: the account types lived here first, and callers still import them from here.
from softphone.sip.account_types import AccountInfo as AccountInfo
from softphone.sip.account_types import AccountSpec as AccountSpec
from softphone.sip.guard import guarded

if TYPE_CHECKING:
    from softphone.sip.endpoint import Endpoint

log = logging.getLogger("softphone.sip")

# UDP registrar keep-alive (see the module docstring). PJSIP retransmits the
# OPTIONS at 0.5, 1.5 and 3.5 s: a registrar silent for 4 s is not there.
KEEPALIVE_INTERVAL_S = 10.0
KEEPALIVE_TIMEOUT_S = 4.0


class SipAccount(pj.Account):  # type: ignore[misc]
    """A pjsua2 account whose callbacks go to the :class:`AccountManager`."""

    def __init__(self, manager: AccountManager, account_id: str) -> None:
        super().__init__()
        self.manager = manager
        self.account_id = account_id
        # Keep-alive OPTIONS whose transaction has not ended yet.
        self.keepalives_in_flight = 0

    @guarded
    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        self.manager._on_reg_state(self, int(prm.code), str(prm.reason), int(prm.expiration))

    @guarded
    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        self.manager.incoming_call_handler(self, int(prm.callId), str(prm.rdata.wholeMsg))

    @guarded
    def onSendRequest(self, prm: pj.OnSendRequestParam) -> None:
        # The final result of a request sent by sendRequest: keep-alives only.
        tsx = prm.e.body.tsxState
        if str(tsx.tsx.method) != "OPTIONS":
            return
        answered = (prm.e.type == pj.PJSIP_EVENT_TSX_STATE
                    and tsx.type == pj.PJSIP_EVENT_RX_MSG)
        self.manager._on_keepalive_result(self, answered, int(tsx.tsx.statusCode))


class AccountManager(QObject):
    """Owns every ``pj.Account``; widgets and the API hold account ids.

    Signals:
        registration_changed(AccountInfo): any change of an account's state.

    Attributes:
        incoming_call_handler: set by the call manager; receives
            (account, pjsua call id, the INVITE text).
    """

    registration_changed = Signal(object)

    def __init__(self, endpoint: Endpoint, ids: IdFactory, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._endpoint = endpoint
        self._ids = ids
        self._accounts: dict[str, SipAccount] = {}
        self._info: dict[str, AccountInfo] = {}
        self._specs: dict[str, AccountSpec] = {}
        self._backoff: dict[str, Backoff] = {}
        self._retry_timers: dict[str, QTimer] = {}
        self._retry_due: dict[str, float] = {}
        # UDP keep-alive: the URI pinged per account, and pings awaiting an answer.
        self._keepalive_uri: dict[str, str] = {}
        self._pinging: dict[str, float] = {}
        self._keepalive = QTimer(self)
        self._keepalive.setInterval(int(KEEPALIVE_INTERVAL_S * 1000))
        self._keepalive.timeout.connect(self._send_keepalives)
        self._keepalive_check = QTimer(self)
        self._keepalive_check.setSingleShot(True)
        self._keepalive_check.timeout.connect(self._check_keepalives)
        self._doomed: list[SipAccount] = []  # see _delete
        self._closed = False
        # Accounts the user wants registered: a failed un-REGISTER of one that
        # is not must never bring it back.
        self._wanted: set[str] = set()
        # The account being created: its state is kept but not announced
        # until pjsua accepted it (create may report a first state at once).
        self._creating: str | None = None
        self.incoming_call_handler: Callable[[SipAccount, int, str], None] = _reject_all
        self.local_account_id = "local"
        # RTP/RTCP from an even port in 10000-19999 (the range PBXs such as
        # Asterisk default to, below the kernel's ephemeral ports and apart
        # from SIP ports; firewalls are usually opened for it).
        self._rtp_port_base = random.randrange(RTP_PORT_LOW, RTP_PORT_HIGH, 2)

    # -- creation -----------------------------------------------------------------

    def add_local(self, user: str) -> str:
        """The account used for direct ``sip:user@host:port`` calls, no registrar."""
        ep = self._endpoint
        host = ep.config.bind_address
        uri = f"sip:{user}@{_host_for_uri(host)}:{ep.sip_port}"
        cfg = pj.AccountConfig()
        cfg.idUri = uri
        cfg.regConfig.registerOnAdd = False
        media_config(cfg, "off", bind_address=host, rtp_port=self._rtp_port_base)
        acc = SipAccount(self, self.local_account_id)
        acc.create(cfg, True)
        self._accounts[self.local_account_id] = acc
        self._info[self.local_account_id] = AccountInfo(
            self.local_account_id, uri, RegistrationState.NONE, is_local=True,
            message="local account: direct calls, no server",
        )
        return self.local_account_id

    def register(self, spec: AccountSpec, account_id: str | None = None) -> str:
        """Create an account and start registering; progress comes as signals.

        ``account_id``: a stable id (a provisioned account's), else ``acc-N``.
        """
        validate(spec)
        if self._endpoint.config.tls_required and spec.transport != "tls":
            raise InvalidParamsError("your IT policy requires TLS: use transport tls")
        if account_id is not None and account_id in self._accounts:
            raise InvalidParamsError(f"account {account_id!r} exists already")
        cfg, registrar, aor = self._account_config(spec)
        account_id = account_id or self._ids.new("acc")
        acc = SipAccount(self, account_id)
        self._accounts[account_id] = acc
        self._backoff[account_id] = Backoff()
        self._specs[account_id] = spec
        if spec.transport == "udp":
            self._keepalive_uri[account_id] = registrar
        self._wanted.add(account_id)
        self._creating = account_id
        self._set_info(AccountInfo(account_id, str(aor), RegistrationState.REGISTERING,
                                   message="registering", transport=spec.transport))
        try:
            acc.create(cfg, True)
        except pj.Error as exc:
            self._forget(account_id)
            raise SipError(f"could not create the account: {exc.reason}") from exc
        finally:
            self._creating = None
        # The latest state: "registering", or what pjsua reported during create.
        self.registration_changed.emit(self._info[account_id])
        return account_id

    def _account_config(self, spec: AccountSpec) -> tuple[pj.AccountConfig, str, SipUri]:
        if spec.transport == "tls":
            self._endpoint.ensure_tls()
        return account_config(spec, bind_address=self._endpoint.config.bind_address,
                              rtp_port=self._rtp_port_base)

    # -- operations ---------------------------------------------------------------

    def unregister(self, account_id: str) -> None:
        acc = self.get(account_id)
        if account_id == self.local_account_id:
            raise InvalidParamsError("the local account has no registration")
        self._cancel_retry(account_id)
        was_wanted = account_id in self._wanted
        self._wanted.discard(account_id)
        try:
            acc.setRegistration(False)
        except pj.Error as exc:
            if was_wanted:
                self._wanted.add(account_id)
            raise SipError(f"could not unregister: {exc.reason}") from exc

    def reregister(self, account_id: str) -> None:
        acc = self.get(account_id)
        if account_id == self.local_account_id:
            raise InvalidParamsError("the local account has no registration")
        self._cancel_retry(account_id)
        self._wanted.add(account_id)
        self._set_info(replace(self._info[account_id], state=RegistrationState.REGISTERING,
                               message="registering", retry_in=None))
        try:
            acc.setRegistration(True)
        except pj.Error as exc:
            self._schedule_retry(account_id, 0, str(exc.reason))

    def set_password(self, account_id: str, password: str) -> None:
        """Give ``account_id`` a (new) password, kept in memory only, and
        register again with it. The account keeps its id and its calls."""
        acc = self.get(account_id)
        spec = self._specs.get(account_id)
        if spec is None or account_id == self.local_account_id:
            raise InvalidParamsError("the local account has no password")
        spec = replace(spec, password=password)
        validate(spec)
        cfg, _, _ = self._account_config(spec)
        try:
            acc.modify(cfg)
        except pj.Error as exc:
            raise SipError(f"could not change the password: {exc.reason}") from exc
        self._specs[account_id] = spec
        self._backoff[account_id] = Backoff()
        self.reregister(account_id)

    def remove(self, account_id: str) -> None:
        acc = self.get(account_id)
        if account_id == self.local_account_id:
            raise InvalidParamsError("the local account cannot be removed")
        self._wanted.discard(account_id)
        self._cancel_retry(account_id)
        self._keepalive_uri.pop(account_id, None)
        self._pinging.pop(account_id, None)
        self._delete(acc)
        self._forget(account_id)

    def get(self, account_id: str) -> SipAccount:
        try:
            return self._accounts[account_id]
        except KeyError:
            raise NotFoundError(f"no account {account_id!r}") from None

    def spec(self, account_id: str) -> AccountSpec | None:
        """What a registered account was created with, its credentials
        included (in memory only, like pjsua's own copy): for the SIP client of
        our own that subscribes to resource lists as the account."""
        return self._specs.get(account_id)

    @property
    def bind_address(self) -> str:
        """The local address of the SIP transports."""
        return self._endpoint.config.bind_address

    def account_ids(self) -> list[str]:
        return list(self._accounts)

    def default_account_id(self) -> str:
        """The first registered account, else the local one."""
        for info in self._info.values():
            if info.state == RegistrationState.REGISTERED:
                return info.account_id
        return self.local_account_id

    def infos(self) -> list[AccountInfo]:
        now = time.monotonic()
        out = []
        for account_id, info in self._info.items():
            due = self._retry_due.get(account_id)
            out.append(replace(info, retry_in=max(0.0, due - now)) if due else info)
        return out

    def transport_lost(self) -> None:
        """A TCP/TLS connection dropped: registrations over it may be gone.

        pjsua's own reaction is off with our retry policy, and a restarted
        registrar has forgotten us: re-register soon rather than at the next
        refresh (up to the whole expiry away).
        """
        for info in list(self._info.values()):
            if (info.transport in ("tcp", "tls") and info.account_id not in self._retry_due
                    # A REGISTER in flight reports its own failure.
                    and info.state == RegistrationState.REGISTERED
                    and info.account_id in self._wanted):
                self._schedule_retry(info.account_id, 503, "connection to the registrar lost")

    def unregister_all(self) -> int:
        """Send un-REGISTER for every registered account; returns how many."""
        count = 0
        for account_id, info in self._info.items():
            self._wanted.discard(account_id)
            self._cancel_retry(account_id)
            if info.state == RegistrationState.REGISTERED:
                try:
                    self._accounts[account_id].setRegistration(False)
                    count += 1
                except pj.Error:
                    log.debug("could not unregister %s", account_id)
        return count

    def has_registered(self) -> bool:
        return any(i.state == RegistrationState.REGISTERED for i in self._info.values())

    def shutdown(self) -> None:
        """Delete every account (unregistering the registered ones)."""
        self._wanted.clear()
        for account_id in list(self._retry_timers):
            self._cancel_retry(account_id)
        self._keepalive.stop()
        self._keepalive_check.stop()
        self._keepalive_uri.clear()
        self._pinging.clear()
        self._closed = True
        for acc in self._accounts.values():
            try:
                self._delete(acc)
            except pj.Error:
                log.exception("account shutdown failed")
        self._accounts.clear()

    def _delete(self, acc: SipAccount) -> None:
        """Delete the pjsua account, unless a keep-alive of it is still in flight.

        The result of a request sent by ``Account.sendRequest`` is looked up
        by account id, and pjsua2 aborts the process when that account is gone
        (``pjsua_acc_get_user_data`` asserts). A keep-alive the registrar does
        not answer lives for PJSIP's 32 s transaction timeout: such an account
        is unregistered now and deleted when the transaction ends, or by
        ``libDestroy`` (which ends every transaction before the accounts).
        """
        if not acc.keepalives_in_flight:
            acc.shutdown()
            return
        try:
            acc.setRegistration(False)
        except pj.Error:
            log.debug("account %s: no registration to end", acc.account_id)
        self._doomed.append(acc)

    # -- callbacks ----------------------------------------------------------------

    def _on_reg_state(self, acc: SipAccount, code: int, reason: str, expiration: int) -> None:
        account_id = acc.account_id
        info = self._info.get(account_id)
        if info is None:
            return
        if 200 <= code < 300 and expiration > 0:
            self._backoff[account_id].reset()
            self._cancel_retry(account_id)
            self._set_info(replace(info, state=RegistrationState.REGISTERED, code=code,
                                   reason=reason, message=f"registered ({expiration} s)",
                                   retry_in=None))
            if account_id in self._keepalive_uri and not self._keepalive.isActive():
                self._keepalive.start()
        elif 200 <= code < 300:
            self._set_info(replace(info, state=RegistrationState.UNREGISTERED, code=code,
                                   reason=reason, message="unregistered", retry_in=None))
        elif account_id not in self._wanted:
            # The un-REGISTER the user asked for failed (408, 503...): the
            # registrar drops the binding when it expires. Never retry into
            # registering again.
            self._cancel_retry(account_id)
            message = f"unregistered; the registrar did not confirm ({code} {reason})"
            log.warning("account %s: %s", account_id, message)
            self._set_info(replace(info, state=RegistrationState.UNREGISTERED, code=code,
                                   reason=reason, message=message, retry_in=None))
        else:
            self._schedule_retry(account_id, code, reason)

    def _schedule_retry(self, account_id: str, code: int, reason: str) -> None:
        delay = self._backoff[account_id].next_delay()
        if is_auth_failure(code):
            delay = max(delay, AUTH_FAILURE_RETRY_S)
        timer = self._retry_timers.get(account_id)
        if timer is None:
            timer = QTimer(self)
            timer.setSingleShot(True)
            timer.timeout.connect(lambda aid=account_id: self._retry(aid))
            self._retry_timers[account_id] = timer
        timer.start(int(delay * 1000))
        self._retry_due[account_id] = time.monotonic() + delay
        spec = self._specs.get(account_id)
        message = describe_failure(code, reason,
                                   password_missing=spec is not None and not spec.password)
        log.warning("account %s: %s; retrying in %.1f s", account_id, message, delay)
        self._set_info(replace(self._info[account_id], state=RegistrationState.FAILED, code=code,
                               reason=reason, message=message, retry_in=delay))

    def _retry(self, account_id: str) -> None:
        self._retry_due.pop(account_id, None)
        acc = self._accounts.get(account_id)
        if acc is None or account_id not in self._wanted:
            return
        self._set_info(replace(self._info[account_id], state=RegistrationState.REGISTERING,
                               message="registering (retry)", retry_in=None))
        try:
            acc.setRegistration(True)
        except pj.Error as exc:
            self._schedule_retry(account_id, 503, str(exc.reason))

    # -- UDP keep-alive -------------------------------------------------------------

    def _send_keepalives(self) -> None:
        now = time.monotonic()
        for account_id, uri in self._keepalive_uri.items():
            info = self._info.get(account_id)
            if (info is None or info.state != RegistrationState.REGISTERED
                    or account_id in self._pinging):
                continue
            prm = pj.SendRequestParam()
            prm.method = "OPTIONS"
            prm.txOption.targetUri = uri
            acc = self._accounts[account_id]
            try:
                acc.sendRequest(prm)
            except pj.Error as exc:
                log.debug("account %s: keep-alive not sent: %s", account_id, exc.reason)
                continue
            acc.keepalives_in_flight += 1
            self._pinging[account_id] = now
        if self._pinging and not self._keepalive_check.isActive():
            self._keepalive_check.start(int(KEEPALIVE_TIMEOUT_S * 1000))

    def _on_keepalive_result(self, acc: SipAccount, answered: bool, code: int) -> None:
        acc.keepalives_in_flight = max(0, acc.keepalives_in_flight - 1)
        if any(d is acc for d in self._doomed):
            if not acc.keepalives_in_flight and not self._closed:
                # Later: never delete an account inside its own callback.
                self._doomed = [d for d in self._doomed if d is not acc]
                QTimer.singleShot(0, acc.shutdown)
            return
        if self._accounts.get(acc.account_id) is not acc or acc.account_id not in self._pinging:
            return  # already counted as an outage
        if answered:
            del self._pinging[acc.account_id]  # any response: the registrar is there
        else:  # PJSIP gave up early (a transport error): no need to wait longer
            self._keepalive_lost(acc.account_id, code)

    def _check_keepalives(self) -> None:
        deadline = time.monotonic() - KEEPALIVE_TIMEOUT_S + 0.05
        for account_id, sent in list(self._pinging.items()):
            if sent <= deadline:
                self._keepalive_lost(account_id, 408)
        if self._pinging:
            oldest = min(self._pinging.values())
            wait = max(0.05, oldest + KEEPALIVE_TIMEOUT_S - time.monotonic())
            self._keepalive_check.start(int(wait * 1000))

    def _keepalive_lost(self, account_id: str, code: int) -> None:
        del self._pinging[account_id]
        info = self._info.get(account_id)
        if (info is None or info.state != RegistrationState.REGISTERED
                or account_id in self._retry_due or account_id not in self._wanted):
            return
        self._schedule_retry(account_id, code or 408, "registrar did not answer the keep-alive")

    def _cancel_retry(self, account_id: str) -> None:
        timer = self._retry_timers.pop(account_id, None)
        if timer is not None:
            timer.stop()
            timer.deleteLater()
        self._retry_due.pop(account_id, None)

    def _set_info(self, info: AccountInfo) -> None:
        self._info[info.account_id] = info
        if info.account_id != self._creating:
            self.registration_changed.emit(info)

    def _forget(self, account_id: str) -> None:
        """Drop every trace of an account (removed, or its creation failed)."""
        self._cancel_retry(account_id)
        self._wanted.discard(account_id)
        self._keepalive_uri.pop(account_id, None)
        self._pinging.pop(account_id, None)
        self._accounts.pop(account_id, None)
        self._info.pop(account_id, None)
        self._backoff.pop(account_id, None)
        self._specs.pop(account_id, None)


def _host_for_uri(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _reject_all(acc: SipAccount, call_id: int, invite: str) -> None:
    log.error("incoming call %s before the call manager was attached", call_id)
