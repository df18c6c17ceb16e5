"""The agent's main window: state, accounts, dialer, calls, screen pop, transfers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QByteArray, QModelIndex, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCompleter,
    QGroupBox,
    QHeaderView,
    QMainWindow,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from softphone import APP_NAME
from softphone.config.schema import DialPlan
from softphone.core.calls import CallSnapshot, CallState
from softphone.core.errors import SoftphoneError
from softphone.ui.accounts_panel import AccountsPanel
from softphone.ui.agent_state_widget import AgentStateWidget
from softphone.ui.call_model import remote_party
from softphone.ui.call_panel import CallPanel
from softphone.ui.dialer import Dialer
from softphone.ui.dialpad import Dialpad
from softphone.ui.history import CallHistory, HistoryModel
from softphone.ui.screen_pop_panel import ScreenPopPanel
from softphone.ui.text import one_line
from softphone.ui.transfer_screen import TransferScreen
from softphone.ui.tray import Tray
from softphone.ui.x11_hotkeys import HotkeyError, X11Hotkeys
from softphone.ui.x11_hotkeys import supported as desktop_hotkeys_supported

if TYPE_CHECKING:
    from softphone.sip.engine import SipEngine

ERROR_TIMEOUT_MS = 15000
INFO_TIMEOUT_MS = 5000
UiState = dict[str, Any]
# Desktop-wide hotkeys (X11, off by default): distinct from the in-app
# shortcuts, which other applications use for their own things.
DESKTOP_HOTKEYS = {
    "answer": "Ctrl+Alt+Shift+A",
    "hangup": "Ctrl+Alt+Shift+H",
    "hold": "Ctrl+Alt+Shift+O",
    "transfer": "Ctrl+Alt+Shift+T",
}


@dataclass(frozen=True)
class UiFeatures:
    """IT's switches that change what the window shows.

    Attributes:
        session_transfer: show the Session Transfer screen (off: hidden entirely).
        four_way_conference: the transfer screen offers Call for a fourth party.
    """

    session_transfer: bool = True
    four_way_conference: bool = False

    @classmethod
    def from_engine(cls, engine: SipEngine) -> UiFeatures:
        transfers = getattr(engine, "transfers", None)
        conference = getattr(engine, "conference", None)
        return cls(session_transfer=transfers is not None and bool(transfers.policy.enabled),
                   four_way_conference=conference is not None and bool(conference.enabled))


class MainWindow(QMainWindow):
    """Agent state on top; dialer, calls/history and screen pop; Session Transfer.

    Signals:
        closed(): the agent closed the window (the app quits on it).
        settings_requested(): File > Settings was chosen.

    Attributes:
        engine: the running :class:`SipEngine` (its Python API and signals only).
        agent_widget: state selector and timer (None when the engine has no agent).
        accounts_panel: registration status, local URI, audio mode.
        dialer / dialpad: number entry (with history completion) and the 12 keys.
        call_panel: call list and per-call actions.
        pop_panel: the selected call's screen pop.
        history_model / history_view: past calls (SQLite).
        transfer_screen: the Session Transfer screen, None when switched off.
        tray: the tray icon, or None.
        transfer_action: Transfer for the selected call (Ctrl+T, in the call
            panel, its context menu and the Call menu): opens the Session
            Transfer screen for it; None when Session Transfer is switched off.
        quit_action / settings_action: File menu entries.
        desktop_hotkeys_action: Call > Desktop-wide hotkeys (checkable; off by
            default, remembered as ``global_hotkeys``); enabled on X11 only.
        desktop_hotkeys: the grabbed :data:`DESKTOP_HOTKEYS` while switched on.
        ui_state: remembered panel state (saved through ``save_ui_state``).
    """

    closed = Signal()
    settings_requested = Signal()

    def __init__(self, engine: SipEngine, parent: QWidget | None = None, *,
                 features: UiFeatures | None = None, dial_plan: DialPlan | None = None,
                 crm_template: str = "", ui_state: UiState | None = None,
                 save_ui_state: Callable[[UiState], None] | None = None,
                 history_path: Path | None = None, tray: bool = True,
                 hotkey_display: str | None = None) -> None:
        """``hotkey_display``: the X display for desktop-wide hotkeys, which
        offers them even where Qt itself does not run on X11 (tests)."""
        super().__init__(parent)
        self.engine = engine
        self.ui_state: UiState = dict(ui_state or {})
        self._save_ui_state = save_ui_state
        features = features or UiFeatures.from_engine(engine)
        self.setWindowTitle(APP_NAME)
        self.setAccessibleName(f"{APP_NAME} main window")

        agent = getattr(engine, "agent", None)
        self.agent_widget = AgentStateWidget(agent, self) if agent is not None else None
        self.accounts_panel = AccountsPanel(engine.accounts, engine.audio_mode, self)
        self.dialer = Dialer(self)
        self.dialpad = Dialpad(self)
        transfers_on = features.session_transfer and hasattr(engine, "transfers")
        self.call_panel = CallPanel(engine.calls, self, transfer=transfers_on)
        self.pop_panel = ScreenPopPanel(engine.calls, crm_template=crm_template,
                                        auto_open=bool(self.ui_state.get("crm_auto_open")),
                                        parent=self)
        self.history_model = HistoryModel(CallHistory(history_path), engine.calls, self)
        self.history_view = self._history_view()
        completer = QCompleter(self.history_model.completions, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.dialer.entry.setCompleter(completer)
        self.transfer_screen: TransferScreen | None = None
        if transfers_on:
            self.transfer_screen = TransferScreen(
                engine, selected_call=self.call_panel.selected_call_id, dial_plan=dial_plan,
                four_way=features.four_way_conference,
                expanded=self.ui_state.get("sections_expanded"), parent=self)
            self.transfer_screen.sections_changed.connect(self._sections_changed)
            self.transfer_screen.error.connect(self.show_error)

        self._build_layout()
        self._hotkey_display = hotkey_display
        self._build_menus()
        self.statusBar().setAccessibleName("Status")
        self.tray = Tray(engine, self) if tray else None
        if self.tray is not None:
            self.tray.show_requested.connect(self.bring_to_front)
            self.tray.quit_requested.connect(self.close)

        self.dialer.call_requested.connect(self.place_call)
        self.dialpad.digit_pressed.connect(self._on_digit)
        self.call_panel.error.connect(self.show_error)
        self.call_panel.incoming.connect(self._on_incoming)
        self.call_panel.selection_changed.connect(self._on_selection)
        self.call_panel.transfer_requested.connect(self.transfer_call)
        self.pop_panel.error.connect(self.show_error)
        self.pop_panel.auto_open_changed.connect(
            lambda on: self.update_ui_state(crm_auto_open=bool(on)))
        if self.agent_widget is not None:
            self.agent_widget.error.connect(self.show_error)
        engine.calls.call_state.connect(self._on_call_state)
        engine.stopped.connect(self._on_engine_stopped)
        self.resize(1180, 720)
        geometry = self.ui_state.get("window_geometry")
        if isinstance(geometry, str) and geometry:
            self.restoreGeometry(QByteArray.fromBase64(geometry.encode("ascii")))
        self.desktop_hotkeys: X11Hotkeys | None = None
        if self.ui_state.get("global_hotkeys") and self.desktop_hotkeys_action.isEnabled():
            self.set_desktop_hotkeys(True, remember=False)
        self.dialer.entry.setFocus()

    def _history_view(self) -> QTableView:
        view = QTableView(self)
        view.setModel(self.history_model)
        view.setAccessibleName("Call history")
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        view.setWordWrap(False)
        view.verticalHeader().hide()
        header = view.horizontalHeader()
        for column in range(self.history_model.columnCount()):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch if column == 2
                                        else QHeaderView.ResizeMode.ResizeToContents)
        view.setToolTip("Double-click a call to dial it again")
        view.doubleClicked.connect(self._redial_from_history)
        return view

    def _build_layout(self) -> None:
        accounts_box = _box("Accounts", self.accounts_panel, self)
        dial_box = QWidget(self)
        dial_column = QVBoxLayout(dial_box)
        dial_column.setContentsMargins(0, 0, 0, 0)
        dial_column.addWidget(self.dialer)
        dial_column.addWidget(self.dialpad)
        dial_column.addStretch(1)
        dial_box.setMaximumWidth(280)

        self.tabs = QTabWidget(self)
        self.tabs.setAccessibleName("Calls and history")
        self.tabs.addTab(self.call_panel, "&Calls")
        self.tabs.addTab(self.history_view, "Histor&y")
        centre = QSplitter(Qt.Orientation.Vertical, self)
        centre.addWidget(self.tabs)
        centre.addWidget(_box("Screen pop", self.pop_panel, self))
        centre.setStretchFactor(0, 1)
        centre.setChildrenCollapsible(False)

        main = QSplitter(Qt.Orientation.Horizontal, self)
        main.addWidget(dial_box)
        main.addWidget(centre)
        if self.transfer_screen is not None:
            main.addWidget(_box("Session Transfer", self.transfer_screen, self))
            main.setSizes([230, 560, 470])
        main.setStretchFactor(1, 1)
        main.setChildrenCollapsible(False)

        central = QWidget(self)
        layout = QVBoxLayout(central)
        if self.agent_widget is not None:
            layout.addWidget(self.agent_widget)
        layout.addWidget(accounts_box)
        layout.addWidget(main, 1)
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
        panel = self.call_panel
        self.transfer_action = panel.transfer_action
        global_actions = (panel.answer_action, panel.hangup_action, panel.hold_action,
                          self.transfer_action)
        for action in panel.call_actions():
            # Window-wide shortcuts; answer, hang up, hold and transfer work in
            # every window of the app (dialogs included).
            if action in global_actions:
                action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
            self.addAction(action)
            call_menu.addAction(action)
        call_menu.addSeparator()
        self.desktop_hotkeys_action = QAction("Desktop-wide &hotkeys", self)
        self.desktop_hotkeys_action.setCheckable(True)
        offered = desktop_hotkeys_supported() or self._hotkey_display is not None
        self.desktop_hotkeys_action.setEnabled(offered)
        keys = ", ".join(f"{name.replace('hangup', 'hang up')} {combo}"
                         for name, combo in DESKTOP_HOTKEYS.items())
        self.desktop_hotkeys_action.setToolTip(
            f"Work from any application: {keys}" if offered
            else "Only on an X11 desktop (Wayland gives applications no desktop-wide keys)")
        self.desktop_hotkeys_action.triggered.connect(
            lambda checked: self.set_desktop_hotkeys(bool(checked)))
        call_menu.addAction(self.desktop_hotkeys_action)

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

    def transfer_call(self, call_id: str) -> bool:
        """Select ``call_id`` and open the Session Transfer screen for it."""
        if self.transfer_screen is None or self.call_panel.model.row_of(call_id) < 0:
            return False
        self.call_panel.select_call(call_id)
        self.focus_transfer()
        snap = self.call_panel.model.snapshot(call_id)
        if snap is not None:
            self.statusBar().showMessage(
                f"Transfer {remote_party(snap)}: choose or enter a target", INFO_TIMEOUT_MS)
        return True

    def focus_transfer(self) -> None:
        if self.transfer_screen is not None:
            self.bring_to_front()
            self.transfer_screen.manual_entry.setFocus()

    def set_desktop_hotkeys(self, on: bool, *, remember: bool = True) -> list[str]:
        """Grab (or give back) :data:`DESKTOP_HOTKEYS`; the problems, in words."""
        problems: list[str] = []
        if self.desktop_hotkeys is not None:
            self.desktop_hotkeys.close()
            self.desktop_hotkeys = None
        if on:
            try:
                hotkeys = X11Hotkeys(self._hotkey_display, self)
            except HotkeyError as exc:
                problems.append(str(exc))
            else:
                for name, combo in DESKTOP_HOTKEYS.items():
                    if self._hotkey_action(name) is None:
                        continue  # transfer, with Session Transfer switched off
                    problem = hotkeys.grab(name, combo)
                    if problem:
                        problems.append(problem)
                if hotkeys.grabbed:
                    hotkeys.activated.connect(self._on_desktop_hotkey)
                    self.desktop_hotkeys = hotkeys
                else:
                    hotkeys.close()
        active = self.desktop_hotkeys is not None
        self.desktop_hotkeys_action.setChecked(active)
        if problems:
            self.show_error("Desktop-wide hotkeys: " + "; ".join(problems))
        elif active:
            self.statusBar().showMessage("Desktop-wide hotkeys are on", INFO_TIMEOUT_MS)
        if remember and bool(self.ui_state.get("global_hotkeys")) != active:
            self.update_ui_state(global_hotkeys=active)
        return problems

    def _hotkey_action(self, name: str) -> QAction | None:
        panel = self.call_panel
        return {"answer": panel.answer_action, "hangup": panel.hangup_action,
                "hold": panel.hold_action, "transfer": panel.transfer_action}.get(name)

    def _on_desktop_hotkey(self, name: str) -> None:
        action = self._hotkey_action(name)
        if action is not None and action.isEnabled():
            action.trigger()

    def bring_to_front(self) -> None:
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()

    def update_ui_state(self, **changes: Any) -> None:
        """Remember ``changes`` in the UI state and save it (settings file)."""
        self.ui_state.update(changes)
        if self._save_ui_state is not None:
            try:
                self._save_ui_state(dict(self.ui_state))
            except OSError as exc:
                self.show_error(f"Could not save the window state: {exc}")

    def _sections_changed(self, sections: dict[str, bool]) -> None:
        self.update_ui_state(sections_expanded=dict(sections))

    def _on_digit(self, digit: str) -> None:
        if not self.call_panel.send_dtmf(digit):
            self.dialer.type_digit(digit)

    def _focus_entry(self) -> None:
        self.dialer.entry.setFocus()
        self.dialer.entry.selectAll()

    def _redial_from_history(self, index: QModelIndex) -> None:
        entry = self.history_model.entry(index.row())
        if entry is not None:
            self.dialer.entry.setText(entry.uri)
            self._focus_entry()

    # -- engine signals -------------------------------------------------------------

    def _on_selection(self) -> None:
        self.pop_panel.show_call(self.call_panel.selected_snapshot())
        if self.transfer_screen is not None:
            self.transfer_screen.refresh()

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
        for widget in (self.dialer, self.dialpad, self.pop_panel, self.transfer_screen,
                       self.agent_widget):
            if widget is not None:
                widget.setEnabled(False)
        self.statusBar().showMessage("SIP engine stopped")

    def closeEvent(self, event: QCloseEvent) -> None:
        super().closeEvent(event)
        if event.isAccepted():
            geometry = bytes(self.saveGeometry().toBase64().data()).decode("ascii")
            if self.ui_state.get("window_geometry") != geometry:
                self.update_ui_state(window_geometry=geometry)
            if self.tray is not None:
                self.tray.icon.hide()
            if self.desktop_hotkeys is not None:
                self.desktop_hotkeys.close()
                self.desktop_hotkeys = None
            self.closed.emit()


def _box(title: str, widget: QWidget, parent: QWidget) -> QGroupBox:
    box = QGroupBox(title, parent)
    box.setAccessibleName(title)
    layout = QVBoxLayout(box)
    layout.addWidget(widget)
    return box
