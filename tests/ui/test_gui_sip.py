"""The main window on a real in-process engine, calling real headless peers.

The engine's pump is a QTimer, so it runs only while the Qt loop does: every
wait here spins the loop (qtbot.waitUntil polling the peer's collected API
events) instead of blocking in the peer's ApiClient.
"""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from softphone.core.calls import CallState, HoldState
from softphone.gui import GuiSession
from softphone.runtime import Runtime
from softphone.ui.call_model import Column
from softphone.ui.main_window import MainWindow
from tests.conftest import InstanceFactory
from tests.helpers.api_client import ApiClient

WAIT_MS = 10000


def open_window(qtbot: QtBot, runtime: Runtime) -> MainWindow:
    window = MainWindow(runtime.engine)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def find_event(api: ApiClient, event_type: str, since: int = 0, **fields: Any
               ) -> dict[str, Any] | None:
    for event in list(api.events[since:]):
        if event.get("type") == event_type and all(event.get(k) == v for k, v in fields.items()):
            return event
    return None


def wait_event(qtbot: QtBot, api: ApiClient, event_type: str, since: int = 0,
               **fields: Any) -> dict[str, Any]:
    qtbot.waitUntil(lambda: find_event(api, event_type, since, **fields) is not None,
                    timeout=WAIT_MS)
    event = find_event(api, event_type, since, **fields)
    assert event is not None
    return event


def state_text(window: MainWindow, call_id: str) -> str:
    model = window.call_panel.model
    return str(model.data(model.index(model.row_of(call_id), Column.STATE)))


def test_window_close_shuts_the_runtime_down(qtbot: QtBot, runtime: Runtime):
    window = open_window(qtbot, runtime)
    session = GuiSession(runtime, window)
    assert window.accounts_panel.local_uri_label.full_text == runtime.engine.local_uri
    with qtbot.waitSignals([session.finished, runtime.engine.stopped], timeout=WAIT_MS):
        window.close()
    assert not runtime.engine.running
    assert not window.isVisible()
    assert not window.dialer.isEnabled()


def test_quit_request_closes_window_and_stops_engine(qtbot: QtBot, runtime: Runtime):
    window = open_window(qtbot, runtime)
    session = GuiSession(runtime, window)
    with qtbot.waitSignal(session.finished, timeout=WAIT_MS):
        runtime.request_quit()
    assert not runtime.engine.running and not window.isVisible()


@pytest.mark.multiprocess
def test_outgoing_call_hold_hangup(qtbot: QtBot, runtime: Runtime, softphones: InstanceFactory):
    peer = softphones("bob")
    api = peer.api
    assert api is not None
    window = open_window(qtbot, runtime)
    panel = window.call_panel

    mark = api.mark()
    QTest.keyClicks(window.dialer.entry, peer.sip_uri)
    QTest.keyClick(window.dialer.entry, Qt.Key.Key_Return)
    assert panel.model.rowCount() == 1
    call_id = panel.selected_call_id()
    assert call_id is not None

    incoming = wait_event(qtbot, api, "call.state", mark, state="incoming")
    assert state_text(window, call_id) in ("calling", "ringing")
    assert panel.hangup_action.isEnabled() and not panel.hold_action.isEnabled()
    api.call("call.answer", call_id=incoming["call_id"])
    qtbot.waitUntil(lambda: state_text(window, call_id) == "confirmed", timeout=WAIT_MS)
    assert peer.sip_uri in str(panel.model.data(panel.model.index(0, Column.REMOTE)))
    assert panel.hold_action.isEnabled() and not panel.answer_action.isEnabled()

    mark = api.mark()
    QTest.mouseClick(panel.buttons["Hold"], Qt.MouseButton.LeftButton)
    wait_event(qtbot, api, "call.updated", mark, hold="remote")
    snap = panel.model.snapshot(call_id)
    assert snap is not None and snap.hold == HoldState.LOCAL
    assert panel.hold_action.isChecked()

    mark = api.mark()
    QTest.mouseClick(panel.buttons["Hold"], Qt.MouseButton.LeftButton)
    wait_event(qtbot, api, "call.updated", mark, hold="none")

    mark = api.mark()
    QTest.mouseClick(panel.buttons["Hang up"], Qt.MouseButton.LeftButton)
    wait_event(qtbot, api, "call.state", mark, state="disconnected")
    qtbot.waitUntil(lambda: panel.model.snapshot(call_id) is None
                    or state_text(window, call_id).startswith("disconnected"), timeout=WAIT_MS)
    assert runtime.engine.calls.snapshots() == []
    assert not panel.hangup_action.isEnabled()


@pytest.mark.multiprocess
def test_incoming_call_shows_caller_and_answer_connects(qtbot: QtBot, runtime: Runtime,
                                                        softphones: InstanceFactory):
    peer = softphones("carol")
    api = peer.api
    assert api is not None
    window = open_window(qtbot, runtime)
    panel = window.call_panel

    peer_call = api.call("call.make", uri=runtime.engine.local_uri)["call_id"]
    qtbot.waitUntil(lambda: panel.model.rowCount() == 1, timeout=WAIT_MS)
    call_id = panel.selected_call_id()
    assert call_id is not None
    snap = panel.model.snapshot(call_id)
    assert snap is not None and snap.state in (CallState.INCOMING, CallState.EARLY)
    assert state_text(window, call_id) == "incoming"
    remote = str(panel.model.data(panel.model.index(0, Column.REMOTE)))
    assert "sip:carol@127.0.0.1" in remote
    assert "Incoming call from" in window.statusBar().currentMessage()
    assert panel.answer_action.isEnabled() and panel.reject_action.isEnabled()

    QTest.mouseClick(panel.buttons["Answer"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: state_text(window, call_id) == "confirmed", timeout=WAIT_MS)
    wait_event(qtbot, api, "call.state", state="confirmed", call_id=peer_call)

    # DTMF from the dialpad goes to the call, not into the entry.
    mark = api.mark()
    QTest.mouseClick(window.dialpad.buttons["5"], Qt.MouseButton.LeftButton)
    wait_event(qtbot, api, "call.dtmf", mark, digit="5")
    assert window.dialer.entry.text() == ""

    api.call("call.hangup", call_id=peer_call)
    qtbot.waitUntil(lambda: panel.model.snapshot(call_id) is None
                    or state_text(window, call_id).startswith("disconnected"), timeout=WAIT_MS)


def test_invalid_uri_on_real_engine_creates_no_call(qtbot: QtBot, runtime: Runtime):
    window = open_window(qtbot, runtime)
    QTest.keyClicks(window.dialer.entry, "sip:bob@exa mple.com")
    QTest.mouseClick(window.dialer.call_button, Qt.MouseButton.LeftButton)
    assert "forbidden character" in window.dialer.error_label.text()
    assert runtime.engine.calls.count() == 0
    assert window.call_panel.model.rowCount() == 0


@pytest.mark.parametrize("round_", range(3))
def test_engine_can_be_created_again_after_destroy(qtbot: QtBot, runtime: Runtime,
                                                   round_: int):
    # Each round is a fresh libCreate after the previous test's libDestroy;
    # a call left over at shutdown is what used to keep the endpoint alive.
    calls = runtime.engine.calls
    calls.make_call(runtime.engine.local_uri.replace("agent", "nobody"))
    qtbot.waitUntil(lambda: calls.count() >= 1, timeout=WAIT_MS)
    assert runtime.engine.running
