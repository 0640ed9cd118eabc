"""Frame-accurate random access to a video, for scrubbing the review timeline.

OpenCV's seek lands several frames off on variable-frame-rate phone videos, so
the reader first decodes the file once (grab only, no colour conversion)
recording each frame's presentation time. A seek then asks OpenCV for a frame
somewhat before the wanted one, identifies where it really landed by that time,
and decodes forward. Frame numbers are 1-based, counted by decoding, as in
affectstream.core.sources.readers.VideoFileSource.

FrameReader runs a FrameSeeker on its own thread: the GUI asks for frames and
the newest request wins.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from PySide6.QtCore import QThread, Signal

from affectstream.core.images import to_bgr
from affectstream.core.sources.readers import SourceError

FORWARD_LIMIT = 48  # decode forward up to this many frames rather than seek


class FrameSeeker:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._capture = self._open()
        self._times: np.ndarray | None = None  # presentation time (ms) per frame, in decoding order
        self._position = 0  # frames decoded since the last seek: the next read gives frame _position + 1

    def _open(self) -> cv2.VideoCapture:
        if self.path.is_dir():
            raise SourceError(f"{self.path}: a folder, not a video file")
        if self.path.exists() and not self.path.is_file():
            raise SourceError(f"{self.path}: not a regular file (a FIFO, device or socket)")
        if not self.path.is_file():
            raise SourceError(f"{self.path}: no such video file")
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            capture.release()
            raise SourceError(f"{self.path}: cannot open the video (truncated, corrupt or not a video file)")
        return capture

    def build_index(self, keep_going: Callable[[], bool] = lambda: True) -> int:
        """Decode the file once for its frame times; returns the number of frames."""
        times = []
        capture = self._open()
        try:
            while keep_going() and capture.grab():
                times.append(capture.get(cv2.CAP_PROP_POS_MSEC))
        finally:
            capture.release()
        if not times:
            raise SourceError(f"{self.path}: no frames could be decoded (empty or corrupt video)")
        self._times = np.asarray(times, dtype=np.float64)
        return len(times)

    @property
    def frame_count(self) -> int:
        return 0 if self._times is None else len(self._times)

    def frame(self, number: int) -> np.ndarray:
        """The BGR image of frame ``number`` (1-based); a number the video does not have is an IndexError
        (never a nearby frame shown as that one)."""
        if self._times is None:
            self.build_index()
        number = int(number)
        if not 1 <= number <= self.frame_count:
            raise IndexError(f"{self.path}: no frame {number} (the video has {self.frame_count})")
        if not (self._position < number <= self._position + FORWARD_LIMIT):
            self._seek_before(number)
        while self._position < number - 1:
            if not self._capture.grab():
                raise SourceError(f"{self.path}: decoding failed before frame {number}")
            self._position += 1
        ok, image = self._capture.read()
        if not ok:
            raise SourceError(f"{self.path}: cannot decode frame {number}")
        self._position += 1
        return to_bgr(image)

    def _seek_before(self, number: int) -> None:
        """Leave the decoder so that the next read gives a frame at or before ``number``."""
        back = 0
        while True:
            target = number - 1 - back  # 0-based
            if target <= 0:
                self._capture.release()
                self._capture = self._open()
                self._position = 0
                return
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, target)
            if self._capture.grab():
                landed = int(np.argmin(np.abs(self._times - self._capture.get(cv2.CAP_PROP_POS_MSEC))))
                if landed < number - 1:
                    # ``landed`` (0-based) has been decoded: the next read gives landed + 1.
                    self._position = landed + 1
                    return
            back = max(2 * back, 8)

    def close(self) -> None:
        self._capture.release()


class FrameReader(QThread):
    frame_loaded = Signal(int, object)  # frame number, BGR image (None: the video has no such frame)
    indexed = Signal(int)  # the video's frame count, once known
    failed = Signal(str)

    def __init__(self, path: str | Path, parent=None) -> None:
        super().__init__(parent)
        self.path = Path(path)
        self._cond = threading.Condition()
        self._wanted: int | None = None
        self._stopped = False

    def request(self, number: int) -> None:
        with self._cond:
            self._wanted = int(number)
            self._cond.notify()

    def shutdown(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def run(self) -> None:
        try:
            seeker = FrameSeeker(self.path)
        except SourceError as exc:
            self.failed.emit(str(exc))
            return
        try:
            count = seeker.build_index(lambda: not self._stopped)
            if self._stopped:
                return
            self.indexed.emit(count)
            while True:
                with self._cond:
                    while self._wanted is None and not self._stopped:
                        self._cond.wait()
                    if self._stopped:
                        return
                    number, self._wanted = self._wanted, None
                in_video = 1 <= number <= seeker.frame_count
                self.frame_loaded.emit(number, seeker.frame(number) if in_video else None)
        except SourceError as exc:
            if not self._stopped:
                self.failed.emit(str(exc))
        finally:
            seeker.close()
