"""The agent directory: agents, agent groups and external presets.

IT provisions it; the Session Transfer screen shows it in three sections
(My Agent Groups, Agent Groups, External Presets); transfers resolve targets
against it; presence keeps each agent's live state in it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from softphone.core.agent_state import AgentState
from softphone.core.errors import InvalidParamsError
from softphone.core.sip_uri import parse_addr, parse_sip_uri

_ID_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


@dataclass
class Agent:
    """A colleague who can receive transfers.

    Attributes:
        agent_id: directory id (``agent:<id>`` in transfer targets).
        name: display name.
        uri: SIP URI of the agent's softphone.
        state: live state from presence (LOGGED_OUT until known).
        reason: Not Ready reason from presence, if any.
    """

    agent_id: str
    name: str
    uri: str
    state: AgentState = AgentState.LOGGED_OUT
    reason: str = ""


@dataclass
class AgentGroup:
    """Attributes:
    group_id: directory id (``group:<id>``).
    name: display name.
    members: agent ids, in hunting order.
    uri: optional group URI (a server hunt group or fork).
    presence_list: optional resource-list URI (RFC 4662) on the presence
        server that expands to the members' presence: one subscription
        watches the whole group.
    """

    group_id: str
    name: str
    members: list[str] = field(default_factory=list)
    uri: str = ""
    presence_list: str = ""


@dataclass
class Preset:
    """A pre-defined (external) number owned by another agent group.

    Attributes:
        preset_id: directory id (``preset:<id>``).
        name: display name.
        number: what is dialled (a number or a SIP URI).
        group_id: the owning group, if any.
    """

    preset_id: str
    name: str
    number: str
    group_id: str = ""


@dataclass
class Directory:
    """Attributes:
    agents / groups / presets: by id.
    my_groups: ids of the groups the signed-in agent belongs to.
    """

    agents: dict[str, Agent] = field(default_factory=dict)
    groups: dict[str, AgentGroup] = field(default_factory=dict)
    presets: dict[str, Preset] = field(default_factory=dict)
    my_groups: list[str] = field(default_factory=list)

    def agent_by_uri(self, uri: str) -> Agent | None:
        key = uri_key(uri)
        for agent in self.agents.values():
            if uri_key(agent.uri) == key:
                return agent
        return None

    def watch_order(self) -> list[Agent]:
        """Agents most worth knowing the state of first: my groups' members,
        then other groups' members, then the rest (each in directory order)."""
        seen: dict[str, Agent] = {}
        groups = [g for g in self.my_groups if g in self.groups]
        groups += [g for g in self.groups if g not in groups]
        for group_id in groups:
            for agent in self.members(group_id):
                seen.setdefault(agent.agent_id, agent)
        for agent in self.agents.values():
            seen.setdefault(agent.agent_id, agent)
        return list(seen.values())

    def members(self, group_id: str) -> list[Agent]:
        group = self.groups[group_id]
        return [self.agents[a] for a in group.members if a in self.agents]

    def to_json(self) -> dict[str, Any]:
        return {
            "agents": [
                {"id": a.agent_id, "name": a.name, "uri": a.uri, "state": a.state.value,
                 "reason": a.reason}
                for a in self.agents.values()
            ],
            "groups": [
                {"id": g.group_id, "name": g.name, "members": list(g.members), "uri": g.uri,
                 "presence_list": g.presence_list}
                for g in self.groups.values()
            ],
            "presets": [
                {"id": p.preset_id, "name": p.name, "number": p.number, "group": p.group_id}
                for p in self.presets.values()
            ],
            "my_groups": list(self.my_groups),
        }

    @classmethod
    def from_json(cls, data: Any) -> Directory:
        """Build from the JSON shape of :meth:`to_json` (states are ignored).

        Raises :class:`InvalidParamsError` naming the first bad entry.
        """
        if not isinstance(data, dict):
            raise InvalidParamsError("the directory must be an object")
        directory = cls()
        for i, raw in enumerate(_list(data, "agents")):
            where = f"agents[{i}]"
            agent = Agent(_id(raw, where), _text(raw, "name", where), _uri(raw, "uri", where))
            directory.agents[agent.agent_id] = agent
        for i, raw in enumerate(_list(data, "groups")):
            where = f"groups[{i}]"
            members = raw.get("members", [])
            if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
                raise InvalidParamsError(f"{where}.members must be a list of agent ids")
            unknown = [m for m in members if m not in directory.agents]
            if unknown:
                raise InvalidParamsError(f"{where}.members: unknown agent(s) {unknown}")
            uri = _uri(raw, "uri", where) if raw.get("uri") else ""
            presence_list = (_uri(raw, "presence_list", where) if raw.get("presence_list")
                             else "")
            group = AgentGroup(_id(raw, where), _text(raw, "name", where), list(members), uri,
                               presence_list)
            directory.groups[group.group_id] = group
        for i, raw in enumerate(_list(data, "presets")):
            where = f"presets[{i}]"
            group_id = raw.get("group", "") or ""
            if group_id and group_id not in directory.groups:
                raise InvalidParamsError(f"{where}.group: unknown group {group_id!r}")
            preset = Preset(_id(raw, where), _text(raw, "name", where),
                            _text(raw, "number", where), group_id)
            directory.presets[preset.preset_id] = preset
        my_groups = data.get("my_groups", [])
        if not isinstance(my_groups, list) or any(g not in directory.groups for g in my_groups):
            raise InvalidParamsError("my_groups must list known group ids")
        directory.my_groups = list(my_groups)
        return directory


def uri_key(uri: str) -> str:
    """Compare URIs by user@host:port, ignoring scheme case, display names,
    params and brackets."""
    parsed = parse_addr(uri)
    if parsed is None:
        return uri.strip().lower()
    return f"{parsed.user or ''}@{parsed.host.lower()}:{parsed.port or ''}"


def _list(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InvalidParamsError(f"{key} must be a list of objects")
    return value


def _id(raw: dict[str, Any], where: str) -> str:
    value = raw.get("id")
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise InvalidParamsError(f"{where}.id must be 1-64 of letters, digits, '_', '.', '-'")
    return value


def _text(raw: dict[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > 256:
        raise InvalidParamsError(f"{where}.{key} must be a non-empty string (max 256)")
    return value


def _uri(raw: dict[str, Any], key: str, where: str) -> str:
    value = _text(raw, key, where)
    try:
        return str(parse_sip_uri(value))
    except Exception as exc:
        raise InvalidParamsError(f"{where}.{key}: {exc}") from None
