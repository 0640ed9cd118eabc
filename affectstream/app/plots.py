"""The pyqtgraph plots: valence/arousal over time, the circumplex, expression bars and AU bars.

They only draw what they are given (arrays and FaceAffect values); choosing the
face and the time window is the caller's job.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsItem

from affectstream.app.theme import Theme
from affectstream.core.labels import ACTION_UNITS, EXPRESSIONS

MAX_BOLD_POINTS = 100  # smoothed curves are drawn from at most this many points (wide lines are dear)
# Bar values that moved less than this (a fraction of the axis, under a pixel) are not redrawn.
INVISIBLE_CHANGE = 0.003
# Russell's circumplex: where some affective words sit (valence, arousal), for orientation.
CIRCUMPLEX_WORDS = (("excited", 0.62, 0.72), ("tense", -0.62, 0.72), ("sad", -0.62, -0.72), ("calm", 0.62, -0.72))


def faint(colour: str, alpha: int) -> QColor:
    c = QColor(colour)
    c.setAlpha(alpha)
    return c


def cache_while_unchanged(*items: QGraphicsItem) -> None:
    """Repaint these from a pixmap until they change themselves.

    Axes, titles, legends, words and guide lines would otherwise be drawn again
    (text is the dear part) whenever a live curve next to them is repainted.
    """
    for item in items:
        item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


def curve(plot_item: pg.PlotItem, pen, **options) -> pg.PlotCurveItem:
    """A bare curve: PlotDataItem's extras (symbols, downsampling, log axes) cost ~0.1 ms a setData."""
    item = pg.PlotCurveItem(pen=pen, **options)
    plot_item.addItem(item)
    return item


def style_plot(plot: pg.PlotWidget, theme: Theme, title: str) -> None:
    """The theme's colours and fonts, and no mouse interaction (the values are live)."""
    plot.setBackground(theme.panel)
    item = plot.getPlotItem()
    item.setTitle(title, color=theme.foreground, size=f"{theme.title_pt}pt")
    item.setMenuEnabled(False)
    item.hideButtons()
    item.setMouseEnabled(False, False)
    font = QFont()
    font.setPointSize(theme.font_pt)
    for side in ("left", "bottom"):
        axis = item.getAxis(side)
        axis.setStyle(tickFont=font, tickTextOffset=max(3, theme.font_pt // 3))
        axis.setTextPen(theme.foreground)
        axis.setPen(theme.muted)
        cache_while_unchanged(axis)
    cache_while_unchanged(item.titleLabel)


def _label_style(theme: Theme) -> dict:
    return {"color": theme.foreground, "font-size": f"{theme.font_pt}pt"}


class VATimePlot(pg.PlotWidget):
    """Valence and arousal against time: raw faint, smoothed bold; a cursor in review mode."""

    def __init__(self, theme: Theme, window_s: float = 10.0) -> None:
        super().__init__()
        self.window_s = window_s
        # The demo's large fonts leave no room for the key to the line styles.
        title = "Valence and arousal" if theme.name == "demo" else "Valence and arousal (bold: smoothed, faint: raw)"
        style_plot(self, theme, title)
        item = self.getPlotItem()
        item.setYRange(-1.05, 1.05, padding=0)
        # No grid: alpha-blended grid lines over the whole plot cost more to paint than the curves.
        item.setLabel("bottom", "seconds", **_label_style(theme))
        zero = item.addLine(y=0, pen=pg.mkPen(theme.muted, width=1))
        legend = item.addLegend(offset=(8, 4), labelTextColor=theme.foreground, labelTextSize=f"{theme.font_pt}pt",
                                brush=faint(theme.panel, 200))
        width = theme.line_width
        raw_width = max(1.0, width / 2.5)
        self.valence_raw = curve(item, pg.mkPen(faint(theme.valence, theme.raw_alpha), width=raw_width), connect="finite")
        self.arousal_raw = curve(item, pg.mkPen(faint(theme.arousal, theme.raw_alpha), width=raw_width), connect="finite")
        self.valence = curve(item, pg.mkPen(theme.valence, width=width), connect="finite")
        self.arousal = curve(item, pg.mkPen(theme.arousal, width=width), connect="finite")
        legend.addItem(self.valence, "valence")
        legend.addItem(self.arousal, "arousal")
        legend.setLabelTextColor(theme.foreground)
        cache_while_unchanged(zero, legend)
        self.cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen(theme.foreground, width=2))
        self.cursor.setVisible(False)
        item.addItem(self.cursor)
        self.show_live(np.empty((0, 5)), 0.0)

    def show_live(self, series: np.ndarray, now_s: float) -> None:
        """The last ``window_s`` seconds; ``series`` rows are (t, v raw, a raw, v, a), x is time before now."""
        x = series[:, 0] - now_s
        self.valence_raw.setData(x, series[:, 1])
        self.arousal_raw.setData(x, series[:, 2])
        # Wide lines are slow to paint; smoothed values lose nothing at every k-th point (the newest kept).
        step = max(1, int(np.ceil(len(x) / MAX_BOLD_POINTS)))
        bold = slice((len(x) - 1) % step, None, step)
        self.valence.setData(x[bold], series[bold, 3])
        self.arousal.setData(x[bold], series[bold, 4])
        self.getPlotItem().setXRange(-self.window_s, 0.0, padding=0)

    def show_whole(self, t: np.ndarray, va_raw: np.ndarray, va: np.ndarray) -> None:
        """A whole annotated video; NaN where the face is absent (gaps)."""
        self.valence_raw.setData(t, va_raw[:, 0])
        self.arousal_raw.setData(t, va_raw[:, 1])
        self.valence.setData(t, va[:, 0])
        self.arousal.setData(t, va[:, 1])
        end = float(t[-1]) if len(t) else 1.0
        self.getPlotItem().setXRange(float(t[0]) if len(t) else 0.0, max(end, 1e-3), padding=0.01)

    def set_cursor(self, t: float | None) -> None:
        self.cursor.setVisible(t is not None)
        if t is not None:
            self.cursor.setValue(t)

    @property
    def cursor_time(self) -> float | None:
        return float(self.cursor.value()) if self.cursor.isVisible() else None

    def points(self) -> int:
        """Finite raw valence values on screen (tests use it to see the plot grow)."""
        y = self.valence_raw.yData
        return 0 if y is None else int(np.isfinite(y).sum())


class CircumplexPlot(pg.PlotWidget):
    """The valence-arousal plane: the unit circle, the axes, a short fading trail and the current point."""

    def __init__(self, theme: Theme) -> None:
        super().__init__()
        style_plot(self, theme, "Circumplex")
        item = self.getPlotItem()
        item.setAspectLocked(True)
        item.setRange(xRange=(-1.12, 1.12), yRange=(-1.12, 1.12), padding=0)
        item.setLabel("bottom", "valence", **_label_style(theme))
        item.setLabel("left", "arousal", **_label_style(theme))
        angle = np.linspace(0, 2 * np.pi, 181)
        circle = curve(item, pg.mkPen(theme.muted, width=1.5))
        circle.setData(np.cos(angle), np.sin(angle))
        guides = [circle, item.addLine(x=0, pen=pg.mkPen(theme.muted, width=1)),
                  item.addLine(y=0, pen=pg.mkPen(theme.muted, width=1))]
        font = QFont()
        font.setPointSize(max(theme.font_pt - 1, 7))
        for word, v, a in CIRCUMPLEX_WORDS:
            text = pg.TextItem(word, color=theme.muted, anchor=(0.5, 0.5))
            text.setFont(font)
            text.setPos(v, a)
            item.addItem(text)
            guides.append(text)
        cache_while_unchanged(*guides)
        self.trail = curve(item, pg.mkPen(faint(theme.followed, 150), width=theme.line_width * 0.8))
        # A plain ellipse drawn in screen pixels at a data position: a one-point ScatterPlotItem costs
        # about 0.2 ms a repaint in Python.
        size = 6 + 3 * theme.line_width
        self.point = QGraphicsEllipseItem(-size / 2, -size / 2, size, size)
        self.point.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.point.setBrush(pg.mkBrush(theme.followed))
        self.point.setPen(pg.mkPen(theme.foreground, width=1.5))
        self.point.setZValue(10)
        self.point.setVisible(False)
        item.addItem(self.point)

    def show_trail(self, trail: np.ndarray) -> None:
        """``trail``: (n, 2) smoothed (valence, arousal), oldest first; the last row is the current point."""
        trail = trail[np.isfinite(trail).all(axis=1)] if len(trail) else trail
        if len(trail) == 0:
            self.trail.setData([], [])
            self.point.setVisible(False)
            return
        self.trail.setData(trail[:, 0], trail[:, 1])
        self.point.setPos(float(trail[-1, 0]), float(trail[-1, 1]))
        self.point.setVisible(True)

    def current(self) -> tuple[float, float] | None:
        return (self.point.pos().x(), self.point.pos().y()) if self.point.isVisible() else None


class ExpressionBars(pg.PlotWidget):
    """The 8 expression probabilities as horizontal bars, the top one highlighted."""

    def __init__(self, theme: Theme) -> None:
        super().__init__()
        style_plot(self, theme, "Expression")
        item = self.getPlotItem()
        item.setRange(xRange=(0, 1.03), yRange=(-0.6, len(EXPRESSIONS) - 0.4), padding=0)
        item.invertY(True)
        item.getAxis("left").setTicks([[(i, name) for i, name in enumerate(EXPRESSIONS)]])
        item.getAxis("bottom").setTicks([[(v, f"{v:g}") for v in (0.0, 0.25, 0.5, 0.75, 1.0)]])
        self.bars = pg.BarGraphItem(x0=0, y=np.arange(len(EXPRESSIONS)), height=0.7, width=np.zeros(len(EXPRESSIONS)),
                                    brush=theme.bar, pen=pg.mkPen(None))
        item.addItem(self.bars)
        self._brush, self._top_brush = pg.mkBrush(theme.bar), pg.mkBrush(theme.bar_top)
        self.values = np.zeros(len(EXPRESSIONS))
        self.top = -1

    def show_probs(self, probs: np.ndarray | None) -> None:
        values = np.zeros(len(EXPRESSIONS)) if probs is None else np.asarray(probs, dtype=float)
        top = int(np.argmax(values)) if probs is not None else -1
        if top == self.top and np.abs(values - self.values).max() < INVISIBLE_CHANGE:
            return
        self.values, self.top = values, top
        brushes = [self._top_brush if i == top else self._brush for i in range(len(EXPRESSIONS))]
        self.bars.setOpts(width=values, brushes=brushes)


class AUBars(pg.PlotWidget):
    """The 12 AU probabilities: bars coloured on/off, each threshold marked by a short line."""

    def __init__(self, theme: Theme) -> None:
        super().__init__()
        style_plot(self, theme, "Action units")
        item = self.getPlotItem()
        n = len(ACTION_UNITS)
        item.setRange(xRange=(-0.6, n - 0.4), yRange=(0, 1.03), padding=0)
        item.getAxis("bottom").setTicks([[(i, au.replace("AU", "")) for i, au in enumerate(ACTION_UNITS)]])
        item.getAxis("left").setTicks([[(v, f"{v:g}") for v in (0.0, 0.5, 1.0)]])
        item.setLabel("bottom", "AU", **_label_style(theme))
        self.bars = pg.BarGraphItem(x=np.arange(n), height=np.zeros(n), width=0.7, brush=theme.au_off,
                                    pen=pg.mkPen(None))
        item.addItem(self.bars)
        self.threshold_marks = curve(item, pg.mkPen(theme.threshold, width=max(2.0, theme.line_width * 0.8)),
                                     connect="pairs")
        cache_while_unchanged(self.threshold_marks)
        self._on_brush, self._off_brush = pg.mkBrush(theme.au_on), pg.mkBrush(theme.au_off)
        self.probs = np.zeros(n)
        self.on = np.zeros(n, dtype=bool)
        self.set_thresholds(np.full(n, 0.5))

    def set_thresholds(self, thresholds) -> None:
        """Mark each AU's threshold; None hides the marks (e.g. results read from a CSV)."""
        if thresholds is None:
            self.threshold_marks.setData([], [])
            self.thresholds = None
            return
        thresholds = np.asarray(thresholds, dtype=float)
        x = np.repeat(np.arange(len(thresholds)), 2) + np.tile([-0.42, 0.42], len(thresholds))
        self.threshold_marks.setData(x, np.repeat(thresholds, 2))
        self.thresholds = thresholds

    def show_probs(self, probs: np.ndarray | None, on: np.ndarray | None) -> None:
        n = len(ACTION_UNITS)
        probs = np.zeros(n) if probs is None else np.asarray(probs, dtype=float)
        on = np.zeros(n, dtype=bool) if on is None else np.asarray(on, dtype=bool)
        if np.array_equal(on, self.on) and np.abs(probs - self.probs).max() < INVISIBLE_CHANGE:
            return
        self.probs, self.on = probs, on
        brushes = [self._on_brush if flag else self._off_brush for flag in on]
        self.bars.setOpts(height=probs, brushes=brushes)
