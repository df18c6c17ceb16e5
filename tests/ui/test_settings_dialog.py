"""The settings dialog: IT-locked values read-only, the rest editable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from softphone.config.logsetup import setup_file_logging
from softphone.config.merge import LOCKED_TOOLTIP, merge
from softphone.config.passwords import SERVICE, PasswordStore
from softphone.config.provisioning import validate_provisioning_text
from softphone.config.settings import Settings
from softphone.config.startup import load_configuration
from softphone.core.registration import RegistrationState
from softphone.ui.settings_dialog import SettingsDialog
from tests.helpers.keyring_backends import MemoryKeyring
from tests.helpers.runtime import release_engine
from tests.ui.test_password_prompt import (  # the desktop, started as `softphone` does
    PASSWORD,
    DigestRegistrar,
    StartGui,
    desktops,
    provisioning,
    wait_state,
)

PROVISIONED = """\
[features]
four_way_conference = true

[logging]
sip_trace = false

[[accounts]]
id = "it"
aor = "sip:4101@pbx.example.com"
"""


def make_dialog(qtbot: QtBot, provisioning: str = PROVISIONED, user: Settings | None = None,
                backend: MemoryKeyring | None = None) -> SettingsDialog:
    user = user or Settings.model_validate({
        "accounts": [{"id": "mine", "aor": "sip:me@home.example.org"}],
        "audio": {"speaker": "Old USB headset"},
    })
    effective = merge(validate_provisioning_text(provisioning, "p"), user)
    dialog = SettingsDialog(effective, PasswordStore(backend or MemoryKeyring()),
                            list_audio_devices=lambda: ["Built-in Audio", "USB Headset"])
    qtbot.addWidget(dialog)
    return dialog


def test_locked_values_are_disabled_with_the_it_tooltip(qtbot: QtBot):
    dialog = make_dialog(qtbot)
    locked = dialog.feature_boxes["four_way_conference"]
    assert locked.isChecked() and not locked.isEnabled()
    assert locked.toolTip() == LOCKED_TOOLTIP
    assert not dialog.sip_trace_box.isEnabled()
    assert dialog.sip_trace_box.toolTip() == LOCKED_TOOLTIP
    unlocked = dialog.feature_boxes["manual_external_transfer"]
    assert unlocked.isEnabled() and unlocked.toolTip() == ""
    assert dialog.api_enabled_box.isEnabled() and dialog.api_port_spin.isEnabled()


def test_accounts_provisioned_first_and_locked(qtbot: QtBot):
    dialog = make_dialog(qtbot)
    items = [dialog.accounts_list.item(i) for i in range(dialog.accounts_list.count())]
    assert [i.text().replace("\U0001f512 ", "") for i in items] == [
        "sip:4101@pbx.example.com [udp]", "sip:me@home.example.org [udp]"]
    assert items[0].toolTip() == LOCKED_TOOLTIP
    dialog.accounts_list.setCurrentRow(0)
    assert not dialog.remove_account_button.isEnabled()
    dialog.accounts_list.setCurrentRow(1)
    assert dialog.remove_account_button.isEnabled()


def test_remove_user_account_forgets_its_password(qtbot: QtBot):
    backend = MemoryKeyring()
    backend.set_password(SERVICE, "mine", "pw")
    dialog = make_dialog(qtbot, backend=backend)
    dialog.accounts_list.setCurrentRow(1)
    QTest.mouseClick(dialog.remove_account_button, Qt.MouseButton.LeftButton)
    assert dialog.accounts_list.count() == 1
    assert dialog.edited_settings().accounts == []
    assert backend.entries == {}


def test_audio_devices_are_plain_names_and_a_missing_one_stays_chosen(qtbot: QtBot):
    dialog = make_dialog(qtbot)
    names = [dialog.microphone_box.itemText(i) for i in range(dialog.microphone_box.count())]
    assert names == ["System default", "Built-in Audio", "USB Headset"]
    assert dialog.speaker_box.currentText() == "Old USB headset (not connected)"
    dialog.microphone_box.setCurrentText("USB Headset")
    edited = dialog.edited_settings()
    assert (edited.audio.microphone, edited.audio.speaker, edited.audio.ringer) == (
        "USB Headset", "Old USB headset", "")


def test_user_allowed_accounts_can_be_forbidden(qtbot: QtBot):
    dialog = make_dialog(qtbot, PROVISIONED + "\n[security]\nallow_user_accounts = false\n")
    assert not dialog.add_account_button.isEnabled()
    assert dialog.add_account_button.toolTip() == LOCKED_TOOLTIP


def test_saving_changes_unlocked_keys_only(qtbot: QtBot, tmp_path: Path, monkeypatch):
    system = tmp_path / "system"
    system.mkdir()
    (system / "provisioning.toml").write_text(PROVISIONED)
    monkeypatch.setenv("SOFTPHONE_SYSTEM_CONFIG_DIR", str(system))
    monkeypatch.delenv("SOFTPHONE_PROVISIONING", raising=False)
    loaded = load_configuration(tmp_path / "profile")
    dialog = SettingsDialog(loaded.effective, PasswordStore(MemoryKeyring()))
    qtbot.addWidget(dialog)
    dialog.feature_boxes["manual_external_transfer"].setChecked(True)
    dialog.api_enabled_box.setChecked(True)
    dialog.api_port_spin.setValue(40123)
    dialog.wrap_up_spin.setValue(30)
    loaded.save_settings(dialog.edited_settings())
    settings = loaded.effective.settings
    assert settings.features.manual_external_transfer is True
    assert (settings.automation.enabled, settings.automation.port) == (True, 40123)
    assert settings.agent.wrap_up_seconds == 30
    assert settings.features.four_way_conference is True  # IT's, still locked
    text = (tmp_path / "profile" / "settings.toml").read_text()
    assert "four_way_conference = false" in text  # the user's own default, untouched


# -- in the running desktop -----------------------------------------------------------------


@pytest.fixture
def registrar() -> Iterator[DigestRegistrar]:
    server = DigestRegistrar()
    yield server
    server.stop()


@pytest.fixture
def start_gui(qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[
        StartGui]:
    with desktops(qtbot, tmp_path, monkeypatch) as start:
        yield start


def test_sip_trace_switch_applies_at_once(qtbot: QtBot, start_gui: StartGui,
                                          registrar: DigestRegistrar, tmp_path: Path):
    logs = setup_file_logging(tmp_path / "logs", level="INFO", sip_trace=False)
    try:
        backend = MemoryKeyring()
        backend.set_password(SERVICE, "cc", PASSWORD)
        gui = start_gui(provisioning(registrar), backend)
        runtime = gui.runtime
        wait_state(qtbot, runtime, RegistrationState.REGISTERED)

        def log_text() -> str:
            logs.handler.flush()
            return logs.path.read_text() if logs.path.exists() else ""

        def save_with_trace(on: bool) -> None:
            gui.configurator.open_settings()
            dialog = gui.configurator.settings_dialog
            assert dialog is not None and dialog.sip_trace_box.isEnabled()
            dialog.sip_trace_box.setChecked(on)
            dialog.accept()  # Save
            runtime.engine.accounts.reregister("cc")
            wait_state(qtbot, runtime, RegistrationState.REGISTERED)

        assert "REGISTER sip:" not in log_text()  # off: no traces
        save_with_trace(True)
        text = log_text()
        assert f"REGISTER sip:127.0.0.1:{registrar.port} SIP/2.0" in text  # no restart needed
        assert "Authorization: <redacted>" in text and 'response="' not in text
        assert gui.loaded.store.settings.logging.sip_trace is True  # and saved
        traced = text.count("REGISTER sip:")
        save_with_trace(False)
        assert registrar.outcomes.count("ok") == 3
        assert log_text().count("REGISTER sip:") == traced  # off again, at once
    finally:
        logs.close()


def test_bad_provisioning_at_start_is_shown_and_the_last_good_copy_used(
        qtbot: QtBot, start_gui, tmp_path: Path):
    good = "[features]\nfour_way_conference = true\n"
    gui = start_gui(good, MemoryKeyring())
    assert gui.configurator.problem_box is None
    release_engine(gui.runtime)
    prov = tmp_path / "system" / "provisioning.toml"
    gui = start_gui(good + "session_transfer = 'sometimes'\n", MemoryKeyring())
    box = gui.configurator.problem_box
    assert box is not None and box.isVisible()
    assert box.textFormat() == Qt.TextFormat.PlainText
    where = f"{prov}:3: features.session_transfer"
    assert where in box.informativeText() and where in box.detailedText()
    assert "last good provisioning" in box.informativeText()
    assert gui.runtime.engine.config.agent.four_way_conference is True  # the last good copy
    assert gui.loaded.effective.is_locked("features.four_way_conference")
    assert gui.runtime.engine.accounts.account_ids() == ["local"]  # the app runs


def test_bad_settings_file_at_start_is_shown_and_defaults_used(qtbot: QtBot, start_gui,
                                                                tmp_path: Path):
    profile = tmp_path / "profile"
    profile.mkdir()
    bad = "first_run_done = true\n[logging]\nsip_trace = 'yes please'\n"
    (profile / "settings.toml").write_text(bad)
    gui = start_gui("", MemoryKeyring())
    box = gui.configurator.problem_box
    assert box is not None and box.isVisible()
    assert f"{profile / 'settings.toml'}:3: logging.sip_trace" in box.informativeText()
    assert "defaults are in use" in box.informativeText()
    assert gui.loaded.effective.settings.logging.sip_trace is False
    assert (profile / "settings.toml").read_text() == bad  # never overwritten at start


def test_missing_provisioning_file_is_shown_as_not_found(qtbot: QtBot, start_gui,
                                                          tmp_path: Path, monkeypatch):
    missing = tmp_path / "gone.toml"
    monkeypatch.setenv("SOFTPHONE_PROVISIONING", str(missing))
    gui = start_gui("", MemoryKeyring())
    box = gui.configurator.problem_box
    assert box is not None
    assert f"cannot read {missing}: file not found" in box.informativeText()
