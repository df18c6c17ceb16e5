"""GUI entry point: the runtime (engine + API) under a main window."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QApplication, QMessageBox

from softphone import APP_NAME
from softphone.app_config import PlannedAccount, plan_accounts
from softphone.config.logsetup import set_sip_trace
from softphone.config.startup import LoadedConfig
from softphone.core.errors import SoftphoneError
from softphone.runtime import Runtime, RuntimeOptions
from softphone.sip.account_types import AccountSpec
from softphone.sip.audio.devices import list_devices
from softphone.ui.first_run_dialog import FirstRunDialog
from softphone.ui.history import history_location
from softphone.ui.main_window import MainWindow, UiFeatures
from softphone.ui.password_dialog import PasswordDialog
from softphone.ui.settings_dialog import SettingsDialog

log = logging.getLogger("softphone")


class GuiSession(QObject):
    """Ties the window to the runtime: closing the window, ``app.quit`` over
    the API or SIGINT/SIGTERM all end in one orderly quit.

    Signals:
        finished(): the runtime is shut down; the event loop may end now.

    Attributes:
        runtime: the :class:`Runtime`.
        window: the :class:`MainWindow`.
    """

    finished = Signal()

    def __init__(self, runtime: Runtime, window: MainWindow,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runtime = runtime
        self.window = window
        self._done = False
        window.closed.connect(self.quit)
        runtime.quit_requested.connect(self.quit)

    def quit(self) -> None:
        if self._done:
            return
        self._done = True
        log.info("quitting")
        # The engine goes first, while the window can still show the hang-ups.
        self.runtime.shutdown()
        self.window.close()
        self.finished.emit()


def run_gui(options: RuntimeOptions, loaded: LoadedConfig | None = None) -> int:
    """Run the desktop app until the window closes or a quit is asked for.

    A :class:`~softphone.core.errors.StartupError` propagates to the caller
    (the command line prints it and exits with status 2).
    """
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication([APP_NAME])
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    # Quitting is GuiSession's job, so that the engine always stops first (and
    # a tray icon can later keep the app alive without a window).
    app.setQuitOnLastWindowClosed(False)
    options, held_back = hold_back_missing_passwords(options, loaded)
    runtime = Runtime(options)
    runtime.install_signal_handlers()
    runtime.start()
    try:
        desktop = open_desktop(runtime, loaded, held_back)
        desktop.session.finished.connect(app.quit)
        app.exec()
    finally:
        runtime.shutdown()
    return 0


def hold_back_missing_passwords(options: RuntimeOptions, loaded: LoadedConfig | None
                                ) -> tuple[RuntimeOptions, list[PlannedAccount]]:
    """``options`` without the accounts whose password is missing, and those
    accounts: they wait for the agent to type it (:class:`GuiConfigurator`
    asks) rather than register with an empty one."""
    if loaded is None:
        return options, []
    held_back = [a for a in options.accounts if a.password_missing]
    ready = [a for a in options.accounts if not a.password_missing]
    return (replace(options, accounts=ready) if held_back else options), held_back


@dataclass
class Desktop:
    """The started desktop: window, session and (with a configuration) configurator."""

    window: MainWindow
    session: GuiSession
    configurator: GuiConfigurator | None


def open_desktop(runtime: Runtime, loaded: LoadedConfig | None,
                 held_back: Sequence[PlannedAccount] = ()) -> Desktop:
    """Show the main window over a started runtime, then the configuration's
    dialogs (problems, first run, missing passwords)."""
    window = MainWindow(runtime.engine, **window_options(runtime, loaded))
    session = GuiSession(runtime, window)
    window.show()
    configurator = None
    if loaded is not None:
        configurator = GuiConfigurator(runtime, window, loaded, held_back)
        configurator.start()
    return Desktop(window, session, configurator)


def ui_state_saver(loaded: LoadedConfig) -> Callable[[dict[str, Any]], None]:
    """Saves the window's remembered state as ``ui`` in the user's settings file."""

    def save(state: dict[str, Any]) -> None:
        settings = loaded.store.settings
        loaded.save_settings(settings.model_copy(update={"ui": dict(state)}))

    return save


def window_options(runtime: Runtime, loaded: LoadedConfig | None) -> dict[str, Any]:
    """The main window's extras: IT's feature switches as the engine enforces
    them (provisioning and command line), the dial plan, the CRM link, the
    remembered UI state and where the call history is kept."""
    options: dict[str, Any] = {
        "features": UiFeatures.from_engine(runtime.engine),
        "history_path": history_location(runtime.options.profile),
    }
    if loaded is not None:
        provisioning = loaded.effective.provisioning
        options.update(dial_plan=provisioning.dial_plan,
                       crm_template=str(provisioning.crm.url_template),
                       ui_state=dict(loaded.store.settings.ui),
                       save_ui_state=ui_state_saver(loaded))
    return options


class GuiConfigurator(QObject):
    """The configuration side of the desktop: problems at start, the first-run
    dialog, passwords and the settings dialog. Dialogs are window-modal but
    never block start-up: the phone works on its local account meanwhile.

    An account with no password stored is not registered with an empty one
    (the registrar would refuse it, and many refusals can lock the account):
    a :class:`PasswordDialog` asks for it, one account at a time, and the
    account registers once it is typed. Settings can set or change any
    account's password, which re-registers that account.

    Attributes:
        loaded: the configuration loaded at start (saved through it).
        passwords: the process's one password store (``loaded.passwords``).
        problem_box: the start-up problem message, if one was shown.
        password_dialog: the password dialog open now, if any.
        settings_dialog: the settings dialog open now, if any.
    """

    def __init__(self, runtime: Runtime, window: MainWindow, loaded: LoadedConfig,
                 held_back: Sequence[PlannedAccount] = ()) -> None:
        """``held_back``: accounts whose password is missing, not registered yet."""
        super().__init__(window)
        self.runtime = runtime
        self.window = window
        self.loaded = loaded
        self.passwords = loaded.passwords
        self.problem_box: QMessageBox | None = None
        self.password_dialog: PasswordDialog | None = None
        self.settings_dialog: SettingsDialog | None = None
        self._asking: list[PlannedAccount] = list(held_back)
        # Accounts this configurator registered (the API may register others).
        self._configured: set[str] = {a.account_id for a in runtime.options.accounts}
        # Re-registrations waiting for the account's calls to end.
        self._deferred: dict[str, AccountSpec] = {}
        window.settings_requested.connect(self.open_settings)
        runtime.engine.calls.call_state.connect(lambda _snap: self._run_deferred())

    def start(self) -> None:
        problems = list(self.runtime.options.problems)
        if problems:
            box = QMessageBox(QMessageBox.Icon.Warning, APP_NAME,
                              "There were problems with the configuration.", parent=self.window)
            box.setTextFormat(Qt.TextFormat.PlainText)
            box.setDetailedText("\n\n".join(problems))
            box.setInformativeText(problems[0][:600])
            self.problem_box = box
            box.open()
        if self.loaded.first_run:
            dialog = FirstRunDialog(self.passwords, first_run=True, parent=self.window)
            dialog.accepted.connect(lambda: self._first_run_done(dialog))
            dialog.open()
        self._ask_next_password()

    # -- passwords ----------------------------------------------------------------------

    def _ask_next_password(self) -> None:
        if self.password_dialog is not None or not self._asking:
            return
        planned = self._asking.pop(0)
        dialog = PasswordDialog(self.passwords, planned.account_id, planned.spec.uri,
                                reason="No password is stored for this account.",
                                parent=self.window)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.accepted.connect(lambda: self._password_typed(planned, dialog))
        dialog.rejected.connect(lambda: self._password_declined(planned))
        dialog.finished.connect(lambda _: self._password_dialog_closed())
        self.password_dialog = dialog
        dialog.open()

    def _password_dialog_closed(self) -> None:
        self.password_dialog = None
        self._ask_next_password()

    def _password_typed(self, planned: PlannedAccount, dialog: PasswordDialog) -> None:
        if dialog.problem:
            self.window.show_error(dialog.problem)
        self._register(planned.account_id, replace(planned.spec, password=dialog.password))

    def _password_declined(self, planned: PlannedAccount) -> None:
        message = (f"Account {planned.account_id} is not registered: it has no password. "
                   "Set it in Settings > Accounts.")
        log.warning("%s", message)
        self.window.show_error(message)

    def _password_changed(self, account_id: str) -> None:
        """Settings set a password: that account registers again with it."""
        self._asking = [a for a in self._asking if a.account_id != account_id]
        accounts = self.runtime.engine.accounts
        for planned in plan_accounts(self.loaded, self.passwords):
            if planned.account_id != account_id or planned.password_missing:
                continue
            if account_id in accounts.account_ids() and account_id not in self._deferred:
                # Only the password changed: pjsua takes it in place, calls kept.
                try:
                    accounts.set_password(account_id, planned.spec.password)
                except SoftphoneError as exc:
                    self.window.show_error(f"Account {account_id}: {exc}")
                self.runtime.engine.pump.kick()
            else:
                self._register(account_id, planned.spec)

    # -- registration -------------------------------------------------------------------

    def _register(self, account_id: str, spec: AccountSpec) -> None:
        """Register ``account_id`` with ``spec``, replacing the account if it exists.

        An account with live calls is replaced once they end: deleting a pjsua
        account under its calls is not safe.
        """
        engine = self.runtime.engine
        accounts = engine.accounts
        if account_id in accounts.account_ids():
            if any(c.account_id == account_id for c in engine.calls.snapshots()):
                self._deferred[account_id] = spec
                self.window.show_error(f"Account {account_id} registers again with the new "
                                       "password when its calls end.")
                return
            accounts.remove(account_id)
        self._deferred.pop(account_id, None)
        try:
            accounts.register(spec, account_id)
        except SoftphoneError as exc:
            self.window.show_error(f"Account {account_id}: {exc}")
            return
        self._configured.add(account_id)
        engine.pump.kick()

    def _run_deferred(self) -> None:
        if not self._deferred:
            return
        busy = {c.account_id for c in self.runtime.engine.calls.snapshots()}
        for account_id, spec in list(self._deferred.items()):
            if account_id not in busy:
                self._register(account_id, spec)

    def _sync_accounts(self) -> None:
        """After the configuration changed: register new accounts (asking for a
        missing password), unregister the ones the agent removed."""
        accounts = self.runtime.engine.accounts
        known = set(accounts.account_ids())
        planned = {p.account_id: p for p in plan_accounts(self.loaded, self.passwords)}
        for account_id in sorted(self._configured - planned.keys()):
            self._configured.discard(account_id)
            self._deferred.pop(account_id, None)
            if account_id in known:
                try:
                    accounts.remove(account_id)
                except SoftphoneError as exc:
                    log.warning("account %s: %s", account_id, exc)
        asking = {a.account_id for a in self._asking}
        if self.password_dialog is not None:
            asking.add(self.password_dialog.account_id)
        for account_id, plan in planned.items():
            if account_id in known or account_id in asking:
                continue
            if plan.password_missing:
                self._asking.append(plan)
            else:
                self._register(account_id, plan.spec)
        self._ask_next_password()

    # -- dialogs ------------------------------------------------------------------------

    def _first_run_done(self, dialog: FirstRunDialog) -> None:
        self.loaded.save_settings(dialog.apply_to(self.loaded.store.settings))
        if dialog.password_problem:
            self.window.show_error(dialog.password_problem)
        self._sync_accounts()

    def open_settings(self) -> None:
        dialog = SettingsDialog(self.loaded.effective, self.passwords,
                                list_audio_devices=lambda: [d.name for d in list_devices()],
                                parent=self.window)
        dialog.accepted.connect(lambda: self._settings_saved(dialog))
        dialog.password_changed.connect(self._password_changed)
        dialog.finished.connect(lambda _: setattr(self, "settings_dialog", None))
        self.settings_dialog = dialog
        dialog.open()

    def _settings_saved(self, dialog: SettingsDialog) -> None:
        trace_before = self.loaded.effective.settings.logging.sip_trace
        self.loaded.save_settings(dialog.edited_settings())
        settings = self.loaded.effective.settings
        if settings.logging.sip_trace != trace_before:
            set_sip_trace(settings.logging.sip_trace)
        self._sync_accounts()
        if settings.automation.enabled:
            try:
                self.runtime.start_api(settings.automation.port)
            except SoftphoneError as exc:
                self.window.show_error(str(exc))
        else:
            self.runtime.stop_api()
