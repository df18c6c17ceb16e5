"""Calls: the one owner of every ``pj.Call``, and the operations on them.

Rules this module keeps (each was a crash or a dropped call in practice):
the last Python reference to a live ``pj.Call`` hangs it up, so every call
lives in ``CallManager._calls`` until it is DISCONNECTED; a call is never
deleted inside its own callback, only on a later loop pass; ``getInfo()`` is
bound to a name before its fields are read, and never called on a call that
pjsua has not given an id yet (that is a C assert).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pjsua2 as pj
from PySide6.QtCore import QObject, QTimer, Signal

from softphone.core.calls import CallDirection, CallSnapshot, CallState, split_name_addr
from softphone.core.errors import InvalidParamsError, InvalidStateError, NotFoundError, SipError
from softphone.core.ids import IdFactory
from softphone.core.screen_pop import (
    DEFAULT_HEADER_PREFIX,
    ScreenPop,
    outgoing_headers,
    pop_from_headers,
    transfer_kind,
)
from softphone.core.sip_headers import parse_message_headers, validate_extra_headers
from softphone.core.sip_uri import parse_sip_uri
from softphone.sip.call_record import CallRecord
from softphone.sip.media import AudioRouter
from softphone.sip.media_ops import DeferredMediaOps
from softphone.sip.sip_call import (
    DTMF_RE,
    PJ_STATES,
    QUEUED,
    TOO_MANY_CALLS,
)
from softphone.sip.sip_call import SipCall as SipCall

if TYPE_CHECKING:
    from softphone.sip.accounts import AccountManager, SipAccount

log = logging.getLogger("softphone.sip.calls")

class CallManager(QObject):
    """Owns every call; the UI and the API refer to calls by id only.

    Signals:
        call_state(CallSnapshot): a state transition (deduplicated: pjsua also
            reports "incoming" on its own, which must not look like a new call;
            a queued call is reported as "incoming" only when presented).
        call_changed(CallSnapshot): any change (state, hold, mute, media, pop).
        incoming_call(CallSnapshot): an inbound call is ringing at the agent.
        call_queued(CallSnapshot): an inbound transferred call waits (182 Queued).
        screen_pop(str, dict): call id, the call's screen pop (flat strings).
        dtmf_received(str, str, str): call id, digit, method.
        transfer_status(str, int, str, bool): call id, status code, reason, final:
            progress of a REFER we sent on that call.
        call_replaced(str, str): old call id, new call id (attended transfer target).

    Attributes:
        incoming_status: decides the first answer to a new inbound call: 180 to
            ring, 182 to queue, or a final 4xx-6xx to refuse.
        transfer_request_status: decides whether a REFER from the far end is
            accepted (202) or refused (e.g. 403 for a domain not allowed).
        header_prefix: prefix of the screen pop's X- headers.
    """

    call_state = Signal(object)
    call_changed = Signal(object)
    incoming_call = Signal(object)
    call_queued = Signal(object)
    screen_pop = Signal(str, dict)
    dtmf_received = Signal(str, str, str)
    transfer_status = Signal(str, int, str, bool)
    call_replaced = Signal(str, str)

    def __init__(self, accounts: AccountManager, router: AudioRouter, ids: IdFactory,
                 auto_hold: bool = True, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._accounts = accounts
        self._router = router
        self._ids = ids
        self.auto_hold = auto_hold
        self.header_prefix = DEFAULT_HEADER_PREFIX
        self._calls: dict[str, CallRecord] = {}
        self._media_ops = DeferredMediaOps(self._calls.get, self._do)
        self.incoming_status: Callable[[CallSnapshot], int] = lambda snap: 180
        # Set by the conference: groups of calls whose far ends hear each other,
        # and the calls agent 1 has left.
        self.mixes: Callable[[], list[set[str]]] = lambda: []
        self.agent_absent: Callable[[], set[str]] = set
        self.transfer_request_status: Callable[[CallSnapshot, str], int] = lambda s, uri: 202
        accounts.incoming_call_handler = self._on_incoming

    # -- queries ------------------------------------------------------------------

    def get(self, call_id: str) -> CallRecord:
        rec = self._calls.get(call_id) if isinstance(call_id, str) else None
        if rec is None or rec.pj_call is None:
            raise NotFoundError(f"no call {str(call_id)[:40]!r}")
        return rec

    def find(self, call_id: str) -> CallRecord | None:
        return self._calls.get(call_id)

    def snapshots(self) -> list[CallSnapshot]:
        return [r.snapshot() for r in self._calls.values() if r.state != CallState.DISCONNECTED]

    def records(self) -> list[CallRecord]:
        return list(self._calls.values())

    def count(self) -> int:
        return len(self._calls)

    # -- operations ---------------------------------------------------------------

    def make_call(self, uri: str, account_id: str | None = None,
                  headers: dict[str, str] | None = None,
                  pop: ScreenPop | None = None, hold_others: bool = True) -> str:
        target = parse_sip_uri(uri)
        extra = validate_extra_headers(headers or {})
        if pop is not None:
            extra.update(outgoing_headers(pop, self.header_prefix))
        account_id = account_id or self._accounts.default_account_id()
        acc = self._accounts.get(account_id)
        # Hold the others first: the new call must not be in the registry
        # before pjsua has given it an id.
        if hold_others:
            self._hold_others(None)
        call_id = self._ids.new("call")
        call = SipCall(self, call_id, acc)
        rec = CallRecord(call_id, account_id, CallDirection.OUTBOUND, call,
                         remote_uri=str(target), pop=pop.copy() if pop else ScreenPop())
        if not rec.pop.fields:
            rec.pop = ScreenPop({"number": target.user or target.host})
        self._calls[call_id] = rec
        prm = pj.CallOpParam(True)
        prm.opt.audioCount = 1
        prm.opt.videoCount = 0
        for name, value in extra.items():
            h = pj.SipHeader()
            h.hName = name
            h.hValue = value
            prm.txOption.headers.append(h)
        try:
            call.makeCall(str(target), prm)
        except pj.Error as exc:
            del self._calls[call_id]
            if int(exc.status) == TOO_MANY_CALLS:
                up = sum(1 for r in self._calls.values() if r.live)
                raise SipError(f"could not call {target}: {up} calls are up, as many as this "
                               "softphone can hold at once; end one first") from exc
            raise SipError(f"could not call {target}: {exc.reason}") from exc
        self._emit_state(rec)
        return call_id

    def answer(self, call_id: str) -> None:
        rec = self.get(call_id)
        if rec.direction != CallDirection.INBOUND or rec.state not in (
            CallState.INCOMING, CallState.EARLY
        ):
            raise InvalidStateError(f"call {call_id} is not ringing ({rec.state})")
        if rec.queued:
            raise InvalidStateError(f"call {call_id} is queued until you are Available")
        self._hold_others(call_id)
        prm = pj.CallOpParam(True)
        prm.statusCode = 200
        self._do(rec, "answer", lambda c: c.answer(prm))

    def present(self, call_id: str) -> None:
        """Ring a queued call at the agent (they became Available)."""
        rec = self.get(call_id)
        if not rec.queued:
            return
        prm = pj.CallOpParam()
        prm.statusCode = 180
        self._do(rec, "present", lambda c: c.answer(prm))
        rec.queued = False
        snap = rec.snapshot()
        # Reported as "incoming" now, not when it arrived: a queued call has
        # not been presented to the agent until this moment.
        presented = dataclasses.replace(snap, state=CallState.INCOMING)
        rec.emitted = (CallState.INCOMING, 0)
        self.call_state.emit(presented)
        self.call_changed.emit(snap)
        self.incoming_call.emit(snap)
        self.screen_pop.emit(call_id, rec.pop.to_json())

    def refresh_queued(self, call_id: str) -> None:
        """Send 182 again: proxies drop an INVITE with no response for ~3 min."""
        rec = self.get(call_id)
        if rec.queued:
            prm = pj.CallOpParam()
            prm.statusCode = QUEUED
            prm.reason = "Queued"
            self._do(rec, "refresh", lambda c: c.answer(prm))

    def reject(self, call_id: str, code: int = 486, reason: str = "") -> None:
        rec = self.get(call_id)
        if rec.direction != CallDirection.INBOUND or rec.state not in (
            CallState.INCOMING, CallState.EARLY
        ):
            raise InvalidStateError(f"call {call_id} is not ringing ({rec.state})")
        if not (400 <= code <= 699):
            raise InvalidParamsError("a rejection code must be between 400 and 699")
        prm = pj.CallOpParam()
        prm.statusCode = code
        if reason:
            prm.reason = reason
        self._do(rec, "reject", lambda c: c.hangup(prm))

    def hangup(self, call_id: str) -> None:
        rec = self.get(call_id)
        prm = pj.CallOpParam()
        if rec.direction == CallDirection.INBOUND and rec.state in (
            CallState.INCOMING, CallState.EARLY
        ):
            prm.statusCode = 603
        self._do(rec, "hang up", lambda c: c.hangup(prm))

    def hold(self, call_id: str) -> None:
        rec = self.get(call_id)
        self._require_confirmed(rec, "hold")
        if rec.local_hold:
            return
        self._media_ops.run(rec, "hold", lambda c: c.setHold(pj.CallOpParam(True)))
        rec.local_hold = True
        self._rebuild_and_notify(rec)

    def resume(self, call_id: str, hold_others: bool = True) -> None:
        rec = self.get(call_id)
        self._require_confirmed(rec, "resume")
        if rec.handed_off:
            # The customer may already be ringing or queued at the target: taking
            # them back now would leave them with two live calls.
            raise InvalidStateError(
                f"call {call_id} is being transferred; it comes back to you if the transfer "
                "fails")
        if not rec.local_hold:
            return
        if hold_others:
            self._hold_others(call_id)
        prm = pj.CallOpParam(True)
        prm.opt.flag = pj.PJSUA_CALL_UNHOLD
        self._media_ops.run(rec, "resume", lambda c: c.reinvite(prm))
        rec.local_hold = False
        rec.hold_confirmed = False
        self._rebuild_and_notify(rec)

    def set_mute(self, call_id: str, muted: bool) -> None:
        rec = self.get(call_id)
        rec.muted = bool(muted)
        self._rebuild_and_notify(rec)

    def set_handed_off(self, call_id: str, handed_off: bool) -> None:
        rec = self.get(call_id)
        rec.handed_off = handed_off
        self._rebuild_and_notify(rec)

    def set_pop(self, call_id: str, pop: ScreenPop) -> None:
        rec = self.get(call_id)
        rec.pop = pop
        self.screen_pop.emit(call_id, pop.to_json())
        self.call_changed.emit(rec.snapshot())

    def send_dtmf(self, call_id: str, digits: str) -> str:
        rec = self.get(call_id)
        if not isinstance(digits, str) or not DTMF_RE.match(digits):
            raise InvalidParamsError("digits must be 1-64 of 0-9, *, #, A-D")
        self._require_confirmed(rec, "send DTMF on")
        call = rec.pj_call
        assert call is not None
        prm = pj.CallSendDtmfParam()
        prm.digits = digits.upper()
        prm.method = pj.PJSUA_DTMF_METHOD_RFC2833
        try:
            call.sendDtmf(prm)
            return "rfc4733"
        except pj.Error:
            # The far end did not offer telephone-event: fall back to SIP INFO.
            prm.method = pj.PJSUA_DTMF_METHOD_SIP_INFO
            try:
                call.sendDtmf(prm)
            except pj.Error as exc:
                raise SipError(f"could not send DTMF: {exc.reason}") from exc
            return "sip_info"

    def refer(self, call_id: str, refer_to: str) -> None:
        """Send a REFER (blind transfer) on ``call_id``; progress via transfer_status."""
        rec = self.get(call_id)
        self._do(rec, "transfer", lambda c: c.xfer(refer_to, pj.CallOpParam(True)))

    def refer_replaces(self, call_id: str, consult_call_id: str) -> None:
        """REFER ``call_id``'s far end to ``consult_call_id``'s with Replaces."""
        rec = self.get(call_id)
        consult = self.get(consult_call_id)
        assert consult.pj_call is not None
        target = consult.pj_call
        prm = pj.CallOpParam(True)
        # PJSUA_XFER_NO_REQUIRE_REPLACES (a #define SWIG leaves out): no
        # "Require: replaces", so a target without Replaces (baresip, many
        # gateways) takes the INVITE as a new call instead of refusing it (420).
        prm.options = 1
        self._do(rec, "transfer", lambda c: c.xferReplaces(target, prm))

    def hangup_all(self) -> None:
        for rec in list(self._calls.values()):
            if rec.pj_call is not None and rec.state != CallState.DISCONNECTED:
                try:
                    rec.pj_call.hangup(pj.CallOpParam())
                except pj.Error:
                    log.exception("hangup of %s failed", rec.call_id)

    def all_disconnected(self) -> bool:
        return all(r.state == CallState.DISCONNECTED or r.pj_call is None
                   or r.pj_call.getId() == pj.PJSUA_INVALID_ID for r in self._calls.values())

    def drop_all(self) -> None:
        """Release every call object (shutdown, after all are disconnected)."""
        for rec in self._calls.values():
            rec.pj_call = None
        self._calls.clear()

    def rebuild_audio(self) -> None:
        self._router.rebuild(self._calls.values(), self.mixes(), self.agent_absent())

    # -- helpers ------------------------------------------------------------------

    def _do(self, rec: CallRecord, what: str, action: Callable[[SipCall], None]) -> None:
        call = rec.pj_call
        assert call is not None
        try:
            action(call)
        except pj.Error as exc:
            raise SipError(f"could not {what} call {rec.call_id}: {exc.reason}") from exc

    @staticmethod
    def _require_confirmed(rec: CallRecord, what: str) -> None:
        if rec.state != CallState.CONFIRMED:
            raise InvalidStateError(f"cannot {what} call {rec.call_id}: it is {rec.state}")

    def _hold_others(self, keep: str | None) -> None:
        if not self.auto_hold:
            return
        mixed = set().union(*self.mixes()) if self.mixes() else set()
        for other in self._calls.values():
            if keep in mixed and other.call_id in mixed:
                continue  # conference legs go together
            if (other.call_id != keep and other.state == CallState.CONFIRMED
                    and not other.local_hold and not other.handed_off):
                try:
                    self.hold(other.call_id)
                except Exception:
                    log.exception("could not put %s on hold", other.call_id)

    def _rebuild_and_notify(self, rec: CallRecord) -> None:
        self.rebuild_audio()
        self.call_changed.emit(rec.snapshot())

    def _emit_state(self, rec: CallRecord) -> None:
        if rec.queued and rec.state != CallState.DISCONNECTED:
            self.call_changed.emit(rec.snapshot())
            return
        # The status code only distinguishes early states (180 vs 183); an
        # incoming call reported again by pjsua with 180 is the same event.
        key = (rec.state, rec.status_code if rec.state == CallState.EARLY else 0)
        if rec.emitted == key:
            return
        rec.emitted = key
        snap = rec.snapshot()
        self.call_state.emit(snap)
        self.call_changed.emit(snap)

    def _register(self, rec: CallRecord) -> None:
        self._calls[rec.call_id] = rec

    # -- callbacks ----------------------------------------------------------------

    def _on_incoming(self, acc: SipAccount, pj_call_id: int, invite: str) -> None:
        call_id = self._ids.new("call")
        call = SipCall(self, call_id, acc, pj_call_id)
        ci = call.getInfo()
        name, _ = split_name_addr(str(ci.remoteUri))
        headers = parse_message_headers(invite)
        rec = CallRecord(call_id, acc.account_id, CallDirection.INBOUND, call,
                         remote_uri=str(ci.remoteUri), remote_name=name,
                         state=CallState.INCOMING, headers=headers,
                         pop=pop_from_headers(headers, self.header_prefix),
                         transfer_kind=transfer_kind(headers))
        self._register(rec)
        status = self.incoming_status(rec.snapshot())
        rec.queued = status == QUEUED
        prm = pj.CallOpParam()
        prm.statusCode = status
        if status == QUEUED:
            prm.reason = "Queued"
        try:
            call.answer(prm)
        except pj.Error:
            log.exception("could not answer %s with %s", call_id, status)
        if status >= 300:
            return
        if rec.queued:
            self.call_queued.emit(rec.snapshot())
            return
        self._emit_state(rec)
        self.incoming_call.emit(rec.snapshot())
        self.screen_pop.emit(call_id, rec.pop.to_json())

    def _on_call_state(self, call: SipCall) -> None:
        rec = self._calls.get(call.call_id)
        if rec is None:
            return
        ci = call.getInfo()
        state = PJ_STATES.get(ci.state)
        if state is None:
            return
        rec.state = state
        rec.status_code = int(ci.lastStatusCode)
        rec.reason = str(ci.lastReason)
        if ci.remoteUri:
            rec.remote_uri = str(ci.remoteUri)
            rec.remote_name = split_name_addr(rec.remote_uri)[0]
        if state == CallState.CONFIRMED and rec.connected_at is None:
            rec.connected_at = time.monotonic()
            rec.talked = True
        if state == CallState.DISCONNECTED:
            rec.media_active = False
        self._emit_state(rec)
        if state == CallState.CONFIRMED:
            # Media for an answered call was agreed in the 180/183 SDP, so no new
            # media callback comes with the 200: connect audio here.
            self.rebuild_audio()
        if state == CallState.DISCONNECTED:
            # Never delete a call inside its own callback.
            QTimer.singleShot(0, lambda cid=rec.call_id: self._release(cid))

    def _on_media_state(self, call: SipCall) -> None:
        rec = self._calls.get(call.call_id)
        if rec is None:
            return
        ci = call.getInfo()
        statuses = [m.status for m in ci.media if m.type == pj.PJMEDIA_TYPE_AUDIO]
        rec.media_active = any(
            s in (pj.PJSUA_CALL_MEDIA_ACTIVE, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD) for s in statuses
        )
        rec.remote_hold = pj.PJSUA_CALL_MEDIA_REMOTE_HOLD in statuses
        if pj.PJSUA_CALL_MEDIA_LOCAL_HOLD in statuses:
            rec.local_hold = True
            rec.hold_confirmed = True
        self._rebuild_and_notify(rec)

    def _on_dtmf(self, call: SipCall, digit: str, method: str) -> None:
        if call.call_id in self._calls:
            self.dtmf_received.emit(call.call_id, digit, method)

    def _on_transfer_request(self, call: SipCall, prm: pj.OnCallTransferRequestParam) -> None:
        """The far end asks us (the transferee) to call someone else."""
        rec = self._calls.get(call.call_id)
        if rec is None:
            prm.statusCode = 500
            return
        dst = str(prm.dstUri)
        status = self.transfer_request_status(rec.snapshot(), dst)
        if status >= 300:
            log.warning("refusing a REFER on %s to %s (%s)", rec.call_id, dst[:120], status)
            prm.statusCode = status
            return
        call_id = self._ids.new("call")
        new_call = SipCall(self, call_id, call.account)
        _, target = split_name_addr(dst)
        self._register(CallRecord(call_id, rec.account_id, CallDirection.OUTBOUND, new_call,
                                  remote_uri=target.split("?")[0], pop=rec.pop.copy()))
        # pjsua connects the new call by itself: without a Python object set
        # here it has no handle and no audio.
        prm.newCall = new_call

    def _on_replaced(self, call: SipCall, prm: pj.OnCallReplacedParam) -> None:
        """An INVITE with Replaces took over ``call`` (we are the transfer target)."""
        old = self._calls.get(call.call_id)
        call_id = self._ids.new("call")
        new_call = SipCall(self, call_id, call.account, int(prm.newCallId))
        ci = new_call.getInfo()
        rec = CallRecord(call_id, old.account_id if old else call.account.account_id,
                         CallDirection.INBOUND, new_call, remote_uri=str(ci.remoteUri),
                         remote_name=split_name_addr(str(ci.remoteUri))[0],
                         state=CallState.CONNECTING,
                         # The customer's screen pop came with the consult call.
                         pop=old.pop.copy() if old else ScreenPop(),
                         transfer_kind="consult")
        self._register(rec)
        prm.newCall = new_call
        self.call_replaced.emit(call.call_id, call_id)
        self._emit_state(rec)
        self.screen_pop.emit(call_id, rec.pop.to_json())

    def _release(self, call_id: str) -> None:
        rec = self._calls.pop(call_id, None)
        if rec is not None:
            rec.pj_call = None
