"""Executes supervised and unsupervised transfers (rules in core.transfer).

The customer is never dropped: every failure path ends with the customer on
hold with agent 1 (supervised: resumed with one action) or given back to
agent 1 with an alert (unsupervised).

Unsupervised fail-back rule: agent 1 takes the customer back only when no new
call to the target can be up at the customer's phone: the final NOTIFY says it
failed, the REFER itself failed, or the customer's phone said nothing at all.
Never while the last NOTIFY says the new call is pending (trying, ringing,
queued): resuming then would leave the customer with two live calls (agent 1
and the target's queue, later the target too). The customer's phone keeps
that call until the target answers or refuses it (a queueing softphone gives
up after its own maximum hold time, with 480), or the customer hangs up; the
final NOTIFY then decides. While it is pending, each NOTIFY restarts a
watchdog; when nothing is heard for ``pending_silence_s`` agent 1 is alerted
(a ``transfer.progress`` event, same phase) and the customer stays where they are.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, QTimer, Signal

from softphone.core.agent_state import CallActivity
from softphone.core.calls import CallSnapshot, CallState, HoldState, split_name_addr
from softphone.core.directory import Directory
from softphone.core.errors import (
    InvalidParamsError,
    InvalidStateError,
    NotFoundError,
    SoftphoneError,
    TransferNotAllowedError,
)
from softphone.core.ids import IdFactory
from softphone.core.screen_pop import TRANSFER_HEADER, refer_to_uri
from softphone.core.sip_uri import parse_sip_uri
from softphone.core.transfer import (
    Phase,
    TargetKind,
    Transfer,
    TransferKind,
    TransferTarget,
    check_allowed,
    check_kind,
    domain_allowed,
    first_available,
    resolve_target,
    target_kind,
)
from softphone.sip.accounts import AccountManager
from softphone.sip.agent import AgentService
from softphone.sip.call_record import CallRecord
from softphone.sip.calls import CallManager

log = logging.getLogger("softphone.sip.transfers")

QUEUED_CODE = 182


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


@dataclass
class TransferPolicy:
    """Attributes:
    enabled: IT's Session Transfer switch; off refuses every transfer.
    external_allowed: manual external numbers may be dialled (supervised only).
    allowed_domains: if set, transfer targets (and REFERs we accept) must be in these.
    consult_timeout_s: a consult call not answered by then has failed.
    complete_timeout_s: a supervised REFER with no final result by then has
        failed; an unsupervised REFER the customer's phone has said nothing
        about by then has failed (the customer comes back).
    pending_silence_s: an unsupervised transfer whose new call is pending at
        the customer's phone, with no NOTIFY for this long, is reported to
        agent 1 (longer than a queueing target's 182 refresh, 60 s, and a
        proxy's Timer C, 3 min); the customer is not taken back.
    """

    enabled: bool = True
    external_allowed: bool = True
    allowed_domains: list[str] = field(default_factory=list)
    consult_timeout_s: float = 30.0
    complete_timeout_s: float = 30.0
    pending_silence_s: float = 200.0


class TransferManager(QObject):
    """Runs at most one transfer at a time for the agent.

    Signals:
        progress(Transfer): every phase change (the transfer object, live).
    """

    progress = Signal(object)

    def __init__(self, calls: CallManager, accounts: AccountManager, agent: AgentService,
                 directory: Directory, ids: IdFactory, policy: TransferPolicy | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._calls = calls
        self._accounts = accounts
        self._agent = agent
        self.directory = directory
        self._ids = ids
        self.policy = policy or TransferPolicy()
        self._transfers: dict[str, Transfer] = {}
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._timed_out)
        calls.call_changed.connect(self._on_call_changed)
        calls.transfer_status.connect(self._on_transfer_status)
        calls.transfer_request_status = self._incoming_refer_status
        # Set by the conference: asked when the target leaves the consultation;
        # True when a four-way conference mixing the customer carries on.
        self.conference_continues: Callable[[Transfer], bool] = lambda t: False

    # -- queries ------------------------------------------------------------------

    def active(self) -> Transfer | None:
        return next((t for t in self._transfers.values() if t.active), None)

    def find(self, call_id_or_transfer_id: str) -> Transfer:
        for t in self._transfers.values():
            ids = (t.transfer_id, t.customer_call_id, t.consult_call_id)
            if call_id_or_transfer_id in ids and t.active:
                return t
        raise NotFoundError(f"no transfer in progress for {call_id_or_transfer_id[:40]!r}")

    def resolve(self, target: str) -> TransferTarget:
        return resolve_target(target, self.directory, default_domain=self._default_domain())

    # -- supervised -----------------------------------------------------------------

    def start_supervised(self, call_id: str, target_text: str) -> Transfer:
        rec = self._customer(call_id)
        check_kind(TransferKind.SUPERVISED, target_kind(target_text, self.directory),
                   external_allowed=self.policy.external_allowed)
        target = self.resolve(target_text)
        check_allowed(TransferKind.SUPERVISED, target,
                      external_allowed=self.policy.external_allowed,
                      allowed_domains=self.policy.allowed_domains)
        uri = self.uri_for(target)
        if not uri:
            raise InvalidStateError(f"nobody in {target.label!r} is Available to consult")
        t = Transfer(self._ids.new("xfer"), TransferKind.SUPERVISED, call_id, target,
                     rec.pop.copy())
        self._calls.hold(call_id)
        try:
            t.consult_call_id = self._calls.make_call(
                uri, account_id=rec.account_id, headers={TRANSFER_HEADER: "consult"}, pop=t.pop)
        except SoftphoneError:
            self._resume_customer(t)
            raise
        self._transfers[t.transfer_id] = t
        self._advance(t, Phase.CONSULT_RINGING)
        self._timer.start(int(self.policy.consult_timeout_s * 1000))
        return t

    def complete_supervised(self, call_id: str, fourth_party: str = "drop") -> Transfer:
        """Send the customer to the target. ``fourth_party`` (four-way
        conference): ``drop`` hangs up on them, ``transfer`` sends them to the
        target as well (agents and groups only)."""
        t = self.find(call_id)
        if t.kind != TransferKind.SUPERVISED or t.phase != Phase.CONSULTING:
            raise InvalidStateError(
                f"transfer {t.transfer_id} cannot be completed while {t.phase.value}")
        if fourth_party not in ("drop", "transfer"):
            raise InvalidParamsError("fourth_party must be drop or transfer")
        if fourth_party == "transfer" and t.target.kind not in (TargetKind.AGENT,
                                                               TargetKind.GROUP):
            raise TransferNotAllowedError(
                "the fourth party can only be sent along to an agent or an agent group")
        t.fourth_party = fourth_party
        self._calls.refer_replaces(t.customer_call_id, t.consult_call_id)
        self._advance(t, Phase.COMPLETING)
        self._timer.start(int(self.policy.complete_timeout_s * 1000))
        return t

    def cancel_supervised(self, call_id: str) -> Transfer:
        t = self.find(call_id)
        if t.kind != TransferKind.SUPERVISED:
            raise InvalidStateError("an unsupervised transfer cannot be cancelled")
        self._timer.stop()
        consult = self._calls.find(t.consult_call_id)
        if consult is not None and consult.live:
            try:
                self._calls.hangup(t.consult_call_id)
            except SoftphoneError:
                log.exception("could not hang up the consult call")
        self._resume_customer(t)
        self._advance(t, Phase.CANCELLED, reason="cancelled by the agent")
        return t

    # -- unsupervised ---------------------------------------------------------------

    def unsupervised(self, call_id: str, target_text: str) -> Transfer:
        rec = self._customer(call_id)
        # The rule on kinds first: a bare number is refused as not allowed,
        # not as undiallable (there may be no SIP domain to dial it at).
        check_kind(TransferKind.UNSUPERVISED, target_kind(target_text, self.directory))
        target = self.resolve(target_text)
        check_allowed(TransferKind.UNSUPERVISED, target,
                      allowed_domains=self.policy.allowed_domains)
        t = Transfer(self._ids.new("xfer"), TransferKind.UNSUPERVISED, call_id, target,
                     rec.pop.copy())
        self._calls.hold(call_id)
        # Agent 1 is freed now; the customer's dialog stays until the result.
        self._calls.set_handed_off(call_id, True)
        self._transfers[t.transfer_id] = t
        self.progress.emit(t)
        # Until the REFER goes out (hold acknowledged, a group member
        # Available) the customer waits on hold here, at most this long.
        self._timer.start(_ms(self._agent.max_queue_seconds + 30))
        if rec.hold_confirmed:
            self._send_blind(t)
        # else: sent from _on_call_changed once the hold is acknowledged (RFC 5589)
        return t

    def _send_blind(self, t: Transfer) -> None:
        uri = self.uri_for(t.target)
        if not uri:
            self._advance(t, Phase.WAITING_FOR_AGENT,
                          reason=f"waiting for an Available agent in {t.target.label}")
            return
        try:
            self._calls.refer(t.customer_call_id, refer_to_uri(uri, t.pop, "blind"))
        except SoftphoneError as exc:
            self._fail_back(t, 0, str(exc))
            return
        self._advance(t, Phase.COMPLETING, reason=f"sent to {uri}")
        self._timer.start(_ms(self.policy.complete_timeout_s))

    def agent_presence_changed(self, agent_id: str) -> None:
        """A colleague's state changed: a group transfer may now have a taker."""
        for t in list(self._transfers.values()):
            if t.phase == Phase.WAITING_FOR_AGENT:
                self._send_blind(t)

    # -- reactions ------------------------------------------------------------------

    def _on_call_changed(self, snap: CallSnapshot) -> None:
        for t in list(self._transfers.values()):
            if not t.active:
                continue
            if snap.call_id == t.consult_call_id:
                self._consult_changed(t, snap)
            elif snap.call_id == t.customer_call_id:
                self._customer_changed(t, snap)

    def _consult_changed(self, t: Transfer, snap: CallSnapshot) -> None:
        if snap.state == CallState.CONFIRMED and t.phase == Phase.CONSULT_RINGING:
            self._timer.stop()
            self._advance(t, Phase.CONSULTING)
        elif snap.state == CallState.DISCONNECTED and t.phase in (Phase.CONSULT_RINGING,
                                                                   Phase.CONSULTING):
            self._timer.stop()
            why = f"{snap.status_code} {snap.reason}".strip() if snap.status_code else "ended"

            def consult_ended() -> None:
                if t.phase not in (Phase.CONSULT_RINGING, Phase.CONSULTING):
                    return  # a Cancel hanging up this call ended the transfer meanwhile
                if t.phase == Phase.CONSULTING and self.conference_continues(t):
                    # The customer is in the conference, not on hold: the
                    # transfer ends, the other parties keep talking.
                    self._advance(t, Phase.CANCELLED, snap.status_code,
                                  f"the target left the conference ({why}); "
                                  "the customer stays connected")
                else:
                    self._advance(t, Phase.CONSULT_FAILED, snap.status_code,
                                  f"the consult call failed ({why}); the customer is on hold")

            # pjsua reports our own hangup at once, inside cancel_supervised:
            # decide on the next loop pass, once a Cancel has had its say.
            QTimer.singleShot(0, consult_ended)
        elif (snap.state == CallState.DISCONNECTED and t.phase == Phase.COMPLETING
              and t.kind == TransferKind.SUPERVISED and t.refer_accepted):
            # The target ended the consult call after the customer's phone
            # accepted our REFER with Replaces: it was replaced. Some stacks'
            # final NOTIFY never arrives (liblinphone 5.1 sends a malformed
            # Subscription-State that PJSIP drops).
            self._timer.stop()
            self._advance(t, Phase.COMPLETED, 200, "the target took over the consult call")
            self._hang_up_quietly(t.customer_call_id)

    def _customer_changed(self, t: Transfer, snap: CallSnapshot) -> None:
        if snap.state == CallState.DISCONNECTED:
            self._timer.stop()
            if t.kind == TransferKind.UNSUPERVISED and t.notify_code == QUEUED_CODE:
                # Queued at the target and not presented yet: nobody took the
                # call over; the customer hung up (their phone cancels the
                # queued call too).
                self._advance(t, Phase.FAILED, snap.status_code,
                              f"the customer hung up while queued at {t.target.label}")
            elif t.phase in (Phase.COMPLETING, Phase.QUEUED) and t.refer_accepted:
                # Many phones end the original call as soon as the new one is
                # under way, sometimes before their final NOTIFY: having
                # accepted our REFER, the customer's phone took the transfer over.
                self._advance(t, Phase.COMPLETED, 200,
                              "the customer's phone took the transfer over")
            elif t.phase != Phase.COMPLETED:
                self._advance(t, Phase.FAILED, snap.status_code, "the customer hung up")
            return
        if t.phase == Phase.HOLDING and t.kind == TransferKind.UNSUPERVISED:
            rec = self._calls.find(t.customer_call_id)
            if rec is not None and rec.hold_confirmed:
                self._send_blind(t)
        elif (t.phase == Phase.CONSULT_FAILED and snap.hold == HoldState.NONE):
            # The agent resumed the customer: that is the end of this transfer.
            self._advance(t, Phase.CANCELLED, reason="customer resumed")

    def _on_transfer_status(self, call_id: str, code: int, reason: str, final: bool) -> None:
        t = next((x for x in self._transfers.values()
                  if x.customer_call_id == call_id and x.active), None)
        if t is None or t.phase not in (Phase.COMPLETING, Phase.QUEUED):
            return
        log.debug("transfer %s: the customer's phone reports %s %s%s", t.transfer_id, code,
                  reason, " (final)" if final else "")
        was_queued = t.notify_code == QUEUED_CODE
        if code < 300:
            t.refer_accepted = True
        t.notify_code = code
        if not final:
            if t.kind == TransferKind.UNSUPERVISED:
                # News from the customer's phone: the new call is still pending.
                self._timer.start(_ms(self.policy.pending_silence_s))
            if code == QUEUED_CODE and t.phase == Phase.COMPLETING:
                self._advance(t, Phase.QUEUED, code, "the target agent is not Available yet; "
                              "the call waits for them")
            return
        self._timer.stop()
        if 200 <= code < 300:
            self._advance(t, Phase.COMPLETED, code, reason)
            self._hang_up_quietly(t.customer_call_id)
            if t.kind == TransferKind.SUPERVISED:
                # The target drops the replaced consult call itself; make sure.
                QTimer.singleShot(2000, lambda cid=t.consult_call_id: self._hang_up_quietly(cid))
        elif t.kind == TransferKind.SUPERVISED:
            # The consult call is still up and the customer still on hold.
            self._advance(t, Phase.CONSULTING, code, f"the transfer failed ({code} {reason}); "
                          "you are still talking to the target")
        elif code == 487 and was_queued:
            # The customer's phone cancelled its queued call: they hung up.
            self._fail_back(t, code, "the customer hung up while queued")
        else:
            self._fail_back(t, code, f"{code} {reason}")

    def _timed_out(self) -> None:
        t = self.active()
        if t is None:
            return
        if t.phase == Phase.CONSULT_RINGING:
            self._hang_up_quietly(t.consult_call_id)
            self._advance(t, Phase.CONSULT_FAILED, 408,
                          "no answer from the target; the customer is on hold")
        elif t.phase == Phase.COMPLETING and t.kind == TransferKind.SUPERVISED:
            self._advance(t, Phase.CONSULTING, 408,
                          "no result from the customer's phone; try again")
        elif t.kind == TransferKind.UNSUPERVISED:
            if t.phase in (Phase.COMPLETING, Phase.QUEUED) and t.new_call_pending:
                self._still_pending(t)
            else:
                self._fail_back(t, 408, "the transfer timed out")

    def _still_pending(self, t: Transfer) -> None:
        """The watchdog fired while the customer's phone still has its call to
        the target pending: never take the customer back now (two live calls);
        alert agent 1 and keep waiting for the final NOTIFY."""
        t.reason = (f"no news for {self.policy.pending_silence_s:.0f} s: the customer's call "
                    f"to {t.target.label} is still pending ({t.notify_code}); they come back "
                    "to you if that call fails")
        log.warning("transfer %s: %s", t.transfer_id, t.reason)
        self.progress.emit(t)
        self._timer.start(_ms(self.policy.pending_silence_s))

    # -- helpers --------------------------------------------------------------------

    def _customer(self, call_id: str) -> CallRecord:
        if not self.policy.enabled:
            raise TransferNotAllowedError("Session Transfer is switched off by your IT department")
        if self.active() is not None:
            raise InvalidStateError("another transfer is in progress; finish or cancel it first")
        rec = self._calls.get(call_id)
        if rec.state != CallState.CONFIRMED or rec.handed_off or rec.queued:
            raise InvalidStateError(f"call {call_id} is not a connected call to transfer")
        return rec

    def uri_for(self, target: TransferTarget) -> str:
        if target.kind != TargetKind.GROUP or target.uri:
            return target.uri
        member = first_available(self.directory.members(target.ref))
        return member.uri if member else ""

    def _fail_back(self, t: Transfer, code: int, reason: str) -> None:
        """Unsupervised failure: the customer comes back to agent 1."""
        rec = self._calls.find(t.customer_call_id)
        back = "the customer's call has ended"
        if rec is not None and rec.live:
            back = "the customer is back"
            try:
                self._calls.set_handed_off(t.customer_call_id, False)
                self._calls.resume(t.customer_call_id)
            except SoftphoneError:
                log.exception("could not give the customer back")
        self._advance(t, Phase.FAILED, code,
                      f"transfer to {t.target.label} failed ({reason}): {back}")

    def _resume_customer(self, t: Transfer) -> None:
        rec = self._calls.find(t.customer_call_id)
        if rec is not None and rec.live:
            try:
                self._calls.resume(t.customer_call_id)
            except SoftphoneError:
                log.exception("could not resume the customer")

    def _hang_up_quietly(self, call_id: str) -> None:
        rec = self._calls.find(call_id)
        if rec is not None and rec.live:
            try:
                self._calls.hangup(call_id)
            except SoftphoneError:
                log.debug("hangup of %s after transfer failed", call_id)

    def _advance(self, t: Transfer, phase: Phase, code: int = 0, reason: str = "") -> None:
        if t.advance(phase, code, reason):
            log.info("transfer %s: %s %s", t.transfer_id, phase.value, reason)
            self.progress.emit(t)
        self._update_activity()

    def _update_activity(self) -> None:
        t = self.active()
        hint = CallActivity.NONE
        if t is not None and t.kind == TransferKind.SUPERVISED:
            hint = (CallActivity.TRANSFER if t.phase == Phase.COMPLETING
                    else CallActivity.CONSULT)
        self._agent.set_hint("transfer", hint)

    def _default_domain(self) -> str:
        account_id = self._accounts.default_account_id()
        for info in self._accounts.infos():
            if info.account_id == account_id and not info.is_local:
                return parse_sip_uri(info.uri).host
        return ""

    def _incoming_refer_status(self, snap: CallSnapshot, dst_uri: str) -> int:
        """Accept a REFER from the far end unless policy forbids the target's domain."""
        if not self.policy.allowed_domains:
            return 202
        try:
            uri = split_name_addr(dst_uri)[1].split("?")[0]
            host = parse_sip_uri(uri).host
        except SoftphoneError:
            return 400
        return 202 if domain_allowed(host, self.policy.allowed_domains) else 403



