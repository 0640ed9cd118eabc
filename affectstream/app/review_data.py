"""A whole annotated video for review: per-frame results, from the engine or from an `annotate` CSV.

A CSV in the `annotate` format is turned back into FrameAffect values by the one
results reader (affectstream.core.results.frames), so review, export and the summary
plot work the same way whichever it came from (landmarks are not in the CSV, and not
kept for review). A damaged file (cut short, edited by hand, another CSV) is refused
with its file name, line number and the column of its first bad value.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from affectstream.core.results.types import FaceAffect, FrameAffect
from affectstream.core.results.csv_file import ResultsCsvError
from affectstream.core.sources.readers import VIDEO_SUFFIXES
from affectstream.core.faces.tracking import rank_tracks
from affectstream.core.results.summary_plot import box_area, summary_arrays


def results_from_csv(path: str | Path, source: str | None = None) -> list[FrameAffect]:
    """The FrameAffect values of an `annotate` CSV for review, read by the one results reader
    (affectstream.core.results.frames: ResultsCsvError naming the file, line and column of its first bad value);
    a file without rows has nothing to review."""
    from affectstream.core.results.frames import read_frame_results  # pandas: loaded when a CSV is opened

    results = read_frame_results(path, source)
    if not results:
        raise ResultsCsvError(f"{path}: the results CSV has no rows")
    return results


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
