"""Four-way conferencing during a supervised transfer, mixed at agent 1.

Agent 1 is consulting the target while the customer is on hold; Call adds a
fourth party. The call is placed while the others wait; once it answers the
customer is taken off hold and, when every leg's media is active, the
conference bridge mixes customer, target, fourth party and agent 1 (a full
mesh of links, in C: no Python on the audio path).

A fourth party that does not answer (declined, busy, unreachable, or no
answer within the transfer policy's consult timeout) is reported with its SIP
status; if nobody was mixed yet the conference ends and the consultation goes
on exactly as before (customer on hold, agent 1 with the target).

Exits: Cancel (the transfer's) leaves agent 1 with the customer alone;
Complete sends the customer to the target and drops the fourth party (or
sends them to the target too); a customer who hangs up, or a target who
leaves while the customer is mixed, ends the transfer but not the conference:
the others stay connected until agent 1 ends it (:meth:`ConferenceManager.end`).
"""

from __future__ import annotations

import logging

import pjsua2 as pj
from PySide6.QtCore import QObject, QTimer, Signal

from softphone.core.agent_state import CallActivity
from softphone.core.calls import CallSnapshot, CallState, split_name_addr
from softphone.core.conference import (
    Conference,
    Party,
    PartyRole,
    PartyState,
    check_enabled,
)
from softphone.core.errors import InvalidStateError, NotFoundError, SoftphoneError
from softphone.core.ids import IdFactory
from softphone.core.screen_pop import refer_to_uri
from softphone.core.transfer import Phase, Transfer, TransferKind, check_allowed
from softphone.sip.agent import AgentService
from softphone.sip.calls import CallManager
from softphone.sip.transfers import TransferManager

log = logging.getLogger("softphone.sip.conference")

# A fourth party sent to the target is held first and gets the REFER once the
# hold is acknowledged (RFC 5589), or after this long at the latest.
SEND_ALONG_HOLD_WAIT_MS = 2000
# With three remote parties mixed, every sink of the bridge sums three voices:
# loud ones reach full scale, the bridge's overflow guard then pumps the level
# and a G.722 decoder that sees a clipped sample stops its PCM shift for good
# (that party hears everyone 12 dB quieter from then on). Each remote party
# therefore goes into a four-way mix 6 dB down.
FOUR_WAY_MIX_LEVEL = 0.5


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
        self._last_failure: Party | None = None
        # Where the customer went: the URI the consult call was placed to (a
        # group without a group URI was resolved to one member then).
        self._target_uri = ""
        self._dropping: set[str] = set()       # ringing parties the agent hung up on
        self._send_along: dict[str, str] = {}  # fourth party -> Refer-To, once held
        self._sent_along: set[str] = set()     # REFER sent, waiting for its result
        self._ring_timer = QTimer(self)
        self._ring_timer.setSingleShot(True)
        self._ring_timer.timeout.connect(self._ring_timed_out)
        calls.mixes = self._mixes
        calls.agent_absent = self._agent_absent
        calls.call_changed.connect(self._on_call_changed)
        calls.transfer_status.connect(self._on_transfer_status)
        transfers.progress.connect(self._on_transfer_progress)
        transfers.conference_continues = self._continues_without_target

    # -- queries ------------------------------------------------------------------

    def current(self) -> Conference | None:
        return self._conf

    def parties(self) -> list[Party]:
        return list(self._conf.parties.values()) if self._conf else []

    def last_failure(self) -> Party | None:
        """The last fourth party that did not answer (kept after the conference
        ended; cleared when another party is called)."""
        return self._last_failure

    def _mixes(self) -> list[set[str]]:
        return [self._conf.mixing()] if self._conf else []

    def _agent_absent(self) -> set[str]:
        if self._conf is None or self._conf.agent_present:
            return set()
        return self._conf.mixing()

    # -- operations ---------------------------------------------------------------

    def add_party(self, target_text: str) -> str:
        """Call a fourth party during a supervised transfer's consultation.

        The call goes out on the customer's account; it rings for at most the
        transfer policy's consult timeout.
        """
        check_enabled(self.enabled)
        if self._conf is not None:
            self._conf.check_can_add()
        t = self._transfers.active()
        if (t is None or t.kind != TransferKind.SUPERVISED or t.phase != Phase.CONSULTING
                or (self._conf is not None and self._conf.transfer_id != t.transfer_id)):
            raise InvalidStateError(
                "a fourth party can be added while consulting in a supervised transfer")
        customer = self._calls.get(t.customer_call_id)
        target = self._transfers.resolve(target_text)
        policy = self._transfers.policy
        check_allowed(TransferKind.SUPERVISED, target, external_allowed=policy.external_allowed,
                      allowed_domains=policy.allowed_domains)
        uri = self._transfers.uri_for(target)
        if not uri:
            raise InvalidStateError(f"nobody in {target.label!r} is Available")
        call_id = self._calls.make_call(uri, account_id=customer.account_id, pop=t.pop,
                                        hold_others=False)
        if self._conf is None:
            conf = Conference(self._ids.new("conf"), t.transfer_id)
            conf.add(t.customer_call_id, PartyRole.CUSTOMER, t.pop.name or t.pop.number
                     or "Customer", PartyState.WAITING)
            conf.add(t.consult_call_id, PartyRole.TARGET, t.target.label, PartyState.JOINED)
            self._target_uri = self._dialled_uri(t.consult_call_id) or t.target.uri
            self._conf = conf
        self._conf.add(call_id, PartyRole.FOURTH, target.label, PartyState.RINGING)
        self._last_failure = None
        self._ring_timer.start(int(policy.consult_timeout_s * 1000))
        self._emit()
        return call_id

    def drop_party(self, call_id: str) -> None:
        conf = self._require()
        party = conf.get(call_id)
        if party.state == PartyState.RINGING:
            self._dropping.add(call_id)  # the agent's choice, not a failure to answer
        rec = self._calls.find(call_id)
        if rec is None or not rec.live:
            self._party_left(party, 0, "")
            return
        self._calls.hangup(call_id)

    def hold(self) -> None:
        conf = self._require()
        # Set first: each leg's hold emits call_changed, and a conference not
        # marked held would try to join (resume) the legs again.
        conf.held = True
        for party in conf.remote():
            if party.state == PartyState.JOINED:
                self._calls.hold(party.call_id)
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

    def end(self) -> None:
        """End the whole conference in one action; never drops the customer.

        While the transfer is still in progress this is its Cancel (agent 1
        is left with the customer alone). Once the transfer is over (the
        customer hung up, or the target left), every party but the customer
        is hung up and a customer still connected stays with agent 1 as an
        ordinary call.
        """
        conf = self._require()
        t = self._transfers.active()
        if not conf.transfer_over and t is not None and t.transfer_id == conf.transfer_id:
            self._transfers.cancel_supervised(t.customer_call_id)
            return
        customer = conf.by_role(PartyRole.CUSTOMER)
        for party in conf.remote():
            if party.role != PartyRole.CUSTOMER:
                self._dropping.add(party.call_id)
                self._hang_up_quietly(party.call_id)
        self._finish()
        if customer is not None:
            rec = self._calls.find(customer.call_id)
            if rec is not None and rec.live and rec.local_hold:
                try:
                    self._calls.resume(customer.call_id, hold_others=False)
                except SoftphoneError:
                    log.exception("could not take the customer off hold")

    # -- reactions ----------------------------------------------------------------

    def _on_call_changed(self, snap: CallSnapshot) -> None:
        if snap.call_id in self._send_along:
            self._send_when_held(snap)
        conf = self._conf
        if conf is None or snap.call_id not in conf.parties:
            return
        party = conf.parties[snap.call_id]
        if party.state == PartyState.LEFT:
            return
        if snap.state == CallState.DISCONNECTED:
            self._party_left(party, snap.status_code, snap.reason)
            return
        if party.state == PartyState.RINGING and snap.state == CallState.CONFIRMED:
            self._ring_timer.stop()
            party.state = PartyState.WAITING
        self._try_join()

    def _party_left(self, party: Party, status_code: int, reason: str) -> None:
        conf = self._conf
        assert conf is not None
        was_ringing = party.state == PartyState.RINGING
        party.state = PartyState.LEFT
        if was_ringing:
            self._ring_timer.stop()
            if party.call_id not in self._dropping:
                failure = party.fail(status_code, reason)
                self._last_failure = party
                log.warning("conference %s: %s", conf.conference_id, failure.message)
        self._dropping.discard(party.call_id)
        if party.role == PartyRole.FOURTH and conf.abandoned():
            # Nobody was mixed yet: end cleanly and leave the consultation as
            # it was (a later call_changed must not resume the customer).
            log.info("conference %s: the fourth party never joined; back to the consultation",
                     conf.conference_id)
            self._finish()
            self._hold_customer(conf)
            return
        self._update()

    def _ring_timed_out(self) -> None:
        conf = self._conf
        if conf is None:
            return
        seconds = self._transfers.policy.consult_timeout_s
        for party in conf.remote():
            if party.state != PartyState.RINGING:
                continue
            party.fail(408, f"no answer within {seconds:g} s",
                       f"{party.label} did not answer within {seconds:g} s")
            rec = self._calls.find(party.call_id)
            try:
                if rec is None or not rec.live:
                    raise NotFoundError("the call is gone")
                self._calls.hangup(party.call_id)  # reported when it disconnects
            except SoftphoneError:
                self._party_left(party, 408, "")
            return

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

    def _continues_without_target(self, t: Transfer) -> bool:
        """The transfer manager asks when the target's leg ends during the
        consultation: True (the transfer is over, the conference goes on) when
        the customer is already mixed in the conference."""
        conf = self._conf
        if conf is None or conf.transfer_id != t.transfer_id:
            return False
        customer = conf.parties.get(t.customer_call_id)
        if customer is None or customer.state != PartyState.JOINED:
            return False
        conf.transfer_over = True
        return True

    def _on_transfer_progress(self, t: Transfer) -> None:
        conf = self._conf
        if conf is None or t.transfer_id != conf.transfer_id:
            return
        if t.phase == Phase.COMPLETED:
            self._end_fourth(t, send_along=t.fourth_party == "transfer")
            self._finish()
        elif t.phase == Phase.CONSULT_FAILED or (t.phase == Phase.CANCELLED
                                                 and not conf.transfer_over):
            # Cancel, or the target left before the customer was mixed: agent
            # 1 is left with the customer (on hold after a failed consult).
            self._end_fourth(t, send_along=False)
            self._finish()
            if t.phase == Phase.CONSULT_FAILED:
                self._hold_customer(conf)
        elif not t.active:
            # The customer hung up, or the target left a running conference:
            # the others stay connected until agent 1 ends it.
            conf.transfer_over = True
            self._update()
        else:
            self._update()

    def _end_fourth(self, t: Transfer, send_along: bool) -> None:
        conf = self._conf
        assert conf is not None
        for party in conf.remote():
            if party.role != PartyRole.FOURTH:
                continue
            rec = self._calls.find(party.call_id)
            if rec is None or not rec.live:
                continue
            if not (send_along and self._target_uri and rec.state == CallState.CONFIRMED):
                if send_along:
                    log.warning("the fourth party %s cannot be sent along (%s); dropped",
                                party.call_id, "not connected" if self._target_uri
                                else "no destination")
                self._dropping.add(party.call_id)
                self._hang_up_quietly(party.call_id)
                continue
            # Like an unsupervised transfer: held and out of agent 1's hands,
            # REFERred once the hold is acknowledged.
            try:
                self._calls.hold(party.call_id)
                self._calls.set_handed_off(party.call_id, True)
            except SoftphoneError:
                log.exception("could not hold the fourth party before sending them along")
            self._send_along[party.call_id] = refer_to_uri(self._target_uri, t.pop, "blind")
            if rec.hold_confirmed:
                self._send_refer(party.call_id)
            else:
                QTimer.singleShot(SEND_ALONG_HOLD_WAIT_MS,
                                  lambda cid=party.call_id: self._send_refer(cid))

    def _send_when_held(self, snap: CallSnapshot) -> None:
        if snap.state == CallState.DISCONNECTED:
            self._send_along.pop(snap.call_id, None)
            return
        rec = self._calls.find(snap.call_id)
        if rec is not None and rec.hold_confirmed:
            self._send_refer(snap.call_id)

    def _send_refer(self, call_id: str) -> None:
        refer_to = self._send_along.pop(call_id, None)
        rec = self._calls.find(call_id)
        if refer_to is None or rec is None or not rec.live:
            return
        try:
            self._calls.refer(call_id, refer_to)
            self._sent_along.add(call_id)
            log.info("fourth party %s sent to %s", call_id, self._target_uri)
        except SoftphoneError:
            log.exception("could not send the fourth party to the target; dropped")
            self._hang_up_quietly(call_id)

    def _on_transfer_status(self, call_id: str, code: int, reason: str, final: bool) -> None:
        if call_id in self._sent_along and final:
            self._sent_along.discard(call_id)
            if not 200 <= code < 300:
                log.warning("the fourth party %s was not taken by the target (%s %s); dropped",
                            call_id, code, reason[:120])
            self._hang_up_quietly(call_id)

    # -- helpers ------------------------------------------------------------------

    def _require(self) -> Conference:
        if self._conf is None:
            raise InvalidStateError("there is no conference")
        return self._conf

    def _dialled_uri(self, call_id: str) -> str:
        rec = self._calls.find(call_id)
        return split_name_addr(rec.remote_uri)[1] if rec is not None and rec.remote_uri else ""

    def _hold_customer(self, conf: Conference) -> None:
        """Put the customer back on hold (after the conference is detached, so
        its own call_changed cannot join anyone)."""
        customer = next((p for p in conf.parties.values() if p.role == PartyRole.CUSTOMER),
                        None)
        rec = self._calls.find(customer.call_id) if customer is not None else None
        if (rec is not None and rec.live and rec.state == CallState.CONFIRMED
                and not rec.local_hold):
            try:
                self._calls.hold(rec.call_id)
            except SoftphoneError:
                log.exception("could not put the customer back on hold")

    def _hang_up_quietly(self, call_id: str) -> None:
        rec = self._calls.find(call_id)
        if rec is not None and rec.live:
            try:
                self._calls.hangup(call_id)
            except SoftphoneError:
                log.debug("hangup of %s failed", call_id)

    def _update(self) -> None:
        conf = self._conf
        if conf is not None and conf.finished():
            self._finish()
            return
        self._calls.rebuild_audio()
        if conf is not None:
            self._apply_mix_levels(conf)
        joined = len(conf.mixing()) if conf else 0
        self._agent.set_hint("conference",
                             CallActivity.CONFERENCE if joined >= 2 else CallActivity.NONE)
        self._emit()

    def _apply_mix_levels(self, conf: Conference | None, ended: bool = False) -> None:
        """Set what each party's call puts into the bridge (streams are
        recreated at level 1.0 on every media change: run after each rebuild)."""
        if conf is None:
            return
        mixing = set() if ended else conf.mixing()
        level = FOUR_WAY_MIX_LEVEL if len(mixing) >= 3 else 1.0
        for party in conf.parties.values():
            rec = self._calls.find(party.call_id)
            media = rec.audio_media() if rec is not None else None
            if media is None:
                continue
            try:
                media.adjustTxLevel(level if party.call_id in mixing else 1.0)
            except pj.Error:
                log.debug("could not set the mix level of %s", party.call_id)

    def _finish(self) -> None:
        conf = self._conf
        if conf is None:
            return
        self._conf = None
        self._ring_timer.stop()
        self._dropping.clear()
        self._apply_mix_levels(conf, ended=True)
        self._calls.rebuild_audio()
        self._agent.set_hint("conference", CallActivity.NONE)
        self.changed.emit({**conf.to_json(), "ended": True})

    def _emit(self) -> None:
        if self._conf is not None:
            self.changed.emit({**self._conf.to_json(), "ended": False})
