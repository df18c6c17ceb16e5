"""Stand-ins for SipEngine/CallManager/AccountManager with the same Python API
and signals, for widget tests that need no SIP stack (and no pjsua2 endpoint)."""

from __future__ import annotations

import itertools
import time
from dataclasses import replace
from typing import Any, cast

from PySide6.QtCore import QObject, Signal

from softphone.core.agent_state import AgentStateMachine, AgentStatus
from softphone.core.calls import CallDirection, CallSnapshot, CallState, HoldState
from softphone.core.conference import Conference, Party, PartyRole, PartyState
from softphone.core.errors import InvalidStateError, NotFoundError, SipError
from softphone.core.registration import RegistrationState
from softphone.core.screen_pop import ScreenPop
from softphone.core.sip_uri import parse_sip_uri
from softphone.sip.account_types import AccountInfo

LOCAL_URI = "sip:agent@127.0.0.1:5099"


def snapshot(call_id: str = "call-1", state: CallState = CallState.CONFIRMED,
             direction: CallDirection = CallDirection.OUTBOUND,
             remote_uri: str = "sip:bob@127.0.0.1:5070", **kwargs: Any) -> CallSnapshot:
    kwargs.setdefault("started_at", time.monotonic())
    return CallSnapshot(call_id=call_id, account_id="local", direction=direction,
                        state=state, remote_uri=remote_uri, **kwargs)


class FakeCalls(QObject):
    call_state = Signal(object)
    call_changed = Signal(object)
    incoming_call = Signal(object)
    call_queued = Signal(object)
    screen_pop = Signal(str, dict)
    dtmf_received = Signal(str, str, str)

    def __init__(self) -> None:
        super().__init__()
        self.calls: dict[str, CallSnapshot] = {}
        self.ops: list[tuple[str, ...]] = []
        self.fail_next: str | None = None
        self._ids = itertools.count(1)

    def snapshots(self) -> list[CallSnapshot]:
        return [s for s in self.calls.values() if s.state != CallState.DISCONNECTED]

    def push(self, snap: CallSnapshot) -> None:
        """Change a call as the engine would, with both signals."""
        self.calls[snap.call_id] = snap
        self.call_state.emit(snap)
        self.call_changed.emit(snap)

    def ring(self, remote_uri: str, remote_name: str = "") -> str:
        call_id = f"call-{next(self._ids)}"
        snap = snapshot(call_id, CallState.INCOMING, CallDirection.INBOUND,
                        remote_uri=remote_uri, remote_name=remote_name)
        self.push(snap)
        self.incoming_call.emit(snap)
        return call_id

    def _get(self, call_id: str) -> CallSnapshot:
        if call_id not in self.calls:
            raise NotFoundError(f"no call {call_id!r}")
        if self.fail_next:
            message, self.fail_next = self.fail_next, None
            raise SipError(message)
        return self.calls[call_id]

    def make_call(self, uri: str, account_id: str | None = None,
                  headers: dict[str, str] | None = None) -> str:
        target = parse_sip_uri(uri)
        call_id = f"call-{next(self._ids)}"
        self.ops.append(("make_call", str(target)))
        self.push(snapshot(call_id, CallState.CALLING, remote_uri=str(target)))
        return call_id

    def answer(self, call_id: str) -> None:
        snap = self._get(call_id)
        if snap.state != CallState.INCOMING:
            raise InvalidStateError("not ringing")
        self.ops.append(("answer", call_id))
        self.push(replace(snap, state=CallState.CONFIRMED, connected_at=time.monotonic()))

    def reject(self, call_id: str, code: int = 486) -> None:
        snap = self._get(call_id)
        self.ops.append(("reject", call_id))
        self.push(replace(snap, state=CallState.DISCONNECTED, status_code=code, reason="Busy"))

    def hangup(self, call_id: str) -> None:
        snap = self._get(call_id)
        self.ops.append(("hangup", call_id))
        self.push(replace(snap, state=CallState.DISCONNECTED, status_code=200))

    def hold(self, call_id: str) -> None:
        snap = self._get(call_id)
        self.ops.append(("hold", call_id))
        self.call_changed.emit(self._set(replace(snap, hold=HoldState.LOCAL)))

    def resume(self, call_id: str) -> None:
        snap = self._get(call_id)
        self.ops.append(("resume", call_id))
        self.call_changed.emit(self._set(replace(snap, hold=HoldState.NONE)))

    def set_mute(self, call_id: str, muted: bool) -> None:
        snap = self._get(call_id)
        self.ops.append(("mute", call_id, str(muted)))
        self.call_changed.emit(self._set(replace(snap, muted=muted)))

    def send_dtmf(self, call_id: str, digits: str) -> str:
        self._get(call_id)
        self.ops.append(("dtmf", call_id, digits))
        return "rfc4733"

    def set_pop(self, call_id: str, pop: ScreenPop) -> None:
        snap = self._get(call_id)
        self.ops.append(("set_pop", call_id))
        self.screen_pop.emit(call_id, pop.to_json())
        self.call_changed.emit(self._set(replace(snap, pop=pop.to_json())))

    def _set(self, snap: CallSnapshot) -> CallSnapshot:
        self.calls[snap.call_id] = snap
        return snap


class FakeAccounts(QObject):
    registration_changed = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self._infos = {"local": AccountInfo("local", LOCAL_URI, RegistrationState.NONE,
                                            is_local=True, message="local account")}

    def infos(self) -> list[AccountInfo]:
        return list(self._infos.values())

    def push(self, info: AccountInfo) -> None:
        self._infos[info.account_id] = info
        self.registration_changed.emit(info)


class FakeAgent(QObject):
    """The AgentService's Python API over the real state machine (no calls)."""

    state_changed = Signal(object)

    def __init__(self, reasons: list[str] | None = None) -> None:
        super().__init__()
        self.machine = AgentStateMachine(reasons=reasons)
        self.machine.on_change = self.state_changed.emit

    @property
    def status(self) -> AgentStatus:
        return self.machine.status

    def set_state(self, state: str, reason: str = "") -> AgentStatus:
        return self.machine.set_state(state, reason)

    def end_wrap_up(self) -> AgentStatus:
        return self.machine.end_wrap_up()


class FakeConference(QObject):
    """The ConferenceManager's Python API over a Conference the test builds."""

    changed = Signal(object)

    def __init__(self, calls: FakeCalls) -> None:
        super().__init__()
        self.calls = calls
        self.enabled = True
        self.conf: Conference | None = None
        self.ops: list[tuple[str, ...]] = []
        # call id -> the engine's failure JSON, for a party that never answered
        self.failures: dict[str, dict[str, object]] = {}

    def start(self, *parties: tuple[str, PartyRole, str, PartyState]) -> Conference:
        """A conference of (call id, role, label, state); each call is pushed as confirmed."""
        self.conf = Conference("conf-1", "xfer-1")
        for call_id, role, label, state in parties:
            self.conf.add(call_id, role, label, state)
            if call_id not in self.calls.calls:
                self.calls.push(snapshot(call_id, CallState.CONFIRMED))
        self.notify()
        return self.conf

    def notify(self, ended: bool = False) -> None:
        conf = self.conf
        if conf is None:
            return
        data = {**conf.to_json(), "ended": ended}
        data["parties"] = [{**p.to_json(), "failure": self.failures.get(p.call_id)}
                           for p in conf.parties.values()]
        if ended:
            self.conf = None
        self.changed.emit(data)

    def party_failed(self, call_id: str, code: int, reason: str, message: str = "",
                     ends: bool = False) -> None:
        """A ringing party never answered (the conference ends with it if ``ends``)."""
        assert self.conf is not None
        self.conf.parties[call_id].state = PartyState.LEFT
        self.failures[call_id] = {"status_code": code, "reason": reason, "message": message}
        self.notify(ended=ends)

    def current(self) -> Conference | None:
        return self.conf

    def parties(self) -> list[Party]:
        return list(self.conf.parties.values()) if self.conf else []

    def drop_party(self, call_id: str) -> None:
        self.ops.append(("drop", call_id))

    def hold(self) -> None:
        self.ops.append(("hold",))

    def resume(self) -> None:
        self.ops.append(("resume",))

    def leave(self) -> None:
        self.ops.append(("leave",))

    def rejoin(self) -> None:
        self.ops.append(("rejoin",))

    def end(self) -> None:
        self.ops.append(("end",))
        self.notify(ended=True)


class FakeEngine(QObject):
    started = Signal()
    stopped = Signal()

    def __init__(self, audio_mode: str = "null") -> None:
        super().__init__()
        self.accounts = FakeAccounts()
        self.calls = FakeCalls()
        self.audio_mode = audio_mode
        self.agent: FakeAgent | None = None  # set one for the agent state widget and tray

    @property
    def local_uri(self) -> str:
        return LOCAL_URI


def as_engine(fake: FakeEngine) -> Any:
    """The fake typed as the real engine for MainWindow's signature."""
    return cast(Any, fake)
