"""Start-up: where provisioning comes from, and starting despite bad files."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from softphone.config.cli import provisioning_main
from softphone.config.paths import resolve_provisioning_source
from softphone.config.settings import Settings, SettingsStore
from softphone.config.startup import codec_priorities, load_configuration

GOOD = "[features]\nfour_way_conference = true\n"


def test_source_precedence(system_dir: Path, monkeypatch: pytest.MonkeyPatch):
    assert resolve_provisioning_source(None) is None
    (system_dir / "provisioning-source.toml").write_text('url = "https://prov.example.com/p.toml"\n')
    assert resolve_provisioning_source(None) == "https://prov.example.com/p.toml"
    (system_dir / "provisioning.toml").write_text(GOOD)
    assert resolve_provisioning_source(None) == str(system_dir / "provisioning.toml")
    monkeypatch.setenv("SOFTPHONE_PROVISIONING", "/srv/env.toml")
    assert resolve_provisioning_source(None) == "/srv/env.toml"
    assert resolve_provisioning_source("https://cli.example.com/x") == "https://cli.example.com/x"


def test_system_file_is_loaded_and_locks(system_dir: Path, tmp_path: Path):
    (system_dir / "provisioning.toml").write_text(GOOD)
    profile = tmp_path / "profile"
    loaded = load_configuration(profile)
    assert loaded.problems == []
    assert loaded.effective.settings.features.four_way_conference is True
    assert loaded.effective.is_locked("features.four_way_conference")
    assert loaded.provisioning_source == str(system_dir / "provisioning.toml")
    assert loaded.log_dir == profile / "logs"
    assert loaded.first_run  # no account anywhere yet


def test_bad_provisioning_file_falls_back_to_the_last_good_copy(system_dir: Path,
                                                                tmp_path: Path):
    prov = system_dir / "provisioning.toml"
    prov.write_text(GOOD)
    load_configuration(tmp_path / "p")
    bad = "[features]\nfour_way_conference = true\nsession_transfer = 'sometimes'\n"
    prov.write_text(bad)
    loaded = load_configuration(tmp_path / "p")
    assert loaded.effective.settings.features.four_way_conference is True
    (problem,) = loaded.problems
    assert f"{prov}:3: features.session_transfer" in problem
    assert "last good provisioning" in problem
    assert prov.read_text() == bad  # never overwritten


def test_bad_provisioning_without_a_good_copy_gives_defaults(system_dir: Path, tmp_path: Path):
    (system_dir / "provisioning.toml").write_text("[[accounts]]\nid = 'x'\npassword = 'p'\n")
    loaded = load_configuration(tmp_path / "p")
    assert loaded.effective.locked == frozenset()
    assert loaded.effective.settings.features == Settings().features
    (problem,) = loaded.problems
    assert "defaults are in use" in problem and "accounts[0].password" in problem


def test_missing_cli_file_is_reported(system_dir: Path, tmp_path: Path):
    loaded = load_configuration(tmp_path / "p", str(tmp_path / "nope.toml"))
    (problem,) = loaded.problems
    assert "nope.toml" in problem and "could not be loaded" in problem


def test_bad_pointer_file_is_reported(system_dir: Path, tmp_path: Path):
    (system_dir / "provisioning-source.toml").write_text("uri = 'typo'\n")
    loaded = load_configuration(tmp_path / "p")
    (problem,) = loaded.problems
    assert "provisioning-source.toml" in problem


def test_bad_settings_file_gives_defaults_and_a_problem(system_dir: Path, tmp_path: Path):
    profile = tmp_path / "p"
    profile.mkdir()
    bad = "[logging]\nsip_trace = 1\n"
    (profile / "settings.toml").write_text(bad)
    loaded = load_configuration(profile)
    (problem,) = loaded.problems
    assert "settings.toml:2: logging.sip_trace" in problem
    assert loaded.effective.settings.logging.sip_trace is False
    assert (profile / "settings.toml").read_text() == bad


def test_save_settings_respects_locks_and_remerges(system_dir: Path, tmp_path: Path):
    (system_dir / "provisioning.toml").write_text(GOOD)
    profile = tmp_path / "p"
    loaded = load_configuration(profile)
    edited = loaded.effective.settings.model_copy(deep=True)
    edited.features.four_way_conference = False
    edited.logging.sip_trace = True
    loaded.save_settings(edited)
    on_disk = SettingsStore.load(profile / "settings.toml").settings
    assert on_disk.logging.sip_trace is True
    assert on_disk.features.four_way_conference is False  # the user's own default
    assert loaded.effective.settings.features.four_way_conference is True  # still IT's
    assert loaded.effective.settings.logging.sip_trace is True


def test_codec_priorities_follow_the_list():
    assert codec_priorities(["G722/16000", "PCMU"]) == {"G722/16000": 255, "PCMU": 254}


@pytest.mark.parametrize("given_by", ["--provisioning", "SOFTPHONE_PROVISIONING", "pointer"])
def test_missing_provisioning_file_says_file_not_found_like_the_check(
        given_by: str, system_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    missing = tmp_path / "nope.toml"
    err = io.StringIO()
    assert provisioning_main(["check", str(missing)], io.StringIO(), err) == 2
    said = f"cannot read {missing}: file not found"
    assert said in err.getvalue()
    cli = str(missing) if given_by == "--provisioning" else None
    if given_by == "SOFTPHONE_PROVISIONING":
        monkeypatch.setenv("SOFTPHONE_PROVISIONING", str(missing))
    elif given_by == "pointer":
        (system_dir / "provisioning-source.toml").write_text(f"path = '{missing}'\n")
    loaded = load_configuration(tmp_path / "p", cli)
    (problem,) = loaded.problems
    assert said in problem and "defaults are in use" in problem
    assert loaded.provisioning is None and loaded.effective.locked == frozenset()
