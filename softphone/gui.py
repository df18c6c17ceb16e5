"""GUI entry point: the runtime (engine + API) under a main window."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QApplication, QMessageBox

from softphone import APP_NAME
from softphone.app_config import plan_accounts
from softphone.config.passwords import PasswordStore
from softphone.config.startup import LoadedConfig
from softphone.core.errors import SoftphoneError
from softphone.runtime import Runtime, RuntimeOptions
from softphone.sip.audio.devices import list_devices
from softphone.ui.first_run_dialog import FirstRunDialog
from softphone.ui.history import HISTORY_FILE
from softphone.ui.main_window import MainWindow, UiFeatures
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
    runtime = Runtime(options)
    runtime.install_signal_handlers()
    runtime.start()
    try:
        window = MainWindow(runtime.engine, **window_options(runtime, loaded))
        session = GuiSession(runtime, window)
        session.finished.connect(app.quit)
        window.show()
        if loaded is not None:
            configurator = GuiConfigurator(runtime, window, loaded)
            configurator.start()
        app.exec()
    finally:
        runtime.shutdown()
    return 0


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
        "history_path": runtime.options.profile / HISTORY_FILE,
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
    dialog and the settings dialog. Dialogs are window-modal but never block
    start-up: the phone works on its local account meanwhile.

    Attributes:
        loaded: the configuration loaded at start (saved through it).
        passwords: the keyring-backed password store.
    """

    def __init__(self, runtime: Runtime, window: MainWindow, loaded: LoadedConfig) -> None:
        super().__init__(window)
        self.runtime = runtime
        self.window = window
        self.loaded = loaded
        self.passwords = PasswordStore()
        window.settings_requested.connect(self.open_settings)

    def start(self) -> None:
        problems = list(self.runtime.options.problems)
        if problems:
            box = QMessageBox(QMessageBox.Icon.Warning, APP_NAME,
                              "There were problems with the configuration.", parent=self.window)
            box.setTextFormat(Qt.TextFormat.PlainText)
            box.setDetailedText("\n\n".join(problems))
            box.setInformativeText(problems[0][:300])
            box.open()
        if self.loaded.first_run:
            dialog = FirstRunDialog(self.passwords, first_run=True, parent=self.window)
            dialog.accepted.connect(lambda: self._first_run_done(dialog))
            dialog.open()

    def _first_run_done(self, dialog: FirstRunDialog) -> None:
        self.loaded.save_settings(dialog.apply_to(self.loaded.store.settings))
        self._register_new_accounts()

    def open_settings(self) -> None:
        dialog = SettingsDialog(self.loaded.effective, self.passwords,
                                list_audio_devices=lambda: [d.name for d in list_devices()],
                                parent=self.window)
        dialog.accepted.connect(lambda: self._settings_saved(dialog))
        dialog.open()

    def _settings_saved(self, dialog: SettingsDialog) -> None:
        self.loaded.save_settings(dialog.edited_settings())
        self._register_new_accounts()
        settings = self.loaded.effective.settings
        if settings.automation.enabled:
            try:
                self.runtime.start_api(settings.automation.port)
            except SoftphoneError as exc:
                self.window.show_error(str(exc))
        else:
            self.runtime.stop_api()

    def _register_new_accounts(self) -> None:
        accounts = self.runtime.engine.accounts
        known = set(accounts.account_ids())
        for planned in plan_accounts(self.loaded, self.passwords):
            if planned.account_id in known:
                continue
            try:
                accounts.register(planned.spec, planned.account_id)
            except SoftphoneError as exc:
                self.window.show_error(f"Account {planned.account_id}: {exc}")
