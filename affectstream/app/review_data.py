"""A whole annotated video for review: per-frame results, from the engine or from an `annotate` CSV.

A CSV in the `annotate` format (affectstream.results.csv_file's columns) is turned back into
FrameAffect values, so review, export and the summary plot work the same way
whichever it came from (landmarks are not in the CSV, and not kept for review).
A damaged file (cut short, edited by hand, another CSV) is refused with its file
name and line number.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import groupby
from pathlib import Path
from typing import Sequence

import numpy as np

from affectstream.labels import ACTION_UNITS, EXPRESSIONS
from affectstream.results.types import FaceAffect, FrameAffect, StageTimes
from affectstream.results.csv_file import ResultsCsvError, iter_rows, number, whole_number
from affectstream.sources.readers import VIDEO_SUFFIXES
from affectstream.faces.tracking import rank_tracks
from affectstream.results.summary_plot import box_area, summary_arrays


def results_from_csv(path: str | Path, source: str | None = None) -> list[FrameAffect]:
    """The FrameAffect values of an `annotate` CSV (ResultsCsvError naming the file and line when it is not one)."""
    path = Path(path)
    name = source or path.stem
    model = f"CSV {path.name}"
    results = []
    for frame, group in groupby(iter_rows(path), key=lambda item: int(item[1]["frame"])):
        group = list(group)
        faces = tuple(_face(path, line, row) for line, row in group if row["success"] == "1")
        results.append(FrameAffect(frame, int(group[0][1]["timestamp_ms"]), name, model, faces, StageTimes()))
    if not results:
        raise ResultsCsvError(f"{path}: the results CSV has no rows")
    return results


def _face(path: Path, line: int, row: dict[str, str]) -> FaceAffect:
    num = lambda key: number(path, line, row, key)  # noqa: E731
    if row["expression"] not in EXPRESSIONS:
        raise ResultsCsvError(f"{path}:{line}: expression is '{row['expression']}', not one of "
                              f"{', '.join(EXPRESSIONS)}")
    off_on = [row[au] for au in ACTION_UNITS]
    if any(value not in ("0", "1") for value in off_on):
        au = ACTION_UNITS[next(k for k, value in enumerate(off_on) if value not in ("0", "1"))]
        raise ResultsCsvError(f"{path}:{line}: {au} is '{row[au]}', not 0 or 1")
    return FaceAffect(
        frame_index=int(row["frame"]), timestamp_ms=int(row["timestamp_ms"]),
        track_id=whole_number(path, line, row, "face_id"),
        box=(num("x0"), num("y0"), num("x1"), num("y1")), landmarks=None,
        confidence=num("confidence"), valence_raw=num("valence_raw"), arousal_raw=num("arousal_raw"),
        valence=num("valence"), arousal=num("arousal"),
        expr_probs=np.array([num(f"p_{e}") for e in EXPRESSIONS], dtype=np.float32),
        expression=row["expression"],
        au_probs=np.array([num(f"p_{au}") for au in ACTION_UNITS], dtype=np.float32),
        au_on=np.array([value == "1" for value in off_on]),
        track_frames=0,  # not in the CSV
    )


def video_beside(csv_path: str | Path) -> Path | None:
    """The video a CSV was written for: same name, next to it."""
    csv_path = Path(csv_path)
    for candidate in sorted(csv_path.parent.glob(csv_path.stem + ".*")):
        if candidate.suffix.lower() in VIDEO_SUFFIXES and candidate.is_file():
            return candidate
    return None


def without_landmarks(result: FrameAffect) -> FrameAffect:
    """Review keeps a whole video in memory: 478 landmarks per face and frame would dominate it."""
    if not any(face.landmarks is not None for face in result.faces):
        return result
    return replace(result, faces=tuple(replace(face, landmarks=None) for face in result.faces))


@dataclass
class TrackSeries:
    time: np.ndarray  # (n,) seconds, every frame of the video
    va_raw: np.ndarray  # (n, 2), NaN where the face is absent
    va: np.ndarray  # (n, 2)


@dataclass
class ReviewData:
    video: Path
    results: list[FrameAffect]  # in frame order
    title: str  # for the summary plot
    problem: str = ""  # e.g. the video broke partway: results stop there
    au_thresholds: np.ndarray | None = None  # the engine's, when it made the results (a CSV does not say)
    _index: dict[int, int] = field(default_factory=dict, repr=False)
    _series: dict[int, TrackSeries] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.results:
            raise ValueError(f"{self.video}: no frames to review")
        self._index = {r.frame_index: i for i, r in enumerate(self.results)}

    @property
    def first_frame(self) -> int:
        return self.results[0].frame_index

    @property
    def last_frame(self) -> int:
        return self.results[-1].frame_index

    def result_at(self, frame_number: int) -> FrameAffect | None:
        i = self._index.get(frame_number)
        return None if i is None else self.results[i]

    def time_of(self, frame_number: int) -> float:
        result = self.result_at(frame_number)
        if result is not None:
            return result.timestamp_ms / 1000.0
        # A frame missing from a CSV: the time of the nearest frame before it.
        earlier = [r for r in self.results if r.frame_index <= frame_number]
        return (earlier[-1] if earlier else self.results[0]).timestamp_ms / 1000.0

    def tracks(self) -> list[int]:
        """Face ids, the main face first (the rule of the summary plot and of extraction)."""
        return rank_tracks((face.track_id, box_area(face.box)) for r in self.results for face in r.faces)

    def series(self, track_id: int | None) -> TrackSeries:
        if track_id not in self._series:
            only = [replace(r, faces=tuple(f for f in r.faces if f.track_id == track_id)) for r in self.results]
            arrays = summary_arrays(only)
            self._series[track_id] = TrackSeries(arrays["time"], arrays["va_raw"], arrays["va"])
        return self._series[track_id]

    def trail(self, track_id: int | None, frame_number: int, seconds: float) -> np.ndarray:
        """(n, 2) smoothed valence/arousal of the track over the ``seconds`` up to the frame."""
        series = self.series(track_id)
        now = self.time_of(frame_number)
        keep = (series.time <= now) & (series.time >= now - seconds)
        return series.va[keep]


def frame_faces(result: FrameAffect | None, track_id: int | None) -> tuple[Sequence[FaceAffect], FaceAffect | None]:
    """All faces of a frame, and the followed one among them."""
    if result is None:
        return (), None
    return result.faces, next((f for f in result.faces if f.track_id == track_id), None)
