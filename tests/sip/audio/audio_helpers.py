"""Helpers for the sound-card tests: a private PulseAudio daemon, tones, a child driver.

The PulseAudio daemon has two null sinks:

* ``spk``: default sink. What the bridge (or the ringer) plays ends up here; the
  tests record ``spk.monitor``.
* ``mic``: the tests play tones into it; its monitor ``mic.monitor`` is the
  default source, i.e. the bridge's microphone.

PortAudio reaches it through ALSA's ``pulse`` plugin (libasound2-plugins): the
ALSA devices ``pulse`` and ``default`` appear once ``PULSE_SERVER`` points at
the daemon's socket. A null sink only renders in 2 s blocks until a client asks
for low latency, which stalls a new PortAudio stream for up to 2 s; a silent
low-latency ``pacat`` per sink keeps both sinks ticking every 10 ms.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from tests.helpers import tones
from tests.helpers.tools import missing

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
RATE = 16000


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        message = (f"{tool} is not installed (apt-get install pulseaudio pulseaudio-utils "
                   "libasound2-plugins libportaudio2)")
        missing(message)
    return path


def wait_for(condition: Any, timeout: float, what: str, interval: float = 0.02) -> Any:
    """Poll ``condition()`` until it returns something truthy (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class PulseServer:
    """A private PulseAudio daemon on a UNIX socket under ``base``.

    Attributes:
        base: directory holding the socket, runtime dir and home.
        socket: path of the native-protocol socket.
        env: environment for clients (PULSE_SERVER and private HOME/XDG dirs).
        proc: the daemon process.
    """

    def __init__(self, base: Path) -> None:
        self.base = base
        self.socket = base / "native"
        runtime, home = base / "run", base / "home"
        runtime.mkdir(parents=True, exist_ok=True)
        home.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ, PULSE_SERVER=f"unix:{self.socket}",
                        XDG_RUNTIME_DIR=str(runtime), HOME=str(home),
                        PYTHONPATH=str(ROOT))
        self.env.pop("PULSE_SINK", None)
        self.env.pop("PULSE_SOURCE", None)
        self.proc: subprocess.Popen[bytes] | None = None
        self._keepalive: list[subprocess.Popen[bytes]] = []
        self.log = base / "pulseaudio.log"

    def start(self) -> None:
        daemon = _require("pulseaudio")
        _require("pactl")
        _require("pacat")
        if self.socket.exists():
            self.socket.unlink()
        args = [
            daemon, "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit",
            "-n", "--use-pid-file=no", "--disable-shm=yes", "--realtime=no",
            "--high-priority=no", "--log-target=stderr",
            f"--load=module-native-protocol-unix socket={self.socket} auth-anonymous=1",
            "--load=module-null-sink sink_name=spk rate=16000 channels=1",
            "--load=module-null-sink sink_name=mic rate=16000 channels=1",
        ]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, env=self.env, stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL)
        wait_for(self._ready, 10, f"pulseaudio on {self.socket} (log: {self.log})")
        self.pactl("set-default-sink", "spk")
        self.pactl("set-default-source", "mic.monitor")
        for sink in ("spk", "mic"):
            with open("/dev/zero", "rb") as zero:
                self._keepalive.append(subprocess.Popen(
                    ["pacat", "--playback", f"--device={sink}", "--latency-msec=10", "--raw",
                     f"--rate={RATE}", "--channels=1", "--format=s16le"],
                    env=self.env, stdin=zero, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL))

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"pulseaudio exited: {self.log.read_text()[-2000:]}")
        if not self.socket.exists():
            return False
        return subprocess.run(["pactl", "info"], env=self.env, capture_output=True,
                              timeout=5).returncode == 0

    def pactl(self, *args: str) -> str:
        done = subprocess.run(["pactl", *args], env=self.env, capture_output=True, text=True,
                              timeout=5, check=True)
        return done.stdout

    def kill(self) -> None:
        """Make every device vanish at once (SIGKILL, no goodbye to clients)."""
        for proc in self._keepalive:
            proc.kill()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=5)

    def stop(self) -> None:
        for proc in self._keepalive:
            proc.kill()
            proc.wait(timeout=5)
        self._keepalive.clear()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def play(self, samples: np.ndarray, sink: str) -> subprocess.Popen[bytes]:
        """Play int16 mono ``samples`` into ``sink`` in real time (returns pacat)."""
        proc = subprocess.Popen(
            ["pacat", "--playback", f"--device={sink}", "--latency-msec=20", "--raw",
             f"--rate={RATE}", "--channels=1", "--format=s16le"],
            env=self.env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        assert proc.stdin is not None
        os.set_blocking(proc.stdin.fileno(), False)
        try:
            proc.stdin.write(samples.astype("<i2").tobytes())
            proc.stdin.flush()
        except BlockingIOError:
            pass  # pacat buffers what fits; the rest is not needed by the tests.
        return proc

    def record(self, source: str, seconds: float, timeout: float = 10) -> np.ndarray:
        """Record ``seconds`` of int16 mono audio from ``source`` (blocking, bounded)."""
        wanted = int(seconds * RATE) * 2
        proc = subprocess.Popen(
            ["parec", f"--device={source}", "--latency-msec=20", "--raw", f"--rate={RATE}",
             "--channels=1", "--format=s16le"],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert proc.stdout is not None
        data = b""
        deadline = time.monotonic() + timeout
        try:
            while len(data) < wanted:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"parec delivered {len(data)} of {wanted} bytes")
                ready, _, _ = select.select([proc.stdout], [], [], left)
                if ready:
                    chunk = os.read(proc.stdout.fileno(), wanted - len(data))
                    if not chunk:
                        raise AssertionError("parec exited early")
                    data += chunk
        finally:
            proc.kill()
            proc.wait(timeout=5)
        return np.frombuffer(data, dtype="<i2").astype(np.float64)


# -- signals ------------------------------------------------------------------------------------


def tone(freq: float, seconds: float, amplitude: float = 0.5, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """A recording in int16 units (the scale this module's levels use), and its rate."""
    samples, rate = tones.read_wav(path)
    return samples * 32768.0, rate


def band_ratio(samples: np.ndarray, rate: int, freq: float, width: float = 25.0) -> float:
    """Share of the signal's energy within ``freq`` ± ``width`` Hz (0..1)."""
    samples = samples - samples.mean()
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples)))) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    total = spectrum.sum()
    if total <= 0:
        return 0.0
    return float(spectrum[np.abs(freqs - freq) <= width].sum() / total)


def tone_share(samples: np.ndarray, rate: int, freq: float, block_s: float = 0.1,
               width: float = 25.0, gaps_count: bool = True) -> float:
    """Share of the 100 ms blocks between the first and last audible one that
    carry mostly ``freq`` (0..1); with ``gaps_count=False``, of the audible
    blocks only (for a tone that is on and off by design, like a ringer).

    A loaded machine can starve a real sound-card stream for a moment (the sound
    server then plays silence or a click); one whole-recording spectrum smears
    such a glitch into every band, while block by block it costs only its own
    blocks. Silence before the tone starts or after it ends does not count.
    """
    size = int(block_s * rate)
    blocks = [samples[i:i + size] for i in range(0, len(samples) - size + 1, size)]
    audible = [i for i, block in enumerate(blocks) if rms(block) > 300]
    if not audible:
        return 0.0
    span = blocks[audible[0]:audible[-1] + 1] if gaps_count else [blocks[i] for i in audible]
    hits = sum(1 for block in span if band_ratio(block, rate, freq, width) > 0.8)
    return hits / len(span)


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples**2))) if len(samples) else 0.0


# -- the child process -------------------------------------------------------------------------


class Child:
    """A running ``bridge_child.py``; see its docstring for the protocol.

    Attributes:
        proc: the child process.
        ready: the first protocol message (``ready`` or ``unavailable``).
        noise: non-JSON lines the child printed (PJSIP console output).
        stderr_path: file receiving the child's stderr.
    """

    def __init__(self, config: dict[str, Any], env: dict[str, str], workdir: Path) -> None:
        # stderr goes to a file: PortAudio prints an error per poll once a device
        # is gone, and a full pipe would block its thread.
        self.stderr_path = workdir / "child-stderr.txt"
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(HERE / "bridge_child.py"), json.dumps(config)],
                env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True)
        self.noise: list[str] = []
        self.ready = self.message(timeout=20)

    def message(self, timeout: float = 10) -> dict[str, Any]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no message from the child in time")
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if not ready:
                continue
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"child exited (rc={self.proc.poll()}): {self.stderr()}")
            try:
                message = json.loads(line)
            except ValueError:
                self.noise.append(line)
                continue
            if isinstance(message, dict):
                return message

    def command(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.message()

    def status(self, check: bool = False) -> dict[str, Any]:
        message = self.command("check" if check else "status")
        assert message["event"] == "status", message
        return message

    def quit(self, timeout: float = 20) -> int:
        assert self.proc.stdin is not None
        if self.ready.get("event") == "ready":
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            assert self.message(timeout)["event"] == "bye"
        self.proc.stdin.close()
        return self.proc.wait(timeout=timeout)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-3000:]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
