"""Device lookup by name, with PortAudio replaced by a fixed list."""

from __future__ import annotations

import pytest

from softphone.sip.audio import devices
from softphone.sip.audio.devices import AudioDevice, find_device


def dev(index: int, name: str, ins: int, outs: int, din: bool = False, dout: bool = False
        ) -> AudioDevice:
    return AudioDevice(index, name, "ALSA", ins, outs, din, dout, 48000.0)


FAKE = [
    dev(0, "HDA Intel PCH: ALC257 Analog", 2, 2, din=True, dout=True),
    dev(1, "Jabra Evolve2 65", 1, 2),
    dev(2, "Jabra", 0, 2),
    dev(3, "USB Speaker", 0, 2),
]


@pytest.fixture(autouse=True)
def fake_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "list_devices", lambda: list(FAKE))


def test_exact_name_wins_over_substring() -> None:
    found = find_device("Jabra", "output")
    assert found is not None and found.index == 2


def test_substring_is_case_insensitive_and_respects_direction() -> None:
    found = find_device("jabra", "input")  # "Jabra" (exact) has no input channels
    assert found is not None and found.index == 1


def test_none_means_default_device() -> None:
    assert find_device(None, "input") == FAKE[0]
    assert find_device("", "output") == FAKE[0]


def test_unknown_name_gives_none() -> None:
    assert find_device("Plantronics", "output") is None
    assert find_device("USB Speaker", "input") is None


def test_no_default_gives_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "list_devices", lambda: [dev(5, "x", 1, 1)])
    assert find_device(None, "output") is None


def test_to_json_round_trips() -> None:
    assert FAKE[1].to_json()["name"] == "Jabra Evolve2 65"


def test_without_portaudio_everything_is_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()
    monkeypatch.setattr(devices, "sounddevice_module", lambda: None)
    assert devices.list_devices() == []
    assert devices.find_device(None, "input") is None
    assert devices.refresh() is False
