"""The analysis thread: owns the engine, plays one stream at a time, hands the newest frame to the GUI.

Commands (play, stop, quit) arrive from the GUI thread in a queue; the engine is
built in this thread (loading a model and the face landmarker takes seconds) and
kept while the settings stay the same. Frames reach the GUI through a
LatestFrameBox: a frame the GUI has not taken yet is replaced by a newer one
(no queue builds up behind a busy GUI), while every result is kept for the
plots. The box signals only when it goes from empty to full, so at most one
notification is ever waiting in the GUI's event queue.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QThread, Signal

from affectstream.app.playback import PlaybackControl, PlaybackSource
from affectstream.app.settings import EngineConfig
from affectstream.core.errors import UserInputError
from affectstream.core.results.types import FrameAffect
from affectstream.core.sources.readers import SourceError

RECONNECT_S = 2.0  # between attempts to reopen a camera that dropped
MAX_PENDING_RESULTS = 4096  # results kept for a GUI that stopped taking them


@dataclass(frozen=True)
class StreamRequest:
    source: int | str  # a camera index or a file path
    engine: EngineConfig
    loop: bool = False  # play a file again from the start when it ends
    reconnect: bool = False  # reopen a camera that dropped, until stopped (demo mode)

    @property
    def is_camera(self) -> bool:
        return isinstance(self.source, int)

    @property
    def label(self) -> str:
        return f"camera {self.source}" if self.is_camera else str(self.source)


@dataclass(frozen=True)
class EngineInfo:
    """What the status bar and the plots need to know about the engine."""

    model_name: str
    model_path: str
    provenance: dict[str, Any]
    runtime: str
    runtime_fallback: str
    au_thresholds: np.ndarray  # the effective ones (the checkpoint's plus the offset)


@dataclass(frozen=True)
class AnalysedFrame:
    image: np.ndarray  # BGR, as decoded
    result: FrameAffect
    done_at: float  # time.perf_counter() when the result was ready
    engine_dropped: int  # frames of this stream the engine skipped so far (it was busy)


@dataclass(frozen=True)
class Delivery:
    latest: AnalysedFrame
    results: list[FrameAffect]  # every result since the previous delivery, oldest first
    replaced: int  # frames the GUI never saw, since the box was made


class LatestFrameBox:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: AnalysedFrame | None = None
        self._results: deque[FrameAffect] = deque(maxlen=MAX_PENDING_RESULTS)
        self.replaced = 0

    def put(self, item: AnalysedFrame) -> bool:
        """Store the newest frame; True when the box was empty (the GUI needs a nudge)."""
        with self._lock:
            was_empty = self._latest is None
            self.replaced += not was_empty
            self._latest = item
            self._results.append(item.result)
            return was_empty

    def take(self) -> Delivery | None:
        with self._lock:
            if self._latest is None:
                return None
            delivery = Delivery(self._latest, list(self._results), self.replaced)
            self._latest = None
            self._results.clear()
            return delivery

    def clear(self) -> None:
        """Forget everything (a new stream starts)."""
        with self._lock:
            self._latest = None
            self._results.clear()
            self.replaced = 0


@dataclass(frozen=True)
class _Play:
    request: StreamRequest
    control: PlaybackControl


@dataclass(frozen=True)
class _Quit:
    pass


@dataclass
class _EngineSlot:
    config: EngineConfig | None = None
    engine: Any = None
    info: EngineInfo | None = None


class AnalysisWorker(QThread):
    frame_ready = Signal()  # the box went from empty to full
    engine_ready = Signal(object)  # EngineInfo; None: the engine was closed and none is loaded (yet)
    stream_started = Signal(str)  # the source's name
    stream_ended = Signal(str)  # why it ended normally (end of the video, stopped)
    source_lost = Signal(str)  # a camera or file that broke mid-stream (the message says what next)
    failed = Signal(str)  # the stream could not start: bad model, unreadable video, no camera

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("analysis worker")
        self.box = LatestFrameBox()
        self._commands: queue.Queue = queue.Queue()
        self._control_lock = threading.Lock()
        self._control: PlaybackControl | None = None  # the newest stream's, for pause and stop
        self._engine = _EngineSlot()

    # -- called from the GUI thread ----------------------------------------------------
    def play(self, request: StreamRequest) -> None:
        control = PlaybackControl()
        with self._control_lock:
            if self._control is not None:
                self._control.stop()
            self._control = control
        self._commands.put(_Play(request, control))

    def pause(self, paused: bool) -> None:
        with self._control_lock:
            if self._control is not None:
                self._control.pause(paused)

    def stop_stream(self) -> None:
        with self._control_lock:
            if self._control is not None:
                self._control.stop()

    def shutdown(self) -> None:
        """Stop the stream and end the thread (wait() for it)."""
        self.stop_stream()
        self._commands.put(_Quit())

    # -- the thread ------------------------------------------------------------------
    def run(self) -> None:
        try:
            while True:
                command = self._commands.get()
                if isinstance(command, _Quit):
                    return
                if not command.control.stopped:
                    self._play(command.request, command.control)
        finally:
            if self._engine.engine is not None:
                self._engine.engine.close()
                self._engine = _EngineSlot()

    def _engine_for(self, config: EngineConfig):
        if self._engine.engine is not None and self._engine.config == config:
            return self._engine.engine
        if self._engine.engine is not None:
            self._engine.engine.close()
            self._engine = _EngineSlot()
            self.engine_ready.emit(None)  # until the next one loads, if it does, no model is running
        from affectstream.core.engine import AffectEngine

        engine = AffectEngine.from_checkpoint(config.model_path, config.options)
        engine.warm_up()
        info = EngineInfo(engine.model_name, str(config.model_path), engine.provenance, engine.runtime.name,
                          engine.runtime_fallback, engine.au_thresholds)
        self._engine = _EngineSlot(config, engine, info)
        self.engine_ready.emit(info)
        return engine

    def _play(self, request: StreamRequest, control: PlaybackControl) -> None:
        try:
            engine = self._engine_for(request.engine)
        except UserInputError as exc:
            self.failed.emit(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - e.g. mediapipe failing to start: say so, keep the app alive
            self.failed.emit(f"the engine could not start: {type(exc).__name__}: {exc}")
            return
        self._stream_until_done(engine, request, control)

    def _open(self, request: StreamRequest, control: PlaybackControl) -> PlaybackSource:
        from affectstream.core.sources.pacing import open_camera
        from affectstream.core.sources.readers import open_source

        if request.is_camera:
            return PlaybackSource(lambda: open_camera(request.source), control, shift_pauses=False)
        return PlaybackSource(lambda: open_source(request.source), control, loop=request.loop)

    def _stream_until_done(self, engine, request: StreamRequest, control: PlaybackControl) -> None:
        retrying = request.is_camera and request.reconnect
        while not control.stopped:
            try:
                source = self._open(request, control)
            except SourceError as exc:
                if not retrying:
                    self.failed.emit(str(exc))
                    return
                self.source_lost.emit(f"{exc}; trying again in {RECONNECT_S:.0f} s")
                if not control.sleep(RECONNECT_S):
                    break
                continue
            engine.reset()
            self.stream_started.emit(source.name)
            problem = self._run(engine, source, control, pace=not request.is_camera)
            if control.stopped:
                break
            if problem is None and not request.is_camera:
                self.stream_ended.emit(f"end of {source.name}")
                return
            if problem is None:
                problem = f"camera {request.source} stopped giving frames (unplugged, or taken by another program?)"
            self.source_lost.emit(problem + (f"; reconnecting in {RECONNECT_S:.0f} s" if retrying else ""))
            if not retrying:
                return
            if not control.sleep(RECONNECT_S):
                break
        self.stream_ended.emit("stopped")

    def _run(self, engine, source: PlaybackSource, control: PlaybackControl, pace: bool) -> str | None:
        """Play ``source`` to its end or until stopped; a message when it broke, else None.
        ``pace``: release a file's frames at their own rate, as a camera would."""
        from affectstream.core.sources.pacing import LiveRun

        live: LiveRun | None = None

        def process(frame, captured_at):
            result = engine.process(frame, captured_at)
            item = AnalysedFrame(frame.image, result, time.perf_counter(), live.slot.dropped if live else 0)
            if self.box.put(item):
                self.frame_ready.emit()
            return result

        live = LiveRun(process, source, pace=pace)
        results = iter(live)
        try:
            for _ in results:
                if control.stopped:
                    break
        except SourceError as exc:
            return str(exc)
        except Exception as exc:  # noqa: BLE001 - a frame the engine cannot take must not kill the thread
            return f"analysis failed: {type(exc).__name__}: {exc}"
        finally:
            results.close()  # stops and joins the grabber when we left early
            source.close()
        return None
