"""Registration status of every account, the local URI and the audio mode."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from softphone.core.registration import RegistrationState
from softphone.ui.labels import ElidedLabel
from softphone.ui.text import one_line, plain_tooltip

if TYPE_CHECKING:
    from softphone.sip.accounts import AccountInfo, AccountManager

AUDIO_MODES = {
    "soundcard": "sound card",
    "file": "WAV files (test mode)",
    "null": "no sound device (silent)",
}

_STATE_TEXT = {
    RegistrationState.NONE: "direct calls",
    RegistrationState.REGISTERING: "registering\u2026",
    RegistrationState.REGISTERED: "registered",
    RegistrationState.UNREGISTERED: "not registered",
    RegistrationState.FAILED: "failed",
}


def status_text(info: AccountInfo) -> str:
    text = _STATE_TEXT.get(info.state, info.state.value)
    if info.state == RegistrationState.FAILED and info.retry_in is not None:
        text += f" (retry in {round(info.retry_in)} s)"
    return text


class AccountsPanel(QWidget):
    """One line per account (URI, status, details) plus "call me at" and audio.

    Attributes:
        tree: the account list (columns: account, status, details).
        local_uri_label: the local account's URI, for colleagues to call.
        copy_button: copies the full local URI.
        audio_label: where sound comes from and goes to.
    """

    def __init__(self, accounts: AccountManager, audio_mode: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._items: dict[str, QTreeWidgetItem] = {}
        self.tree = QTreeWidget(self)
        self.tree.setAccessibleName("Accounts")
        self.tree.setHeaderLabels(["Account", "Status", "Details"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.tree.setMaximumHeight(84)
        self.tree.setColumnWidth(0, 280)
        self.tree.setColumnWidth(1, 120)

        self.local_uri_label = ElidedLabel("", self)
        self.local_uri_label.setAccessibleName("Local SIP address")
        self.local_uri_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.copy_button = QPushButton("Cop&y", self)
        self.copy_button.setAccessibleName("Copy local SIP address")
        self.copy_button.setToolTip("Copy the address colleagues can call you at")
        self.copy_button.setAutoDefault(False)
        self.copy_button.clicked.connect(self._copy_local_uri)
        self.audio_label = QLabel(AUDIO_MODES.get(audio_mode, audio_mode), self)
        self.audio_label.setTextFormat(Qt.TextFormat.PlainText)
        self.audio_label.setAccessibleName("Audio mode")

        local_row = QHBoxLayout()
        local_row.addWidget(self.local_uri_label, 1)
        local_row.addWidget(self.copy_button)
        form = QFormLayout()
        form.addRow("Call me at:", local_row)
        form.addRow("Audio:", self.audio_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree)
        layout.addLayout(form)

        for info in accounts.infos():
            self.update_account(info)
        accounts.registration_changed.connect(self.update_account)

    def update_account(self, info: AccountInfo) -> None:
        item = self._items.get(info.account_id)
        if item is None:
            item = QTreeWidgetItem(self.tree)
            self._items[info.account_id] = item
        uri = one_line(info.uri)
        details = one_line(info.message)
        # QTreeWidgetItem text is drawn as plain text; tool tips are not.
        item.setText(0, uri)
        item.setToolTip(0, plain_tooltip(uri))
        item.setText(1, status_text(info))
        item.setText(2, details)
        item.setToolTip(2, plain_tooltip(details))
        if info.is_local:
            self.local_uri_label.set_full_text(info.uri)

    def status_of(self, account_id: str) -> str:
        item = self._items.get(account_id)
        return "" if item is None else item.text(1)

    def _copy_local_uri(self) -> None:
        QGuiApplication.clipboard().setText(self.local_uri_label.full_text)
