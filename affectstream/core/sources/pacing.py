"""Real-time running: a live source never builds a queue.

A grabber thread reads the source and puts each frame into a one-frame slot,
stamped with its capture time; the processing loop always takes the newest
frame. A frame replaced before it was taken is dropped and counted, so when
processing falls behind, latency stays bounded instead of growing with a queue.
A video file can stand in for a camera: ``pace=True`` releases its frames at
their own timestamps, in real time.

``run_fast`` is the other mode: every frame, one after the other, as fast as
the machine goes (for throughput figures and offline work). ``read_ahead``
decodes the next frames on a thread meanwhile, so decoding uses the other core.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable, Generic, Iterable, Iterator, TypeVar

from affectstream.core.sources.readers import Frame, FrameSource, SourceError, open_source


Result = TypeVar("Result")  # what the processing callable gives per frame (e.g. a FrameAffect)


class FrameSlot:
    """Holds at most one frame; a newer one replaces it (and counts as a drop)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: tuple[Frame, float] | None = None
        self._closed = False
        self.dropped = 0

    def put(self, frame: Frame, captured_at: float) -> None:
        with self._cond:
            if self._item is not None:
                self.dropped += 1
            self._item = (frame, captured_at)
            self._cond.notify()

    def close(self) -> None:
        """No more frames will come; take() returns None once the slot is empty."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def take(self) -> tuple[Frame, float] | None:
        with self._cond:
            while self._item is None and not self._closed:
                self._cond.wait()
            item, self._item = self._item, None
            return item


class FrameGrabber(threading.Thread):
    """Reads a source into a slot; ``pace`` releases frames at their timestamps (for files)."""

    def __init__(self, source: FrameSource, slot: FrameSlot, pace: bool, max_frames: int | None = None) -> None:
        super().__init__(name=f"grab {source.name}", daemon=True)
        self.source, self.slot, self.pace, self.max_frames = source, slot, pace, max_frames
        self.captured = 0
        self.error: BaseException | None = None
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        try:
            start = time.perf_counter()
            first_ms = None
            for frame in self.source:
                if self._halt.is_set():
                    break
                if self.pace:
                    first_ms = frame.timestamp_ms if first_ms is None else first_ms
                    wait = start + (frame.timestamp_ms - first_ms) / 1000.0 - time.perf_counter()
                    if wait > 0 and self._halt.wait(wait):
                        break
                self.captured += 1
                self.slot.put(frame, time.perf_counter())
                if self.max_frames is not None and self.captured >= self.max_frames:
                    break
        except BaseException as exc:  # handed to the processing loop, which re-raises it
            self.error = exc
        finally:
            self.slot.close()


@dataclass(frozen=True)
class RunCounts:
    captured: int
    processed: int
    dropped: int
    seconds: float  # wall time from the first capture to the last result

    @property
    def fps(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else 0.0


class LiveRun(Generic[Result]):
    """Iterate for results; ``counts`` once done. An error of the source is raised at its point."""

    def __init__(self, process: Callable[[Frame, float], Result], source: FrameSource, pace: bool,
                 max_frames: int | None = None) -> None:
        self._process = process
        self.slot = FrameSlot()
        self.grabber = FrameGrabber(source, self.slot, pace, max_frames)
        self.processed = 0
        self._started = self._finished = 0.0

    def __iter__(self) -> Iterator[Result]:
        self._started = time.perf_counter()
        self.grabber.start()
        try:
            while (item := self.slot.take()) is not None:
                result = self._process(*item)
                self.processed += 1
                yield result
        finally:
            self.grabber.stop()
            self.grabber.join()
            self._finished = time.perf_counter()
        if self.grabber.error is not None:
            raise self.grabber.error

    def counts(self) -> RunCounts:
        return RunCounts(self.grabber.captured, self.processed, self.slot.dropped, self._finished - self._started)


def read_ahead(frames: Iterable[Frame], depth: int = 4) -> Iterator[Frame]:
    """The same frames in order, decoded up to ``depth`` ahead on a thread; its errors are raised here."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    halt = threading.Event()
    end = object()

    def put(item) -> bool:
        while not halt.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def decode() -> None:
        try:
            for frame in frames:
                if not put(frame):
                    return
            put(end)
        except BaseException as exc:  # handed to the reader, raised at its point in the stream
            put(exc)

    thread = threading.Thread(target=decode, name="read ahead", daemon=True)
    thread.start()
    try:
        while (item := slots.get()) is not end:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        halt.set()
        thread.join()


def run_fast(process: Callable[[Frame, float], Result], source: FrameSource,
             max_frames: int | None = None) -> Iterator[Result]:
    """Every frame in order; the capture time is when decoding finished."""
    for count, frame in enumerate(read_ahead(source), start=1):
        yield process(frame, time.perf_counter())
        if max_frames is not None and count >= max_frames:
            break


def open_camera(index: int) -> FrameSource:
    """A webcam by index, or a SourceError naming the camera."""
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise SourceError(f"camera index must be a non-negative integer, got {index!r}")
    return open_source(index)
