"""Face analysis on the MediaPipe Tasks Face Landmarker.

Per face: box, 478 landmarks, 52 blendshapes, head pose and a confidence proxy.
One explicit running mode per analyzer, as MediaPipe defines them:

* IMAGE: independent still images (``analyze``). Faces are detected afresh each
  call; with ``tile_search`` small faces in group photos are also searched for
  in overlapping windows (the detector works at 128 px and misses them otherwise).
* VIDEO: decoded frames of a file with increasing timestamps
  (``analyze_video_frame``); MediaPipe tracks faces between frames and runs the
  detector only when it has lost one, which is what makes it fast.
* LIVE_STREAM: camera frames (``analyze_async``); results arrive through
  ``result_callback`` and frames are dropped while the model is busy.

Use it as a context manager, or call close(): the MediaPipe graph holds threads.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from affectstream.core.faces.head_pose import head_pose_from_matrix
from affectstream.core.images import to_bgr
from affectstream.core.faces.model_file import locate_face_landmarker
from affectstream.core.faces.types import (NUM_BLENDSHAPES, NUM_LANDMARKS, FaceResult, FrameFaces, HeadPose,
                                      too_small_for_faces)


class RunningMode(str, enum.Enum):
    IMAGE = "IMAGE"
    VIDEO = "VIDEO"
    LIVE_STREAM = "LIVE_STREAM"


@dataclass(frozen=True)
class FaceAnalyzerOptions:
    running_mode: RunningMode = RunningMode.IMAGE
    max_faces: int = 1
    min_detection_confidence: float = 0.5
    min_presence_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    # Where face_landmarker.task is: see affectstream.core.faces.model_file for the lookup order.
    model_path: str | os.PathLike | None = None
    accept_any_model_hash: bool = False
    # IMAGE mode only: when fewer than max_faces are found, also search a
    # tile_search x tile_search grid of half-overlapping windows (0 or 1: off).
    tile_search: int = 2
    # LIVE_STREAM only: called with (FrameFaces, the analysed BGR frame).
    result_callback: Callable[[FrameFaces, np.ndarray], None] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "running_mode", RunningMode(self.running_mode))
        if self.max_faces < 1:
            raise ValueError(f"max_faces must be at least 1, not {self.max_faces}")
        if (self.running_mode is RunningMode.LIVE_STREAM) != (self.result_callback is not None):
            raise ValueError("result_callback is required in LIVE_STREAM mode and only allowed there")


class FaceAnalyzer:
    """Faces, landmarks, blendshapes and head pose per frame."""

    def __init__(self, options: FaceAnalyzerOptions | None = None) -> None:
        from mediapipe.tasks.python import BaseOptions, vision

        self.options = options or FaceAnalyzerOptions()
        self.model_path: Path = locate_face_landmarker(self.options.model_path, self.options.accept_any_model_hash)
        self._last_timestamp: int | None = None
        mode = vision.RunningMode[self.options.running_mode.value]
        callback = self._on_live_result if mode == vision.RunningMode.LIVE_STREAM else None
        mp_options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(self.model_path)),
            running_mode=mode,
            num_faces=self.options.max_faces,
            min_face_detection_confidence=self.options.min_detection_confidence,
            min_face_presence_confidence=self.options.min_presence_confidence,
            min_tracking_confidence=self.options.min_tracking_confidence,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
            result_callback=callback,
        )
        self._landmarker = vision.FaceLandmarker.create_from_options(mp_options)
        # Frames in flight in LIVE_STREAM mode, so the callback can hand back the image.
        self._pending: dict[int, np.ndarray] = {}

    @classmethod
    def create(cls, **options) -> "FaceAnalyzer":
        return cls(FaceAnalyzerOptions(**options))

    # -- the three running modes ------------------------------------------
    def analyze(self, image: np.ndarray) -> FrameFaces:
        """IMAGE mode: the faces in one still image (BGR, BGRA or grey)."""
        self._require(RunningMode.IMAGE)
        bgr = to_bgr(image)
        if too_small_for_faces(bgr):
            return FrameFaces((), 0, (bgr.shape[1], bgr.shape[0]))
        faces = list(self._detect(bgr))
        grid = self.options.tile_search
        if grid > 1 and len(faces) < self.options.max_faces:
            faces = _merge_faces(faces, self._detect_tiles(bgr, grid), self.options.max_faces)
        return FrameFaces(tuple(faces), 0, (bgr.shape[1], bgr.shape[0]))

    def analyze_video_frame(self, image: np.ndarray, timestamp_ms: int) -> FrameFaces:
        """VIDEO mode: one decoded frame; timestamps must increase strictly."""
        self._require(RunningMode.VIDEO)
        self._check_timestamp(timestamp_ms)
        # Converted before the time is taken: a frame refused here leaves the stream as it was.
        bgr = to_bgr(image)
        if too_small_for_faces(bgr):
            return FrameFaces((), int(timestamp_ms), (bgr.shape[1], bgr.shape[0]))
        picture = _mp_image(bgr)
        timestamp_ms = self._next_timestamp(timestamp_ms)
        result = self._landmarker.detect_for_video(picture, timestamp_ms)
        return FrameFaces(tuple(_faces_from_result(result, bgr.shape[1], bgr.shape[0])), timestamp_ms,
                          (bgr.shape[1], bgr.shape[0]))

    def analyze_async(self, image: np.ndarray, timestamp_ms: int) -> None:
        """LIVE_STREAM mode: queue a frame; its result goes to result_callback."""
        self._require(RunningMode.LIVE_STREAM)
        self._check_timestamp(timestamp_ms)
        bgr = to_bgr(image)
        if too_small_for_faces(bgr):
            self.options.result_callback(FrameFaces((), int(timestamp_ms), (bgr.shape[1], bgr.shape[0])), bgr)
            return
        picture = _mp_image(bgr)
        timestamp_ms = self._next_timestamp(timestamp_ms)
        self._pending[timestamp_ms] = bgr
        self._landmarker.detect_async(picture, timestamp_ms)

    # -- lifetime -----------------------------------------------------------
    def close(self) -> None:
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None

    def __enter__(self) -> "FaceAnalyzer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- internals ------------------------------------------------------------
    def _require(self, mode: RunningMode) -> None:
        if self._landmarker is None:
            raise RuntimeError("FaceAnalyzer is closed")
        if self.options.running_mode is not mode:
            raise RuntimeError(
                f"this FaceAnalyzer runs in {self.options.running_mode.value} mode; "
                f"{mode.value} calls need an analyzer created with running_mode={mode.value}"
            )

    def _check_timestamp(self, timestamp_ms: int) -> None:
        if self._last_timestamp is not None and int(timestamp_ms) <= self._last_timestamp:
            raise ValueError(
                f"timestamps must increase: {int(timestamp_ms)} ms after {self._last_timestamp} ms"
            )

    def _next_timestamp(self, timestamp_ms: int) -> int:
        """The timestamp (checked by the caller) taken: MediaPipe is about to see it."""
        self._last_timestamp = int(timestamp_ms)
        return self._last_timestamp

    def _detect(self, bgr: np.ndarray) -> list[FaceResult]:
        result = self._landmarker.detect(_mp_image(bgr))
        return _faces_from_result(result, bgr.shape[1], bgr.shape[0])

    def _detect_tiles(self, bgr: np.ndarray, grid: int) -> list[FaceResult]:
        height, width = bgr.shape[:2]
        tile_w, tile_h = int(width * 2 / (grid + 1)), int(height * 2 / (grid + 1))
        found: list[FaceResult] = []
        for row in range(grid):
            for col in range(grid):
                x0, y0 = col * tile_w // 2, row * tile_h // 2
                tile = np.ascontiguousarray(bgr[y0:y0 + tile_h, x0:x0 + tile_w])
                for face in self._detect(tile):
                    found.append(shift_face(face, x0, y0, width, height))
        return found

    def _on_live_result(self, result, mp_image, timestamp_ms: int) -> None:
        bgr = self._pending.pop(timestamp_ms, None)
        # Frames MediaPipe dropped never come back: forget older ones.
        for stale in [t for t in self._pending if t < timestamp_ms]:
            del self._pending[stale]
        width, height = mp_image.width, mp_image.height
        faces = FrameFaces(tuple(_faces_from_result(result, width, height)), timestamp_ms, (width, height))
        self.options.result_callback(faces, bgr)


def _mp_image(bgr: np.ndarray):
    import mediapipe as mp

    return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))


def _faces_from_result(result, width: int, height: int) -> list[FaceResult]:
    faces = []
    for i, marks in enumerate(result.face_landmarks):
        points = np.array([(m.x, m.y, m.z) for m in marks], dtype=np.float32)
        if points.shape != (NUM_LANDMARKS, 3):
            raise RuntimeError(f"expected {NUM_LANDMARKS} landmarks, got {points.shape[0]}: wrong model file?")
        points *= np.array([width, height, width], dtype=np.float32)
        blendshapes = np.zeros(NUM_BLENDSHAPES, dtype=np.float32)
        if result.face_blendshapes:
            for category in result.face_blendshapes[i]:
                blendshapes[category.index] = category.score
        if result.facial_transformation_matrixes:
            transform = np.asarray(result.facial_transformation_matrixes[i], dtype=np.float32)
            pose = head_pose_from_matrix(transform)
        else:
            transform, pose = np.eye(4, dtype=np.float32), HeadPose(0.0, 0.0, 0.0)
        faces.append(_make_face(points, blendshapes, pose, transform, width, height))
    return faces


def _make_face(points, blendshapes, pose, transform, width, height) -> FaceResult:
    low, high = points[:, :2].min(axis=0), points[:, :2].max(axis=0)
    inside = (points[:, 0] >= 0) & (points[:, 0] < width) & (points[:, 1] >= 0) & (points[:, 1] < height)
    return FaceResult(
        box=(float(low[0]), float(low[1]), float(high[0]), float(high[1])),
        landmarks=points,
        blendshapes=blendshapes,
        head_pose=pose,
        transform=transform,
        confidence=float(inside.mean()),
    )


def shift_face(face: FaceResult, dx: int, dy: int, width: int, height: int) -> FaceResult:
    """A face found in a window whose corner is (dx, dy), in the coordinates of the whole frame."""
    points = face.landmarks + np.array([dx, dy, 0], dtype=np.float32)
    return _make_face(points, face.blendshapes, face.head_pose, face.transform, width, height)


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _merge_faces(first: list[FaceResult], more: list[FaceResult], limit: int) -> list[FaceResult]:
    """Faces from a full-image pass plus tiled passes, each face once, largest first."""
    kept = list(first)
    # Faces cut by a tile border come out smaller and less complete: prefer whole ones.
    for face in sorted(more, key=lambda f: (f.confidence, f.area), reverse=True):
        if all(box_iou(face.box, other.box) < 0.3 for other in kept):
            kept.append(face)
    kept.sort(key=lambda f: f.area, reverse=True)
    return kept[:limit]
