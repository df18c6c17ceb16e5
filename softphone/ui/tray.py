"""The tray icon: the agent state's colour, and desktop notifications of calls."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QMenu, QSystemTrayIcon, QWidget

from softphone import APP_NAME
from softphone.core.agent_state import AgentState, AgentStatus
from softphone.core.calls import CallSnapshot
from softphone.ui.call_model import remote_party
from softphone.ui.text import one_line, plain_tooltip

if TYPE_CHECKING:
    from softphone.sip.engine import SipEngine

NOTIFY_MS = 8000


def state_icon(colour: str, size: int = 32) -> QIcon:
    """A filled circle in ``colour`` (hex RGB) with a dark outline."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QColor(colour))
    painter.setPen(QColor("#333333"))
    painter.drawEllipse(2, 2, size - 4, size - 4)
    painter.end()
    return QIcon(pixmap)


class Tray(QObject):
    """Tray icon in the agent state's colour, with Show and Quit; a desktop
    notification when a call rings at the agent (a queued transfer included,
    the moment it is delivered).

    Signals:
        show_requested(): the agent clicked the icon or chose Show.
        quit_requested(): the agent chose Quit.

    Attributes:
        icon: the QSystemTrayIcon (shown only where a system tray exists).
        messages: every notification as (title, text), newest last.
    """

    show_requested = Signal()
    quit_requested = Signal()

    def __init__(self, engine: SipEngine, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.icon = QSystemTrayIcon(self)
        self.messages: list[tuple[str, str]] = []
        self._queued: set[str] = set()
        menu = QMenu(parent)
        show = QAction("&Show", menu)
        show.triggered.connect(self.show_requested)
        quit_action = QAction("&Quit", menu)
        quit_action.triggered.connect(self.quit_requested)
        menu.addAction(show)
        menu.addAction(quit_action)
        self._menu = menu
        self.icon.setContextMenu(menu)
        self.icon.activated.connect(self._on_activated)
        agent = getattr(engine, "agent", None)
        if agent is not None:
            agent.state_changed.connect(self.show_status)
            self.show_status(agent.status)
        else:
            self.icon.setIcon(state_icon(AgentState.LOGGED_OUT.colour))
            self.icon.setToolTip(plain_tooltip(APP_NAME))
        engine.calls.incoming_call.connect(self._on_incoming)
        call_queued = getattr(engine.calls, "call_queued", None)
        if call_queued is not None:
            call_queued.connect(lambda snap: self._queued.add(snap.call_id))
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.icon.show()

    def show_status(self, status: AgentStatus) -> None:
        self.icon.setIcon(state_icon(status.state.colour))
        text = status.state.label
        if status.reason:
            text += f" ({one_line(status.reason, 40)})"
        # The reason may be free text; some tray backends render tool tips as rich text.
        self.icon.setToolTip(plain_tooltip(f"{APP_NAME}: {text}"))

    def notify(self, title: str, text: str) -> None:
        self.messages.append((title, text))
        # showMessage takes plain text on every platform backend.
        self.icon.showMessage(title, text, QSystemTrayIcon.MessageIcon.Information, NOTIFY_MS)

    def _on_incoming(self, snap: CallSnapshot) -> None:
        who = one_line(snap.pop.get("name", "") or remote_party(snap), 120)
        if snap.call_id in self._queued:
            self._queued.discard(snap.call_id)
            self.notify("Transferred call delivered", f"{who} is now ringing for you")
        else:
            self.notify("Incoming call", who)

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger,
                      QSystemTrayIcon.ActivationReason.DoubleClick):
            self.show_requested.emit()
