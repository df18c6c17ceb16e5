"""The seven figures of issue 9 (and issue 4's conference figures)."""

from __future__ import annotations

import contextlib
import functools
import json
import signal
import subprocess
import threading
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench import peers, util
from bench.peers import Launched
from tests.helpers import tones
from tests.helpers.api_client import ApiClient
from tests.helpers.kamailio import Kamailio
from tests.helpers.ports import free_port

Log = Callable[[str], None]


@dataclass
class Samples:
    """Raw per-run values of one metric for one app, in run order."""

    values: dict[str, list[float]] = field(default_factory=dict)
    loads: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, key: str, value: float | None) -> None:
        if value is not None:
            self.values.setdefault(key, []).append(value)


def api(launched: Launched) -> ApiClient:
    assert launched.api is not None
    return launched.api


# -- 1 + 2: start-up, idle memory, idle wake-ups ----------------------------------------

def _wait_registered(cap: util.Capture, launched: Launched, kam: Kamailio,
                     timeout: float = 10.0) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if launched.proc.poll() is not None:
            return None
        reg = util.first_register_ok(cap.sip(), launched.t0, kam.udp_port, launched.sip_port)
        if reg is not None:
            return reg
        time.sleep(0.05)
    return None


def startup_and_memory(work: Path, kam: Kamailio, xvfb: util.Xvfb | None, rounds: int,
                       log: Log, idle_wait: float = 10.0, wake_window: float = 5.0
                       ) -> Samples:
    """Interleaved rounds: every app once per round, in the same order."""
    out = Samples()
    apps: list[tuple[str, Callable[[], Launched]]] = [
        ("ours-headless", lambda: peers.ours(work, kam, "1001")),
        ("baresip", lambda: peers.baresip(work, kam, "2001", ctrl=False)),
        ("linphonec", lambda: peers.linphonec(work, kam, "2002")),
    ]
    if xvfb is not None:
        display = xvfb.display
        apps += [
            ("ours-gui", lambda: peers.ours(work, kam, "1001", gui=True, display=display)),
            ("linphone-desktop", lambda: peers.linphone_desktop(work, kam, "2002", display)),
            ("twinkle", lambda: peers.twinkle(work, kam, "2001", display)),
        ]
    for r in range(rounds):
        for name, launch in apps:
            load = util.load_average()
            out.loads.append(load)
            watcher = util.MapWatcher(xvfb.display).start() if (
                xvfb is not None and name in ("ours-gui", "linphone-desktop", "twinkle")) else None
            cap = util.Capture(work / f"start-{name}-{r}.pcap", [kam.udp_port])
            cap.start()
            launched: Launched | None = None
            try:
                launched = launch()
                reg = _wait_registered(cap, launched, kam)
                if reg is not None:
                    out.add(f"{name}:registered_ms", 1000 * (reg - launched.t0))
                if watcher is not None:
                    win = watcher.first_large(launched.t0)
                    if win is not None:
                        out.add(f"{name}:window_ms", 1000 * (win - launched.t0))
                # Idle: 10 s after registering (or after start when it never registered).
                base = reg if reg is not None else launched.t0
                time.sleep(max(0.0, base + idle_wait - time.time()))
                pid = launched.pid
                mem = util.memory(pid)
                out.add(f"{name}:rss_mib", mem.rss_kib / 1024)
                out.add(f"{name}:pss_mib", mem.pss_kib / 1024)
                cpu = util.measure_cpu(pid, wake_window)
                out.add(f"{name}:wakeups_per_s", cpu.wakeups_per_s)
                out.add(f"{name}:idle_cpu_pct", cpu.cpu_percent)
                log(f"  round {r + 1} {name}: registered "
                    f"{'-' if reg is None else f'{1000 * (reg - launched.t0):.0f} ms'}, "
                    f"RSS {mem.rss_kib / 1024:.0f} MiB, PSS {mem.pss_kib / 1024:.0f} MiB, "
                    f"{cpu.wakeups_per_s:.1f} wake-ups/s (load {load:.2f})")
            except Exception as exc:  # a peer failing must not stop the others
                out.notes.append(f"{name} round {r + 1}: {exc}")
                log(f"  round {r + 1} {name}: FAILED {exc}")
            finally:
                cap.stop()
                if watcher is not None:
                    watcher.stop()
                if launched is not None:
                    peers.terminate(launched)
    return out


# -- 3: call setup through Kamailio ------------------------------------------------------

def call_setup(work: Path, kam: Kamailio, calls: int, log: Log) -> Samples:
    """Dial to CONFIRMED at the caller, through Kamailio, to one auto-answering baresip.

    Ours: ``call.make`` sent -> ``call.state confirmed`` event read. baresip: ``dial``
    sent on ctrl_tcp -> ``CALL_ESTABLISHED`` read. The callee is the same for both.
    """
    out = Samples()
    callee = peers.baresip(work, kam, "1002", answer="auto", name="callee")
    me = peers.ours(work, kam, "1001")
    bs = peers.baresip(work, kam, "2001")
    try:
        api(me).wait_event("registration", lambda e: e["state"] == "registered", timeout=10)
        time.sleep(1.0)
        target = kam.aor("1002")
        for i in range(calls):
            out.loads.append(util.load_average())
            # ours
            mark = api(me).mark()
            t0 = time.perf_counter()
            cid = api(me).call("call.make", uri=target)["call_id"]
            api(me).wait_call_state(cid, "confirmed", since=mark)
            out.add("ours:setup_ms", 1000 * (time.perf_counter() - t0))
            api(me).call("call.hangup", call_id=cid)
            api(me).wait_call_state(cid, "disconnected", since=mark)
            time.sleep(0.1)
            # baresip
            assert bs.ctrl is not None
            t0 = time.perf_counter()
            bs.ctrl.send("dial", target)
            bs.ctrl.wait_event("CALL_ESTABLISHED")
            out.add("baresip:setup_ms", 1000 * (time.perf_counter() - t0))
            bs.ctrl.send("hangup")
            bs.ctrl.wait_event("CALL_CLOSED")
            time.sleep(0.1)
            if (i + 1) % 10 == 0:
                log(f"  {i + 1} calls each (load {util.load_average():.2f})")
    finally:
        for p in (me, bs, callee):
            peers.terminate(p)
    return out


# -- 4: transfers on loopback -------------------------------------------------------------

def _local(work: Path, name: str, extra: list[str] | None = None,
           audio: tuple[Path, Path] | None = None) -> Launched:
    args = ["--sip-user", name, "--wrap-up-seconds", "0", *(extra or [])]
    if audio is not None:
        args += ["--audio-in", str(audio[0]), "--audio-out", str(audio[1])]
    return peers.ours(work, None, None, name=name, extra_args=args, register=False)


def _connect(caller: Launched, callee: Launched) -> tuple[str, str]:
    mark = api(callee).mark()
    out = api(caller).call("call.make", uri=peers.ours_uri(callee))["call_id"]
    incoming = api(callee).wait_call_state(None, "incoming", since=mark)
    api(callee).call("call.answer", call_id=incoming["call_id"])
    api(caller).wait_call_state(out, "confirmed")
    api(callee).wait_call_state(incoming["call_id"], "confirmed")
    return out, incoming["call_id"]


def _auto_answer(inst: Launched, stop: threading.Event) -> threading.Thread:
    """Answer every call presented to ``inst`` as soon as its event is read."""
    def run() -> None:
        seen = 0
        while not stop.is_set():
            try:
                ev = api(inst).wait_event("call.state", lambda e: e["state"] == "incoming",
                                          timeout=0.5, since=seen)
            except TimeoutError:
                continue
            seen = api(inst).events.index(ev) + 1
            with contextlib.suppress(Exception):
                api(inst).call("call.answer", call_id=ev["call_id"])

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _ack_to(packets: list[util.SipPacket], dst: int, since: float, src: int | None = None
            ) -> float | None:
    for p in packets:
        if (p.time >= since and p.dst == dst and p.first_line.startswith("ACK ")
                and (src is None or p.src == src)):
            return p.time
    return None


def _first(packets: list[util.SipPacket], since: float, method: str, dst: int | None = None
           ) -> util.SipPacket | None:
    for p in packets:
        if p.time >= since and p.first_line.startswith(method + " ") and (
                dst is None or p.dst == dst):
            return p
    return None


def transfers(work: Path, rounds: int, log: Log) -> Samples:
    out = Samples()
    cust = _local(work, "customer")
    alice = _local(work, "alice")
    bob = _local(work, "bob")
    stop = threading.Event()
    _auto_answer(bob, stop)
    try:
        api(alice).call("directory.set", directory={
            "agents": [{"id": "bob", "name": "Bob", "uri": peers.ours_uri(bob)}],
            "groups": [], "presets": [], "my_groups": []})
        for r in range(rounds):
            out.loads.append(util.load_average())
            ports = [cust.sip_port, alice.sip_port, bob.sip_port]
            # unsupervised: REFER leaves alice -> bob is connected to the customer
            with util.Capture(work / f"xfer-u-{r}.pcap", ports) as cap:
                _, a_call = _connect(cust, alice)
                t_cmd = time.time()
                api(alice).call("transfer.unsupervised", call_id=a_call, target="agent:bob")
                _wait_one_call(bob, "confirmed")
                time.sleep(0.2)
            pk = cap.sip()
            refer = _first(pk, t_cmd, "REFER", cust.sip_port)
            invite = _first(pk, t_cmd, "INVITE", bob.sip_port)
            if refer and invite:
                ack = _ack_to(pk, bob.sip_port, invite.time, cust.sip_port)
                out.add("unsupervised:refer_to_invite_ms", 1000 * (invite.time - refer.time))
                if ack:
                    out.add("unsupervised:refer_to_connected_ms", 1000 * (ack - refer.time))
                out.add("unsupervised:command_to_refer_ms", 1000 * (refer.time - t_cmd))
            _hangup_all(cust, alice, bob)
            # supervised: complete pressed -> the customer is connected to bob
            with util.Capture(work / f"xfer-s-{r}.pcap", ports) as cap:
                _, a_call = _connect(cust, alice)
                mark = api(alice).mark()
                api(alice).call("transfer.supervised.start", call_id=a_call, target="agent:bob")
                api(alice).wait_event("transfer.progress", lambda e: e["phase"] == "consulting",
                                      since=mark)
                time.sleep(0.2)
                t_cmd = time.time()
                api(alice).call("transfer.supervised.complete", call_id=a_call)
                api(alice).wait_event("transfer.progress", lambda e: e["phase"] == "completed",
                                      since=mark)
                time.sleep(0.3)
            pk = cap.sip()
            replaces = next((p for p in pk if p.time >= t_cmd and p.dst == bob.sip_port
                             and p.src == cust.sip_port and p.first_line.startswith("INVITE ")),
                            None)
            if replaces:
                ack = _ack_to(pk, bob.sip_port, replaces.time, cust.sip_port)
                if ack:
                    out.add("supervised:complete_to_connected_ms", 1000 * (ack - t_cmd))
                refer = _first(pk, t_cmd, "REFER", cust.sip_port)
                if refer and ack:
                    out.add("supervised:refer_to_connected_ms", 1000 * (ack - refer.time))
            _hangup_all(cust, alice, bob)
        log(f"  {rounds} rounds of each (load {util.load_average():.2f})")
    finally:
        stop.set()
        for p in (cust, alice, bob):
            peers.terminate(p)
    return out


def _wait_one_call(inst: Launched, state: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        calls = api(inst).call("call.list")["calls"]
        if any(c["state"] == state for c in calls):
            return
        time.sleep(0.01)
    raise TimeoutError(f"{inst.name}: no {state} call")


def _hangup_all(*insts: Launched) -> None:
    for inst in insts:
        for c in api(inst).call("call.list")["calls"]:
            with contextlib.suppress(Exception):
                api(inst).call("call.hangup", call_id=c["call_id"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not any(api(i).call("call.list")["calls"] for i in insts):
            break
        time.sleep(0.05)
    time.sleep(0.3)


# -- 5: CPU share -------------------------------------------------------------------------

def cpu_share(work: Path, kam: Kamailio, rounds: int, window: float, log: Log,
              pulse_env: dict[str, str] | None) -> Samples:
    """CPU of the caller during a 2-party G.711/G.722 call through Kamailio, and of
    the conference host (agent 1) during a 4-party local conference."""
    out = Samples()
    tone = tones.write_tone(work / "tone-600.wav", 600.0)
    # baresip's aufile source plays 8 kHz files only (G.711's rate).
    tone8k = tones.write_tone(work / "tone-600-8k.wav", 600.0, rate=8000)
    callee = peers.baresip(work, kam, "1002", answer="auto", name="callee",
                           audio_source=f"aufile,{tone8k}")
    target = kam.aor("1002")
    try:
        for r in range(rounds):
            out.loads.append(util.load_average())
            variants: list[tuple[str, Callable[[], Launched]]] = [
                ("ours-null", lambda: peers.ours(
                    work, kam, "1001", extra_args=["--audio-in", str(tone),
                                                   "--audio-out", str(work / "o.wav")])),
                ("baresip", lambda: peers.baresip(work, kam, "2001",
                                                  audio_source=f"aufile,{tone8k}",
                                                  audio_player="alsa,null")),
            ]
            if pulse_env is not None:
                penv = {"PULSE_SERVER": pulse_env["PULSE_SERVER"]}
                variants.insert(1, ("ours-soundcard", functools.partial(
                    peers.ours, work, kam, "1001",
                    extra_args=["--mic", "mic.monitor", "--speaker", "spk"], env_extra=penv)))
            for name, launch in variants:
                p = launch()
                try:
                    if p.api is not None:
                        api(p).wait_event("registration", lambda e: e["state"] == "registered")
                        mark = api(p).mark()
                        cid = api(p).call("call.make", uri=target)["call_id"]
                        api(p).wait_call_state(cid, "confirmed", since=mark)
                    else:
                        assert p.ctrl is not None
                        time.sleep(0.5)
                        p.ctrl.send("dial", target)
                        p.ctrl.wait_event("CALL_ESTABLISHED")
                    time.sleep(1.0)
                    cpu = util.measure_cpu(p.pid, window)
                    out.add(f"{name}:call_cpu_pct", cpu.cpu_percent)
                    out.add(f"{name}:call_wakeups_per_s", cpu.wakeups_per_s)
                    log(f"  round {r + 1} 2-party {name}: {cpu.cpu_percent:.2f} % "
                        f"(load {util.load_average():.2f})")
                except Exception as exc:
                    out.notes.append(f"2-party {name} round {r + 1}: {exc}")
                    log(f"  round {r + 1} 2-party {name}: FAILED {exc}")
                finally:
                    peers.terminate(p)
            conf = _conference_cpu(work, window)
            out.add("conference:host_cpu_pct", conf.cpu_percent)
            out.add("conference:host_wakeups_per_s", conf.wakeups_per_s)
            log(f"  round {r + 1} 4-party host: {conf.cpu_percent:.2f} % "
                f"(load {util.load_average():.2f})")
    finally:
        peers.terminate(callee)
    return out


@dataclass
class Floor:
    customer: Launched
    alice: Launched
    bob: Launched
    carol: Launched

    def all(self) -> list[Launched]:
        return [self.customer, self.alice, self.bob, self.carol]


def _four_way(work: Path) -> Floor:
    floor = Floor(*(
        _local(work, name, ["--four-way"] if name == "alice" else None,
               (tones.write_tone(work / f"{name}.wav", f), work / f"{name}-all.wav"))
        for name, f in (("customer", 600.0), ("alice", 1000.0), ("bob", 1450.0),
                        ("carol", 2100.0))))
    _, a_call = _connect(floor.customer, floor.alice)
    _start_conference(floor.alice, a_call, floor.bob, peers.ours_uri(floor.bob),
                      floor.carol, peers.ours_uri(floor.carol))
    return floor


def _start_conference(host: Launched, customer_call: str, target: Launched | None,
                      target_uri: str, fourth: Launched, fourth_uri: str) -> None:
    mark = api(host).mark()
    tmark = api(target).mark() if target is not None else 0
    api(host).call("transfer.supervised.start", call_id=customer_call, target=target_uri)
    if target is not None:
        ringing = api(target).wait_call_state(None, "incoming", since=tmark)
        api(target).call("call.answer", call_id=ringing["call_id"])
    api(host).wait_event("transfer.progress", lambda e: e["phase"] == "consulting", since=mark)
    fmark = api(fourth).mark()
    api(host).call("conference.add_party", target=fourth_uri)
    ringing = api(fourth).wait_call_state(None, "incoming", since=fmark)
    api(fourth).call("call.answer", call_id=ringing["call_id"])
    api(host).wait_event(
        "conference", lambda e: not e["ended"]
        and sum(p["state"] == "joined" for p in e["parties"]) == 3, timeout=15, since=mark)


def _conference_cpu(work: Path, window: float) -> util.CpuWindow:
    floor = _four_way(work)
    try:
        time.sleep(1.0)
        return util.measure_cpu(floor.alice.pid, window)
    finally:
        for p in floor.all():
            peers.terminate(p)


# -- 6: one-way delay ---------------------------------------------------------------------

CLICK_PERIOD_S = 1.0  # the player adds a frame at each loop: 1.02 s in practice
RATE = 16000


def write_clicks(path: Path) -> Path:
    """One second of audio: a 4 ms 1 kHz burst at the start, then silence (loops)."""
    n = int(CLICK_PERIOD_S * RATE)
    samples = np.zeros(n)
    burst = int(0.004 * RATE)
    samples[:burst] = 0.7 * np.sin(2 * np.pi * 1000 * np.arange(burst) / RATE)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((samples * 32767).astype("<i2").tobytes())
    return path


def click_delays(path: Path) -> list[float]:
    """Delays (ms) between each reference click and its travelled copy in a recording.

    The reference reaches the recorder at a quarter of the level of the travelled copy
    (``bench.probe.REFERENCE_LEVEL``): onsets are told apart by their peak.
    """
    data, rate = tones.read_wav(path)
    env = np.abs(data)
    onsets: list[tuple[int, float]] = []
    i = 0
    gap = int(0.015 * rate)
    while i < len(env):
        if env[i] > 0.05:
            onsets.append((i, float(env[i:i + int(0.006 * rate)].max())))
            i += gap
        else:
            i += 1
    if len(onsets) < 4:
        return []
    peaks = [p for _, p in onsets]
    split = (min(peaks) + max(peaks)) / 2
    refs = [o for o, p in onsets if p < split]
    copies = [o for o, p in onsets if p >= split]
    delays: list[float] = []
    for r in refs:
        following = [c for c in copies if 0 < c - r < int(0.5 * rate)]
        if following:
            delays.append(1000 * (following[0] - r) / rate)
    return delays


class ProbeProc:
    def __init__(self, work: Path, clicks: Path) -> None:
        self.port = free_port()
        self.log = (work / f"probe-{self.port}.log").open("wb")
        self.proc = subprocess.Popen(
            [peers.PYTHON, "-m", "bench.probe", "--port", str(self.port), "--clicks", str(clicks)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, cwd=peers.ROOT)
        self.expect("ready")

    @property
    def uri(self) -> str:
        return f"sip:probe@127.0.0.1:{self.port}"

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def expect(self, prefix: str, timeout: float = 15.0) -> str:
        assert self.proc.stdout is not None
        result: list[str] = []

        def read() -> None:
            assert self.proc.stdout is not None
            for raw in self.proc.stdout:
                line = raw.decode().strip()
                if line.startswith(prefix):
                    result.append(line)
                    return

        t = threading.Thread(target=read, daemon=True)
        t.start()
        t.join(timeout)
        if not result:
            raise TimeoutError(f"probe: no {prefix!r}")
        return result[0]

    def record(self, path: Path, seconds: float) -> list[float]:
        self.send(f"record {path}")
        time.sleep(seconds)  # the measurement: ``seconds`` of clicks
        self.send("stop")
        self.expect("recorded")
        time.sleep(0.2)
        return click_delays(path)

    def close(self) -> None:
        self.send("quit")
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def delay(work: Path, rounds: int, seconds: float, log: Log) -> Samples:
    out = Samples()
    clicks = write_clicks(work / "clicks.wav")
    for r in range(rounds):
        out.loads.append(util.load_average())
        # direct: the probe calls itself
        probe = ProbeProc(work, clicks)
        try:
            probe.send(f"call {probe.uri}")
            probe.expect("confirmed")
            time.sleep(1.0)
            d = probe.record(work / f"direct-{r}.wav", seconds)
            for v in d:
                out.add("direct:delay_ms", v)
        finally:
            probe.close()
        # relay: the probe is the customer and the target of our conference host
        probe = ProbeProc(work, clicks)
        host = _local(work, "host", ["--four-way"])
        fourth = _local(work, "fourth")
        try:
            mark = api(host).mark()
            probe.send(f"call {peers.ours_uri(host)}")
            incoming = api(host).wait_call_state(None, "incoming", since=mark)
            api(host).call("call.answer", call_id=incoming["call_id"])
            api(host).wait_call_state(incoming["call_id"], "confirmed")
            _start_conference(host, incoming["call_id"], None, probe.uri, fourth,
                              peers.ours_uri(fourth))
            time.sleep(1.0)
            v2 = probe.record(work / f"relay-{r}.wav", seconds)
            for v in v2:
                out.add("relay:delay_ms", v)
        finally:
            probe.close()
            peers.terminate(host)
            peers.terminate(fourth)
        log(f"  round {r + 1}: direct {util.median(d) if d else '-'} ms, relay "
            f"{util.median(v2) if v2 else '-'} ms (load {util.load_average():.2f})")
    return out


# -- 7: UI responsiveness -------------------------------------------------------------------

DIRECTORY_TIMEOUT_S = 60.0
# The RLS subscribes to every member itself (a back-end SUBSCRIBE and NOTIFY
# each): for 2,000 this lab server takes 10-40 s before every state is in, and
# now and then never subscribes to a few (no new state for this long: stop).
ALL_STATES_TIMEOUT_S = 120.0
NO_NEW_STATE_S = 15.0
FIRST_USER = 90000


class PresenceLoad:
    """``bench.presence_load`` in its own process: PUBLISH for the agents."""

    def __init__(self, work: Path, kam: Kamailio, count: int, rate: float) -> None:
        self.err = (work / "presence-load.log").open("wb")
        self.proc = subprocess.Popen(
            [peers.PYTHON, "-m", "bench.presence_load", "--proxy", f"{kam.host}:{kam.udp_port}",
             "--domain", kam.host, "--first", str(FIRST_USER), "--count", str(count),
             "--rate", str(rate)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, cwd=peers.ROOT,
            text=True)
        self.primed = json.loads(self._line("primed"))

    def _line(self, prefix: str) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith(prefix + " "):
            raise RuntimeError(f"presence load: expected {prefix!r}, got {line!r}")
        return line[len(prefix) + 1:]

    def go(self) -> None:
        """Start the changes."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def sent(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.write("count\n")
        self.proc.stdin.flush()
        return int(self._line("count"))

    def stop(self) -> dict[str, Any]:
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        try:
            result: dict[str, Any] = json.loads(self._line("done"))
        except (RuntimeError, ValueError):
            result = {}
        self.proc.wait(10)
        self.err.close()
        return result


class Pinger:
    """``bench.pinger`` in its own process: ``status`` every 10 ms to ``app``."""

    def __init__(self, work: Path, app: Launched) -> None:
        assert app.api is not None
        info = json.loads((app.home / "profile" / "api.json").read_text())
        self.out = work / f"pings-{time.monotonic_ns()}.json"
        self.proc = subprocess.Popen(
            [peers.PYTHON, "-m", "bench.pinger", str(info["port"]), info["token"],
             str(self.out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=peers.ROOT)
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != b"ready":
            raise RuntimeError("pinger did not start")

    def stop(self) -> list[tuple[float, float]]:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(DIRECTORY_TIMEOUT_S + 10)
        return [(float(t), float(v)) for t, v in json.loads(self.out.read_text())]


def _window(samples: list[tuple[float, float]], start: float, end: float) -> list[float]:
    return [v for t, v in samples if start <= t < end]


class RlsLab(Kamailio):
    """The lab Kamailio (tests/helpers/kamailio.py) with more shared memory.

    Its 64 MiB run out here (tm "out of mem", 500s to back-end SUBSCRIBEs)
    while the RLS subscribes to 2,000 presentities at once under 100 PUBLISH/s:
    db_text copies result sets of the big tables into shared memory. A real
    presence server runs with hundreds of MiB; the script is the lab's own.
    """

    SHM_MB = 512

    def _spawn(self, binary: str) -> None:
        self.starts += 1
        for stale in (self.pid_path, self.ctl_socket):
            stale.unlink(missing_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start #{self.starts} =====\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [binary, "-f", str(self.cfg_path), "-DD", "-E", "-Y", str(self.rundir),
                 "-P", str(self.pid_path), "-m", str(self.SHM_MB), "-M", "16"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.rundir, start_new_session=True)


def presence_directory(kam: Kamailio, agents: int, groups: int) -> dict[str, Any]:
    """``agents`` agents (users 90000...) in ``groups`` groups, each watched
    through its list on ``kam``; the GUI's own groups are the first one."""
    size = -(-agents // groups)
    ids = [f"a{i}" for i in range(agents)]
    return {
        "agents": [{"id": ids[i], "name": f"Agent {i}", "uri": kam.aor(str(FIRST_USER + i))}
                   for i in range(agents)],
        "groups": [{"id": f"g{g}", "name": f"Group {g}", "members": ids[g * size:(g + 1) * size],
                    "presence_list": kam.list_uri(f"g{g}-list")} for g in range(groups)],
        "presets": [], "my_groups": ["g0"]}


def responsiveness(work: Path, xvfb: util.Xvfb, agents: int, calls: int, log: Log,
                   groups: int = 4, rate: float = 100.0, profile: bool = False) -> Samples:
    """Longest reply of a ``status`` request sent every 10 ms to the GUI while its
    directory receives presence for ``agents`` agents and ``calls`` calls come and go.

    Through a Kamailio of its own whose RLS holds one list per group: the GUI
    (registered as 1001) watches each group with one list subscription. A load
    generator (``bench.presence_load``) has given every agent a first state by
    PUBLISH before the GUI starts. Two windows, each with its longest reply and
    the directory.agent events the GUI emitted:

    * *directory load*: ``directory.set`` until every agent's state has arrived
      (the lists' full states, as the RLS's back-end subscriptions come in);
    * *steady*: the generator PUBLISHes a state change for one of the agents
      ``rate`` times a second (round robin) while another instance (1002) calls
      the GUI ``calls`` times through the proxy; the bench answers and hangs up.
    """
    out = Samples()
    out.loads.append(util.load_average())
    size = -(-agents // groups)
    lists = {f"g{g}-list": [str(FIRST_USER + i) for i in range(g * size,
                                                            min(agents, (g + 1) * size))]
             for g in range(groups)}
    drops0 = util.udp_receive_drops()
    kam = RlsLab(work / "kamailio-rls", lists=lists).start()
    load: PresenceLoad | None = None
    gui: Launched | None = None
    caller: Launched | None = None
    pinger: Pinger | None = None
    spy: subprocess.Popen[bytes] | None = None
    try:
        load = PresenceLoad(work, kam, agents, rate)
        log(f"  presence load: first state of {agents} agents published {load.primed}")
        gui = peers.ours(work, kam, "1001", gui=True, display=xvfb.display, name="gui",
                         extra_args=["--wrap-up-seconds", "0"])
        caller = peers.ours(work, kam, "1002", name="caller")
        for inst in (gui, caller):
            api(inst).wait_event("registration", lambda e: e["state"] == "registered")
        api(gui).timeout = DIRECTORY_TIMEOUT_S
        pinger = Pinger(work, gui)
        t_idle = time.monotonic()
        time.sleep(3.0)
        if profile:
            py_spy = peers.ROOT / ".venv" / "bin" / "py-spy"
            spy = subprocess.Popen(
                [str(py_spy) if py_spy.exists() else "py-spy", "record", "--pid", str(gui.pid),
                 "--format", "raw", "--rate", "250", "-o", str(work / "figure7-gui.pyspy.txt")],
                stdout=subprocess.DEVNULL, stderr=(work / "py-spy.log").open("wb"))
            time.sleep(1.0)
        mark = api(gui).mark()
        t_set = time.monotonic()
        try:
            api(gui).call("directory.set", directory=presence_directory(kam, agents, groups))
        except TimeoutError:
            blocked = time.monotonic() - t_set
            out.add("gui:directory_set_s", blocked)
            out.add("gui:load_ping_max_ms", 1000 * blocked)
            out.notes.append(f"directory.set of {agents} agents: no reply in {blocked:.0f} s "
                             "(GUI event loop blocked; stall is at least that long)")
            return out
        out.add("gui:directory_set_s", time.monotonic() - t_set)
        # Every agent's first state (from the lists' full states).
        known: set[str] = set()
        seen = mark
        deadline = time.monotonic() + ALL_STATES_TIMEOUT_S
        progress: list[str] = []
        next_report = time.monotonic() + 5
        t_known = last_new = time.monotonic()
        while (len(known) < agents and time.monotonic() < deadline
               and time.monotonic() - last_new < NO_NEW_STATE_S):
            time.sleep(0.1)
            events = api(gui).events
            before = len(known)
            known.update(e["agent_id"] for e in events[seen:]
                         if e.get("type") == "directory.agent")
            seen = len(events)
            if len(known) > before:
                t_known = last_new = time.monotonic()
            if time.monotonic() >= next_report:
                progress.append(f"{time.monotonic() - t_set:.0f} s: {len(known)}")
                next_report += 5
        if progress:
            out.notes.append("agents with a state after directory.set: " + ", ".join(progress))
        if len(known) < agents:
            missing = [f"a{i}" for i in range(agents) if f"a{i}" not in known]
            out.notes.append(f"no state for {len(missing)} agents (the lab RLS never got theirs): "
                             f"{', '.join(missing[:30])}")
        out.add("gui:all_states_s", t_known - t_set if len(known) == agents else None)
        out.add("gui:states_in_s", t_known - t_set)  # until the last first state came
        out.add("gui:agents_known", len(known))
        time.sleep(3.0)  # the lists settle (2 s after their first full state)
        load_events = sum(1 for e in api(gui).events[mark:] if e.get("type") == "directory.agent")
        # Steady: calls come and go while states keep changing.
        mark = api(gui).mark()
        sent0 = load.sent()
        load.go()
        t_steady = time.monotonic()
        target = kam.aor("1001")
        for _ in range(calls):
            cmark = api(gui).mark()
            cid = api(caller).call("call.make", uri=target)["call_id"]
            inc = api(gui).wait_call_state(None, "incoming", since=cmark)
            api(gui).call("call.answer", call_id=inc["call_id"])
            api(caller).wait_call_state(cid, "confirmed")
            time.sleep(0.3)
            api(caller).call("call.hangup", call_id=cid)
            api(gui).wait_call_state(inc["call_id"], "disconnected", since=cmark)
            time.sleep(0.2)
        published = load.sent() - sent0
        result = load.stop()
        load = None
        time.sleep(2.5)  # the last changes' list NOTIFY (the RLS's 1 s timer)
        t_end = time.monotonic()
        steady_events = sum(1 for e in api(gui).events[mark:]
                            if e.get("type") == "directory.agent")
        changes: dict[str, int] = result.pop("changes", {})
        # Changes of agents the GUI has a state for (the lab RLS may have missed some).
        with_state = known | {e["agent_id"] for e in api(gui).events[mark:]
                              if e.get("type") == "directory.agent"}
        reachable = sum(n for user, n in changes.items()
                        if f"a{int(user) - FIRST_USER}" in with_state)
        out.notes.append(f"presence load generator: {result}")
        samples = pinger.stop()
        pinger = None
        idle = _window(samples, t_idle, t_set)
        loading = _window(samples, t_set, t_steady)
        steady = _window(samples, t_steady, t_end)
        out.add("gui:idle_ping_median_ms", util.median(idle))
        out.add("gui:idle_ping_max_ms", max(idle) if idle else None)
        out.add("gui:directory_ping_max_ms", max(loading) if loading else None)
        out.add("gui:directory_over_50ms", sum(1 for v in loading if v > 50))
        out.add("gui:directory_events", load_events)
        out.add("gui:load_ping_median_ms", util.median(steady))
        out.add("gui:load_ping_p99_ms", util.percentile(steady, 99))
        out.add("gui:load_ping_max_ms", max(steady) if steady else None)
        out.add("gui:over_50ms", sum(1 for v in steady if v > 50))
        out.add("gui:pings", len(steady))
        out.add("gui:steady_s", t_end - t_steady)
        out.add("gui:presence_published", published)
        out.add("gui:presence_published_known", reachable)
        out.add("gui:presence_events", steady_events)
        log(f"  directory.set {out.values['gui:directory_set_s'][0]:.2f} s; {len(known)} of "
            f"{agents} states in {t_known - t_set:.1f} s ({load_events} events), longest reply "
            f"{max(loading) if loading else 0:.0f} ms; steady {t_end - t_steady:.0f} s: "
            f"{calls} calls, {published} changes published ({reachable} of agents with a state), "
            f"{steady_events} events received, "
            f"longest reply {max(steady) if steady else 0:.0f} ms, median "
            f"{util.median(steady) or 0:.1f} ms (idle median {util.median(idle) or 0:.1f} ms; "
            f"load {util.load_average():.2f})")
    finally:
        if spy is not None:
            util.stop_process(spy, sig=signal.SIGINT)
        if pinger is not None:
            with contextlib.suppress(Exception):
                pinger.stop()
        for p in (caller, gui):
            if p is not None:
                peers.terminate(p)
        if load is not None:
            load.stop()
        kam.stop()
        drops = util.udp_receive_drops() - drops0
        out.add("udp_receive_drops", drops)
        if drops:
            out.notes.append(f"the kernel dropped {drops} UDP datagrams (full socket buffers, "
                             "any process) during figure 7")
    return out


def stats_row(values: list[float] | None) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    return {"n": len(values), "median": util.median(values), "p95": util.percentile(values, 95),
            "min": min(values), "max": max(values)}
