"""Labels for text that came from the network."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from softphone.ui.text import one_line, plain_tooltip


class ElidedLabel(QLabel):
    """A plain-text, one-line label that elides what does not fit.

    Attributes:
        full_text: the (flattened) text before eliding; the tool tip shows it.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None,
                 elide: Qt.TextElideMode = Qt.TextElideMode.ElideMiddle) -> None:
        super().__init__(parent)
        # Never let Qt guess "rich text" from untrusted content.
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._elide = elide
        self.full_text = ""
        self.set_full_text(text)

    def set_full_text(self, text: str) -> None:
        self.full_text = one_line(text, limit=1024)
        self.setToolTip(plain_tooltip(self.full_text) if self.full_text else "")
        self.setAccessibleDescription(self.full_text)
        self._update_elided()

    def minimumSizeHint(self) -> QSize:
        # Eliding is the point: the layout may shrink the label below its text.
        hint = super().minimumSizeHint()
        return QSize(min(hint.width(), 40), hint.height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._update_elided()

    def _update_elided(self) -> None:
        width = max(self.contentsRect().width(), 40)
        self.setText(self.fontMetrics().elidedText(self.full_text, self._elide, width))
