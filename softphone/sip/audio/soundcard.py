"""The sound-card bridge: a PJSIP conference port backed by PortAudio streams.

The pjsua2 wheel has no sound-card drivers, so PJSIP runs on its null device
(which is also the media master clock) and this module carries audio between
the conference bridge and a real headset:

    microphone --PortAudio thread--> capture ring --PJSIP clock thread--> bridge
    bridge --PJSIP clock thread--> playback ring --PortAudio thread--> speaker

Threads: :class:`SoundCardBridge` methods are called from the Qt main thread
(they call pjsua2). ``onFrameRequested``/``onFrameReceived`` run on PJSIP's
clock thread and the stream callbacks on PortAudio's thread; those only copy
bytes to and from the rings.

Resampling: the port is created at a rate the devices accept (16 kHz when they
do). When a device only runs at e.g. 48 kHz, the port is created at 48 kHz and
PJSIP's conference bridge resamples it (in C) to the bridge rate, so no Python
code touches individual samples.

Device loss: call :meth:`SoundCardBridge.check` from a QTimer about every 2 s.
It notices dead streams, keeps the port serving silence (calls go on) and
reopens the devices when they are back.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from array import array
from typing import Any

import pjsua2 as pj

from softphone.sip.audio import devices as devs
from softphone.sip.audio.devices import AudioDevice, DeviceKind

log = logging.getLogger(__name__)

SAMPLE_BYTES = 2  # int16


class SoundCardUnavailable(Exception):
    """No usable PortAudio device (no library, no device, device busy)."""


class RingBuffer:
    """Fixed-size byte FIFO between two threads on two different clocks.

    The writer never waits: on overrun the oldest bytes are dropped. The reader
    never waits: on underrun it gets silence. Because the two clocks drift, the
    level is kept bounded: above ``high_water`` the oldest audio is dropped back
    to ``target``. After an underrun the reader gets silence until ``target``
    bytes are buffered again (a jitter cushion, so that one late writer does
    not cause a click on every read).

    The lock is held only for the copy.

    Attributes:
        capacity: size of the storage in bytes (hard latency cap).
        target: prefill level in bytes, and the level trims go back to.
        high_water: level in bytes above which the buffer is trimmed.
        underruns: reads that could not be served in full.
        overruns: writes that overflowed ``capacity`` (oldest bytes dropped).
        trims: times the level was cut back from ``high_water`` to ``target``.
    """

    def __init__(self, capacity: int, target: int, high_water: int, align: int = SAMPLE_BYTES
                 ) -> None:
        if not 0 < target <= high_water <= capacity:
            raise ValueError("need 0 < target <= high_water <= capacity")
        self._align = align
        self.capacity = self._aligned(capacity)
        self.target = self._aligned(target)
        self.high_water = self._aligned(high_water)
        self._buf = bytearray(self.capacity)
        self._start = 0
        self._level = 0
        self._primed = False
        self._lock = threading.Lock()
        self.underruns = 0
        self.overruns = 0
        self.trims = 0

    def _aligned(self, n: int) -> int:
        return n - n % self._align

    @property
    def level(self) -> int:
        """Bytes currently buffered."""
        return self._level

    def clear(self) -> None:
        """Drop everything and wait for a new prefill."""
        with self._lock:
            self._start = 0
            self._level = 0
            self._primed = False

    def _drop(self, n: int) -> None:
        n = min(self._level, n + (-n) % self._align)
        self._start = (self._start + n) % self.capacity
        self._level -= n

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data``; never blocks, drops the oldest audio when full."""
        view = memoryview(data).cast("B")
        n = len(view)
        if n == 0:
            return
        cap = self.capacity
        with self._lock:
            if n >= cap:
                view = view[n - cap:]
                n = cap
                self._start = 0
                self._level = 0
                self.overruns += 1
            elif self._level + n > cap:
                self._drop(self._level + n - cap)
                self.overruns += 1
            end = (self._start + self._level) % cap
            first = min(n, cap - end)
            self._buf[end:end + first] = view[:first]
            if first < n:
                self._buf[:n - first] = view[first:]
            self._level += n
            if self._level > self.high_water:
                self._drop(self._level - self.target)
                self.trims += 1

    def read(self, n: int) -> bytes:
        """Take ``n`` bytes; missing bytes are silence (zeros). Never blocks."""
        with self._lock:
            if not self._primed:
                if self._level < self.target:
                    return bytes(n)
                self._primed = True
            take = min(n, self._level)
            start = self._start
            end = start + take
            if end <= self.capacity:
                out = bytes(self._buf[start:end])
            else:
                out = bytes(self._buf[start:]) + bytes(self._buf[:end - self.capacity])
            self._start = end % self.capacity
            self._level -= take
            if take < n:
                self.underruns += 1
                self._primed = False
        if take < n:
            out += bytes(n - take)
        return out


# -- fast access to pj.ByteVector ------------------------------------------------------------
#
# Reading a SWIG std::vector<unsigned char> from Python goes element by element
# (~280 us for a 640-byte frame, measured); constructing one from bytes costs
# ~14 us. Every C++ standard library in use (libstdc++, libc++, MSVC release)
# lays a std::vector out as three pointers (begin, end, end of storage), so the
# bytes can be copied through a ctypes array at that address in ~1 us. The
# layout is verified once at run time against the slow path; if it ever
# differs, the slow path is used.
#
# Every SWIG call (and every ctypes foreign call) releases the GIL, and getting
# it back can take up to sys.getswitchinterval() when the Qt thread is busy in
# Python. The callbacks therefore make as few of them as possible: the copies go
# through ctypes arrays (no foreign call) and the frame handed to PJSIP is a
# ByteVector prepared in advance (one assignment).


class _VectorLayout(ctypes.Structure):
    _fields_ = [("begin", ctypes.c_void_p), ("end", ctypes.c_void_p),
                ("end_of_storage", ctypes.c_void_p)]


def _vector_fast_read(vec: Any) -> bytes:
    layout = _VectorLayout.from_address(int(vec.this))
    begin = layout.begin
    if not begin:
        return b""
    size = (layout.end or 0) - begin
    raw: bytes = (ctypes.c_char * size).from_address(begin).raw
    return raw


def _vector_fast_write(vec: Any, data: bytes) -> None:
    """Overwrite ``vec`` (already sized ``len(data)``) in place."""
    layout = _VectorLayout.from_address(int(vec.this))
    if data:
        (ctypes.c_char * len(data)).from_address(layout.begin).raw = data


def _vector_slow_read(vec: Any) -> bytes:
    return bytes(bytearray(vec))


def _probe_fast_vector() -> bool:
    try:
        probe = bytes(range(256)) * 3
        vec = pj.ByteVector(probe)
        if _vector_fast_read(vec) != probe or _vector_fast_read(pj.ByteVector()) != b"":
            return False
        other = pj.ByteVector()
        other.resize(len(probe))
        _vector_fast_write(other, probe[::-1])
        return len(other) == len(probe) and _vector_slow_read(other) == probe[::-1]
    except Exception:
        log.debug("fast ByteVector access unavailable", exc_info=True)
        return False


_FAST_VECTOR: bool | None = None


def fast_vector_access() -> bool:
    """Whether ByteVector contents are copied with ctypes (else element by element)."""
    global _FAST_VECTOR
    if _FAST_VECTOR is None:
        _FAST_VECTOR = _probe_fast_vector()
        if not _FAST_VECTOR:
            log.warning("pj.ByteVector layout not recognised: using the slow copy path")
    return _FAST_VECTOR


# -- the PJSIP side ---------------------------------------------------------------------------


class _CallbackStats:
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


class _BridgePort(pj.AudioMediaPort):  # type: ignore[misc]
    """The conference port; PJSIP calls its overrides on the clock thread.

    Attributes:
        capture: ring PortAudio fills with microphone audio.
        playback: ring PortAudio drains to the speaker.
        frame_bytes: bytes in one PJSIP frame at the port's rate.
        stats: callback counters.
    """

    def __init__(self, capture: RingBuffer, playback: RingBuffer, frame_bytes: int,
                 stats: _CallbackStats, fast: bool) -> None:
        super().__init__()
        self.capture = capture
        self.playback = playback
        self.frame_bytes = frame_bytes
        self.stats = stats
        self._silence = bytes(frame_bytes)
        self._read = _vector_fast_read if fast else _vector_slow_read
        self._fast = fast
        self._vector = pj.ByteVector(self._silence)

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:
        started = time.perf_counter_ns()
        try:
            data = self.capture.read(self.frame_bytes)
            if self._fast:
                # The vector keeps its size, so its storage stays put; PJSIP copies it.
                _vector_fast_write(self._vector, data)
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


# -- the PortAudio side -----------------------------------------------------------------------


class _Stream:
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


class SoundCardBridge:
    """Connects PJSIP's conference bridge to a capture and a playback device.

    Lifecycle (Qt main thread only): ``open()``, then use ``media`` as the
    microphone source and as a sink of what the agent hears, call ``check()``
    about every 2 s from a QTimer, and ``close()`` before ``libDestroy()``.

    Attributes:
        capture: requested capture device name (None = default).
        playback: requested playback device name (None = default).
        clock_rate: preferred port rate in Hz (the devices may force another).
        frame_ms: frame length in ms (must equal the conference bridge's ptime).
        port_rate: rate the port was created at (0 before ``open()``).
        capture_device: capture device in use (None when closed or lost).
        playback_device: playback device in use (None when closed or lost).
        device_lost: True from the moment a stream died until it is reopened.
        latency: PortAudio latency setting passed to the streams.
        stale_after: seconds without a PortAudio callback before a stream counts as dead.
        retry_interval: minimum seconds between two reopen attempts.
    """

    def __init__(self, capture: str | None, playback: str | None, clock_rate: int = 16000,
                 frame_ms: int = 20) -> None:
        self.capture = capture
        self.playback = playback
        self.clock_rate = clock_rate
        self.frame_ms = frame_ms
        self.port_rate = 0
        self.capture_device: AudioDevice | None = None
        self.playback_device: AudioDevice | None = None
        self.device_lost = False
        self.latency: str | float = "low"
        self.stale_after = 1.5
        self.retry_interval = 2.0
        self._port: _BridgePort | None = None
        self._streams: list[_Stream] = []
        self._capture_ring: RingBuffer | None = None
        self._playback_ring: RingBuffer | None = None
        self._stats = _CallbackStats()
        self._next_retry = 0.0

    # -- public API ---------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """True between a successful ``open()`` and ``close()``."""
        return self._port is not None

    @property
    def media(self) -> pj.AudioMedia:
        """The registered conference port (microphone source and speaker sink)."""
        if self._port is None:
            raise SoundCardUnavailable("the sound-card bridge is not open")
        return self._port

    def open(self) -> None:
        """Open the devices and register the conference port.

        Raises:
            SoundCardUnavailable: PortAudio is missing, no device (not even a
                default one) exists for a direction, no common sample rate, or a
                stream or the port could not be created. The message says which.
        """
        if self._port is not None:
            return
        sd = devs.sounddevice_module()
        if sd is None:
            raise SoundCardUnavailable(devs.unavailable_reason() or "PortAudio is not available")
        capture_dev = self._pick(self.capture, "input")
        playback_dev = self._pick(self.playback, "output")
        rate, capture_ch, playback_ch = self._negotiate(sd, capture_dev, playback_dev)
        frame_samples = rate * self.frame_ms // 1000
        frame_bytes = frame_samples * SAMPLE_BYTES
        self._capture_ring = self._make_ring(rate)
        self._playback_ring = self._make_ring(rate)
        self._stats = _CallbackStats()
        try:
            self._open_streams(sd, capture_dev, playback_dev, rate, capture_ch, playback_ch)
        except Exception as exc:
            raise SoundCardUnavailable(
                f"cannot open the sound devices ({capture_dev.name!r} / "
                f"{playback_dev.name!r}): {exc}") from exc
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, rate, 1, self.frame_ms * 1000, SAMPLE_BYTES * 8)
        port = _BridgePort(self._capture_ring, self._playback_ring, frame_bytes, self._stats,
                           fast_vector_access())
        try:
            port.createPort("soundcard", fmt)
        except pj.Error as exc:
            self._close_streams()
            raise SoundCardUnavailable(f"cannot create the conference port: {exc.reason}") from exc
        self._port = port
        self.port_rate = rate
        self.capture_device = capture_dev
        self.playback_device = playback_dev
        self.device_lost = False
        log.info("sound card open: capture %r (%d ch), playback %r (%d ch), %d Hz",
                 capture_dev.name, capture_ch, playback_dev.name, playback_ch, rate)

    def check(self) -> bool:
        """Detect dead streams and try to reopen them. Call every ~2 s (Qt thread).

        While a device is lost the port stays registered and serves silence, so
        calls continue. Returns True when both streams are running.
        """
        if self._port is None:
            return False
        now = time.monotonic()
        if not self.device_lost:
            dead = [s for s in self._streams if not s.alive(self.stale_after, now)]
            if not dead and len(self._streams) == 2:
                return True
            names = ", ".join(f"{s.kind} {s.device.name!r}" for s in dead) or "streams"
            log.warning("sound device lost (%s): calls continue without audio; "
                        "will retry every %.0f s", names, self.retry_interval)
            self._mark_lost()
            self._next_retry = now + self.retry_interval
            return False
        if now < self._next_retry:
            return False
        self._next_retry = now + self.retry_interval
        return self.reopen()

    def reopen(self) -> bool:
        """Reopen the devices for the existing port (Qt thread). Never raises.

        Tries the requested names (falling back to the defaults), first with
        PortAudio's current device list and then after re-initialising PortAudio
        (needed when a device or sound server came back).
        """
        if self._port is None:
            return False
        self._close_streams()
        sd = devs.sounddevice_module()
        if sd is None:
            return False
        for attempt in range(2):
            if attempt == 1 and not devs.refresh():
                break
            try:
                capture_dev = self._pick(self.capture, "input", quiet=True)
                playback_dev = self._pick(self.playback, "output", quiet=True)
                capture_ch = self._channels(sd, capture_dev, "input", self.port_rate)
                playback_ch = self._channels(sd, playback_dev, "output", self.port_rate)
                if capture_ch is None or playback_ch is None:
                    raise SoundCardUnavailable(f"devices do not accept {self.port_rate} Hz")
                self._open_streams(sd, capture_dev, playback_dev, self.port_rate, capture_ch,
                                   playback_ch)
            except Exception as exc:
                log.debug("reopening the sound card failed (attempt %d): %s", attempt + 1, exc)
                self._close_streams()
                continue
            self.capture_device = capture_dev
            self.playback_device = playback_dev
            if self.device_lost:
                log.warning("sound card back: capture %r, playback %r",
                            capture_dev.name, playback_dev.name)
            self.device_lost = False
            return True
        self._mark_lost()
        return False

    def status(self) -> dict[str, object]:
        """A JSON-friendly snapshot for the UI and the automation API."""
        stats = self._stats
        cap, play = self._capture_ring, self._playback_ring
        bytes_per_ms = max(1, self.port_rate) * SAMPLE_BYTES / 1000
        return {
            "open": self.is_open,
            "device_lost": self.device_lost,
            "capture_device": self.capture_device.name if self.capture_device else None,
            "playback_device": self.playback_device.name if self.playback_device else None,
            "rate": self.port_rate,
            "frames_requested": stats.requested,
            "frames_received": stats.received,
            "callback_errors": stats.errors,
            "request_us": stats.requested_ns / 1000 / max(1, stats.requested),
            "receive_us": stats.received_ns / 1000 / max(1, stats.received),
            "mic_level": peak_level(stats.last_mic),
            "speaker_level": peak_level(stats.last_speaker),
            "capture_buffer_ms": cap.level / bytes_per_ms if cap else 0.0,
            "playback_buffer_ms": play.level / bytes_per_ms if play else 0.0,
            "capture_underruns": cap.underruns if cap else 0,
            "playback_underruns": play.underruns if play else 0,
            "capture_overruns": (cap.overruns + cap.trims) if cap else 0,
            "playback_overruns": (play.overruns + play.trims) if play else 0,
        }

    def close(self) -> None:
        """Stop the streams and unregister the port (before ``libDestroy()``)."""
        self._close_streams()
        port, self._port = self._port, None
        if port is not None:
            # Deleting the last reference to the AudioMediaPort unregisters it from
            # the conference bridge; keep none (the rings do not point back).
            del port
        self.capture_device = None
        self.playback_device = None

    # -- helpers ------------------------------------------------------------------------------

    def _make_ring(self, rate: int) -> RingBuffer:
        per_ms = rate * SAMPLE_BYTES // 1000
        # 40 ms cushion absorbs one late 20 ms tick plus host jitter; 120 ms is the
        # most drift we let build up; 200 ms is the hard cap.
        return RingBuffer(capacity=200 * per_ms, target=40 * per_ms, high_water=120 * per_ms)

    def _pick(self, name: str | None, kind: DeviceKind, quiet: bool = False) -> AudioDevice:
        device = devs.find_device(name, kind)
        if device is not None:
            return device
        default = devs.find_device(None, kind) if name else None
        what = "capture" if kind == "input" else "playback"
        if default is None:
            available = ", ".join(repr(d.name) for d in devs.list_devices() if d.supports(kind))
            asked = f"{name!r} not found and " if name else ""
            raise SoundCardUnavailable(
                f"no {what} device: {asked}no default {kind} device "
                f"(available: {available or 'none'})")
        if not quiet:
            log.warning("%s device %r not found: using the default %r", what, name, default.name)
        return default

    def _channels(self, sd: Any, device: AudioDevice, kind: DeviceKind, rate: int) -> int | None:
        check = sd.check_input_settings if kind == "input" else sd.check_output_settings
        limit = device.max_input_channels if kind == "input" else device.max_output_channels
        for channels in (1, 2):
            if channels > limit:
                break
            try:
                check(device=device.index, samplerate=rate, channels=channels, dtype="int16")
            except Exception:
                continue
            return channels
        return None

    def _negotiate(self, sd: Any, capture: AudioDevice, playback: AudioDevice
                   ) -> tuple[int, int, int]:
        candidates: list[int] = []
        for rate in (self.clock_rate, int(playback.default_samplerate),
                     int(capture.default_samplerate), 48000, 44100, 32000, 8000):
            # PJSIP frames must hold a whole number of samples.
            if rate > 0 and rate * self.frame_ms % 1000 == 0 and rate not in candidates:
                candidates.append(rate)
        for rate in candidates:
            capture_ch = self._channels(sd, capture, "input", rate)
            playback_ch = self._channels(sd, playback, "output", rate)
            if capture_ch is not None and playback_ch is not None:
                if rate != self.clock_rate:
                    log.info("sound devices refuse %d Hz: running the port at %d Hz "
                             "(PJSIP resamples)", self.clock_rate, rate)
                return rate, capture_ch, playback_ch
        raise SoundCardUnavailable(
            f"no sample rate accepted by both {capture.name!r} and {playback.name!r} "
            f"(tried {candidates})")

    def _open_streams(self, sd: Any, capture: AudioDevice, playback: AudioDevice, rate: int,
                      capture_ch: int, playback_ch: int) -> None:
        assert self._capture_ring is not None and self._playback_ring is not None
        self._capture_ring.clear()
        self._playback_ring.clear()
        with devs.portaudio_lock:
            try:
                self._streams.append(_Stream(sd, "input", capture, rate, capture_ch,
                                             self._capture_ring, self.latency))
                self._streams.append(_Stream(sd, "output", playback, rate, playback_ch,
                                             self._playback_ring, self.latency))
                for stream in self._streams:
                    stream.start()
            except Exception:
                self._close_streams()
                raise

    def _close_streams(self) -> None:
        streams, self._streams = self._streams, []
        with devs.portaudio_lock:
            for stream in streams:
                stream.close()

    def _mark_lost(self) -> None:
        # Closing at once also stops PortAudio's ALSA thread from spinning on a dead
        # device (it prints an error per poll).
        self._close_streams()
        self.capture_device = None
        self.playback_device = None
        self.device_lost = True
        if self._capture_ring is not None:
            self._capture_ring.clear()
        if self._playback_ring is not None:
            self._playback_ring.clear()


def peak_level(frame: bytes) -> float:
    """Peak of an int16 frame as 0.0-1.0 (for level meters; runs on the Qt thread)."""
    if len(frame) < SAMPLE_BYTES:
        return 0.0
    samples = memoryview(frame[: len(frame) - len(frame) % SAMPLE_BYTES]).cast("h")
    return min(1.0, max(max(samples), -min(samples)) / 32768)
