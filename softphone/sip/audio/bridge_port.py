"""The PJSIP side of the sound-card bridge: the conference port whose
overrides PJSIP calls on its clock thread, copying frames to and from the
rings."""

from __future__ import annotations

import logging
import time

import pjsua2 as pj

from softphone.sip.audio.byte_vector import fast_read, fast_write, slow_read
from softphone.sip.audio.ringbuffer import RingBuffer

log = logging.getLogger("softphone.sip.audio.soundcard")


class CallbackStats:
    """Counters written by the real-time callbacks, read by the Qt thread.

    Attributes:
        requested: onFrameRequested calls (microphone frames given to PJSIP).
        received: onFrameReceived calls (speaker frames taken from PJSIP).
        requested_ns: total time spent in onFrameRequested.
        received_ns: total time spent in onFrameReceived.
        errors: exceptions caught in the callbacks.
        last_mic: the last microphone frame given to PJSIP (for the level meter).
        last_speaker: the last speaker frame taken from PJSIP (for the level meter).
    """

    def __init__(self) -> None:
        self.requested = 0
        self.received = 0
        self.requested_ns = 0
        self.received_ns = 0
        self.errors = 0
        self.last_mic = b""
        self.last_speaker = b""


class BridgePort(pj.AudioMediaPort):  # type: ignore[misc]
    """The conference port; PJSIP calls its overrides on the clock thread.

    Attributes:
        capture: ring PortAudio fills with microphone audio.
        playback: ring PortAudio drains to the speaker.
        frame_bytes: bytes in one PJSIP frame at the port's rate.
        stats: callback counters.
    """

    def __init__(self, capture: RingBuffer, playback: RingBuffer, frame_bytes: int,
                 stats: CallbackStats, fast: bool) -> None:
        super().__init__()
        self.capture = capture
        self.playback = playback
        self.frame_bytes = frame_bytes
        self.stats = stats
        self._silence = bytes(frame_bytes)
        self._read = fast_read if fast else slow_read
        self._fast = fast
        self._vector = pj.ByteVector(self._silence)

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:
        started = time.perf_counter_ns()
        try:
            data = self.capture.read(self.frame_bytes)
            if self._fast:
                # The vector keeps its size, so its storage stays put; PJSIP copies it.
                fast_write(self._vector, data)
                frame.buf = self._vector
            else:
                frame.buf = pj.ByteVector(data)
            # frame.size stays at its preset capacity: pjsua2 uses
            # min(frame.size, len(frame.buf)), which is the frame we filled.
            frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
            self.stats.last_mic = data
        except Exception:
            self._failed("onFrameRequested")
        self.stats.requested += 1
        self.stats.requested_ns += time.perf_counter_ns() - started

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:
        started = time.perf_counter_ns()
        try:
            data = self._read(frame.buf)
            if len(data) != self.frame_bytes:
                # Empty when nothing transmits to us this tick: keep the playback
                # clock fed with silence instead.
                data = (data + self._silence)[: self.frame_bytes]
            self.playback.write(data)
            self.stats.last_speaker = data
        except Exception:
            self._failed("onFrameReceived")
        self.stats.received += 1
        self.stats.received_ns += time.perf_counter_ns() - started

    def _failed(self, where: str) -> None:
        self.stats.errors += 1
        # Log the first few only: this runs every 20 ms and must stay cheap.
        if self.stats.errors <= 3:
            log.exception("sound-card bridge: %s failed", where)
