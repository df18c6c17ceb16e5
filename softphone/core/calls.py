"""The call vocabulary shared by the engine, the UI and the automation API."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class CallState(enum.StrEnum):
    """Call states as the automation API names them (a contract)."""

    INCOMING = "incoming"
    CALLING = "calling"
    EARLY = "early"
    CONNECTING = "connecting"
    CONFIRMED = "confirmed"
    DISCONNECTED = "disconnected"


class CallDirection(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class HoldState(enum.StrEnum):
    NONE = "none"
    LOCAL = "local"
    REMOTE = "remote"
    BOTH = "both"


@dataclass(frozen=True)
class CallSnapshot:
    """What is known about one call at one moment; safe to hand to any layer.

    Attributes:
        call_id: our process-unique id (never pjsua's reused slot number).
        account_id: the account the call belongs to.
        direction: inbound or outbound.
        state: the current :class:`CallState`.
        remote_uri: the far end's URI as PJSIP reports it (may have a display name).
        remote_name: the far end's display name, untrusted text.
        status_code: the last SIP status code seen on the call.
        reason: the last SIP reason phrase, untrusted text.
        hold: who has put the call on hold.
        muted: whether the agent's microphone is cut from this call.
        media_active: whether an audio stream exists and is flowing.
        started_at: monotonic time the call was created.
        connected_at: monotonic time it was confirmed, if it was.
        headers: selected headers of the initial INVITE (incoming calls).
    """

    call_id: str
    account_id: str
    direction: CallDirection
    state: CallState
    remote_uri: str
    remote_name: str = ""
    status_code: int = 0
    reason: str = ""
    hold: HoldState = HoldState.NONE
    muted: bool = False
    media_active: bool = False
    started_at: float = 0.0
    connected_at: float | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "call_id": self.call_id,
            "account_id": self.account_id,
            "direction": self.direction.value,
            "state": self.state.value,
            "remote_uri": self.remote_uri,
            "remote_name": self.remote_name,
            "status_code": self.status_code,
            "reason": self.reason,
            "hold": self.hold.value,
            "muted": self.muted,
            "media_active": self.media_active,
        }


def split_name_addr(value: str) -> tuple[str, str]:
    """Split ``"Name" <sip:uri>`` into (name, uri); untrusted text, no decoding."""
    value = value.strip()
    if "<" in value and value.endswith(">"):
        name, _, uri = value.rpartition("<")
        return name.strip().strip('"').strip(), uri[:-1].strip()
    return "", value
