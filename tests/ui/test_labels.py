"""Plain-text, eliding labels for network text."""

from __future__ import annotations

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from softphone.ui.labels import ElidedLabel
from softphone.ui.text import one_line, party_text, plain_tooltip


def test_elided_label_is_plain_and_elides(qtbot: QtBot):
    long_uri = "sip:" + "a" * 300 + "@<b>example</b>.com"
    label = ElidedLabel(long_uri)
    qtbot.addWidget(label)
    label.resize(120, 20)
    label.show()
    qtbot.waitExposed(label)
    assert label.textFormat() == Qt.TextFormat.PlainText
    assert label.full_text == long_uri
    assert "\u2026" in label.text() and len(label.text()) < len(long_uri)
    assert "&lt;b&gt;" in label.toolTip()
    label.resize(4000, 20)
    qtbot.waitUntil(lambda: label.text() == long_uri)


def test_text_helpers():
    assert one_line("a\r\nb\x00c\u202ed") == "a  b cd"
    assert one_line("x" * 10, limit=5) == "xxxx\u2026"
    assert plain_tooltip("<img src=x>") == "<qt>&lt;img src=x&gt;</qt>"
    assert party_text("", "sip:a@b") == "sip:a@b"
    assert party_text("Al\nice", "sip:a@b") == "Al ice <sip:a@b>"
