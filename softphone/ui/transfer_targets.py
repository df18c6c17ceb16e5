"""What the Session Transfer screen transfers to, and how progress reads.

No widgets here: the Manual Transfer field's text checked against the dial
plan and IT's transfer policy, the reasons an action is refused, and the
status line of a transfer in progress.
"""

from __future__ import annotations

from dataclasses import dataclass

from softphone.config.dialplan import check_number
from softphone.config.schema import DialPlan
from softphone.core.directory import Directory
from softphone.core.errors import SoftphoneError, TransferNotAllowedError
from softphone.core.sip_uri import parse_sip_uri
from softphone.core.transfer import (
    Phase,
    TargetKind,
    Transfer,
    TransferKind,
    TransferTarget,
    check_allowed,
)
from softphone.ui.text import one_line

NO_TARGET = "Select a target or enter a number first."
NO_CALL = "Select a connected call to transfer."
_PHASE_TEXT = {
    Phase.HOLDING: "putting the customer on hold\u2026",
    Phase.CONSULT_RINGING: "calling {target}\u2026",
    Phase.CONSULTING: "talking to {target}: Complete or Cancel",
    Phase.COMPLETING: "transferring to {target}\u2026",
    Phase.WAITING_FOR_AGENT: "waiting for an Available agent in {target}",
    Phase.QUEUED: "queued for {target}",
    Phase.COMPLETED: "transferred to {target}",
    Phase.CANCELLED: "cancelled: back with the customer",
}


@dataclass(frozen=True)
class TargetChoice:
    """What the agent picked or typed.

    Attributes:
        target: the text given to the transfer manager (``agent:ID``, a number...).
        kind: agent, group, preset or external.
        label: what the agent sees.
        problem: why it cannot be submitted ("" when it can).
    """

    target: str
    kind: TargetKind
    label: str
    problem: str = ""


def unsupervised_problem(kind: TargetKind) -> str:
    """Why an unsupervised transfer to a ``kind`` target is refused ("" = allowed)."""
    try:
        check_allowed(TransferKind.UNSUPERVISED, TransferTarget(kind, "", ""))
    except TransferNotAllowedError as exc:
        return str(exc)
    return ""


def manual_target(text: str, directory: Directory, dial_plan: DialPlan | None = None, *,
                  external_allowed: bool = True,
                  allowed_domains: list[str] | None = None) -> TargetChoice | None:
    """The Manual Transfer field's text as a target (None when it is empty): a
    SIP address (a directory agent's is that agent) or a number checked
    against the dial plan; ``problem`` says why it cannot be submitted."""
    text = text.strip()
    if not text:
        return None
    uri = ""
    if text.lower().startswith(("sip:", "sips:")) or "@" in text:
        try:
            uri = str(parse_sip_uri(text if ":" in text.split("@")[0] else f"sip:{text}"))
        except SoftphoneError as exc:
            return TargetChoice(text, TargetKind.EXTERNAL, text, str(exc))
        agent = directory.agent_by_uri(uri)
        if agent is not None:
            return TargetChoice(f"agent:{agent.agent_id}", TargetKind.AGENT, agent.name)
        text = uri
    else:
        check = check_number(text, dial_plan)
        if not check.ok:
            return TargetChoice(text, TargetKind.EXTERNAL, text, check.reason)
        text = check.normalised
    try:
        check_allowed(TransferKind.SUPERVISED, TransferTarget(TargetKind.EXTERNAL, uri, text),
                      external_allowed=external_allowed, allowed_domains=allowed_domains)
    except SoftphoneError as exc:
        return TargetChoice(text, TargetKind.EXTERNAL, text, str(exc))
    return TargetChoice(text, TargetKind.EXTERNAL, text)


def progress_text(transfer: Transfer, *, conference: bool = False) -> str:
    """One status line for ``transfer`` (plain text); ``conference``: a four-way
    conference is mixing while it consults."""
    template = _PHASE_TEXT.get(transfer.phase)
    if conference and transfer.phase == Phase.CONSULTING:
        template = ("in a conference with {target}: Complete sends the customer to "
                    "{target}, Cancel returns you to the customer alone")
    label = one_line(transfer.target.label, 60)
    failed = transfer.phase in (Phase.CONSULT_FAILED, Phase.FAILED) or (
        transfer.phase == Phase.CONSULTING and transfer.status_code >= 300)
    if template is None or (failed and transfer.reason):
        text = transfer.reason or transfer.phase.value
    else:
        text = template.format(target=label)
    return one_line(f"{transfer.kind.value.capitalize()} transfer: {text}", 300)
