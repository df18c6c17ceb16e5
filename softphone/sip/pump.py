"""Drive PJSIP's event loop from a QTimer on the Qt main thread.

The poll interval is a latency budget: measured here, a 5 ms poll sets up a
call in about 2-6 ms, a 50 ms poll in about 30 ms. Polling fast forever would
wake the CPU 200 times a second on an idle agent's laptop, so the pump has
four speeds:

- *burst* (1 ms) for a few tens of milliseconds after a user action sent a
  request (the answer - 100/180/200, a 407 challenge and the retried request -
  follows within a millisecond or two on a LAN, and each poll interval it
  waits is added to call set-up and transfer times), and after SIP traffic
  that arrives while no call is up (an INVITE for an idle agent, the answer
  to a keep-alive or a refresh);
- *fast* (5 ms) for two seconds after a user action (a hold, a transfer, a
  DTMF digit: replies, NOTIFYs and follow-up requests are handled at once);
- *call* (20 ms) while a call is up and nobody acts on it: the far end's
  re-INVITE, REFER or BYE waits at most 20 ms, and the pump costs a quarter of
  the CPU a 5 ms poll does (measured: 3.4-3.8 % instead of 6-7.8 % of a core for
  a whole headless process in a two-party call);
- *idle* (100 ms) otherwise.

Only a user action lingers at the fast speed: PJSIP's own timers fire every
second or two even on an idle softphone (retransmission and refresh timers,
keep-alives), and lingering 2 s after each handled event kept the old pump
at 5 ms nearly all the time (86-97 wake-ups a second when idle). Events
handled while a call is up do not burst either: the far end's requests are
answered within the call speed's 20 ms.

Each tick drains what is already waiting (up to ``MAX_DRAIN``
``libHandleEvents(0)`` in a row, stopping at the first empty one), so a storm
of presence NOTIFYs during a call is not read at one per tick.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QTimer

BURST_INTERVAL_MS = 1
FAST_INTERVAL_MS = 5
CALL_INTERVAL_MS = 20
IDLE_INTERVAL_MS = 100
# How long the 1 ms poll lasts after a user action or idle-time SIP traffic:
# long enough for a request/response exchange through a proxy.
BURST_S = 0.05
# After a user action, stay fast this long so that replies, retransmissions
# and follow-up requests are handled without delay.
LINGER_S = 2.0
# At most this many libHandleEvents(0) per tick (each handles one ready event
# or timer): bounded so a flood cannot hold the Qt thread.
MAX_DRAIN = 8


class EventPump(QObject):
    """Calls ``handle_events`` (``Endpoint.libHandleEvents(0)``) periodically.

    Attributes:
        busy: a callable telling whether a call is up (polled at the call speed).
        wakeups: ticks so far (for tests and benchmarks).
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
        self._burst_until = 0.0
        self._fast_until = 0.0
        self._timer = QTimer(self)
        # A coarse timer may fire a 1 ms interval several ms late.
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
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
        """Poll at once and fast for a while (a user action is starting work)."""
        if not self._running:
            return
        now = time.monotonic()
        self._burst_until = now + BURST_S
        self._fast_until = now + LINGER_S
        self._set_interval(BURST_INTERVAL_MS)

    def pump_once(self) -> int:
        return self._handle_events()

    def interval(self) -> int:
        """The current poll interval in ms (0 when stopped)."""
        return self._timer.interval() if self._timer.isActive() else 0

    def _tick(self) -> None:
        if not self._running:
            return
        self.wakeups += 1
        was_busy = self.busy()
        handled = 0
        for _ in range(MAX_DRAIN):
            count = self._handle_events()
            if count <= 0 or not self._running:
                break
            handled += count
        now = time.monotonic()
        if handled > 0 and not was_busy:
            self._burst_until = now + BURST_S
        if now < self._burst_until:
            interval = BURST_INTERVAL_MS
        elif now < self._fast_until:
            interval = FAST_INTERVAL_MS
        elif self.busy():
            interval = CALL_INTERVAL_MS
        else:
            interval = IDLE_INTERVAL_MS
        self._set_interval(interval)

    def _set_interval(self, interval: int) -> None:
        if not self._timer.isActive():
            self._timer.start(interval)
        elif self._timer.interval() != interval:
            self._timer.setInterval(interval)
