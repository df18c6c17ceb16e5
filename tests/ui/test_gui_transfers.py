"""The agent desktop on a real in-process engine with headless peers: answering
with a screen pop, a supervised transfer from the transfer screen end to end,
and an unsupervised transfer to a group that hunts by presence.

The engine's pump is a QTimer, so every wait spins the Qt loop
(qtbot.waitUntil on the peers' collected API events) instead of blocking.
"""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from softphone.core.agent_state import AgentState
from softphone.core.directory import Directory
from softphone.core.transfer import Phase
from softphone.runtime import Runtime
from softphone.ui.main_window import MainWindow
from softphone.ui.transfer_screen import TransferScreen
from tests.conftest import InstanceFactory
from tests.helpers.api_client import ApiClient
from tests.helpers.instance import HeadlessInstance
from tests.ui.test_gui_sip import WAIT_MS, find_event, state_text, wait_event

pytestmark = pytest.mark.multiprocess


def api(inst: HeadlessInstance) -> ApiClient:
    assert inst.api is not None
    return inst.api


def open_window(qtbot: QtBot, runtime: Runtime, agents: list[HeadlessInstance]) -> MainWindow:
    directory = {
        "agents": [{"id": a.name, "name": a.name.capitalize(), "uri": a.sip_uri}
                   for a in agents],
        "groups": [{"id": "support", "name": "Support", "members": [a.name for a in agents]}],
        "presets": [{"id": "legal", "name": "Legal", "number": "sip:legal@127.0.0.1:9"}],
        "my_groups": ["support"],
    }
    runtime.engine.set_directory(Directory.from_json(directory))
    window = MainWindow(runtime.engine, tray=False)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def customer_call_answered(qtbot: QtBot, window: MainWindow, customer: HeadlessInstance,
                           pop: dict[str, str] | None = None) -> tuple[str, str]:
    """The customer calls the GUI agent, who clicks Answer: (customer id, agent id)."""
    params: dict[str, Any] = {"uri": window.engine.local_uri}
    if pop:
        params["screen_pop"] = pop
    peer_call = api(customer).call("call.make", **params)["call_id"]
    panel = window.call_panel
    qtbot.waitUntil(lambda: panel.answer_action.isEnabled(), timeout=WAIT_MS)
    call_id = panel.selected_call_id()
    assert call_id is not None
    QTest.mouseClick(panel.buttons["Answer"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: state_text(window, call_id) == "confirmed", timeout=WAIT_MS)
    wait_event(qtbot, api(customer), "call.state", call_id=peer_call, state="confirmed")
    return peer_call, call_id


def screen_of(window: MainWindow) -> TransferScreen:
    assert window.transfer_screen is not None
    return window.transfer_screen


def wait_phase(qtbot: QtBot, window: MainWindow, phase: Phase) -> None:
    seen: list[Phase] = []
    window.engine.transfers.progress.connect(lambda t: seen.append(t.phase))
    t = window.engine.transfers.active()
    if t is not None and t.phase == phase:
        return
    qtbot.waitUntil(lambda: phase in seen, timeout=WAIT_MS)


def test_answering_shows_the_screen_pop_literally(qtbot: QtBot, runtime: Runtime,
                                                  softphones: InstanceFactory):
    customer = softphones("customer")
    window = open_window(qtbot, runtime, [])
    pop = {"name": "<b>Jane</b> \u202eDoe", "case_id": "C-42",
           "notes": "VIP <img src=x> " + "z" * 400}
    customer_call_answered(qtbot, window, customer, pop)
    panel = window.pop_panel
    assert panel.caller_label.full_text == "<b>Jane</b> Doe"
    assert panel.caller_label.textFormat() == Qt.TextFormat.PlainText
    assert panel.number_label.full_text == "customer"
    assert panel.field_labels["case_id"].full_text == "C-42"
    assert panel.notes_edit.toPlainText() == pop["notes"]
    # The agent adds to the notes before transferring: saved onto the call.
    panel.notes_edit.setPlainText("called back")
    QTest.mouseClick(panel.save_notes_button, Qt.MouseButton.LeftButton)
    call_id = window.call_panel.selected_call_id()
    assert call_id is not None
    assert runtime.engine.calls.get(call_id).pop.fields["notes"] == "called back"


def test_supervised_transfer_end_to_end(qtbot: QtBot, runtime: Runtime,
                                        softphones: InstanceFactory):
    customer, bob = softphones("customer"), softphones("bob")
    window = open_window(qtbot, runtime, [bob])
    screen = screen_of(window)
    _, call_id = customer_call_answered(qtbot, window, customer, {"case_id": "S-1"})
    assert screen.select_target("agent:bob")
    assert screen.supervised_button.isEnabled() and screen.unsupervised_button.isEnabled()
    assert not screen.complete_button.isEnabled()

    mark = api(bob).mark()
    QTest.mouseClick(screen.supervised_button, Qt.MouseButton.LeftButton)
    ringing = wait_event(qtbot, api(bob), "call.state", mark, state="incoming")
    assert screen.cancel_button.isEnabled() and not screen.complete_button.isEnabled()
    assert not screen.supervised_button.isEnabled()
    api(bob).call("call.answer", call_id=ringing["call_id"])
    qtbot.waitUntil(screen.complete_button.isEnabled, timeout=WAIT_MS)
    assert "talking to Bob" in screen.status_label.text()

    QTest.mouseClick(screen.complete_button, Qt.MouseButton.LeftButton)
    wait_phase(qtbot, window, Phase.COMPLETED)
    assert "transferred to Bob" in screen.status_label.text()
    qtbot.waitUntil(lambda: runtime.engine.calls.snapshots() == [], timeout=WAIT_MS)
    # The customer is now talking to bob, with the screen pop.
    qtbot.waitUntil(lambda: len(api(bob).call("call.list")["calls"]) == 1, timeout=WAIT_MS)
    (bob_call,) = api(bob).call("call.list")["calls"]
    assert bob_call["state"] == "confirmed" and "customer" in bob_call["remote_uri"]
    assert api(bob).call("call.screen_pop", call_id=bob_call["call_id"])["data"]["case_id"] \
        == "S-1"
    (cust_call,) = api(customer).call("call.list")["calls"]
    assert cust_call["state"] == "confirmed" and "bob" in cust_call["remote_uri"]
    assert call_id not in {s.call_id for s in runtime.engine.calls.snapshots()}


def test_unsupervised_transfer_to_group_goes_to_the_available_member(
        qtbot: QtBot, runtime: Runtime, softphones: InstanceFactory):
    customer, bob, carol = softphones("customer"), softphones("bob"), softphones("carol")
    api(bob).call("agent.set_state", state="not_ready", reason="Break")
    window = open_window(qtbot, runtime, [bob, carol])
    screen = screen_of(window)
    directory = runtime.engine.directory
    # Presence from the peers' own states reaches the tree.
    qtbot.waitUntil(lambda: directory.agents["bob"].state == AgentState.NOT_READY
                    and directory.agents["carol"].state == AgentState.AVAILABLE,
                    timeout=WAIT_MS)
    item = screen.model.find_target("agent:bob")
    assert item is not None
    bob_state = item.parent().child(item.row(), 1)
    assert bob_state.text() == "Not Ready: Break"

    _, call_id = customer_call_answered(qtbot, window, customer, {"case_id": "G-3"})
    assert screen.select_target("group:support")
    assert screen.unsupervised_button.isEnabled()
    mark_bob, mark_carol = api(bob).mark(), api(carol).mark()
    QTest.mouseClick(screen.unsupervised_button, Qt.MouseButton.LeftButton)
    ringing = wait_event(qtbot, api(carol), "call.state", mark_carol, state="incoming")
    pop = wait_event(qtbot, api(carol), "screen_pop", mark_carol, call_id=ringing["call_id"])
    assert pop["data"]["case_id"] == "G-3"
    api(carol).call("call.answer", call_id=ringing["call_id"])
    wait_phase(qtbot, window, Phase.COMPLETED)
    qtbot.waitUntil(lambda: runtime.engine.calls.snapshots() == [], timeout=WAIT_MS)
    (carol_call,) = api(carol).call("call.list")["calls"]
    assert carol_call["state"] == "confirmed" and "customer" in carol_call["remote_uri"]
    assert find_event(api(bob), "call.state", mark_bob) is None
    assert find_event(api(bob), "call.queued", mark_bob) is None
    assert call_id not in {s.call_id for s in runtime.engine.calls.snapshots()}
