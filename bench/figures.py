"""The seven figures of issue 9 (and issue 4's conference figures)."""

from __future__ import annotations

import contextlib
import functools
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


def responsiveness(work: Path, xvfb: util.Xvfb, agents: int, calls: int, log: Log) -> Samples:
    """Longest reply time of a ``status`` request sent every 10 ms to the GUI process.

    The API is served on the Qt main thread, so a reply waits for whatever blocks the
    event loop: the longest reply (minus the idle median) bounds the longest stall.
    """
    out = Samples()
    out.loads.append(util.load_average())
    gui = peers.ours(work, None, None, gui=True, display=xvfb.display, name="gui",
                     extra_args=["--sip-user", "gui", "--wrap-up-seconds", "0"], register=False)
    assert gui.api is not None
    gui.api.timeout = DIRECTORY_TIMEOUT_S
    source = _local(work, "presence")
    caller = _local(work, "caller")
    latencies: list[tuple[float, float]] = []
    stop = threading.Event()
    assert gui.api is not None
    pinger = ApiClient(int(gui.api.sock.getpeername()[1]), None, timeout=DIRECTORY_TIMEOUT_S + 5)
    token = (gui.home / "profile" / "api.json").read_text()
    import json
    pinger.call("auth", token=json.loads(token)["token"])

    def ping() -> None:
        while not stop.is_set():
            t0 = time.perf_counter()
            pinger.call("status")
            t1 = time.perf_counter()
            latencies.append((t0, 1000 * (t1 - t0)))
            time.sleep(max(0.0, 0.010 - (t1 - t0)))

    try:
        # Baseline: idle GUI.
        thread = threading.Thread(target=ping, daemon=True)
        thread.start()
        time.sleep(3.0)
        idle = [v for _, v in latencies]
        t_load = time.perf_counter()
        directory = {
            "agents": [{"id": f"a{i}", "name": f"Agent {i}",
                        "uri": f"sip:a{i}@127.0.0.1:{source.sip_port}"} for i in range(agents)],
            "groups": [], "presets": [], "my_groups": []}
        t_set = time.perf_counter()
        try:
            api(gui).call("directory.set", directory=directory)
        except TimeoutError:
            # The event loop is blocked at least this long: report it as a lower bound.
            blocked = time.perf_counter() - t_set
            out.add("gui:directory_set_s", blocked)
            out.add("gui:load_ping_max_ms", 1000 * blocked)
            out.notes.append(f"directory.set of {agents} agents: no reply in {blocked:.0f} s "
                             "(GUI event loop blocked; stall is at least that long)")
            log(f"  directory.set of {agents} agents: no reply in {blocked:.0f} s")
            return out
        out.add("gui:directory_set_s", time.perf_counter() - t_set)
        time.sleep(3.0)
        states = ["not_ready", "available"]
        for i in range(calls):
            with contextlib.suppress(Exception):
                api(source).call("agent.set_state", state=states[i % 2],
                                 **({"reason": "Break"} if i % 2 == 0 else {}))
            mark = api(gui).mark()
            cid = api(caller).call("call.make", uri=peers.ours_uri(gui))["call_id"]
            inc = api(gui).wait_call_state(None, "incoming", since=mark)
            api(gui).call("call.answer", call_id=inc["call_id"])
            api(caller).wait_call_state(cid, "confirmed")
            time.sleep(0.3)
            api(caller).call("call.hangup", call_id=cid)
            api(gui).wait_call_state(inc["call_id"], "disconnected", since=mark)
            time.sleep(0.2)
        time.sleep(1.0)
        stop.set()
        thread.join(5)
        loaded = [v for t, v in latencies if t >= t_load]
        received = sum(1 for e in api(gui).events if e.get("type") == "directory.agent")
        out.add("gui:idle_ping_median_ms", util.median(idle))
        out.add("gui:idle_ping_max_ms", max(idle) if idle else None)
        out.add("gui:load_ping_median_ms", util.median(loaded))
        out.add("gui:load_ping_max_ms", max(loaded) if loaded else None)
        out.add("gui:pings", len(latencies))
        out.add("gui:presence_events", received)
        out.add("gui:over_50ms", sum(1 for v in loaded if v > 50))
        log(f"  pings {len(latencies)}, idle max {max(idle):.1f} ms, loaded max "
            f"{max(loaded):.1f} ms, presence events {received} (load {util.load_average():.2f})")
    finally:
        stop.set()
        pinger.close()
        for p in (caller, source, gui):
            peers.terminate(p)
    return out


def stats_row(values: list[float] | None) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    return {"n": len(values), "median": util.median(values), "p95": util.percentile(values, 95),
            "min": min(values), "max": max(values)}
