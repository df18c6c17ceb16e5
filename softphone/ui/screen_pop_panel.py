"""The screen pop of the selected call: caller, number, every field, notes, CRM.

Every value came over the network (or from an API client) and is shown as
plain, one-line, elided text; notes are edited in a plain-text box and saved
onto the call (they travel with a transfer). The CRM link is the provisioning
template filled with percent-encoded values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from softphone.config.dialplan import fill_crm_url
from softphone.core.calls import CallDirection, CallSnapshot, CallState
from softphone.core.errors import SoftphoneError
from softphone.core.screen_pop import MAX_VALUE, ScreenPop
from softphone.ui.labels import ElidedLabel
from softphone.ui.text import one_line

if TYPE_CHECKING:
    from softphone.sip.calls import CallManager

# Shown on their own rows (in this order); notes are editable below.
_OWN_ROWS = ("name", "number", "notes")


def field_title(key: str) -> str:
    """``case_id`` -> ``Case id``."""
    return key.replace("_", " ").capitalize()


class ScreenPopPanel(QWidget):
    """Caller, number and attached data of one call, with notes and the CRM link.

    Signals:
        error(str): saving notes or opening the CRM failed; for the agent.
        auto_open_changed(bool): the agent toggled "open automatically on answer".

    Attributes:
        call_id: the call shown, or None.
        caller_label / number_label: the caller's name and number.
        field_labels: other field key -> its value label (rebuilt per call).
        notes_edit / save_notes_button: the agent's notes and saving them.
        crm_button: opens the CRM page of the call.
        auto_open_check: open the CRM page automatically when a call is answered.
        opened_urls: every CRM URL this panel opened (newest last).
    """

    error = Signal(str)
    auto_open_changed = Signal(bool)

    def __init__(self, calls: CallManager, *, crm_template: str = "", auto_open: bool = False,
                 open_url: Callable[[QUrl], bool] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Screen pop")
        self._calls = calls
        self._template = crm_template
        self._open_url = open_url or QDesktopServices.openUrl
        self._pop: dict[str, str] = {}
        self._auto_opened: set[str] = set()
        self.call_id: str | None = None
        self.opened_urls: list[str] = []
        self.field_labels: dict[str, ElidedLabel] = {}

        self.caller_label = ElidedLabel("", self, Qt.TextElideMode.ElideRight)
        self.caller_label.setAccessibleName("Caller")
        font = self.caller_label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.caller_label.setFont(font)
        self.number_label = ElidedLabel("", self)
        self.number_label.setAccessibleName("Caller number")
        self.number_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.empty_label = _plain_label("No call selected.", self)
        self.empty_label.setAccessibleName("No screen pop")
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.addRow(_plain_label("Caller:", self), self.caller_label)
        self.form.addRow(_plain_label("Number:", self), self.number_label)
        self.fields_form = QFormLayout()
        self.fields_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)

        self.notes_edit = QPlainTextEdit(self)
        self.notes_edit.setAccessibleName("Notes")
        self.notes_edit.setPlaceholderText("Notes for this call (travel with a transfer)")
        self.notes_edit.setTabChangesFocus(True)
        self.notes_edit.setMaximumHeight(70)
        self.save_notes_button = QPushButton("Save &notes", self)
        self.save_notes_button.setAccessibleName("Save notes")
        self.save_notes_button.setAutoDefault(False)
        self.crm_button = QPushButton("Open C&RM", self)
        self.crm_button.setAccessibleName("Open CRM")
        self.crm_button.setAutoDefault(False)
        self.auto_open_check = QCheckBox("Open automatically on answer", self)
        self.auto_open_check.setAccessibleName("Open CRM automatically on answer")
        self.auto_open_check.setChecked(auto_open)
        if not crm_template:
            self.crm_button.setToolTip("No CRM address is configured")
            self.auto_open_check.setEnabled(False)

        buttons = QHBoxLayout()
        buttons.addWidget(self.save_notes_button)
        buttons.addStretch(1)
        buttons.addWidget(self.auto_open_check)
        buttons.addWidget(self.crm_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.empty_label)
        layout.addLayout(self.form)
        layout.addLayout(self.fields_form)
        layout.addWidget(self.notes_edit)
        layout.addLayout(buttons)

        self.save_notes_button.clicked.connect(self.save_notes)
        self.crm_button.clicked.connect(self.open_crm)
        self.auto_open_check.toggled.connect(self.auto_open_changed)
        self.notes_edit.textChanged.connect(self._refresh_buttons)
        calls.call_changed.connect(self._on_call_changed)
        calls.call_state.connect(self._on_call_state)
        self.show_call(None)

    # -- showing ------------------------------------------------------------------------

    def show_call(self, snap: CallSnapshot | None) -> None:
        """Show ``snap``'s screen pop (None: nothing selected)."""
        same = snap is not None and snap.call_id == self.call_id
        self.call_id = snap.call_id if snap is not None else None
        self._pop = dict(snap.pop) if snap is not None else {}
        self.empty_label.setVisible(snap is None)
        name = self._pop.get("name", "") or (snap.remote_name if snap is not None else "")
        self.caller_label.set_full_text(name or ("Unknown caller" if snap is not None else ""))
        self.number_label.set_full_text(self._pop.get("number", ""))
        self._rebuild_fields()
        # Keep what the agent is typing when the same call changes underneath.
        if not (same and self.notes_edit.document().isModified()):
            self.notes_edit.setPlainText(self._pop.get("notes", ""))
            self.notes_edit.document().setModified(False)
        self.notes_edit.setEnabled(snap is not None and snap.state != CallState.DISCONNECTED)
        self._refresh_buttons()

    def _rebuild_fields(self) -> None:
        while self.fields_form.rowCount():
            self.fields_form.removeRow(0)
        self.field_labels = {}
        for key, value in self._pop.items():
            if key in _OWN_ROWS:
                continue
            label = ElidedLabel(value, self)
            label.setAccessibleName(field_title(key))
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.fields_form.addRow(_plain_label(f"{field_title(key)}:", self), label)
            self.field_labels[key] = label

    def _refresh_buttons(self) -> None:
        has_call = self.call_id is not None
        self.crm_button.setEnabled(has_call and bool(self._template))
        self.save_notes_button.setEnabled(
            has_call and self.notes_edit.isEnabled()
            and self.notes_edit.toPlainText() != self._pop.get("notes", ""))

    def _on_call_changed(self, snap: CallSnapshot) -> None:
        if snap.call_id == self.call_id:
            self.show_call(snap)

    # -- notes ----------------------------------------------------------------------------

    def save_notes(self) -> bool:
        if self.call_id is None:
            return False
        text = self.notes_edit.toPlainText()
        if len(text) > MAX_VALUE:
            self.error.emit(f"Notes are limited to {MAX_VALUE} characters ({len(text)} typed).")
            return False
        try:
            pop = ScreenPop(dict(self._pop)).merged({"notes": text})
            self._calls.set_pop(self.call_id, pop)
        except SoftphoneError as exc:
            self.error.emit(f"Notes not saved: {exc}")
            return False
        self.notes_edit.document().setModified(False)
        self._refresh_buttons()
        return True

    # -- CRM ------------------------------------------------------------------------------

    def crm_url(self) -> str:
        """The CRM page of the shown call ("" when there is none or no template)."""
        if self.call_id is None or not self._template:
            return ""
        return fill_crm_url(self._template, self._pop)

    def open_crm(self) -> bool:
        try:
            url = self.crm_url()
        except SoftphoneError as exc:
            self.error.emit(f"CRM link not usable: {exc}")
            return False
        if not url:
            return False
        qurl = QUrl(url, QUrl.ParsingMode.StrictMode)
        if not qurl.isValid() or qurl.scheme() not in ("http", "https"):
            self.error.emit(f"CRM link not usable: {one_line(url, 120)}")
            return False
        self.opened_urls.append(url)
        if not self._open_url(qurl):
            self.error.emit("The web browser could not be started for the CRM link.")
            return False
        return True

    def _on_call_state(self, snap: CallSnapshot) -> None:
        if (snap.state == CallState.CONFIRMED and snap.direction == CallDirection.INBOUND
                and self.auto_open_check.isChecked() and self._template
                and snap.call_id not in self._auto_opened):
            self._auto_opened.add(snap.call_id)
            if snap.call_id != self.call_id:
                self.show_call(snap)
            self.open_crm()


def _plain_label(text: str, parent: QWidget) -> QLabel:
    label = QLabel(parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(text)
    return label
