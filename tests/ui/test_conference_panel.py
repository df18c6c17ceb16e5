"""The conference panel and the Complete question against fakes: what each
party's state reads as (a held party says so), and how the question is worded
for a fourth party still in the conference or still being called."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from softphone.core.calls import HoldState
from softphone.core.conference import Party, PartyRole, PartyState
from softphone.ui.conference_panel import ConferencePanel, fourth_party_box, live_fourth_party
from tests.ui.fakes import FakeCalls, FakeConference


def state_column(panel: ConferencePanel) -> dict[str, str]:
    model = panel.model
    return {str(model.index(r, 1).data()): str(model.index(r, 2).data())
            for r in range(model.rowCount())}


def hold_call(calls: FakeCalls, call_id: str, hold: HoldState) -> None:
    calls.call_changed.emit(calls._set(replace(calls.calls[call_id], hold=hold)))


def test_a_held_waiting_customer_reads_on_hold_not_connecting(qtbot: QtBot):
    calls = FakeCalls()
    conference = FakeConference(calls)
    panel = ConferencePanel(conference, calls, after_action=lambda: None)  # type: ignore[arg-type]
    qtbot.addWidget(panel)
    assert panel.isHidden()
    conference.start(("c-cust", PartyRole.CUSTOMER, "Jane", PartyState.WAITING),
                     ("c-bob", PartyRole.TARGET, "Bob", PartyState.JOINED),
                     ("c-carol", PartyRole.FOURTH, "Carol", PartyState.RINGING))
    # The customer's call is still held from the consultation while carol rings.
    hold_call(calls, "c-cust", HoldState.LOCAL)
    assert state_column(panel) == {"Customer": "On hold", "Transfer target": "In conference",
                                   "Fourth party": "Ringing"}
    # Taken off hold, media not up yet: connecting.
    hold_call(calls, "c-cust", HoldState.NONE)
    assert state_column(panel)["Customer"] == "Connecting"
    # The far end holding a joined party.
    hold_call(calls, "c-bob", HoldState.REMOTE)
    assert state_column(panel)["Transfer target"] == "Held by far end"
    hold_call(calls, "c-bob", HoldState.BOTH)
    assert state_column(panel)["Transfer target"] == "On hold"


def fourth(state: PartyState, label: str = "Carol & <b>Co</b>") -> Party:
    return Party("c-carol", PartyRole.FOURTH, label, state)


def test_complete_question_for_a_fourth_party_in_the_conference(qtbot: QtBot):
    parent = QWidget()
    qtbot.addWidget(parent)
    box, drop, send = fourth_party_box(parent, fourth(PartyState.JOINED), "Bob", True)
    assert box.text() == "The customer goes to Bob. Carol & <b>Co</b> is still in the conference."
    assert box.informativeText() == "Drop Carol & <b>Co</b>, or send Carol & <b>Co</b> to Bob too?"
    assert drop.text() == "Drop Carol && <b>Co</b> and complete"
    assert send is not None and send.text() == "Send Carol && <b>Co</b> too"
    _, _, send = fourth_party_box(parent, fourth(PartyState.JOINED), "+4420", False)
    assert send is None


def test_complete_question_for_a_fourth_party_still_ringing(qtbot: QtBot):
    parent = QWidget()
    qtbot.addWidget(parent)
    ringing = fourth(PartyState.RINGING, "Carol")
    box, drop, send = fourth_party_box(parent, ringing, "Bob", True)
    assert box.text() == "The customer goes to Bob. Carol is still being called."
    assert "still in the conference" not in box.text()
    assert box.informativeText() == "The call to Carol will be cancelled."
    assert drop.text() == "Stop calling Carol and complete"
    assert send is None  # nothing to send along before they answer
    assert box.defaultButton() is drop
    assert box.button(QMessageBox.StandardButton.Cancel) is not None
    # live_fourth_party is what Complete asks about: a ringing one counts.
    calls = FakeCalls()
    conf = FakeConference(calls).start(("c-cust", PartyRole.CUSTOMER, "Jane", PartyState.JOINED),
                                       ("c-carol", PartyRole.FOURTH, "Carol", PartyState.RINGING))
    party = live_fourth_party(conf)
    assert party is not None and party.state == PartyState.RINGING


def test_a_fourth_party_that_did_not_answer_is_said_in_the_status(qtbot: QtBot):
    calls = FakeCalls()
    conference = FakeConference(calls)
    panel = ConferencePanel(conference, calls, after_action=lambda: None)  # type: ignore[arg-type]
    qtbot.addWidget(panel)
    panel.show()
    conference.start(("c-cust", PartyRole.CUSTOMER, "Jane", PartyState.JOINED),
                     ("c-bob", PartyRole.TARGET, "Bob", PartyState.JOINED),
                     ("c-dave", PartyRole.FOURTH, "<b>Dave</b>", PartyState.RINGING))
    assert panel.status_label.isHidden()
    conference.party_failed("c-dave", 486, "Busy <i>Here</i>\r\nX",
                            "<b>Dave</b> did not answer (486 Busy <i>Here</i>\r\nX)")
    assert panel.status_label.isVisible()
    assert panel.status_label.textFormat() == Qt.TextFormat.PlainText
    assert panel.status_label.text() == "<b>Dave</b> did not answer (486 Busy <i>Here</i>  X)"
    assert set(state_column(panel)) == {"Customer", "Transfer target"}
    # Holding keeps saying it, after the failure.
    conference.conf.held = True  # type: ignore[union-attr]
    conference.notify()
    assert panel.status_label.text().endswith("The conference is on hold.")
    assert panel.status_label.text().startswith("<b>Dave</b> did not answer")
    conference.conf.held = False  # type: ignore[union-attr]
    # Another fourth party is called: the old failure is no longer news.
    conference.conf.add("c-eve", PartyRole.FOURTH, "Eve", PartyState.RINGING)  # type: ignore[union-attr]
    conference.notify()
    assert panel.status_label.isHidden()
    # Without a message from the engine: composed from the status.
    conference.party_failed("c-eve", 408, "no answer within 30 s")
    assert panel.status_label.text() == "Eve did not answer (408 no answer within 30 s)"


def test_after_the_transfer_the_conference_goes_on_until_ended(qtbot: QtBot):
    calls = FakeCalls()
    conference = FakeConference(calls)
    kicks: list[int] = []
    panel = ConferencePanel(conference, calls,  # type: ignore[arg-type]
                            after_action=lambda: kicks.append(1))
    qtbot.addWidget(panel)
    panel.show()
    conf = conference.start(("c-cust", PartyRole.CUSTOMER, "Jane", PartyState.JOINED),
                            ("c-carol", PartyRole.FOURTH, "Carol", PartyState.JOINED))
    assert panel.end_button.isEnabled() and panel.status_label.isHidden()
    conf.transfer_over = True  # the target left: customer, agent 1 and carol talk on
    conference.notify()
    assert panel.status_label.text() == (
        "The transfer has ended; the conference goes on until you end it.")
    QTest.mouseClick(panel.end_button, Qt.MouseButton.LeftButton)
    assert conference.ops == [("end",)] and kicks == [1]
    assert panel.isHidden()
    assert not panel.end() and conference.ops == [("end",)]  # nothing left to end
