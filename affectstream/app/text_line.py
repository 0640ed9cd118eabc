"""One line of text that repaints only itself: the headline and values above the video.

A QLabel whose text changes 25 times a second asks its layout to look at its
size again, and with a style sheet it is not opaque, so Qt repaints everything
beneath it too (window, tab frame, splitters): most of the GUI thread's time in
live mode. This widget has a fixed height, paints its own background and skips
texts it already shows.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

PADDING_X, PADDING_Y = 6, 2


class TextLine(QWidget):
    def __init__(self, point_size: int, bold: bool, align: Qt.AlignmentFlag, foreground: str, background: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        font = QFont()
        font.setPointSize(point_size)
        font.setBold(bold)
        self.setFont(font)
        self._align = align | Qt.AlignmentFlag.AlignVCenter
        self._foreground, self._background = QColor(foreground), QColor(background)
        self._text = ""
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        # Text too long for its room is cut rather than widen the window (a full-screen demo stays full screen).
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(QFontMetrics(font).height() + 2 * PADDING_Y)

    def text(self) -> str:
        return self._text

    def setText(self, text: str) -> None:  # noqa: N802 (QLabel's name, so callers read the same)
        if text != self._text:
            self._text = text
            self.update()

    def sizeHint(self) -> QSize:
        return QSize(QFontMetrics(self.font()).horizontalAdvance(self._text) + 2 * PADDING_X, self.height())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(event.rect(), self._background)
        painter.setPen(self._foreground)
        area = QRect(self.rect()).adjusted(PADDING_X, PADDING_Y, -PADDING_X, -PADDING_Y)
        painter.drawText(area, int(self._align), self._text)
        painter.end()
