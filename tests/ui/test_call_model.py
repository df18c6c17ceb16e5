"""The call table model with fake snapshots: rows, updates, durations."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PySide6.QtCore import QModelIndex, Qt
from pytestqt.qtbot import QtBot

from softphone.core.calls import CallDirection, CallSnapshot, CallState, HoldState
from softphone.ui.call_model import CALL_ID_ROLE, CallTableModel, Column, format_duration
from tests.ui.fakes import snapshot


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def snap_of(model: CallTableModel, call_id: str) -> CallSnapshot:
    snap = model.snapshot(call_id)
    assert snap is not None
    return snap


def text(model: CallTableModel, row: int, column: Column) -> object:
    return model.data(model.index(row, column))


@pytest.mark.parametrize(("seconds", "expected"), [
    (0, "0:00"), (5.9, "0:05"), (65, "1:05"), (3599, "59:59"), (3600, "1:00:00"),
    (36125, "10:02:05"), (-3, "0:00"),
])
def test_format_duration(seconds, expected):
    assert format_duration(seconds) == expected


def test_insert_update_remove(qtbot: QtBot):
    clock = Clock()
    model = CallTableModel(clock=clock, linger_ms=0)
    assert model.columnCount() == 4 and model.rowCount() == 0
    assert [model.headerData(c, Qt.Orientation.Horizontal) for c in Column] == [
        "State", "Remote party", "Duration", "Hold / mute"]

    with qtbot.waitSignal(model.rowsInserted):
        model.upsert(snapshot("call-1", CallState.CALLING, started_at=990.0,
                              remote_uri='"Bob" <sip:bob@example.com>'))
    model.upsert(snapshot("call-2", CallState.INCOMING, CallDirection.INBOUND,
                          started_at=999.0, remote_uri="sip:carol@example.com",
                          remote_name="Carol"))
    assert model.rowCount() == 2
    assert model.call_ids() == ["call-1", "call-2"]
    assert text(model, 0, Column.STATE) == "calling"
    assert text(model, 0, Column.REMOTE) == "Bob <sip:bob@example.com>"
    assert text(model, 1, Column.REMOTE) == "Carol <sip:carol@example.com>"
    assert text(model, 0, Column.DURATION) == "0:10"  # ringing time before the answer
    assert model.data(model.index(1, 0), CALL_ID_ROLE) == "call-2"
    model.upsert(replace(snap_of(model, "call-2"), state=CallState.EARLY))
    assert text(model, 1, Column.STATE) == "incoming"  # 180 sent, still ringing for us
    model.upsert(replace(snap_of(model, "call-1"), state=CallState.EARLY))
    assert text(model, 0, Column.STATE) == "ringing"

    with qtbot.waitSignal(model.dataChanged) as changed:
        model.upsert(snapshot("call-1", CallState.CONFIRMED, started_at=990.0,
                              connected_at=998.0, hold=HoldState.LOCAL, muted=True))
    assert changed.args[0].row() == 0
    assert model.rowCount() == 2
    assert text(model, 0, Column.STATE) == "confirmed"
    assert text(model, 0, Column.DURATION) == "0:02"  # counted from the answer
    assert text(model, 0, Column.FLAGS) == "on hold, muted"
    model.upsert(replace(snap_of(model, "call-1"), hold=HoldState.REMOTE, muted=False))
    assert text(model, 0, Column.FLAGS) == "held by far end"

    clock.now = 1065.0
    assert text(model, 0, Column.DURATION) == "1:07"

    with qtbot.waitSignal(model.rowsRemoved):
        model.upsert(snapshot("call-1", CallState.DISCONNECTED, started_at=990.0))
    assert model.call_ids() == ["call-2"]
    model.remove("call-2")
    assert model.rowCount() == 0
    model.remove("nonexistent")
    # A late update for a call already gone does not bring it back.
    model.upsert(snapshot("call-1", CallState.DISCONNECTED))
    assert model.rowCount() == 0


def test_ended_call_lingers_with_reason_and_frozen_duration(qtbot: QtBot):
    clock = Clock()
    model = CallTableModel(clock=clock, linger_ms=50)
    model.upsert(snapshot("call-1", CallState.CALLING, started_at=995.0))
    model.upsert(snapshot("call-1", CallState.DISCONNECTED, started_at=995.0,
                          status_code=486, reason="Busy Here"))
    assert text(model, 0, Column.STATE) == "disconnected: 486 Busy Here"
    clock.now = 2000.0
    assert text(model, 0, Column.DURATION) == "0:05"
    qtbot.waitUntil(lambda: model.rowCount() == 0, timeout=2000)


def test_duration_timer_ticks_only_while_calls_exist(qtbot: QtBot):
    model = CallTableModel(linger_ms=0)
    assert not model._timer.isActive()
    model.upsert(snapshot("call-1"))
    assert model._timer.isActive() and model._timer.interval() == 1000
    with qtbot.waitSignal(model.dataChanged, timeout=2500) as tick:
        pass
    assert tick.args[0].column() == tick.args[1].column() == Column.DURATION
    model.remove("call-1")
    assert not model._timer.isActive()


def test_reset_skips_ended_calls_and_invalid_indexes(qtbot: QtBot):
    model = CallTableModel()
    model.reset([snapshot("call-1"), snapshot("call-2", CallState.DISCONNECTED)])
    assert model.call_ids() == ["call-1"]
    assert model.data(QModelIndex()) is None
    assert model.data(model.index(5, 0)) is None
    assert model.rowCount(model.index(0, 0)) == 0
    assert model.snapshot("nope") is None and model.call_id_at(3) is None
    assert model.duration("call-1") is not None


def test_untrusted_text_is_flattened_and_tooltips_escaped(qtbot: QtBot):
    model = CallTableModel()
    model.upsert(snapshot("call-1", remote_uri="sip:x@example.com",
                          remote_name="<b>x</b>\r\nINVITE \u202eevil"))
    shown = text(model, 0, Column.REMOTE)
    assert shown == "<b>x</b>  INVITE evil <sip:x@example.com>"
    tooltip = model.data(model.index(0, Column.REMOTE), Qt.ItemDataRole.ToolTipRole)
    assert isinstance(tooltip, str)
    assert "&lt;b&gt;x&lt;/b&gt;" in tooltip and "<b>" not in tooltip
