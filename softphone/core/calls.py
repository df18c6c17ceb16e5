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
        queued: waiting (182 Queued) for the agent to become Available.
        handed_off: being transferred unsupervised; the agent is out of it.
        pop: the screen pop as a flat object of strings.
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
    queued: bool = False
    handed_off: bool = False
    pop: dict[str, str] = field(default_factory=dict)

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
            "queued": self.queued,
            "handed_off": self.handed_off,
        }


def split_name_addr(value: str) -> tuple[str, str]:
    """Split ``"Name" <sip:uri>;tag=x`` into (name, uri); untrusted text, no decoding."""
    value = value.strip()
    name = ""
    rest = value
    if value.startswith('"'):
        i, chars = 1, []
        while i < len(value) and value[i] != '"':
            if value[i] == "\\" and i + 1 < len(value):
                i += 1
            chars.append(value[i])
            i += 1
        name, rest = "".join(chars), value[i + 1:]
    if "<" in rest and ">" in rest.split("<", 1)[1]:
        before, _, after = rest.partition("<")
        return (name or before.strip()), after.split(">", 1)[0].strip()
    return name, rest.split(";", 1)[0].strip()
