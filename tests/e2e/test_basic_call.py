"""Two headless softphones as separate processes: calls with real audio."""

from __future__ import annotations

import time
import wave

import pytest

from tests.conftest import InstanceFactory
from tests.e2e.conftest import (
    RECORD_SECONDS,
    TONE_A,
    TONE_B,
    api,
    connect,
    record,
    start_pair,
)
from tests.helpers.tones import analyse, has_tone

pytestmark = pytest.mark.multiprocess


def test_call_audio_both_ways_hold_resume_dtmf_hangup(softphones: InstanceFactory,
                                                       tone_files):
    a, b = start_pair(softphones, tone_files)
    a_call, b_call = connect(a, b)

    levels = record([a, b], "connected")
    assert has_tone(levels["alice"], TONE_B), levels  # alice hears bob
    assert has_tone(levels["bob"], TONE_A), levels  # bob hears alice
    assert not has_tone(levels["alice"], TONE_A), levels  # no own echo
    assert not has_tone(levels["bob"], TONE_B), levels

    # Hold silences both directions.
    mark_b = api(b).mark()
    api(a).call("call.hold", call_id=a_call)
    api(a).wait_event("call.updated", lambda e: e["hold"] == "local")
    api(b).wait_event("call.updated", lambda e: e["hold"] == "remote", since=mark_b)
    levels = record([a, b], "held")
    for name in ("alice", "bob"):
        assert not has_tone(levels[name], TONE_A), (name, levels)
        assert not has_tone(levels[name], TONE_B), (name, levels)

    # Resume restores both directions.
    mark_a, mark_b = api(a).mark(), api(b).mark()
    api(a).call("call.resume", call_id=a_call)
    api(a).wait_event("call.updated", lambda e: e["hold"] == "none", since=mark_a)
    api(b).wait_event("call.updated", lambda e: e["hold"] == "none", since=mark_b)
    levels = record([a, b], "resumed")
    assert has_tone(levels["alice"], TONE_B), levels
    assert has_tone(levels["bob"], TONE_A), levels

    # DTMF arrives, in order.
    mark_b = api(b).mark()
    assert api(a).call("call.dtmf", call_id=a_call, digits="19*#") ["method"] == "rfc4733"
    digits = []
    for _ in range(4):
        ev = api(b).wait_event("call.dtmf", since=mark_b)
        mark_b = api(b).events.index(ev) + 1
        digits.append(ev["digit"])
    assert "".join(digits) == "19*#"

    # Hang up from the callee's side; both see disconnected.
    api(b).call("call.hangup", call_id=b_call)
    api(a).wait_call_state(a_call, "disconnected")
    api(b).wait_call_state(b_call, "disconnected")
    assert api(a).call("call.list")["calls"] == []


def test_audio_out_file_holds_the_far_end_after_a_clean_exit(softphones: InstanceFactory,
                                                             tone_files):
    """``--audio-out FILE.wav`` itself (not recording.start): a complete 16-bit
    PCM WAV of what the agent heard, written by the time the process exits."""
    a, b = start_pair(softphones, tone_files)
    a_call, b_call = connect(a, b)
    # The call's length is what gets measured, not a wait for an event.
    time.sleep(RECORD_SECONDS)
    api(a).call("call.hangup", call_id=a_call)
    api(b).wait_call_state(b_call, "disconnected")
    assert a.stop() == 0 and b.stop() == 0
    for inst, far, own in ((a, TONE_B, TONE_A), (b, TONE_A, TONE_B)):
        assert inst.audio_out is not None
        data = inst.audio_out.read_bytes()
        # RIFF/WAVE with a PCM (format 1) fmt chunk and sizes patched at close.
        assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
        assert int.from_bytes(data[4:8], "little") == len(data) - 8
        with wave.open(str(inst.audio_out), "rb") as wav:
            assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
            assert wav.getcomptype() == "NONE"
            assert wav.getnframes() >= RECORD_SECONDS * wav.getframerate()
        levels = analyse(inst.audio_out, [far, own])
        assert has_tone(levels, far), (inst.name, levels)  # the far end's tone
        assert not has_tone(levels, own), (inst.name, levels)  # never the agent's own


def test_on_the_null_device_both_sides_send_dtmf_after_sitting_idle(
        softphones: InstanceFactory) -> None:
    """No sound device and no audio file on either side (a server, a support
    script): PJSIP stops its media clock on an idle softphone, and an answered
    call must start it again, or the call sends no RTP and no RFC 4733 DTMF."""
    a = softphones("alice")
    b = softphones("bob")
    for inst in (a, b):
        assert api(inst).call("status")["audio_mode"] == "null"
    # pjsua closes an unused audio device 1 s after start-up: the callee must
    # have been idle that long (a time-based behaviour, no event to wait on).
    time.sleep(1.5)
    a_call, b_call = connect(a, b)
    for sender, call_id, receiver, digit in ((b, b_call, a, "5"), (a, a_call, b, "7")):
        mark = api(receiver).mark()
        assert api(sender).call("call.dtmf", call_id=call_id, digits=digit)["method"] == "rfc4733"
        event = api(receiver).wait_event("call.dtmf", since=mark)
        assert event["digit"] == digit, event
    api(a).call("call.hangup", call_id=a_call)
    api(b).wait_call_state(b_call, "disconnected")
