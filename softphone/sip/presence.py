"""Colleagues' live states: one resource-list subscription per agent group
where the presence server offers it, else one presence subscription per agent.

Agents publish their state as a PIDF note written by
:func:`softphone.core.agent_state.presence_note` (by PUBLISH when the account
has ``AccountSpec.publish``); colleagues are watched in one of two ways:

* **Resource lists (RFC 4662).** A group provisioned with a ``presence_list``
  URI (e.g. ``sip:sales-list@example.com``, a list the presence server's RLS
  expands to the group's members, like Kamailio's ``rls``) is watched with a
  single SUBSCRIBE to that URI, from the registered account of the list's
  domain (through its outbound proxy, answering its digest challenges). pjsua2
  cannot do this (its buddies accept only ``application/pidf+xml`` and
  ``application/xpidf+xml`` NOTIFYs, answer RLMI's ``multipart/related`` with
  415, send no ``Supported: eventlist``, and it has no generic SUBSCRIBE API),
  so :mod:`softphone.sip.rls` is a small SUBSCRIBE dialog client of its own on
  the Qt main thread, and :mod:`softphone.core.rlmi` reads the bodies. The
  agents the server's list holds (from its full-state NOTIFY) get no per-agent
  subscription, so a directory of thousands of agents in groups is not bound
  by pjsua's buddy table. While a list subscription starts (until
  :data:`LIST_SETTLE_MS` after its first full state), its group's members wait
  for it rather than being subscribed twice.
* **Per agent (fallback).** Everyone else (groups without a list, lists the
  server does not offer: an error answer, no answer, a NOTIFY without RLMI;
  members missing from the server's list; TLS accounts; agents in no group)
  gets a pjsua2 ``Buddy`` subscription. Peer-to-peer (no presence server) a
  SUBSCRIBE goes straight to each agent's softphone; through a server it goes
  to the presence server: each agent is watched from the registered account
  of the agent's domain. Until such an account is registered the local account
  is used, and the subscriptions move over when it registers. pjsua's buddy
  table holds 256 (one more is a C assert that aborts the process), so at most
  :data:`MAX_WATCHED` agents are watched this way, those of the agent's own
  groups first.
"""

from __future__ import annotations

import gc
import logging
from functools import partial

import pjsua2 as pj
from PySide6.QtCore import QObject, QTimer, Signal

from softphone.core.agent_state import AgentState, state_from_note
from softphone.core.directory import Directory, uri_key
from softphone.core.registration import RegistrationState
from softphone.core.rlmi import ListNotification
from softphone.core.sip_uri import parse_addr
from softphone.sip.accounts import AccountInfo, AccountManager
from softphone.sip.guard import guarded
from softphone.sip.rls import ListAccount, ListSubscription

log = logging.getLogger("softphone.sip.presence")

# pjsua's buddy table is a compile-time array of 256 (PJSUA_MAX_BUDDIES), and
# adding one more is a C assert that aborts the process, not an error.
MAX_WATCHED = 250
# A server may split a big list's full state over several NOTIFYs (Kamailio
# does past its max_notify_body_length): members missing from the first are
# only watched one by one if the rest have not come this long after it.
LIST_SETTLE_MS = 2000


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
        # Group id -> its running list subscription; the agents each list
        # holds (known after its first full state); groups whose list failed.
        self._lists: dict[str, ListSubscription] = {}
        self._list_agents: dict[str, set[str]] = {}
        self._list_settled: set[str] = set()
        self._lists_failed: dict[str, bool] = {}  # group id -> worth retrying later
        self._by_uri: dict[str, str] = {}
        # Parsing URIs shows when thousands of agents are listed: each agent's
        # key once per directory, each resource URI a list names once.
        self._agent_keys: dict[str, str] = {}
        self._resource_agents: dict[str, str | None] = {}
        self._capped_at = 0
        self._reg_states: dict[str, RegistrationState] = {}
        accounts.registration_changed.connect(self._on_registration)

    def watch(self, directory: Directory, account_id: str | None = None) -> None:
        """Watch every agent of ``directory`` (replacing earlier subscriptions),
        from ``account_id`` or else from the account that fits each agent or list."""
        self.clear()
        self.directory = directory
        self._fixed_account = account_id
        self._agent_keys = {a.agent_id: uri_key(a.uri) for a in directory.agents.values()}
        self._by_uri = {key: agent_id for agent_id, key in self._agent_keys.items()}
        self._resource_agents = {}
        self._start_lists()
        self._sync_buddies()

    def clear(self) -> None:
        """Drop every subscription (before the directory changes or shutdown);
        list subscriptions are ended with an unsubscribe."""
        for sub in self._lists.values():
            sub.stop()
            sub.deleteLater()
        self._lists.clear()
        self._list_agents.clear()
        self._list_settled.clear()
        self._lists_failed.clear()
        self._capped_at = 0
        had_buddies = bool(self._buddies)
        self._buddies.clear()
        self._buddy_account.clear()
        if had_buddies:  # a full collection costs tens of ms on the Qt thread
            gc.collect()

    def list_states(self) -> dict[str, str]:
        """Group id -> how its presence list is doing: ``starting``, ``active``
        or ``failed`` (groups without a list are not listed)."""
        out = {g: "failed" for g in self._lists_failed}
        for group_id in self._lists:
            out[group_id] = "active" if group_id in self._list_settled else "starting"
        return out

    # -- resource lists -----------------------------------------------------------

    def _start_lists(self) -> None:
        """Subscribe to the list of every group that has one and can use it now."""
        for group_id in self._group_order():
            group = self.directory.groups[group_id]
            if (not group.presence_list or group_id in self._lists
                    or group_id in self._lists_failed):
                continue
            account_id = self._fixed_account or self._account_for(group.presence_list)
            account = self._list_account(account_id)
            if account is None:
                continue  # no registered UDP/TCP account yet: per agent until then
            sub = ListSubscription(account, group.presence_list, self,
                                   credentials=partial(self._accounts.spec, account_id))
            sub.notified.connect(lambda n, g=group_id: self._on_list_notified(g, n))
            sub.failed.connect(lambda reason, g=group_id, s=sub: self._on_list_failed(g, s,
                                                                                      reason))
            self._lists[group_id] = sub
            log.info("presence: watching group %s through its list %s from %s", group_id,
                     group.presence_list, account_id)
            sub.start()

    def _group_order(self) -> list[str]:
        groups = [g for g in self.directory.my_groups if g in self.directory.groups]
        return groups + [g for g in self.directory.groups if g not in groups]

    def _list_account(self, account_id: str) -> ListAccount | None:
        """Where a list is subscribed from: a registered account of ours over
        UDP or TCP, with the credentials it registers with; else None."""
        info = next((i for i in self._accounts.infos() if i.account_id == account_id), None)
        if info is None or info.is_local or info.state != RegistrationState.REGISTERED:
            return None
        spec = self._accounts.spec(account_id)
        if spec is None or spec.transport not in ("udp", "tcp"):
            return None
        aor = parse_addr(info.uri)
        if aor is None:
            return None
        registrar = spec.registrar or f"sip:{aor.host}" + (f":{aor.port}" if aor.port else "")
        return ListAccount(aor=info.uri, username=spec.username or aor.user or "",
                           password=spec.password, realm=spec.realm, transport=spec.transport,
                           proxy=spec.proxy, registrar=registrar,
                           bind_address=self._accounts.bind_address)

    def _on_list_notified(self, group_id: str, notification: ListNotification) -> None:
        if group_id not in self._lists:
            return
        known = self._list_agents.get(group_id)
        first = known is None
        held = set() if notification.full_state or known is None else set(known)
        for uri, state in notification.states.items():
            agent_id = self._agent_of_resource(uri)
            if agent_id is None:
                continue  # on the server's list, not in our directory
            held.add(agent_id)
            if state is not None:
                self._set_state(agent_id, *state)
        self._list_agents[group_id] = held
        if first:
            sub = self._lists[group_id]
            QTimer.singleShot(LIST_SETTLE_MS, self, lambda: self._list_settle(group_id, sub))
        if held != known and group_id in self._list_settled:
            self._sync_buddies()

    def _agent_of_resource(self, uri: str) -> str | None:
        """The directory agent a list's resource URI stands for (None: not ours)."""
        try:
            return self._resource_agents[uri]
        except KeyError:
            if len(self._resource_agents) > 4 * len(self._by_uri) + 1000:
                self._resource_agents.clear()  # a server naming ever new URIs
            agent_id = self._resource_agents[uri] = self._by_uri.get(uri_key(uri))
            return agent_id

    def _agent_key(self, agent_id: str, uri: str) -> str:
        key = self._agent_keys.get(agent_id)
        return key if key is not None else uri_key(uri)

    def _list_settle(self, group_id: str, sub: ListSubscription) -> None:
        """The list's full state is in: members it lacks are watched one by one."""
        if self._lists.get(group_id) is not sub:
            return
        self._list_settled.add(group_id)
        group = self.directory.groups[group_id]
        held = self._list_agents.get(group_id, set())
        missing = [m for m in group.members if m not in held]
        log.info("presence: group %s: list %s active (%d agents)%s", group_id,
                 group.presence_list, len(held),
                 f"; not on it, watched one by one: {', '.join(missing[:20])}"
                 + (f" and {len(missing) - 20} more" if len(missing) > 20 else "")
                 if missing else "")
        self._sync_buddies()

    def _on_list_failed(self, group_id: str, sub: ListSubscription, reason: str) -> None:
        if self._lists.get(group_id) is not sub:
            return
        del self._lists[group_id]
        sub.deleteLater()
        self._list_agents.pop(group_id, None)
        self._list_settled.discard(group_id)
        self._lists_failed[group_id] = sub.transient_failure
        log.warning("presence: group %s: the presence server does not offer the list %s (%s): "
                    "watching its members one by one", group_id, sub.list_uri, reason)
        self._sync_buddies()

    # -- per-agent buddies --------------------------------------------------------

    def _sync_buddies(self) -> None:
        """Make the buddies match what is wanted: every agent but our own
        accounts, those a list holds and those waiting for a starting list."""
        held: set[str] = set()
        for group_id in self._lists:
            held |= self._list_agents.get(group_id, set())
            if group_id not in self._list_settled:  # its members wait for it
                held |= set(self.directory.groups[group_id].members)
        own = {uri_key(i.uri) for i in self._accounts.infos()}
        wanted = [a for a in self.directory.watch_order()
                  if a.agent_id not in held and self._agent_key(a.agent_id, a.uri) not in own]
        if len(wanted) > MAX_WATCHED and len(wanted) != self._capped_at:
            self._capped_at = len(wanted)
            log.warning("the directory has %d agents to watch one by one; pjsua can watch %d: "
                        "the states of %d agents outside your own groups stay unknown",
                        len(wanted), MAX_WATCHED, len(wanted) - MAX_WATCHED)
        target = {a.agent_id: self._fixed_account or self._account_for(a.uri)
                  for a in wanted[:MAX_WATCHED]}
        dropped = [a for a in self._buddies if self._buddy_account.get(a) != target.get(a)]
        moved = [a for a in dropped if a in target]
        for agent_id in dropped:  # first: pjsua's table must have room for the new ones
            del self._buddies[agent_id]
            del self._buddy_account[agent_id]
        if dropped:
            gc.collect()
        if moved:
            log.info("presence: watching %s through another account now", ", ".join(moved))
        for agent_id, watch_from in target.items():
            if agent_id in self._buddies:
                continue
            agent = self.directory.agents[agent_id]
            acc = self._accounts.get(watch_from)
            buddy = SipBuddy(self, agent_id)
            cfg = pj.BuddyConfig()
            cfg.uri = agent.uri
            cfg.subscribe = True
            try:
                buddy.create(acc, cfg)
            except pj.Error as exc:
                log.warning("cannot watch %s (%s): %s", agent_id, agent.uri, exc.reason)
                continue
            log.debug("watching %s (%s) from %s", agent_id, agent.uri, watch_from)
            self._buddies[agent_id] = buddy
            self._buddy_account[agent_id] = watch_from

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
        """An account became registered: lists waiting for one start (and
        lists that failed for want of an answer are tried again), running lists
        are refreshed (a restarted server forgot them), and subscriptions made
        from a less fitting account move to it."""
        previous = self._reg_states.get(info.account_id)
        self._reg_states[info.account_id] = info.state
        if info.state != RegistrationState.REGISTERED or previous == RegistrationState.REGISTERED:
            return
        for sub in self._lists.values():
            if sub.account.aor == info.uri:
                sub.refresh_now()
        for group_id, transient in list(self._lists_failed.items()):
            if transient:
                del self._lists_failed[group_id]
        self._start_lists()
        self._sync_buddies()

    def _on_buddy_state(self, buddy: SipBuddy) -> None:
        if buddy.agent_id not in self.directory.agents:
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
        self._set_state(buddy.agent_id, state, reason)

    def _set_state(self, agent_id: str, state: AgentState, reason: str) -> None:
        agent = self.directory.agents.get(agent_id)
        if agent is None or (state, reason) == (agent.state, agent.reason):
            return
        agent.state, agent.reason = state, reason
        # Debug, not info: a directory of thousands of agents changes state
        # all day, and formatting a line per change showed in the event loop.
        log.debug("presence: %s is %s", agent_id, state.value)
        self.agent_changed.emit(agent_id)


def _host(uri: str) -> str | None:
    parsed = parse_addr(uri)
    return parsed.host.lower() if parsed else None
