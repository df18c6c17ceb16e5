"""The settings file: round trip, atomic writes, and bad files kept aside."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from softphone.config.atomic import atomic_write_text
from softphone.config.settings import Settings, SettingsStore, parse_settings, render_settings


def test_round_trip_keeps_opaque_ui_state(tmp_path: Path):
    path = tmp_path / "settings.toml"
    settings = Settings.model_validate({
        "ui": {"window_geometry": "AdnQywADAAAAAAGA", "splitter": [120, 480],
               "sections_expanded": {"my_groups": True, "agent_groups": False,
                                     "presets": True}},
        "audio": {"microphone": "USB Headset Mic"},
        "automation": {"enabled": True, "port": 40123},
    })
    SettingsStore(path).save(settings)
    loaded = SettingsStore.load(path)
    assert loaded.problem is None
    assert loaded.settings == settings
    assert loaded.settings.ui["sections_expanded"]["agent_groups"] is False
    assert "keyring" in path.read_text()  # the header says where passwords are


def test_missing_file_means_defaults_without_a_problem(tmp_path: Path):
    store = SettingsStore.load(tmp_path / "nope.toml")
    assert store.problem is None and store.settings == Settings()


def test_write_failure_before_rename_leaves_the_old_file(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "settings.toml"
    old = render_settings(Settings())
    path.write_text(old)

    def crash(src: object, dst: object) -> None:
        raise OSError("disk unplugged")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="unplugged"):
        atomic_write_text(path, "half a file")
    assert path.read_text() == old
    assert list(tmp_path.iterdir()) == [path]  # the temporary file is cleaned up


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_process_killed_between_write_and_rename_leaves_the_old_file(tmp_path: Path):
    path = tmp_path / "settings.toml"
    old = render_settings(Settings())
    path.write_text(old)
    # The child writes and fsyncs the new content, then is SIGKILLed at the
    # moment it would rename: no cleanup, no exception handlers run.
    code = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from softphone.config import atomic
        def die(src, dst):
            os.kill(os.getpid(), signal.SIGKILL)
        os.replace = die
        atomic.atomic_write_text(Path({str(path)!r}), "new = 1\\n" * 1000)
    """)
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[2],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert path.read_text() == old
    leftovers = [p for p in tmp_path.iterdir() if p != path]
    assert leftovers and all(p.name.startswith(".settings.toml.") for p in leftovers)
    # The next start reads the intact old file.
    assert SettingsStore.load(path).problem is None


def test_saved_file_is_private(tmp_path: Path):
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    path = tmp_path / "settings.toml"
    SettingsStore(path).save(Settings())
    assert path.stat().st_mode & 0o077 == 0


def test_bad_settings_file_gives_defaults_and_is_kept_aside_on_save(tmp_path: Path):
    path = tmp_path / "settings.toml"
    bad = "[features]\nsession_transfer = true\nfour_way_conference = maybe\n"
    path.write_text(bad)
    store = SettingsStore.load(path)
    assert store.settings == Settings()
    assert store.problem is not None
    assert f"{path}:3" in store.problem and "not valid TOML" in store.problem
    assert path.read_text() == bad  # loading never touches it
    store.save(Settings(first_run_done=True))
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("settings.toml.bad-")]
    assert len(kept) == 1 and kept[0].read_text() == bad
    assert SettingsStore.load(path).settings.first_run_done is True


def test_invalid_value_names_line_and_key(tmp_path: Path):
    text = "first_run_done = true\n\n[automation]\nenabled = true\nport = 70000\n"
    with pytest.raises(Exception) as info:
        parse_settings(text, "settings.toml")
    assert "settings.toml:5: automation.port:" in str(info.value)


def test_password_key_in_settings_is_refused():
    text = '[[accounts]]\nid = "a"\naor = "sip:1@x.example.com"\npassword = "p"\n'
    with pytest.raises(Exception) as info:
        parse_settings(text, "settings.toml")
    assert "settings.toml:4: accounts[0].password:" in str(info.value)
    assert "keyring" in str(info.value)
