"""The main window against a fake engine: wiring, enabling, safety of text."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractButton, QLabel, QLineEdit, QWidget
from pytestqt.qtbot import QtBot

from softphone.core.calls import CallState
from softphone.core.registration import RegistrationState
from softphone.sip.account_types import AccountInfo
from softphone.ui.call_model import Column
from softphone.ui.call_panel import CallPanel
from softphone.ui.main_window import MainWindow
from tests.ui.fakes import LOCAL_URI, FakeEngine, as_engine, snapshot


@pytest.fixture
def window(qtbot: QtBot, fake_engine: FakeEngine) -> MainWindow:
    win = MainWindow(as_engine(fake_engine))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return win


def state_of(window: MainWindow, call_id: str) -> str:
    model = window.call_panel.model
    return str(model.data(model.index(model.row_of(call_id), Column.STATE)))


def test_shows_local_uri_audio_mode_and_registration(window: MainWindow,
                                                     fake_engine: FakeEngine):
    panel = window.accounts_panel
    assert panel.local_uri_label.full_text == LOCAL_URI
    assert panel.audio_label.text() == "no sound device (silent)"
    assert panel.status_of("local") == "direct calls"
    fake_engine.accounts.push(AccountInfo("acc-1", "sip:1001@pbx.example.com",
                                          RegistrationState.FAILED, code=401,
                                          message="authentication failed", retry_in=4.2))
    assert panel.status_of("acc-1") == "failed (retry in 4 s)"
    fake_engine.accounts.push(AccountInfo("acc-1", "sip:1001@pbx.example.com",
                                          RegistrationState.REGISTERED))
    assert panel.status_of("acc-1") == "registered"
    assert panel.tree.topLevelItemCount() == 2


def test_invalid_uri_shows_error_and_places_no_call(qtbot: QtBot, window: MainWindow,
                                                    fake_engine: FakeEngine):
    QTest.keyClicks(window.dialer.entry, "sip:bob smith@<host>")
    QTest.keyClick(window.dialer.entry, Qt.Key.Key_Return)
    assert fake_engine.calls.ops == []
    assert window.call_panel.model.rowCount() == 0
    error = window.dialer.error_label
    assert error.isVisible() and "forbidden character" in error.text()
    assert "forbidden character" in window.statusBar().currentMessage()
    assert window.dialer.entry.text() == "sip:bob smith@<host>"  # kept for fixing
    QTest.keyClick(window.dialer.entry, Qt.Key.Key_Backspace)
    assert not error.isVisible()
    window.dialer.entry.clear()
    QTest.mouseClick(window.dialer.call_button, Qt.MouseButton.LeftButton)
    assert error.isVisible() and fake_engine.calls.ops == []


def test_call_button_places_call_and_selects_it(qtbot: QtBot, window: MainWindow,
                                                fake_engine: FakeEngine):
    QTest.keyClicks(window.dialer.entry, "bob@example.com")
    QTest.mouseClick(window.dialer.call_button, Qt.MouseButton.LeftButton)
    assert fake_engine.calls.ops == [("make_call", "sip:bob@example.com")]
    assert window.dialer.entry.text() == ""
    panel = window.call_panel
    assert panel.selected_call_id() == "call-1"
    assert panel.hangup_action.isEnabled() and not panel.answer_action.isEnabled()
    assert not panel.hold_action.isEnabled()


def test_dialpad_types_when_idle_and_sends_dtmf_in_a_call(qtbot: QtBot, window: MainWindow,
                                                          fake_engine: FakeEngine):
    for key in "12#":
        QTest.mouseClick(window.dialpad.buttons[key], Qt.MouseButton.LeftButton)
    assert window.dialer.entry.text() == "12#"
    fake_engine.calls.push(snapshot("call-9", CallState.CONFIRMED))
    assert window.call_panel.selected_call_id() == "call-9"
    QTest.mouseClick(window.dialpad.buttons["*"], Qt.MouseButton.LeftButton)
    assert fake_engine.calls.ops == [("dtmf", "call-9", "*")]
    assert window.dialer.entry.text() == "12#"


def test_incoming_call_is_selected_and_answered(qtbot: QtBot, window: MainWindow,
                                                fake_engine: FakeEngine):
    fake_engine.calls.push(snapshot("call-0", CallState.CONFIRMED))
    call_id = fake_engine.calls.ring("sip:carol@example.com", "Carol")
    panel = window.call_panel
    assert panel.selected_call_id() == call_id
    assert state_of(window, call_id) == "incoming"
    assert "Carol <sip:carol@example.com>" in window.statusBar().currentMessage()
    assert panel.answer_action.isEnabled() and panel.reject_action.isEnabled()
    QTest.mouseClick(panel.buttons["Answer"], Qt.MouseButton.LeftButton)
    assert fake_engine.calls.ops == [("answer", call_id)]
    assert state_of(window, call_id) == "confirmed"
    assert not panel.answer_action.isEnabled() and panel.hold_action.isEnabled()


def test_hold_and_mute_toggle_and_hangup(qtbot: QtBot, window: MainWindow,
                                         fake_engine: FakeEngine):
    fake_engine.calls.push(snapshot("call-5", CallState.CONFIRMED))
    panel = window.call_panel
    QTest.mouseClick(panel.buttons["Hold"], Qt.MouseButton.LeftButton)
    assert panel.hold_action.isChecked() and panel.hold_action.text() == "Res&ume"
    QTest.mouseClick(panel.buttons["Hold"], Qt.MouseButton.LeftButton)
    assert not panel.hold_action.isChecked() and panel.hold_action.text() == "H&old"
    QTest.mouseClick(panel.buttons["Mute"], Qt.MouseButton.LeftButton)
    assert panel.mute_action.isChecked()
    QTest.mouseClick(panel.buttons["Mute"], Qt.MouseButton.LeftButton)
    assert not panel.mute_action.isChecked()
    QTest.mouseClick(panel.buttons["Hang up"], Qt.MouseButton.LeftButton)
    assert [op[0] for op in fake_engine.calls.ops] == [
        "hold", "resume", "mute", "mute", "hangup"]
    assert state_of(window, "call-5") == "disconnected"
    assert not any(a.isEnabled() for a in panel.call_actions())


def test_engine_error_goes_to_status_bar_and_resets_toggle(qtbot: QtBot, window: MainWindow,
                                                           fake_engine: FakeEngine):
    fake_engine.calls.push(snapshot("call-5", CallState.CONFIRMED))
    fake_engine.calls.fail_next = "could not hold call call-5: Bad request"
    QTest.mouseClick(window.call_panel.buttons["Hold"], Qt.MouseButton.LeftButton)
    assert "could not hold" in window.statusBar().currentMessage()
    assert not window.call_panel.hold_action.isChecked()


def test_keyboard_shortcuts(qtbot: QtBot, window: MainWindow, fake_engine: FakeEngine):
    window.activateWindow()
    qtbot.waitActive(window)
    call_id = fake_engine.calls.ring("sip:carol@example.com")
    window.dialer.entry.setFocus()  # shortcuts must work while typing a number
    QTest.keyClick(window.dialer.entry, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert ("answer", call_id) in fake_engine.calls.ops
    QTest.keyClick(window.dialer.entry, Qt.Key.Key_H, Qt.KeyboardModifier.ControlModifier)
    assert ("hold", call_id) in fake_engine.calls.ops
    QTest.keyClick(window.dialer.entry, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
    assert ("mute", call_id, "True") in fake_engine.calls.ops
    QTest.keyClick(window.dialer.entry, Qt.Key.Key_H,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert ("hangup", call_id) in fake_engine.calls.ops


def test_hostile_display_name_is_shown_literally(qtbot: QtBot, window: MainWindow,
                                                 fake_engine: FakeEngine):
    fake_engine.accounts.push(AccountInfo("acc-1", "sip:<b>x</b>@example.com",
                                          RegistrationState.FAILED, message="<i>boom</i>"))
    call_id = fake_engine.calls.ring("sip:evil@example.com", "<b>x</b><img src=x>")
    model = window.call_panel.model
    remote = model.data(model.index(model.row_of(call_id), Column.REMOTE))
    assert remote == "<b>x</b><img src=x> <sip:evil@example.com>"
    assert "Incoming call from <b>x</b>" in window.statusBar().currentMessage()
    item = window.accounts_panel.tree.topLevelItem(1)
    assert item is not None
    assert item.text(0) == "sip:<b>x</b>@example.com"
    assert "&lt;b&gt;" in item.toolTip(0) and "&lt;i&gt;" in item.toolTip(2)
    window.place_call("x<b>bold</b>")
    assert "<b>bold</b>" in window.dialer.error_label.text()
    # Every label now showing markup shows it as plain text.
    for label in window.findChildren(QLabel):
        if "<" in label.text():
            assert label.textFormat() == Qt.TextFormat.PlainText, label.accessibleName()
    for label in (window.accounts_panel.local_uri_label, window.dialer.error_label,
                  window.accounts_panel.audio_label):
        assert label.textFormat() == Qt.TextFormat.PlainText


def test_every_control_has_an_accessible_name(window: MainWindow):
    controls = (window.findChildren(QAbstractButton) + window.findChildren(QLineEdit))
    unnamed = [w for w in controls if isinstance(w, QWidget) and w.isVisibleTo(window)
               and not w.accessibleName() and w.objectName() != "qt_toolbar_ext_button"]
    assert unnamed == [], [type(w).__name__ + ":" + getattr(w, "text", lambda: "")()
                           for w in unnamed]


def test_engine_stopped_disables_controls(window: MainWindow, fake_engine: FakeEngine):
    fake_engine.calls.push(snapshot("call-5", CallState.CONFIRMED))
    fake_engine.stopped.emit()
    assert not any(a.isEnabled() for a in window.call_panel.call_actions())
    assert not window.dialer.isEnabled() and not window.dialpad.isEnabled()
    fake_engine.calls.push(snapshot("call-6", CallState.CONFIRMED))
    assert not window.call_panel.hangup_action.isEnabled()


def test_per_call_transfer_action_follows_the_selected_call(qtbot: QtBot,
                                                            fake_engine: FakeEngine):
    panel = CallPanel(as_engine(fake_engine).calls, transfer=True)
    qtbot.addWidget(panel)
    action = panel.transfer_action
    assert action is not None and action in panel.call_actions()
    assert not action.isEnabled()
    ringing = fake_engine.calls.ring("sip:carol@example.com")
    assert panel.selected_call_id() == ringing and not action.isEnabled()
    requested: list[str] = []
    panel.transfer_requested.connect(requested.append)
    action.trigger()  # disabled: nothing
    fake_engine.calls.answer(ringing)
    assert action.isEnabled()
    action.trigger()
    assert requested == [ringing]
    fake_engine.calls.push(snapshot("call-q", CallState.INCOMING, queued=True))
    panel.select_call("call-q")
    assert not action.isEnabled()
    menu = panel.context_menu(panel.model.row_of(ringing))
    assert menu is not None and panel.selected_call_id() == ringing
    assert action in menu.actions() and action.isEnabled()


def test_no_transfer_action_without_session_transfer(window: MainWindow):
    # The fake engine has no transfer manager: Session Transfer is off.
    assert window.transfer_screen is None and window.transfer_action is None
    assert "Transfer" not in window.call_panel.buttons
