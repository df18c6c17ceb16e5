"""GUI entry point: the runtime (engine + API) under a main window."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication

from softphone import APP_NAME
from softphone.runtime import Runtime, RuntimeOptions
from softphone.ui.main_window import MainWindow

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


def run_gui(options: RuntimeOptions) -> int:
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
        window = MainWindow(runtime.engine)
        session = GuiSession(runtime, window)
        session.finished.connect(app.quit)
        window.show()
        app.exec()
    finally:
        runtime.shutdown()
    return 0
