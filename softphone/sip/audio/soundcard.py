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

The pieces: ``ringbuffer`` (the rings), ``bridge_port`` (the PJSIP side),
``streams`` (the PortAudio side), ``byte_vector`` (frame copies); this module
opens, watches and reopens them.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pjsua2 as pj

from softphone.sip.audio import devices as devs
from softphone.sip.audio.bridge_port import BridgePort, CallbackStats
from softphone.sip.audio.byte_vector import fast_vector_access
from softphone.sip.audio.devices import AudioDevice, DeviceKind
from softphone.sip.audio.ringbuffer import SAMPLE_BYTES, RingBuffer, peak_level
from softphone.sip.audio.streams import Stream

log = logging.getLogger(__name__)



class SoundCardUnavailable(Exception):
    """No usable PortAudio device (no library, no device, device busy)."""


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
        # PortAudio's "low" (a few ms on ALSA's pulse plugin) made the speaker
        # stutter into mostly silence on a CPU-starved desktop, at 48 kHz in half
        # of the runs under four busy loops on two cores; 40 ms never did, and the
        # rings' own 40 ms cushion already sets the delay budget.
        self.latency: str | float = 0.04
        self.stale_after = 1.5
        self.retry_interval = 2.0
        self._port: BridgePort | None = None
        self._streams: list[Stream] = []
        self._capture_ring: RingBuffer | None = None
        self._playback_ring: RingBuffer | None = None
        self._stats = CallbackStats()
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
        self._stats = CallbackStats()
        try:
            self._open_streams(sd, capture_dev, playback_dev, rate, capture_ch, playback_ch)
        except Exception as exc:
            raise SoundCardUnavailable(
                f"cannot open the sound devices ({capture_dev.name!r} / "
                f"{playback_dev.name!r}): {exc}") from exc
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, rate, 1, self.frame_ms * 1000, SAMPLE_BYTES * 8)
        port = BridgePort(self._capture_ring, self._playback_ring, frame_bytes, self._stats,
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
            "capture_settles": cap.settles if cap else 0,
            "playback_settles": play.settles if play else 0,
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
        # most drift we let build up; 200 ms is the hard cap. A cushion that stays
        # 20 ms above the target for 2 s is delay nobody needs: it is dropped.
        return RingBuffer(capacity=200 * per_ms, target=40 * per_ms, high_water=120 * per_ms,
                          settle_window=2000 * per_ms, settle_slack=20 * per_ms)

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
                self._streams.append(Stream(sd, "input", capture, rate, capture_ch,
                                             self._capture_ring, self.latency))
                self._streams.append(Stream(sd, "output", playback, rate, playback_ch,
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
