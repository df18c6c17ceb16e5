"""The provisioning schema: every key IT can set, declared once.

pydantic (v2) does the validation: types, ranges, patterns and unknown keys,
with an exact key path for each error (turned into file:line by
:mod:`softphone.config.provisioning`). It is the most widely used and best
maintained validation library for Python, and its field descriptions feed the
key reference in ``docs/provisioning.md``, so the documentation cannot drift
from what the app accepts.

The tables in :data:`LOCKABLE_SECTIONS` also exist in the user settings: a key
IT writes is locked, a key IT leaves out is a user default.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from softphone.config.valuetypes import (
    CodecStr,
    HostnameStr,
    Identifier,
    Name,
    NumberOrUri,
    OptIdentifier,
    OptServerStr,
    OptSipUriStr,
    Port,
    RegexStr,
    ReturnTo,
    Section,
    SipUriStr,
    Srtp,
    Transport,
    UrlTemplate,
)

SCHEMA_VERSION = 1


class Account(Section):
    """A SIP account to register. Passwords never appear here: they live in the keyring."""

    id: Identifier = Field(
        description="Stable id of the account; the keyring entry is keyed by it.")
    aor: SipUriStr = Field(description="Address of record, e.g. `sip:1001@pbx.example.com`.")
    server: OptServerStr = Field(
        default="", description="Registrar as `host[:port]` or a SIP URI; empty = the AOR's host.")
    transport: Transport = Field(default="udp", description="`udp`, `tcp` or `tls`.")
    user: str = Field(default="", max_length=128,
                      description="Authentication user name; empty = the AOR's user part.")
    realm: str = Field(default="*", max_length=128, description="Digest realm; `*` accepts any.")
    proxy: OptSipUriStr = Field(default="", description="Outbound proxy URI, if any.")
    display_name: str = Field(default="", max_length=128,
        description="Name shown to called parties.")
    registration: bool = Field(default=True,
        description="Send REGISTER (false: outbound calls only).")
    expires: int = Field(default=300, ge=60, le=86400,
        description="Registration lifetime asked for, s.")
    presence: Literal["peer", "publish"] = Field(default="peer",
        description="How colleagues see this agent's state: `peer` answers their SUBSCRIBEs "
                    "directly; `publish` sends PUBLISH to the registrar's presence server "
                    "(through the proxy, if any) and colleagues subscribe there.")


class Security(Section):
    """Transport and media security policy."""

    tls_required: bool = Field(default=False,
        description="Every account must use `transport = \"tls\"`.")
    srtp: Srtp = Field(default="off",
        description="Media encryption: `off`, `optional` or `mandatory`.")
    allowed_transfer_domains: list[HostnameStr] = Field(
        default_factory=list,
        description="Domains SIP transfer targets may be in (`*.example.com` allowed); "
                    "empty = any.")
    allow_user_accounts: bool = Field(
        default=True,
            description="Agents may add their own SIP accounts besides the provisioned ones.")


class Codecs(Section):
    """Audio codecs offered in calls."""

    priority: list[CodecStr] = Field(
        default_factory=lambda: ["G722/16000", "PCMU/8000", "PCMA/8000"], min_length=1,
        description="Codec ids, most preferred first; codecs not listed are disabled.")


class Features(Section):
    """Feature switches of the Session Transfer screen."""

    session_transfer: bool = Field(default=True,
        description="Show Session Transfer (off = hidden).")
    four_way_conference: bool = Field(
        default=False,
            description="Offer a Call button to add a fourth party in a supervised transfer.")
    manual_external_transfer: bool = Field(
        default=False,
            description="Allow manually entered external numbers (checked by the dial plan).")


class AgentPolicy(Section):
    """Agent states."""

    not_ready_reasons: list[Name] = Field(
        default_factory=lambda: ["Break", "Lunch", "Meeting", "Training"],
        description="Not Ready reason codes the agent chooses from; empty = free text.")
    wrap_up_seconds: int = Field(
        default=0, ge=0, le=3600, description="After Call Work length in seconds; 0 = no wrap-up.")
    wrap_up_returns_to: ReturnTo = Field(
        default="available",
        description="After wrap-up go to `available`, or back to the `previous` chosen state.")


class TransferPolicy(Section):
    """Transfers."""

    queued_max_hold_seconds: int = Field(
        default=60, ge=5, le=3600,
        description="How long a transfer queued for a busy agent waits before it is given up "
                    "and returned to the sender.")


class LoggingPolicy(Section):
    """Log files."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO",
        description="Log level.")
    sip_trace: bool = Field(default=False,
        description="Log every SIP message (credentials redacted).")


class AutomationPolicy(Section):
    """The local automation API (CRM click-to-dial)."""

    enabled: bool = Field(default=False, description="Serve the automation API on 127.0.0.1.")
    port: Port = Field(default=0, description="Its TCP port; 0 = any free port (see api.json).")


class Identity(Section):
    """Who the agent at this desktop is (for per-agent provisioning URLs)."""

    agent_id: OptIdentifier = Field(
        default="", description="The agent's id in `directory.agents`; empty = not known.")
    groups: list[Identifier] = Field(
        default_factory=list,
        description="The agent's groups (My Agent Groups); empty = the groups listing agent_id.")


class DirectoryAgent(Section):
    """A colleague who can receive transfers."""

    id: Identifier = Field(description="Agent id, referenced by group members.")
    name: Name = Field(description="Display name.")
    uri: SipUriStr = Field(description="SIP URI of the agent's softphone.")


class DirectoryGroup(Section):
    """An agent group."""

    id: Identifier = Field(description="Group id.")
    name: Name = Field(description="Display name.")
    members: list[Identifier] = Field(
        default_factory=list, description="Agent ids, in hunting order.")
    uri: OptSipUriStr = Field(
        default="", description="Optional group URI (a server hunt group); empty = the app hunts.")
    presence_list: OptSipUriStr = Field(
        default="", description="Optional resource-list URI on the presence server that expands "
        "to the members (RFC 4662, e.g. `sip:sales-list@example.com`): one subscription "
        "watches the group; if the server does not offer it, each member is watched alone.")


class DirectoryPreset(Section):
    """A pre-defined external number."""

    id: Identifier = Field(description="Preset id.")
    name: Name = Field(description="Display name.")
    number: NumberOrUri = Field(description="Number (`+4420...`) or SIP URI to dial.")
    group: OptIdentifier = Field(default="", description="Owning agent group id, if any.")


class DirectoryConfig(Section):
    """The transfer directory."""

    agents: list[DirectoryAgent] = Field(default_factory=list, description="Agents.")
    groups: list[DirectoryGroup] = Field(default_factory=list, description="Agent groups.")
    presets: list[DirectoryPreset] = Field(default_factory=list, description="External presets.")


class DialPattern(Section):
    """One allowed shape of manually entered number."""

    name: Name = Field(description="What the pattern is, shown when a number is refused.")
    regex: RegexStr = Field(description="Python regular expression the whole number must match.")


def _default_patterns() -> list[DialPattern]:
    return [DialPattern(name="E.164", regex=r"^\+[1-9]\d{6,14}$"),
            DialPattern(name="Internal extension", regex=r"^\d{3,5}$")]


class DialPlan(Section):
    """Checks on manually entered numbers before dialling."""

    patterns: list[DialPattern] = Field(
        default_factory=_default_patterns,
        description="Allowed patterns (at least one must match the normalised number).")
    international_prefix: str = Field(
        default="", pattern=r"^\d{0,4}$",
        description="A dialled prefix meaning `+` (e.g. `00`); empty = none.")


class Crm(Section):
    """Screen pop into the CRM."""

    url_template: UrlTemplate = Field(
        default="", description="http(s) URL with `{field}` placeholders filled from the call "
                        "(e.g. `{number}`, `{case_id}`), percent-encoded; empty = no CRM link.")


class LockableSections(Section):
    """Tables that are both IT's provisioning and the user's settings: a key IT
    writes is locked, the others are user defaults. Declared once, here."""

    codecs: Codecs = Field(default_factory=lambda: Codecs(), description="Codecs.")
    features: Features = Field(default_factory=lambda: Features(), description="Feature switches.")
    agent: AgentPolicy = Field(default_factory=lambda: AgentPolicy(), description="Agent states.")
    transfer: TransferPolicy = Field(default_factory=lambda: TransferPolicy(),
        description="Transfers.")
    logging: LoggingPolicy = Field(default_factory=lambda: LoggingPolicy(), description="Logging.")
    automation: AutomationPolicy = Field(
        default_factory=lambda: AutomationPolicy(), description="Automation API.")


#: Tables that are also user settings: IT's keys lock, the rest are user defaults.
LOCKABLE_SECTIONS: tuple[str, ...] = tuple(LockableSections.model_fields)


class Provisioning(LockableSections):
    """The whole provisioning file."""

    schema_version: Literal[1] = Field(default=1, description="Format version; always 1.")
    accounts: list[Account] = Field(default_factory=list, description="SIP accounts.")
    security: Security = Field(default_factory=lambda: Security(), description="Security policy.")
    identity: Identity = Field(default_factory=lambda: Identity(), description="This agent.")
    directory: DirectoryConfig = Field(default_factory=lambda: DirectoryConfig(),
        description="Directory.")
    dial_plan: DialPlan = Field(default_factory=lambda: DialPlan(), description="Dial plan.")
    crm: Crm = Field(default_factory=lambda: Crm(), description="CRM screen pop.")

