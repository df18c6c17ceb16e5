"""Asks for one SIP account's password: at start when none is stored, or from Settings.

"Remember in the keyring" is offered only when a secure keyring works; otherwise
the dialog says the password is kept for this session only, and it is: held in
memory by the :class:`~softphone.config.passwords.PasswordStore`, never written.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from softphone.config.passwords import PasswordStore
from softphone.ui.text import one_line

SESSION_ONLY_NOTE = ("No usable keyring on this computer: the password is kept for this "
                     "session only and is never written to disk. It is asked again next time.")


class PasswordDialog(QDialog):
    """One account's password; after it is accepted, :attr:`password` holds it and
    the store has it (in the keyring, or in memory for this session).

    Attributes:
        account_id: the account's stable id (the keyring entry's name).
        password: the password typed (empty until accepted).
        problem: why the keyring did not take it (then it is session-only), or None.
        message_label: what is asked, and why (plain text).
        note_label: the keyring's state: session-only note or a keyring problem.
        password_edit: the password, echoed as dots.
        remember_box: "Remember in the keyring"; enabled only with a usable keyring.
        ok_button: enabled once something is typed.
    """

    def __init__(self, passwords: PasswordStore, account_id: str, aor: str, *,
                 reason: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("SIP account password")
        self.account_id = account_id
        self.password = ""
        self.problem: str | None = None
        self._passwords = passwords
        usable = passwords.keyring_usable
        text = f"Password of the SIP account {one_line(aor, 256)} ({one_line(account_id, 64)})."
        if reason:
            text = f"{one_line(reason, 300)}\n{text}"
        self.message_label = _plain_label(text)
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setAccessibleName("Password")
        self.remember_box = QCheckBox("Remember in the keyring")
        self.remember_box.setChecked(usable)
        self.remember_box.setEnabled(usable)
        note = "" if usable else SESSION_ONLY_NOTE
        if not usable and passwords.problem:
            note = f"{note}\n{passwords.problem}"
        self.note_label = _plain_label(note)
        self.note_label.setVisible(bool(note))
        form = QFormLayout()
        form.addRow("Password", self.password_edit)
        form.addRow(self.remember_box)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        cancel_button = buttons.button(QDialogButtonBox.StandardButton.Cancel)
        assert ok_button is not None and cancel_button is not None
        self.ok_button = ok_button
        cancel_button.setText("Not now")
        self.ok_button.setEnabled(False)
        self.password_edit.textChanged.connect(lambda t: self.ok_button.setEnabled(bool(t)))
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message_label)
        layout.addLayout(form)
        layout.addWidget(self.note_label)
        layout.addWidget(buttons)

    def _accept(self) -> None:
        password = self.password_edit.text()
        if not password:
            return
        store = self._passwords
        if self.remember_box.isChecked() and self.remember_box.isEnabled():
            if not store.set(self.account_id, password):
                self.problem = store.problem  # kept for this session by the store
        else:
            if store.keyring_usable:
                # An older remembered password would otherwise come back next start.
                store.delete(self.account_id)
            store.keep_for_session(self.account_id, password)
        self.password = password
        self.password_edit.clear()
        self.accept()


def _plain_label(text: str) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    return label
