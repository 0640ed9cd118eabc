"""Looking for faces in windows of a frame, a few windows per frame.

The Face Landmarker's detector sees the whole frame at 128 px, so faces that are
small in the frame (a group across a room, a 1280x720 conference shot) are
missed. The search runs the same detector (the ``face_detector.tflite`` inside
``face_landmarker.task``) over the whole frame and over grids of half-overlapping
windows (2x2, 3x3 by default: 14 windows). ``step`` looks at only a few windows
per call and carries on where it stopped the next time, so no single frame pays
for the whole sweep; ``sweep`` looks at all of them at once (the first frame of
a stream, a still image).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in frame pixels
# The detector sees 128 px: a window is first halved down to about twice that (no detail it would use is lost).
DETECTOR_SIDE = 256


@dataclass(frozen=True)
class SearchOptions:
    grids: tuple[int, ...] = (1, 3)  # 1: the whole frame; g: a g x g grid of half-overlapping windows
    windows_per_frame: int = 1
    min_confidence: float = 0.6

    def __post_init__(self) -> None:
        if not self.grids or any(g < 1 for g in self.grids):
            raise ValueError(f"search grids must be positive, got {self.grids}")
        if self.windows_per_frame < 1:
            raise ValueError(f"windows_per_frame must be at least 1, got {self.windows_per_frame}")
        if not 0.0 < self.min_confidence < 1.0:
            raise ValueError(f"min_confidence must be in (0, 1), got {self.min_confidence}")

    @property
    def window_count(self) -> int:
        return sum(g * g for g in self.grids)

    def frames_per_sweep(self) -> int:
        """Frames until every window has been looked at once."""
        return -(-self.window_count // self.windows_per_frame)


@dataclass(frozen=True)
class Detection:
    box: Box
    score: float


def search_windows(width: int, height: int, grids: tuple[int, ...]) -> list[tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) of every window: per grid g, g x g windows of 2/(g+1) of the frame, overlapping by half."""
    windows = []
    for grid in grids:
        tile_w, tile_h = int(width * 2 / (grid + 1)), int(height * 2 / (grid + 1))
        for row in range(grid):
            for col in range(grid):
                x0, y0 = col * tile_w // 2, row * tile_h // 2
                windows.append((x0, y0, min(x0 + tile_w, width), min(y0 + tile_h, height)))
    return windows


def read_detector_model(landmarker_task: Path) -> bytes:
    """The face detector inside a Face Landmarker bundle (the same detector the landmarker uses); a file that
    is no such bundle is refused in a line naming it, not with zipfile's traceback."""
    from affectstream.core.faces.model_file import check_landmarker_bundle

    check_landmarker_bundle(Path(landmarker_task))
    with zipfile.ZipFile(landmarker_task) as bundle:
        return bundle.read("face_detector.tflite")


class FaceSearch:
    """Face boxes in windows of frames; each call to ``step`` looks at the next few windows."""

    def __init__(self, landmarker_task: Path, options: SearchOptions | None = None) -> None:
        from mediapipe.tasks.python import BaseOptions, vision

        self.options = options or SearchOptions()
        detector_options = vision.FaceDetectorOptions(
            base_options=BaseOptions(model_asset_buffer=read_detector_model(landmarker_task)),
            running_mode=vision.RunningMode.IMAGE, min_detection_confidence=self.options.min_confidence)
        self._detector = vision.FaceDetector.create_from_options(detector_options)
        self._next = 0  # the window the next step starts at

    def step(self, bgr: np.ndarray) -> list[Detection]:
        """Detections in the next ``windows_per_frame`` windows."""
        windows = search_windows(bgr.shape[1], bgr.shape[0], self.options.grids)
        found = []
        for _ in range(min(self.options.windows_per_frame, len(windows))):
            found += self._detect(bgr, windows[self._next % len(windows)])
            self._next = (self._next + 1) % len(windows)
        return merge_detections(found)

    def sweep(self, bgr: np.ndarray) -> list[Detection]:
        """Detections in every window."""
        found = []
        for window in search_windows(bgr.shape[1], bgr.shape[0], self.options.grids):
            found += self._detect(bgr, window)
        return merge_detections(found)

    def _detect(self, bgr: np.ndarray, window: tuple[int, int, int, int]) -> list[Detection]:
        import mediapipe as mp

        x0, y0, x1, y1 = window
        part, scale = bgr[y0:y1, x0:x1], 1.0
        if min(part.shape[:2]) < 1:  # a window of a frame too thin to hold a face
            return []
        while max(part.shape[:2]) > 1.5 * DETECTOR_SIDE:  # halving is OpenCV's fast area filter
            # Never below one pixel: a very thin frame would otherwise halve to nothing.
            half = (max(part.shape[1] // 2, 1), max(part.shape[0] // 2, 1))
            part = cv2.resize(part, half, interpolation=cv2.INTER_AREA)
            scale /= 2.0
        rgb = np.ascontiguousarray(cv2.cvtColor(part, cv2.COLOR_BGR2RGB))
        result = self._detector.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb))
        found = []
        for detection in result.detections:
            b = detection.bounding_box
            score = detection.categories[0].score if detection.categories else 0.0
            left, top = x0 + b.origin_x / scale, y0 + b.origin_y / scale
            found.append(Detection((float(left), float(top), float(left + b.width / scale),
                                    float(top + b.height / scale)), float(score)))
        return found

    def close(self) -> None:
        if self._detector is not None:
            self._detector.close()
            self._detector = None


def box_centre(box: Box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0


def covers(box: Box, point: tuple[float, float], margin: float = 0.0) -> bool:
    """``point`` lies in ``box`` grown by ``margin`` of its size on each side."""
    dx, dy = (box[2] - box[0]) * margin, (box[3] - box[1]) * margin
    return box[0] - dx <= point[0] <= box[2] + dx and box[1] - dy <= point[1] <= box[3] + dy


def merge_detections(found: list[Detection]) -> list[Detection]:
    """One detection per face: overlapping windows see a face twice; the best-scored one is kept."""
    kept: list[Detection] = []
    for detection in sorted(found, key=lambda d: d.score, reverse=True):
        centre = box_centre(detection.box)
        if not any(covers(other.box, centre) or covers(detection.box, box_centre(other.box)) for other in kept):
            kept.append(detection)
    return kept
