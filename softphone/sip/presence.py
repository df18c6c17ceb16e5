"""Colleagues' live states: one presence subscription per directory agent.

Peer-to-peer (no presence server) a SUBSCRIBE goes straight to each agent's
softphone; through a server it goes to the presence server. Agents publish
their state as a PIDF note written by :func:`softphone.core.agent_state.presence_note`.
"""

from __future__ import annotations

import gc
import logging

import pjsua2 as pj
from PySide6.QtCore import QObject, Signal

from softphone.core.agent_state import AgentState, state_from_note
from softphone.core.directory import Directory, _uri_key
from softphone.sip.accounts import AccountManager
from softphone.sip.guard import guarded

log = logging.getLogger("softphone.sip.presence")


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

    def watch(self, directory: Directory, account_id: str | None = None) -> None:
        """Subscribe to every agent of ``directory`` (replacing earlier ones)."""
        self.clear()
        self.directory = directory
        account_id = account_id or self._accounts.default_account_id()
        acc = self._accounts.get(account_id)
        own = {_uri_key(i.uri) for i in self._accounts.infos()}
        for agent in directory.agents.values():
            if _uri_key(agent.uri) in own:
                continue  # ourselves: our own state is known without asking
            buddy = SipBuddy(self, agent.agent_id)
            cfg = pj.BuddyConfig()
            cfg.uri = agent.uri
            cfg.subscribe = True
            try:
                buddy.create(acc, cfg)
            except pj.Error as exc:
                log.warning("cannot watch %s (%s): %s", agent.agent_id, agent.uri, exc.reason)
                continue
            self._buddies[agent.agent_id] = buddy

    def clear(self) -> None:
        """Drop every subscription (before the directory changes or shutdown)."""
        self._buddies.clear()
        gc.collect()

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
