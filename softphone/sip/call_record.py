"""Our bookkeeping for one call, and the rules of who hears whom on it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pjsua2 as pj

from softphone.core.calls import CallDirection, CallSnapshot, CallState, HoldState
from softphone.core.screen_pop import ScreenPop

if TYPE_CHECKING:
    from softphone.sip.calls import SipCall


@dataclass
class CallRecord:
    """One call as the engine tracks it; snapshots handed out are built from it.

    Attributes:
        pj_call: the pjsua2 call, owned here; None once released.
        queued: an inbound transferred call answered 182 Queued and waiting for
            the agent to become Available (no audio either way).
        handed_off: the customer's leg of an unsupervised transfer in progress:
            kept until the final result, but the agent is out of it.
        hold_confirmed: the hold re-INVITE was answered (media says LOCAL_HOLD);
            a REFER is only sent after that (RFC 5589).
        pop: the call's screen pop.
        transfer_kind: "blind"/"consult" when the call arrived as part of a transfer.
        talked: the call reached CONFIRMED at some point.
        pending_media_op: a hold/resume that waits for the re-INVITE in
            flight (what, action, give-up time).
    """

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
    hold_confirmed: bool = False
    remote_hold: bool = False
    muted: bool = False
    media_active: bool = False
    queued: bool = False
    handed_off: bool = False
    talked: bool = False
    transfer_kind: str | None = None
    started_at: float = field(default_factory=time.monotonic)
    connected_at: float | None = None
    headers: dict[str, str] = field(default_factory=dict)
    pop: ScreenPop = field(default_factory=ScreenPop)
    emitted: tuple[CallState, int] | None = None
    pending_media_op: tuple[str, Callable[[SipCall], None], float] | None = None

    @property
    def live(self) -> bool:
        return self.pj_call is not None and self.state != CallState.DISCONNECTED

    # -- RoutedCall protocol --
    def audio_media(self) -> pj.AudioMedia | None:
        call = self.pj_call
        if call is None or self.state == CallState.DISCONNECTED:
            return None
        # getInfo() on a call pjsua does not know yet is a C assert, not an
        # exception: it aborts the process.
        if call.getId() == pj.PJSUA_INVALID_ID:
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
        # incoming ringing or queued call must not let the agent hear the caller.
        if self.local_hold or self.queued or self.handed_off:
            return False
        if self.state == CallState.CONFIRMED:
            return True
        return self.state == CallState.EARLY and self.direction == CallDirection.OUTBOUND

    def speaks(self) -> bool:
        return (self.state == CallState.CONFIRMED and not self.muted and not self.local_hold
                and not self.handed_off and not self.queued)

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
            queued=self.queued, handed_off=self.handed_off, pop=self.pop.to_json(),
        )
