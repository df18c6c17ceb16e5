"""Session Transfer rules and the transfer state machine.

Supervised (attended): the customer is held, agent 1 talks to the target on a
consult call, then completes (REFER with Replaces: the customer ends up with
the target, who keeps the screen pop) or cancels (back to the customer).
Targets: an external number, an agent, or a preset.

Unsupervised (blind): REFER straight away, to an agent or an agent group
only; never to external numbers or presets. Agent 1 is freed at once, but the
customer's dialog is kept until the final result, so a failed transfer
returns the customer to agent 1 instead of dropping them.
"""

from __future__ import annotations

import enum
import re
import time
from dataclasses import dataclass, field

from softphone.core.agent_state import AgentState
from softphone.core.directory import Agent, Directory
from softphone.core.errors import (
    InvalidParamsError,
    InvalidStateError,
    NotFoundError,
    TransferNotAllowedError,
)
from softphone.core.screen_pop import ScreenPop
from softphone.core.sip_uri import parse_sip_uri

_NUMBER_RE = re.compile(r"^\+?[0-9*#]{1,32}$")


class TargetKind(enum.StrEnum):
    AGENT = "agent"
    GROUP = "group"
    PRESET = "preset"
    EXTERNAL = "external"


class TransferKind(enum.StrEnum):
    SUPERVISED = "supervised"
    UNSUPERVISED = "unsupervised"


@dataclass(frozen=True)
class TransferTarget:
    """Attributes:
    kind: agent, group, preset or external.
    uri: where to send the call ("" for a group without a group URI).
    label: what the agent sees.
    ref: the directory id (agent/group/preset id), "" for typed targets.
    """

    kind: TargetKind
    uri: str
    label: str
    ref: str = ""

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind.value, "uri": self.uri, "label": self.label, "ref": self.ref}


def resolve_target(text: str, directory: Directory, *, default_domain: str = "") -> TransferTarget:
    """Turn what the agent or an API client gave into a :class:`TransferTarget`.

    ``agent:ID``, ``group:ID`` and ``preset:ID`` name directory entries; a SIP
    URI is an agent when it is a directory agent's URI, else external; a bare
    number is external, dialled at ``default_domain``.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidParamsError("the transfer target is empty")
    text = text.strip()
    prefix, _, ref = text.partition(":")
    if prefix == "agent":
        agent = directory.agents.get(ref)
        if agent is None:
            raise NotFoundError(f"no agent {ref!r} in the directory")
        return TransferTarget(TargetKind.AGENT, agent.uri, agent.name, agent.agent_id)
    if prefix == "group":
        group = directory.groups.get(ref)
        if group is None:
            raise NotFoundError(f"no agent group {ref!r} in the directory")
        if not group.uri and not group.members:
            raise InvalidParamsError(f"agent group {group.name!r} has no members and no URI")
        return TransferTarget(TargetKind.GROUP, group.uri, group.name, group.group_id)
    if prefix == "preset":
        preset = directory.presets.get(ref)
        if preset is None:
            raise NotFoundError(f"no preset {ref!r} in the directory")
        return TransferTarget(TargetKind.PRESET, number_to_uri(preset.number, default_domain),
                              preset.name, preset.preset_id)
    if _NUMBER_RE.match(text.replace(" ", "").replace("-", "")):
        number = text.replace(" ", "").replace("-", "")
        return TransferTarget(TargetKind.EXTERNAL, number_to_uri(number, default_domain), number)
    uri = str(parse_sip_uri(text))
    agent = directory.agent_by_uri(uri)
    if agent is not None:
        return TransferTarget(TargetKind.AGENT, agent.uri, agent.name, agent.agent_id)
    return TransferTarget(TargetKind.EXTERNAL, uri, uri)


def target_kind(text: str, directory: Directory) -> TargetKind:
    """The kind of target ``text`` names, without resolving it.

    Needs no SIP domain and no directory lookup beyond the URI match, so the
    rules on kinds (:func:`check_kind`) can be applied before anything about
    dialling can fail: an unsupervised transfer to a bare number is refused as
    not allowed even where no account could dial it.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidParamsError("the transfer target is empty")
    text = text.strip()
    prefix, _, _ = text.partition(":")
    if prefix in (TargetKind.AGENT, TargetKind.GROUP, TargetKind.PRESET):
        return TargetKind(prefix)
    if _NUMBER_RE.match(text.replace(" ", "").replace("-", "")):
        return TargetKind.EXTERNAL
    uri = str(parse_sip_uri(text))
    return TargetKind.AGENT if directory.agent_by_uri(uri) is not None else TargetKind.EXTERNAL


def number_to_uri(number: str, domain: str) -> str:
    if number.startswith(("sip:", "sips:")):
        return str(parse_sip_uri(number))
    if not domain:
        raise InvalidParamsError(
            f"cannot dial {number!r}: no SIP domain to send numbers to (register an account)"
        )
    return str(parse_sip_uri(f"sip:{number}@{domain}"))


def check_allowed(kind: TransferKind, target: TransferTarget, *,
                  external_allowed: bool = True,
                  allowed_domains: list[str] | None = None) -> None:
    """Raise :class:`TransferNotAllowedError` when policy forbids the transfer."""
    check_kind(kind, target.kind, external_allowed=external_allowed)
    if allowed_domains and target.uri:
        host = parse_sip_uri(target.uri).host
        if not domain_allowed(host, allowed_domains):
            raise TransferNotAllowedError(f"transfers to {host} are not allowed by policy")


def check_kind(kind: TransferKind, target: TargetKind, *, external_allowed: bool = True) -> None:
    """The rules that depend only on the kind of target (checked first)."""
    if kind == TransferKind.UNSUPERVISED and target in (TargetKind.EXTERNAL, TargetKind.PRESET):
        what = "an external number" if target == TargetKind.EXTERNAL else "a preset"
        raise TransferNotAllowedError(
            f"unsupervised transfers go to an agent or an agent group only, not to {what}; "
            "use a supervised transfer"
        )
    if target == TargetKind.EXTERNAL and not external_allowed:
        raise TransferNotAllowedError("transfers to manually entered numbers are not allowed")


def domain_allowed(host: str, patterns: list[str]) -> bool:
    """``host`` matches one of ``patterns``: ``example.com`` (itself and its
    subdomains) or ``*.example.com`` (subdomains only)."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        pattern = pattern.lower().rstrip(".")
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]):
                return True
        elif host == pattern or host.endswith("." + pattern):
            return True
    return False


def first_available(members: list[Agent]) -> Agent | None:
    """The first member (in hunting order) whose presence says Available."""
    return next((a for a in members if a.state == AgentState.AVAILABLE), None)


class Phase(enum.StrEnum):
    HOLDING = "holding"            # putting the customer on hold
    CONSULT_RINGING = "consult_ringing"
    CONSULTING = "consulting"      # agent 1 talks to the target
    CONSULT_FAILED = "consult_failed"  # customer on hold with agent 1
    COMPLETING = "completing"      # REFER sent, waiting for its result
    WAITING_FOR_AGENT = "waiting_for_agent"  # group: nobody Available yet
    QUEUED = "queued"              # the target answered 182 Queued
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"              # returned to agent 1


TERMINAL = frozenset({Phase.COMPLETED, Phase.CANCELLED, Phase.FAILED})
_NEXT: dict[Phase, frozenset[Phase]] = {
    Phase.HOLDING: frozenset({Phase.CONSULT_RINGING, Phase.COMPLETING, Phase.WAITING_FOR_AGENT,
                              Phase.CANCELLED, Phase.FAILED}),
    Phase.CONSULT_RINGING: frozenset({Phase.CONSULTING, Phase.CONSULT_FAILED, Phase.CANCELLED,
                                      Phase.FAILED}),
    Phase.CONSULTING: frozenset({Phase.COMPLETING, Phase.CONSULT_FAILED, Phase.CANCELLED,
                                 Phase.FAILED}),
    Phase.CONSULT_FAILED: frozenset({Phase.CANCELLED, Phase.FAILED}),
    Phase.WAITING_FOR_AGENT: frozenset({Phase.COMPLETING, Phase.FAILED, Phase.CANCELLED}),
    Phase.COMPLETING: frozenset({Phase.QUEUED, Phase.COMPLETED, Phase.FAILED, Phase.CONSULTING,
                                 Phase.CANCELLED}),
    Phase.QUEUED: frozenset({Phase.COMPLETED, Phase.FAILED, Phase.CANCELLED}),
}


@dataclass
class Transfer:
    """One transfer of one customer call.

    Attributes:
        transfer_id: process-unique id.
        kind: supervised or unsupervised.
        customer_call_id: the call being transferred.
        target: where it goes.
        pop: the screen pop sent along.
        phase: the current :class:`Phase`.
        consult_call_id: the consult call (supervised).
        status_code / reason: the last SIP result seen (reason: a sentence).
        started_at: monotonic start time.
    """

    transfer_id: str
    kind: TransferKind
    customer_call_id: str
    target: TransferTarget
    pop: ScreenPop
    phase: Phase = Phase.HOLDING
    consult_call_id: str = ""
    status_code: int = 0
    reason: str = ""
    started_at: float = field(default_factory=time.monotonic)
    fourth_party: str = "drop"
    refer_accepted: bool = False  # the far end accepted our REFER (202 or a NOTIFY)
    # The last status the customer's phone reported for the new call (REFER
    # accepted = 100, then each NOTIFY's code); 0 before any.
    notify_code: int = 0

    @property
    def new_call_pending(self) -> bool:
        """The customer's phone has (or is about to have) a call to the target
        that has no final answer yet: taking the customer back now would leave
        them with two live calls."""
        return 100 <= self.notify_code < 200

    @property
    def active(self) -> bool:
        return self.phase not in TERMINAL

    def advance(self, phase: Phase, code: int = 0, reason: str = "") -> bool:
        """Move to ``phase``; False (and no change) when already there.

        Raises :class:`InvalidStateError` for a move the rules do not allow.
        """
        if phase == self.phase:
            return False
        if phase not in _NEXT.get(self.phase, frozenset()):
            raise InvalidStateError(f"transfer {self.transfer_id} cannot go from "
                                    f"{self.phase} to {phase}")
        self.phase = phase
        if code:
            self.status_code = code
        if reason:
            self.reason = reason
        return True

    def to_json(self) -> dict[str, object]:
        return {
            "transfer_id": self.transfer_id,
            "kind": self.kind.value,
            "call_id": self.customer_call_id,
            "consult_call_id": self.consult_call_id or None,
            "target": self.target.to_json(),
            "phase": self.phase.value,
            "status_code": self.status_code,
            "reason": self.reason,
            "notify_code": self.notify_code,
        }
