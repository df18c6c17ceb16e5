"""What headless mode and the GUI share: the engine, the automation API and
a clean, ordered shutdown on quit or on SIGINT/SIGTERM.
"""

from __future__ import annotations

import logging
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal

from softphone.automation import agent_methods, conference_methods, engine_methods
from softphone.automation.api_file import remove_api_file, write_api_file
from softphone.automation.server import AutomationServer
from softphone.core.directory import Directory
from softphone.core.errors import SoftphoneError
from softphone.sip.config import EngineConfig

if TYPE_CHECKING:
    from softphone.app_config import PlannedAccount
from softphone.sip.engine import SipEngine

log = logging.getLogger("softphone")


@dataclass
class RuntimeOptions:
    """Attributes:
    profile: directory for api.json (and, later, per-profile state).
    api_port: automation API port (0 = any free port), None = API off.
    engine: SIP engine settings.
    accounts: accounts to register once the engine runs.
    directory: the agent directory (None: empty).
    problems: configuration problems to show the user.
    """

    profile: Path
    api_port: int | None = None
    engine: EngineConfig = field(default_factory=EngineConfig)
    accounts: list[PlannedAccount] = field(default_factory=list)
    directory: Directory | None = None
    problems: list[str] = field(default_factory=list)


class Runtime(QObject):
    """Starts and stops the engine and the automation API together.

    Signals:
        quit_requested(): someone (API, signal, window) asked the app to quit.

    Attributes:
        engine: the :class:`SipEngine`.
        api: the :class:`AutomationServer`, or None when the API is off.
    """

    quit_requested = Signal()

    def __init__(self, options: RuntimeOptions, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.options = options
        self.engine = SipEngine(options.engine, self)
        self.api: AutomationServer | None = None
        self._stopped = False

    def start(self) -> None:
        """Start everything; raises StartupError with a message for the user."""
        self.engine.start()
        directory = self.options.directory
        if directory is not None and (directory.agents or directory.groups):
            self.engine.set_directory(directory)
        for planned in self.options.accounts:
            try:
                self.engine.accounts.register(planned.spec, planned.account_id)
            except SoftphoneError as exc:
                self.options.problems.append(f"Account {planned.account_id!r}: {exc}")
                log.error("account %s: %s", planned.account_id, exc)
        if self.options.api_port is not None:
            try:
                self.start_api(self.options.api_port)
            except Exception:
                self.engine.shutdown()
                raise

    def start_api(self, port: int) -> int:
        """Switch the automation API on (the GUI does this from its settings)."""
        if self.api is not None:
            return self.api.port
        api = AutomationServer(self)
        engine_methods.install(api, self.engine, self.request_quit)
        agent_methods.install(api, self.engine)
        conference_methods.install(api, self.engine)
        api.listen(port)
        self.api = api
        write_api_file(self.options.profile, api.port, api.token, self.engine.local_uri)
        return api.port

    def stop_api(self) -> None:
        if self.api is not None:
            self.api.close()
            self.api.deleteLater()
            self.api = None
            remove_api_file(self.options.profile)

    def request_quit(self) -> None:
        # Deferred so that an API reply to app.quit is written before we stop.
        QTimer.singleShot(50, self.quit_requested.emit)

    def shutdown(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.stop_api()
        self.engine.shutdown()

    def install_signal_handlers(self) -> None:
        """SIGINT/SIGTERM quit cleanly (the pump timer lets Python see them)."""

        def handler(signum: int, frame: object) -> None:
            log.info("signal %s: quitting", signum)
            QTimer.singleShot(0, self.quit_requested.emit)

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)


def run_headless(options: RuntimeOptions) -> int:
    """Run the core with no widgets until asked to quit. Returns the exit status."""
    app = QCoreApplication.instance() or QCoreApplication([])
    runtime = Runtime(options)
    runtime.install_signal_handlers()
    runtime.quit_requested.connect(app.quit)
    runtime.start()
    for problem in options.problems:
        print(f"softphone: {problem}", file=sys.stderr)
    try:
        app.exec()
    finally:
        runtime.shutdown()
    return 0
