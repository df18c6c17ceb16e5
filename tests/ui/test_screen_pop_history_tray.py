"""Screen pop panel, call history and tray against the fake engine: safe text,
notes, the CRM link, SQLite persistence, completion and notifications."""

from __future__ import annotations

import sys
import urllib.parse
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QUrl
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from softphone.core.calls import CallDirection, CallState
from softphone.ui.history import (
    HISTORY_FILE,
    CallHistory,
    HistoryEntry,
    HistoryModel,
    history_location,
)
from softphone.ui.main_window import MainWindow
from softphone.ui.screen_pop_panel import ScreenPopPanel
from softphone.ui.tray import Tray
from tests.ui.fakes import FakeAgent, FakeEngine, as_engine, snapshot

HOSTILE = "<b>Bold</b><img src=http://x/y.png>\r\nInjected line\x07\u202eevil"
LONG = "W" * 500
TEMPLATE = "https://crm.example.com/case?id={case_id}&phone={number}"


def incoming_with_pop(fake: FakeEngine, pop: dict[str, str], call_id: str = "call-7") -> str:
    snap = snapshot(call_id, CallState.INCOMING, CallDirection.INBOUND,
                    remote_uri="sip:caller@127.0.0.1", pop=pop)
    fake.calls.push(snap)
    fake.calls.incoming_call.emit(snap)
    return call_id


@pytest.fixture
def panel(qtbot: QtBot, fake_engine: FakeEngine) -> tuple[ScreenPopPanel, list[QUrl]]:
    opened: list[QUrl] = []

    def open_url(url: QUrl) -> bool:
        opened.append(url)
        return True

    widget = ScreenPopPanel(as_engine(fake_engine).calls, crm_template=TEMPLATE,
                            open_url=open_url)
    widget.resize(420, 300)
    qtbot.addWidget(widget)
    widget.show()
    return widget, opened


def test_hostile_and_long_values_are_plain_one_line_and_elided(
        qtbot: QtBot, panel: tuple[ScreenPopPanel, list[QUrl]], fake_engine: FakeEngine):
    widget, _ = panel
    incoming_with_pop(fake_engine, {"name": HOSTILE, "number": "+4930123",
                                    "case_id": LONG, "notes": "<i>x</i>"})
    widget.show_call(fake_engine.calls.calls["call-7"])
    caller = widget.caller_label
    assert caller.textFormat() == Qt.TextFormat.PlainText
    assert caller.full_text.startswith("<b>Bold</b><img src=http://x/y.png>")
    assert "\n" not in caller.full_text and "\x07" not in caller.full_text
    assert "\u202e" not in caller.full_text
    assert "&lt;b&gt;" in caller.toolTip()  # the tool tip shows the markup, escaped
    case = widget.field_labels["case_id"]
    assert case.full_text == LONG
    qtbot.waitUntil(lambda: case.text().endswith("W") and "\u2026" in case.text())
    assert len(case.text()) < len(LONG)
    assert widget.notes_edit.toPlainText() == "<i>x</i>"
    for label in widget.findChildren(QLabel):
        assert label.textFormat() == Qt.TextFormat.PlainText, label.text()


def test_notes_are_saved_on_the_call(panel: tuple[ScreenPopPanel, list[QUrl]],
                                     fake_engine: FakeEngine):
    widget, _ = panel
    incoming_with_pop(fake_engine, {"number": "555", "case_id": "C-1"})
    widget.show_call(fake_engine.calls.calls["call-7"])
    assert not widget.save_notes_button.isEnabled()
    widget.notes_edit.setPlainText("Wants a refund\nsecond line")
    assert widget.save_notes_button.isEnabled()
    QTest.mouseClick(widget.save_notes_button, Qt.MouseButton.LeftButton)
    assert ("set_pop", "call-7") in fake_engine.calls.ops
    pop = fake_engine.calls.calls["call-7"].pop
    assert pop["notes"] == "Wants a refund\nsecond line" and pop["case_id"] == "C-1"
    assert not widget.save_notes_button.isEnabled()
    widget.notes_edit.setPlainText("x" * 600)
    errors: list[str] = []
    widget.error.connect(errors.append)
    assert widget.save_notes() is False
    assert errors and "512" in errors[0]


def test_crm_link_is_percent_encoded_and_opens_on_answer_when_asked(
        panel: tuple[ScreenPopPanel, list[QUrl]], fake_engine: FakeEngine):
    widget, opened = panel
    call_id = incoming_with_pop(fake_engine, {"number": "+44 20&x=1", "case_id": "a/b?c#d"})
    widget.show_call(fake_engine.calls.calls[call_id])
    QTest.mouseClick(widget.crm_button, Qt.MouseButton.LeftButton)
    assert len(opened) == 1
    url = opened[0]
    assert (url.scheme(), url.host(), url.path()) == ("https", "crm.example.com", "/case")
    query = urllib.parse.parse_qs(widget.opened_urls[0].split("?", 1)[1])
    assert query == {"id": ["a/b?c#d"], "phone": ["+44 20&x=1"]}
    widget.auto_open_check.setChecked(True)
    fake_engine.calls.answer(call_id)
    assert len(opened) == 2
    # Not again for the same call.
    fake_engine.calls.push(replace(fake_engine.calls.calls[call_id], muted=True))
    assert len(opened) == 2


def test_history_persists_in_sqlite_and_completes_numbers(qtbot: QtBot, tmp_path: Path,
                                                          fake_engine: FakeEngine):
    path = tmp_path / "data" / "history.sqlite3"
    model = HistoryModel(CallHistory(path), as_engine(fake_engine).calls)
    fake_engine.calls.push(snapshot("call-1", CallState.CALLING,
                                    remote_uri="sip:bob@example.com"))
    fake_engine.calls.hangup("call-1")
    call_id = fake_engine.calls.ring("sip:eve@example.com", "<b>Eve</b>")
    fake_engine.calls.answer(call_id)
    fake_engine.calls.hangup(call_id)
    assert model.rowCount() == 2
    assert model.data(model.index(0, 2)) == "<b>Eve</b> <sip:eve@example.com>"
    assert model.data(model.index(0, 4)) == "answered"
    assert model.data(model.index(1, 4)) == "cancelled"
    assert path.exists()
    model.history.close()
    again = HistoryModel(CallHistory(path))
    assert again.rowCount() == 2
    assert again.completions.stringList() == ["sip:eve@example.com",
                                              "sip:bob@example.com"]


def test_window_history_completion_and_redial(qtbot: QtBot, tmp_path: Path,
                                              fake_engine: FakeEngine):
    window = MainWindow(as_engine(fake_engine), history_path=tmp_path / "h.sqlite3", tray=False)
    qtbot.addWidget(window)
    fake_engine.calls.push(snapshot("call-1", CallState.CALLING,
                                    remote_uri="sip:bob@example.com"))
    fake_engine.calls.hangup("call-1")
    completer = window.dialer.entry.completer()
    assert completer is not None
    completer.setCompletionPrefix("bob")
    assert completer.currentCompletion() == "sip:bob@example.com"
    window._redial_from_history(window.history_model.index(0, 0))
    assert window.dialer.entry.text() == "sip:bob@example.com"


def test_tray_notifies_incoming_and_delivered_calls(qtbot: QtBot, fake_engine: FakeEngine):
    tray = Tray(as_engine(fake_engine))
    fake_engine.calls.ring("sip:carol@example.com", "<b>Carol</b>")
    assert tray.messages[-1] == ("Incoming call", "<b>Carol</b> <sip:carol@example.com>")
    queued = snapshot("call-q", CallState.INCOMING, CallDirection.INBOUND,
                      remote_uri="sip:cust@example.com", queued=True, pop={"name": "Jane"})
    fake_engine.calls.call_queued.emit(queued)
    assert len(tray.messages) == 1  # queued: not presented yet
    fake_engine.calls.incoming_call.emit(replace(queued, queued=False))
    assert tray.messages[-1] == ("Transferred call delivered", "Jane is now ringing for you")


def test_tray_tooltip_and_agent_state_show_a_free_text_reason_literally(
        qtbot: QtBot, fake_engine: FakeEngine):
    # No reasons provisioned: the Not Ready reason is whatever the agent (or API) typed.
    fake_engine.agent = agent = FakeAgent()
    window = MainWindow(as_engine(fake_engine), tray=True)
    qtbot.addWidget(window)
    tray, widget = window.tray, window.agent_widget
    assert tray is not None and widget is not None
    agent.set_state("not_ready", "<b>x</b><img src=http://x/y.png>")
    label = widget.state_label
    assert label.textFormat() == Qt.TextFormat.PlainText
    assert label.text() == "Not Ready (<b>x</b><img src=http://x/y.png>)"
    assert widget.timer_label.textFormat() == Qt.TextFormat.PlainText
    # QSystemTrayIcon has no plain-text switch: the markup is escaped in a <qt> tool tip.
    tip = tray.icon.toolTip()
    assert tip == ("<qt>softphone: Not Ready (&lt;b&gt;x&lt;/b&gt;"
                   "&lt;img src=http://x/y.png&gt;)</qt>")
    assert "<b>" not in tip and "<img" not in tip
    agent.set_state("available")
    assert tray.icon.toolTip() == "<qt>softphone: Available</qt>"


def old_history(profile: Path, uri: str) -> None:
    store = CallHistory(profile / HISTORY_FILE)
    store.add(HistoryEntry(1.0e9, "outbound", "Old", uri, 12.0, "answered"))
    store.close()


def test_history_lives_in_the_data_dir_and_an_old_profile_history_is_carried_over(
        qtbot: QtBot, tmp_path: Path, fake_engine: FakeEngine):
    profile, data = tmp_path / "state" / "softphone", tmp_path / "data" / "softphone"
    profile.mkdir(parents=True)
    old_history(profile, "sip:old@example.com")
    path = history_location(profile, default_profile=profile, data_dir=data)
    assert path == data / HISTORY_FILE and path.exists()
    window = MainWindow(as_engine(fake_engine), history_path=path, tray=False)
    qtbot.addWidget(window)
    assert window.history_model.entry(0) is not None
    assert window.history_model.entry(0).uri == "sip:old@example.com"  # type: ignore[union-attr]
    fake_engine.calls.push(snapshot("call-1", CallState.CALLING, remote_uri="sip:new@example.com"))
    fake_engine.calls.hangup("call-1")
    window.history_model.history.close()
    # The old file is left as it was; the copy is not redone over newer history.
    assert [e.uri for e in CallHistory(profile / HISTORY_FILE).recent()] == [
        "sip:old@example.com"]
    again = history_location(profile, default_profile=profile, data_dir=data)
    assert [e.uri for e in CallHistory(again).recent()] == ["sip:new@example.com",
                                                           "sip:old@example.com"]
    assert not list(data.glob("*.partial"))


def test_an_explicit_profile_keeps_its_own_history(tmp_path: Path):
    isolated = tmp_path / "instance"
    path = history_location(isolated, default_profile=tmp_path / "state",
                            data_dir=tmp_path / "data")
    assert path == isolated / HISTORY_FILE
    assert not (tmp_path / "data").exists()


def test_history_location_defaults_to_the_platformdirs_data_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    if sys.platform != "linux":
        pytest.skip("XDG directories are Linux's")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    profile = tmp_path / "xdg-state" / "softphone"  # default_profile() with this environment
    assert history_location(profile) == tmp_path / "xdg-data" / "softphone" / HISTORY_FILE
    assert history_location(tmp_path / "other") == tmp_path / "other" / HISTORY_FILE


def test_an_unreadable_old_history_goes_on_being_used(tmp_path: Path):
    profile, data = tmp_path / "state", tmp_path / "data"
    profile.mkdir()
    (profile / HISTORY_FILE).write_bytes(b"not a database at all" * 10)
    path = history_location(profile, default_profile=profile, data_dir=data)
    assert path == profile / HISTORY_FILE
    assert not (data / HISTORY_FILE).exists() and not list(data.glob("*"))
