"""The transfer directory as a tree model: three sections, groups, members, presets.

Section (My Agent Groups / Agent Groups / External Presets) > group > member
agent, and External Presets > preset. Column 0 is the name, column 1 the live
state (with its colour as the decoration) or the preset's number. Every text
is set as item text, which views draw as plain text.
"""

from __future__ import annotations

import enum

from PySide6.QtCore import QObject, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor, QStandardItem, QStandardItemModel

from softphone.core.agent_state import AgentState
from softphone.core.directory import Agent, AgentGroup, Directory
from softphone.core.transfer import TargetKind
from softphone.ui.text import one_line, plain_tooltip

TARGET_ROLE = Qt.ItemDataRole.UserRole + 1   # "agent:ID", "group:ID", "preset:ID"
KIND_ROLE = Qt.ItemDataRole.UserRole + 2     # a TargetKind value, or "section"
SECTION_ROLE = Qt.ItemDataRole.UserRole + 3  # the section key (on section rows)


class Section(enum.StrEnum):
    MY_GROUPS = "my_groups"
    AGENT_GROUPS = "agent_groups"
    PRESETS = "presets"

    @property
    def heading(self) -> str:
        return {Section.MY_GROUPS: "My Agent Groups", Section.AGENT_GROUPS: "Agent Groups",
                Section.PRESETS: "External Presets"}[self]


def agent_state_text(agent: Agent) -> str:
    if agent.state == AgentState.NOT_READY and agent.reason:
        return f"{agent.state.label}: {one_line(agent.reason, 40)}"
    return agent.state.label


class DirectoryModel(QStandardItemModel):
    """The directory for the Session Transfer screen; agents' states stay live.

    Attributes:
        directory: the :class:`Directory` shown (shared with the engine, which
            updates agent states in place; :meth:`update_agent` redraws one).
    """

    def __init__(self, directory: Directory | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setHorizontalHeaderLabels(["Name", "State / number"])
        self.directory = directory or Directory()
        # agent id -> its state cells (an agent may be in several groups).
        self._agent_cells: dict[str, list[QStandardItem]] = {}
        self._group_cells: dict[str, list[QStandardItem]] = {}
        # Group summaries are kept up to date change by change rather than
        # counted again over every member (thousands of agents change state by
        # the hundred a second): agent id -> the groups listing it (once per
        # listing), whether it is counted as available; group id -> its rows
        # and how many of them are available.
        self._groups_of: dict[str, list[str]] = {}
        self._counted_available: dict[str, bool] = {}
        self._group_size: dict[str, int] = {}
        self._available: dict[str, int] = {}
        self.set_directory(self.directory)

    def set_directory(self, directory: Directory) -> None:
        self.directory = directory
        self.removeRows(0, self.rowCount())
        self._agent_cells.clear()
        self._group_cells.clear()
        self._groups_of.clear()
        self._counted_available.clear()
        self._group_size.clear()
        self._available.clear()
        mine = [g for g in directory.my_groups if g in directory.groups]
        others = [g for g in directory.groups if g not in mine]
        for section, group_ids in ((Section.MY_GROUPS, mine), (Section.AGENT_GROUPS, others)):
            row = self._section_row(section)
            for group_id in group_ids:
                row[0].appendRow(self._group_row(directory.groups[group_id]))
            self.appendRow(row)
        presets = self._section_row(Section.PRESETS)
        for preset in directory.presets.values():
            name = _cell(preset.name)
            name.setData(f"preset:{preset.preset_id}", TARGET_ROLE)
            name.setData(TargetKind.PRESET.value, KIND_ROLE)
            owner = directory.groups.get(preset.group_id)
            if owner is not None:
                name.setToolTip(plain_tooltip(f"{one_line(preset.name)} "
                                              f"({one_line(owner.name)})"))
            presets[0].appendRow([name, _cell(preset.number)])
        self.appendRow(presets)

    def _section_row(self, section: Section) -> list[QStandardItem]:
        item = _cell(section.heading)
        item.setData("section", KIND_ROLE)
        item.setData(section.value, SECTION_ROLE)
        font = item.font()
        font.setBold(True)
        item.setFont(font)
        item.setSelectable(False)
        return [item, _cell("")]

    def _group_row(self, group: AgentGroup) -> list[QStandardItem]:
        name = _cell(group.name)
        name.setData(f"group:{group.group_id}", TARGET_ROLE)
        name.setData(TargetKind.GROUP.value, KIND_ROLE)
        summary = _cell("")
        self._group_cells.setdefault(group.group_id, []).append(summary)
        rows = available = 0
        for agent_id in group.members:
            agent = self.directory.agents.get(agent_id)
            if agent is None:
                continue
            rows += 1
            self._groups_of.setdefault(agent_id, []).append(group.group_id)
            counted = self._counted_available.setdefault(agent_id,
                                                         agent.state == AgentState.AVAILABLE)
            available += counted
            member = _cell(agent.name)
            member.setData(f"agent:{agent.agent_id}", TARGET_ROLE)
            member.setData(TargetKind.AGENT.value, KIND_ROLE)
            member.setToolTip(plain_tooltip(f"{one_line(agent.name)} <{one_line(agent.uri)}>"))
            state = _cell("")
            self._agent_cells.setdefault(agent.agent_id, []).append(state)
            self._paint_agent(agent, state)
            name.appendRow([member, state])
        self._group_size[group.group_id] = rows
        self._available[group.group_id] = available
        self._paint_group(group.group_id)
        return [name, summary]

    # -- live states ----------------------------------------------------------------

    def update_agent(self, agent_id: str) -> None:
        """Redraw ``agent_id``'s state wherever it is listed."""
        agent = self.directory.agents.get(agent_id)
        if agent is None:
            return
        for cell in self._agent_cells.get(agent_id, []):
            self._paint_agent(agent, cell)
        is_available = agent.state == AgentState.AVAILABLE
        if self._counted_available.get(agent_id, is_available) == is_available:
            return  # every group's count stays as it is
        self._counted_available[agent_id] = is_available
        groups = self._groups_of.get(agent_id, [])
        for group_id in groups:
            self._available[group_id] += 1 if is_available else -1
        for group_id in dict.fromkeys(groups):
            self._paint_group(group_id)

    def _paint_agent(self, agent: Agent, cell: QStandardItem) -> None:
        text = agent_state_text(agent)
        cell.setText(text)
        cell.setData(QColor(agent.state.colour), Qt.ItemDataRole.DecorationRole)
        cell.setData(agent.state.value, Qt.ItemDataRole.UserRole)
        cell.setToolTip(plain_tooltip(text))

    def _paint_group(self, group_id: str) -> None:
        available = self._available.get(group_id, 0)
        text = f"{available} of {self._group_size.get(group_id, 0)} available"
        for cell in self._group_cells.get(group_id, []):
            cell.setText(text)
            cell.setData(QColor(AgentState.AVAILABLE.colour if available
                                else AgentState.LOGGED_OUT.colour),
                         Qt.ItemDataRole.DecorationRole)

    # -- queries --------------------------------------------------------------------

    def section_index(self, section: Section) -> int:
        for row in range(self.rowCount()):
            item = self.item(row, 0)
            if item is not None and item.data(SECTION_ROLE) == section.value:
                return row
        return -1

    def find_target(self, target: str) -> QStandardItem | None:
        """The first row whose target is ``target`` (e.g. ``agent:bob``)."""
        matches = self.match(self.index(0, 0), TARGET_ROLE, target, 1,
                             Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive)
        return self.itemFromIndex(matches[0]) if matches else None


class DirectoryFilter(QSortFilterProxyModel):
    """Case-insensitive filter on names, numbers and states; a matching group
    keeps all its members, a matching member keeps its group and section."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setRecursiveFilteringEnabled(True)
        self.setAutoAcceptChildRows(True)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setFilterKeyColumn(-1)


def _cell(text: str) -> QStandardItem:
    item = QStandardItem(one_line(text, 120))
    item.setEditable(False)
    item.setData(one_line(text, 120), Qt.ItemDataRole.AccessibleTextRole)
    return item
