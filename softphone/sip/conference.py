"""Four-way conferencing during a supervised transfer, mixed at agent 1.

Agent 1 is consulting the target while the customer is on hold; Call adds a
fourth party. The call is placed while the others wait; once it answers the
customer is taken off hold and, when every leg's media is active, the
conference bridge mixes customer, target, fourth party and agent 1 (a full
mesh of links, in C: no Python on the audio path).

Exits: Cancel (the transfer's) leaves agent 1 with the customer alone;
Complete sends the customer to the target and drops the fourth party (or
sends them to the target too); a customer who hangs up leaves the others
connected until agent 1 ends it.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal

from softphone.core.agent_state import CallActivity
from softphone.core.calls import CallSnapshot, CallState
from softphone.core.conference import (
    Conference,
    Party,
    PartyRole,
    PartyState,
    check_enabled,
)
from softphone.core.errors import InvalidStateError, SoftphoneError
from softphone.core.ids import IdFactory
from softphone.core.screen_pop import refer_to_uri
from softphone.core.transfer import Phase, Transfer, TransferKind, check_allowed
from softphone.sip.agent import AgentService
from softphone.sip.calls import CallManager
from softphone.sip.transfers import TransferManager

log = logging.getLogger("softphone.sip.conference")


class ConferenceManager(QObject):
    """Runs the agent's (one) local conference.

    Signals:
        changed(Conference): any change; ``ended`` in its JSON when it is over.

    Attributes:
        enabled: IT's four-way conferencing switch.
    """

    changed = Signal(object)

    def __init__(self, calls: CallManager, transfers: TransferManager, agent: AgentService,
                 ids: IdFactory, enabled: bool = False, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._calls = calls
        self._transfers = transfers
        self._agent = agent
        self._ids = ids
        self.enabled = enabled
        self._conf: Conference | None = None
        self._sent_along: set[str] = set()
        calls.mixes = self._mixes
        calls.agent_absent = self._agent_absent
        calls.call_changed.connect(self._on_call_changed)
        calls.transfer_status.connect(self._on_transfer_status)
        transfers.progress.connect(self._on_transfer_progress)

    # -- queries ------------------------------------------------------------------

    def current(self) -> Conference | None:
        return self._conf

    def parties(self) -> list[Party]:
        return list(self._conf.parties.values()) if self._conf else []

    def _mixes(self) -> list[set[str]]:
        return [self._conf.mixing()] if self._conf else []

    def _agent_absent(self) -> set[str]:
        if self._conf is None or self._conf.agent_present:
            return set()
        return self._conf.mixing()

    # -- operations ---------------------------------------------------------------

    def add_party(self, target_text: str) -> str:
        """Call a fourth party during a supervised transfer's consultation."""
        check_enabled(self.enabled)
        t = self._transfers.active()
        if self._conf is None:
            if t is None or t.kind != TransferKind.SUPERVISED or t.phase != Phase.CONSULTING:
                raise InvalidStateError(
                    "a fourth party can be added while consulting in a supervised transfer")
            conf = Conference(self._ids.new("conf"), t.transfer_id)
            conf.add(t.customer_call_id, PartyRole.CUSTOMER, t.pop.name or t.pop.number
                     or "Customer", PartyState.WAITING)
            conf.add(t.consult_call_id, PartyRole.TARGET, t.target.label, PartyState.JOINED)
        else:
            conf = self._conf
        conf.check_can_add()
        target = self._transfers.resolve(target_text)
        policy = self._transfers.policy
        check_allowed(TransferKind.SUPERVISED, target, external_allowed=policy.external_allowed,
                      allowed_domains=policy.allowed_domains)
        uri = self._transfers.uri_for(target)
        if not uri:
            raise InvalidStateError(f"nobody in {target.label!r} is Available")
        pop = t.pop if t is not None else None
        call_id = self._calls.make_call(uri, pop=pop, hold_others=False)
        self._conf = conf
        conf.add(call_id, PartyRole.FOURTH, target.label, PartyState.RINGING)
        self._emit()
        return call_id

    def drop_party(self, call_id: str) -> None:
        conf = self._require()
        conf.get(call_id)
        self._calls.hangup(call_id)

    def hold(self) -> None:
        conf = self._require()
        for party in conf.remote():
            if party.state == PartyState.JOINED:
                self._calls.hold(party.call_id)
        conf.held = True
        self._update()

    def resume(self) -> None:
        conf = self._require()
        conf.held = False
        for party in conf.remote():
            rec = self._calls.find(party.call_id)
            if rec is not None and rec.live and rec.local_hold:
                self._calls.resume(party.call_id, hold_others=False)
        self._update()

    def leave(self) -> None:
        """Agent 1 steps out: the others keep talking through this softphone."""
        self._require().agent_present = False
        self._update()

    def rejoin(self) -> None:
        self._require().agent_present = True
        self._update()

    # -- reactions ----------------------------------------------------------------

    def _on_call_changed(self, snap: CallSnapshot) -> None:
        conf = self._conf
        if conf is None or snap.call_id not in conf.parties:
            return
        party = conf.parties[snap.call_id]
        if party.state == PartyState.LEFT:
            return
        if snap.state == CallState.DISCONNECTED:
            was_ringing = party.state == PartyState.RINGING
            party.state = PartyState.LEFT
            if was_ringing:
                log.info("fourth party %s did not answer (%s)", snap.call_id, snap.status_code)
            self._update()
            return
        if party.state == PartyState.RINGING and snap.state == CallState.CONFIRMED:
            party.state = PartyState.WAITING
        self._try_join()

    def _try_join(self) -> None:
        conf = self._conf
        if conf is None or conf.held or not conf.ready_to_join():
            self._update()
            return
        waiting = [p for p in conf.remote() if p.state == PartyState.WAITING]
        if not waiting:
            self._update()
            return
        ready = True
        for party in conf.remote():
            rec = self._calls.find(party.call_id)
            if rec is None or not rec.live:
                continue
            if rec.local_hold:
                try:
                    self._calls.resume(party.call_id, hold_others=False)
                except SoftphoneError:
                    log.exception("could not take %s off hold", party.call_id)
                ready = False
            elif not rec.media_active or rec.remote_hold:
                ready = False
        if ready:
            for party in waiting:
                party.state = PartyState.JOINED
            log.info("conference %s: mixing %s", conf.conference_id, sorted(conf.mixing()))
        self._update()

    def _on_transfer_progress(self, t: Transfer) -> None:
        conf = self._conf
        if conf is None or t.transfer_id != conf.transfer_id:
            return
        if t.phase == Phase.CANCELLED:
            self._end_fourth(send_to=None, t=t)
            self._finish()
        elif t.phase == Phase.COMPLETED:
            self._end_fourth(send_to=t.target.uri if t.fourth_party == "transfer" else None, t=t)
            self._finish()
        else:
            self._update()

    def _end_fourth(self, send_to: str | None, t: Transfer) -> None:
        conf = self._conf
        assert conf is not None
        for party in conf.remote():
            if party.role != PartyRole.FOURTH:
                continue
            try:
                if send_to:
                    self._sent_along.add(party.call_id)
                    self._calls.refer(party.call_id, refer_to_uri(send_to, t.pop, "blind"))
                else:
                    self._calls.hangup(party.call_id)
            except SoftphoneError:
                log.exception("could not end the fourth party's call")

    def _on_transfer_status(self, call_id: str, code: int, reason: str, final: bool) -> None:
        if call_id in self._sent_along and final:
            self._sent_along.discard(call_id)
            rec = self._calls.find(call_id)
            if rec is not None and rec.live:
                try:
                    self._calls.hangup(call_id)
                except SoftphoneError:
                    log.debug("hangup after sending the fourth party along failed")

    # -- helpers ------------------------------------------------------------------

    def _require(self) -> Conference:
        if self._conf is None:
            raise InvalidStateError("there is no conference")
        return self._conf

    def _update(self) -> None:
        conf = self._conf
        if conf is not None and not conf.remote():
            self._finish()
            return
        self._calls.rebuild_audio()
        joined = len(conf.mixing()) if conf else 0
        self._agent.set_hint("conference",
                             CallActivity.CONFERENCE if joined >= 2 else CallActivity.NONE)
        self._emit()

    def _finish(self) -> None:
        conf = self._conf
        if conf is None:
            return
        self._conf = None
        self._calls.rebuild_audio()
        self._agent.set_hint("conference", CallActivity.NONE)
        self.changed.emit({**conf.to_json(), "ended": True})

    def _emit(self) -> None:
        if self._conf is not None:
            self.changed.emit({**self._conf.to_json(), "ended": False})
