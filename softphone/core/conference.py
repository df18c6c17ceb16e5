"""A four-way conference mixed at agent 1's softphone, during a supervised transfer.

Who is in, who is ringing, who may be added or dropped: rules only; the SIP
engine places the calls and the conference bridge does the mixing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from softphone.core.errors import InvalidStateError, NotFoundError, TransferNotAllowedError

# Agent 1 plus three remote parties: customer, transfer target, fourth party.
MAX_REMOTE_PARTIES = 3


class PartyRole(enum.StrEnum):
    CUSTOMER = "customer"
    TARGET = "target"
    FOURTH = "fourth"


class PartyState(enum.StrEnum):
    RINGING = "ringing"  # being called; not mixed yet
    WAITING = "waiting"  # connected, waiting for everyone to be ready (held)
    JOINED = "joined"    # in the mix
    LEFT = "left"


@dataclass
class Party:
    """Attributes:
    call_id: the party's call.
    role: customer, target or fourth.
    label: what the agent sees (untrusted text: show as plain text).
    state: a :class:`PartyState`.
    """

    call_id: str
    role: PartyRole
    label: str
    state: PartyState = PartyState.JOINED

    def to_json(self) -> dict[str, str]:
        return {"call_id": self.call_id, "role": self.role.value, "label": self.label,
                "state": self.state.value}


@dataclass
class Conference:
    """Attributes:
    conference_id: process-unique id.
    transfer_id: the supervised transfer it belongs to.
    parties: by call id, in joining order.
    held: the whole conference is on hold.
    agent_present: agent 1 hears and is heard (False after "leave").
    """

    conference_id: str
    transfer_id: str
    parties: dict[str, Party] = field(default_factory=dict)
    held: bool = False
    agent_present: bool = True

    def remote(self) -> list[Party]:
        return [p for p in self.parties.values() if p.state != PartyState.LEFT]

    def check_can_add(self) -> None:
        """Raise unless a fourth party may be called now."""
        if any(p.state == PartyState.RINGING for p in self.parties.values()):
            raise InvalidStateError("a party is still ringing; wait until it answers or fails")
        if len(self.remote()) >= MAX_REMOTE_PARTIES:
            raise InvalidStateError(
                f"a conference has at most four parties ({MAX_REMOTE_PARTIES} besides you)")
        if self.held:
            raise InvalidStateError("resume the conference before adding a party")

    def add(self, call_id: str, role: PartyRole, label: str,
            state: PartyState = PartyState.RINGING) -> Party:
        party = Party(call_id, role, label, state)
        self.parties[call_id] = party
        return party

    def get(self, call_id: str) -> Party:
        party = self.parties.get(call_id)
        if party is None or party.state == PartyState.LEFT:
            raise NotFoundError(f"{call_id[:40]!r} is not in the conference")
        return party

    def mixing(self) -> set[str]:
        """Call ids whose audio is mixed together right now."""
        if self.held:
            return set()
        return {p.call_id for p in self.parties.values() if p.state == PartyState.JOINED}

    def ready_to_join(self) -> bool:
        return bool(self.remote()) and all(
            p.state in (PartyState.WAITING, PartyState.JOINED) for p in self.remote())

    @property
    def active(self) -> bool:
        return len(self.remote()) >= 1

    def to_json(self) -> dict[str, object]:
        return {
            "conference_id": self.conference_id,
            "transfer_id": self.transfer_id,
            "held": self.held,
            "agent_present": self.agent_present,
            "parties": [p.to_json() for p in self.parties.values()],
        }


def check_enabled(enabled: bool) -> None:
    if not enabled:
        raise TransferNotAllowedError("four-way conferencing is not enabled by your IT department")
