"""Post-processing state per face track: one TrackPostProcessor per track id.

The model's track bank (affectstream.core.temporal.tracks) says when a track
started fresh or was forgotten; its smoothing and AU hysteresis start afresh
with it, so a face that comes back is not smoothed towards the one that left.
"""

from __future__ import annotations

from typing import Iterable

from affectstream.core.post.postprocess import PostOptions, PostOutput, TrackPostProcessor
from affectstream.core.temporal.predictions import Predictions


class PostBank:
    def __init__(self, options: PostOptions) -> None:
        self.options = options
        self._tracks: dict[int, TrackPostProcessor] = {}

    def step(self, track_id: int, raw: Predictions, time_s: float, fresh: bool) -> PostOutput:
        """``fresh``: the model's track started anew with this frame, so its post-processing does too."""
        post = self._tracks.get(track_id)
        if post is None or fresh:
            post = self._tracks[track_id] = TrackPostProcessor(self.options)
        return post.step(raw, time_s)

    def forget(self, track_ids: Iterable[int]) -> None:
        for track_id in track_ids:
            self._tracks.pop(track_id, None)

    def reset(self) -> None:
        self._tracks.clear()
