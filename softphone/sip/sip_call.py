"""The pjsua2 call object: its callbacks, guarded, go to the call manager;
and the pjsua constants the manager maps to our own names."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pjsua2 as pj

from softphone.core.calls import CallState
from softphone.sip.guard import guarded

if TYPE_CHECKING:
    from softphone.sip.accounts import SipAccount
    from softphone.sip.calls import CallManager

PJ_STATES = {
    pj.PJSIP_INV_STATE_CALLING: CallState.CALLING,
    pj.PJSIP_INV_STATE_INCOMING: CallState.INCOMING,
    pj.PJSIP_INV_STATE_EARLY: CallState.EARLY,
    pj.PJSIP_INV_STATE_CONNECTING: CallState.CONNECTING,
    pj.PJSIP_INV_STATE_CONFIRMED: CallState.CONFIRMED,
    pj.PJSIP_INV_STATE_DISCONNECTED: CallState.DISCONNECTED,
}
DTMF_RE = re.compile(r"^[0-9*#A-Da-d]{1,64}$")
DTMF_METHODS = {
    pj.PJSUA_DTMF_METHOD_RFC2833: "rfc4733",
    pj.PJSUA_DTMF_METHOD_SIP_INFO: "sip_info",
}
QUEUED = 182
# pjsua's call table is full (PJSUA_MAX_CALLS: 4 in the PyPI wheel).
TOO_MANY_CALLS = 70010  # PJ_ETOOMANY


class SipCall(pj.Call):  # type: ignore[misc]
    """A pjsua2 call whose callbacks go to the :class:`CallManager`."""

    def __init__(self, manager: CallManager, call_id: str, acc: SipAccount,
                 pj_call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(acc, pj_call_id)
        self.manager = manager
        self.call_id = call_id
        self.account = acc

    @guarded
    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        self.manager._on_call_state(self)

    @guarded
    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        self.manager._on_media_state(self)

    @guarded
    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:
        self.manager._on_dtmf(self, str(prm.digit), DTMF_METHODS.get(prm.method, "unknown"))

    @guarded
    def onCallTransferRequest(self, prm: pj.OnCallTransferRequestParam) -> None:
        self.manager._on_transfer_request(self, prm)

    @guarded
    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:
        self.manager.transfer_status.emit(self.call_id, int(prm.statusCode), str(prm.reason),
                                          bool(prm.finalNotify))

    @guarded
    def onCallReplaced(self, prm: pj.OnCallReplacedParam) -> None:
        self.manager._on_replaced(self, prm)
