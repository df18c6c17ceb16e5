"""The whole desktop window on a real engine: accessible names everywhere,
application-wide shortcuts, and a queued transfer shown apart from live calls."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QBrush
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QApplication,
    QComboBox,
    QHeaderView,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QWidget,
)
from pytestqt.qtbot import QtBot

from softphone.core.calls import CallDirection, CallState
from softphone.core.conference import Conference, PartyRole, PartyState
from softphone.runtime import Runtime
from softphone.ui.call_actions import actions_for
from softphone.ui.call_model import Column, state_text
from softphone.ui.main_window import MainWindow, UiFeatures
from tests.ui.fakes import FakeEngine, as_engine, snapshot
from tests.ui.test_gui_sip import WAIT_MS
from tests.ui.test_transfer_screen import open_window


def unnamed_visible_controls(window: QWidget) -> tuple[list[QWidget], list[QWidget]]:
    """(every visible control, those without an accessible name)."""
    kinds = (QAbstractButton, QLineEdit, QComboBox, QAbstractItemView, QPlainTextEdit)
    controls = [w for kind in kinds for w in window.findChildren(kind)
                if isinstance(w, QWidget) and w.isVisibleTo(window)]
    unnamed = [w for w in controls
               if not w.accessibleName() and w.objectName() != "qt_toolbar_ext_button"
               # a combo box's popup list is named through its combo box
               and type(w).__name__ != "QComboBoxListView"
               # headers are announced as their view's column headers
               and not isinstance(w, QHeaderView)]
    return controls, unnamed


def test_every_control_of_the_full_desktop_has_an_accessible_name(
        qtbot: QtBot, runtime: Runtime, monkeypatch: pytest.MonkeyPatch):
    window = open_window(qtbot, runtime, features=UiFeatures(four_way_conference=True))
    assert window.agent_widget is not None and window.transfer_screen is not None
    panel = window.transfer_screen.conference_panel
    assert panel is not None and panel.isHidden()
    # The conference panel shows only during a conference: show it with one
    # (held, agent gone: every button in its other text) on the real engine.
    conf = Conference("conf-1", "xfer-1", held=True, agent_present=False)
    conf.add("call-a", PartyRole.CUSTOMER, "<b>Jane</b>", PartyState.WAITING)
    conf.add("call-b", PartyRole.TARGET, "Bob", PartyState.JOINED)
    conf.add("call-c", PartyRole.FOURTH, "Carol", PartyState.RINGING)
    conference = runtime.engine.conference
    monkeypatch.setattr(conference, "current", lambda: conf)
    conference.changed.emit({**conf.to_json(), "ended": False})
    assert panel.isVisible() and panel.model.rowCount() == 3
    controls, unnamed = unnamed_visible_controls(window)
    assert unnamed == [], [f"{type(w).__name__}:{w.objectName()}" for w in unnamed]
    for control in (panel.view, panel.drop_button, panel.hold_button, panel.leave_button):
        assert control in controls
    assert panel.hold_button.accessibleName() == "Resume the conference"
    assert panel.leave_button.accessibleName() == "Rejoin the conference"
    assert panel.status_label.accessibleName() == "Conference status"
    assert len(controls) > 25


def call_myself(qtbot: QtBot, runtime: Runtime) -> tuple[str, str]:
    """Two live calls on the real engine: it calls its own local URI and
    answers; (outbound call id, inbound call id), both confirmed."""
    calls = runtime.engine.calls
    outbound = calls.make_call(runtime.engine.local_uri)
    qtbot.waitUntil(lambda: any(s.direction == CallDirection.INBOUND
                                for s in calls.snapshots()), timeout=WAIT_MS)
    inbound = next(s.call_id for s in calls.snapshots() if s.direction == CallDirection.INBOUND)
    calls.answer(inbound)
    qtbot.waitUntil(lambda: [s.state for s in calls.snapshots()] == [CallState.CONFIRMED] * 2,
                    timeout=WAIT_MS)
    return outbound, inbound


def test_answer_hangup_hold_transfer_are_application_wide_shortcuts(qtbot: QtBot,
                                                                    runtime: Runtime):
    window = open_window(qtbot, runtime)
    panel = window.call_panel
    transfer_action = window.transfer_action
    assert transfer_action is not None and transfer_action is panel.transfer_action
    app_wide = Qt.ShortcutContext.ApplicationShortcut
    for action in (panel.answer_action, panel.hangup_action, panel.hold_action,
                   transfer_action):
        assert action.shortcutContext() == app_wide, action.text()
    assert not transfer_action.isEnabled()  # no call to transfer yet
    _, inbound = call_myself(qtbot, runtime)
    panel.select_call(inbound)
    assert transfer_action.isEnabled()
    with qtbot.waitActive(window):
        window.activateWindow()
    window.dialer.entry.setFocus()
    QTest.keyClick(window.dialer.entry, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    screen = window.transfer_screen
    assert screen is not None
    qtbot.waitUntil(screen.manual_entry.hasFocus)
    assert screen.customer_call_id() == inbound


def test_per_call_transfer_in_the_call_list_opens_the_transfer_screen_for_that_call(
        qtbot: QtBot, runtime: Runtime):
    window = open_window(qtbot, runtime)
    panel, screen = window.call_panel, window.transfer_screen
    assert screen is not None and panel.transfer_action is not None
    outbound, inbound = call_myself(qtbot, runtime)
    panel.select_call(inbound)

    # Right-click the other call's row: it is selected and its menu offers Transfer.
    seen: list[str] = []

    def choose_transfer() -> None:
        menu = QApplication.activePopupWidget()
        assert isinstance(menu, QMenu)
        seen.extend(a.text() for a in menu.actions())
        transfer = next(a for a in menu.actions() if a.text() == "&Transfer\u2026")
        menu.close()
        transfer.trigger()

    QTimer.singleShot(0, choose_transfer)
    row = panel.model.row_of(outbound)
    pos = panel.view.visualRect(panel.model.index(row, Column.REMOTE)).center()
    panel.view.customContextMenuRequested.emit(pos)
    assert seen == ["&Answer", "&Reject", "&Hang up", "H&old", "&Mute", "&Transfer\u2026"]
    assert panel.selected_call_id() == outbound
    qtbot.waitUntil(screen.manual_entry.hasFocus)
    assert screen.customer_call_id() == outbound
    assert window.statusBar().currentMessage().startswith("Transfer sip:")
    # A target makes Supervised possible for that call.
    assert screen.select_target("agent:bob")
    assert screen.supervised_button.isEnabled()

    # The Transfer button under the list acts on the selected call.
    panel.select_call(inbound)
    window.dialer.entry.setFocus()
    requested: list[str] = []
    panel.transfer_requested.connect(requested.append)
    QTest.mouseClick(panel.buttons["Transfer"], Qt.MouseButton.LeftButton)
    assert requested == [inbound]
    assert screen.customer_call_id() == inbound
    # No menu on empty space below the rows.
    assert panel.context_menu(panel.model.rowCount()) is None


def test_queued_transfer_is_shown_apart_and_cannot_be_answered(qtbot: QtBot,
                                                               fake_engine: FakeEngine):
    window = MainWindow(as_engine(fake_engine), tray=False)
    qtbot.addWidget(window)
    queued = snapshot("call-q", CallState.INCOMING, CallDirection.INBOUND, queued=True)
    fake_engine.calls.push(queued)
    model = window.call_panel.model
    row = model.row_of("call-q")
    assert model.data(model.index(row, Column.STATE)) == "queued: waiting for you to be Available"
    assert isinstance(model.data(model.index(row, Column.REMOTE),
                                 Qt.ItemDataRole.BackgroundRole), QBrush)
    assert not actions_for(queued).answer and actions_for(queued).hangup
    live = snapshot("call-l", CallState.INCOMING, CallDirection.INBOUND)
    assert state_text(live) == "incoming" and actions_for(live).answer
