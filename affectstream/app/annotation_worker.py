"""Review mode's background pass: every frame of a video through its own engine, as `annotate` does.

The same pass as `annotate` (affectstream.jobs.video.run_video, and annotate's centred
smoothing), keeping the results in memory for the timeline, reporting progress, and
stopping within a frame when cancelled. A video that breaks partway keeps the
frames decoded before the damage, with the error as a message.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from PySide6.QtCore import QThread, Signal

from affectstream.app.review_data import ReviewData, without_landmarks
from affectstream.app.settings import EngineConfig
from affectstream.core.errors import UserInputError
from affectstream.core.sources.readers import SourceError, VideoFileSource
from affectstream.jobs.annotate import smooth_centred
from affectstream.jobs.video import run_video

PROGRESS_INTERVAL_S = 0.1  # progress signals at most this often


class AnnotationWorker(QThread):
    progress = Signal(int, int)  # frames done, frames declared by the container (0: unknown)
    finished_data = Signal(object)  # ReviewData
    failed = Signal(str)

    def __init__(self, video: str | Path, config: EngineConfig, parent=None) -> None:
        super().__init__(parent)
        self.video = Path(video)
        self.config = config
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def run(self) -> None:
        from affectstream.core.engine import AffectEngine

        try:
            source = VideoFileSource(self.video)
        except SourceError as exc:
            self.failed.emit(str(exc))
            return
        try:
            engine = AffectEngine.from_checkpoint(self.config.model_path, self.config.options)
        except UserInputError as exc:
            source.close()
            self.failed.emit(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - report it in the window instead of losing the thread
            source.close()
            self.failed.emit(f"the engine could not start: {type(exc).__name__}: {exc}")
            return
        results: list = []
        total = source.declared_frames or 0
        window, title = engine.offline_window, f"{self.video.stem} ({engine.model_name})"
        thresholds = engine.au_thresholds
        last_report = [0.0]

        def take(result) -> None:
            results.append(without_landmarks(result))
            now = time.perf_counter()
            if now - last_report[0] >= PROGRESS_INTERVAL_S:
                last_report[0] = now
                self.progress.emit(len(results), total)

        try:
            with engine, source:
                done = run_video(engine, source, take, stop=lambda: self.cancelled)
        except Exception as exc:  # noqa: BLE001
            self.failed.emit(f"{self.video}: analysis failed: {type(exc).__name__}: {exc}")
            return
        if self.cancelled or done.stopped:
            return
        if not results:
            self.failed.emit(done.problem or f"{self.video}: no frames could be decoded")
            return
        self.progress.emit(len(results), total)
        self.finished_data.emit(ReviewData(self.video, smooth_centred(results, window), title, done.problem,
                                           thresholds))
