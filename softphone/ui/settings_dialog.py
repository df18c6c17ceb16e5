"""The settings dialog: accounts, audio devices, features, logging, automation API.

Keys IT provisioned are shown with their value but disabled, with a lock and
the tooltip "Set by your IT department"; the dialog never changes them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from softphone.config.merge import LOCKED_TOOLTIP, EffectiveConfig
from softphone.config.passwords import PasswordStore
from softphone.config.schema import Account
from softphone.config.settings import Settings
from softphone.ui.first_run_dialog import FirstRunDialog
from softphone.ui.password_dialog import PasswordDialog

LOCK = "\U0001f512"
# Holds a user account's id; None marks IT's accounts, which cannot be removed.
ACCOUNT_ROLE = Qt.ItemDataRole.UserRole
# Every account's id (IT's too): whose password "Set password…" changes.
ACCOUNT_ID_ROLE = Qt.ItemDataRole.UserRole + 1
DEFAULT_DEVICE = "System default"
FEATURE_LABELS = {
    "session_transfer": "Session Transfer",
    "four_way_conference": "Four-way conference in supervised transfers",
    "manual_external_transfer": "Manual transfer to external numbers",
}


class SettingsDialog(QDialog):
    """Edits the user's settings; read :meth:`edited_settings` after it is accepted.

    Signals:
        password_changed(str): an account's password was set (stored at once,
            whether or not the dialog is saved); the account should re-register.

    Attributes:
        effective: the configuration shown (IT's locked values included).
        accounts_list: provisioned accounts (locked) then the user's own.
        add_account_button / remove_account_button: manage the user's accounts.
        password_button: set or change the selected account's password (IT's accounts too).
        password_dialog: the open password dialog, if any.
        microphone_box / speaker_box / ringer_box: device names; "System default" = "".
        feature_boxes: one checkbox per feature switch, by key.
        wrap_up_spin / returns_to_box: After Call Work.
        sip_trace_box: SIP message traces in the log.
        api_enabled_box / api_port_spin: the automation API.
    """

    password_changed = Signal(str)

    def __init__(self, effective: EffectiveConfig, passwords: PasswordStore, *,
                 list_audio_devices: Callable[[], Sequence[str]] = lambda: [],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.effective = effective
        self._passwords = passwords
        self.password_dialog: PasswordDialog | None = None
        self._user_accounts: list[Account] = [
            a for a in effective.settings.accounts
            if a.id not in effective.provisioned_account_ids]
        settings = effective.settings
        tabs = QTabWidget()
        tabs.addTab(self._accounts_tab(), "Accounts")
        tabs.addTab(self._audio_tab(settings, list_audio_devices), "Audio")
        tabs.addTab(self._features_tab(settings), "Features")
        tabs.addTab(self._advanced_tab(settings), "Advanced")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        layout.addWidget(buttons)

    # -- tabs -------------------------------------------------------------------------

    def _accounts_tab(self) -> QWidget:
        page = QWidget()
        self.accounts_list = QListWidget()
        self.add_account_button = QPushButton("Add…")
        self.remove_account_button = QPushButton("Remove")
        self.password_button = QPushButton("Set password…")
        self.add_account_button.clicked.connect(self._add_account)
        self.remove_account_button.clicked.connect(self._remove_account)
        self.password_button.clicked.connect(self._set_password)
        self.accounts_list.currentItemChanged.connect(lambda *_: self._update_remove())
        if not self.effective.user_accounts_allowed:
            _lock(self.add_account_button)
        self._fill_accounts()
        row = QHBoxLayout()
        row.addWidget(self.add_account_button)
        row.addWidget(self.remove_account_button)
        row.addWidget(self.password_button)
        row.addStretch()
        layout = QVBoxLayout(page)
        layout.addWidget(self.accounts_list)
        layout.addLayout(row)
        return page

    def _fill_accounts(self) -> None:
        self.accounts_list.clear()
        for account in self.effective.provisioning.accounts:
            item = QListWidgetItem(f"{LOCK} {account.aor} [{account.transport}]")
            item.setToolTip(LOCKED_TOOLTIP)
            item.setData(ACCOUNT_ROLE, None)
            item.setData(ACCOUNT_ID_ROLE, account.id)
            self.accounts_list.addItem(item)
        for account in self._user_accounts:
            item = QListWidgetItem(f"{account.aor} [{account.transport}]")
            item.setData(ACCOUNT_ROLE, account.id)
            item.setData(ACCOUNT_ID_ROLE, account.id)
            self.accounts_list.addItem(item)
        self._update_remove()

    def _update_remove(self) -> None:
        item = self.accounts_list.currentItem()
        removable = item is not None and item.data(ACCOUNT_ROLE) is not None
        self.remove_account_button.setEnabled(removable)
        self.password_button.setEnabled(item is not None)

    def _add_account(self) -> None:
        taken = {a.id for a in self.effective.accounts} | {a.id for a in self._user_accounts}
        dialog = FirstRunDialog(self._passwords, first_run=False, taken_ids=taken, parent=self)
        if dialog.exec() and dialog.account is not None:
            self._user_accounts.append(dialog.account)
            self._fill_accounts()

    def _remove_account(self) -> None:
        item = self.accounts_list.currentItem()
        account_id = item.data(ACCOUNT_ROLE) if item is not None else None
        if account_id is None:
            return
        self._user_accounts = [a for a in self._user_accounts if a.id != account_id]
        self._passwords.delete(account_id)
        self._fill_accounts()

    def _set_password(self) -> None:
        item = self.accounts_list.currentItem()
        if item is None:
            return
        account_id = str(item.data(ACCOUNT_ID_ROLE))
        aor = next((str(a.aor) for a in (*self.effective.provisioning.accounts,
                                          *self._user_accounts) if a.id == account_id), "")
        dialog = PasswordDialog(self._passwords, account_id, aor, parent=self)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.accepted.connect(lambda: self.password_changed.emit(account_id))
        dialog.finished.connect(lambda _: setattr(self, "password_dialog", None))
        self.password_dialog = dialog
        dialog.open()

    def _audio_tab(self, settings: Settings, list_devices: Callable[[], Sequence[str]]) -> QWidget:
        page = QWidget()
        try:
            names = [str(n) for n in list_devices()]
        except Exception:  # a broken audio stack must not take the settings down with it
            names = []
        form = QFormLayout(page)
        self.microphone_box = _device_box(names, settings.audio.microphone)
        self.speaker_box = _device_box(names, settings.audio.speaker)
        self.ringer_box = _device_box(names, settings.audio.ringer)
        form.addRow("Microphone", self.microphone_box)
        form.addRow("Speaker / headset", self.speaker_box)
        form.addRow("Ringtone on", self.ringer_box)
        return page

    def _features_tab(self, settings: Settings) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.feature_boxes: dict[str, QCheckBox] = {}
        for key, label in FEATURE_LABELS.items():
            box = QCheckBox(label)
            box.setChecked(bool(getattr(settings.features, key)))
            if self.effective.is_locked(f"features.{key}"):
                _lock(box)
            self.feature_boxes[key] = box
            form.addRow(box)
        self.wrap_up_spin = QSpinBox()
        self.wrap_up_spin.setRange(0, 3600)
        self.wrap_up_spin.setSuffix(" s")
        self.wrap_up_spin.setValue(settings.agent.wrap_up_seconds)
        self.returns_to_box = QComboBox()
        self.returns_to_box.addItem("Available", "available")
        self.returns_to_box.addItem("The state before the call", "previous")
        self.returns_to_box.setCurrentIndex(
            self.returns_to_box.findData(settings.agent.wrap_up_returns_to))
        for key, widget in (("agent.wrap_up_seconds", self.wrap_up_spin),
                            ("agent.wrap_up_returns_to", self.returns_to_box)):
            if self.effective.is_locked(key):
                _lock(widget)
        form.addRow(_label("After Call Work", "agent.wrap_up_seconds", self.effective),
                    self.wrap_up_spin)
        form.addRow(_label("Then go to", "agent.wrap_up_returns_to", self.effective),
                    self.returns_to_box)
        return page

    def _advanced_tab(self, settings: Settings) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.sip_trace_box = QCheckBox("Log every SIP message (passwords are removed)")
        self.sip_trace_box.setChecked(settings.logging.sip_trace)
        self.api_enabled_box = QCheckBox("Serve the automation API on this computer")
        self.api_enabled_box.setChecked(settings.automation.enabled)
        self.api_port_spin = QSpinBox()
        self.api_port_spin.setRange(0, 65535)
        self.api_port_spin.setSpecialValueText("any free port")
        self.api_port_spin.setValue(settings.automation.port)
        for key, widget in (("logging.sip_trace", self.sip_trace_box),
                            ("automation.enabled", self.api_enabled_box),
                            ("automation.port", self.api_port_spin)):
            if self.effective.is_locked(key):
                _lock(widget)
        form.addRow(self.sip_trace_box)
        form.addRow(self.api_enabled_box)
        form.addRow(_label("API port", "automation.port", self.effective), self.api_port_spin)
        return page

    # -- result -------------------------------------------------------------------------

    def edited_settings(self) -> Settings:
        """The settings as edited (locked keys still show IT's values; the caller
        saves through ``LoadedConfig.save_settings``, which keeps them out of the file)."""
        edited = self.effective.settings.model_copy(deep=True)
        edited.accounts = list(self._user_accounts)
        edited.audio.microphone = _device_of(self.microphone_box)
        edited.audio.speaker = _device_of(self.speaker_box)
        edited.audio.ringer = _device_of(self.ringer_box)
        for key, box in self.feature_boxes.items():
            setattr(edited.features, key, box.isChecked())
        edited.agent.wrap_up_seconds = self.wrap_up_spin.value()
        edited.agent.wrap_up_returns_to = self.returns_to_box.currentData()
        edited.logging.sip_trace = self.sip_trace_box.isChecked()
        edited.automation.enabled = self.api_enabled_box.isChecked()
        edited.automation.port = self.api_port_spin.value()
        return Settings.model_validate(edited.model_dump(), strict=False)


def _lock(widget: QWidget) -> None:
    widget.setEnabled(False)
    widget.setToolTip(LOCKED_TOOLTIP)
    if isinstance(widget, QCheckBox | QPushButton):
        widget.setText(f"{LOCK} {widget.text()}")


def _label(text: str, key: str, effective: EffectiveConfig) -> QLabel:
    label = QLabel(f"{LOCK} {text}" if effective.is_locked(key) else text)
    if effective.is_locked(key):
        label.setToolTip(LOCKED_TOOLTIP)
    return label


def _device_box(names: list[str], current: str) -> QComboBox:
    box = QComboBox()
    box.addItem(DEFAULT_DEVICE, "")
    for name in names:
        box.addItem(name, name)
    if current and box.findData(current) < 0:
        # A device that is unplugged now stays chosen for when it comes back.
        box.addItem(f"{current} (not connected)", current)
    box.setCurrentIndex(max(0, box.findData(current)))
    return box


def _device_of(box: QComboBox) -> str:
    return str(box.currentData() or "")
