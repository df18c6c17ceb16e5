"""Four-way conferencing from the Session Transfer screen, on a real in-process
engine with headless peers: Call adds the fourth party, the conference panel
drops one party, holds and resumes everyone, leaves and rejoins; Complete asks
what happens to the fourth party first.

Audio of the four-party mix is proven by the multi-process tone tests
(tests/e2e/test_conference.py); these tests drive the widgets.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from softphone.core.conference import Party, PartyRole, PartyState
from softphone.core.transfer import Phase
from softphone.runtime import Runtime
from softphone.ui.conference_panel import ConferencePanel, FourthPartyChoice
from softphone.ui.main_window import MainWindow, UiFeatures
from softphone.ui.transfer_screen import TransferScreen
from tests.conftest import InstanceFactory
from tests.helpers.instance import HeadlessInstance
from tests.ui.test_gui_sip import WAIT_MS, wait_event
from tests.ui.test_gui_transfers import api, customer_call_answered, wait_phase

pytestmark = pytest.mark.multiprocess


def open_four_way_window(qtbot: QtBot, runtime: Runtime,
                         agents: list[HeadlessInstance]) -> MainWindow:
    from tests.ui.test_gui_transfers import open_window

    runtime.engine.conference.enabled = True
    window = open_window(qtbot, runtime, agents)
    assert UiFeatures.from_engine(runtime.engine).four_way_conference
    return window


def screen_and_panel(window: MainWindow) -> tuple[TransferScreen, ConferencePanel]:
    screen = window.transfer_screen
    assert screen is not None and screen.call_button is not None
    assert screen.conference_panel is not None
    return screen, screen.conference_panel


def rows(panel: ConferencePanel) -> list[tuple[str, str, str]]:
    model = panel.model
    return [tuple(str(model.index(r, c).data()) for c in range(3))  # type: ignore[misc]
            for r in range(model.rowCount())]


def click(widget: object) -> None:
    QTest.mouseClick(widget, Qt.MouseButton.LeftButton)  # type: ignore[call-overload]


def start_four_way(qtbot: QtBot, window: MainWindow, customer: HeadlessInstance,
                   bob: HeadlessInstance, carol: HeadlessInstance,
                   answer_fourth: bool = True) -> tuple[str, str, str]:
    """Customer answered, consult with bob, carol called in by Call (and answered,
    unless ``answer_fourth`` is false): (customer's call id at the agent, bob's
    call id at bob, carol's call id at carol)."""
    screen, panel = screen_and_panel(window)
    call_button = screen.call_button
    assert call_button is not None
    assert panel.isHidden()
    _, customer_id = customer_call_answered(qtbot, window, customer, {"case_id": "F-4"})
    assert screen.select_target("agent:bob")
    mark = api(bob).mark()
    click(screen.supervised_button)
    bob_call = wait_event(qtbot, api(bob), "call.state", mark, state="incoming")["call_id"]
    api(bob).call("call.answer", call_id=bob_call)
    qtbot.waitUntil(screen.complete_button.isEnabled, timeout=WAIT_MS)
    assert not call_button.isEnabled()  # nothing typed yet

    screen.manual_entry.setText(carol.sip_uri)
    assert call_button.isEnabled()
    mark = api(carol).mark()
    click(call_button)
    carol_call = wait_event(qtbot, api(carol), "call.state", mark, state="incoming")["call_id"]
    assert screen.manual_entry.text() == ""
    assert panel.isVisible()
    assert ("Carol", "Fourth party", "Ringing") in rows(panel)
    # The customer waits on hold (from the consultation) while carol rings.
    assert [r[2] for r in rows(panel) if r[1] == "Customer"] == ["On hold"]
    if not answer_fourth:
        return customer_id, bob_call, carol_call
    api(carol).call("call.answer", call_id=carol_call)
    qtbot.waitUntil(lambda: [r[2] for r in rows(panel)] == ["In conference"] * 3,
                    timeout=WAIT_MS)
    assert [r[1] for r in rows(panel)] == ["Customer", "Transfer target", "Fourth party"]
    assert screen.status_label.text() == (
        "Supervised transfer: in a conference with Bob: Complete sends the customer to Bob, "
        "Cancel returns you to the customer alone")
    return customer_id, bob_call, carol_call


def test_conference_panel_drop_hold_leave(qtbot: QtBot, runtime: Runtime,
                                          softphones: InstanceFactory):
    customer, bob, carol = softphones("customer"), softphones("bob"), softphones("carol")
    window = open_four_way_window(qtbot, runtime, [bob, carol])
    screen, panel = screen_and_panel(window)
    conference = runtime.engine.conference
    start_four_way(qtbot, window, customer, bob, carol)

    # Hold all: every remote party is held, nobody is mixed; then resume.
    assert not panel.drop_button.isEnabled()  # no party selected
    click(panel.hold_button)
    current = conference.current()
    assert current is not None and current.held and current.mixing() == set()
    assert panel.hold_button.text() == "&Resume all"
    assert panel.status_label.text() == "The conference is on hold."
    assert not panel.leave_button.isEnabled()
    click(panel.hold_button)
    qtbot.waitUntil(lambda: len(conference.current().mixing()) == 3,  # type: ignore[union-attr]
                    timeout=WAIT_MS)
    assert panel.hold_button.text() == "&Hold all"

    # Leave: the others keep talking; rejoin.
    click(panel.leave_button)
    assert not conference.current().agent_present  # type: ignore[union-attr]
    assert "You have left" in panel.status_label.text()
    assert panel.leave_button.text() == "R&ejoin"
    click(panel.leave_button)
    assert conference.current().agent_present  # type: ignore[union-attr]
    assert panel.status_label.isHidden()

    # Drop the fourth party: carol's call ends, customer and bob stay mixed.
    carol_id = next(p.call_id for p in conference.parties() if p.role == PartyRole.FOURTH)
    assert panel.select_party(carol_id)
    assert panel.drop_button.isEnabled()
    mark = api(carol).mark()
    click(panel.drop_button)
    wait_event(qtbot, api(carol), "call.state", mark, state="disconnected")
    qtbot.waitUntil(lambda: len(rows(panel)) == 2, timeout=WAIT_MS)
    assert [r[1] for r in rows(panel)] == ["Customer", "Transfer target"]
    assert {p.state for p in conference.parties()} >= {PartyState.JOINED}

    # With no fourth party left, Complete asks nothing and transfers.
    asked: list[Party] = []

    def ask(parent: object, party: Party, target: str, can_transfer: bool) -> FourthPartyChoice:
        asked.append(party)
        return FourthPartyChoice.DROP

    screen.ask_fourth_party = ask
    click(screen.complete_button)
    wait_phase(qtbot, window, Phase.COMPLETED)
    assert asked == []
    qtbot.waitUntil(lambda: conference.current() is None, timeout=WAIT_MS)
    qtbot.waitUntil(panel.isHidden, timeout=WAIT_MS)


def test_complete_asks_about_the_fourth_party_first(qtbot: QtBot, runtime: Runtime,
                                                    softphones: InstanceFactory):
    customer, bob, carol = softphones("customer"), softphones("bob"), softphones("carol")
    window = open_four_way_window(qtbot, runtime, [bob, carol])
    screen, _panel = screen_and_panel(window)
    _, bob_call, carol_call = start_four_way(qtbot, window, customer, bob, carol)

    answers = [FourthPartyChoice.CANCEL, FourthPartyChoice.DROP]
    asked: list[tuple[str, str, bool]] = []

    def ask(parent: object, party: Party, target: str, can_transfer: bool) -> FourthPartyChoice:
        asked.append((party.label, target, can_transfer))
        return answers.pop(0)

    screen.ask_fourth_party = ask
    # The agent thinks again: nothing happens, the conference goes on.
    click(screen.complete_button)
    assert asked == [("Carol", "Bob", True)]
    transfer = runtime.engine.transfers.active()
    assert transfer is not None and transfer.phase == Phase.CONSULTING
    assert len(runtime.engine.conference.current().mixing()) == 3  # type: ignore[union-attr]

    # Drop and complete: carol is hung up, the customer ends up with bob.
    mark = api(carol).mark()
    click(screen.complete_button)
    assert len(asked) == 2
    wait_phase(qtbot, window, Phase.COMPLETED)
    wait_event(qtbot, api(carol), "call.state", mark, call_id=carol_call, state="disconnected")
    qtbot.waitUntil(lambda: runtime.engine.calls.snapshots() == [], timeout=WAIT_MS)
    qtbot.waitUntil(lambda: any(c["state"] == "confirmed" and "customer" in c["remote_uri"]
                                for c in api(bob).call("call.list")["calls"]),
                    timeout=WAIT_MS)
    assert bob_call not in {c["call_id"] for c in api(bob).call("call.list")["calls"]}


def test_complete_while_the_fourth_party_still_rings(qtbot: QtBot, runtime: Runtime,
                                                     softphones: InstanceFactory):
    customer, bob, carol = softphones("customer"), softphones("bob"), softphones("carol")
    window = open_four_way_window(qtbot, runtime, [bob, carol])
    screen, _panel = screen_and_panel(window)
    _, _bob_call, carol_call = start_four_way(qtbot, window, customer, bob, carol,
                                              answer_fourth=False)
    asked: list[tuple[str, PartyState, bool]] = []

    def ask(parent: object, party: Party, target: str, can_transfer: bool) -> FourthPartyChoice:
        asked.append((party.label, party.state, can_transfer))
        return FourthPartyChoice.DROP

    screen.ask_fourth_party = ask
    mark = api(carol).mark()
    click(screen.complete_button)
    # Bob is an agent, but a ringing carol cannot be sent along: only stop calling her.
    assert asked == [("Carol", PartyState.RINGING, False)]
    wait_phase(qtbot, window, Phase.COMPLETED)
    wait_event(qtbot, api(carol), "call.state", mark, call_id=carol_call, state="disconnected")
    qtbot.waitUntil(lambda: runtime.engine.calls.snapshots() == [], timeout=WAIT_MS)


def test_a_fourth_party_who_declines_is_said_and_the_consult_goes_on(
        qtbot: QtBot, runtime: Runtime, softphones: InstanceFactory):
    customer, bob, carol = softphones("customer"), softphones("bob"), softphones("carol")
    window = open_four_way_window(qtbot, runtime, [bob, carol])
    screen, panel = screen_and_panel(window)
    _, _bob_call, carol_call = start_four_way(qtbot, window, customer, bob, carol,
                                              answer_fourth=False)
    api(carol).call("call.reject", call_id=carol_call, code=486)
    qtbot.waitUntil(lambda: "did not answer" in screen.status_label.text(), timeout=WAIT_MS)
    assert screen.status_label.text() == "Carol did not answer (486 Busy Here)"
    assert "Carol did not answer (486 Busy Here)" in window.statusBar().currentMessage()
    # Nobody was mixed yet: the conference is over, the consultation goes on.
    assert runtime.engine.conference.current() is None and panel.isHidden()
    transfer = runtime.engine.transfers.active()
    assert transfer is not None and transfer.phase == Phase.CONSULTING
    assert screen.complete_button.isEnabled() and screen.cancel_button.isEnabled()


def test_the_target_leaves_and_end_conference_keeps_the_customer(
        qtbot: QtBot, runtime: Runtime, softphones: InstanceFactory):
    customer, bob, carol = softphones("customer"), softphones("bob"), softphones("carol")
    window = open_four_way_window(qtbot, runtime, [bob, carol])
    screen, panel = screen_and_panel(window)
    conference = runtime.engine.conference
    customer_id, _bob_call, carol_call = start_four_way(qtbot, window, customer, bob, carol)
    bob_id = next(p.call_id for p in conference.parties() if p.role == PartyRole.TARGET)
    assert panel.select_party(bob_id)
    click(panel.drop_button)
    # The transfer is over; customer, agent 1 and carol talk on.
    qtbot.waitUntil(lambda: "The transfer has ended" in panel.status_label.text(),
                    timeout=WAIT_MS)
    assert [r[1] for r in rows(panel)] == ["Customer", "Fourth party"]
    assert runtime.engine.transfers.active() is None
    assert not screen.complete_button.isEnabled() and panel.end_button.isEnabled()
    mark = api(carol).mark()
    click(panel.end_button)
    wait_event(qtbot, api(carol), "call.state", mark, call_id=carol_call, state="disconnected")
    qtbot.waitUntil(panel.isHidden, timeout=WAIT_MS)
    assert conference.current() is None
    # The customer stays, with agent 1, as an ordinary call.
    agent_calls = runtime.engine.calls.snapshots()
    assert [(s.call_id, s.state.value) for s in agent_calls] == [(customer_id, "confirmed")]
    assert [c["state"] for c in api(customer).call("call.list")["calls"]] == ["confirmed"]
