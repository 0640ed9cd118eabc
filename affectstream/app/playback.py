"""A stream the user can pause, stop and loop, as a frame source for affectstream.core.sources.pacing.LiveRun.

Pausing blocks the source between frames. For a file played in real time the
timestamps after a pause are shifted by its length, so the grabber's pacing
resumes where it stopped instead of rushing to catch up (a camera's timestamps
already follow the clock). Looping reopens the file with timestamps that carry
on, so the engine sees one continuous stream.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Iterator

from affectstream.core.sources.readers import DEFAULT_FPS, Frame, FrameSource


class PlaybackControl:
    """Pause and stop for one stream: set from the GUI thread, obeyed by the grabber thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._paused = False
        self._stopped = False

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def stopped(self) -> bool:
        return self._stopped

    def pause(self, paused: bool) -> None:
        with self._cond:
            self._paused = bool(paused)
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def wait_while_paused(self) -> float:
        """Block while paused (returns at once when stopped); the seconds spent waiting."""
        started = time.perf_counter()
        with self._cond:
            while self._paused and not self._stopped:
                self._cond.wait()
        return time.perf_counter() - started

    def sleep(self, seconds: float) -> bool:
        """Wait unless stopped first; False when stopped."""
        with self._cond:
            self._cond.wait_for(lambda: self._stopped, timeout=seconds)
            return not self._stopped


class PlaybackSource(FrameSource):
    """Frames of ``open_source()`` that obey ``control``; a file can loop."""

    def __init__(self, open_source: Callable[[], FrameSource], control: PlaybackControl, loop: bool = False,
                 shift_pauses: bool = True) -> None:
        self._open = open_source
        self._control = control
        self._loop, self._shift_pauses = loop, shift_pauses
        self._first = open_source()  # opened now so that a bad file or camera fails before the stream starts
        self.name = self._first.name
        self.loops = 0

    def __iter__(self) -> Iterator[Frame]:
        offset_ms, last_ms = 0.0, -1
        source: FrameSource | None = self._first
        while source is not None:
            period_ms = 1000.0 / float(getattr(source, "fps", DEFAULT_FPS))
            try:
                for frame in source:
                    paused_s = self._control.wait_while_paused()
                    if self._control.stopped:
                        return
                    if self._shift_pauses:
                        offset_ms += paused_s * 1000.0
                    stamp = max(int(round(frame.timestamp_ms + offset_ms)), last_ms + 1)
                    last_ms = stamp
                    yield Frame(frame.image, frame.number, stamp, frame.source)
            finally:
                source.close()
            if not self._loop or self._control.stopped or last_ms < 0:
                return
            # The next pass starts one frame period after this one's last frame.
            offset_ms = last_ms + period_ms
            self.loops += 1
            source = self._open()

    def close(self) -> None:
        self._first.close()
