"""baresip as a scripted customer or colleague (Debian's ``baresip-core``).

One :class:`Baresip` is one ``baresip -f DIR`` process with its own config
directory, SIP port and ``ctrl_tcp`` control port (JSON in netstrings over
TCP). It registers at Kamailio as one of its users, sends a WAV file as its
microphone (``aufile``) and records both directions of every call with the
``sndfile`` module (``*-dec.wav`` is what it heard).

Limits (see ../shared/notes/test-lab.md): baresip cannot take part in an
attended transfer (an INVITE with Replaces becomes a second call), and it
follows a REFER by itself (blind transfer). sndfile names its files with one
second resolution: two calls in the same second share a file name.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.helpers.ports import HOST, free_ports
from tests.helpers.processes import connect_while_running, kill_group

BARESIP = "baresip"
MODULE_DIRS = ("/usr/lib/baresip/modules", "/usr/local/lib/baresip/modules")
START_TIMEOUT = 10.0

Event = dict[str, Any]


def baresip_binary() -> str | None:
    return shutil.which(BARESIP)


def _module_dir() -> str:
    for d in MODULE_DIRS:
        if Path(d, "ctrl_tcp.so").exists():
            return d
    raise RuntimeError(f"no baresip module directory with ctrl_tcp.so in {MODULE_DIRS}")


class BaresipError(RuntimeError):
    pass


class Baresip:
    """One baresip process registered as ``aor`` through ``outbound`` (a proxy URI).

    Attributes:
        rundir: config dir (``config``, ``accounts``), log and recordings (``rec/``).
        events: every event received on the control socket, in order.
    """

    def __init__(self, rundir: Path, *, aor: str, password: str, outbound: str,
                 audio_source: Path, codec: str = "PCMU/8000", answermode: str = "manual",
                 sip_trace: bool = False) -> None:
        self.rundir = rundir
        self.rundir.mkdir(parents=True, exist_ok=True)
        self.rec_dir = rundir / "rec"
        self.rec_dir.mkdir(exist_ok=True)
        self.aor = aor
        self.password = password
        self.outbound = outbound
        self.audio_source = audio_source
        self.codec = codec
        self.answermode = answermode
        # -s: every SIP message it sends and receives, in its log.
        self.sip_trace = sip_trace
        self.sip_port = 0
        self.ctrl_port = 0
        self.log_path = rundir / "baresip.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.events: list[Event] = []
        self._responses: list[Event] = []
        self._cv = threading.Condition()
        self._sock: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._token = 0

    # -- life cycle -------------------------------------------------------------

    def start(self) -> Baresip:
        binary = baresip_binary()
        if binary is None:
            raise BaresipError("baresip is not installed (apt-get install baresip-core)")
        # baresip also opens TLS on SIP port + 1: keep that one free too.
        for _ in range(20):
            self.sip_port, self.ctrl_port = free_ports(2)
            if self.sip_port + 1 != self.ctrl_port and _free_tcp(self.sip_port + 1):
                break
        self._write_config()
        log = self.log_path.open("wb")
        args = [binary, "-f", str(self.rundir), *(["-s"] if self.sip_trace else [])]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=subprocess.STDOUT, cwd=self.rundir,
                                     start_new_session=True)
        log.close()
        try:
            self._sock = connect_while_running(
                self.proc, lambda: socket.create_connection((HOST, self.ctrl_port), timeout=0.2),
                timeout=START_TIMEOUT, what="baresip", log_text=self.log_text,
                error=BaresipError)
        except BaresipError:
            self.stop()
            raise
        self._sock.settimeout(None)
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        return self

    def wait_registered(self, timeout: float = 10.0) -> None:
        """Wait until ``reginfo`` reports the account registered (the REGISTER_OK
        event may come before the control connection is up)."""
        deadline = time.monotonic() + timeout
        while True:
            info = str(self.command("reginfo").get("data", ""))
            if "OK" in info:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"baresip not registered in {timeout} s: {info}")
            with contextlib.suppress(TimeoutError):
                self.wait_event(lambda e: e.get("type") in ("REGISTER_OK", "REGISTER_FAIL"),
                                timeout=0.2)

    def stop(self, timeout: float = 10.0) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(OSError, BaresipError, TimeoutError):
                self.command("quit", timeout=2)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                kill_group(proc, 3)
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # -- control ---------------------------------------------------------------

    def command(self, command: str, params: str = "", timeout: float = 5.0) -> Event:
        """Run a command (``dial``, ``hangup``, ``accept``, ...) and return its response."""
        if self._sock is None:
            raise BaresipError("baresip is not running")
        with self._cv:
            self._token += 1
            token = str(self._token)
        body = json.dumps({"command": command, "params": params, "token": token}).encode()
        self._sock.sendall(f"{len(body)}:".encode() + body + b",")
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for resp in self._responses:
                    if resp.get("token") == token:
                        self._responses.remove(resp)
                        if resp.get("ok") is False:
                            raise BaresipError(f"{command} {params}: {resp.get('data')}")
                        return resp
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"baresip: no response to {command}")
                self._cv.wait(remaining)

    def dial(self, uri: str) -> None:
        self.command("dial", uri)

    def hangup(self) -> None:
        self.command("hangup")

    def mark(self) -> int:
        with self._cv:
            return len(self.events)

    def wait_event(self, predicate: Callable[[Event], bool], timeout: float = 10.0,
                   since: int = 0) -> Event:
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for ev in self.events[since:]:
                    if predicate(ev):
                        return ev
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [(e.get("type"), e.get("peeruri")) for e in self.events[since:]]
                    raise TimeoutError(f"baresip: no such event in {timeout} s; saw {seen}")
                self._cv.wait(remaining)

    def wait_call(self, event_type: str, timeout: float = 10.0, since: int = 0,
                  peer: str | None = None) -> Event:
        """Wait for a call event (``CALL_ESTABLISHED``, ``CALL_CLOSED``, ...)."""
        return self.wait_event(lambda e: e.get("type") == event_type
                               and (peer is None or peer in str(e.get("peeruri", ""))),
                               timeout, since)

    def received_requests(self, method: str) -> list[str]:
        """The ``method`` requests it received, as text (needs ``sip_trace``).

        libre's trace prints each message after a line naming the transport
        and both addresses (``UDP 127.0.0.1:5060 -> 127.0.0.1:PORT``); received
        ones have our SIP port on the right.
        """
        if not self.sip_trace:
            raise BaresipError("start it with sip_trace=True to see the messages")
        found = []
        for head, message in _trace_entries(self.log_text()):
            if head.endswith(f" -> {HOST}:{self.sip_port}") and message.startswith(f"{method} "):
                found.append(message)
        return found

    def recordings(self, kind: str = "dec") -> list[Path]:
        """sndfile's recordings, oldest first: ``dec`` = heard, ``enc`` = sent."""
        return sorted(self.rec_dir.glob(f"*-{kind}.wav"), key=lambda p: p.stat().st_mtime)

    # -- internals -------------------------------------------------------------

    def _write_config(self) -> None:
        mdir = _module_dir()
        (self.rundir / "config").write_text(f"""\
# written by tests/helpers/baresip.py
poll_method		epoll
sip_listen		{HOST}:{self.sip_port}
net_interface		{HOST}
call_local_timeout	120
call_max_calls		4
audio_player		aubridge,nowhere
audio_alert		aubridge,nowhere
audio_source		aufile,{self.audio_source}
audio_level		no
rtp_timeout		0
jitter_buffer_delay	1-10
module_path		{mdir}
module			g711.so
module			aufile.so
module			aubridge.so
module			sndfile.so
module_tmp		account.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		{HOST}:{self.ctrl_port}
snd_path		{self.rec_dir}
""")
        (self.rundir / "accounts").write_text(
            f"<{self.aor}>;auth_pass={self.password};outbound=\"{self.outbound}\";"
            f"regint=60;answermode={self.answermode};audio_codecs={self.codec}\n"
        )
        (self.rundir / "contacts").write_text("")

    def _read_loop(self) -> None:
        assert self._sock is not None
        buf = b""
        try:
            while True:
                chunk = self._sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
                while True:
                    colon = buf.find(b":")
                    if colon < 0:
                        break
                    length = int(buf[:colon])
                    if len(buf) < colon + 1 + length + 1:
                        break
                    msg = json.loads(buf[colon + 1:colon + 1 + length])
                    buf = buf[colon + 1 + length + 1:]
                    with self._cv:
                        if msg.get("response"):
                            self._responses.append(msg)
                        else:
                            self.events.append(msg)
                        self._cv.notify_all()
        except (OSError, ValueError):
            pass
        finally:
            with self._cv:
                self._cv.notify_all()


_TRACE_HEAD = re.compile(r"^(UDP|TCP|TLS) \S+ -> \S+$")


def _trace_entries(log: str) -> list[tuple[str, str]]:
    """baresip's SIP trace in its log: (transport line, message text) pairs.

    Each entry is a coloured ``#`` line, the transport line, then the message;
    it ends at the next entry or at a line of its own log output.
    """
    entries: list[tuple[str, list[str]]] = []
    current: list[str] | None = None
    for line in log.splitlines():
        if _TRACE_HEAD.match(line):
            current = []
            entries.append((line, current))
        elif line.endswith("#") and "\x1b[" in line:
            current = None
        elif current is not None:
            current.append(line)
    return [(head, "\n".join(lines)) for head, lines in entries]


def _free_tcp(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
            return True
        except OSError:
            return False
