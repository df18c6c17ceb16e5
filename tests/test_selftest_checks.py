"""Single self-test checks: a missing PortAudio is a warning on a developer's
machine and a failure in an installed bundle, which ships it; a keyring the
app would refuse for passwords is a warning."""

from __future__ import annotations

import pytest

from softphone import selftest


def _no_portaudio() -> object:
    raise OSError("PortAudio library not found")


@pytest.mark.parametrize(("frozen", "expected"), [(False, "WARN"), (True, "FAIL")])
def test_missing_portaudio(monkeypatch: pytest.MonkeyPatch, frozen: bool, expected: str) -> None:
    monkeypatch.setattr(selftest, "_import_sounddevice", _no_portaudio)
    monkeypatch.setattr(selftest, "_frozen", lambda: frozen)
    status, detail = selftest.SelfTest().check_audio()
    assert status == expected
    assert "PortAudio not loaded" in detail and "null audio device" in detail


def test_portaudio_present_is_ok() -> None:
    status, detail = selftest.SelfTest().check_audio()
    assert status == "OK", detail
    assert "PortAudio" in detail


def test_a_plaintext_keyring_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app refuses plaintext-file keyrings for passwords; the self-test says so."""
    import keyring
    from keyrings.alt.file import PlaintextKeyring  # type: ignore[import-untyped]

    monkeypatch.setattr(keyring, "get_keyring", lambda: PlaintextKeyring())
    status, detail = selftest.SelfTest().check_keyring()
    assert status == "WARN"
    assert "not a secure keyring" in detail and "session only" in detail
