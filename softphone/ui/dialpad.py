"""The 12-key dialpad."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGridLayout, QPushButton, QWidget

KEYS = ("123", "456", "789", "*0#")
# Spoken names, so a screen reader says "star" rather than "asterisk"/nothing.
_SPOKEN = {"*": "star", "#": "pound"}


class Dialpad(QWidget):
    """Buttons 0-9, * and #; what a key means (typing or DTMF) is decided by
    whoever listens.

    Signals:
        digit_pressed(str): one of ``0123456789*#``.

    Attributes:
        buttons: key -> its button.
    """

    digit_pressed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Dialpad")
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.buttons: dict[str, QPushButton] = {}
        for row, keys in enumerate(KEYS):
            for column, key in enumerate(keys):
                button = QPushButton(key, self)
                button.setAccessibleName(f"Dial {_SPOKEN.get(key, key)}")
                # The entry keeps keyboard focus; the pad is for the mouse.
                button.setAutoDefault(False)
                button.clicked.connect(lambda _=False, k=key: self.digit_pressed.emit(k))
                layout.addWidget(button, row, column)
                self.buttons[key] = button
