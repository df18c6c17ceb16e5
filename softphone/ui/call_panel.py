"""The call list and the actions on the selected call."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QItemSelection, QModelIndex, QPoint, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QMenu,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from softphone.core.calls import CallSnapshot
from softphone.core.errors import SoftphoneError
from softphone.ui.call_actions import actions_for
from softphone.ui.call_model import CallTableModel, Column

if TYPE_CHECKING:
    from softphone.sip.calls import CallManager

# Chosen to survive a focused QLineEdit: on X11 it takes Ctrl+E (end of line),
# Ctrl+D (delete) and Ctrl+Backspace for itself, so those cannot be call keys.
ANSWER_KEYS = ("Ctrl+Return", "Ctrl+Enter")
REJECT_KEYS = ("Ctrl+Shift+D",)
HANGUP_KEYS = ("Ctrl+Shift+H",)
HOLD_KEYS = ("Ctrl+H",)
MUTE_KEYS = ("Ctrl+M",)
TRANSFER_KEYS = ("Ctrl+T",)


def _native(keys: tuple[str, ...]) -> str:
    return QKeySequence(keys[0]).toString(QKeySequence.SequenceFormat.NativeText)


class CallPanel(QWidget):
    """A table of calls (model/view) and Answer/Reject/Hang up/Hold/Mute, plus
    Transfer where Session Transfer is enabled.

    The actions act on the selected call and are enabled only when they make
    sense for its state; they carry the keyboard shortcuts, so the window adds
    them to itself and to its menu. They are offered as buttons under the list
    and as the list's context menu (which first selects the row clicked).

    Signals:
        error(str): an engine operation failed; the message is for the agent.
        incoming(str): call id of a new inbound call (already selected).
        selection_changed(): the selected call or its state changed.
        transfer_requested(str): Transfer was chosen for this call (selected);
            the window opens the Session Transfer screen for it.

    Attributes:
        model: the :class:`CallTableModel`.
        view: its QTableView.
        answer_action / reject_action / hangup_action / hold_action / mute_action:
            the per-call actions (hold and mute are checkable toggles).
        transfer_action: Transfer for the selected call; None when Session
            Transfer is switched off.
    """

    error = Signal(str)
    incoming = Signal(str)
    selection_changed = Signal()
    transfer_requested = Signal(str)

    def __init__(self, calls: CallManager, parent: QWidget | None = None,
                 model: CallTableModel | None = None, *, transfer: bool = False) -> None:
        super().__init__(parent)
        self._calls = calls
        self._engine_running = True
        self.model = model if model is not None else CallTableModel(self)
        self.view = QTableView(self)
        self.view.setModel(self.model)
        self.view.setAccessibleName("Calls")
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.view.setWordWrap(False)
        self.view.verticalHeader().hide()
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(Column.REMOTE, QHeaderView.ResizeMode.Stretch)
        for column in (Column.STATE, Column.DURATION, Column.FLAGS):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)

        self.answer_action = self._action("&Answer", ANSWER_KEYS, self._answer)
        self.reject_action = self._action("&Reject", REJECT_KEYS, self._reject)
        self.hangup_action = self._action("&Hang up", HANGUP_KEYS, self._hangup)
        self.hold_action = self._action("H&old", HOLD_KEYS, self._toggle_hold, checkable=True)
        self.mute_action = self._action("&Mute", MUTE_KEYS, self._toggle_mute, checkable=True)
        self.transfer_action: QAction | None = None
        if transfer:
            self.transfer_action = self._action("&Transfer\u2026", TRANSFER_KEYS,
                                                self._request_transfer)
            self.transfer_action.setToolTip(
                f"Transfer this call on the Session Transfer screen ({_native(TRANSFER_KEYS)})")
        self.buttons: dict[str, QToolButton] = {}
        buttons = QHBoxLayout()
        for action in self.call_actions():
            button = QToolButton(self)
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            name = action.text().replace("&", "").rstrip("\u2026")
            button.setAccessibleName(name)
            buttons.addWidget(button)
            self.buttons[name] = button
        buttons.addStretch(1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addLayout(buttons)

        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._on_context_menu)

        self.model.reset(calls.snapshots())
        calls.call_changed.connect(self._on_call_changed)
        calls.incoming_call.connect(self._on_incoming)
        self.view.selectionModel().selectionChanged.connect(self._on_selection)
        self.model.rowsRemoved.connect(self._on_rows_removed)
        self.model.dataChanged.connect(self._on_data_changed)
        self.refresh_actions()

    def _action(self, text: str, keys: tuple[str, ...], slot: Callable[[], None],
                checkable: bool = False) -> QAction:
        action = QAction(text, self)
        action.setShortcuts([QKeySequence(k) for k in keys])
        action.setCheckable(checkable)
        action.setToolTip(f"{text.replace('&', '')} ({_native(keys)})")
        # triggered, not toggled: refresh_actions sets the check state silently.
        action.triggered.connect(lambda _checked=False: slot())
        return action

    def call_actions(self) -> list[QAction]:
        actions = [self.answer_action, self.reject_action, self.hangup_action,
                   self.hold_action, self.mute_action]
        return actions + ([self.transfer_action] if self.transfer_action is not None else [])

    # -- context menu ---------------------------------------------------------------

    def context_menu(self, row: int) -> QMenu | None:
        """The per-call menu for ``row`` (selected first), or None for no call there."""
        call_id = self.model.call_id_at(row)
        if call_id is None:
            return None
        self.select_call(call_id)
        menu = QMenu(self)
        menu.setAccessibleName("Call actions")
        for action in self.call_actions():
            menu.addAction(action)
        return menu

    def _on_context_menu(self, pos: QPoint) -> None:
        menu = self.context_menu(self.view.indexAt(pos).row())
        if menu is not None:
            menu.exec(self.view.viewport().mapToGlobal(pos))
            menu.deleteLater()

    # -- selection ------------------------------------------------------------------

    def selected_call_id(self) -> str | None:
        rows = self.view.selectionModel().selectedRows()
        return self.model.call_id_at(rows[0].row()) if rows else None

    def selected_snapshot(self) -> CallSnapshot | None:
        call_id = self.selected_call_id()
        return None if call_id is None else self.model.snapshot(call_id)

    def select_call(self, call_id: str) -> None:
        row = self.model.row_of(call_id)
        if row >= 0:
            self.view.selectRow(row)
            self.view.scrollTo(self.model.index(row, 0))

    def _on_selection(self, selected: QItemSelection, deselected: QItemSelection) -> None:
        self.refresh_actions()

    def _on_rows_removed(self, parent: QModelIndex, first: int, last: int) -> None:
        # Never leave the agent with no call selected while calls remain.
        if self.selected_call_id() is None and self.model.rowCount() > 0:
            self.view.selectRow(min(first, self.model.rowCount() - 1))
        self.refresh_actions()

    def _on_data_changed(self, top_left: QModelIndex, bottom_right: QModelIndex,
                         roles: list[int]) -> None:
        # The 1 s duration tick changes nothing an action depends on.
        if top_left.column() == bottom_right.column() == Column.DURATION:
            return
        self.refresh_actions()

    def engine_stopped(self) -> None:
        """Disable every action for good: the engine behind them is gone."""
        self._engine_running = False
        self.refresh_actions()

    def refresh_actions(self) -> None:
        snap = self.selected_snapshot() if self._engine_running else None
        state = actions_for(snap)
        self.answer_action.setEnabled(state.answer)
        self.reject_action.setEnabled(state.reject)
        self.hangup_action.setEnabled(state.hangup)
        self.hold_action.setEnabled(state.hold)
        self.hold_action.setChecked(state.held)
        self.hold_action.setText("Res&ume" if state.held else "H&old")
        self.mute_action.setEnabled(state.mute)
        self.mute_action.setChecked(state.muted)
        if self.transfer_action is not None:
            self.transfer_action.setEnabled(state.transfer)
        self.selection_changed.emit()

    # -- engine signals -------------------------------------------------------------

    def _on_call_changed(self, snap: CallSnapshot) -> None:
        known = self.model.row_of(snap.call_id) >= 0
        self.model.upsert(snap)
        if not known and self.selected_call_id() is None:
            self.select_call(snap.call_id)

    def _on_incoming(self, snap: CallSnapshot) -> None:
        self.model.upsert(snap)
        self.select_call(snap.call_id)
        self.incoming.emit(snap.call_id)

    # -- operations -----------------------------------------------------------------

    def run(self, operation: Callable[[str], object]) -> bool:
        """Apply ``operation`` to the selected call; report an engine error."""
        call_id = self.selected_call_id()
        if call_id is None:
            return False
        try:
            operation(call_id)
        except SoftphoneError as exc:
            self.error.emit(str(exc))
            self.refresh_actions()
            return False
        return True

    def _answer(self) -> None:
        self.run(self._calls.answer)

    def _reject(self) -> None:
        self.run(self._calls.reject)

    def _hangup(self) -> None:
        self.run(self._calls.hangup)

    def _toggle_hold(self) -> None:
        snap = self.selected_snapshot()
        if snap is not None and actions_for(snap).held:
            self.run(self._calls.resume)
        else:
            self.run(self._calls.hold)

    def _toggle_mute(self) -> None:
        snap = self.selected_snapshot()
        muted = snap is not None and snap.muted
        self.run(lambda call_id: self._calls.set_mute(call_id, not muted))

    def _request_transfer(self) -> None:
        call_id = self.selected_call_id()
        if call_id is not None and actions_for(self.selected_snapshot()).transfer:
            self.transfer_requested.emit(call_id)

    def send_dtmf(self, digit: str) -> bool:
        """Send ``digit`` to the selected call if it is up; False if there is none."""
        if not self._engine_running or not actions_for(self.selected_snapshot()).dtmf:
            return False
        # Consumed even when sending fails: a digit meant for an IVR must not
        # end up in the number entry.
        self.run(lambda call_id: self._calls.send_dtmf(call_id, digit))
        return True
