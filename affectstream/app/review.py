"""Review mode: analyse a whole video in the background, then scrub video and plots together.

The timeline (slider, frame box, play/pause) moves one cursor: the frame shown
(decoded by a FrameReader thread, newest request wins), the cursor on the
valence/arousal plot, the circumplex trail and the bars of that frame. Exports
go through the `annotate` CSV writer and summary plot, off the GUI thread.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, QThread, QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                               QSizePolicy, QSlider, QSpinBox, QVBoxLayout, QWidget)

from affectstream.app.annotation_worker import AnnotationWorker
from affectstream.app.dashboard import Dashboard
from affectstream.app.frame_reader import FrameReader, FrameSeeker
from affectstream.app.review_data import ReviewData, frame_faces, results_from_csv, video_beside
from affectstream.app.settings import EngineConfig
from affectstream.app.tasks import BackgroundTask
from affectstream.app.theme import Theme
from affectstream.core.errors import UserInputError
from affectstream.core.results.csv_file import write_results_csv
from affectstream.core.sources.readers import VIDEO_SUFFIXES, SourceError

TRAIL_S = 1.0
STOP_TIMEOUT_MS = 1000
VIDEO_FILTER = "Videos (" + " ".join(f"*{s}" for s in sorted(VIDEO_SUFFIXES)) + ")"


class ReviewPanel(QWidget):
    message = Signal(str, bool)  # text, is an error
    data_ready = Signal()  # a video's results are loaded and the timeline is live
    export_done = Signal(str)  # the path written

    def __init__(self, theme: Theme, engine_config: Callable[[], EngineConfig], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._engine_config = engine_config
        self.data: ReviewData | None = None
        self.video: Path | None = None
        self.track: int | None = None
        self.frame = 0
        self._annotation: AnnotationWorker | None = None
        self._reader: FrameReader | None = None
        self._image: tuple[int, np.ndarray | None] | None = None  # the newest decoded frame (None: not in the video)
        self._video_frames: int | None = None  # the video's frame count, once its reader has counted
        self.dialog: QFileDialog | None = None

        self.dashboard = Dashboard(theme)
        self.analyse_button = QPushButton("Analyse a video…")
        self.analyse_button.clicked.connect(self.ask_for_video)
        self.open_csv_button = QPushButton("Open a results CSV…")
        self.open_csv_button.clicked.connect(self.ask_for_csv)
        self.file_label = QLabel("No video: analyse one, or open a CSV written by `affectstream annotate` "
                                 "(its video beside it).")
        self.file_label.setTextFormat(Qt.TextFormat.PlainText)  # file names are not markup
        self.file_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.progress = QProgressBar()
        self.progress.setFormat("analysing: %v / %m frames")
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self._cancel_clicked)

        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.play_button.toggled.connect(self.set_playing)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.valueChanged.connect(self.seek)
        self.frame_box = QSpinBox()
        self.frame_box.setPrefix("frame ")
        self.frame_box.setKeyboardTracking(False)  # jump when the number is complete, not at each digit
        self.frame_box.valueChanged.connect(self.seek)
        self.time_label = QLabel("")
        self.follow_box = QComboBox()
        self.follow_box.currentIndexChanged.connect(self._on_follow_changed)
        self.export_csv_button = QPushButton("Export CSV…")
        self.export_csv_button.clicked.connect(lambda: self.ask_export("csv"))
        self.export_png_button = QPushButton("Export PNG…")
        self.export_png_button.clicked.connect(lambda: self.ask_export("png"))
        self.export_eaf_button = QPushButton("Export ELAN…")
        self.export_eaf_button.setToolTip("an ELAN document (.eaf) linked to this video: expression, AU and "
                                          "valence/arousal tiers per face")
        self.export_eaf_button.clicked.connect(lambda: self.ask_export("eaf"))

        top = QHBoxLayout()
        for widget in (self.analyse_button, self.open_csv_button):
            top.addWidget(widget)
        top.addWidget(self.file_label, 1)
        top.addWidget(self.progress, 1)
        top.addWidget(self.cancel_button)
        timeline = QHBoxLayout()
        timeline.addWidget(self.play_button)
        timeline.addWidget(self.slider, 1)
        timeline.addWidget(self.frame_box)
        timeline.addWidget(self.time_label)
        timeline.addWidget(QLabel("Follow:"))
        timeline.addWidget(self.follow_box)
        timeline.addWidget(self.export_csv_button)
        timeline.addWidget(self.export_png_button)
        timeline.addWidget(self.export_eaf_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.dashboard, 1)
        layout.addLayout(timeline)

        self.play_timer = QTimer(self)
        self.play_timer.timeout.connect(self._advance)
        self._set_timeline_enabled(False)
        self.dashboard.video.set_message("Review: analyse a video or open a results CSV")

    # -- loading ------------------------------------------------------------------------------
    def analyse(self, video: str | Path) -> None:
        """Analyse every frame of ``video`` in the background; the timeline opens when it is done."""
        video = Path(video)
        try:
            config = self._engine_config()
            FrameSeeker(video).close()  # a file that does not open is said once, before any thread starts
        except (UserInputError, SourceError) as exc:
            self.message.emit(str(exc), True)
            return
        self._close_video()
        self._open_video(video)
        worker = self._own(AnnotationWorker(video, config))
        worker.progress.connect(self._on_progress, Qt.ConnectionType.QueuedConnection)
        worker.finished_data.connect(self._on_analysed, Qt.ConnectionType.QueuedConnection)
        worker.failed.connect(self._on_analysis_failed, Qt.ConnectionType.QueuedConnection)
        self._annotation = worker
        self.progress.setRange(0, 0)  # busy until the first progress report
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.file_label.setText(f"{video.name}: starting the engine…")
        worker.start()
        self.message.emit(f"analysing {video}", False)

    def load_csv(self, csv_path: str | Path, video: str | Path | None = None) -> bool:
        """Review an `annotate` CSV with its video (by default the one beside it with the same name).

        The CSV is read first: a damaged one is said at once (file and line), before asking for a video,
        and leaves whatever is under review as it was."""
        csv_path = Path(csv_path)
        video = Path(video) if video else video_beside(csv_path)
        try:
            results = results_from_csv(csv_path, video.stem if video else None)
        except ValueError as exc:  # ResultsCsvError: the message names the file and line
            self.message.emit(str(exc), True)
            return False
        except Exception as exc:  # noqa: BLE001 - a slot must not raise: Qt would drop it and show nothing
            self.message.emit(f"{csv_path}: cannot read the results CSV ({type(exc).__name__}: {exc})", True)
            return False
        if video is None:
            self.message.emit(f"{csv_path}: no video named {csv_path.stem}.* beside it; choose its video", True)
            self._ask_file("Choose the video of " + csv_path.name, VIDEO_FILTER,
                           lambda path: self.load_csv(csv_path, path), directory=csv_path.parent)
            return False
        self._close_video()
        self._open_video(video)
        self._show_data(ReviewData(video, results, f"{video.stem} ({csv_path.name})"))
        self.message.emit(f"reviewing {csv_path} with {video.name}", False)
        return True

    def _open_video(self, video: Path) -> None:
        self.video = video
        self.file_label.setText(video.name)
        reader = self._own(FrameReader(video))
        reader.frame_loaded.connect(self._on_frame_loaded, Qt.ConnectionType.QueuedConnection)
        reader.indexed.connect(self._on_indexed, Qt.ConnectionType.QueuedConnection)
        reader.failed.connect(self._on_reader_failed, Qt.ConnectionType.QueuedConnection)
        self._reader = reader
        self._video_frames = None
        reader.start()
        reader.request(1)  # something to look at while the analysis runs
        self.frame = 1

    def _close_video(self) -> None:
        self.set_playing(False)
        self.cancel_analysis()
        if self._reader is not None:
            self._reader.shutdown()
            self._reader = None
        self.data, self._image, self.track = None, None, None
        self._set_timeline_enabled(False)
        self.dashboard.clear()

    def _own(self, thread: QThread) -> QThread:
        """Parent a thread to the panel, so that it is not destroyed while running; it deletes itself when
        done. A thread told to stop is simply forgotten: its results are ignored (see the sender checks)."""
        thread.setParent(self)
        thread.finished.connect(thread.deleteLater)
        return thread

    def _on_indexed(self, count: int) -> None:
        if self.sender() is not self._reader:
            return
        self._video_frames = count
        self._check_video_length()

    def _on_reader_failed(self, text: str) -> None:
        if self.sender() is not self._reader:
            return
        self.dashboard.video.set_message("Cannot show the video: see the message", error=True)
        self.message.emit(text, True)

    def _check_video_length(self) -> None:
        """Results that go past the video's last frame are of another video (or another cut of it): said, and
        those frames shown without a picture rather than with the video's last one."""
        if self.data is None or self._video_frames is None or self.data.last_frame <= self._video_frames:
            return
        self.message.emit(f"{self.data.title}: the results go to frame {self.data.last_frame} but "
                          f"{self.data.video.name} has {self._video_frames} frames; are they of another video? "
                          f"Frames after {self._video_frames} are shown without a picture", True)

    def cancel_analysis(self) -> None:
        if self._annotation is not None:
            self._annotation.cancel()
            self._annotation = None
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)

    def _cancel_clicked(self) -> None:
        """The user's cancel: the analysis stops and the panel says so (nothing is under review)."""
        if self._annotation is None:
            return
        self.cancel_analysis()
        name = self.video.name if self.video else "the video"
        self.file_label.setText(f"{name}: analysis cancelled")
        self.dashboard.video.set_message("Analysis cancelled")
        self.message.emit(f"analysis of {name} cancelled", False)

    def _on_progress(self, done: int, total: int) -> None:
        if self.sender() is not self._annotation:
            return
        self.progress.setRange(0, max(total, done))
        self.progress.setValue(done)
        self.file_label.setText(self.video.name if self.video else "")

    def _on_analysed(self, data: ReviewData) -> None:
        if self.sender() is not self._annotation:
            return  # a cancelled run that finished anyway
        self._annotation = None
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self._show_data(data)
        if data.problem:
            self.message.emit(f"{data.problem} (review shows the {len(data.results)} frames before it)", True)
        else:
            self.message.emit(f"analysed {len(data.results)} frames of {data.video.name}", False)

    def _on_analysis_failed(self, text: str) -> None:
        if self.sender() is not self._annotation:
            return
        self._annotation = None
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self.file_label.setText(f"{self.video.name if self.video else ''}: analysis failed")
        self.dashboard.video.set_message("Analysis failed: see the message", error=True)
        self.message.emit(text, True)

    def _show_data(self, data: ReviewData) -> None:
        self.data = data
        label = f"{data.video.name} · {len(data.results)} frames · {data.title}"
        self.file_label.setText(label + (" · INCOMPLETE" if data.problem else ""))
        with QSignalBlocker(self.follow_box):
            self.follow_box.clear()
            tracks = data.tracks()
            for track_id in tracks:
                self.follow_box.addItem(f"face #{track_id}", track_id)
            if not tracks:
                self.follow_box.addItem("no face", None)
        self.track = tracks[0] if tracks else None
        for control in (self.slider, self.frame_box):
            with QSignalBlocker(control):
                control.setRange(data.first_frame, data.last_frame)
        steps = np.diff([r.timestamp_ms for r in data.results])
        frame_ms = float(np.median(steps)) if len(steps) else 33.3
        self.play_timer.setInterval(max(int(round(frame_ms)), 5))
        self._set_timeline_enabled(True)
        self.dashboard.set_thresholds(data.au_thresholds)
        self._show_track()
        self.seek(data.first_frame)
        self._check_video_length()
        self.data_ready.emit()

    # -- the timeline ---------------------------------------------------------------------------
    def seek(self, frame_number: int) -> None:
        if self.data is None:
            return
        frame_number = min(max(int(frame_number), self.data.first_frame), self.data.last_frame)
        self.frame = frame_number
        for control in (self.slider, self.frame_box):
            if control.value() != frame_number:
                with QSignalBlocker(control):
                    control.setValue(frame_number)
        t = self.data.time_of(frame_number)
        self.time_label.setText(f"{t:6.2f} s")
        self.dashboard.va_time.set_cursor(t)
        self.dashboard.circumplex.show_trail(self.data.trail(self.track, frame_number, TRAIL_S))
        faces, followed = frame_faces(self.data.result_at(frame_number), self.track)
        self.dashboard.show_face(followed)
        if self._image is not None and self._image[0] == frame_number:
            self._show_image()
        elif self._reader is not None:
            self._reader.request(frame_number)

    def _on_frame_loaded(self, frame_number: int, image: np.ndarray) -> None:
        if self.sender() is not self._reader:
            return
        self._image = (frame_number, image)
        if frame_number == self.frame:
            self._show_image()

    def _show_image(self) -> None:
        frame_number, image = self._image
        if image is None:
            self.dashboard.video.clear()
            name = self.video.name if self.video else "the video"
            self.dashboard.video.set_message(f"frame {frame_number} is not in {name} ({self._video_frames} frames)",
                                             error=True)
            return
        result = self.data.result_at(frame_number) if self.data is not None else None
        faces, _ = frame_faces(result, self.track)
        self.dashboard.video.show_frame(image, faces, self.track, False, frame_number)
        no_face = self.data is not None and not faces
        self.dashboard.video.set_message("No face found" if no_face else "")

    def _show_track(self) -> None:
        series = self.data.series(self.track)
        self.dashboard.va_time.show_whole(series.time, series.va_raw, series.va)

    def _on_follow_changed(self, index: int) -> None:
        if self.data is None or index < 0:
            return
        self.track = self.follow_box.itemData(index)
        self._show_track()
        self.seek(self.frame)

    def set_playing(self, playing: bool) -> None:
        playing = bool(playing) and self.data is not None
        if playing and self.frame >= self.data.last_frame:
            self.seek(self.data.first_frame)
        with QSignalBlocker(self.play_button):
            self.play_button.setChecked(playing)
        self.play_button.setText("Pause" if playing else "Play")
        (self.play_timer.start if playing else self.play_timer.stop)()

    def _advance(self) -> None:
        if self.data is None or self.frame >= self.data.last_frame:
            self.set_playing(False)
            return
        self.seek(self.frame + 1)

    def _set_timeline_enabled(self, enabled: bool) -> None:
        for widget in (self.play_button, self.slider, self.frame_box, self.follow_box, self.export_csv_button,
                       self.export_png_button):
            widget.setEnabled(enabled)

    # -- export ---------------------------------------------------------------------------------
    def export_csv(self, path: str | Path) -> BackgroundTask | None:
        """Write the results in the `annotate` CSV format (in the background)."""
        if self.data is None:
            return None
        results, path = list(self.data.results), Path(path)
        return self._run_export(lambda: (write_results_csv(path, results), path)[1])

    def export_png(self, path: str | Path) -> BackgroundTask | None:
        """The `annotate` summary plot of the main face (in the background)."""
        if self.data is None:
            return None
        from affectstream.core.results.summary_plot import plot_summary

        results, path, title = list(self.data.results), Path(path), self.data.title
        return self._run_export(lambda: plot_summary(results, path, title))

    def export_eaf(self, path: str | Path) -> BackgroundTask | None:
        """An ELAN document linked to the reviewed video, as `export --format elan` writes (in the background)."""
        if self.data is None:
            return None
        from affectstream.core.results.csv_file import RowMaker
        from affectstream.core.results.elan import elan_document, write_eaf
        from affectstream.core.results.frames import table_from_frames

        results, path, video = list(self.data.results), Path(path), self.data.video

        def work() -> Path:
            write_eaf(elan_document(table_from_frames(results, RowMaker()), video, path), path)
            return path

        return self._run_export(work)

    def _run_export(self, work) -> BackgroundTask:
        task = self._own(BackgroundTask(work))
        task.succeeded.connect(self._on_exported, Qt.ConnectionType.QueuedConnection)
        task.failed.connect(lambda text: self.message.emit(f"export failed: {text}", True),
                            Qt.ConnectionType.QueuedConnection)
        task.start()
        return task

    def _on_exported(self, path) -> None:
        self.message.emit(f"wrote {path}", False)
        self.export_done.emit(str(path))

    # -- file pickers (non-blocking, so the GUI keeps running) -----------------------------------
    def ask_for_video(self) -> None:
        self._ask_file("Analyse a video", VIDEO_FILTER, self.analyse)

    def ask_for_csv(self) -> None:
        self._ask_file("Open a results CSV", "Results CSV (*.csv)", self.load_csv)

    def ask_export(self, kind: str) -> None:
        if self.data is None:
            return
        folder = self.data.video.parent
        if not os.access(folder, os.W_OK):
            folder = Path.home()
        suggestion = str(folder / f"{self.data.video.stem}.{kind}")
        action = {"csv": self.export_csv, "png": self.export_png, "eaf": self.export_eaf}[kind]
        label = "ELAN" if kind == "eaf" else kind.upper()
        self._ask_file(f"Export {label}", f"{label} (*.{kind})", action, save=True,
                       directory=suggestion)

    def _ask_file(self, title: str, name_filter: str, then: Callable[[str], object], save: bool = False,
                  directory: str | Path | None = None) -> None:
        dialog = QFileDialog(self, title, str(directory or ""), name_filter)
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        if save:
            dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        else:
            dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(then)
        self.dialog = dialog
        dialog.open()

    # -- closing ----------------------------------------------------------------------------------
    def shutdown(self, timeout_ms: int | None = STOP_TIMEOUT_MS) -> bool:
        """Stop every thread of this panel; True when all ended within the timeout (None: wait for them)."""
        self.play_timer.stop()
        self.cancel_analysis()
        if self._reader is not None:
            self._reader.shutdown()
            self._reader = None
        threads = self.findChildren(QThread)
        return all(thread.wait() if timeout_ms is None else thread.wait(timeout_ms) for thread in threads)
