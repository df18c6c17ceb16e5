"""The agent's main window: accounts, number entry and dialpad, call list."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QGroupBox,
    QHBoxLayout,
    QMainWindow,
    QVBoxLayout,
    QWidget,
)

from softphone import APP_NAME
from softphone.core.calls import CallSnapshot, CallState
from softphone.core.errors import SoftphoneError
from softphone.ui.accounts_panel import AccountsPanel
from softphone.ui.call_model import remote_party
from softphone.ui.call_panel import CallPanel
from softphone.ui.dialer import Dialer
from softphone.ui.dialpad import Dialpad
from softphone.ui.text import one_line

if TYPE_CHECKING:
    from softphone.sip.engine import SipEngine

ERROR_TIMEOUT_MS = 15000
INFO_TIMEOUT_MS = 5000


class MainWindow(QMainWindow):
    """Accounts and registration on top, dialer and call list below.

    Signals:
        closed(): the agent closed the window (the app quits on it for now;
            a tray icon will change that later).

    Attributes:
        engine: the running :class:`SipEngine` (its Python API and signals only).
        accounts_panel: registration status, local URI, audio mode.
        dialer: number entry, Call button, inline error.
        dialpad: the 12 keys (typing when idle, DTMF in a call).
        call_panel: call list and per-call actions.
        quit_action: File > Quit (closes the window).
        settings_action: File > Settings (emits settings_requested).
    """

    closed = Signal()
    settings_requested = Signal()

    def __init__(self, engine: SipEngine, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.setWindowTitle(APP_NAME)
        self.setAccessibleName(f"{APP_NAME} main window")

        self.accounts_panel = AccountsPanel(engine.accounts, engine.audio_mode, self)
        self.dialer = Dialer(self)
        self.dialpad = Dialpad(self)
        self.call_panel = CallPanel(engine.calls, self)

        self._build_layout()
        self._build_menus()
        self.statusBar().setAccessibleName("Status")

        self.dialer.call_requested.connect(self.place_call)
        self.dialpad.digit_pressed.connect(self._on_digit)
        self.call_panel.error.connect(self.show_error)
        self.call_panel.incoming.connect(self._on_incoming)
        engine.calls.call_state.connect(self._on_call_state)
        engine.stopped.connect(self._on_engine_stopped)
        self.resize(640, 560)
        self.dialer.entry.setFocus()

    def _build_layout(self) -> None:
        accounts_box = QGroupBox("Accounts", self)
        accounts_box.setAccessibleName("Accounts")
        box_layout = QVBoxLayout(accounts_box)
        box_layout.addWidget(self.accounts_panel)

        dial_column = QVBoxLayout()
        dial_column.addWidget(self.dialer)
        dial_column.addWidget(self.dialpad)
        dial_column.addStretch(1)
        calls_row = QHBoxLayout()
        calls_row.addLayout(dial_column)
        calls_row.addWidget(self.call_panel, 1)

        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.addWidget(accounts_box)
        layout.addLayout(calls_row, 1)
        self.setCentralWidget(central)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.settings_action = QAction("&Settings\u2026", self)
        self.settings_action.setShortcut(QKeySequence.StandardKey.Preferences)
        self.settings_action.triggered.connect(self.settings_requested)
        file_menu.addAction(self.settings_action)
        file_menu.addSeparator()
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        self.quit_action.triggered.connect(self.close)
        file_menu.addAction(self.quit_action)

        call_menu = self.menuBar().addMenu("&Call")
        focus_entry = QAction("&Dial\u2026", self)
        focus_entry.setShortcut(QKeySequence("Ctrl+L"))
        focus_entry.triggered.connect(self._focus_entry)
        call_menu.addAction(focus_entry)
        call_menu.addSeparator()
        for action in self.call_panel.call_actions():
            # Window-wide shortcuts: they work wherever the focus is.
            self.addAction(action)
            call_menu.addAction(action)

    # -- operations -----------------------------------------------------------------

    def place_call(self, target: str) -> str | None:
        """Call ``target`` (as typed); on error say why and return None."""
        try:
            call_id = self.engine.calls.make_call(target)
        except SoftphoneError as exc:
            self.dialer.show_error(str(exc))
            self.show_error(str(exc))
            return None
        self.dialer.clear()
        self.call_panel.select_call(call_id)
        snap = self.call_panel.model.snapshot(call_id)
        shown = remote_party(snap) if snap is not None else one_line(target)
        self.statusBar().showMessage(f"Calling {shown}", INFO_TIMEOUT_MS)
        return call_id

    def show_error(self, message: str) -> None:
        # QStatusBar draws its message as plain text.
        self.statusBar().showMessage(one_line(message, 300), ERROR_TIMEOUT_MS)

    def _on_digit(self, digit: str) -> None:
        if not self.call_panel.send_dtmf(digit):
            self.dialer.type_digit(digit)

    def _focus_entry(self) -> None:
        self.dialer.entry.setFocus()
        self.dialer.entry.selectAll()

    # -- engine signals -------------------------------------------------------------

    def _on_incoming(self, call_id: str) -> None:
        snap = self.call_panel.model.snapshot(call_id)
        who = remote_party(snap) if snap is not None else "unknown caller"
        self.statusBar().showMessage(f"Incoming call from {who}")
        if self.isMinimized():
            self.showNormal()
        self.raise_()
        # Flashes the task bar entry instead of stealing focus mid-typing.
        QApplication.alert(self)

    def _on_call_state(self, snap: CallSnapshot) -> None:
        if snap.state == CallState.CONFIRMED:
            self.statusBar().showMessage(f"Connected to {remote_party(snap)}", INFO_TIMEOUT_MS)
        elif snap.state == CallState.DISCONNECTED:
            self.statusBar().showMessage(f"Call with {remote_party(snap)} ended", INFO_TIMEOUT_MS)

    def _on_engine_stopped(self) -> None:
        # After libDestroy any call into the engine would touch freed memory.
        self.call_panel.engine_stopped()
        for widget in (self.dialer, self.dialpad):
            widget.setEnabled(False)
        self.statusBar().showMessage("SIP engine stopped")

    def closeEvent(self, event: QCloseEvent) -> None:
        super().closeEvent(event)
        if event.isAccepted():
            self.closed.emit()
