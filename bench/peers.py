"""Launchers for our softphone (headless and GUI) and the peers, all against one Kamailio.

Every launcher starts a fresh process with a fresh home/profile directory, on SIP and
RTP ports picked now, registering one Kamailio user. ``t0`` is ``time.time()`` taken just
before ``Popen`` so it compares with tcpdump's timestamps.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.util import find_process, stop_process
from tests.helpers.api_client import ApiClient
from tests.helpers.kamailio import Kamailio
from tests.helpers.ports import free_port, free_ports

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").exists() else sys.executable


@dataclass
class Launched:
    """A started softphone process."""

    name: str
    proc: subprocess.Popen[bytes]
    t0: float
    sip_port: int
    home: Path
    process_name: str  # /proc/PID/comm of the process to measure
    api: ApiClient | None = None
    extra: list[subprocess.Popen[bytes]] = field(default_factory=list)
    ctrl: Any = None

    @property
    def pid(self) -> int:
        """The measured process (the app itself, not a wrapper such as dbus-run-session)."""
        return find_process(self.proc.pid, self.process_name) or self.proc.pid

    def stop(self) -> None:
        if self.ctrl is not None:
            with contextlib.suppress(Exception):
                self.ctrl.close()
        if self.api is not None and self.proc.poll() is None:
            with contextlib.suppress(Exception):
                self.api.call("app.quit")
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            stop_process(self.proc, group=True)
        stop_process(self.proc, group=True)
        if self.api is not None:
            self.api.close()
        for p in self.extra:
            stop_process(p)


def _env(home: Path, display: str | None, **more: str) -> dict[str, str]:
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_DATA_HOME=str(home / ".local/share"), XDG_RUNTIME_DIR=str(home / "run"),
               PYTHONUNBUFFERED="1", **more)
    (home / "run").mkdir(parents=True, exist_ok=True, mode=0o700)
    env.pop("PULSE_SERVER", None)
    if display:
        env["DISPLAY"] = display
    else:
        env.pop("DISPLAY", None)
    return env


# -- ours -------------------------------------------------------------------------------

def ours(workdir: Path, kam: Kamailio | None, user: str | None, *, gui: bool = False,
         display: str | None = None, extra_args: list[str] | None = None,
         env_extra: dict[str, str] | None = None, name: str = "ours",
         register: bool = True) -> Launched:
    """Our app; once api.json appears, registers ``user`` at Kamailio through the API."""
    home = workdir / f"{name}-{time.monotonic_ns()}"
    profile = home / "profile"
    profile.mkdir(parents=True)
    # The first-run dialog is for a person's first start, not a start-up benchmark.
    (profile / "settings.toml").write_text("schema_version = 1\nfirst_run_done = true\n")
    sip_port = free_port()
    cmd = [PYTHON, "-m", "softphone", "--profile", str(profile), "--api-port", "0",
           "--sip-bind", "127.0.0.1", "--sip-port", str(sip_port)]
    if gui:
        env = _env(home, display, QT_QPA_PLATFORM="xcb")
    else:
        cmd.append("--headless")
        env = _env(home, None, QT_QPA_PLATFORM="offscreen")
    if not any(a.startswith("--audio") for a in extra_args or []):
        cmd.append("--null-audio")
    cmd += extra_args or []
    env.update(env_extra or {})
    log = (home / "app.log").open("wb")
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                            start_new_session=True)
    launched = Launched(name, proc, t0, sip_port, home, "python")
    api_file = profile / "api.json"
    deadline = time.monotonic() + 30
    while not api_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_process(proc, group=True)
            raise RuntimeError(f"{name} did not start: {(home / 'app.log').read_text()[-2000:]}")
        time.sleep(0.001)
    info: dict[str, Any] = {}
    while not info:
        with contextlib.suppress(ValueError):
            info = json.loads(api_file.read_text())
    launched.api = ApiClient(info["port"], info["token"], timeout=30)
    if register and kam is not None and user is not None:
        launched.api.call("account.register", **kam.account_params(user))
    return launched


def ours_uri(launched: Launched) -> str:
    return f"sip:{launched.name}@127.0.0.1:{launched.sip_port}"


# -- baresip ----------------------------------------------------------------------------

class BaresipCtrl:
    """baresip's ctrl_tcp: netstring-framed JSON commands, events on the same socket."""

    def __init__(self, port: int) -> None:
        deadline = time.monotonic() + 10
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        self.buf = b""
        self.events: list[tuple[float, dict[str, Any]]] = []

    def send(self, command: str, params: str = "") -> None:
        body = json.dumps({"command": command, "params": params, "token": "b"}).encode()
        self.sock.sendall(str(len(body)).encode() + b":" + body + b",")

    def _read_one(self, timeout: float) -> dict[str, Any] | None:
        self.sock.settimeout(timeout)
        while True:
            head, sep, rest = self.buf.partition(b":")
            if sep:
                size = int(head)
                if len(rest) > size:
                    msg = rest[:size]
                    self.buf = rest[size + 1:]
                    parsed: dict[str, Any] = json.loads(msg)
                    return parsed
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return None
            if not chunk:
                raise ConnectionError("baresip closed its control socket")
            self.buf += chunk

    def wait_event(self, kind: str, timeout: float = 10.0) -> float:
        """Wall-clock time at which an event of ``kind`` was read."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self._read_one(max(0.001, deadline - time.monotonic()))
            if msg is None:
                break
            now = time.time()
            if msg.get("event"):
                self.events.append((now, msg))
                if msg.get("type") == kind:
                    return now
        raise TimeoutError(f"no baresip {kind} event in {timeout} s")

    def close(self) -> None:
        self.sock.close()


def baresip(workdir: Path, kam: Kamailio, user: str, *, answer: str = "manual",
            audio_source: str = "aubridge,x", audio_player: str = "aubridge,x",
            ctrl: bool = True,
            name: str = "baresip") -> Launched:
    home = workdir / f"{name}-{time.monotonic_ns()}"
    home.mkdir(parents=True)
    sip_port, ctrl_port = free_ports(2)
    modules = ["g711.so", "aubridge.so", "aufile.so", "account.so"]
    if audio_player.startswith("alsa"):
        modules.append("alsa.so")
    if ctrl:
        # ctrl_tcp passes commands to the command table; "dial" etc. come from menu.
        modules += ["menu.so", "ctrl_tcp.so"]
    (home / "config").write_text(
        "poll_method epoll\n"
        f"sip_listen 127.0.0.1:{sip_port}\n"
        "net_interface 127.0.0.1\n"
        f"audio_source {audio_source}\n"
        f"audio_player {audio_player}\n"
        "audio_alert aubridge,x\n"
        "module_path /usr/lib/baresip/modules\n"
        + "".join(f"module {m}\n" for m in modules)
        + f"ctrl_tcp_listen 127.0.0.1:{ctrl_port}\n"
    )
    password = kam.users[user]
    (home / "accounts").write_text(
        f"<sip:{user}@{kam.host}>;auth_pass={password};"
        f"outbound=\"sip:{kam.host}:{kam.udp_port};lr\";regint=60;answermode={answer}\n")
    log = (home / "baresip.log").open("wb")
    t0 = time.time()
    proc = subprocess.Popen(["baresip", "-f", str(home)], stdin=subprocess.DEVNULL,
                            stdout=log, stderr=subprocess.STDOUT, env=_env(home, None),
                            start_new_session=True)
    launched = Launched(name, proc, t0, sip_port, home, "baresip")
    if ctrl:
        launched.ctrl = BaresipCtrl(ctrl_port)
    return launched


# -- linphone (liblinphone 5.1) ---------------------------------------------------------

def _linphonerc(kam: Kamailio, user: str, sip_port: int, rtp_port: int) -> str:
    return f"""[sip]
sip_port={sip_port}
sip_tcp_port=-1
sip_tls_port=-1
use_ipv6=0
register_only_when_network_is_up=0
default_proxy=0
[net]
auto_net_state_mon=0
[rtp]
audio_rtp_port={rtp_port}
[app]
first_launch=0
auto_start=0
[ui]
exit_on_close=1
[auth_info_0]
username={user}
passwd={kam.users[user]}
realm={kam.host}
domain={kam.host}
[proxy_0]
reg_proxy=<sip:{kam.host}:{kam.udp_port};transport=udp>
reg_route=<sip:{kam.host}:{kam.udp_port};transport=udp;lr>
reg_identity=sip:{user}@{kam.host}
reg_expires=60
reg_sendregister=1
"""


def linphonec(workdir: Path, kam: Kamailio, user: str, name: str = "linphonec") -> Launched:
    home = workdir / f"{name}-{time.monotonic_ns()}"
    (home / ".local/share/linphone").mkdir(parents=True)
    sip_port, rtp_port = free_ports(2)
    (home / "rc").write_text(_linphonerc(kam, user, sip_port, rtp_port))
    (home / "empty.rc").write_text("")
    log = (home / "linphonec.log").open("wb")
    t0 = time.time()
    # stdin stays an open pipe: linphonec quits at end of input.
    proc = subprocess.Popen(["linphonec", "-c", str(home / "rc"), "-b", str(home / "empty.rc")],
                            stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                            env=_env(home, None), start_new_session=True)
    return Launched(name, proc, t0, sip_port, home, "linphonec")


def linphone_desktop(workdir: Path, kam: Kamailio, user: str, display: str,
                     name: str = "linphone-desktop") -> Launched:
    home = workdir / f"{name}-{time.monotonic_ns()}"
    (home / ".local/share/linphone").mkdir(parents=True)
    (home / ".config/linphone").mkdir(parents=True)
    sip_port, rtp_port = free_ports(2)
    rc = home / ".config/linphone/linphonerc"
    rc.write_text(_linphonerc(kam, user, sip_port, rtp_port))
    log = (home / "linphone.log").open("wb")
    env = _env(home, display, QT_QPA_PLATFORM="xcb")
    t0 = time.time()
    proc = subprocess.Popen(["dbus-run-session", "--", "linphone", "--config", str(rc)],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            env=env, start_new_session=True)
    return Launched(name, proc, t0, sip_port, home, "linphone")


# -- twinkle ----------------------------------------------------------------------------

def twinkle(workdir: Path, kam: Kamailio, user: str, display: str,
            name: str = "twinkle") -> Launched:
    home = workdir / f"{name}-{time.monotonic_ns()}"
    tdir = home / ".twinkle"
    tdir.mkdir(parents=True)
    sip_port, rtp_port = free_ports(2)
    (home / ".asoundrc").write_text("pcm.!default { type null }\nctl.!default { type hw card 0 }\n")
    (tdir / "bench.cfg").write_text(f"""user_name={user}
user_domain={kam.host}
user_display=Bench
auth_realm={kam.host}
auth_name={user}
auth_pass={kam.users[user]}
outbound_proxy=sip:{kam.host}:{kam.udp_port};transport=udp
all_requests_to_proxy=yes
register_at_startup=yes
registration_time=60
""")
    (tdir / "twinkle.sys").write_text(f"""sip_udp_port={sip_port}
rtp_port={rtp_port}
dev_ringtone=alsa:null
dev_speaker=alsa:null
dev_mic=alsa:null
validate_audio_dev=no
gui_use_systray=no
gui_hide_on_close=no
start_user_profile=bench
start_hidden=no
""")
    log = (home / "twinkle.log").open("wb")
    env = _env(home, display, QT_QPA_PLATFORM="xcb")
    t0 = time.time()
    proc = subprocess.Popen(["twinkle", "-f", "bench", "--force", "--sip-port", str(sip_port),
                             "--rtp-port", str(rtp_port)],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            env=env, start_new_session=True)
    return Launched(name, proc, t0, sip_port, home, "twinkle")


def terminate(launched: Launched) -> None:
    """Stop a peer: SIGTERM to its process group (our app: app.quit first)."""
    if launched.api is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(launched.proc.pid, signal.SIGTERM)
    launched.stop()
