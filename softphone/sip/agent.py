"""The agent's state on the wire: follows calls, queues transfers, publishes presence.

Receiving side of transfers: a transferred call (Referred-By or our transfer
marker) that arrives while the agent is not Available is answered 182 Queued
and held as the agent's one next call, then presented the moment the agent
becomes Available; a maximum hold time rejects it (480) so that it returns to
its transferor. A consult call of a supervised transfer rings at once.

While a call waits, its 182 is sent again every ``queue_refresh_seconds``
(60 s by default): proxies give up on an INVITE with no response after about
3 minutes (Timer C), and each 182 reaches the transferor as a NOTIFY, which
tells agent 1 the customer is still queued here.
"""

from __future__ import annotations

import logging

import pjsua2 as pj
from PySide6.QtCore import QObject, QTimer, Signal

from softphone.core.agent_state import (
    AgentState,
    AgentStateMachine,
    AgentStatus,
    CallActivity,
    presence_note,
)
from softphone.core.calls import CallDirection, CallSnapshot, CallState
from softphone.core.errors import InvalidParamsError
from softphone.core.registration import RegistrationState
from softphone.core.screen_pop import transfer_kind
from softphone.sip.accounts import AccountManager
from softphone.sip.calls import CallManager
from softphone.sip.sip_call import QUEUED

log = logging.getLogger("softphone.sip.agent")

# Proxies give up on an INVITE with no response after ~3 minutes (Timer C).
QUEUE_REFRESH_S = 60.0
# A refresh more often than this floods, less often than this loses to Timer C.
QUEUE_REFRESH_RANGE = (0.2, 170.0)


class AgentService(QObject):
    """Ties the agent state machine to calls, the transfer queue and presence.

    Signals:
        state_changed(AgentStatus): the agent's state changed.
        queued_call_expired(str): a queued call hit the maximum hold time.

    Attributes:
        machine: the pure :class:`AgentStateMachine`.
        max_queue_seconds: how long a queued transfer may wait.
        queue_refresh_seconds: how often a queued call's 182 is sent again
            (see :meth:`set_queue_refresh`).
        hints: extra call activity by source ("transfer", "conference"): the
            most involved one wins.
    """

    state_changed = Signal(object)
    queued_call_expired = Signal(str)

    def __init__(self, calls: CallManager, accounts: AccountManager, *,
                 wrap_up_seconds: float = 0.0, wrap_up_returns_to: str = "available",
                 reasons: list[str] | None = None, max_queue_seconds: float = 120.0,
                 queue_refresh_seconds: float = QUEUE_REFRESH_S,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._calls = calls
        self._accounts = accounts
        self.machine = AgentStateMachine(wrap_up_seconds=wrap_up_seconds,
                                         wrap_up_returns_to=wrap_up_returns_to,
                                         reasons=reasons)
        self.max_queue_seconds = max_queue_seconds
        self.queue_refresh_seconds = QUEUE_REFRESH_S
        self.hints: dict[str, CallActivity] = {}
        self._talked_since_idle = False
        self._queued_call: str | None = None
        self._queue_expiry = QTimer(self)
        self._queue_expiry.setSingleShot(True)
        self._queue_expiry.timeout.connect(self._queue_expired)
        self._queue_refresh = QTimer(self)
        self._queue_refresh.timeout.connect(self._refresh_queued)
        self.set_queue_refresh(queue_refresh_seconds)
        self._wrap_up = QTimer(self)
        self._wrap_up.setSingleShot(True)
        self._wrap_up.timeout.connect(self.machine.wrap_up_expired)
        self.machine.on_change = self._on_change
        self.machine.schedule_wrap_up = self._schedule_wrap_up
        calls.incoming_status = self.incoming_status
        calls.call_changed.connect(self._on_call_changed)
        calls.call_queued.connect(self._on_call_queued)
        # A PUBLISH needs a registered account: publish once it is (not on
        # every failed retry).
        accounts.registration_changed.connect(
            lambda info: self.publish() if info.state == RegistrationState.REGISTERED else None)

    # -- queries ------------------------------------------------------------------

    @property
    def status(self) -> AgentStatus:
        return self.machine.status

    @property
    def queued_call_id(self) -> str | None:
        return self._queued_call

    # -- the agent's choices ------------------------------------------------------

    def set_state(self, state: str, reason: str = "") -> AgentStatus:
        return self.machine.set_state(state, reason)

    def end_wrap_up(self) -> AgentStatus:
        return self.machine.end_wrap_up()

    def set_queue_refresh(self, seconds: float) -> float:
        """How often a queued call's 182 is sent again (0.2-170 s); applies at
        once to a call waiting now. Returns the interval set."""
        low, high = QUEUE_REFRESH_RANGE
        if not isinstance(seconds, int | float) or not low <= seconds <= high:
            raise InvalidParamsError(f"the 182 refresh interval must be {low}-{high:.0f} s")
        self.queue_refresh_seconds = float(seconds)
        if self._queue_refresh.isActive():
            self._queue_refresh.start(self._refresh_ms())
        return self.queue_refresh_seconds

    def _refresh_ms(self) -> int:
        return int(self.queue_refresh_seconds * 1000)

    def set_hint(self, source: str, activity: CallActivity) -> None:
        self.hints[source] = activity
        self.refresh_activity()

    def refresh_activity(self) -> None:
        """Recompute the busy state from the calls (and transfer/conference hints)."""
        talking = any(self._counts_as_talking(r.snapshot()) for r in self._calls.records())
        activity = max(self.hints.values(), key=lambda a: a.value, default=CallActivity.NONE)
        if activity == CallActivity.NONE and talking:
            activity = CallActivity.TALKING
        # Records of ended calls are released, so remember that the agent
        # talked during this busy spell: it decides whether wrap-up follows.
        self._talked_since_idle |= any(r.talked for r in self._calls.records())
        self.machine.calls_changed(activity, wrap_up=self._talked_since_idle)
        if activity == CallActivity.NONE:
            self._talked_since_idle = False

    @staticmethod
    def _counts_as_talking(snap: CallSnapshot) -> bool:
        if snap.state == CallState.DISCONNECTED or snap.queued or snap.handed_off:
            return False
        if snap.direction == CallDirection.OUTBOUND:
            return True
        return snap.state in (CallState.CONNECTING, CallState.CONFIRMED)

    # -- incoming calls -----------------------------------------------------------

    def incoming_status(self, snap: CallSnapshot) -> int:
        """First answer to a new inbound call (the call manager asks)."""
        kind = transfer_kind(snap.headers)
        if kind != "blind":
            # Plain calls ring as on any phone; a supervised transfer's consult
            # call rings at once whatever the state: agent 1 is waiting on it.
            return 180
        state = self.machine.state
        if state == AgentState.LOGGED_OUT:
            return 480
        if self._queued_call is not None:
            # One queued call per agent: a second goes back to its transferor.
            return 486
        if state == AgentState.AVAILABLE:
            return 180
        return QUEUED

    def _on_call_queued(self, snap: CallSnapshot) -> None:
        self._queued_call = snap.call_id
        self._queue_expiry.start(int(self.max_queue_seconds * 1000))
        self._queue_refresh.start(self._refresh_ms())
        log.info("transferred call %s queued until the agent is Available", snap.call_id)

    def _queue_expired(self) -> None:
        call_id = self._queued_call
        if call_id is None:
            return
        self._clear_queue()
        log.info("queued call %s waited %.0f s: returning it", call_id, self.max_queue_seconds)
        try:
            self._calls.reject(call_id, 480, "Queued Transfer Timed Out")
        except Exception:
            log.exception("could not reject the queued call %s", call_id)
        self.queued_call_expired.emit(call_id)

    def _refresh_queued(self) -> None:
        if self._queued_call is not None:
            try:
                self._calls.refresh_queued(self._queued_call)
            except Exception:
                log.exception("could not refresh the queued call")

    def _clear_queue(self) -> None:
        self._queued_call = None
        self._queue_expiry.stop()
        self._queue_refresh.stop()

    def _present_queued(self) -> None:
        call_id = self._queued_call
        if call_id is None:
            return
        self._clear_queue()
        try:
            self._calls.present(call_id)
        except Exception:
            log.exception("could not present the queued call %s", call_id)

    # -- reactions ----------------------------------------------------------------

    def _on_call_changed(self, snap: CallSnapshot) -> None:
        if snap.call_id == self._queued_call and snap.state == CallState.DISCONNECTED:
            self._clear_queue()  # the caller gave up or the transferor cancelled
        self.refresh_activity()

    def _on_change(self, status: AgentStatus) -> None:
        log.info("agent state: %s", presence_note(status))
        self.publish()
        self.state_changed.emit(status)
        if status.state == AgentState.AVAILABLE:
            QTimer.singleShot(0, self._present_queued)

    def _schedule_wrap_up(self, seconds: float | None) -> None:
        if seconds is None:
            self._wrap_up.stop()
        else:
            self._wrap_up.start(int(seconds * 1000))

    def publish(self) -> None:
        """Set our presence on every account: PUBLISH where a presence server is
        configured, NOTIFY to peer-to-peer subscribers otherwise."""
        status = self.machine.status
        ps = pj.PresenceStatus()
        if status.state == AgentState.LOGGED_OUT:
            ps.status = pj.PJSUA_BUDDY_STATUS_OFFLINE
        else:
            ps.status = pj.PJSUA_BUDDY_STATUS_ONLINE
        ps.activity = (
            pj.PJRPID_ACTIVITY_UNKNOWN if status.state == AgentState.AVAILABLE
            else pj.PJRPID_ACTIVITY_AWAY if status.state in (AgentState.NOT_READY,
                                                               AgentState.LOGGED_OUT)
            else pj.PJRPID_ACTIVITY_BUSY
        )
        ps.note = presence_note(status)
        for account_id in self._accounts.account_ids():
            acc = self._accounts.get(account_id)
            # An account not created yet is a C assert in pjsua, not an error.
            if not acc.isValid():
                continue
            try:
                acc.setOnlineStatus(ps)
            except pj.Error as exc:
                log.debug("presence not set on %s: %s", account_id, exc.reason)
