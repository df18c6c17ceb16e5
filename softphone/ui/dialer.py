"""The number entry: where the agent types whom to call."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from softphone.ui.text import one_line


class Dialer(QWidget):
    """A number/URI entry (Enter dials), a Call button and an inline error line.

    Signals:
        call_requested(str): the agent asked to call the entry's text.

    Attributes:
        entry: the QLineEdit.
        call_button: the Call button.
        error_label: shows why the last attempt failed (plain text).
    """

    call_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entry = QLineEdit(self)
        self.entry.setPlaceholderText("Number or sip:user@host")
        self.entry.setAccessibleName("Number or SIP address")
        self.entry.setClearButtonEnabled(True)
        self.entry.setMaxLength(1024)
        self.call_button = QPushButton("&Call", self)
        self.call_button.setAccessibleName("Call")
        self.call_button.setAutoDefault(False)
        self.error_label = QLabel(self)
        # Error messages quote what was typed, which may be markup.
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setWordWrap(True)
        self.error_label.setAccessibleName("Dial error")
        self.error_label.setStyleSheet("color: #b00020;")
        self.error_label.hide()

        row = QHBoxLayout()
        row.addWidget(self.entry, 1)
        row.addWidget(self.call_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.error_label)

        self.entry.returnPressed.connect(self._request)
        self.call_button.clicked.connect(self._request)
        self.entry.textEdited.connect(lambda _text: self.clear_error())

    def show_error(self, message: str) -> None:
        self.error_label.setText(one_line(message, 300))
        self.error_label.show()

    def clear_error(self) -> None:
        self.error_label.clear()
        self.error_label.hide()

    def type_digit(self, digit: str) -> None:
        self.entry.insert(digit)
        self.entry.setFocus()

    def clear(self) -> None:
        self.entry.clear()
        self.clear_error()

    def _request(self) -> None:
        text = self.entry.text().strip()
        if text:
            self.call_requested.emit(text)
        else:
            self.show_error("Type a number or a SIP address first.")
