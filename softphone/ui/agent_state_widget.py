"""The agent's state: its colour, how long it has lasted, and the choices."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QWidget

from softphone.core.agent_state import AgentState, AgentStatus
from softphone.core.errors import SoftphoneError
from softphone.ui.call_model import format_duration
from softphone.ui.text import one_line

if TYPE_CHECKING:
    from softphone.sip.agent import AgentService

TICK_MS = 1000


def choices(reasons: list[str]) -> list[tuple[str, str, str]]:
    """(text, state, reason) for the selector: Available, Not Ready per reason, Logged Out."""
    items = [(AgentState.AVAILABLE.label, AgentState.AVAILABLE.value, "")]
    for reason in reasons or ["Break"]:
        items.append((f"{AgentState.NOT_READY.label}: {one_line(reason, 40)}",
                      AgentState.NOT_READY.value, reason))
    items.append((AgentState.LOGGED_OUT.label, AgentState.LOGGED_OUT.value, ""))
    return items


def status_text(status: AgentStatus) -> str:
    if status.state == AgentState.NOT_READY and status.reason:
        return f"{status.state.label} ({one_line(status.reason, 40)})"
    return status.state.label


class AgentStateWidget(QWidget):
    """A colour swatch, the state and its running timer, the state selector and
    End wrap-up.

    Signals:
        error(str): the engine refused a choice; the message is for the agent.

    Attributes:
        swatch: a small square in the state's colour.
        state_label: the state (and Not Ready reason).
        timer_label: time in the state (``m:ss``), or wrap-up time left.
        selector: Available / Not Ready: <reason> / Logged Out.
        end_wrap_up_button: ends After Call Work (shown only then).
        clock: wall-clock seconds (the status times are epoch seconds).
    """

    error = Signal(str)

    def __init__(self, agent: AgentService, parent: QWidget | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(parent)
        self.setAccessibleName("Agent state")
        self._agent = agent
        self.clock = clock
        self.swatch = QLabel(self)
        self.swatch.setFixedSize(14, 14)
        self.swatch.setAccessibleName("Agent state colour")
        self.state_label = QLabel(self)
        # A Not Ready reason may be free text (no provisioned list): never markup.
        self.state_label.setTextFormat(Qt.TextFormat.PlainText)
        self.state_label.setAccessibleName("Current agent state")
        font = self.state_label.font()
        font.setBold(True)
        self.state_label.setFont(font)
        self.timer_label = QLabel(self)
        self.timer_label.setTextFormat(Qt.TextFormat.PlainText)
        self.timer_label.setAccessibleName("Time in state")
        self.selector = QComboBox(self)
        self.selector.setAccessibleName("Choose agent state")
        self.selector.setToolTip("Your state: Available, Not Ready with a reason, or Logged Out")
        for text, state, reason in choices(list(agent.machine.reasons)):
            self.selector.addItem(text, (state, reason))
        self.end_wrap_up_button = QPushButton("&End wrap-up", self)
        self.end_wrap_up_button.setAccessibleName("End wrap-up")
        self.end_wrap_up_button.setAutoDefault(False)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.swatch)
        layout.addWidget(self.state_label)
        layout.addWidget(self.timer_label)
        layout.addStretch(1)
        layout.addWidget(self.end_wrap_up_button)
        layout.addWidget(self.selector)

        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self.refresh_timer)
        self._timer.start()
        self.selector.activated.connect(self._on_chosen)
        self.end_wrap_up_button.clicked.connect(self.end_wrap_up)
        agent.state_changed.connect(self.show_status)
        self.show_status(agent.status)

    def show_status(self, status: AgentStatus) -> None:
        self._status = status
        colour = status.state.colour
        self.swatch.setStyleSheet(f"background-color: {colour}; border: 1px solid #555;"
                                  "border-radius: 3px;")
        self.state_label.setText(status_text(status))
        self.state_label.setStyleSheet(f"color: {colour};")
        self.end_wrap_up_button.setVisible(status.state == AgentState.AFTER_CALL_WORK)
        index = self.selector.findData((status.state.value, status.reason))
        if index >= 0:
            self.selector.setCurrentIndex(index)
        self.setAccessibleDescription(status_text(status))
        self.refresh_timer()

    def refresh_timer(self) -> None:
        status = self._status
        now = self.clock()
        if status.state == AgentState.AFTER_CALL_WORK and status.wrap_up_until is not None:
            self.timer_label.setText(f"{format_duration(status.wrap_up_until - now)} left")
        else:
            self.timer_label.setText(format_duration(now - status.since))

    def choose(self, state: str, reason: str = "") -> bool:
        try:
            self._agent.set_state(state, reason)
        except SoftphoneError as exc:
            self.error.emit(str(exc))
            self.show_status(self._agent.status)
            return False
        return True

    def _on_chosen(self, index: int) -> None:
        state, reason = self.selector.itemData(index)
        self.choose(state, reason)

    def end_wrap_up(self) -> bool:
        try:
            self._agent.end_wrap_up()
        except SoftphoneError as exc:
            self.error.emit(str(exc))
            return False
        return True
