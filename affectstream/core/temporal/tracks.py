"""The temporal model stepped per face track, with a timeout for lost faces.

Each track id has its own ``StreamingTrack`` (carried state or window). A track
unseen for longer than ``timeout_ms`` is forgotten, and a face that comes back
(even under the same tracker id) starts fresh, as a new video would in training.
What follows the model per track (smoothing, AU hysteresis) is
affectstream.core.post.tracks' job: a step says when its track started fresh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from affectstream.core.errors import UserInputError
from affectstream.core.temporal.predictions import Predictions
from affectstream.core.temporal.runtime import TemporalRuntime
from affectstream.core.temporal.streaming import StreamingTrack, step_tracks


@dataclass(frozen=True)
class TrackOptions:
    seq_len: int = 250
    carry_state: bool = True
    frame_wise: bool = False
    timeout_ms: float = 1000.0

    def __post_init__(self) -> None:
        if not self.timeout_ms > 0:
            raise UserInputError(f"track timeout must be positive, got {self.timeout_ms} ms")


@dataclass
class _Track:
    stream: StreamingTrack
    last_seen_ms: float


@dataclass(frozen=True)
class ModelStep:
    """One track's model outputs for one frame."""

    track_id: int
    raw: Predictions
    frames: int  # frames this track has fed the model, this one included (1: it started fresh)

    @property
    def fresh(self) -> bool:
        return self.frames == 1


class TrackBank:
    def __init__(self, runtime: TemporalRuntime, options: TrackOptions) -> None:
        self.runtime, self.options = runtime, options
        self._tracks: dict[int, _Track] = {}
        self.started = 0  # tracks begun (fresh starts included), for reports and tests

    @property
    def active(self) -> tuple[int, ...]:
        return tuple(sorted(self._tracks))

    def expire(self, now_ms: float) -> list[int]:
        """Forget tracks unseen for longer than the timeout; returns their ids."""
        gone = [k for k, t in self._tracks.items() if now_ms - t.last_seen_ms > self.options.timeout_ms]
        for key in gone:
            del self._tracks[key]
        return gone

    def step(self, track_id: int, features: np.ndarray, timestamp_ms: float) -> ModelStep:
        return self.step_many([(track_id, features)], timestamp_ms)[0]

    def step_many(self, items: list[tuple[int, np.ndarray]], timestamp_ms: float) -> list[ModelStep]:
        """One frame's faces, (track id, features) each: the model runs once for all of them."""
        tracks = []
        for track_id, _ in items:
            track = self._tracks.get(track_id)
            if track is None or timestamp_ms - track.last_seen_ms > self.options.timeout_ms:
                track = self._start(track_id, timestamp_ms)
            tracks.append(track)
        raws = step_tracks([t.stream for t in tracks], [features for _, features in items])
        for track in tracks:
            track.last_seen_ms = timestamp_ms
        return [ModelStep(int(track_id), raw, track.stream.frames)
                for (track_id, _), track, raw in zip(items, tracks, raws)]

    def reset(self) -> None:
        self._tracks.clear()

    def _start(self, track_id: int, timestamp_ms: float) -> _Track:
        o = self.options
        track = _Track(StreamingTrack(self.runtime, o.seq_len, o.carry_state, o.frame_wise), timestamp_ms)
        self._tracks[track_id] = track
        self.started += 1
        return track
