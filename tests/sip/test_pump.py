"""The SIP event pump's four speeds, driven by a scripted handle_events."""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot

from softphone.sip import pump as pump_module
from softphone.sip.pump import (
    BURST_INTERVAL_MS,
    CALL_INTERVAL_MS,
    FAST_INTERVAL_MS,
    IDLE_INTERVAL_MS,
    MAX_DRAIN,
    EventPump,
)


class Events:
    """A fake libHandleEvents: returns queued counts, then 0."""

    def __init__(self) -> None:
        self.pending: list[int] = []
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.pending.pop(0) if self.pending else 0


def test_idle_traffic_bursts_then_idles_and_a_call_polls_fast(qtbot: QtBot, monkeypatch) -> None:
    monkeypatch.setattr(pump_module, "BURST_S", 0.03)
    monkeypatch.setattr(pump_module, "LINGER_S", 0.15)
    events = Events()
    busy = [False]
    pump = EventPump(events, lambda: busy[0])
    pump.start()
    assert pump.interval() == BURST_INTERVAL_MS  # start() is a user action
    qtbot.waitUntil(lambda: pump.interval() == FAST_INTERVAL_MS, timeout=2000)
    qtbot.waitUntil(lambda: pump.interval() == IDLE_INTERVAL_MS, timeout=2000)

    # A message while idle (a keep-alive's answer, an INVITE): a short burst,
    # then straight back to idle - no lingering at 5 ms.
    events.pending = [1]
    pump._tick()
    assert pump.interval() == BURST_INTERVAL_MS
    qtbot.waitUntil(lambda: pump.interval() == IDLE_INTERVAL_MS, timeout=2000)

    # A call exists: the call speed for as long as it lasts, and its media and
    # timer events (which libHandleEvents counts too) never make it burst.
    busy[0] = True
    for _ in range(5):
        events.pending = [1, 1]
        pump._tick()
        assert pump.interval() == CALL_INTERVAL_MS
    qtbot.wait(200)  # stays: nothing should change it while the call is up
    assert pump.interval() == CALL_INTERVAL_MS
    # The agent acts on the call (hold, transfer): burst, then fast, then the
    # call speed again.
    pump.kick()
    assert pump.interval() == BURST_INTERVAL_MS
    qtbot.waitUntil(lambda: pump.interval() == FAST_INTERVAL_MS, timeout=2000)
    qtbot.waitUntil(lambda: pump.interval() == CALL_INTERVAL_MS, timeout=2000)
    busy[0] = False
    pump._tick()
    assert pump.interval() == IDLE_INTERVAL_MS
    pump.stop()
    assert pump.interval() == 0


def test_an_incoming_call_at_idle_bursts_then_polls_at_the_call_speed(qtbot: QtBot,
                                                                      monkeypatch) -> None:
    monkeypatch.setattr(pump_module, "BURST_S", 0.03)
    busy = [False]

    def invite_arrives() -> int:
        busy[0] = True  # handling the INVITE creates the call
        return 1

    pump = EventPump(invite_arrives, lambda: busy[0])
    pump._running = True
    pump._tick()
    assert pump.interval() == BURST_INTERVAL_MS
    pump._handle_events = lambda: 0
    qtbot.waitUntil(lambda: pump.interval() == CALL_INTERVAL_MS, timeout=2000)
    pump.stop()


def test_kick_polls_at_the_burst_rate(qtbot: QtBot) -> None:
    events = Events()
    pump = EventPump(events, lambda: False)
    pump.start()
    qtbot.waitUntil(lambda: pump.interval() == IDLE_INTERVAL_MS, timeout=5000)
    pump.kick()
    assert pump.interval() == BURST_INTERVAL_MS
    pump.stop()


@pytest.mark.parametrize("call_up", [False, True], ids=["idle", "in_call"])
def test_a_tick_drains_ready_events_but_is_bounded(qtbot: QtBot, call_up: bool) -> None:
    """A burst of ready events (presence NOTIFYs, say) is read in one tick,
    during a call too, but never more than MAX_DRAIN at a time."""
    events = Events()
    pump = EventPump(events, lambda: call_up)
    pump.start()
    pump.stop()  # ticks by hand from here
    pump._running = True
    events.pending = [1, 1, 1]
    events.calls = 0
    pump._tick()
    assert events.calls == 4  # three events, then the empty poll that ends the drain
    events.pending = [1] * (MAX_DRAIN + 5)
    events.calls = 0
    pump._tick()
    assert events.calls == MAX_DRAIN
    pump.stop()


def test_stopped_pump_never_polls(qtbot: QtBot) -> None:
    events = Events()
    pump = EventPump(events, lambda: True)
    pump.start()
    pump.stop()
    events.calls = 0
    pump._tick()
    pump.kick()
    assert events.calls == 0 and pump.interval() == 0
