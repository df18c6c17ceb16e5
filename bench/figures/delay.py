"""Figure 6: one-way audio delay, measured with clicks."""

from __future__ import annotations

import subprocess
import threading
import time
import wave
from pathlib import Path

import numpy as np

from bench import peers, util
from bench.figures.common import Log, Samples, api, local, start_conference
from tests.helpers import tones
from tests.helpers.ports import free_port

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
        host = local(work, "host", ["--four-way"])
        fourth = local(work, "fourth")
        try:
            mark = api(host).mark()
            probe.send(f"call {peers.ours_uri(host)}")
            incoming = api(host).wait_call_state(None, "incoming", since=mark)
            api(host).call("call.answer", call_id=incoming["call_id"])
            api(host).wait_call_state(incoming["call_id"], "confirmed")
            start_conference(host, incoming["call_id"], None, probe.uri, fourth,
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
