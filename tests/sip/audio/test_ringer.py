"""The ringer: pattern on a real (PulseAudio null-sink) device, and no device at all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from softphone.sip.audio import devices
from softphone.sip.audio.ringer import Ringer, ring_burst
from tests.sip.audio.audio_helpers import RATE, PulseServer, band_ratio, rms, tone_share

HERE = Path(__file__).resolve().parent


def test_ring_burst_is_the_requested_tone() -> None:
    samples = np.frombuffer(ring_burst(RATE, 1.0, (440.0, 480.0), 0.5), dtype=np.int16)
    assert len(samples) == RATE
    assert 0.45 * 32767 < np.abs(samples).max() <= 0.5 * 32767
    assert band_ratio(samples.astype(np.float64), RATE, 460, width=30) > 0.95
    assert samples[0] == 0 and abs(int(samples[-1])) < 400  # faded in and out


def test_stereo_burst_duplicates_the_channel() -> None:
    samples = np.frombuffer(ring_burst(8000, 0.1, (440.0,), 0.5, channels=2), dtype=np.int16)
    assert np.array_equal(samples[0::2], samples[1::2])


def test_ringer_without_portaudio_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "sounddevice_module", lambda: None)
    r = Ringer("anything")
    r.start()
    assert r.wait_idle(5)
    assert not r.playing and not r.ringing
    assert r.last_error
    r.stop()


def test_ringer_survives_a_failing_device(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        def check_output_settings(self, **_: Any) -> None:
            pass

        def RawOutputStream(self, **_: Any) -> None:
            raise RuntimeError("device busy")

    monkeypatch.setattr(devices, "sounddevice_module", lambda: Broken())
    monkeypatch.setattr(devices, "find_device", lambda name, kind: devices.AudioDevice(
        0, "x", "ALSA", 0, 2, False, True, 48000.0))
    r = Ringer(None, on_s=0.05)
    r.start()
    assert r.wait_idle(5)
    assert r.last_error == "device busy"


@pytest.mark.soundcard
def test_ringer_plays_the_pattern(pulse: PulseServer) -> None:
    child = subprocess.Popen([sys.executable, str(HERE / "ringer_child.py"), "pulse"],
                             env=pulse.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdin is not None
        first = child.stdout.readline()
        assert first.startswith("playing"), first + child.communicate(timeout=5)[1]
        audio = pulse.record("spk.monitor", 2.5)
        child.stdin.write("stop\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "idle"
        assert child.wait(timeout=10) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    audio = audio[int(0.3 * RATE):]
    assert tone_share(audio, RATE, 460, width=40, gaps_count=False) > 0.8
    # 0.5 s on / 0.5 s off: 100 ms windows are either loud or silent, and both occur.
    windows = [rms(audio[i:i + RATE // 10]) for i in range(0, len(audio) - RATE // 10,
                                                               RATE // 10)]
    loud = sum(w > 3000 for w in windows)
    quiet = sum(w < 100 for w in windows)
    assert loud >= 5 and quiet >= 5, windows
