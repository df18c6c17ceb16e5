"""Desktop-wide hotkeys on X11 (XCB passive grabs on the root window), against
a private Xvfb with key presses synthesized by xdotool (XTEST): the widgets
run offscreen, so no window of the app is on that X server at all, let alone
focused; a key reaches them only through the grab."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from softphone.ui.main_window import DESKTOP_HOTKEYS, MainWindow
from softphone.ui.x11_hotkeys import (
    CONTROL,
    LOCK,
    MOD1,
    MOD2,
    MOD4,
    SHIFT,
    HotkeyError,
    KeyCombo,
    X11Hotkeys,
    parse_combo,
)
from tests.helpers.tools import require_tool
from tests.ui.fakes import FakeEngine, as_engine

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 on Linux")


def press(display: str, keys: str) -> None:
    """Press and release ``keys`` (xdotool syntax) on ``display``."""
    xdotool = require_tool("xdotool", "xdotool")
    subprocess.run([xdotool, "key", keys], env={**os.environ, "DISPLAY": display},
                   check=True, timeout=10)


def test_key_combinations_in_x11_terms():
    assert parse_combo("Ctrl+Alt+Shift+A") == KeyCombo(ord("a"), CONTROL | MOD1 | SHIFT)
    assert parse_combo("Meta+F9") == KeyCombo(0xFFC6, MOD4)
    assert parse_combo("F12") == KeyCombo(0xFFC9, 0)  # a function key may stand alone
    assert parse_combo("Ctrl+Return") == KeyCombo(0xFF0D, CONTROL)
    assert parse_combo("Ctrl+Alt+7") == KeyCombo(ord("7"), CONTROL | MOD1)
    for bad in ("A", "Shift+A", "Ctrl+A, Ctrl+B", "", "Ctrl+\u00e9"):
        with pytest.raises(HotkeyError):
            parse_combo(bad)


def test_a_grabbed_key_fires_wherever_the_focus_is_and_conflicts_are_reported(
        qtbot: QtBot, x_display: str):
    hotkeys = X11Hotkeys(x_display)
    other = X11Hotkeys(x_display)  # another application on the same desktop
    try:
        assert hotkeys.grab("answer", "Ctrl+Alt+Shift+A") == ""
        assert hotkeys.grabbed == {"answer": "Ctrl+Alt+Shift+A"}
        assert hotkeys.grab("hold", "Ctrl+Alt+Shift+O") == ""
        with qtbot.waitSignal(hotkeys.activated, timeout=5000) as blocker:
            press(x_display, "ctrl+alt+shift+a")
        assert blocker.args == ["answer"]
        # Caps Lock on does not stop it.
        press(x_display, "Caps_Lock")
        with qtbot.waitSignal(hotkeys.activated, timeout=5000) as blocker:
            press(x_display, "ctrl+alt+shift+o")
        assert blocker.args == ["hold"]
        press(x_display, "Caps_Lock")

        assert other.grab("mine", "Ctrl+Alt+Shift+A") == (
            "Ctrl+Alt+Shift+A is taken by another application")
        assert other.grabbed == {}
        assert hotkeys.grab("again", "Ctrl+Alt+Shift+A") == (
            "Ctrl+Alt+Shift+A is already a hotkey here")
        assert "answer" in hotkeys.grabbed
        # Given back: the other application may have it now.
        hotkeys.ungrab("answer")
        assert other.grab("mine", "Ctrl+Alt+Shift+A") == ""
        with qtbot.waitSignal(other.activated, timeout=5000) as blocker:
            press(x_display, "ctrl+alt+shift+a")
        assert blocker.args == ["mine"]
    finally:
        hotkeys.close()
        other.close()
    assert not hotkeys.connected


def key_event(kind: int, keycode: int, time: int, state: int) -> bytes:
    data = bytearray(32)
    data[0], data[1] = kind, keycode
    data[4:8] = time.to_bytes(4, sys.byteorder)
    data[28:30] = state.to_bytes(2, sys.byteorder)
    return bytes(data)


def test_auto_repeat_and_lock_keys(qtbot: QtBot, x_display: str):
    hotkeys = X11Hotkeys(x_display)
    try:
        assert hotkeys.grab("hold", "Ctrl+Alt+Shift+O") == ""
        (keycode, modifiers), = [k for k, name in hotkeys._keys.items()
                                 if name == "hold" and k[1] == CONTROL | MOD1 | SHIFT]
        fired: list[str] = []
        hotkeys.activated.connect(fired.append)
        hotkeys._on_event(key_event(2, keycode, 100, modifiers | MOD2 | LOCK))
        hotkeys._on_event(key_event(3, keycode, 900, modifiers))
        hotkeys._on_event(key_event(2, keycode, 900, modifiers))  # repeat: same instant
        hotkeys._on_event(key_event(3, keycode, 950, modifiers))
        hotkeys._on_event(key_event(2, keycode, 2000, modifiers))  # pressed again
        hotkeys._on_event(key_event(2, keycode, 3000, CONTROL | MOD1))  # Shift missing
        assert fired == ["hold", "hold"]
    finally:
        hotkeys.close()


def test_the_window_offers_them_off_by_default_and_remembers_the_switch(
        qtbot: QtBot, x_display: str, fake_engine: FakeEngine):
    saved: list[dict[str, Any]] = []
    window = MainWindow(as_engine(fake_engine), tray=False, hotkey_display=x_display,
                        save_ui_state=saved.append)
    qtbot.addWidget(window)
    action = window.desktop_hotkeys_action
    assert action.isEnabled() and not action.isChecked()
    assert window.desktop_hotkeys is None
    call_id = fake_engine.calls.ring("sip:carol@example.com")

    action.trigger()  # the agent switches them on
    hotkeys = window.desktop_hotkeys
    assert hotkeys is not None and action.isChecked()
    # No Session Transfer on the fake engine: no transfer hotkey either.
    assert hotkeys.grabbed == {k: v for k, v in DESKTOP_HOTKEYS.items() if k != "transfer"}
    assert saved[-1]["global_hotkeys"] is True
    press(x_display, "ctrl+alt+shift+a")
    qtbot.waitUntil(lambda: ("answer", call_id) in fake_engine.calls.ops, timeout=5000)
    press(x_display, "ctrl+alt+shift+o")
    qtbot.waitUntil(lambda: ("hold", call_id) in fake_engine.calls.ops, timeout=5000)
    press(x_display, "ctrl+alt+shift+h")
    qtbot.waitUntil(lambda: ("hangup", call_id) in fake_engine.calls.ops, timeout=5000)

    action.trigger()  # off again: the keys go back to the desktop
    assert window.desktop_hotkeys is None and not action.isChecked()
    assert saved[-1]["global_hotkeys"] is False
    probe = X11Hotkeys(x_display)
    try:
        for combo in DESKTOP_HOTKEYS.values():
            assert probe.grab(combo, combo) == ""
        # Now taken: a window switched on from the remembered state says so.
        again = MainWindow(as_engine(fake_engine), tray=False, hotkey_display=x_display,
                           ui_state={"global_hotkeys": True})
        qtbot.addWidget(again)
        assert again.desktop_hotkeys is None and not again.desktop_hotkeys_action.isChecked()
        assert "is taken by another application" in again.statusBar().currentMessage()
        assert again.ui_state["global_hotkeys"] is True  # the choice is kept for next time
    finally:
        probe.close()
    started = MainWindow(as_engine(fake_engine), tray=False, hotkey_display=x_display,
                         ui_state={"global_hotkeys": True})
    qtbot.addWidget(started)
    assert started.desktop_hotkeys is not None and started.desktop_hotkeys_action.isChecked()
    started.close()
    assert started.desktop_hotkeys is None


def test_not_offered_where_qt_is_not_on_x11(qtbot: QtBot, fake_engine: FakeEngine):
    window = MainWindow(as_engine(fake_engine), tray=False)  # offscreen platform
    qtbot.addWidget(window)
    assert not window.desktop_hotkeys_action.isEnabled()
    assert "Only on an X11 desktop" in window.desktop_hotkeys_action.toolTip()
    assert window.set_desktop_hotkeys(False) == [] and window.desktop_hotkeys is None
