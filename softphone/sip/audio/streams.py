"""The PortAudio side of the sound-card bridge: one capture or playback
stream feeding or draining a ring buffer on PortAudio's thread."""

from __future__ import annotations

import logging
import time
from array import array
from typing import Any

from softphone.sip.audio.devices import AudioDevice, DeviceKind
from softphone.sip.audio.ringbuffer import SAMPLE_BYTES, RingBuffer

log = logging.getLogger("softphone.sip.audio.soundcard")


class Stream:
    """One PortAudio stream (capture or playback) feeding or draining a ring.

    Attributes:
        kind: "input" or "output".
        device: the device in use.
        channels: channels the device was opened with (the ring is always mono).
        ring: the ring buffer on the PJSIP side.
        stream: the sounddevice RawInputStream/RawOutputStream.
        last_callback: time.monotonic() of the latest callback (0 before the first).
        finished: set by PortAudio when the stream stopped by itself.
        status_flags: over/underflow flags PortAudio reported.
    """

    def __init__(self, sd: Any, kind: DeviceKind, device: AudioDevice, rate: int, channels: int,
                 ring: RingBuffer, latency: str | float) -> None:
        self.kind = kind
        self.device = device
        self.channels = channels
        self.ring = ring
        self.last_callback = 0.0
        self.finished = False
        self.status_flags = 0
        cls = sd.RawInputStream if kind == "input" else sd.RawOutputStream
        callback = self._on_input if kind == "input" else self._on_output
        self.stream: Any = cls(device=device.index, samplerate=rate, channels=channels,
                               dtype="int16", blocksize=0, latency=latency,
                               callback=callback, finished_callback=self._on_finished)

    def start(self) -> None:
        self.stream.start()

    def _on_input(self, indata: Any, frames: int, time_info: Any, status: Any) -> None:
        try:
            self.last_callback = time.monotonic()
            if status:
                self.status_flags += 1
            if self.channels == 1:
                self.ring.write(indata)
            else:
                # Keep the first channel: headsets put the microphone there.
                self.ring.write(array("h", bytes(indata))[0::self.channels].tobytes())
        except Exception:
            log.exception("sound-card capture callback failed")

    def _on_output(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        try:
            self.last_callback = time.monotonic()
            if status:
                self.status_flags += 1
            if self.channels == 1:
                outdata[:] = self.ring.read(len(outdata))
            else:
                mono = array("h", self.ring.read(frames * SAMPLE_BYTES))
                out = array("h", bytes(len(outdata)))
                for channel in range(self.channels):
                    out[channel::self.channels] = mono
                outdata[:] = out.tobytes()
        except Exception:
            log.exception("sound-card playback callback failed")

    def _on_finished(self) -> None:
        self.finished = True

    def alive(self, stale_after: float, now: float) -> bool:
        if self.finished:
            return False
        try:
            if not self.stream.active:
                return False
        except Exception:
            return False
        return not (self.last_callback and now - self.last_callback > stale_after)

    def close(self) -> None:
        try:
            self.stream.abort()
        except Exception:
            log.debug("aborting the %s stream failed", self.kind, exc_info=True)
        try:
            self.stream.close()
        except Exception:
            log.debug("closing the %s stream failed", self.kind, exc_info=True)
