"""The call list as a Qt table model (state, remote party, duration, flags)."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
)
from PySide6.QtGui import QBrush, QColor, QFont

from softphone.core.calls import CallDirection, CallSnapshot, CallState, HoldState, split_name_addr
from softphone.ui.text import one_line, party_text, plain_tooltip

Index = QModelIndex | QPersistentModelIndex

# How long an ended call stays in the list so the agent sees how it ended.
DEFAULT_LINGER_MS = 4000
TICK_MS = 1000
QUEUED_BACKGROUND = "#fdebd0"


class Column(enum.IntEnum):
    STATE = 0
    REMOTE = 1
    DURATION = 2
    FLAGS = 3


HEADERS = {
    Column.STATE: "State",
    Column.REMOTE: "Remote party",
    Column.DURATION: "Duration",
    Column.FLAGS: "Hold / mute",
}

CALL_ID_ROLE = Qt.ItemDataRole.UserRole + 1

_HOLD_TEXT = {
    HoldState.NONE: "",
    HoldState.LOCAL: "on hold",
    HoldState.REMOTE: "held by far end",
    HoldState.BOTH: "on hold (both ends)",
}


def format_duration(seconds: float) -> str:
    """``m:ss`` below an hour, ``h:mm:ss`` above; negative counts as zero."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def remote_party(snap: CallSnapshot) -> str:
    """What the agent reads as "who": display name and URI, flattened."""
    name, uri = split_name_addr(snap.remote_uri)
    return party_text(snap.remote_name or name, uri)


def state_text(snap: CallSnapshot) -> str:
    """The API's state names, except for the early phase, which says who rings."""
    if snap.state == CallState.DISCONNECTED and snap.status_code >= 300:
        return f"disconnected: {snap.status_code} {one_line(snap.reason, 60)}".rstrip()
    if snap.queued and snap.state != CallState.DISCONNECTED:
        return "queued: waiting for you to be Available"
    if snap.handed_off and snap.state != CallState.DISCONNECTED:
        return "being transferred"
    if snap.state == CallState.EARLY:
        # An inbound call is EARLY as soon as we send 180; for the agent it
        # is still an incoming call waiting for an answer.
        return "incoming" if snap.direction == CallDirection.INBOUND else "ringing"
    return snap.state.value


def flags_text(snap: CallSnapshot) -> str:
    parts = [_HOLD_TEXT[snap.hold]] + (["muted"] if snap.muted else [])
    return ", ".join(p for p in parts if p)


@dataclass
class _Row:
    snap: CallSnapshot
    ended_at: float | None = None


class CallTableModel(QAbstractTableModel):
    """One row per call, in arrival order, keyed by call id.

    Ended calls stay ``linger_ms`` (showing how they ended) before their row
    goes. Durations count from the answer (from the first ring/dial before
    it) and are refreshed by one 1 s timer that runs only while rows exist.

    Attributes:
        clock: monotonic seconds, the same clock as ``CallSnapshot.started_at``.
        linger_ms: how long a disconnected call stays listed (0 = removed at once).
    """

    def __init__(self, parent: QObject | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 linger_ms: int = DEFAULT_LINGER_MS) -> None:
        super().__init__(parent)
        self.clock = clock
        self.linger_ms = linger_ms
        self._rows: list[_Row] = []
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self.refresh_durations)

    # -- updates ------------------------------------------------------------------

    def upsert(self, snap: CallSnapshot) -> None:
        """Add the call or update its row (an unknown ended call is ignored)."""
        row = self.row_of(snap.call_id)
        ended = snap.state == CallState.DISCONNECTED
        if row < 0:
            if ended:
                return
            position = len(self._rows)
            self.beginInsertRows(QModelIndex(), position, position)
            self._rows.append(_Row(snap))
            self.endInsertRows()
            self._timer.start()
            return
        entry = self._rows[row]
        was_ended = entry.ended_at is not None
        entry.snap = snap
        if ended and not was_ended:
            entry.ended_at = self.clock()
            self._schedule_removal(snap.call_id)
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(Column) - 1))

    def remove(self, call_id: str) -> None:
        row = self.row_of(call_id)
        if row < 0:
            return
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._rows[row]
        self.endRemoveRows()
        if not self._rows:
            self._timer.stop()

    def reset(self, snaps: list[CallSnapshot]) -> None:
        self.beginResetModel()
        self._rows = [_Row(s) for s in snaps if s.state != CallState.DISCONNECTED]
        self.endResetModel()
        if self._rows:
            self._timer.start()
        else:
            self._timer.stop()

    def refresh_durations(self) -> None:
        if self._rows:
            self.dataChanged.emit(self.index(0, Column.DURATION),
                                  self.index(len(self._rows) - 1, Column.DURATION),
                                  [Qt.ItemDataRole.DisplayRole])

    def _schedule_removal(self, call_id: str) -> None:
        if self.linger_ms <= 0:
            self.remove(call_id)
        else:
            QTimer.singleShot(self.linger_ms, self, lambda: self.remove(call_id))

    # -- queries ------------------------------------------------------------------

    def row_of(self, call_id: str) -> int:
        for row, entry in enumerate(self._rows):
            if entry.snap.call_id == call_id:
                return row
        return -1

    def call_id_at(self, row: int) -> str | None:
        return self._rows[row].snap.call_id if 0 <= row < len(self._rows) else None

    def snapshot(self, call_id: str) -> CallSnapshot | None:
        row = self.row_of(call_id)
        return self._rows[row].snap if row >= 0 else None

    def call_ids(self) -> list[str]:
        return [entry.snap.call_id for entry in self._rows]

    def duration(self, call_id: str) -> float | None:
        row = self.row_of(call_id)
        return None if row < 0 else self._elapsed(self._rows[row])

    def _elapsed(self, entry: _Row) -> float | None:
        snap = entry.snap
        since = snap.connected_at if snap.connected_at is not None else snap.started_at
        if not since:
            return None
        return (entry.ended_at if entry.ended_at is not None else self.clock()) - since

    # -- QAbstractTableModel ---------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if (orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole
                and 0 <= section < len(Column)):
            return HEADERS[Column(section)]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        entry = self._rows[index.row()]
        snap = entry.snap
        column = Column(index.column())
        if role == CALL_ID_ROLE:
            return snap.call_id
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            if column == Column.STATE:
                return state_text(snap)
            if column == Column.REMOTE:
                return remote_party(snap)
            if column == Column.DURATION:
                elapsed = self._elapsed(entry)
                return "" if elapsed is None else format_duration(elapsed)
            return flags_text(snap)
        if role == Qt.ItemDataRole.ToolTipRole and column == Column.REMOTE:
            return plain_tooltip(remote_party(snap))
        if role == Qt.ItemDataRole.BackgroundRole and snap.queued:
            # A queued transfer waits for the agent: shown apart from live calls.
            return QBrush(QColor(QUEUED_BACKGROUND))
        if role == Qt.ItemDataRole.FontRole and snap.queued:
            font = QFont()
            font.setItalic(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and column == Column.DURATION:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
