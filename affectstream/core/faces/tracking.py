"""Track ids for faces across frames, and the choice of a video's main face.

Faces in consecutive frames are matched by box overlap (IoU) or, when a fast
move breaks the overlap, by how close their five key points are relative to the
face size; matches are assigned optimally (Hungarian). A face keeps its id while
it stays in view and for up to ``max_missed`` frames of dropout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from affectstream.core.faces.alignment import five_points
from affectstream.core.faces.landmarker import box_iou
from affectstream.core.faces.types import FaceResult


@dataclass(frozen=True)
class TrackerOptions:
    min_similarity: float = 0.2  # below this a face starts a new track
    max_missed: int = 10  # frames a track survives without a match


@dataclass
class _Track:
    track_id: int
    box: tuple[float, float, float, float]
    points: np.ndarray
    missed: int = 0


class FaceTracker:
    """Assigns stable track ids; call ``update`` once per frame, in order."""

    def __init__(self, options: TrackerOptions | None = None) -> None:
        self.options = options or TrackerOptions()
        self._tracks: list[_Track] = []
        self._next_id = 0

    def reset(self) -> None:
        self._tracks, self._next_id = [], 0

    def update(self, faces: Sequence[FaceResult]) -> tuple[FaceResult, ...]:
        """The same faces with ``track_id`` set."""
        points = [five_points(f.landmarks) for f in faces]
        ids: list[int | None] = [None] * len(faces)
        if self._tracks and faces:
            score = np.array([[_similarity(t, f.box, p) for f, p in zip(faces, points)] for t in self._tracks])
            rows, cols = linear_sum_assignment(-score)
            for r, c in zip(rows, cols):
                if score[r, c] >= self.options.min_similarity:
                    ids[c] = self._tracks[r].track_id
        matched = {i for i in ids if i is not None}
        survivors = []
        for track in self._tracks:
            if track.track_id not in matched:
                track.missed += 1
                if track.missed <= self.options.max_missed:
                    survivors.append(track)
        by_id = {t.track_id: t for t in self._tracks}
        for k, face in enumerate(faces):
            if ids[k] is None:
                ids[k] = self._next_id
                self._next_id += 1
                survivors.append(_Track(ids[k], face.box, points[k]))
            else:
                track = by_id[ids[k]]
                track.box, track.points, track.missed = face.box, points[k], 0
                survivors.append(track)
        self._tracks = survivors
        return tuple(face.with_track(int(i)) for face, i in zip(faces, ids))


def _similarity(track: _Track, box: tuple[float, float, float, float], points: np.ndarray) -> float:
    overlap = box_iou(track.box, box)
    size = max(box[2] - box[0], box[3] - box[1], 1.0)
    distance = float(np.linalg.norm(track.points - points, axis=1).mean()) / size
    return max(overlap, 1.0 - distance)


def rank_tracks(areas: Iterable[tuple[int, float]]) -> list[int]:
    """Track ids, the main face first: the one rule for "the main face" everywhere (extraction, the
    summary plot, review). ``areas``: (track id, box area) per face and frame.

    Summing areas favours a face that is both long-lived and large; a passer-by
    in a few frames or a small face in the background loses to the subject.
    Ties go to the lower id (the face seen first).
    """
    totals: dict[int, float] = {}
    for track_id, area in areas:
        totals[track_id] = totals.get(track_id, 0.0) + max(float(area), 0.0)
    return sorted(totals, key=lambda k: (-totals[k], k))


def select_main_track(frames: Iterable[Sequence[FaceResult]]) -> int | None:
    """The track id of a video's main face (see ``rank_tracks``).

    Each face needs only ``track_id`` and ``area`` (a FaceResult, or anything
    lighter that has both).
    """
    def areas():
        for faces in frames:
            for face in faces:
                if face.track_id is None:
                    raise ValueError("faces need track ids (run them through FaceTracker)")
                yield face.track_id, face.area

    ranked = rank_tracks(areas())
    return ranked[0] if ranked else None
