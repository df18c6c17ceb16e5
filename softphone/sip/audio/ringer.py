"""The ringer: an incoming-call ring pattern on a chosen output device.

It plays through PortAudio directly (not through PJSIP), so the agent can ring
on the loudspeaker while the headset carries calls. Opening a PortAudio stream
can take tens of milliseconds (or hang on a sick device), so all stream work
happens on a worker thread; ``start()`` and ``stop()`` return at once and never
raise.
"""

from __future__ import annotations

import logging
import math
import threading
from array import array
from typing import Any

from softphone.sip.audio import devices as devs

log = logging.getLogger(__name__)

_RAMP_S = 0.01  # fade in/out so the bursts do not click


def ring_burst(rate: int, seconds: float, freqs: tuple[float, ...], volume: float,
               channels: int = 1) -> bytes:
    """One ring burst as interleaved int16 bytes (stdlib only: no numpy at run time)."""
    count = int(rate * seconds)
    ramp = max(1, int(rate * _RAMP_S))
    scale = 32767 * volume / max(1, len(freqs))
    steps = [2 * math.pi * f / rate for f in freqs]
    samples = array("h", bytes(2 * count * channels))
    sin = math.sin
    for n in range(count):
        value = sum(sin(step * n) for step in steps) * scale
        if n < ramp:
            value *= n / ramp
        elif n >= count - ramp:
            value *= (count - n) / ramp
        sample = int(value)
        base = n * channels
        for channel in range(channels):
            samples[base + channel] = sample
    return samples.tobytes()


class Ringer:
    """Plays ``on_s`` of ringing then ``off_s`` of silence, repeatedly.

    Attributes:
        device: output device name (None = default; unknown names fall back to it).
        volume: 0.0-1.0 peak level of the ring tone.
        on_s: seconds of tone per cycle.
        off_s: seconds of silence per cycle.
        freqs: tone frequencies in Hz (440 + 480 Hz is the North American ring).
        last_error: why the latest attempt to ring failed (None when it did not).
    """

    def __init__(self, device: str | None = None, *, volume: float = 0.3, on_s: float = 2.0,
                 off_s: float = 4.0, freqs: tuple[float, ...] = (440.0, 480.0)) -> None:
        self.device = device
        self.volume = volume
        self.on_s = on_s
        self.off_s = off_s
        self.freqs = freqs
        self.last_error: str | None = None
        self._cond = threading.Condition()
        self._want = False
        self._playing = False
        self._thread: threading.Thread | None = None
        self._burst = b""
        self._cycle_bytes = 0
        self._pos = 0
        self._cache: dict[tuple[int, int], bytes] = {}

    @property
    def ringing(self) -> bool:
        """True while ringing is wanted (between start() and stop())."""
        return self._want

    @property
    def playing(self) -> bool:
        """True while a PortAudio stream is actually running."""
        return self._playing

    def start(self) -> None:
        """Start ringing (no-op when already ringing). Returns at once; never raises."""
        try:
            with self._cond:
                self._want = True
                self._cond.notify_all()
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="ringer", daemon=True)
                    self._thread.start()
        except Exception:
            log.exception("cannot start the ringer")

    def stop(self) -> None:
        """Stop ringing at once (the stream closes in the background). Never raises."""
        try:
            with self._cond:
                self._want = False
                self._cond.notify_all()
        except Exception:
            log.exception("cannot stop the ringer")

    def wait_idle(self, timeout: float) -> bool:
        """Wait until the worker has closed its stream (for tests and shutdown)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._thread is None, timeout)

    # -- worker thread -------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._want:
                    self._thread = None
                    self._cond.notify_all()
                    return
            stream = self._open()
            if stream is None:
                with self._cond:
                    # Nothing to ring on: give up until the next start().
                    self._want = False
                    self._thread = None
                    self._cond.notify_all()
                return
            with self._cond:
                self._playing = True
                self._cond.wait_for(lambda: not self._want)
                self._playing = False
            self._close(stream)

    def _open(self) -> Any | None:
        sd = devs.sounddevice_module()
        if sd is None:
            self.last_error = devs.unavailable_reason() or "PortAudio is not available"
            log.info("not ringing: %s", self.last_error)
            return None
        try:
            device = devs.find_device(self.device, "output")
            if device is None and self.device:
                log.warning("ringer device %r not found: using the default", self.device)
                device = devs.find_device(None, "output")
            if device is None:
                raise RuntimeError("no output device")
            rate = int(device.default_samplerate) or 48000
            channels = 1
            try:
                sd.check_output_settings(device=device.index, samplerate=rate, channels=1,
                                         dtype="int16")
            except Exception:
                channels = 2
            key = (rate, channels)
            if key not in self._cache:
                self._cache[key] = ring_burst(rate, self.on_s, self.freqs, self.volume,
                                              channels)
            self._burst = self._cache[key]
            frame_bytes = 2 * channels
            self._cycle_bytes = len(self._burst) + int(rate * self.off_s) * frame_bytes
            self._pos = 0
            with devs.portaudio_lock:
                stream = sd.RawOutputStream(device=device.index, samplerate=rate,
                                            channels=channels, dtype="int16",
                                            callback=self._callback)
                try:
                    stream.start()
                except Exception:
                    stream.close()
                    raise
        except Exception as exc:
            self.last_error = str(exc) or type(exc).__name__
            log.warning("not ringing: %s", self.last_error)
            return None
        self.last_error = None
        log.debug("ringing on %r at %d Hz", device.name, rate)
        return stream

    def _close(self, stream: Any) -> None:
        try:
            with devs.portaudio_lock:
                stream.abort()
                stream.close()
        except Exception:
            log.debug("closing the ringer stream failed", exc_info=True)

    def _callback(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        """PortAudio thread: copy the next slice of the ring cycle; silence once stopped."""
        try:
            size = len(outdata)
            if not self._want:
                outdata[:] = bytes(size)
                return
            out = bytearray(size)
            done = 0
            burst = self._burst
            while done < size:
                pos = self._pos
                take = min(size - done, self._cycle_bytes - pos)
                if pos < len(burst):
                    take = min(take, len(burst) - pos)
                    out[done:done + take] = burst[pos:pos + take]
                done += take
                self._pos = (pos + take) % self._cycle_bytes
            outdata[:] = bytes(out)
        except Exception:
            log.exception("ringer callback failed")
