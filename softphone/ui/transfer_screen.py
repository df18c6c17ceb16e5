"""The Session Transfer screen: manual number, directory sections, the actions.

Supervised transfers go to a manually entered number, an agent, a group or a
preset; unsupervised ones only to an agent or a group (the Unsupervised action
says why in its tool tip otherwise). The Transfer actions are enabled only once
a target is selected or entered; in a consult, Complete and Cancel take over,
and with four-way conferencing a Call button adds the number in the manual
field as a fourth party.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QItemSelection, QModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from softphone.config.schema import DialPlan
from softphone.core.calls import CallState
from softphone.core.conference import PartyState
from softphone.core.errors import SoftphoneError
from softphone.core.transfer import Phase, TargetKind, Transfer, TransferKind
from softphone.ui.conference_panel import (
    AskFourthParty,
    ConferencePanel,
    FourthPartyChoice,
    ask_fourth_party,
    failures,
    live_fourth_party,
)
from softphone.ui.directory_model import (
    KIND_ROLE,
    SECTION_ROLE,
    TARGET_ROLE,
    DirectoryFilter,
    DirectoryModel,
    Section,
)
from softphone.ui.text import one_line
from softphone.ui.transfer_targets import (
    NO_CALL,
    NO_TARGET,
    TargetChoice,
    manual_target,
    progress_text,
    unsupervised_problem,
)

__all__ = ["NO_CALL", "NO_TARGET", "TargetChoice", "TransferScreen"]

if TYPE_CHECKING:
    from softphone.sip.engine import SipEngine


class TransferScreen(QWidget):
    """Manual Transfer, filter, directory tree and the transfer actions.

    Signals:
        sections_changed(dict): the section expanded/collapsed map changed
            (``{"my_groups": bool, "agent_groups": bool, "presets": bool}``).
        error(str): an operation failed; the message is for the agent.

    Attributes:
        manual_entry / manual_error: the Manual Transfer field and why it is refused.
        filter_entry: filters the tree.
        model / proxy / tree: the directory model, its filter and the view.
        supervised_button / unsupervised_button: start a transfer.
        complete_button / cancel_button: end the consult.
        call_button: adds a fourth party; None when four-way conferencing is off.
        conference_panel: the conference's parties and actions (None without four-way).
        ask_fourth_party: asked before Complete while a fourth party is in the
            conference (replaceable, e.g. by tests); returns a FourthPartyChoice.
        hint_label: why the transfer actions are disabled (when a target is given).
        status_label: the current transfer's progress.
        expanded: the remembered section map.
    """

    sections_changed = Signal(dict)
    error = Signal(str)

    def __init__(self, engine: SipEngine, *, selected_call: Callable[[], str | None],
                 dial_plan: DialPlan | None = None, four_way: bool = False,
                 expanded: dict[str, Any] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Session Transfer")
        self._engine = engine
        self._selected_call = selected_call
        self._dial_plan = dial_plan
        self._restoring = False
        self.expanded = {s.value: bool((expanded or {}).get(s.value, True)) for s in Section}

        self.manual_entry = QLineEdit(self)
        self.manual_entry.setPlaceholderText("Manual Transfer: number or sip:address")
        self.manual_entry.setAccessibleName("Manual Transfer number")
        self.manual_entry.setClearButtonEnabled(True)
        self.manual_entry.setMaxLength(256)
        self.manual_error = _plain_label(self, "Manual Transfer problem")
        self.manual_error.setStyleSheet("color: #b00020;")
        self.manual_error.hide()
        self.filter_entry = QLineEdit(self)
        self.filter_entry.setPlaceholderText("Filter agents, groups and presets")
        self.filter_entry.setAccessibleName("Filter directory")
        self.filter_entry.setClearButtonEnabled(True)

        self.model = DirectoryModel(engine.directory, self)
        self.proxy = DirectoryFilter(self)
        self.proxy.setSourceModel(self.model)
        self.tree = QTreeView(self)
        self.tree.setModel(self.proxy)
        self.tree.setAccessibleName("Transfer directory")
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tree.setUniformRowHeights(True)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        # The state column fits its contents, but not through ResizeToContents:
        # that mode measures every shown row again on each change of any cell
        # (4-6 ms with a 500-agent group open, four times per agent state
        # change), and thousands of agents change state by the hundred a
        # second. It is fitted once after a burst of changes instead.
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Fixed)
        self._fit_timer = QTimer(self)
        self._fit_timer.setSingleShot(True)
        self._fit_timer.setInterval(0)
        self._fit_timer.timeout.connect(lambda: self.tree.resizeColumnToContents(1))

        self.supervised_button = _button(self, "&Supervised", "Supervised transfer")
        self.unsupervised_button = _button(self, "&Unsupervised", "Unsupervised transfer")
        self.complete_button = _button(self, "Co&mplete", "Complete transfer")
        self.cancel_button = _button(self, "Ca&ncel", "Cancel transfer")
        self.call_button: QPushButton | None = None
        if four_way:
            self.call_button = _button(self, "Ca&ll", "Call fourth party")
            self.call_button.setToolTip("Call the number in Manual Transfer as a fourth party")
        self.hint_label = _plain_label(self, "Why a transfer action is disabled")
        self.hint_label.setStyleSheet("color: #555;")
        self.status_label = _plain_label(self, "Transfer status")
        self.conference_panel: ConferencePanel | None = None
        conference = getattr(engine, "conference", None)
        if four_way and conference is not None:
            self.conference_panel = ConferencePanel(conference, engine.calls,
                                                    after_action=self._after_action, parent=self)
            self.conference_panel.error.connect(self._on_panel_error)
        self.ask_fourth_party: AskFourthParty = ask_fourth_party
        self._failures_shown: set[str] = set()

        self._build_layout()
        self._connect()
        self._restore_expansion()
        self.refresh()

    def _build_layout(self) -> None:
        actions = QHBoxLayout()
        actions.addWidget(self.supervised_button)
        actions.addWidget(self.unsupervised_button)
        actions.addStretch(1)
        consult = QHBoxLayout()
        consult.addWidget(self.complete_button)
        consult.addWidget(self.cancel_button)
        if self.call_button is not None:
            consult.addWidget(self.call_button)
        consult.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.manual_entry)
        layout.addWidget(self.manual_error)
        layout.addWidget(self.filter_entry)
        layout.addWidget(self.tree, 1)
        layout.addLayout(actions)
        layout.addLayout(consult)
        layout.addWidget(self.hint_label)
        layout.addWidget(self.status_label)
        if self.conference_panel is not None:
            layout.addWidget(self.conference_panel)

    def _connect(self) -> None:
        engine = self._engine
        self.manual_entry.textChanged.connect(self._on_manual_changed)
        self.manual_entry.returnPressed.connect(self.start_supervised)
        self.filter_entry.textChanged.connect(self._on_filter)
        self.tree.selectionModel().selectionChanged.connect(self._on_tree_selection)
        self.tree.expanded.connect(lambda index: self._on_expansion(index, True))
        self.tree.collapsed.connect(lambda index: self._on_expansion(index, False))
        for rows_shown in (self.tree.expanded, self.tree.collapsed, self.proxy.layoutChanged,
                           self.proxy.rowsInserted, self.proxy.rowsRemoved,
                           self.proxy.modelReset):
            rows_shown.connect(lambda *_: self._fit_timer.start())
        self.supervised_button.clicked.connect(self.start_supervised)
        self.unsupervised_button.clicked.connect(self.start_unsupervised)
        self.complete_button.clicked.connect(self.complete)
        self.cancel_button.clicked.connect(self.cancel)
        if self.call_button is not None:
            self.call_button.clicked.connect(self.call_fourth_party)
        engine.transfers.progress.connect(self._on_progress)
        engine.presence.agent_changed.connect(self._on_agent_changed)
        engine.calls.call_changed.connect(lambda _snap: self.refresh())
        conference = getattr(engine, "conference", None)
        if conference is not None:
            conference.changed.connect(self._on_conference_changed)

    # -- directory --------------------------------------------------------------------

    def reload_directory(self) -> None:
        """Show the engine's current directory (after it was replaced)."""
        self.model.set_directory(self._engine.directory)
        self._restore_expansion()
        self.refresh()

    def _on_agent_changed(self, agent_id: str) -> None:
        if self.model.directory is not self._engine.directory:
            self.reload_directory()
        else:
            self.model.update_agent(agent_id)
        self._fit_timer.start()

    def _section_proxy_index(self, section: Section) -> QModelIndex:
        row = self.model.section_index(section)
        return self.proxy.mapFromSource(self.model.index(row, 0)) if row >= 0 else QModelIndex()

    def _restore_expansion(self) -> None:
        self._restoring = True
        try:
            self.tree.collapseAll()
            for section in Section:
                index = self._section_proxy_index(section)
                if not index.isValid():
                    continue
                self.tree.setExpanded(index, self.expanded[section.value])
                if section == Section.MY_GROUPS:
                    for row in range(self.proxy.rowCount(index)):
                        self.tree.setExpanded(self.proxy.index(row, 0, index), True)
        finally:
            self._restoring = False

    def _on_expansion(self, index: QModelIndex, expanded: bool) -> None:
        key = index.data(SECTION_ROLE)
        if self._restoring or self.filter_entry.text() or not key:
            return
        if self.expanded.get(str(key)) != expanded:
            self.expanded[str(key)] = expanded
            self.sections_changed.emit(dict(self.expanded))

    def _on_filter(self, text: str) -> None:
        self.proxy.setFilterFixedString(text.strip())
        if text.strip():
            self._restoring = True
            self.tree.expandAll()
            self._restoring = False
        else:
            self._restore_expansion()

    # -- the target -------------------------------------------------------------------

    def manual_choice(self) -> TargetChoice | None:
        """The Manual Transfer field as a target (None when it is empty)."""
        policy = self._engine.transfers.policy
        return manual_target(self.manual_entry.text(), self._engine.directory, self._dial_plan,
                             external_allowed=policy.external_allowed,
                             allowed_domains=policy.allowed_domains)

    def tree_choice(self) -> TargetChoice | None:
        indexes = self.tree.selectionModel().selectedRows(0)
        if not indexes:
            return None
        target, kind = indexes[0].data(TARGET_ROLE), indexes[0].data(KIND_ROLE)
        if not target or kind == "section":
            return None
        return TargetChoice(str(target), TargetKind(str(kind)), str(indexes[0].data()))

    def current_choice(self) -> TargetChoice | None:
        return self.manual_choice() or self.tree_choice()

    def select_target(self, target: str) -> bool:
        """Select ``target`` (e.g. ``group:support``) in the tree; False if not listed."""
        item = self.model.find_target(target)
        if item is None:
            return False
        index = self.proxy.mapFromSource(item.index())
        if not index.isValid():
            return False
        self.tree.scrollTo(index)
        self.tree.selectionModel().select(
            index, self.tree.selectionModel().SelectionFlag.ClearAndSelect
            | self.tree.selectionModel().SelectionFlag.Rows)
        return True

    def _on_manual_changed(self, text: str) -> None:
        if text.strip():
            self.tree.selectionModel().clearSelection()
        choice = self.manual_choice()
        if choice is not None and choice.problem:
            self.manual_error.setText(one_line(f"Cannot transfer: {choice.problem}", 300))
            self.manual_error.show()
        else:
            self.manual_error.clear()
            self.manual_error.hide()
        self.refresh()

    def _on_tree_selection(self, selected: QItemSelection, deselected: QItemSelection) -> None:
        if self.tree_choice() is not None and self.manual_entry.text():
            self.manual_entry.clear()
        self.refresh()

    # -- enabling -----------------------------------------------------------------------

    def customer_call_id(self) -> str | None:
        """The call a new transfer would move: the selected connected call, or the
        only connected one."""
        ready = [s.call_id for s in self._engine.calls.snapshots()
                 if s.state == CallState.CONFIRMED and not s.handed_off and not s.queued]
        selected = self._selected_call()
        if selected in ready:
            return selected
        return ready[0] if len(ready) == 1 else None

    def refresh(self) -> None:
        transfer = self._engine.transfers.active()
        consulting = (transfer is not None and transfer.kind == TransferKind.SUPERVISED)
        phase = transfer.phase if consulting and transfer is not None else None
        self.complete_button.setEnabled(phase == Phase.CONSULTING)
        self.cancel_button.setEnabled(phase in (Phase.CONSULT_RINGING, Phase.CONSULTING,
                                                Phase.CONSULT_FAILED))
        manual = self.manual_choice()
        choice = manual or self.tree_choice()
        if self.call_button is not None:
            self.call_button.setEnabled(phase == Phase.CONSULTING and manual is not None
                                        and not manual.problem)
        if transfer is not None:
            why = "A transfer is in progress; complete or cancel it first."
            self._set_action(self.supervised_button, why)
            self._set_action(self.unsupervised_button, why)
            self.hint_label.hide()
            return
        if choice is None:
            why = NO_TARGET
        elif choice.problem:
            why = f"Cannot transfer: {choice.problem}"
        elif self.customer_call_id() is None:
            why = NO_CALL
        else:
            why = ""
        self._set_action(self.supervised_button, why, "Consult the target first, then complete")
        # The manual field's own problem is already shown under it.
        hint = "" if choice is None or choice.problem else why
        unsupervised_why = why
        if choice is not None and not choice.problem:
            problem = unsupervised_problem(choice.kind)
            if problem:
                unsupervised_why = hint = f"Unsupervised not allowed: {problem}"
        self._set_action(self.unsupervised_button, unsupervised_why,
                         "Send the call and screen pop now")
        self.hint_label.setText(one_line(hint, 300))
        self.hint_label.setVisible(bool(hint))

    @staticmethod
    def _set_action(button: QPushButton, why: str, tip: str = "") -> None:
        button.setEnabled(not why)
        button.setToolTip(why or tip)
        button.setAccessibleDescription(why or tip)

    # -- operations ---------------------------------------------------------------------

    def _run(self, what: Callable[[], object]) -> bool:
        try:
            what()
        except SoftphoneError as exc:
            self.status_label.setText(one_line(str(exc), 300))
            self.error.emit(str(exc))
            self.refresh()
            return False
        self._engine.pump.kick()
        self.refresh()
        return True

    def start_supervised(self) -> bool:
        call_id, choice = self.customer_call_id(), self.current_choice()
        if call_id is None or choice is None or choice.problem or \
                not self.supervised_button.isEnabled():
            return False
        return self._run(lambda: self._engine.transfers.start_supervised(call_id, choice.target))

    def start_unsupervised(self) -> bool:
        call_id, choice = self.customer_call_id(), self.current_choice()
        if call_id is None or choice is None or not self.unsupervised_button.isEnabled():
            return False
        return self._run(lambda: self._engine.transfers.unsupervised(call_id, choice.target))

    def complete(self) -> bool:
        transfer = self._engine.transfers.active()
        if transfer is None:
            return False
        fourth = FourthPartyChoice.DROP
        conference = getattr(self._engine, "conference", None)
        party = live_fourth_party(conference.current() if conference is not None else None)
        if party is not None:
            # A party still ringing has no call to send along yet.
            can_transfer = (transfer.target.kind in (TargetKind.AGENT, TargetKind.GROUP)
                            and party.state != PartyState.RINGING)
            fourth = self.ask_fourth_party(self, party, transfer.target.label, can_transfer)
            if fourth == FourthPartyChoice.CANCEL:
                return False
        return self._run(lambda: self._engine.transfers.complete_supervised(
            transfer.customer_call_id, fourth_party=fourth.value))

    def cancel(self) -> bool:
        transfer = self._engine.transfers.active()
        if transfer is None:
            return False
        return self._run(lambda: self._engine.transfers.cancel_supervised(
            transfer.customer_call_id))

    def call_fourth_party(self) -> bool:
        conference = getattr(self._engine, "conference", None)
        choice = self.manual_choice()
        if conference is None or choice is None or choice.problem:
            return False
        if self._run(lambda: conference.add_party(choice.target)):
            self.manual_entry.clear()
            return True
        return False

    # -- progress -----------------------------------------------------------------------

    def _on_progress(self, transfer: Transfer) -> None:
        self.status_label.setText(progress_text(transfer, conference=self._mixing()))
        self.refresh()

    def _mixing(self) -> bool:
        conference = getattr(self._engine, "conference", None)
        current = conference.current() if conference is not None else None
        return current is not None and len(current.mixing()) >= 2

    def _on_conference_changed(self, data: object) -> None:
        # A fourth party who never answered: said here too, since the
        # conference (and its panel) may be gone with them.
        failed = False
        for call_id, message in failures(data).items():
            if call_id not in self._failures_shown:
                self._failures_shown.add(call_id)
                self.status_label.setText(message)
                self.error.emit(message)
                failed = True
        transfer = self._engine.transfers.active()
        if (not failed and transfer is not None and transfer.phase == Phase.CONSULTING
                and self._mixing()):
            self.status_label.setText(progress_text(transfer, conference=self._mixing()))
        self.refresh()

    def _after_action(self) -> None:
        self._engine.pump.kick()
        self.refresh()

    def _on_panel_error(self, message: str) -> None:
        self.status_label.setText(one_line(message, 300))
        self.error.emit(message)


def _button(parent: QWidget, text: str, name: str) -> QPushButton:
    button = QPushButton(text, parent)
    button.setAccessibleName(name)
    button.setAutoDefault(False)
    return button


def _plain_label(parent: QWidget, name: str) -> QLabel:
    label = QLabel(parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setAccessibleName(name)
    return label
