"""Automation API methods and events of the SIP engine (issue: foundation).

Method and event names and parameters here are a contract documented in
docs/automation.md: add to them, never rename.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from softphone import __version__
from softphone.automation.agent_methods import pop_param
from softphone.automation.jsonrpc import Params
from softphone.automation.server import AutomationServer
from softphone.core.calls import CallSnapshot
from softphone.sip.account_types import AccountInfo, AccountSpec
from softphone.sip.audio.devices import list_devices
from softphone.sip.engine import SipEngine


def install(server: AutomationServer, engine: SipEngine, quit_app: Callable[[], None]) -> None:
    """Register the engine's methods on ``server`` and forward its events."""
    calls = engine.calls
    accounts = engine.accounts

    def status(p: dict[str, Any]) -> Any:
        Params(p, set())
        return {"version": __version__, **engine.status()}

    def account_register(p: dict[str, Any]) -> Any:
        a = Params(p, {"uri", "registrar", "username", "password", "realm", "transport",
                       "proxy", "expires", "srtp", "display_name", "publish"})
        spec = AccountSpec(
            uri=a.text("uri"), registrar=a.text("registrar", ""), username=a.text("username", ""),
            password=a.text("password", ""), realm=a.text("realm", "*"),
            transport=a.text("transport", "udp").lower(), proxy=a.text("proxy", ""),
            expires=a.integer("expires", 300), srtp=a.text("srtp", "off"),
            display_name=a.text("display_name", ""), publish=a.flag("publish", False),
        )
        engine.pump.kick()
        return {"account_id": accounts.register(spec)}

    def id_method(key: str, action: Callable[[str], object]) -> Callable[[dict[str, Any]], Any]:
        """A method taking one id (``account_id`` or ``call_id``) and returning {}."""
        def method(p: dict[str, Any]) -> Any:
            action(Params(p, {key}).text(key))
            engine.pump.kick()
            return {}
        return method

    def account_set_password(p: dict[str, Any]) -> Any:
        a = Params(p, {"account_id", "password"})
        accounts.set_password(a.text("account_id"), a.text("password"))
        engine.pump.kick()
        return {}

    def account_list(p: dict[str, Any]) -> Any:
        Params(p, set())
        return {"accounts": [i.to_json() for i in accounts.infos()]}

    def call_make(p: dict[str, Any]) -> Any:
        a = Params(p, {"uri", "headers", "account_id", "screen_pop"})
        pop = pop_param(a.mapping("screen_pop")) if "screen_pop" in p else None
        engine.pump.kick()
        call_id = calls.make_call(a.text("uri"), a.opt_text("account_id"), a.mapping("headers"),
                                  pop=pop)
        return {"call_id": call_id}

    def call_reject(p: dict[str, Any]) -> Any:
        a = Params(p, {"call_id", "code"})
        calls.reject(a.text("call_id"), a.integer("code", 486))
        engine.pump.kick()
        return {}

    def call_mute(p: dict[str, Any]) -> Any:
        a = Params(p, {"call_id", "muted"})
        calls.set_mute(a.text("call_id"), a.flag("muted", True))
        return {}

    def call_dtmf(p: dict[str, Any]) -> Any:
        a = Params(p, {"call_id", "digits"})
        method = calls.send_dtmf(a.text("call_id"), a.text("digits"))
        engine.pump.kick()
        return {"method": method}

    def call_list(p: dict[str, Any]) -> Any:
        Params(p, set())
        # The INVITE's headers are listed here (not in events) for support staff
        # checking what a server or CRM attached to a call.
        return {"calls": [{**c.to_json(), "headers": c.headers} for c in calls.snapshots()]}

    def recording_start(p: dict[str, Any]) -> Any:
        path = Path(Params(p, {"path"}).text("path")).expanduser()
        engine.start_recording(path)
        return {"path": str(path)}

    def recording_stop(p: dict[str, Any]) -> Any:
        Params(p, set())
        return {"stopped": engine.stop_recording()}

    def audio_devices(p: dict[str, Any]) -> Any:
        Params(p, set())
        return {"mode": engine.audio_mode,
                "devices": [d.to_json() for d in list_devices()]}

    def app_quit(p: dict[str, Any]) -> Any:
        Params(p, set())
        quit_app()
        return {"quitting": True}

    for name, handler in {
        "status": status,
        "account.register": account_register,
        "account.unregister": id_method("account_id", accounts.unregister),
        "account.reregister": id_method("account_id", accounts.reregister),
        "account.remove": id_method("account_id", accounts.remove),
        "account.set_password": account_set_password,
        "account.list": account_list,
        "call.make": call_make,
        "call.answer": id_method("call_id", calls.answer),
        "call.reject": call_reject,
        "call.hangup": id_method("call_id", calls.hangup),
        "call.hold": id_method("call_id", calls.hold),
        "call.resume": id_method("call_id", calls.resume),
        "call.mute": call_mute,
        "call.dtmf": call_dtmf,
        "call.list": call_list,
        "recording.start": recording_start,
        "recording.stop": recording_stop,
        "audio.devices": audio_devices,
        "app.quit": app_quit,
    }.items():
        server.register(name, handler)

    def on_registration(info: AccountInfo) -> None:
        server.emit_event("registration", info.to_json())

    def on_call_state(snap: CallSnapshot) -> None:
        server.emit_event("call.state", snap.to_json())

    def on_call_changed(snap: CallSnapshot) -> None:
        server.emit_event("call.updated", snap.to_json())

    def on_dtmf(call_id: str, digit: str, method: str) -> None:
        server.emit_event("call.dtmf", {"call_id": call_id, "digit": digit, "method": method})

    accounts.registration_changed.connect(on_registration)
    calls.call_state.connect(on_call_state)
    calls.call_changed.connect(on_call_changed)
    calls.dtmf_received.connect(on_dtmf)
