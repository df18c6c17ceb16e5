"""The sound-card bridge through a real PortAudio -> ALSA -> PulseAudio path.

Each scenario runs ``bridge_child.py`` in its own process (one pj.Endpoint per
process; sounddevice scans devices at import, so the environment must be set
before it starts).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers.tones import write_wav
from tests.sip.audio.audio_helpers import (
    RATE,
    Child,
    PulseServer,
    band_ratio,
    read_wav,
    rms,
    tone,
    tone_share,
    wait_for,
)


def _frames(child: Child) -> int:
    """Microphone frames PJSIP has pulled from the bridge so far."""
    return int(child.status()["status"]["frames_requested"])


@pytest.mark.soundcard
@pytest.mark.parametrize("clock_rate", [16000, 48000], ids=["16k", "48k-port"])
def test_audio_flows_both_ways(pulse: PulseServer, tmp_path: Path, clock_rate: int) -> None:
    """bridge -> speaker carries 1000 Hz; microphone -> bridge carries 700 Hz.

    The 48 kHz variant creates the port at 48 kHz (what happens when a device
    refuses 16 kHz): PJSIP's conference bridge then resamples.
    """
    tone_wav = write_wav(tmp_path / "t1000.wav", tone(1000, 2.0))
    mic_wav = tmp_path / "mic.wav"
    child = Child({"capture": "pulse", "playback": "pulse", "clock_rate": clock_rate,
                   "tone_wav": str(tone_wav), "record_wav": str(mic_wav)},
                  pulse.env, tmp_path)
    try:
        assert child.ready["event"] == "ready", child.ready
        assert child.ready["status"]["rate"] == clock_rate
        assert child.ready["status"]["capture_device"] == "pulse"
        # The microphone: 700 Hz into the sink whose monitor is the default source.
        player = pulse.play(tone(700, 3.0), "mic")
        try:
            speaker = pulse.record("spk.monitor", 1.5)
            wait_for(lambda: _frames(child) > 100, 10, "PJSIP to pull 100 frames")
        finally:
            player.kill()
            player.wait(timeout=5)
        status = child.status(check=True)
        assert status["healthy"] is True, status
        assert child.quit() == 0
    finally:
        child.kill()

    speaker = speaker[int(0.3 * RATE):]  # skip the stream start-up
    rings = {k: v for k, v in status["status"].items() if k.startswith(("capture", "playback"))}
    assert rms(speaker) > 1000, f"the speaker side stayed silent ({rings})"
    assert tone_share(speaker, RATE, 1000) > 0.7, \
        f"the speaker did not carry the 1000 Hz tone ({rings})"
    assert band_ratio(speaker, RATE, 700) < 0.01

    mic, rate = read_wav(mic_wav)
    assert rate == 16000
    mic = mic[int(0.5 * rate):]
    assert len(mic) > 0.5 * rate, "recorder got too little audio"
    assert rms(mic) > 1000, f"the microphone side stayed silent ({rings})"
    assert tone_share(mic, rate, 700) > 0.7, \
        f"the microphone did not carry the 700 Hz tone ({rings})"
    assert band_ratio(mic, rate, 1000) < 0.01

    timing = status["status"]
    print(f"callback cost: request {timing['request_us']:.1f} us, "
          f"receive {timing['receive_us']:.1f} us per frame")


@pytest.mark.soundcard
def test_device_vanishing_keeps_the_port_alive(pulse: PulseServer, tmp_path: Path) -> None:
    # PJSIP only pulls frames from a port that has a listener and only pushes to
    # one with a transmitter: give it both, as a call would.
    tone_wav = write_wav(tmp_path / "t1000.wav", tone(1000, 1.0))
    child = Child({"capture": "pulse", "playback": "pulse", "tone_wav": str(tone_wav),
                   "record_wav": str(tmp_path / "mic.wav")}, pulse.env, tmp_path)
    try:
        assert child.ready["event"] == "ready", child.ready
        wait_for(lambda: child.status(check=True)["status"]["capture_buffer_ms"] > 0, 10,
                 "capture audio to arrive")
        pulse.kill()

        def lost() -> bool:
            return bool(child.status(check=True)["status"]["device_lost"])

        # stale_after (1.5 s) bounds detection when PortAudio does not stop by itself.
        wait_for(lost, 10, "the bridge to notice the lost device", interval=0.1)
        before = child.status()["status"]
        wait_for(lambda: _frames(child) >= before["frames_requested"] + 25, 5,
                 "PJSIP to keep pulling frames after the device vanished")
        status = child.status()["status"]
        assert status["frames_received"] >= before["frames_received"] + 25
        assert status["mic_level"] == 0.0  # silence, not stale audio
        assert status["callback_errors"] == 0
        assert status["capture_device"] is None
        assert child.quit() == 0
    finally:
        child.kill()


@pytest.mark.soundcard
def test_a_headset_that_is_gone_falls_back_to_the_default_device(pulse: PulseServer,
                                                                 tmp_path: Path) -> None:
    """The agent's chosen headset is not plugged in: the bridge opens the
    default devices instead (and says so), and audio flows through them."""
    tone_wav = write_wav(tmp_path / "t1000.wav", tone(1000, 2.0))
    child = Child({"capture": "Jabra Evolve2 65", "playback": "Jabra Evolve2 65",
                   "tone_wav": str(tone_wav), "record_wav": str(tmp_path / "mic.wav")},
                  pulse.env, tmp_path)
    try:
        assert child.ready["event"] == "ready", child.ready
        status = child.ready["status"]
        assert status["capture_device"] and status["capture_device"] != "Jabra Evolve2 65"
        assert status["playback_device"] and status["playback_device"] != "Jabra Evolve2 65"
        speaker = pulse.record("spk.monitor", 1.0)
        assert child.status(check=True)["healthy"] is True
        assert child.quit() == 0
    finally:
        child.kill()
    assert "not found: using the default" in child.stderr_path.read_text(errors="replace")
    speaker = speaker[int(0.3 * RATE):]
    assert rms(speaker) > 1000 and tone_share(speaker, RATE, 1000) > 0.7


@pytest.mark.soundcard
def test_bridge_reopens_when_the_sound_server_returns(pulse: PulseServer, tmp_path: Path
                                                      ) -> None:
    child = Child({"capture": "pulse", "playback": "pulse"}, pulse.env, tmp_path)
    try:
        assert child.ready["event"] == "ready", child.ready
        pulse.kill()
        wait_for(lambda: child.status(check=True)["status"]["device_lost"], 10,
                 "the bridge to notice the lost device", interval=0.1)
        pulse.start()
        status = wait_for(lambda: child.status(check=True).get("healthy"), 15,
                          "the bridge to reopen the device", interval=0.25)
        assert status
        assert child.status()["status"]["device_lost"] is False
        assert child.quit() == 0
    finally:
        child.kill()


def test_open_fails_clearly_without_devices(tmp_path: Path) -> None:
    if Path("/dev/snd").exists():
        pytest.skip("this machine has sound hardware: 'no default device' cannot be arranged")
    env = dict(os.environ, PULSE_SERVER=f"unix:{tmp_path}/no-such-socket",
               PYTHONPATH=str(Path(__file__).resolve().parents[3]))
    child = Child({"capture": "No Such Headset", "playback": "No Such Headset"}, env, tmp_path)
    try:
        assert child.ready["event"] == "unavailable", child.ready
        assert child.ready["devices"] == []
        error = child.ready["error"]
        assert "'No Such Headset' not found" in error
        assert "no default input device" in error
        assert child.quit() == 0
    finally:
        child.kill()


def test_open_fails_clearly_without_portaudio(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[3]))
    child = Child({"capture": None, "playback": None, "no_portaudio": True}, env, tmp_path)
    try:
        assert child.ready["event"] == "unavailable", child.ready
        assert child.ready["devices"] == []
        assert "PortAudio is not available" in child.ready["error"]
        assert child.quit() == 0
    finally:
        child.kill()
