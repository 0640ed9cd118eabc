"""Live mode: the analysis worker feeding a dashboard.

The worker's notification takes the newest frame and every new result (cheap:
the image and the boxes, and rows appended to the history). The plots are
redrawn by a timer at REFRESH_HZ instead, so their cost does not grow with the
frame rate; between results the valence/arousal plot scrolls with the clock.
Time spent in both is measured (perf_counter) for `affectstream bench gui`.
"""

from __future__ import annotations

import gc
import time
from collections import deque
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal

from affectstream.app.dashboard import Dashboard
from affectstream.app.history import LiveHistory
from affectstream.app.status import StreamStats
from affectstream.app.worker import AnalysisWorker, EngineInfo, StreamRequest

REFRESH_HZ = 22.0  # above the 20 Hz that reads as fluid; each plot repaint costs the GUI thread ~0.3-1 ms
STATS_INTERVAL_MS = 500
TRAIL_S = 2.0  # the circumplex trail
MAX_EXTRAPOLATION_S = 0.5  # how far the time axis runs on when results stop coming


@dataclass
class GuiTimings:
    """Seconds the GUI thread spent turning results into widgets (for the GUI benchmark)."""

    frame_s: float = 0.0  # in the frame notification (image, boxes, history)
    frames: int = 0  # notifications that showed a frame
    results: int = 0  # results added to the history (frames shown or not)
    refresh_s: float = 0.0  # in timer-driven plot refreshes
    refreshes: int = 0

    def reset(self) -> None:
        self.frame_s = self.refresh_s = 0.0
        self.frames = self.results = self.refreshes = 0


class LiveController(QObject):
    state_changed = Signal(str)  # idle, loading, playing, paused
    stats_changed = Signal(object)  # StreamStats
    engine_changed = Signal(object)  # EngineInfo, or None when no model is loaded
    tracks_changed = Signal(list)  # face ids in the window
    message = Signal(str, bool)  # text, is an error

    def __init__(self, dashboard: Dashboard, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.dashboard = dashboard
        self.history = LiveHistory()
        self.timings = GuiTimings()
        self.follow: int | None = None  # the face the user chose; None follows the largest
        self.followed: int | None = None
        self.show_landmarks = False
        self.state = "idle"
        self.engine_info: EngineInfo | None = None
        self.request: StreamRequest | None = None
        self._dirty = False
        self._last_frame = None  # the AnalysedFrame on screen
        self._last_arrival = 0.0
        self._tracks: list[int] = []
        self._latencies: deque[float] = deque(maxlen=300)
        self._engine_dropped = 0
        self._display_dropped = 0
        self._libraries_frozen = False
        self._faces = 0
        self._stats_at = time.perf_counter()
        self._results_since_stats = 0

        self.worker = AnalysisWorker()
        queued = Qt.ConnectionType.QueuedConnection
        self.worker.frame_ready.connect(self._on_frame_ready, queued)
        self.worker.engine_ready.connect(self._on_engine_ready, queued)
        self.worker.stream_started.connect(self._on_stream_started, queued)
        self.worker.stream_ended.connect(self._on_stream_ended, queued)
        self.worker.source_lost.connect(self._on_source_lost, queued)
        self.worker.failed.connect(self._on_failed, queued)
        self.worker.start()

        self.refresh_timer = QTimer(self)
        self.refresh_timer.setInterval(int(round(1000.0 / REFRESH_HZ)))
        self.refresh_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.refresh_timer.timeout.connect(self.refresh_plots)
        self.stats_timer = QTimer(self)
        self.stats_timer.setInterval(STATS_INTERVAL_MS)
        self.stats_timer.timeout.connect(self._publish_stats)

    # -- commands ----------------------------------------------------------------------
    def play(self, request: StreamRequest) -> None:
        self.request = request
        self._set_state("loading")
        self.dashboard.video.set_message(f"Starting {request.label}…")
        self.worker.play(request)

    def pause(self, paused: bool) -> None:
        if self.state not in ("playing", "paused"):
            return
        self.worker.pause(paused)
        self._set_state("paused" if paused else "playing")

    def stop(self) -> None:
        self.worker.stop_stream()

    def shutdown(self, timeout_ms: int = 1000) -> bool:
        """Stop the stream and the thread; True when it ended within the timeout."""
        self.refresh_timer.stop()
        self.stats_timer.stop()
        self.worker.shutdown()
        return self.worker.wait(timeout_ms)

    def set_follow(self, track_id: int | None) -> None:
        """Follow one face (None: the largest); shown at once, also when the stream has ended."""
        self.follow = track_id
        self.followed = self.history.followed(track_id, self.followed)
        if self._last_frame is not None:
            self._show_frame(self._last_frame)
        self._dirty = True
        self.refresh_plots()

    # -- worker signals --------------------------------------------------------------------
    def _on_engine_ready(self, info: EngineInfo | None) -> None:
        if info is None:  # the old engine closed; a new one may fail to load
            self.engine_info = None
            self.dashboard.set_thresholds(None)
            self.engine_changed.emit(None)
            return
        # torch, MediaPipe and onnxruntime are loaded now: a million long-lived objects that every full
        # garbage collection would walk again (~90 ms on the GUI thread, a visible stall). Freezing them
        # leaves the collector only what is made while playing. Once, for the libraries: freezing on
        # every model change would also make each replaced engine's objects permanent.
        if not self._libraries_frozen:
            gc.collect()
            gc.freeze()
            self._libraries_frozen = True
        self.engine_info = info
        self.dashboard.set_thresholds(info.au_thresholds)
        self.engine_changed.emit(info)

    def _on_stream_started(self, name: str) -> None:
        self.worker.box.clear()
        self.history.clear()
        self.followed = self._last_frame = None
        self.dashboard.video.set_message("")
        self._set_state("playing")
        self.refresh_timer.start()
        self.stats_timer.start()
        self.message.emit(f"playing {name}", False)

    def _on_stream_ended(self, why: str) -> None:
        self._on_frame_ready()  # the last frames may still be in the box
        self.refresh_plots()
        self._set_state("idle")
        self.refresh_timer.stop()
        self.stats_timer.stop()
        self._publish_stats()
        self.message.emit(why, False)

    def _on_source_lost(self, why: str) -> None:
        self.dashboard.video.set_message(why, error=True)
        if self.request is not None and self.request.reconnect and self.request.is_camera:
            self._set_state("loading")
        else:
            self._set_state("idle")
            self.refresh_timer.stop()
            self.stats_timer.stop()
        self.message.emit(why, True)

    def _on_failed(self, why: str) -> None:
        self._set_state("idle")
        self.refresh_timer.stop()
        self.stats_timer.stop()
        self.dashboard.video.set_message("Cannot start: see the message", error=True)
        self.message.emit(why, True)

    def _on_frame_ready(self) -> None:
        started = time.perf_counter()
        delivery = self.worker.box.take()
        if delivery is None:
            return
        for result in delivery.results:
            self.history.add(result)
            self._latencies.append(result.latency.total)
        self._results_since_stats += len(delivery.results)
        latest = delivery.latest
        self._engine_dropped = latest.engine_dropped
        self._display_dropped = delivery.replaced
        self._faces = len(latest.result.faces)
        self.followed = self.history.followed(self.follow, self.followed)
        self._show_frame(latest)
        self._last_arrival = time.perf_counter()
        self._dirty = True
        tracks = self.history.track_ids()
        if tracks != self._tracks:
            self._tracks = tracks
            self.tracks_changed.emit(tracks)
        self.timings.frame_s += time.perf_counter() - started
        self.timings.frames += 1
        self.timings.results += len(delivery.results)

    def _show_frame(self, frame) -> None:
        video = self.dashboard.video
        video.show_frame(frame.image, frame.result.faces, self.followed, self.show_landmarks,
                         frame.result.frame_index)
        video.set_message("" if frame.result.faces else "No face found")
        self._last_frame = frame

    # -- timers ----------------------------------------------------------------------------
    def stream_now(self) -> float:
        """Stream time (s) for the time axis: the newest result's, run on by the clock while playing."""
        now = self.history.now_s
        if self.state == "playing" and self._last_arrival:
            now += min(time.perf_counter() - self._last_arrival, MAX_EXTRAPOLATION_S)
        return now

    def refresh_plots(self) -> None:
        if self.history.latest is None or (self.state == "paused" and not self._dirty):
            return
        started = time.perf_counter()
        now = self.stream_now()
        window = self.dashboard.va_time.window_s
        series = self.history.series(self.followed, now - window)
        self.dashboard.va_time.show_live(series, now)
        if self._dirty:
            trail = series[series[:, 0] >= self.history.now_s - TRAIL_S][:, 3:5]
            self.dashboard.circumplex.show_trail(trail)
            self.dashboard.show_face(self.history.latest_face(self.followed))
            self._dirty = False
        self.timings.refresh_s += time.perf_counter() - started
        self.timings.refreshes += 1

    def _publish_stats(self) -> None:
        now = time.perf_counter()
        elapsed = max(now - self._stats_at, 1e-6)
        fps = self._results_since_stats / elapsed
        self._stats_at, self._results_since_stats = now, 0
        latency = float(np.median(self._latencies)) if self._latencies else None
        self._latencies.clear()
        self.stats_changed.emit(StreamStats(fps, latency, self._engine_dropped,
                                            self._display_dropped, self._faces))

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)
