"""First run: add a SIP account (password to the keyring) or use the local account.

The same dialog, without the local-account button, adds an account from the
settings dialog.
"""

from __future__ import annotations

import re

from pydantic import ValidationError
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from softphone.config.errors import format_key
from softphone.config.passwords import PasswordStore
from softphone.config.schema import Account
from softphone.config.settings import Settings
from softphone.config.valuetypes import Transport
from softphone.ui.password_dialog import SESSION_ONLY_NOTE

TRANSPORTS: tuple[Transport, ...] = ("udp", "tcp", "tls")


def account_id_for(aor: str, taken: set[str]) -> str:
    """A stable, keyring-friendly id derived from the AOR (``1001-pbx.example.com``)."""
    base = re.sub(r"[^A-Za-z0-9_.\-]+", "-", aor.split(":", 1)[-1]).strip("-")[:60] or "account"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


class FirstRunDialog(QDialog):
    """Asks for a SIP account, or lets the agent start with the local account.

    Attributes:
        account: the account added (None when starting with the local account).
        use_local_account: the agent chose the local (serverless) account.
        password_problem: why the password is kept for this session only, or None.
        intro_label: what the dialog is for, and where the password goes (plain text).
        aor_edit / server_edit / transport_box / user_edit / password_edit: the form.
        error_label: what is wrong with the form, shown in the dialog.
        add_button / local_button: the two ways out.
    """

    def __init__(self, passwords: PasswordStore, *, first_run: bool = True,
                 taken_ids: set[str] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Welcome to softphone" if first_run else "Add a SIP account")
        self._passwords = passwords
        self._taken = set(taken_ids or ())
        self.account: Account | None = None
        self.use_local_account = False
        self.password_problem: str | None = None

        where = ("The password is stored in your system's keyring, never in a file."
                 if passwords.keyring_usable else SESSION_ONLY_NOTE)
        self.intro_label = intro = QLabel(
            f"Add the SIP account your contact center gave you. {where}" if first_run else where)
        intro.setTextFormat(Qt.TextFormat.PlainText)
        intro.setWordWrap(True)
        self.aor_edit = QLineEdit()
        self.aor_edit.setPlaceholderText("sip:1001@pbx.example.com")
        self.server_edit = QLineEdit()
        self.server_edit.setPlaceholderText("pbx.example.com:5061 (empty: the address's host)")
        self.transport_box = QComboBox()
        self.transport_box.addItems(list(TRANSPORTS))
        self.user_edit = QLineEdit()
        self.user_edit.setPlaceholderText("empty: the address's user part")
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        form = QFormLayout()
        form.addRow("SIP address (AOR)", self.aor_edit)
        form.addRow("Registrar / server", self.server_edit)
        form.addRow("Transport", self.transport_box)
        form.addRow("User name", self.user_edit)
        form.addRow("Password", self.password_edit)
        self.error_label = QLabel()
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)  # echoes what was typed
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #c0392b")
        self.error_label.hide()

        buttons = QDialogButtonBox()
        self.add_button = QPushButton("Add account")
        self.add_button.setDefault(True)
        buttons.addButton(self.add_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.local_button = QPushButton("Start with the local account")
        self.local_button.setToolTip("Call SIP addresses directly, without a server")
        if first_run:
            buttons.addButton(self.local_button, QDialogButtonBox.ButtonRole.ActionRole)
        else:
            buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
            buttons.rejected.connect(self.reject)
        self.add_button.clicked.connect(self._add)
        self.local_button.clicked.connect(self._local)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)

    def _show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.show()

    def _add(self) -> None:
        aor = self.aor_edit.text().strip()
        raw = {
            "id": account_id_for(aor, self._taken),
            "aor": aor,
            "server": self.server_edit.text().strip(),
            "transport": self.transport_box.currentText(),
            "user": self.user_edit.text().strip(),
        }
        try:
            account = Account.model_validate(raw)
        except ValidationError as exc:
            labels = {"aor": "SIP address", "server": "Server", "user": "User name"}
            self._show_error("\n".join(
                f"{labels.get(str(e['loc'][0]), format_key(e['loc']))}: "
                f"{str(e['msg']).removeprefix('Value error, ')}" for e in exc.errors()))
            return
        password = self.password_edit.text()
        if password and not self._passwords.set(account.id, password):
            self.password_problem = self._passwords.problem
        self.password_edit.clear()
        self.account = account
        self.accept()

    def _local(self) -> None:
        self.use_local_account = True
        self.accept()

    def apply_to(self, settings: Settings) -> Settings:
        """``settings`` after this dialog: first run done, the account added."""
        updated = settings.model_copy(deep=True)
        updated.first_run_done = True
        if self.account is not None:
            updated.accounts.append(self.account)
        else:
            updated.use_local_account = True
        return updated
