#!/usr/bin/env python3
"""Screenshots of the agent desktop in a realistic state, for the README.

Starts Xvfb on a free display, then runs the desktop app (in a child process,
on the X server) with IT's example provisioning (``--provisioning
resources/provisioning.example.toml``) in a throw-away ``--profile``. A
headless softphone plays the customer: it calls the agent with a screen pop
(case id, name, notes), the agent answers, and the Session Transfer screen
shows the example directory. The example's colleagues live on
pbx.example.com, which does not exist here, so their presence is set in the
directory as a presence server would report it.

Last, two more headless softphones stand in for two colleagues (their
directory addresses point at them): the agent consults one from the transfer
screen and calls the other in with Call, for the four-way conference.

Usage:  .venv/bin/python scripts/screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "resources" / "provisioning.example.toml"
PRESENCE = {  # agent id -> (state, Not Ready reason); a.moreau is this agent
    "a.moreau": ("talking", ""),
    "b.okafor": ("available", ""), "c.lindqvist": ("talking", ""),
    "d.haddad": ("not_ready", "Lunch"), "l.dubois": ("after_call_work", ""),
    "e.novak": ("available", ""), "f.silva": ("consult", ""), "g.tanaka": ("not_ready", "Training"),
    "i.rossi": ("talking", ""), "j.kowalski": ("available", ""),
}
POP = {"name": "Margaret O'Neill", "case_id": "C-2024-0815", "account": "Premium 4471-22",
       "queue": "Billing disputes",
       "notes": "Double charge on the March invoice; promised a call back today."}


# -- a minimal JSON-RPC client for the headless customer ------------------------------------

class Api:
    def __init__(self, profile: Path) -> None:
        info = json.loads((profile / "api.json").read_text())
        self.sock = socket.create_connection(("127.0.0.1", info["port"]), timeout=10)
        self.file = self.sock.makefile("rb")
        self.ids = itertools.count(1)
        self.call("auth", token=info["token"])

    def call(self, method: str, **params: Any) -> Any:
        req_id = next(self.ids)
        line = json.dumps({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params})
        self.sock.sendall(line.encode() + b"\n")
        while True:
            msg = json.loads(self.file.readline())
            if msg.get("id") == req_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]


def answer_when_rung(api: Api, spin_until: Callable[[Callable[[], bool], str], None]) -> None:
    """Answer the peer's first incoming call once it rings (spinning the app meanwhile)."""
    ringing: list[str] = []

    def rung() -> bool:
        ringing[:] = [c["call_id"] for c in api.call("call.list")["calls"]
                      if c["direction"] == "inbound"]
        return bool(ringing)

    spin_until(rung, "a colleague's phone to ring")
    api.call("call.answer", call_id=ringing[0])


def start_peer(base: Path, name: str) -> tuple[subprocess.Popen[bytes], Api]:
    profile = base / name
    profile.mkdir(parents=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "softphone", "--headless", "--profile", str(profile),
         "--api-port", "0", "--sip-bind", "127.0.0.1", "--sip-port", "0", "--sip-user", name,
         "--null-audio"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    deadline = time.monotonic() + 20
    while not (profile / "api.json").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the {name} softphone did not start")
        time.sleep(0.05)
    return proc, Api(profile)


# -- the app, on the X server -----------------------------------------------------------------

def run_app(out_dir: Path, base: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from PySide6.QtCore import QCoreApplication, QTimer
    from PySide6.QtWidgets import QApplication

    from softphone.app_config import plan_start
    from softphone.cli import build_parser
    from softphone.config.passwords import PasswordStore
    from softphone.config.startup import load_configuration
    from softphone.core.agent_state import AgentState
    from softphone.core.calls import CallState
    from softphone.gui import window_options
    from softphone.runtime import Runtime, RuntimeOptions
    from softphone.ui.main_window import MainWindow

    app = QApplication(["softphone"])
    profile = base / "agent"
    argv = ["--profile", str(profile), "--provisioning", str(EXAMPLE), "--sip-port", "0",
            "--null-audio"]
    loaded = load_configuration(profile, str(EXAMPLE))
    plan = plan_start(build_parser().parse_args(argv), loaded, PasswordStore())
    runtime = Runtime(RuntimeOptions(profile=profile, engine=plan.engine, accounts=plan.accounts,
                                     directory=plan.directory))
    runtime.start()
    engine = runtime.engine
    window = MainWindow(engine, **window_options(runtime, loaded))
    window.resize(1280, 760)
    window.show()

    def spin_until(done: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            QCoreApplication.processEvents()
            time.sleep(0.01)

    def settle(seconds: float = 0.4) -> None:
        QTimer.singleShot(int(seconds * 1000), app.quit)
        app.exec()

    peers: list[tuple[subprocess.Popen[bytes], Api]] = [start_peer(base, "customer")]
    api = peers[0][1]
    try:
        # An earlier call the agent missed, for the history.
        api.call("call.make", uri=engine.local_uri, screen_pop={"name": "Tom Becker"})
        spin_until(lambda: bool(engine.calls.snapshots()), "the first call")
        engine.calls.reject(engine.calls.snapshots()[0].call_id, 486)
        spin_until(lambda: window.history_model.rowCount() == 1, "the history entry")
        # The customer, with a screen pop.
        api.call("call.make", uri=engine.local_uri, screen_pop=POP)
        spin_until(lambda: any(s.state in (CallState.INCOMING, CallState.EARLY)
                               for s in engine.calls.snapshots()), "the customer's call")
        call_id = engine.calls.snapshots()[0].call_id
        engine.calls.answer(call_id)
        spin_until(lambda: engine.calls.get(call_id).state == CallState.CONFIRMED, "the answer")
        directory = engine.directory
        for agent_id, (state, reason) in PRESENCE.items():
            directory.agents[agent_id].state = AgentState(state)
            directory.agents[agent_id].reason = reason
            engine.presence.agent_changed.emit(agent_id)
        screen = window.transfer_screen
        assert screen is not None
        screen.select_target("agent:b.okafor")
        window.call_panel.select_call(call_id)
        spin_until(lambda: window.call_panel.model.rowCount() == 1, "the missed call to go",
                   timeout=10)
        settle(1.2)  # the call and agent timers tick past 0:00
        out_dir.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(out_dir / "agent-desktop.png"))
        screen.grab().save(str(out_dir / "session-transfer.png"))

        screen.manual_entry.setText("020 7946")
        settle()
        screen.grab().save(str(out_dir / "session-transfer-invalid-number.png"))
        screen.manual_entry.setText("+44 20 7946 0018")
        settle()
        screen.grab().save(str(out_dir / "session-transfer-external.png"))
        window.tabs.setCurrentWidget(window.history_view)
        settle()
        window.grab().save(str(out_dir / "call-history.png"))

        # The four-way conference: Ben Okafor and Eva Novak are two more local
        # softphones (the example's policy allows transfers to *.example.com
        # only, so 127.0.0.1 is allowed here too).
        window.tabs.setCurrentWidget(window.call_panel)
        screen.manual_entry.clear()
        engine.transfers.policy.allowed_domains.append("127.0.0.1")
        colleagues = {"b.okafor": start_peer(base, "ben"), "e.novak": start_peer(base, "eva")}
        peers.extend(colleagues.values())
        for agent_id, (_, peer_api) in colleagues.items():
            directory.agents[agent_id].uri = peer_api.call("status")["local_uri"]
        assert screen.select_target("agent:b.okafor") and screen.start_supervised()
        answer_when_rung(colleagues["b.okafor"][1], spin_until)
        spin_until(screen.complete_button.isEnabled, "the consultation")
        screen.manual_entry.setText(directory.agents["e.novak"].uri)
        assert screen.call_fourth_party()
        answer_when_rung(colleagues["e.novak"][1], spin_until)
        conference = engine.conference
        spin_until(lambda: len(conference.current().mixing()) == 3,  # type: ignore[union-attr]
                   "the four-way mix")
        for agent_id in colleagues:  # as their presence would now say
            directory.agents[agent_id].state = AgentState.CONFERENCE
            engine.presence.agent_changed.emit(agent_id)
        settle(1.2)
        screen.grab().save(str(out_dir / "four-way-conference.png"))
    finally:
        for proc, peer_api in peers:
            peer_api.call("app.quit")
            proc.wait(15)
        runtime.shutdown()


# -- the X server -------------------------------------------------------------------------------

def free_display() -> int:
    for number in range(90, 200):
        if not Path(f"/tmp/.X{number}-lock").exists() and \
                not Path(f"/tmp/.X11-unix/X{number}").exists():
            return number
    raise RuntimeError("no free X display number between :90 and :199")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        run_app(args.out.resolve(), args.child)
        return 0
    if shutil.which("Xvfb") is None:
        print("Xvfb is needed: apt-get install xvfb", file=sys.stderr)
        return 2
    number = free_display()
    xvfb = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1400x900x24",
                             "-nolisten", "tcp"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{number}").exists():
            if xvfb.poll() is not None or time.monotonic() > deadline:
                print("Xvfb did not start", file=sys.stderr)
                return 2
            time.sleep(0.05)
        with tempfile.TemporaryDirectory(prefix="softphone-shots-") as base:
            env = dict(os.environ, DISPLAY=f":{number}", QT_QPA_PLATFORM="xcb",
                       SOFTPHONE_SYSTEM_CONFIG_DIR=base)
            env.pop("SOFTPHONE_PROVISIONING", None)
            result = subprocess.run([sys.executable, __file__, "--child", base,
                                     "--out", str(args.out)], env=env, cwd=ROOT, timeout=180)
    finally:
        xvfb.terminate()
        xvfb.wait(10)
    if result.returncode == 0:
        for png in sorted(args.out.glob("*.png")):
            print(png.relative_to(ROOT) if png.is_relative_to(ROOT) else png)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
