"""Desktop-wide hotkeys on X11: passive key grabs on the root window.

Qt's shortcuts work only while one of the app's windows has the focus. On an
X11 desktop a client may grab a key combination on the root window instead
(``GrabKey``); the X server then sends that combination to the grabbing client
whichever window has the focus. This module does that over its own XCB
connection (libxcb and libxcb-keysyms through ctypes, which Qt's xcb platform
needs anyway), so it never touches Qt's connection or Xlib's process-wide error
handler: every grab is a checked request, and a combination another client
already grabbed (``BadAccess``) is reported, not fatal.

Wayland (and an X server reached through Xwayland) gives clients no such
grab, so the window offers these hotkeys only on Qt's ``xcb`` platform.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any, cast

from PySide6.QtCore import QKeyCombination, QObject, QSocketNotifier, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QKeySequence

log = logging.getLogger("softphone.ui.x11_hotkeys")

# X11 core protocol constants.
SHIFT, LOCK, CONTROL, MOD1, MOD2, MOD4 = 1, 2, 4, 8, 16, 64
KEY_PRESS, KEY_RELEASE = 2, 3
GRAB_MODE_ASYNC = 1
BAD_ACCESS = 10
# Caps Lock and Num Lock (Mod2 on every common layout) must not stop a hotkey.
IGNORED_MODIFIERS = (0, LOCK, MOD2, LOCK | MOD2)

_MODIFIERS = {
    Qt.KeyboardModifier.ShiftModifier: SHIFT,
    Qt.KeyboardModifier.ControlModifier: CONTROL,
    Qt.KeyboardModifier.AltModifier: MOD1,
    Qt.KeyboardModifier.MetaModifier: MOD4,
}
_NAMED_KEYSYMS = {
    Qt.Key.Key_Space: 0x20, Qt.Key.Key_Return: 0xFF0D, Qt.Key.Key_Enter: 0xFF8D,
    Qt.Key.Key_Escape: 0xFF1B, Qt.Key.Key_Tab: 0xFF09, Qt.Key.Key_Backspace: 0xFF08,
    Qt.Key.Key_Insert: 0xFF63, Qt.Key.Key_Delete: 0xFFFF, Qt.Key.Key_Home: 0xFF50,
    Qt.Key.Key_End: 0xFF57, Qt.Key.Key_PageUp: 0xFF55, Qt.Key.Key_PageDown: 0xFF56,
    Qt.Key.Key_Left: 0xFF51, Qt.Key.Key_Up: 0xFF52, Qt.Key.Key_Right: 0xFF53,
    Qt.Key.Key_Down: 0xFF54, Qt.Key.Key_Pause: 0xFF13, Qt.Key.Key_Print: 0xFF61,
}


class HotkeyError(Exception):
    """The hotkeys cannot work here (no X server, no libxcb, a bad combination)."""


@dataclass(frozen=True)
class KeyCombo:
    """An X11 key combination: a keysym and a core modifier mask."""

    keysym: int
    modifiers: int


def parse_combo(text: str) -> KeyCombo:
    """``"Ctrl+Alt+Shift+A"`` (Qt's portable key names) as an X11 combination."""
    sequence = QKeySequence(text)
    if sequence.count() != 1:
        raise HotkeyError(f"{text!r} is not one key combination")
    combination: QKeyCombination = cast(Any, sequence)[0]
    key, mods = combination.key(), combination.keyboardModifiers()
    mask = 0
    for qt_modifier, x_modifier in _MODIFIERS.items():
        if mods & qt_modifier:
            mask |= x_modifier
    value = int(key.value)
    if Qt.Key.Key_A.value <= value <= Qt.Key.Key_Z.value:
        keysym = value + 0x20  # the lower-case Latin-1 keysym
    elif Qt.Key.Key_0.value <= value <= Qt.Key.Key_9.value:
        keysym = value
    elif Qt.Key.Key_F1.value <= value <= Qt.Key.Key_F24.value:
        keysym = 0xFFBE + value - Qt.Key.Key_F1.value
    elif key in _NAMED_KEYSYMS:
        keysym = _NAMED_KEYSYMS[key]
    else:
        raise HotkeyError(f"{text!r}: this key cannot be a desktop hotkey")
    function_key = 0xFFBE <= keysym <= 0xFFD5
    if mask & ~SHIFT == 0 and not function_key:
        # A plain key (or Shift+key) would be stolen from every other app.
        raise HotkeyError(f"{text!r}: a desktop hotkey needs Ctrl, Alt or Meta")
    return KeyCombo(keysym, mask)


class _ScreenIterator(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("rem", ctypes.c_int), ("index", ctypes.c_int)]


class _VoidCookie(ctypes.Structure):
    _fields_ = [("sequence", ctypes.c_uint)]


class _Xcb:
    """The few libxcb / libxcb-keysyms calls used, with their C signatures."""

    def __init__(self) -> None:
        try:
            xcb = ctypes.CDLL("libxcb.so.1")
            keysyms = ctypes.CDLL("libxcb-keysyms.so.1")
            libc = ctypes.CDLL(None)
        except OSError as exc:
            raise HotkeyError(f"libxcb is not available: {exc}") from None
        ptr, u8, u16, u32 = ctypes.c_void_p, ctypes.c_uint8, ctypes.c_uint16, ctypes.c_uint32
        self.connect = _fn(xcb.xcb_connect, ptr, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int))
        self.has_error = _fn(xcb.xcb_connection_has_error, ctypes.c_int, ptr)
        self.disconnect = _fn(xcb.xcb_disconnect, None, ptr)
        self.get_setup = _fn(xcb.xcb_get_setup, ptr, ptr)
        self.roots = _fn(xcb.xcb_setup_roots_iterator, _ScreenIterator, ptr)
        self.screen_next = _fn(xcb.xcb_screen_next, None, ctypes.POINTER(_ScreenIterator))
        self.fd = _fn(xcb.xcb_get_file_descriptor, ctypes.c_int, ptr)
        self.flush = _fn(xcb.xcb_flush, ctypes.c_int, ptr)
        self.poll_for_event = _fn(xcb.xcb_poll_for_event, ptr, ptr)
        self.grab_key_checked = _fn(xcb.xcb_grab_key_checked, _VoidCookie,
                                    ptr, u8, u32, u16, u8, u8, u8)
        self.ungrab_key = _fn(xcb.xcb_ungrab_key, _VoidCookie, ptr, u8, u32, u16)
        self.request_check = _fn(xcb.xcb_request_check, ptr, ptr, _VoidCookie)
        self.symbols_alloc = _fn(keysyms.xcb_key_symbols_alloc, ptr, ptr)
        self.symbols_free = _fn(keysyms.xcb_key_symbols_free, None, ptr)
        self.get_keycode = _fn(keysyms.xcb_key_symbols_get_keycode, ctypes.POINTER(u8),
                               ptr, u32)
        self.free = _fn(libc.free, None, ptr)


def _fn(function: Any, restype: object, *argtypes: object) -> Any:
    function.restype = restype
    function.argtypes = list(argtypes)
    return function


def supported() -> bool:
    """Desktop-wide hotkeys can work in this app: Qt runs on X11 itself."""
    return (sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd"))
            and QGuiApplication.platformName() == "xcb" and bool(os.environ.get("DISPLAY")))


class X11Hotkeys(QObject):
    """Key combinations grabbed desktop-wide, each with a name.

    Signals:
        activated(str): the named combination was pressed (key repeat ignored).

    Attributes:
        grabbed: name -> the combination text, for those that are in force.
    """

    activated = Signal(str)

    def __init__(self, display: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._xcb = _Xcb()
        self.grabbed: dict[str, str] = {}
        self._keys: dict[tuple[int, int], str] = {}  # (keycode, modifiers) -> name
        self._grabs: dict[str, list[tuple[int, int]]] = {}
        self._released: dict[int, int] = {}  # keycode -> time of its last release
        name = display if display is not None else os.environ.get("DISPLAY", "")
        screen = ctypes.c_int(0)
        self._conn: int | None = self._xcb.connect(name.encode() or None, ctypes.byref(screen))
        if not self._conn or self._xcb.has_error(self._conn):
            self._release_connection()
            raise HotkeyError(f"cannot connect to the X server {name or '(no DISPLAY)'}")
        iterator = self._xcb.roots(self._xcb.get_setup(self._conn))
        for _ in range(screen.value):
            self._xcb.screen_next(ctypes.byref(iterator))
        self._root = ctypes.c_uint32.from_address(iterator.data).value
        self._symbols = self._xcb.symbols_alloc(self._conn)
        self._notifier = QSocketNotifier(self._xcb.fd(self._conn), QSocketNotifier.Type.Read,
                                         self)
        self._notifier.activated.connect(self._drain)

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def grab(self, name: str, combo_text: str) -> str:
        """Grab ``combo_text`` as ``name``; "" when done, else why it could not be."""
        if self._conn is None:
            return "not connected to the X server"
        self.ungrab(name)
        try:
            combo = parse_combo(combo_text)
        except HotkeyError as exc:
            return str(exc)
        keycodes = self._keycodes(combo.keysym)
        if not keycodes:
            return f"{combo_text}: no key for it on this keyboard layout"
        done: list[tuple[int, int]] = []
        problem = ""
        for keycode in keycodes:
            for extra in IGNORED_MODIFIERS:
                modifiers = combo.modifiers | extra
                if (keycode, modifiers) in self._keys:
                    problem = f"{combo_text} is already a hotkey here"
                    break
                cookie = self._xcb.grab_key_checked(self._conn, 0, self._root, modifiers,
                                                    keycode, GRAB_MODE_ASYNC, GRAB_MODE_ASYNC)
                code = self._check(cookie)
                if code:
                    problem = (f"{combo_text} is taken by another application" if code ==
                               BAD_ACCESS else f"{combo_text}: X error {code}")
                    break
                done.append((keycode, modifiers))
                self._keys[(keycode, modifiers)] = name
            if problem:
                break
        self._grabs[name] = done
        if problem:
            self.ungrab(name)
            return problem
        self.grabbed[name] = combo_text
        # A checked request reads the socket; events read with it wait in xcb's queue.
        QTimer.singleShot(0, self, self._drain)
        return ""

    def ungrab(self, name: str) -> None:
        self.grabbed.pop(name, None)
        for keycode, modifiers in self._grabs.pop(name, []):
            self._keys.pop((keycode, modifiers), None)
            if self._conn is not None:
                self._xcb.ungrab_key(self._conn, keycode, self._root, modifiers)
        if self._conn is not None:
            self._xcb.flush(self._conn)

    def close(self) -> None:
        """Give every combination back and leave the X server."""
        for name in list(self._grabs):
            self.ungrab(name)
        self._notifier.setEnabled(False)
        self._release_connection()

    # -- internals ---------------------------------------------------------------------

    def _release_connection(self) -> None:
        if self._conn is not None:
            if getattr(self, "_symbols", None):
                self._xcb.symbols_free(self._symbols)
                self._symbols = None
            self._xcb.disconnect(self._conn)
        self._conn = None

    def _keycodes(self, keysym: int) -> list[int]:
        array = self._xcb.get_keycode(self._symbols, keysym)
        if not array:
            return []
        codes: list[int] = []
        index = 0
        while array[index]:
            codes.append(int(array[index]))
            index += 1
        self._xcb.free(ctypes.cast(array, ctypes.c_void_p))
        return codes

    def _check(self, cookie: _VoidCookie) -> int:
        error = self._xcb.request_check(self._conn, cookie)
        if not error:
            return 0
        code = ctypes.string_at(error, 2)[1]
        self._xcb.free(error)
        return code

    def _drain(self) -> None:
        if self._conn is None:
            return
        if self._xcb.has_error(self._conn):
            log.warning("lost the X server connection: desktop-wide hotkeys are off")
            self._notifier.setEnabled(False)
            self._keys.clear()
            self._grabs.clear()
            self.grabbed.clear()
            self._release_connection()
            return
        while self._conn is not None:
            event = self._xcb.poll_for_event(self._conn)
            if not event:
                break
            data = ctypes.string_at(event, 32)
            self._xcb.free(event)
            self._on_event(data)

    def _on_event(self, data: bytes) -> None:
        kind, keycode = data[0] & 0x7F, data[1]
        if kind not in (KEY_PRESS, KEY_RELEASE):
            return
        time = int.from_bytes(data[4:8], sys.byteorder)
        if kind == KEY_RELEASE:
            self._released[keycode] = time
            return
        if self._released.get(keycode) == time:
            return  # auto-repeat: a release and a press at the same instant
        state = int.from_bytes(data[28:30], sys.byteorder) & ~(LOCK | MOD2)
        name = self._keys.get((keycode, state))
        if name is not None:
            self.activated.emit(name)
