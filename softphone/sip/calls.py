"""Calls: the one owner of every ``pj.Call``, and the operations on them.

Rules this module keeps (each was a crash or a dropped call in practice):
the last Python reference to a live ``pj.Call`` hangs it up, so every call
lives in ``CallManager._calls`` until it is DISCONNECTED; a call is never
deleted inside its own callback, only on a later loop pass; ``getInfo()`` is
bound to a name before its fields are read.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pjsua2 as pj
from PySide6.QtCore import QObject, QTimer, Signal

from softphone.core.calls import (
    CallDirection,
    CallSnapshot,
    CallState,
    HoldState,
    split_name_addr,
)
from softphone.core.errors import (
    InvalidParamsError,
    InvalidStateError,
    NotFoundError,
    SipError,
)
from softphone.core.ids import IdFactory
from softphone.core.sip_headers import parse_message_headers, validate_extra_headers
from softphone.core.sip_uri import parse_sip_uri
from softphone.sip.guard import guarded
from softphone.sip.media import AudioRouter

if TYPE_CHECKING:
    from softphone.sip.accounts import AccountManager, SipAccount

log = logging.getLogger("softphone.sip.calls")

_PJ_STATES = {
    pj.PJSIP_INV_STATE_CALLING: CallState.CALLING,
    pj.PJSIP_INV_STATE_INCOMING: CallState.INCOMING,
    pj.PJSIP_INV_STATE_EARLY: CallState.EARLY,
    pj.PJSIP_INV_STATE_CONNECTING: CallState.CONNECTING,
    pj.PJSIP_INV_STATE_CONFIRMED: CallState.CONFIRMED,
    pj.PJSIP_INV_STATE_DISCONNECTED: CallState.DISCONNECTED,
}
_DTMF_RE = re.compile(r"^[0-9*#A-Da-d]{1,64}$")
DTMF_METHODS = {
    pj.PJSUA_DTMF_METHOD_RFC2833: "rfc4733",
    pj.PJSUA_DTMF_METHOD_SIP_INFO: "sip_info",
}


class SipCall(pj.Call):  # type: ignore[misc]
    """A pjsua2 call whose callbacks go to the :class:`CallManager`."""

    def __init__(self, manager: CallManager, call_id: str, acc: SipAccount,
                 pj_call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(acc, pj_call_id)
        self.manager = manager
        self.call_id = call_id

    @guarded
    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        self.manager._on_call_state(self)

    @guarded
    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        self.manager._on_media_state(self)

    @guarded
    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:
        self.manager._on_dtmf(self, str(prm.digit), DTMF_METHODS.get(prm.method, "unknown"))


@dataclass
class CallRecord:
    """Our bookkeeping for one call; the snapshot handed out is built from it."""

    call_id: str
    account_id: str
    direction: CallDirection
    pj_call: SipCall | None
    remote_uri: str = ""
    remote_name: str = ""
    state: CallState = CallState.CALLING
    status_code: int = 0
    reason: str = ""
    local_hold: bool = False
    remote_hold: bool = False
    muted: bool = False
    media_active: bool = False
    started_at: float = field(default_factory=time.monotonic)
    connected_at: float | None = None
    headers: dict[str, str] = field(default_factory=dict)
    emitted: tuple[CallState, int] | None = None

    # -- RoutedCall protocol --
    def audio_media(self) -> pj.AudioMedia | None:
        call = self.pj_call
        if call is None or self.state == CallState.DISCONNECTED:
            return None
        try:
            ci = call.getInfo()
            for index, media in enumerate(ci.media):
                if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status in (
                    pj.PJSUA_CALL_MEDIA_ACTIVE, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD
                ):
                    return call.getAudioMedia(index)
        except pj.Error:
            return None
        return None

    def hears(self) -> bool:
        # An outgoing call in early state plays the far end's ringback; an
        # incoming ringing call must not let the agent hear the caller yet.
        if self.local_hold:
            return False
        if self.state == CallState.CONFIRMED:
            return True
        return self.state == CallState.EARLY and self.direction == CallDirection.OUTBOUND

    def speaks(self) -> bool:
        return self.state == CallState.CONFIRMED and not self.muted and not self.local_hold

    def snapshot(self) -> CallSnapshot:
        hold = (HoldState.BOTH if self.local_hold and self.remote_hold else
                HoldState.LOCAL if self.local_hold else
                HoldState.REMOTE if self.remote_hold else HoldState.NONE)
        return CallSnapshot(
            call_id=self.call_id, account_id=self.account_id, direction=self.direction,
            state=self.state, remote_uri=self.remote_uri, remote_name=self.remote_name,
            status_code=self.status_code, reason=self.reason, hold=hold, muted=self.muted,
            media_active=self.media_active, started_at=self.started_at,
            connected_at=self.connected_at, headers=dict(self.headers),
        )


class CallManager(QObject):
    """Owns every call; the UI and the API refer to calls by id only.

    Signals:
        call_state(CallSnapshot): a state transition (deduplicated: pjsua also
            reports "incoming" on its own, which must not look like a new call).
        call_changed(CallSnapshot): any change (state, hold, mute, media).
        incoming_call(CallSnapshot): a new inbound call is ringing.
        dtmf_received(str, str, str): call id, digit, method.

    Attributes:
        incoming_status: decides the first answer to a new inbound call
            (180 to ring; later features may queue with 182 or refuse).
    """

    call_state = Signal(object)
    call_changed = Signal(object)
    incoming_call = Signal(object)
    dtmf_received = Signal(str, str, str)

    def __init__(self, accounts: AccountManager, router: AudioRouter, ids: IdFactory,
                 auto_hold: bool = True, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._accounts = accounts
        self._router = router
        self._ids = ids
        self.auto_hold = auto_hold
        self._calls: dict[str, CallRecord] = {}
        self.incoming_status: Callable[[CallSnapshot], int] = lambda snap: 180
        accounts.incoming_call_handler = self._on_incoming

    # -- queries ------------------------------------------------------------------

    def get(self, call_id: str) -> CallRecord:
        rec = self._calls.get(call_id) if isinstance(call_id, str) else None
        if rec is None or rec.pj_call is None:
            raise NotFoundError(f"no call {call_id!r}")
        return rec

    def snapshots(self) -> list[CallSnapshot]:
        return [r.snapshot() for r in self._calls.values() if r.state != CallState.DISCONNECTED]

    def count(self) -> int:
        return len(self._calls)

    # -- operations ---------------------------------------------------------------

    def make_call(self, uri: str, account_id: str | None = None,
                  headers: dict[str, str] | None = None) -> str:
        target = parse_sip_uri(uri)
        extra = validate_extra_headers(headers or {})
        account_id = account_id or self._accounts.default_account_id()
        acc = self._accounts.get(account_id)
        # Hold the others first: the new call must not be in the registry
        # before pjsua has given it an id.
        self._hold_others(None)
        call_id = self._ids.new("call")
        call = SipCall(self, call_id, acc)
        rec = CallRecord(call_id, account_id, CallDirection.OUTBOUND, call,
                         remote_uri=str(target))
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
            raise SipError(f"could not call {target}: {exc.reason}") from exc
        self._emit_state(rec)
        return call_id

    def answer(self, call_id: str) -> None:
        rec = self.get(call_id)
        if rec.direction != CallDirection.INBOUND or rec.state not in (
            CallState.INCOMING, CallState.EARLY
        ):
            raise InvalidStateError(f"call {call_id} is not ringing ({rec.state})")
        self._hold_others(call_id)
        prm = pj.CallOpParam(True)
        prm.statusCode = 200
        self._do(rec, "answer", lambda c: c.answer(prm))

    def reject(self, call_id: str, code: int = 486) -> None:
        rec = self.get(call_id)
        if rec.direction != CallDirection.INBOUND or rec.state not in (
            CallState.INCOMING, CallState.EARLY
        ):
            raise InvalidStateError(f"call {call_id} is not ringing ({rec.state})")
        if not (400 <= code <= 699):
            raise InvalidParamsError("a rejection code must be between 400 and 699")
        prm = pj.CallOpParam()
        prm.statusCode = code
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
        self._do(rec, "hold", lambda c: c.setHold(pj.CallOpParam(True)))
        rec.local_hold = True
        self._rebuild_and_notify(rec)

    def resume(self, call_id: str) -> None:
        rec = self.get(call_id)
        self._require_confirmed(rec, "resume")
        if not rec.local_hold:
            return
        self._hold_others(call_id)
        prm = pj.CallOpParam(True)
        prm.opt.flag = pj.PJSUA_CALL_UNHOLD
        self._do(rec, "resume", lambda c: c.reinvite(prm))
        rec.local_hold = False
        self._rebuild_and_notify(rec)

    def set_mute(self, call_id: str, muted: bool) -> None:
        rec = self.get(call_id)
        rec.muted = bool(muted)
        self._rebuild_and_notify(rec)

    def send_dtmf(self, call_id: str, digits: str) -> str:
        rec = self.get(call_id)
        if not isinstance(digits, str) or not _DTMF_RE.match(digits):
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

    def hangup_all(self) -> None:
        for rec in list(self._calls.values()):
            if rec.pj_call is not None and rec.state != CallState.DISCONNECTED:
                try:
                    rec.pj_call.hangup(pj.CallOpParam())
                except pj.Error:
                    log.exception("hangup of %s failed", rec.call_id)

    def all_disconnected(self) -> bool:
        return all(r.state == CallState.DISCONNECTED for r in self._calls.values())

    def drop_all(self) -> None:
        """Release every call object (shutdown, after all are disconnected)."""
        for rec in self._calls.values():
            rec.pj_call = None
        self._calls.clear()

    def rebuild_audio(self) -> None:
        self._router.rebuild(self._calls.values())

    def records(self) -> list[CallRecord]:
        return list(self._calls.values())

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
        for other in self._calls.values():
            if (other.call_id != keep and other.state == CallState.CONFIRMED
                    and not other.local_hold):
                try:
                    self.hold(other.call_id)
                except Exception:
                    log.exception("could not put %s on hold", other.call_id)

    def _rebuild_and_notify(self, rec: CallRecord) -> None:
        self.rebuild_audio()
        self.call_changed.emit(rec.snapshot())

    def _emit_state(self, rec: CallRecord) -> None:
        # The status code only distinguishes early states (180 vs 183); an
        # incoming call reported again by pjsua with 180 is the same event.
        key = (rec.state, rec.status_code if rec.state == CallState.EARLY else 0)
        if rec.emitted == key:
            return
        rec.emitted = key
        snap = rec.snapshot()
        self.call_state.emit(snap)
        self.call_changed.emit(snap)

    # -- callbacks ----------------------------------------------------------------

    def _on_incoming(self, acc: SipAccount, pj_call_id: int, invite: str) -> None:
        call_id = self._ids.new("call")
        call = SipCall(self, call_id, acc, pj_call_id)
        ci = call.getInfo()
        name, _ = split_name_addr(str(ci.remoteUri))
        rec = CallRecord(call_id, acc.account_id, CallDirection.INBOUND, call,
                         remote_uri=str(ci.remoteUri), remote_name=name,
                         state=CallState.INCOMING, headers=parse_message_headers(invite))
        self._calls[call_id] = rec
        status = self.incoming_status(rec.snapshot())
        prm = pj.CallOpParam()
        prm.statusCode = status
        try:
            call.answer(prm)
        except pj.Error:
            log.exception("could not answer %s with %s", call_id, status)
        if status >= 300:
            return
        self._emit_state(rec)
        self.incoming_call.emit(rec.snapshot())

    def _on_call_state(self, call: SipCall) -> None:
        rec = self._calls.get(call.call_id)
        if rec is None:
            return
        ci = call.getInfo()
        state = _PJ_STATES.get(ci.state)
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
        self._rebuild_and_notify(rec)

    def _on_dtmf(self, call: SipCall, digit: str, method: str) -> None:
        if call.call_id in self._calls:
            self.dtmf_received.emit(call.call_id, digit, method)

    def _release(self, call_id: str) -> None:
        rec = self._calls.pop(call_id, None)
        if rec is not None:
            rec.pj_call = None
