"""The video beside the plots, as one widget: the live tab, the review tab and the demo screen each have one.

Left (the larger part): a headline (the followed face's expression, and its
valence and arousal), the video, valence/arousal over time. Right: the
circumplex beside the expression bars (which keeps the circle round), the AU
bars below them.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QHBoxLayout, QSplitter, QVBoxLayout, QWidget

from affectstream.app.plots import AUBars, CircumplexPlot, ExpressionBars, VATimePlot
from affectstream.app.text_line import TextLine
from affectstream.app.theme import Theme
from affectstream.app.video_view import VideoView
from affectstream.core.results.types import FaceAffect

VIDEO_SHARE = 0.58  # of the width, for the video column
VIDEO_HEIGHT_SHARE = 0.7  # of the video column, for the video (the rest: valence/arousal over time)


def headline_text(face: FaceAffect | None) -> str:
    if face is None:
        return "No face"
    return f"#{face.track_id}  {face.expression} {face.expression_probability(face.expression):.0%}"


def values_text(face: FaceAffect | None, short: bool = False) -> str:
    if face is None:
        return ""
    names = ("V", "A") if short else ("valence", "arousal")
    return f"{names[0]} {face.valence:+.2f}   {names[1]} {face.arousal:+.2f}"


class Dashboard(QWidget):
    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.theme = theme
        self.setObjectName("dashboard")
        self.setStyleSheet(f"#dashboard {{ background: {theme.background}; }}")
        self.headline = TextLine(theme.headline_pt, True, Qt.AlignmentFlag.AlignLeft, theme.foreground, theme.background)
        self.values = TextLine(theme.values_pt, False, Qt.AlignmentFlag.AlignRight, theme.foreground, theme.background)
        self.video = VideoView(theme)
        self.va_time = VATimePlot(theme)
        self.circumplex = CircumplexPlot(theme)
        self.expressions = ExpressionBars(theme)
        self.action_units = AUBars(theme)

        heading = QHBoxLayout()
        heading.setContentsMargins(0, 0, 0, 0)
        heading.addWidget(self.headline, 2)
        heading.addWidget(self.values, 1)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.setSpacing(2)
        top_layout.addLayout(heading)
        top_layout.addWidget(self.video, 1)
        self._left = QSplitter(Qt.Orientation.Vertical)
        self._left.addWidget(top)
        self._left.addWidget(self.va_time)

        upper_right = QSplitter(Qt.Orientation.Horizontal)
        upper_right.addWidget(self.circumplex)
        upper_right.addWidget(self.expressions)
        self._right = QSplitter(Qt.Orientation.Vertical)
        self._right.addWidget(upper_right)
        self._right.addWidget(self.action_units)

        self._main = QSplitter(Qt.Orientation.Horizontal)
        self._main.addWidget(self._left)
        self._main.addWidget(self._right)
        for splitter in (self._left, upper_right, self._right, self._main):
            splitter.setStyleSheet(f"QSplitter::handle {{ background: {theme.background}; }}")
            splitter.setChildrenCollapsible(False)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self._main)
        self._proportioned = False
        self.show_face(None)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if not self._proportioned and event.size().width() > 200:
            # Splitters share space by size hints; set the intended proportions once (the user may drag them).
            self._proportioned = True
            width, height = event.size().width(), event.size().height()
            self._main.setSizes([int(width * VIDEO_SHARE), int(width * (1 - VIDEO_SHARE))])
            self._left.setSizes([int(height * VIDEO_HEIGHT_SHARE), int(height * (1 - VIDEO_HEIGHT_SHARE))])
            self._right.setSizes([int(height * 0.58), int(height * 0.42)])

    def show_face(self, face: FaceAffect | None) -> None:
        """The followed face's headline and bars (empty bars when it is not in the frame)."""
        self.headline.setText(headline_text(face))
        self.values.setText(values_text(face, short=self.theme.name == "demo"))  # large letters, less room
        self.expressions.show_probs(None if face is None else face.expr_probs)
        self.action_units.show_probs(None if face is None else face.au_probs, None if face is None else face.au_on)

    def set_thresholds(self, thresholds: np.ndarray | None) -> None:
        self.action_units.set_thresholds(thresholds)

    def clear(self) -> None:
        self.video.clear()
        self.show_face(None)
        self.va_time.show_live(np.empty((0, 5)), 0.0)
        self.va_time.set_cursor(None)
        self.circumplex.show_trail(np.empty((0, 2)))
