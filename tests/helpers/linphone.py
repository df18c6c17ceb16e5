"""linphone-daemon (liblinphone 5.1, Debian's ``linphone-cli``) as a scripted peer.

It honours Replaces, so it can be the customer of an attended transfer. Each
:class:`Linphone` runs with its own HOME, config (``rc``), SIP/RTP ports and
control socket (``--pipe NAME`` creates ``/tmp/NAME``). The daemon answers each
command in one write (``Status: Ok`` + body); events are polled with
``pop-event``. Pitfalls (../shared/notes/test-lab.md): it never registers
unless ``auto_net_state_mon=0`` and ``register_only_when_network_is_up=0``, nor
even open its SIP port unless ``$HOME/.local/share/linphone`` exists;
``call-stats`` crashed it; always pass call ids.

What it hears: with ``pulse`` (a private PulseAudio daemon with null sinks,
see tests/sip/audio/audio_helpers.py) its sound card is that daemon, and
:meth:`Linphone.heard` records the default sink's monitor. (An ALSA ``file``
PCM on the null device has no clock: liblinphone's ticker ran free on it.)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from tests.helpers.ports import free_port, free_ports
from tests.helpers.processes import connect_while_running, kill_group

if TYPE_CHECKING:
    from tests.sip.audio.audio_helpers import PulseServer

LINPHONE_DAEMON = "linphone-daemon"
START_TIMEOUT = 10.0
# The daemon answers within milliseconds; on a loaded CI machine it once took
# more than 5 s to answer incall-player-start (a bound, not a wait).
COMMAND_TIMEOUT_S = 15.0


def linphone_binary() -> str | None:
    return shutil.which(LINPHONE_DAEMON)


class LinphoneError(RuntimeError):
    pass


def _parse(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        if ": " in line:
            key, value = line.split(": ", 1)
            out.setdefault(key.strip(), value.strip())
    return out


class Linphone:
    """One linphone-daemon registered as ``aor`` through ``proxy`` (host:port, UDP)."""

    def __init__(self, rundir: Path, *, aor: str, user: str, password: str, realm: str,
                 proxy: str, pulse: PulseServer | None = None) -> None:
        self.rundir = rundir
        self.rundir.mkdir(parents=True, exist_ok=True)
        self.aor = aor
        self.user = user
        self.password = password
        self.realm = realm
        self.proxy = proxy
        self.sip_port = 0
        self.pulse = pulse
        self.pipe = f"softphone-test-{uuid.uuid4().hex[:12]}"
        self.log_path = rundir / "linphone.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self.events: list[dict[str, str]] = []

    @property
    def socket_path(self) -> Path:
        return Path("/tmp") / self.pipe

    # -- life cycle -------------------------------------------------------------

    def start(self) -> Linphone:
        binary = linphone_binary()
        if binary is None:
            raise LinphoneError("linphone-daemon is not installed (apt-get install linphone-cli)")
        self.sip_port = free_port()
        rtp = free_ports(1, tcp=False)[0]
        rc = self.rundir / "rc"
        rc.write_text(f"""\
[sip]
sip_port={self.sip_port}
sip_tcp_port=0
sip_tls_port=0
register_only_when_network_is_up=0
auto_net_state_mon=0
default_proxy=0
contact=sip:{self.user}@127.0.0.1
[net]
ipv6=0
[rtp]
audio_rtp_port={rtp}-{rtp + 40}
[sound]
echocancellation=0
[proxy_0]
reg_proxy=<sip:{self.proxy};transport=udp>
reg_route=<sip:{self.proxy};transport=udp;lr>
reg_identity=<{self.aor}>
reg_expires=60
reg_sendregister=1
publish=0
[auth_info_0]
username={self.user}
userid={self.user}
passwd={self.password}
realm={self.realm}
domain={self.realm}
""")
        empty = self.rundir / "factory.rc"
        empty.write_text("")
        home = self.rundir / "home"
        # Without its database directory the core never gets to open its SIP
        # sockets (and never registers).
        (home / ".local" / "share" / "linphone").mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, HOME=str(home))
        if self.pulse is not None:
            env.update(PULSE_SERVER=self.pulse.env["PULSE_SERVER"],
                       XDG_RUNTIME_DIR=self.pulse.env["XDG_RUNTIME_DIR"])
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [binary, "--config", str(rc), "--factory-config", str(empty), "--pipe", self.pipe,
             "--disable-stats-events"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
            cwd=self.rundir, start_new_session=True)
        log.close()
        try:
            self._sock = connect_while_running(
                self.proc, self._connect_socket, timeout=START_TIMEOUT,
                what="linphone-daemon", log_text=self.log_text, error=LinphoneError)
        except LinphoneError:
            self.stop()
            raise
        return self

    def _connect_socket(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(self.socket_path))
        except OSError:
            sock.close()
            raise
        return sock

    def stop(self, timeout: float = 10.0) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(OSError, LinphoneError, TimeoutError):
                self.command("terminate", timeout=5.0)
            kill_group(proc, timeout)
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        self.socket_path.unlink(missing_ok=True)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # -- control ---------------------------------------------------------------

    def command(self, line: str, timeout: float = COMMAND_TIMEOUT_S) -> dict[str, str]:
        """Send one command; returns the response's ``Key: value`` fields.

        The daemon writes each response at once and nothing else unasked:
        read until the response has arrived and the socket is quiet.
        """
        if self._sock is None:
            raise LinphoneError("linphone-daemon is not running")
        self._sock.sendall(line.encode() + b"\n")
        buf = b""
        deadline = time.monotonic() + timeout
        while True:
            self._sock.settimeout(0.05 if buf.startswith(b"Status:") else
                                  max(0.01, deadline - time.monotonic()))
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError:
                if buf.startswith(b"Status:"):
                    break
                tail = self.log_text()[-1500:]
                raise TimeoutError(f"linphone: no answer to {line!r} in {timeout} s; "
                                   f"its log ends:\n{tail}") from None
            if not chunk:
                raise LinphoneError("linphone-daemon closed its socket")
            buf += chunk
        text = buf.decode(errors="replace")
        fields = _parse(text)
        if fields.get("Status") != "Ok":
            raise LinphoneError(f"{line}: {text.strip()}")
        return fields

    def poll_events(self) -> None:
        """Move every pending daemon event into :attr:`events`."""
        while True:
            fields = self.command("pop-event")
            if fields.get("Size", "0") == "0" and "Event-type" not in fields:
                return
            self.events.append(fields)
            if fields.get("Size") in (None, "0", "1"):
                return

    def wait_event(self, event: str, call_id: str | None = None, timeout: float = 10.0,
                   since: int = 0, sender: str | None = None) -> dict[str, str]:
        """Wait for a call-state event (``Event: LinphoneCallStreamsRunning`` ...),
        of one call, or of a call whose ``From`` contains ``sender``."""
        deadline = time.monotonic() + timeout
        while True:
            for ev in self.events[since:]:
                if (ev.get("Event") == event and (call_id is None or ev.get("Id") == call_id)
                        and (sender is None or sender in ev.get("From", ""))):
                    return ev
            if time.monotonic() > deadline:
                seen = [(e.get("Event"), e.get("Id")) for e in self.events[since:]]
                raise TimeoutError(f"linphone: no {event} in {timeout} s; saw {seen}")
            self.poll_events()
            time.sleep(0.02)

    def wait_registered(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            fields = self.command("register-status ALL")
            if fields.get("State") == "LinphoneRegistrationOk":
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"linphone not registered in {timeout} s: {fields}")
            time.sleep(0.05)

    def call(self, uri: str) -> str:
        return self.command(f"call {uri}")["Id"]

    def call_status(self, call_id: str) -> dict[str, str]:
        return self.command(f"call-status {call_id}")

    def heard(self, seconds: float, freqs: list[float]) -> dict[float, float]:
        """Tone levels (dBFS) in what it plays out during the next ``seconds``."""
        if self.pulse is None:
            raise LinphoneError("start it with a PulseServer to hear what it hears")
        from tests.helpers import tones
        from tests.sip.audio.audio_helpers import RATE

        samples = self.pulse.record("spk.monitor", seconds) / 32768.0
        samples = samples[int(0.1 * RATE):]
        return {f: tones.tone_level(samples, RATE, f) for f in freqs}

    def mark(self) -> int:
        self.poll_events()
        return len(self.events)
