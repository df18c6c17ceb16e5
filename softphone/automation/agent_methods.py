"""Automation API methods and events of agent states, screen pop and transfers.

Names and parameters are a contract (docs/automation.md): add, never rename.
"""

from __future__ import annotations

from typing import Any

from softphone.automation.jsonrpc import Params
from softphone.automation.server import AutomationServer
from softphone.core.agent_state import AgentStatus
from softphone.core.calls import CallSnapshot
from softphone.core.directory import Directory
from softphone.core.errors import InvalidParamsError
from softphone.core.screen_pop import ScreenPop, validate_fields
from softphone.core.transfer import Transfer
from softphone.sip.agent import QUEUE_REFRESH_RANGE
from softphone.sip.engine import SipEngine


def install(server: AutomationServer, engine: SipEngine) -> None:
    agent = engine.agent
    transfers = engine.transfers
    calls = engine.calls

    def agent_status() -> dict[str, Any]:
        return {**agent.status.to_json(), "queued_call_id": agent.queued_call_id}

    def agent_set_state(p: dict[str, Any]) -> Any:
        a = Params(p, {"state", "reason"})
        agent.set_state(a.text("state"), a.text("reason", ""))
        return agent_status()

    def agent_get(p: dict[str, Any]) -> Any:
        Params(p, set())
        return agent_status()

    def agent_end_wrap_up(p: dict[str, Any]) -> Any:
        Params(p, set())
        agent.end_wrap_up()
        return agent_status()

    def agent_set_queue_refresh(p: dict[str, Any]) -> Any:
        Params(p, {"seconds"})
        return {"seconds": agent.set_queue_refresh(seconds(p, "seconds", *QUEUE_REFRESH_RANGE))}

    def transfer_timers() -> dict[str, float]:
        policy = transfers.policy
        return {name: float(getattr(policy, name)) for name in TRANSFER_TIMERS}

    def transfer_set_timers(p: dict[str, Any]) -> Any:
        Params(p, set(TRANSFER_TIMERS))
        values = {name: seconds(p, name, 0.5, 3600.0) for name in TRANSFER_TIMERS if name in p}
        for name, value in values.items():
            setattr(transfers.policy, name, value)
        return transfer_timers()

    def supervised_start(p: dict[str, Any]) -> Any:
        a = Params(p, {"call_id", "target"})
        engine.pump.kick()
        t = transfers.start_supervised(a.text("call_id"), a.text("target"))
        return {"transfer_id": t.transfer_id, "consult_call_id": t.consult_call_id}

    def supervised_complete(p: dict[str, Any]) -> Any:
        a = Params(p, {"call_id", "fourth_party"})
        engine.pump.kick()
        fourth = a.text("fourth_party", "drop")
        has_fourth = any(party.role == "fourth" and party.state != "left"
                         for party in engine.conference.parties())
        t = transfers.complete_supervised(a.text("call_id"), fourth)
        return {"transfer_id": t.transfer_id,
                "fourth_party": (("transferred" if fourth == "transfer" else "dropped")
                                 if has_fourth else None)}

    def supervised_cancel(p: dict[str, Any]) -> Any:
        a = Params(p, {"call_id"})
        engine.pump.kick()
        return {"transfer_id": transfers.cancel_supervised(a.text("call_id")).transfer_id}

    def unsupervised(p: dict[str, Any]) -> Any:
        a = Params(p, {"call_id", "target"})
        engine.pump.kick()
        return {"transfer_id": transfers.unsupervised(a.text("call_id"), a.text("target"))
                .transfer_id}

    def transfer_status(p: dict[str, Any]) -> Any:
        Params(p, set())
        t = transfers.active()
        return {"transfer": t.to_json() if t else None}

    def screen_pop(p: dict[str, Any]) -> Any:
        a = Params(p, {"call_id", "set"})
        call_id = a.text("call_id")
        rec = calls.get(call_id)
        if "set" in p:
            calls.set_pop(call_id, rec.pop.merged(validate_fields(a.mapping("set"))))
        return {"call_id": call_id, "data": rec.pop.to_json()}

    def directory_set(p: dict[str, Any]) -> Any:
        a = Params(p, {"directory"})
        engine.set_directory(Directory.from_json(a.mapping("directory")))
        return {"agents": len(engine.directory.agents), "groups": len(engine.directory.groups),
                "presets": len(engine.directory.presets)}

    def directory_get(p: dict[str, Any]) -> Any:
        Params(p, set())
        return engine.directory.to_json()

    for name, handler in {
        "agent.set_state": agent_set_state,
        "agent.status": agent_get,
        "agent.end_wrap_up": agent_end_wrap_up,
        "agent.set_queue_refresh": agent_set_queue_refresh,
        "transfer.set_timers": transfer_set_timers,
        "transfer.supervised.start": supervised_start,
        "transfer.supervised.complete": supervised_complete,
        "transfer.supervised.cancel": supervised_cancel,
        "transfer.unsupervised": unsupervised,
        "transfer.status": transfer_status,
        "call.screen_pop": screen_pop,
        "directory.set": directory_set,
        "directory.get": directory_get,
    }.items():
        server.register(name, handler)

    def on_agent_state(status: AgentStatus) -> None:
        server.emit_event("agent.state", status.to_json())

    def on_transfer(t: Transfer) -> None:
        server.emit_event("transfer.progress", t.to_json())

    def on_screen_pop(call_id: str, data: dict[str, str]) -> None:
        server.emit_event("screen_pop", {"call_id": call_id, "data": data})

    def on_queued(snap: CallSnapshot) -> None:
        server.emit_event("call.queued", {**snap.to_json(),
                                          "max_wait_s": agent.max_queue_seconds})

    def on_agent_presence(agent_id: str) -> None:
        a = engine.directory.agents.get(agent_id)
        if a is not None:
            server.emit_event("directory.agent", {"agent_id": agent_id, "state": a.state.value,
                                                  "reason": a.reason})

    agent.state_changed.connect(on_agent_state)
    transfers.progress.connect(on_transfer)
    calls.screen_pop.connect(on_screen_pop)
    calls.call_queued.connect(on_queued)
    engine.presence.agent_changed.connect(on_agent_presence)


# Transfer timers an API client may tune (the Session Transfer switch, the
# external-number and domain rules stay IT's).
TRANSFER_TIMERS = ("consult_timeout_s", "complete_timeout_s", "pending_silence_s")


def seconds(p: dict[str, Any], name: str, low: float, high: float) -> float:
    """A number of seconds parameter within [low, high]."""
    value = p.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            low <= value <= high):
        raise InvalidParamsError(f"{name} must be a number of seconds from {low:g} to {high:g}")
    return float(value)


def pop_param(value: Any) -> ScreenPop:
    """The ``screen_pop`` parameter of ``call.make``."""
    return ScreenPop().merged(validate_fields(value))
