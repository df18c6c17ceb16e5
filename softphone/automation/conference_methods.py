"""Automation API methods and events of the four-way conference (a contract:
docs/automation.md)."""

from __future__ import annotations

from typing import Any

from softphone.automation.jsonrpc import Params
from softphone.automation.server import AutomationServer
from softphone.sip.engine import SipEngine


def install(server: AutomationServer, engine: SipEngine) -> None:
    conference = engine.conference

    def state() -> dict[str, Any]:
        conf = conference.current()
        failed = conference.last_failure()
        return {"conference": {**conf.to_json(), "ended": False} if conf else None,
                "last_failure": failed.to_json() if failed else None}

    def add_party(p: dict[str, Any]) -> Any:
        a = Params(p, {"target"})
        engine.pump.kick()
        return {"call_id": conference.add_party(a.text("target"))}

    def drop_party(p: dict[str, Any]) -> Any:
        conference.drop_party(Params(p, {"call_id"}).text("call_id"))
        engine.pump.kick()
        return state()

    def simple(action: Any) -> Any:
        def method(p: dict[str, Any]) -> Any:
            Params(p, set())
            action()
            engine.pump.kick()
            return state()
        return method

    def listing(p: dict[str, Any]) -> Any:
        Params(p, set())
        return state()

    for name, handler in {
        "conference.add_party": add_party,
        "conference.drop_party": drop_party,
        "conference.list": listing,
        "conference.hold": simple(conference.hold),
        "conference.resume": simple(conference.resume),
        "conference.leave": simple(conference.leave),
        "conference.rejoin": simple(conference.rejoin),
        "conference.end": simple(conference.end),
    }.items():
        server.register(name, handler)

    conference.changed.connect(lambda data: server.emit_event("conference", data))
