"""Call history: kept in SQLite, shown as a table, offered as number completion.

The file lives in the user's data directory (``platformdirs.user_data_dir``);
an isolated instance (an explicit ``--profile DIR``) keeps its own in DIR.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QStringListModel,
    Qt,
    Signal,
)

from softphone import APP_NAME
from softphone.core.calls import CallDirection, CallSnapshot, CallState, split_name_addr
from softphone.ui.call_model import format_duration
from softphone.ui.text import one_line, party_text, plain_tooltip

if TYPE_CHECKING:
    from softphone.sip.calls import CallManager

log = logging.getLogger("softphone.ui.history")

Index = QModelIndex | QPersistentModelIndex
HISTORY_FILE = "history.sqlite3"
MAX_ROWS = 500
_SCHEMA = """CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started REAL NOT NULL, direction TEXT NOT NULL, name TEXT NOT NULL,
    uri TEXT NOT NULL, duration REAL, result TEXT NOT NULL)"""
HEADERS = ("When", "Direction", "Remote party", "Duration", "Result")


@dataclass(frozen=True)
class HistoryEntry:
    """Attributes:
    started: epoch seconds the call began.
    direction: ``inbound`` or ``outbound``.
    name: the far end's display name (untrusted text).
    uri: the far end's URI (what is dialled to call back).
    duration: talk time in seconds, None when never answered.
    result: ``answered``, ``missed``, ``rejected``, ``failed: 486 Busy Here``...
    """

    started: float
    direction: str
    name: str
    uri: str
    duration: float | None
    result: str


def history_location(profile: Path, *, default_profile: Path | None = None,
                     data_dir: Path | None = None) -> Path:
    """Where the call history of ``profile`` is kept.

    The user's own profile (``default_profile``, the platformdirs state dir the
    app runs in without ``--profile``) keeps it in ``data_dir`` (default: the
    platformdirs data dir); any other profile is an isolated instance and keeps
    it inside itself. A history left in the profile by an earlier version is
    copied to the data dir the first time (the old file stays untouched); if
    that copy fails, the old file goes on being used.
    """
    legacy = profile / HISTORY_FILE
    if default_profile is None:
        default_profile = Path(platformdirs.user_state_dir(APP_NAME, appauthor=False))
    if profile.resolve() != default_profile.resolve():
        return legacy
    if data_dir is None:
        data_dir = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    path = data_dir / HISTORY_FILE
    if path.resolve() == legacy.resolve() or path.exists() or not legacy.is_file():
        return path
    try:
        copy_history(legacy, path)
    except (OSError, sqlite3.Error) as exc:
        log.warning("could not copy the call history from %s to %s: %s", legacy, path, exc)
        return legacy
    log.info("call history copied from %s to %s", legacy, path)
    return path


def copy_history(source: Path, target: Path) -> None:
    """Copy a history database with SQLite's backup API (consistent even mid-write)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
        try:
            dst = sqlite3.connect(str(partial))
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
        # The finished copy appears at once: a crash never leaves half a history.
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def result_of(snap: CallSnapshot) -> str:
    if snap.connected_at is not None:
        return "answered"
    if snap.direction == CallDirection.INBOUND:
        return "missed" if snap.status_code in (0, 487) else "rejected"
    if snap.status_code >= 300:
        return one_line(f"failed: {snap.status_code} {snap.reason}", 80).strip()
    return "cancelled"


class CallHistory:
    """The history database (one file, or ``:memory:``).

    Attributes:
        path: the SQLite file, or None for a history that is not kept.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path) if path is not None else ":memory:")
        self._db.execute(_SCHEMA)
        self._db.commit()

    def add(self, entry: HistoryEntry) -> None:
        self._db.execute(
            "INSERT INTO calls (started, direction, name, uri, duration, result) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (entry.started, entry.direction, entry.name[:256], entry.uri[:1024],
             entry.duration, entry.result[:120]))
        self._db.execute("DELETE FROM calls WHERE id NOT IN "
                         "(SELECT id FROM calls ORDER BY id DESC LIMIT ?)", (MAX_ROWS,))
        self._db.commit()

    def recent(self, limit: int = MAX_ROWS) -> list[HistoryEntry]:
        rows = self._db.execute("SELECT started, direction, name, uri, duration, result "
                                "FROM calls ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [HistoryEntry(*row) for row in rows]

    def numbers(self) -> list[str]:
        """Distinct URIs, most recent first (for completion)."""
        rows = self._db.execute("SELECT uri FROM calls GROUP BY uri ORDER BY MAX(id) DESC")
        return [str(r[0]) for r in rows.fetchall()]

    def close(self) -> None:
        self._db.close()


class HistoryModel(QAbstractTableModel):
    """The history, newest first, recording every call that ends.

    Signals:
        added(): a call was added (the completion list is refreshed too).

    Attributes:
        history: the :class:`CallHistory` store.
        completions: a string list model of URIs for the number entry's completer.
    """

    added = Signal()

    def __init__(self, history: CallHistory, calls: CallManager | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.history = history
        self._rows = history.recent()
        self._started: dict[str, float] = {}
        self.completions = QStringListModel(history.numbers(), self)
        if calls is not None:
            calls.call_changed.connect(self.on_call_changed)

    def on_call_changed(self, snap: CallSnapshot) -> None:
        if snap.state != CallState.DISCONNECTED:
            self._started.setdefault(snap.call_id, time.time())
            return
        started = self._started.pop(snap.call_id, None)
        if started is None or snap.handed_off or snap.queued:
            return  # not a call the agent had (or a transferred-away leg)
        _, uri = split_name_addr(snap.remote_uri)
        duration = (time.monotonic() - snap.connected_at) if snap.connected_at else None
        self.add(HistoryEntry(started, snap.direction.value, snap.remote_name,
                              uri or snap.remote_uri, duration, result_of(snap)))

    def add(self, entry: HistoryEntry) -> None:
        self.history.add(entry)
        self.beginInsertRows(QModelIndex(), 0, 0)
        self._rows.insert(0, entry)
        self.endInsertRows()
        if len(self._rows) > MAX_ROWS:
            self.beginRemoveRows(QModelIndex(), MAX_ROWS, len(self._rows) - 1)
            del self._rows[MAX_ROWS:]
            self.endRemoveRows()
        self.completions.setStringList(self.history.numbers())
        self.added.emit()

    def entry(self, row: int) -> HistoryEntry | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if (orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole
                and 0 <= section < len(HEADERS)):
            return HEADERS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        entry = self.entry(index.row()) if index.isValid() else None
        if entry is None:
            return None
        column = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            if column == 0:
                return time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.started))
            if column == 1:
                return "in" if entry.direction == CallDirection.INBOUND.value else "out"
            if column == 2:
                return party_text(entry.name, entry.uri)
            if column == 3:
                return "" if entry.duration is None else format_duration(entry.duration)
            return one_line(entry.result, 80)
        if role == Qt.ItemDataRole.ToolTipRole and column == 2:
            return plain_tooltip(party_text(entry.name, entry.uri))
        return None
