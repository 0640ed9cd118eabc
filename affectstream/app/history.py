"""The last seconds of every face track, for the live plots, in fixed-size buffers.

Memory does not grow with the length of a run: each track keeps a ring of the
newest rows, and tracks unseen for longer than the window are forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from affectstream.core.results.types import FaceAffect, FrameAffect

SERIES_COLUMNS = ("t", "valence_raw", "arousal_raw", "valence", "arousal")


class RingSeries:
    """The newest ``capacity`` rows of ``width`` float columns."""

    def __init__(self, capacity: int, width: int) -> None:
        self._rows = np.full((capacity, width), np.nan)
        self._next = 0
        self._count = 0

    def append(self, row: tuple[float, ...]) -> None:
        self._rows[self._next] = row
        self._next = (self._next + 1) % len(self._rows)
        self._count = min(self._count + 1, len(self._rows))

    def values(self) -> np.ndarray:
        """A chronological copy."""
        if self._count < len(self._rows):
            return self._rows[: self._count].copy()
        return np.concatenate([self._rows[self._next:], self._rows[: self._next]])

    def __len__(self) -> int:
        return self._count


@dataclass
class TrackHistory:
    series: RingSeries
    latest: FaceAffect
    last_seen_s: float


class LiveHistory:
    def __init__(self, window_s: float = 10.0, capacity: int = 1024) -> None:
        self.window_s, self.capacity = window_s, capacity
        self._tracks: dict[int, TrackHistory] = {}
        self.latest: FrameAffect | None = None
        self.frames_added = 0

    def clear(self) -> None:
        self._tracks.clear()
        self.latest = None

    def add(self, result: FrameAffect) -> None:
        now = result.timestamp_ms / 1000.0
        for face in result.faces:
            track = self._tracks.get(face.track_id)
            if track is None:
                track = self._tracks[face.track_id] = TrackHistory(RingSeries(self.capacity, len(SERIES_COLUMNS)),
                                                                   face, now)
            track.series.append((now, face.valence_raw, face.arousal_raw, face.valence, face.arousal))
            track.latest, track.last_seen_s = face, now
        for key in [k for k, t in self._tracks.items() if now - t.last_seen_s > self.window_s]:
            del self._tracks[key]
        self.latest = result
        self.frames_added += 1

    @property
    def now_s(self) -> float:
        return self.latest.timestamp_ms / 1000.0 if self.latest is not None else 0.0

    def track_ids(self) -> list[int]:
        return sorted(self._tracks)

    def latest_face(self, track_id: int | None) -> FaceAffect | None:
        """The track's face in the newest frame, None when it is not in that frame."""
        if track_id is None or self.latest is None:
            return None
        return next((f for f in self.latest.faces if f.track_id == track_id), None)

    def series(self, track_id: int | None, since_s: float | None = None) -> np.ndarray:
        """(n, 5) rows of SERIES_COLUMNS, oldest first, from ``since_s`` (default: the window)."""
        track = self._tracks.get(track_id) if track_id is not None else None
        if track is None:
            return np.empty((0, len(SERIES_COLUMNS)))
        rows = track.series.values()
        since = self.now_s - self.window_s if since_s is None else since_s
        return rows[rows[:, 0] >= since]

    def followed(self, preference: int | None, previous: int | None) -> int | None:
        """The track the plots follow: the chosen one while it exists; otherwise (auto) the previous
        choice while it is in the newest frame, else the largest face in it."""
        if preference is not None:
            return preference if preference in self._tracks else None
        faces = self.latest.faces if self.latest is not None else ()
        if previous is not None and any(f.track_id == previous for f in faces):
            return previous
        if not faces:
            return previous if previous in self._tracks else None
        area = lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1])  # noqa: E731
        return max(faces, key=area).track_id
