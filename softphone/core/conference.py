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


# A far end's reason phrase is untrusted text: kept short.
MAX_REASON_CHARS = 120


@dataclass(frozen=True)
class PartyFailure:
    """Why a party never joined: they did not answer (declined, busy,
    unreachable, or no answer within the ring timeout).

    Attributes:
        status_code: the SIP status (408 for our own ring timeout, 0 if none came).
        reason: the SIP reason phrase, or what happened (untrusted text).
        message: for the agent, e.g. ``Carol did not answer (486 Busy Here)``.
    """

    status_code: int
    reason: str
    message: str

    def to_json(self) -> dict[str, object]:
        return {"status_code": self.status_code, "reason": self.reason,
                "message": self.message}


@dataclass
class Party:
    """Attributes:
    call_id: the party's call.
    role: customer, target or fourth.
    label: what the agent sees (untrusted text: show as plain text).
    state: a :class:`PartyState`.
    failure: set when the party left without ever answering.
    """

    call_id: str
    role: PartyRole
    label: str
    state: PartyState = PartyState.JOINED
    failure: PartyFailure | None = None

    def fail(self, status_code: int, reason: str, message: str = "") -> PartyFailure:
        """Record that the party did not answer (the first cause wins)."""
        if self.failure is None:
            reason = " ".join(reason.split())[:MAX_REASON_CHARS]
            if not message:
                why = f"{status_code} {reason}".strip() if status_code else reason
                message = (f"{self.label} did not answer ({why})" if why
                           else f"{self.label} could not be reached")
            self.failure = PartyFailure(status_code, reason, message)
        return self.failure

    def to_json(self) -> dict[str, object]:
        return {"call_id": self.call_id, "role": self.role.value, "label": self.label,
                "state": self.state.value,
                "failure": self.failure.to_json() if self.failure else None}


@dataclass
class Conference:
    """Attributes:
    conference_id: process-unique id.
    transfer_id: the supervised transfer it belongs to.
    parties: by call id, in joining order.
    held: the whole conference is on hold.
    agent_present: agent 1 hears and is heard (False after "leave").
    transfer_over: the transfer ended but the conference goes on (the
        customer hung up, or the target left while the customer was mixed).
    """

    conference_id: str
    transfer_id: str
    parties: dict[str, Party] = field(default_factory=dict)
    held: bool = False
    agent_present: bool = True
    transfer_over: bool = False

    def remote(self) -> list[Party]:
        return [p for p in self.parties.values() if p.state != PartyState.LEFT]

    def check_can_add(self) -> None:
        """Raise unless a fourth party may be called now."""
        if self.transfer_over:
            raise InvalidStateError("the transfer is over: no party can be added any more")
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
        """Every present party is connected, and there is a conference to join
        (never after the only fourth party failed: see :meth:`abandoned`)."""
        return bool(self.remote()) and not self.abandoned() and all(
            p.state in (PartyState.WAITING, PartyState.JOINED) for p in self.remote())

    def by_role(self, role: PartyRole) -> Party | None:
        """The present (not left) party in ``role``, if any."""
        return next((p for p in self.remote() if p.role == role), None)

    def abandoned(self) -> bool:
        """No fourth party is connected or on its way and the customer was
        never mixed: the consultation is exactly as it was, nothing to keep."""
        customer = self.by_role(PartyRole.CUSTOMER)
        return (customer is not None and customer.state == PartyState.WAITING
                and self.by_role(PartyRole.FOURTH) is None)

    def finished(self) -> bool:
        """Nobody is left to conference with: everyone left, or the transfer is
        over and a single party remains (an ordinary call with agent 1)."""
        remote = self.remote()
        return not remote or (self.transfer_over and len(remote) < 2)

    @property
    def active(self) -> bool:
        return len(self.remote()) >= 1

    def to_json(self) -> dict[str, object]:
        return {
            "conference_id": self.conference_id,
            "transfer_id": self.transfer_id,
            "held": self.held,
            "agent_present": self.agent_present,
            "transfer_over": self.transfer_over,
            "parties": [p.to_json() for p in self.parties.values()],
        }


def check_enabled(enabled: bool) -> None:
    if not enabled:
        raise TransferNotAllowedError("four-way conferencing is not enabled by your IT department")
