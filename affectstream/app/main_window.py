"""The main window: pick a source, start/pause/stop, the live dashboard and the review tab, the status bar."""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from PySide6.QtCore import QSettings, QSignalBlocker, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QLabel, QMainWindow, QMessageBox, QSizePolicy,
                               QTabWidget, QToolBar)

from affectstream.app.dashboard import Dashboard
from affectstream.app.devices import CameraInfo, CudaStatus, cuda_status, list_cameras
from affectstream.app.live import LiveController
from affectstream.app.review import VIDEO_FILTER, ReviewPanel
from affectstream.app.settings import (MAX_CAMERA_INDEX, NOT_REGULAR_FILE, AppSettings, EngineConfig, engine_config,
                                       read_settings, report_settings_warnings, save_settings)
from affectstream.app.settings_dialog import SettingsDialog
from affectstream.app.status import StreamStats, model_text, plain_tooltip, provenance_tooltip, stats_text
from affectstream.app.theme import NORMAL, Theme
from affectstream.app.worker import EngineInfo, StreamRequest
from affectstream.core.errors import UserInputError
from affectstream.core.sources.readers import IMAGE_SUFFIXES, VIDEO_SUFFIXES

STOP_TIMEOUT_MS = 1000
MESSAGE_MS = 10000
OPEN_FILE = "open"  # data of the source list's "Open a video file…" entry


class MainWindow(QMainWindow):
    demo_requested = Signal(object)  # the source to show in demo mode (int, path or None)

    def __init__(self, store: QSettings, cameras: Sequence[CameraInfo] | None = None, cuda: CudaStatus | None = None,
                 model_override: str | None = None, theme: Theme = NORMAL) -> None:
        super().__init__()
        self.setWindowTitle("AffectStream")
        self.store = store
        self.settings, self.settings_warnings = read_settings(store)
        if model_override:
            self.settings = replace(self.settings, model_path=str(model_override))
        self.cameras = list(list_cameras() if cameras is None else cameras)
        self.cuda = cuda or cuda_status()
        if self.settings.provider == "cuda" and not self.cuda.available:
            self.settings = replace(self.settings, provider="cpu")
        self.messages: deque[tuple[str, bool]] = deque(maxlen=100)  # newest last, for the log and tests
        self.file_dialog: QFileDialog | None = None
        self._error_box: QMessageBox | None = None

        self.dashboard = Dashboard(theme)
        self.live = LiveController(self.dashboard, self)
        self.live.show_landmarks = self.settings.show_landmarks
        self.review = ReviewPanel(theme, self.engine_config, self)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.dashboard, "Live")
        self.tabs.addTab(self.review, "Review")
        self.setCentralWidget(self.tabs)
        self._build_toolbar()
        self.stats_label = QLabel(stats_text(StreamStats()))
        self.model_label = QLabel("model: not loaded yet")
        for label in (self.stats_label, self.model_label):
            label.setTextFormat(Qt.TextFormat.PlainText)  # a model's name is its author's text, not markup
            label.setMinimumWidth(60)  # long provenance is cut, not allowed to widen the window
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.statusBar().addPermanentWidget(self.stats_label, 2)
        self.statusBar().addPermanentWidget(self.model_label, 3)
        self.setAcceptDrops(True)

        self.live.message.connect(self.show_message)
        self.live.stats_changed.connect(self._show_stats)
        self.live.engine_changed.connect(self._show_engine)
        self.live.state_changed.connect(self._on_state)
        self.live.tracks_changed.connect(self._update_follow_list)
        self.review.message.connect(self.show_message)
        QShortcut(QKeySequence(Qt.Key.Key_Space), self, self._toggle_pause)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Open), self, self.ask_for_video)
        self._on_state("idle")
        self.resize(1500, 900)
        self._report_settings_warnings()

    # -- building ------------------------------------------------------------------------------
    def _build_toolbar(self) -> None:
        bar = QToolBar("Source")
        bar.setMovable(False)
        self.addToolBar(bar)
        self.source_box = QComboBox()
        self.source_box.setMinimumContentsLength(28)
        for camera in self.cameras:
            self.source_box.addItem(camera.label, camera.index)
        self.source_box.addItem("Open a video file…", OPEN_FILE)
        self.source_box.activated.connect(self._on_source_chosen)
        bar.addWidget(QLabel(" Source "))
        bar.addWidget(self.source_box)
        self.start_action = bar.addAction("▶ Start", self.start)
        self.pause_action = bar.addAction("❚❚ Pause")
        self.pause_action.setCheckable(True)
        self.pause_action.toggled.connect(self.live.pause)
        self.stop_action = bar.addAction("■ Stop", self.live.stop)
        self.loop_box = QCheckBox("Loop video")
        self.loop_box.setChecked(self.settings.loop_video)
        self.loop_box.toggled.connect(lambda on: self.apply_settings(replace(self.settings, loop_video=on)))
        bar.addWidget(self.loop_box)
        bar.addSeparator()
        bar.addWidget(QLabel(" Plots follow "))
        self.follow_box = QComboBox()
        self.follow_box.addItem("the largest face", None)
        self.follow_box.currentIndexChanged.connect(
            lambda index: self.live.set_follow(self.follow_box.itemData(index)))
        bar.addWidget(self.follow_box)
        self.landmarks_box = QCheckBox("Landmarks")
        self.landmarks_box.setChecked(self.settings.show_landmarks)
        self.landmarks_box.toggled.connect(
            lambda on: self.apply_settings(replace(self.settings, show_landmarks=on)))
        bar.addWidget(self.landmarks_box)
        bar.addSeparator()
        bar.addAction("Settings…", self.open_settings)
        self.demo_action = QAction("Demo mode", self)
        self.demo_action.triggered.connect(lambda: self.demo_requested.emit(self.selected_source()))
        bar.addAction(self.demo_action)

    # -- sources ---------------------------------------------------------------------------------
    def engine_config(self) -> EngineConfig:
        return engine_config(self.settings)

    def selected_source(self) -> int | str | None:
        data = self.source_box.currentData()
        return None if data == OPEN_FILE else data

    def _on_source_chosen(self, index: int) -> None:
        if self.source_box.itemData(index) == OPEN_FILE:
            self.ask_for_video()

    def _select_source(self, source: int | str) -> None:
        index = self.source_box.findData(source)
        if index < 0:
            self.source_box.insertItem(self.source_box.count() - 1, Path(str(source)).name, source)
            index = self.source_box.findData(source)
            self.source_box.setItemData(index, plain_tooltip(str(source)), Qt.ItemDataRole.ToolTipRole)
        with QSignalBlocker(self.source_box):
            self.source_box.setCurrentIndex(index)

    def start(self, source: int | str | None = None) -> bool:
        """Play a camera or a video file live (default: the one chosen in the toolbar)."""
        source = self.selected_source() if source is None or source is False else source
        if source is None:
            self.ask_for_video()
            return False
        if isinstance(source, int) and not 0 <= source <= MAX_CAMERA_INDEX:  # Qt's int would overflow
            self.show_message(f"camera {source}: camera indices go from 0 to {MAX_CAMERA_INDEX}", error=True)
            return False
        try:
            config = self.engine_config()
        except UserInputError as exc:
            self.show_message(str(exc), error=True)
            return False
        self._select_source(source)
        self.tabs.setCurrentWidget(self.dashboard)
        request = StreamRequest(source, config, loop=self.settings.loop_video and not isinstance(source, int))
        with QSignalBlocker(self.pause_action):
            self.pause_action.setChecked(False)
        self.live.play(request)
        return True

    def open_path(self, path: str | Path) -> None:
        """A file from the picker or dropped on the window: a CSV opens in review, a video plays
        (or is analysed, on the review tab)."""
        path = Path(path)
        if path.exists() and not (path.is_file() or path.is_dir()):  # reading it would wait for a writer
            self.show_message(f"{path}: {NOT_REGULAR_FILE}", error=True)
            return
        if path.suffix.lower() == ".csv":
            self.tabs.setCurrentWidget(self.review)
            self.review.load_csv(path)
        elif self.tabs.currentWidget() is self.review:
            self.review.analyse(path)
        else:
            self.start(str(path))

    def startup(self, source: int | str | None = None) -> None:
        """What launching does: the given source, else the camera, else say so and offer the file picker."""
        if source is not None:
            if isinstance(source, str):
                self.open_path(source)
            else:
                self.start(source)
            return
        if self.cameras:
            indices = [c.index for c in self.cameras]
            self.start(self.settings.camera_index if self.settings.camera_index in indices else indices[0])
            return
        self.show_message("No camera found. Open a video file to analyse, or connect a camera and pick it under "
                          "Source.", error=True)
        self.dashboard.video.set_message("No camera found: open a video file", error=True)
        self.ask_for_video()

    def ask_for_video(self) -> None:
        suffixes = " ".join(f"*{s}" for s in sorted(VIDEO_SUFFIXES | IMAGE_SUFFIXES))
        dialog = QFileDialog(self, "Open a video", "", f"{VIDEO_FILTER};;Videos and images ({suffixes});;"
                                                        "Results CSV (*.csv)")
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(self.open_path)
        self.file_dialog = dialog
        dialog.open()  # non-blocking: the window keeps running behind it

    # -- settings --------------------------------------------------------------------------------
    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.settings, self.cameras, self.cuda, self)
        dialog.accepted.connect(lambda: self.apply_settings(dialog.chosen()))
        dialog.open()
        return dialog

    def apply_settings(self, new: AppSettings) -> None:
        old, self.settings = self.settings, new
        unsaved = save_settings(self.store, new)
        if unsaved:  # the choice still applies now; the user must know it will not come back next time
            self.show_message(unsaved, error=True)
        self.live.show_landmarks = new.show_landmarks
        for box, value in ((self.landmarks_box, new.show_landmarks), (self.loop_box, new.loop_video)):
            with QSignalBlocker(box):
                box.setChecked(value)
        engine = ("model_path", "smoothing", "smoothing_strength", "au_threshold_offset", "provider", "max_faces")
        restart = any(getattr(old, name) != getattr(new, name) for name in engine)
        if restart and self.live.state in ("playing", "paused", "loading") and self.live.request is not None:
            self.start(self.live.request.source)

    # -- status ----------------------------------------------------------------------------------
    def show_message(self, text: str, error: bool = False) -> None:
        self.messages.append((text, error))
        self.statusBar().showMessage(("⚠ " if error else "") + text, MESSAGE_MS)
        if error:
            if self._error_box is None:
                self._error_box = QMessageBox(QMessageBox.Icon.Warning, "AffectStream", "", parent=self)
                self._error_box.setModal(False)
                self._error_box.setTextFormat(Qt.TextFormat.PlainText)  # messages quote file and model names
            self._error_box.setText(text)
            self._error_box.show()

    def _report_settings_warnings(self) -> None:
        """Values of the settings file that were replaced by defaults: once, on stderr and in the status bar
        (not a dialog: the app works, with defaults, and the line names the file and key to fix)."""
        if self.settings_warnings:
            report_settings_warnings(self.settings_warnings)
            # The file once, then each key: the status bar is one line.
            where = self.store.fileName()
            said = [w.removeprefix(f"{where}: ") for w in self.settings_warnings]
            self.show_message(f"Settings ({where}): " + "; ".join(said))

    def _show_stats(self, stats: StreamStats) -> None:
        self.stats_label.setText(stats_text(stats, self.live.state == "paused"))

    def _show_engine(self, info: EngineInfo | None) -> None:
        if info is None:
            self.model_label.setText("model: none loaded")
            self.model_label.setToolTip("")
            return
        self.model_label.setText(model_text(info.model_name, info.runtime, info.provenance, info.runtime_fallback))
        self.model_label.setToolTip(plain_tooltip(f"{info.model_path}\n{provenance_tooltip(info.provenance)}"))

    def _on_state(self, state: str) -> None:
        self.pause_action.setEnabled(state in ("playing", "paused"))
        self.stop_action.setEnabled(state != "idle")
        if state == "idle":
            with QSignalBlocker(self.pause_action):
                self.pause_action.setChecked(False)

    def _update_follow_list(self, tracks: list[int]) -> None:
        chosen = self.follow_box.currentData()
        with QSignalBlocker(self.follow_box):
            self.follow_box.clear()
            self.follow_box.addItem("the largest face", None)
            for track_id in sorted(set(tracks) | ({chosen} if chosen is not None else set())):
                self.follow_box.addItem(f"face #{track_id}", track_id)
            self.follow_box.setCurrentIndex(max(self.follow_box.findData(chosen), 0))

    def _toggle_pause(self) -> None:
        if self.tabs.currentWidget() is self.review:
            self.review.set_playing(not self.review.play_timer.isActive())
        elif self.pause_action.isEnabled():
            self.pause_action.toggle()

    # -- drag and drop ---------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped_file(event) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        path = dropped_file(event)
        if path is not None:
            event.acceptProposedAction()
            self.open_path(path)

    # -- closing ---------------------------------------------------------------------------------
    def shutdown(self, timeout_ms: int = STOP_TIMEOUT_MS) -> bool:
        """Stop every worker thread; True when all stopped within the timeout."""
        live_stopped = self.live.shutdown(timeout_ms)
        review_stopped = self.review.shutdown(timeout_ms)
        return live_stopped and review_stopped

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.shutdown():
            # An engine still loading cannot be interrupted: wait for it rather than destroy a running thread.
            self.hide()
            self.live.worker.wait()
            self.review.shutdown(timeout_ms=None)
        event.accept()


def dropped_file(event) -> str | None:
    urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
    files = [u.toLocalFile() for u in urls if u.isLocalFile()]
    return files[0] if len(files) == 1 and Path(files[0]).is_file() else None
