"""The first-run dialog: a SIP account with its password in the keyring, or the local one."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from softphone.config.passwords import SERVICE, PasswordStore
from softphone.config.settings import Settings
from softphone.ui.first_run_dialog import FirstRunDialog, account_id_for
from tests.helpers.keyring_backends import LockedKeyring, MemoryKeyring


def fill(qtbot: QtBot, dialog: FirstRunDialog, aor: str, password: str = "pw") -> None:
    QTest.keyClicks(dialog.aor_edit, aor)
    QTest.keyClicks(dialog.server_edit, "pbx.example.com:5061")
    dialog.transport_box.setCurrentText("tls")
    QTest.keyClicks(dialog.password_edit, password)


def test_adds_an_account_and_stores_the_password_in_the_keyring(qtbot: QtBot):
    backend = MemoryKeyring()
    dialog = FirstRunDialog(PasswordStore(backend))
    qtbot.addWidget(dialog)
    fill(qtbot, dialog, "sip:1001@pbx.example.com", "s3cret")
    with qtbot.waitSignal(dialog.accepted):
        QTest.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    account = dialog.account
    assert account is not None
    assert (account.aor, account.server, account.transport) == (
        "sip:1001@pbx.example.com", "sip:pbx.example.com:5061", "tls")
    assert backend.entries == {(SERVICE, account.id): "s3cret"}
    assert dialog.password_edit.text() == ""
    settings = dialog.apply_to(Settings())
    assert settings.first_run_done and settings.accounts == [account]
    assert "s3cret" not in settings.model_dump_json()


def test_bad_address_is_shown_and_the_dialog_stays_open(qtbot: QtBot):
    dialog = FirstRunDialog(PasswordStore(MemoryKeyring()))
    qtbot.addWidget(dialog)
    dialog.show()
    fill(qtbot, dialog, "not an address")
    QTest.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and dialog.account is None
    assert dialog.error_label.isVisibleTo(dialog)
    assert "SIP address" in dialog.error_label.text()


def test_start_with_the_local_account(qtbot: QtBot):
    dialog = FirstRunDialog(PasswordStore(MemoryKeyring()))
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.accepted):
        QTest.mouseClick(dialog.local_button, Qt.MouseButton.LeftButton)
    assert dialog.use_local_account and dialog.account is None
    settings = dialog.apply_to(Settings(use_local_account=False))
    assert settings.first_run_done and settings.use_local_account and settings.accounts == []


def test_locked_keyring_keeps_the_password_for_the_session_and_says_so(qtbot: QtBot):
    store = PasswordStore(LockedKeyring())
    dialog = FirstRunDialog(store)
    qtbot.addWidget(dialog)
    fill(qtbot, dialog, "sip:1001@pbx.example.com", "typed")
    with qtbot.waitSignal(dialog.accepted):
        QTest.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    assert dialog.account is not None
    assert dialog.password_problem is not None and "session only" in dialog.password_problem
    assert store.get(dialog.account.id) == "typed"


def test_account_ids_are_unique_and_keyring_friendly():
    assert account_id_for("sip:1001@pbx.example.com", set()) == "1001-pbx.example.com"
    assert account_id_for("sip:1001@pbx.example.com", {"1001-pbx.example.com"}) == (
        "1001-pbx.example.com-2")


def test_without_a_usable_keyring_it_says_session_only_up_front(qtbot: QtBot):
    store = PasswordStore(LockedKeyring())
    assert store.get("any") is None  # the keyring refused once this session
    dialog = FirstRunDialog(store)
    qtbot.addWidget(dialog)
    intro = dialog.intro_label.text()
    assert "this session only" in intro and "never written" in intro
    assert "stored in your system's keyring" not in intro
    usable = FirstRunDialog(PasswordStore(MemoryKeyring()))
    qtbot.addWidget(usable)
    assert "stored in your system's keyring" in usable.intro_label.text()


def test_errors_echo_what_was_typed_as_plain_text(qtbot: QtBot):
    dialog = FirstRunDialog(PasswordStore(MemoryKeyring()))
    qtbot.addWidget(dialog)
    fill(qtbot, dialog, "<b>sip:x</b>")
    QTest.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    assert dialog.account is None
    assert dialog.error_label.textFormat() == Qt.TextFormat.PlainText
    assert dialog.intro_label.textFormat() == Qt.TextFormat.PlainText
