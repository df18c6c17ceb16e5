"""Sound-device discovery through PortAudio (the ``sounddevice`` package).

PortAudio is optional at runtime: when its shared library is missing (or the
``sounddevice`` import fails for any other reason) every function here degrades
to "no devices" instead of raising, so the softphone can still run on PJSIP's
null audio device.

``sounddevice`` is imported lazily: it loads libportaudio and scans the devices
at import time, which must not happen merely because the SIP package was
imported (tests set up their audio environment first).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass
from typing import Any, Literal

log = logging.getLogger(__name__)

DeviceKind = Literal["input", "output"]

#: Serialises PortAudio stream opening/closing and re-initialisation between the
#: sound-card bridge (Qt thread) and the ringer (its own worker thread):
#: PortAudio's host APIs are not documented as safe for concurrent open/close.
portaudio_lock = threading.RLock()

_sd_module: Any = None
_sd_error: str | None = None


class _Missing:
    """Marker for "the import was tried and failed"."""


def sounddevice_module() -> Any | None:
    """Return the imported ``sounddevice`` module, or None when PortAudio is unusable.

    The reason for a failure is available from :func:`unavailable_reason`.
    """
    global _sd_module, _sd_error
    if _sd_module is None:
        try:
            import sounddevice
        except (ImportError, OSError) as exc:
            # OSError: sounddevice raises it when libportaudio cannot be loaded.
            _sd_module = _Missing()
            _sd_error = f"PortAudio is not available ({exc})"
            log.warning("%s: sound devices are disabled", _sd_error)
        else:
            _sd_module = sounddevice
    if isinstance(_sd_module, _Missing):
        return None
    return _sd_module


def unavailable_reason() -> str | None:
    """Why :func:`sounddevice_module` returned None (None while PortAudio works)."""
    sounddevice_module()
    return _sd_error


@dataclass(frozen=True)
class AudioDevice:
    """One PortAudio device as the settings UI and the bridge see it.

    Attributes:
        index: PortAudio device index (only valid until PortAudio is re-initialised).
        name: device name as PortAudio reports it.
        host_api: name of the host API (ALSA, CoreAudio, Windows WASAPI, ...).
        max_input_channels: 0 for playback-only devices.
        max_output_channels: 0 for capture-only devices.
        default_input: True for the host's default capture device.
        default_output: True for the host's default playback device.
        default_samplerate: the rate the device runs at natively, in Hz.
    """

    index: int
    name: str
    host_api: str
    max_input_channels: int
    max_output_channels: int
    default_input: bool
    default_output: bool
    default_samplerate: float = 0.0

    def to_json(self) -> dict[str, object]:
        """A plain dict for the automation API."""
        return asdict(self)

    def supports(self, kind: DeviceKind) -> bool:
        """Whether the device has channels in the given direction."""
        if kind == "input":
            return self.max_input_channels > 0
        return self.max_output_channels > 0


def _default_index(sd: Any, kind: DeviceKind) -> int | None:
    try:
        info = sd.query_devices(kind=kind)
    except Exception:
        # PortAudioError (no default device) or ValueError, depending on version.
        return None
    index = info.get("index") if isinstance(info, dict) else None
    return int(index) if index is not None and int(index) >= 0 else None


def list_devices() -> list[AudioDevice]:
    """All PortAudio devices; an empty list (never an exception) without PortAudio."""
    sd = sounddevice_module()
    if sd is None:
        return []
    try:
        with portaudio_lock:
            raw = list(sd.query_devices())
            apis = [str(api["name"]) for api in sd.query_hostapis()]
            default_in = _default_index(sd, "input")
            default_out = _default_index(sd, "output")
    except Exception as exc:
        log.warning("cannot list sound devices: %s", exc)
        return []
    devices = []
    for position, info in enumerate(raw):
        index = int(info.get("index", position))
        api_index = int(info.get("hostapi", -1))
        devices.append(
            AudioDevice(
                index=index,
                name=str(info["name"]),
                host_api=apis[api_index] if 0 <= api_index < len(apis) else "",
                max_input_channels=int(info["max_input_channels"]),
                max_output_channels=int(info["max_output_channels"]),
                default_input=index == default_in,
                default_output=index == default_out,
                default_samplerate=float(info.get("default_samplerate") or 0.0),
            )
        )
    return devices


def find_device(name: str | None, kind: DeviceKind) -> AudioDevice | None:
    """Pick a device for ``kind`` by name.

    An exact name match wins, then the first case-insensitive substring match.
    ``None`` (or an empty name) asks for the host's default device. Returns None
    when nothing matches, so the caller can fall back to the default device and
    say so.
    """
    candidates = [d for d in list_devices() if d.supports(kind)]
    if not name:
        for device in candidates:
            if device.default_input if kind == "input" else device.default_output:
                return device
        return None
    for device in candidates:
        if device.name == name:
            return device
    wanted = name.casefold()
    for device in candidates:
        if wanted in device.name.casefold():
            return device
    return None


def refresh() -> bool:
    """Re-initialise PortAudio so that devices plugged in (or a restarted sound
    server) since start-up become visible.

    PortAudio only scans devices at initialisation. Re-initialising closes EVERY
    open PortAudio stream of the process (the ringer's included), so callers do
    it only after their own streams are already dead. Returns False when
    PortAudio is unavailable or the re-initialisation failed.
    """
    sd = sounddevice_module()
    if sd is None:
        return False
    with portaudio_lock:
        try:
            # sounddevice has no public API for this; _terminate/_initialize are the
            # documented-in-issues way to rescan devices (sounddevice #47).
            sd._terminate()
            sd._initialize()
        except Exception as exc:
            log.warning("re-initialising PortAudio failed: %s", exc)
            return False
    return True
