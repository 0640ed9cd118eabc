"""VIDEO-mode analysis of one face per frame that does not lose a face among several.

The whole-frame landmarker asked for one face (``num_faces=1``) can return none
where a frame holds several: on the group photo of ``../shared``
(``multi_face.jpg``, five frontal faces about 100 px wide) it finds none, and one
when asked for two. So the whole-frame landmarker, the fast path for one person
in view, is kept, and when it finds no face a ``GroupFaceAnalyzer`` limited to one
face searches windows of the frame and follows the largest face it finds, in a
window of its own. While that follower has the face, the whole-frame landmarker
is still asked every ``RECHECK_FRAMES`` frames, and what it finds is taken
instead: a follower that took a background face while the person looked away
does not keep it once the person is back.

Costs: nothing more while the whole-frame landmarker finds the face. The search
path is made the first time it is needed (about 35 ms, once per stream); a frame
where neither finds a face costs a whole-frame detection and one search window.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from affectstream.core.faces.group import GroupFaceAnalyzer, GroupOptions
from affectstream.core.faces.landmarker import FaceAnalyzer, FaceAnalyzerOptions, RunningMode
from affectstream.core.faces.types import FrameFaces, too_small_for_faces

RECHECK_FRAMES = 10  # a third of a second at 30 fps, as a whole sweep of the group search


class SingleFaceAnalyzer:
    """At most one face per frame, VIDEO mode (timestamps must increase)."""

    def __init__(self, options: FaceAnalyzerOptions, workers: int = 1) -> None:
        if options.running_mode is not RunningMode.VIDEO or options.max_faces != 1:
            raise ValueError("SingleFaceAnalyzer needs VIDEO-mode options for one face")
        self.options = options
        self._whole = FaceAnalyzer(options)
        self.model_path: Path = self._whole.model_path
        self._workers = workers
        # Made when the whole-frame landmarker first finds nothing, not ahead (``warm_up``): most streams never
        # need it, and annotate makes the face path afresh for each video.
        self._group: GroupFaceAnalyzer | None = None
        self._following = 0  # frames the search path has had the face for, running

    def analyze_video_frame(self, image: np.ndarray, timestamp_ms: int) -> FrameFaces:
        if too_small_for_faces(image):  # no face to search for: the search path is not made for it
            return self._whole.analyze_video_frame(image, timestamp_ms)
        if self._following and self._following % RECHECK_FRAMES:
            found = self._search_path().analyze_video_frame(image, timestamp_ms)
            if found.faces:
                self._following += 1
                return found
            self._following = 0
            return self._whole.analyze_video_frame(image, timestamp_ms)
        found = self._whole.analyze_video_frame(image, timestamp_ms)
        if found.faces:
            self._following = 0
            return found
        found = self._search_path().analyze_video_frame(image, timestamp_ms)
        self._following = self._following + 1 if found.faces else 0
        return found

    def close(self) -> None:
        self._whole.close()
        if self._group is not None:
            self._group.close()
            self._group = None

    def __enter__(self) -> "SingleFaceAnalyzer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _search_path(self) -> GroupFaceAnalyzer:
        if self._group is None:
            self._group = GroupFaceAnalyzer(GroupOptions(
                max_faces=1, workers=self._workers, model_path=self.model_path,
                accept_any_model_hash=self.options.accept_any_model_hash))
            self._group.warm_up()
        return self._group
