"""Placeholder: replaced by the PortAudio bridge."""

from __future__ import annotations

import pjsua2 as pj


class SoundCardUnavailable(Exception):
    """No usable PortAudio device (no library, no device, device busy)."""


class SoundCardBridge:
    def __init__(self, capture: str | None, playback: str | None, clock_rate: int = 16000,
                 frame_ms: int = 20) -> None:
        self.capture = capture
        self.playback = playback

    def open(self) -> None:
        raise SoundCardUnavailable("sound-card bridge not built yet")

    @property
    def media(self) -> pj.AudioMedia:
        raise SoundCardUnavailable("not open")

    def close(self) -> None:
        pass
