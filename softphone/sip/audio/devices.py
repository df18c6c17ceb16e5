"""Placeholder until the PortAudio device listing lands."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class AudioDevice:
    index: int
    name: str
    host_api: str
    max_input_channels: int
    max_output_channels: int
    default_input: bool
    default_output: bool

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def list_devices() -> list[AudioDevice]:
    return []
