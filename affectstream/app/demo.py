"""Demo mode: full screen, large fonts, high contrast, for a stand or a talk.

A camera that drops is reopened every few seconds until it is back; a video
file loops. Keys: Space pauses, F toggles full screen, Esc or Q quits.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from affectstream.app.dashboard import Dashboard
from affectstream.app.live import LiveController
from affectstream.app.settings import EngineConfig
from affectstream.app.status import StreamStats
from affectstream.app.theme import DEMO
from affectstream.app.worker import EngineInfo, StreamRequest

KEYS_HINT = "Space pause · F full screen · Esc/Q quit"
STOP_TIMEOUT_MS = 1000


class DemoWindow(QWidget):
    closed = Signal()

    def __init__(self, source: int | str, config: EngineConfig, show_landmarks: bool = False) -> None:
        super().__init__()
        self.setWindowTitle("AffectStream demo")
        self.setStyleSheet(f"background: {DEMO.background}; color: {DEMO.foreground};")
        self.source, self.config = source, config
        self.dashboard = Dashboard(DEMO)
        self.live = LiveController(self.dashboard, self)
        self.live.show_landmarks = show_landmarks
        font = QFont()
        font.setPointSize(DEMO.font_pt)
        self.status = QLabel("starting…")
        self.status.setTextFormat(Qt.TextFormat.PlainText)  # it shows the model's name and file names
        self.status.setFont(font)
        self.hint = QLabel(KEYS_HINT)
        self.hint.setFont(font)
        self.hint.setStyleSheet(f"color: {DEMO.muted};")
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.hint)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.dashboard, 1)
        layout.addLayout(bottom)

        self.live.stats_changed.connect(self._show_stats)
        self.live.message.connect(self._show_message)
        self.live.engine_changed.connect(self._show_engine)
        self._model = ""
        for key, action in ((Qt.Key.Key_Space, self.toggle_pause), (Qt.Key.Key_F, self.toggle_full_screen),
                            (Qt.Key.Key_Escape, self.close), (Qt.Key.Key_Q, self.close)):
            QShortcut(QKeySequence(key), self, action)

    def start(self) -> None:
        is_camera = isinstance(self.source, int)
        self.live.play(StreamRequest(self.source, self.config, loop=not is_camera, reconnect=is_camera))

    def toggle_pause(self) -> None:
        self.live.pause(self.live.state == "playing")

    def enter_full_screen(self) -> None:
        # The screen's size first: without a window manager (a kiosk, Xvfb) nobody else resizes the window.
        self.setGeometry(self.screen().geometry())
        self.showFullScreen()

    def toggle_full_screen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.enter_full_screen()

    def _show_stats(self, stats: StreamStats) -> None:
        self.status.setStyleSheet(f"color: {DEMO.foreground};")
        latency = "" if stats.latency_ms is None else f" · {stats.latency_ms:.0f} ms"
        paused = "paused · " if self.live.state == "paused" else ""
        self.status.setText(f"{paused}{stats.fps:.0f} fps{latency} · {self._model}")

    def _show_engine(self, info: EngineInfo | None) -> None:
        self._model = f"model {info.model_name}" if info is not None else "no model loaded"

    def _show_message(self, text: str, error: bool) -> None:
        self.status.setText(("⚠ " if error else "") + text)
        self.status.setStyleSheet(f"color: {DEMO.error if error else DEMO.foreground};")

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.live.shutdown(STOP_TIMEOUT_MS):
            self.hide()
            self.live.worker.wait()
        event.accept()
        self.closed.emit()
