"""Colleagues' live states: one presence subscription per directory agent.

Peer-to-peer (no presence server) a SUBSCRIBE goes straight to each agent's
softphone; through a server it goes to the presence server: each agent is
watched from the registered account of the agent's domain, so the SUBSCRIBE
follows that account's outbound proxy (the server) and answers its digest
challenge. Until such an account is registered the local account is used, and
the subscriptions move over when it registers. Agents publish their state as a
PIDF note written by :func:`softphone.core.agent_state.presence_note` (by
PUBLISH when the account has ``AccountSpec.publish``).

One subscription per agent, not one resource-list subscription (RFC 4662) per
group: pjsua2's buddy subscriptions accept only ``application/pidf+xml`` and
``application/xpidf+xml`` NOTIFY bodies (PJSIP's presence.c answers anything
else, such as RLMI's ``multipart/related``, with 415), and they do not send
``Supported: eventlist``, so a server's RLS would refuse them.
"""

from __future__ import annotations

import gc
import logging

import pjsua2 as pj
from PySide6.QtCore import QObject, Signal

from softphone.core.agent_state import AgentState, state_from_note
from softphone.core.directory import Directory, uri_key
from softphone.core.registration import RegistrationState
from softphone.core.sip_uri import parse_addr
from softphone.sip.accounts import AccountInfo, AccountManager
from softphone.sip.guard import guarded

log = logging.getLogger("softphone.sip.presence")

# pjsua's buddy table is a compile-time array of 256 (PJSUA_MAX_BUDDIES), and
# adding one more is a C assert that aborts the process, not an error.
MAX_WATCHED = 250


class SipBuddy(pj.Buddy):  # type: ignore[misc]
    """A subscription to one agent's presence."""

    def __init__(self, service: PresenceService, agent_id: str) -> None:
        super().__init__()
        self.service = service
        self.agent_id = agent_id

    @guarded
    def onBuddyState(self) -> None:
        self.service._on_buddy_state(self)


class PresenceService(QObject):
    """Keeps ``directory``'s agent states current from presence.

    Signals:
        agent_changed(str): an agent's live state changed (agent id).

    Attributes:
        directory: the directory whose agents are watched (shared, updated in place).
    """

    agent_changed = Signal(str)

    def __init__(self, accounts: AccountManager, directory: Directory,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._accounts = accounts
        self.directory = directory
        self._buddies: dict[str, SipBuddy] = {}
        # The account each agent is watched from, and a fixed one if asked for.
        self._buddy_account: dict[str, str] = {}
        self._fixed_account: str | None = None
        accounts.registration_changed.connect(self._on_registration)

    def watch(self, directory: Directory, account_id: str | None = None) -> None:
        """Subscribe to every agent of ``directory`` (replacing earlier ones),
        from ``account_id`` or else from the account that fits each agent."""
        self.clear()
        self.directory = directory
        self._fixed_account = account_id
        own = {uri_key(i.uri) for i in self._accounts.infos()}
        candidates = [a for a in directory.watch_order() if uri_key(a.uri) not in own]
        if len(candidates) > MAX_WATCHED:
            log.warning("the directory has %d agents; pjsua can watch %d: the states of "
                        "%d agents outside your own groups stay unknown", len(candidates),
                        MAX_WATCHED, len(candidates) - MAX_WATCHED)
        for agent in candidates[:MAX_WATCHED]:
            watch_from = account_id or self._account_for(agent.uri)
            acc = self._accounts.get(watch_from)
            buddy = SipBuddy(self, agent.agent_id)
            cfg = pj.BuddyConfig()
            cfg.uri = agent.uri
            cfg.subscribe = True
            try:
                buddy.create(acc, cfg)
            except pj.Error as exc:
                log.warning("cannot watch %s (%s): %s", agent.agent_id, agent.uri, exc.reason)
                continue
            log.debug("watching %s (%s) from %s", agent.agent_id, agent.uri, watch_from)
            self._buddies[agent.agent_id] = buddy
            self._buddy_account[agent.agent_id] = watch_from

    def clear(self) -> None:
        """Drop every subscription (before the directory changes or shutdown)."""
        self._buddies.clear()
        self._buddy_account.clear()
        gc.collect()

    def _account_for(self, uri: str) -> str:
        """The registered account of ``uri``'s domain (its proxy is the presence
        server), else the first registered account, else the local one."""
        host = _host(uri)
        for info in self._accounts.infos():
            if (not info.is_local and info.state == RegistrationState.REGISTERED
                    and host is not None and _host(info.uri) == host):
                return info.account_id
        return self._accounts.default_account_id()

    def _on_registration(self, info: AccountInfo) -> None:
        """An account registered: subscriptions made from a less fitting account
        (the local one, before registration) move to it."""
        if (info.state != RegistrationState.REGISTERED or self._fixed_account is not None
                or not self._buddies):
            return
        moved = [agent_id for agent_id, account_id in self._buddy_account.items()
                 if agent_id in self.directory.agents
                 and self._account_for(self.directory.agents[agent_id].uri) != account_id]
        if moved:
            log.info("presence: watching %s through %s now", ", ".join(moved), info.uri)
            self.watch(self.directory)

    def _on_buddy_state(self, buddy: SipBuddy) -> None:
        agent = self.directory.agents.get(buddy.agent_id)
        if agent is None:
            return
        info = buddy.getInfo()
        status = info.presStatus
        parsed = state_from_note(str(status.note))
        if status.status != pj.PJSUA_BUDDY_STATUS_ONLINE:
            state, reason = AgentState.LOGGED_OUT, ""
        elif parsed is not None:
            state, reason = parsed
        else:
            # Another kind of client: online but not telling its agent state.
            state, reason = AgentState.AVAILABLE, ""
        if (state, reason) != (agent.state, agent.reason):
            agent.state, agent.reason = state, reason
            log.info("presence: %s is %s", agent.agent_id, state.value)
            self.agent_changed.emit(agent.agent_id)


def _host(uri: str) -> str | None:
    parsed = parse_addr(uri)
    return parsed.host.lower() if parsed else None
