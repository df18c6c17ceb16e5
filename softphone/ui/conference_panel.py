"""The four-way conference inside the Session Transfer screen.

Lists the remote parties (customer, target, fourth party) with their state and
offers what the engine can do with them: drop one party, hold or resume the
whole conference, leave it (the others keep talking through this softphone)
or rejoin. Hidden while there is no conference.

Before Complete, :func:`ask_fourth_party` tells agent 1 what will happen to the
fourth party: dropped by default, or sent to the target too where the target
is an agent or a group.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from softphone.core.calls import CallSnapshot, HoldState
from softphone.core.conference import Conference, Party, PartyRole, PartyState
from softphone.core.errors import SoftphoneError
from softphone.ui.text import one_line, plain_tooltip

if TYPE_CHECKING:
    from softphone.sip.calls import CallManager
    from softphone.sip.conference import ConferenceManager

CALL_ID_ROLE = int(Qt.ItemDataRole.UserRole) + 1

ROLE_TEXT = {PartyRole.CUSTOMER: "Customer", PartyRole.TARGET: "Transfer target",
             PartyRole.FOURTH: "Fourth party"}
STATE_TEXT = {PartyState.RINGING: "Ringing", PartyState.WAITING: "Connecting",
              PartyState.JOINED: "In conference", PartyState.LEFT: "Left"}


class FourthPartyChoice(enum.StrEnum):
    """What Complete does with a fourth party still in the conference."""

    DROP = "drop"
    TRANSFER = "transfer"
    CANCEL = "cancel"  # do not complete after all


AskFourthParty = Callable[[QWidget, Party, str, bool], FourthPartyChoice]
"""Asks agent 1 what Complete does with the fourth party (parent, party, target, can_transfer)."""


def live_fourth_party(conf: Conference | None) -> Party | None:
    """The fourth party still connected or ringing, if any."""
    if conf is None:
        return None
    return next((p for p in conf.remote() if p.role == PartyRole.FOURTH), None)


def fourth_party_box(parent: QWidget, party: Party, target_label: str,
                     can_transfer: bool) -> tuple[QMessageBox, QAbstractButton,
                                                  QAbstractButton | None]:
    """The question :func:`ask_fourth_party` asks: (box, drop button, send button or None).

    A fourth party still ringing cannot be sent along (there is no call to
    refer yet): the only way forward is to stop calling them.
    """
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Complete the transfer")
    box.setTextFormat(Qt.TextFormat.PlainText)
    who, target = one_line(party.label, 60), one_line(target_label, 60)
    # Button texts treat '&' as a mnemonic marker; a literal one is doubled.
    who_button = who.replace("&", "&&")
    send: QAbstractButton | None = None
    if party.state == PartyState.RINGING:
        box.setText(f"The customer goes to {target}. {who} is still being called.")
        box.setInformativeText(f"The call to {who} will be cancelled.")
        drop = box.addButton(f"Stop calling {who_button} and complete",
                             QMessageBox.ButtonRole.AcceptRole)
    else:
        box.setText(f"The customer goes to {target}. {who} is still in the conference.")
        if can_transfer:
            box.setInformativeText(f"Drop {who}, or send {who} to {target} too?")
        else:
            box.setInformativeText(f"{who} will be disconnected: {target} is not an agent or "
                                   "a group, so they cannot be sent along.")
        drop = box.addButton(f"Drop {who_button} and complete",
                             QMessageBox.ButtonRole.AcceptRole)
        if can_transfer:
            send = box.addButton(f"Send {who_button} too", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(drop)
    return box, drop, send


def ask_fourth_party(parent: QWidget, party: Party, target_label: str,
                     can_transfer: bool) -> FourthPartyChoice:
    """Ask agent 1, before Complete, what happens to the fourth party."""
    box, drop, send = fourth_party_box(parent, party, target_label, can_transfer)
    box.exec()
    clicked = box.clickedButton()
    if clicked is drop:
        return FourthPartyChoice.DROP
    if send is not None and clicked is send:
        return FourthPartyChoice.TRANSFER
    return FourthPartyChoice.CANCEL


def failures(data: object) -> dict[str, str]:
    """call id -> what the agent reads, for each party of a ``conference``
    event (the engine's JSON) that never answered; shown as plain text."""
    parties = data.get("parties") if isinstance(data, dict) else None
    found: dict[str, str] = {}
    for party in parties if isinstance(parties, list) else []:
        failure = party.get("failure") if isinstance(party, dict) else None
        if not isinstance(failure, dict):
            continue
        message = str(failure.get("message") or "")
        if not message:
            code, reason = failure.get("status_code") or 0, str(failure.get("reason") or "")
            why = f"{code} {reason}".strip() if code else reason
            message = f"{party.get('label') or 'The party'} did not answer" + (
                f" ({why})" if why else "")
        found[str(party.get("call_id"))] = one_line(message, 200)
    return found


def party_state_text(party: Party, hold: HoldState | None) -> str:
    """A party's state for the agent: a connected call on hold says so.

    ``hold`` is the party's call hold state (None when the call is not known).
    """
    if party.state in (PartyState.WAITING, PartyState.JOINED):
        if hold in (HoldState.LOCAL, HoldState.BOTH):
            return "On hold"
        if hold == HoldState.REMOTE:
            return "Held by far end"
    return STATE_TEXT[party.state]


class ConferencePanel(QWidget):
    """The parties of the running four-way conference and its actions.

    Signals:
        error(str): an operation failed; the message is for the agent.

    Attributes:
        model / view: one row per party (name, role, state), plain text.
        drop_button: hangs up the selected party.
        hold_button: holds or resumes the whole conference.
        leave_button: agent 1 leaves (the others keep talking) or rejoins.
        end_button: ends the whole conference (during the transfer: its
            Cancel; once the transfer is over: everyone but the customer goes).
        status_label: held / left / who did not answer, in words.
        failure_text: the last party that never answered, as the engine said
            it ("" when none, or once another fourth party is in).
    """

    error = Signal(str)

    def __init__(self, conference: ConferenceManager, calls: CallManager, *,
                 after_action: Callable[[], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Conference")
        self._conference = conference
        self._calls = calls
        self.failure_text = ""
        self._failed: set[str] = set()
        # Wakes the SIP pump so the re-INVITEs and BYEs go out at once.
        self._after_action = after_action
        self.model = QStandardItemModel(0, 3, self)
        self.model.setHorizontalHeaderLabels(["Party", "Role", "State"])
        self.view = QTreeView(self)
        self.view.setModel(self.model)
        self.view.setAccessibleName("Conference parties")
        self.view.setRootIsDecorated(False)
        self.view.setUniformRowHeights(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.view.setMaximumHeight(110)
        header = self.view.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)

        self.drop_button = _button(self, "&Drop party", "Drop the selected party")
        self.hold_button = _button(self, "&Hold all", "Hold the conference")
        self.leave_button = _button(self, "L&eave", "Leave the conference")
        self.end_button = _button(self, "End con&ference", "End the conference")
        self.end_button.setToolTip("End the conference: everyone but the customer is hung up "
                                   "and you stay with the customer")
        self.status_label = QLabel(self)
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label.setWordWrap(True)
        self.status_label.setAccessibleName("Conference status")

        buttons = QHBoxLayout()
        for button in (self.drop_button, self.hold_button, self.leave_button, self.end_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        layout.addLayout(buttons)
        layout.addWidget(self.status_label)

        self.drop_button.clicked.connect(self.drop_selected)
        self.hold_button.clicked.connect(self.toggle_hold)
        self.leave_button.clicked.connect(self.toggle_presence)
        self.end_button.clicked.connect(self.end)
        self.view.selectionModel().selectionChanged.connect(lambda *_: self._enable())
        conference.changed.connect(self._on_changed)
        # A hold or resume changes a call, not the conference.
        calls.call_changed.connect(self._on_call_changed)
        self.refresh()

    # -- view ---------------------------------------------------------------------

    def refresh(self) -> None:
        conf = self._conference.current()
        selected = self.selected_call_id()
        self.model.removeRows(0, self.model.rowCount())
        if conf is None:
            self.hide()
            return
        holds = {s.call_id: s.hold for s in self._calls.snapshots()}
        for party in conf.parties.values():
            if party.state == PartyState.LEFT:
                continue
            name = QStandardItem(one_line(party.label, 80))
            name.setToolTip(plain_tooltip(one_line(party.label, 300)))
            name.setData(party.call_id, CALL_ID_ROLE)
            state = QStandardItem(party_state_text(party, holds.get(party.call_id)))
            self.model.appendRow([name, QStandardItem(ROLE_TEXT[party.role]), state])
        if selected is not None:
            self.select_party(selected)
        self.hold_button.setText("&Resume all" if conf.held else "&Hold all")
        self.hold_button.setAccessibleName("Resume the conference" if conf.held
                                           else "Hold the conference")
        self.leave_button.setText("R&ejoin" if not conf.agent_present else "L&eave")
        self.leave_button.setAccessibleName("Rejoin the conference" if not conf.agent_present
                                            else "Leave the conference")
        if any(p.role == PartyRole.FOURTH for p in conf.remote()):
            self.failure_text = ""  # another fourth party is in (or on the way)
        status = [self.failure_text] if self.failure_text else []
        if conf.transfer_over:
            status.append("The transfer has ended; the conference goes on until you end it.")
        if conf.held:
            status.append("The conference is on hold.")
        if not conf.agent_present:
            status.append("You have left: the others still hear each other.")
        self.status_label.setText(" ".join(status))
        self.status_label.setVisible(bool(status))
        self._enable()
        self.show()

    def _on_changed(self, data: object) -> None:
        new = {k: v for k, v in failures(data).items() if k not in self._failed}
        if new:
            self._failed.update(new)
            self.failure_text = list(new.values())[-1]
        if isinstance(data, dict) and data.get("ended"):
            self._failed.clear()
            self.failure_text = ""
        self.refresh()

    def _on_call_changed(self, snap: CallSnapshot) -> None:
        conf = self._conference.current()
        if conf is not None and snap.call_id in conf.parties:
            self.refresh()

    def _enable(self) -> None:
        conf = self._conference.current()
        self.drop_button.setEnabled(conf is not None and self.selected_call_id() is not None)
        self.hold_button.setEnabled(conf is not None)
        self.leave_button.setEnabled(conf is not None and not conf.held)
        self.end_button.setEnabled(conf is not None)

    def selected_call_id(self) -> str | None:
        rows = self.view.selectionModel().selectedRows(0)
        return str(rows[0].data(CALL_ID_ROLE)) if rows else None

    def select_party(self, call_id: str) -> bool:
        for row in range(self.model.rowCount()):
            index: QModelIndex = self.model.index(row, 0)
            if index.data(CALL_ID_ROLE) == call_id:
                self.view.selectionModel().select(
                    index, self.view.selectionModel().SelectionFlag.ClearAndSelect
                    | self.view.selectionModel().SelectionFlag.Rows)
                return True
        return False

    # -- actions ------------------------------------------------------------------

    def _run(self, action: str, what: Callable[[], object]) -> bool:
        try:
            what()
        except SoftphoneError as exc:
            self.error.emit(f"Could not {action}: {exc}")
            return False
        finally:
            self._after_action()
        return True

    def drop_selected(self) -> bool:
        call_id = self.selected_call_id()
        if call_id is None:
            return False
        return self._run("drop the party", lambda: self._conference.drop_party(call_id))

    def toggle_hold(self) -> bool:
        conf = self._conference.current()
        if conf is None:
            return False
        if conf.held:
            return self._run("resume the conference", self._conference.resume)
        return self._run("hold the conference", self._conference.hold)

    def toggle_presence(self) -> bool:
        conf = self._conference.current()
        if conf is None:
            return False
        if conf.agent_present:
            return self._run("leave the conference", self._conference.leave)
        return self._run("rejoin the conference", self._conference.rejoin)


    def end(self) -> bool:
        if self._conference.current() is None:
            return False
        return self._run("end the conference", self._conference.end)


def _button(parent: QWidget, text: str, name: str) -> QPushButton:
    button = QPushButton(text, parent)
    button.setAccessibleName(name)
    button.setAutoDefault(False)
    return button
