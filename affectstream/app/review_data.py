"""A whole annotated video for review: per-frame results, from the engine or from an `annotate` CSV.

A CSV in the `annotate` format (affectstream.core.results.csv_file's columns) is turned back into
FrameAffect values, so review, export and the summary plot work the same way
whichever it came from (landmarks are not in the CSV, and not kept for review).
A damaged file (cut short, edited by hand, another CSV) is refused with its file
name, line number and the column of its first bad value (affectstream.core.results.csv_read,
the reader every tool shares).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from affectstream.core.labels import ACTION_UNITS, EXPRESSIONS
from affectstream.core.results.types import FaceAffect, FrameAffect, StageTimes
from affectstream.core.results.csv_file import ResultsCsvError
from affectstream.core.sources.readers import VIDEO_SUFFIXES
from affectstream.core.faces.tracking import rank_tracks
from affectstream.core.results.summary_plot import box_area, summary_arrays


def results_from_csv(path: str | Path, source: str | None = None) -> list[FrameAffect]:
    """The FrameAffect values of an `annotate` CSV (ResultsCsvError naming the file, line and column of its first
    bad value when it is not one: the checks of affectstream.core.results.csv_read)."""
    from affectstream.core.results.csv_read import read_results_table  # pandas: loaded when a CSV is opened, not at start

    path = Path(path)
    table = read_results_table(path)  # a folder or a FIFO is named as what it is, never waited on
    if table.empty:
        raise ResultsCsvError(f"{path}: the results CSV has no rows")
    name, model = source or path.stem, f"CSV {path.name}"
    faces = _faces(table)
    # Rows come in frame order and the rows of a frame share its time (the reader checked both), so a frame
    # starts where the frame number changes, and its faces are those of its rows with success=1.
    frame = table["frame"].to_numpy()
    starts = np.flatnonzero(np.r_[True, frame[1:] != frame[:-1]])
    faces_before = np.r_[0, np.cumsum(table["success"].to_numpy())]
    bounds = faces_before[np.r_[starts, len(frame)]].tolist()
    times = StageTimes()  # frozen: one for every frame (a CSV has no stage times)
    stamps = table["timestamp_ms"].to_numpy()[starts].tolist()
    return [FrameAffect(number, stamp, name, model, tuple(faces[first:end]), times)
            for number, stamp, first, end in zip(frame[starts].tolist(), stamps, bounds[:-1], bounds[1:])]


def _faces(table) -> list[FaceAffect]:
    """A FaceAffect per row with a face, in row order (landmarks and track lengths are not in the CSV)."""
    rows = table[table["success"] == 1]
    expr = rows[[f"p_{e}" for e in EXPRESSIONS]].to_numpy(np.float32)
    au = rows[[f"p_{au}" for au in ACTION_UNITS]].to_numpy(np.float32)
    au_on = rows[list(ACTION_UNITS)].to_numpy(np.int64) == 1
    boxes = rows[["x0", "y0", "x1", "y1"]].to_numpy(np.float64).tolist()
    # Plain Python values (tolist), as the engine gives them: no numpy scalars in the dataclasses.
    value = {c: rows[c].tolist() for c in ("frame", "timestamp_ms", "face_id", "confidence", "valence_raw",
                                           "arousal_raw", "valence", "arousal", "expression")}
    return [FaceAffect(frame_index=value["frame"][k], timestamp_ms=value["timestamp_ms"][k],
                       track_id=value["face_id"][k], box=tuple(boxes[k]), landmarks=None,
                       confidence=value["confidence"][k], valence_raw=value["valence_raw"][k],
                       arousal_raw=value["arousal_raw"][k], valence=value["valence"][k], arousal=value["arousal"][k],
                       expr_probs=expr[k], expression=value["expression"][k], au_probs=au[k], au_on=au_on[k],
                       track_frames=0)
            for k in range(len(rows))]


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
