"""The Session Transfer screen and agent state on a real in-process engine
(no peers): sections, live states, disabled actions and their reasons, the
feature switches, and sections remembered across a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from softphone.config.schema import DialPlan
from softphone.config.startup import load_configuration
from softphone.core.agent_state import AgentState
from softphone.core.directory import Directory
from softphone.gui import ui_state_saver
from softphone.runtime import Runtime
from softphone.ui.directory_model import DirectoryModel, Section
from softphone.ui.main_window import MainWindow, UiFeatures
from softphone.ui.transfer_screen import NO_CALL, NO_TARGET, TransferScreen

DIRECTORY = {
    "agents": [{"id": "bob", "name": "Bob <b>Builder</b>", "uri": "sip:bob@127.0.0.1:9"},
               {"id": "carol", "name": "Carol", "uri": "sip:carol@127.0.0.1:9"}],
    "groups": [{"id": "support", "name": "Support", "members": ["bob", "carol"]},
               {"id": "sales", "name": "Sales", "members": ["carol"]}],
    "presets": [{"id": "legal", "name": "Legal", "number": "+442079460018"}],
    "my_groups": ["support"],
}


def open_window(qtbot: QtBot, runtime: Runtime, **kwargs: Any) -> MainWindow:
    runtime.engine.set_directory(Directory.from_json(DIRECTORY))
    window = MainWindow(runtime.engine, tray=False, **kwargs)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def screen_of(window: MainWindow) -> TransferScreen:
    assert window.transfer_screen is not None
    return window.transfer_screen


def section_expanded(screen: TransferScreen, section: Section) -> bool:
    return screen.tree.isExpanded(screen._section_proxy_index(section))


def test_sections_groups_members_and_live_state(qtbot: QtBot, runtime: Runtime):
    screen = screen_of(open_window(qtbot, runtime))
    model = screen.model
    titles = [model.item(row, 0).text() for row in range(model.rowCount())]
    assert titles == ["My Agent Groups", "Agent Groups", "External Presets"]
    mine = model.item(0, 0)
    assert mine.child(0, 0).text() == "Support"
    support = mine.child(0, 0)
    assert support.child(0, 0).text() == "Bob <b>Builder</b>"  # item text: drawn as plain text
    assert model.item(1, 0).child(0, 0).text() == "Sales"
    assert model.item(2, 0).child(0, 0).text() == "Legal"
    assert model.item(2, 0).child(0, 1).text() == "+442079460018"
    bob_state = support.child(0, 1)
    assert bob_state.text() == "Logged Out"
    assert support.child(0, 1).data(Qt.ItemDataRole.DecorationRole) == QColor("#7f8c8d")

    bob = runtime.engine.directory.agents["bob"]
    bob.state, bob.reason = AgentState.NOT_READY, "Lunch"
    runtime.engine.presence.agent_changed.emit("bob")
    assert bob_state.text() == "Not Ready: Lunch"
    assert bob_state.data(Qt.ItemDataRole.DecorationRole) == QColor(AgentState.NOT_READY.colour)
    carol = runtime.engine.directory.agents["carol"]
    carol.state = AgentState.AVAILABLE
    runtime.engine.presence.agent_changed.emit("carol")
    assert support.child(0, 1).text() == "Not Ready: Lunch"
    assert mine.child(0, 1).text() == "1 of 2 available"
    assert model.item(1, 0).child(0, 1).text() == "1 of 1 available"


def test_disabled_actions_say_why(qtbot: QtBot, runtime: Runtime):
    screen = screen_of(open_window(qtbot, runtime))
    sup, unsup = screen.supervised_button, screen.unsupervised_button
    assert not sup.isEnabled() and not unsup.isEnabled()
    assert sup.toolTip() == NO_TARGET == unsup.toolTip()

    assert screen.select_target("preset:legal")
    assert not unsup.isEnabled()
    assert "not to a preset" in unsup.toolTip() and "supervised" in unsup.toolTip()
    assert "not to a preset" in screen.hint_label.text()
    assert not sup.isEnabled() and sup.toolTip() == NO_CALL  # a target, but no call

    screen.select_target("group:support")
    assert unsup.toolTip() == NO_CALL and not screen.hint_label.text().startswith("Unsup")

    QTest.keyClicks(screen.manual_entry, "+44 20 7946 0018")
    assert screen.tree_choice() is None  # typing replaces the tree's choice
    assert not unsup.isEnabled() and "not to an external number" in unsup.toolTip()
    assert not screen.manual_error.isVisible()

    screen.manual_entry.clear()
    QTest.keyClicks(screen.manual_entry, "12<b>")
    assert screen.manual_error.isVisible()
    assert screen.manual_error.text() == (
        "Cannot transfer: only digits, a leading + and * # are allowed")
    assert screen.manual_error.textFormat() == Qt.TextFormat.PlainText
    assert not sup.isEnabled() and sup.toolTip().startswith("Cannot transfer: only digits")
    QTest.keyClick(screen.manual_entry, Qt.Key.Key_Return)
    assert screen.start_supervised() is False
    assert runtime.engine.transfers.active() is None

    screen.manual_entry.clear()
    QTest.keyClicks(screen.manual_entry, "12")
    assert "not an allowed number (allowed: E.164, Internal extension)" in \
        screen.manual_error.text()
    screen.manual_entry.clear()
    assert not screen.manual_error.isVisible() and sup.toolTip() == NO_TARGET


def test_filter_box(qtbot: QtBot, runtime: Runtime):
    screen = screen_of(open_window(qtbot, runtime))
    QTest.keyClicks(screen.filter_entry, "CAROL")
    proxy = screen.proxy
    assert proxy.rowCount() == 2  # My Agent Groups and Agent Groups; no presets
    support = proxy.index(0, 0, proxy.index(0, 0))
    assert proxy.rowCount(support) == 1
    assert proxy.index(0, 0, support).data() == "Carol"
    assert screen.tree.isExpanded(support)
    screen.filter_entry.clear()
    assert proxy.rowCount() == 3


def test_four_way_call_button_only_when_enabled(qtbot: QtBot, runtime: Runtime):
    off = screen_of(open_window(qtbot, runtime, features=UiFeatures(four_way_conference=False)))
    assert off.call_button is None
    assert not [b for b in off.findChildren(QWidget) if b.accessibleName() == "Call fourth party"]
    on = screen_of(open_window(qtbot, runtime, features=UiFeatures(four_way_conference=True)))
    assert on.call_button is not None and on.call_button.isVisible()
    assert not on.call_button.isEnabled()  # only while consulting


def test_session_transfer_switched_off_hides_the_screen(qtbot: QtBot, runtime: Runtime):
    window = open_window(qtbot, runtime, features=UiFeatures(session_transfer=False))
    assert window.transfer_screen is None
    assert not [w for w in window.findChildren(QWidget)
                if w.accessibleName() == "Session Transfer"]
    # No per-call Transfer either: not in the call panel, its context menu or the Call menu.
    assert window.transfer_action is None and window.call_panel.transfer_action is None
    assert "Transfer" not in window.call_panel.buttons
    assert not [a for a in window.actions() if "Transfer" in a.text()]
    # And from the engine's own switch, when no features are passed in.
    runtime.engine.transfers.policy.enabled = False
    assert open_window(qtbot, runtime).transfer_screen is None


def test_collapsed_sections_are_remembered_after_a_restart(qtbot: QtBot, runtime: Runtime,
                                                           tmp_path: Path):
    profile = tmp_path / "profile"
    loaded = load_configuration(profile)
    window = open_window(qtbot, runtime, ui_state=dict(loaded.store.settings.ui),
                         save_ui_state=ui_state_saver(loaded))
    screen = screen_of(window)
    assert all(section_expanded(screen, s) for s in Section)
    screen.tree.collapse(screen._section_proxy_index(Section.AGENT_GROUPS))
    screen.tree.collapse(screen._section_proxy_index(Section.PRESETS))
    # Filtering expands everything for the moment, but is not a choice to remember.
    QTest.keyClicks(screen.filter_entry, "a")
    screen.filter_entry.clear()
    assert not section_expanded(screen, Section.PRESETS)
    window.close()
    settings_text = (profile / "settings.toml").read_text()
    assert "sections_expanded" in settings_text

    restarted = load_configuration(profile)
    assert restarted.store.settings.ui["sections_expanded"] == {
        "my_groups": True, "agent_groups": False, "presets": False}
    again = screen_of(open_window(qtbot, runtime, ui_state=dict(restarted.store.settings.ui),
                                  save_ui_state=ui_state_saver(restarted)))
    assert section_expanded(again, Section.MY_GROUPS)
    assert not section_expanded(again, Section.AGENT_GROUPS)
    assert not section_expanded(again, Section.PRESETS)


def test_dial_plan_international_prefix(qtbot: QtBot, runtime: Runtime):
    plan = DialPlan(international_prefix="00")
    screen = screen_of(open_window(qtbot, runtime, dial_plan=plan))
    QTest.keyClicks(screen.manual_entry, "0044 20 7946 0018")
    choice = screen.manual_choice()
    assert choice is not None and choice.target == "+442079460018" and not choice.problem


def test_agent_state_selector_colour_timer_and_wrap_up(qtbot: QtBot, runtime: Runtime):
    window = open_window(qtbot, runtime)
    widget = window.agent_widget
    assert widget is not None
    agent = runtime.engine.agent
    texts = [widget.selector.itemText(i) for i in range(widget.selector.count())]
    assert texts[0] == "Available" and texts[-1] == "Logged Out"
    assert "Not Ready: Lunch" in texts
    assert widget.state_label.text() == "Available"
    widget.selector.setCurrentIndex(texts.index("Not Ready: Lunch"))
    widget.selector.activated.emit(texts.index("Not Ready: Lunch"))
    assert (agent.status.state, agent.status.reason) == (AgentState.NOT_READY, "Lunch")
    assert widget.state_label.text() == "Not Ready (Lunch)"
    assert AgentState.NOT_READY.colour in widget.swatch.styleSheet()
    widget.clock = lambda: agent.status.since + 75
    widget.refresh_timer()
    assert widget.timer_label.text() == "1:15"
    assert not widget.end_wrap_up_button.isVisible()
    agent.machine.wrap_up_seconds = 30
    agent.set_state("after_call_work")
    assert widget.end_wrap_up_button.isVisible()
    assert widget.timer_label.text().endswith("left")
    QTest.mouseClick(widget.end_wrap_up_button, Qt.MouseButton.LeftButton)
    assert agent.status.state != AgentState.AFTER_CALL_WORK
    assert not widget.end_wrap_up_button.isVisible()


def test_a_fourth_party_that_never_answered_is_said_even_after_the_conference_ends(
        qtbot: QtBot, runtime: Runtime):
    window = open_window(qtbot, runtime, features=UiFeatures(four_way_conference=True))
    screen = screen_of(window)
    # The engine's last word on a conference whose only fourth party did not
    # answer: it is over (the consultation goes on), the failure in the party.
    ended = {"conference_id": "conf-1", "transfer_id": "xfer-1", "held": False,
             "agent_present": True, "ended": True, "parties": [
                 {"call_id": "call-1", "role": "customer", "label": "Jane", "state": "waiting",
                  "failure": None},
                 {"call_id": "call-3", "role": "fourth", "label": "<b>Carol</b>",
                  "state": "left", "failure": {"status_code": 486, "reason": "Busy Here",
                                               "message": "<b>Carol</b> did not answer "
                                                          "(486 Busy Here)"}}]}
    errors: list[str] = []
    screen.error.connect(errors.append)
    runtime.engine.conference.changed.emit(ended)
    assert screen.status_label.text() == "<b>Carol</b> did not answer (486 Busy Here)"
    assert screen.status_label.textFormat() == Qt.TextFormat.PlainText
    assert "<b>Carol</b> did not answer" in window.statusBar().currentMessage()
    assert errors == ["<b>Carol</b> did not answer (486 Busy Here)"]
    runtime.engine.conference.changed.emit(ended)  # said once
    assert len(errors) == 1


def test_the_state_column_fits_its_contents_once_per_burst_of_changes(
        qtbot: QtBot, runtime: Runtime):
    # Sizing the column on every cell change (ResizeToContents) measured every
    # shown row each time: thousands of agents' states made the window stall.
    screen = screen_of(open_window(qtbot, runtime))
    tree = screen.tree

    def fitted() -> bool:
        return tree.columnWidth(1) == max(tree.sizeHintForColumn(1),
                                          tree.header().sectionSizeHint(1))

    qtbot.waitUntil(fitted)
    narrow = tree.columnWidth(1)
    resized: list[int] = []
    tree.header().sectionResized.connect(lambda index, _old, new: resized.append(new)
                                         if index == 1 else None)
    bob = runtime.engine.directory.agents["bob"]
    support = screen.model.item(0, 0).child(0, 0)
    for reason in ("Lunch", "Meeting with the floor manager", "Training on the new CRM"):
        bob.state, bob.reason = AgentState.NOT_READY, reason
        runtime.engine.presence.agent_changed.emit("bob")
        runtime.engine.presence.agent_changed.emit("carol")
        assert support.child(0, 1).text() == f"Not Ready: {reason}"  # drawn at once
    assert resized == []  # sized after the burst, not change by change
    qtbot.waitUntil(lambda: bool(resized))
    qtbot.wait(50)
    assert len(resized) == 1 and resized[0] > narrow and fitted()

    bob.state, bob.reason = AgentState.AVAILABLE, ""
    runtime.engine.presence.agent_changed.emit("bob")
    qtbot.waitUntil(lambda: len(resized) == 2)
    assert tree.columnWidth(1) == narrow and fitted()


def test_group_summaries_follow_each_change_without_recounting(qtbot: QtBot):
    directory = Directory.from_json({
        "agents": [{"id": x, "name": x.title(), "uri": f"sip:{x}@127.0.0.1:9"}
                   for x in ("ann", "ben", "cat", "dan")],
        # Ben is listed twice in Night (two rows): he counts twice, as he is shown.
        "groups": [{"id": "day", "name": "Day", "members": ["ann", "ben", "cat"]},
                   {"id": "night", "name": "Night", "members": ["ben", "cat", "ben"]}],
        "presets": [], "my_groups": ["day"]})
    directory.agents["cat"].state = AgentState.AVAILABLE
    model = DirectoryModel(directory)

    def summaries() -> tuple[str, str]:
        return (model.item(0, 0).child(0, 1).text(), model.item(1, 0).child(0, 1).text())

    assert summaries() == ("1 of 3 available", "1 of 3 available")
    for agent_id, state, reason, expected in (
            ("ben", AgentState.AVAILABLE, "", ("2 of 3 available", "3 of 3 available")),
            ("ben", AgentState.AVAILABLE, "", ("2 of 3 available", "3 of 3 available")),
            ("cat", AgentState.TALKING, "", ("1 of 3 available", "2 of 3 available")),
            ("cat", AgentState.NOT_READY, "Break", ("1 of 3 available", "2 of 3 available")),
            ("ben", AgentState.NOT_READY, "Lunch", ("0 of 3 available", "0 of 3 available")),
            ("dan", AgentState.AVAILABLE, "", ("0 of 3 available", "0 of 3 available")),
            ("ann", AgentState.AVAILABLE, "", ("1 of 3 available", "0 of 3 available"))):
        agent = directory.agents[agent_id]
        agent.state, agent.reason = state, reason
        model.update_agent(agent_id)
        assert summaries() == expected, (agent_id, state)
    assert model.item(1, 0).child(0, 1).data(Qt.ItemDataRole.DecorationRole) == QColor(
        AgentState.LOGGED_OUT.colour)
    model.set_directory(directory)  # counted afresh from the states as they are
    assert summaries() == ("1 of 3 available", "0 of 3 available")
