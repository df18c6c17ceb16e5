"""Drive PJSIP's event loop from a QTimer on the Qt main thread.

The poll interval is a latency budget: measured here, a 5 ms poll sets up a
call in about 2-6 ms, a 50 ms poll in about 30 ms. Polling fast forever would
wake the CPU 200 times a second on an idle agent's laptop, so the pump runs
fast only while something is happening (a call exists, a transaction is
running, a user action just happened) and slowly otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer

FAST_INTERVAL_MS = 5
IDLE_INTERVAL_MS = 100
# After the last event or user action, stay fast this long so that replies,
# retransmissions and follow-up requests are handled without delay.
LINGER_S = 2.0


class EventPump(QObject):
    """Calls ``handle_events`` (``Endpoint.libHandleEvents(0)``) periodically.

    Attributes:
        busy: a callable telling whether something needs fast polling.
    """

    def __init__(
        self,
        handle_events: Callable[[], int],
        busy: Callable[[], bool],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._handle_events = handle_events
        self.busy = busy
        self._fast_until = 0.0
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._tick)
        self.wakeups = 0
        self._running = False

    def start(self) -> None:
        self._running = True
        self.kick()

    def stop(self) -> None:
        # For good: a tick after libDestroy would call into a destroyed library.
        self._running = False
        self._timer.stop()

    def kick(self) -> None:
        """Poll fast for a while from now (a user action is starting work)."""
        if not self._running:
            return
        self._fast_until = time.monotonic() + LINGER_S
        self._set_interval(FAST_INTERVAL_MS)

    def pump_once(self) -> int:
        return self._handle_events()

    def _tick(self) -> None:
        if not self._running:
            return
        self.wakeups += 1
        handled = self._handle_events()
        now = time.monotonic()
        if handled > 0 or self.busy():
            self._fast_until = now + LINGER_S
        self._set_interval(FAST_INTERVAL_MS if now < self._fast_until else IDLE_INTERVAL_MS)

    def _set_interval(self, interval: int) -> None:
        if not self._timer.isActive():
            self._timer.start(interval)
        elif self._timer.interval() != interval:
            self._timer.setInterval(interval)
