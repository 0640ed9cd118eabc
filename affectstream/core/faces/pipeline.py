"""Per-frame face analysis with track ids: the analyzer followed by the tracker."""

from __future__ import annotations

import numpy as np

from affectstream.core.faces.group import GroupFaceAnalyzer
from affectstream.core.faces.landmarker import FaceAnalyzer, RunningMode
from affectstream.core.faces.single import SingleFaceAnalyzer
from affectstream.core.faces.tracking import FaceTracker
from affectstream.core.faces.types import FrameFaces


class FacePipeline:
    """Analyse frames in order (IMAGE or VIDEO mode) and give each face a track id.

    LIVE_STREAM analyzers deliver results asynchronously: run their results
    through a FaceTracker in the callback instead. A GroupFaceAnalyzer (several
    faces, searched for and followed one by one) and a SingleFaceAnalyzer (one face,
    searched for where the whole-frame landmarker finds none) run in VIDEO mode.
    """

    def __init__(self, analyzer: FaceAnalyzer | GroupFaceAnalyzer | SingleFaceAnalyzer,
                 tracker: FaceTracker | None = None) -> None:
        if analyzer.options.running_mode is RunningMode.LIVE_STREAM:
            raise ValueError("FacePipeline needs an IMAGE or VIDEO mode analyzer")
        self.analyzer = analyzer
        self.tracker = tracker or FaceTracker()

    def process(self, image_bgr: np.ndarray, timestamp_ms: int) -> FrameFaces:
        if self.analyzer.options.running_mode is RunningMode.VIDEO:
            found = self.analyzer.analyze_video_frame(image_bgr, timestamp_ms)
        else:
            found = self.analyzer.analyze(image_bgr)
        return FrameFaces(self.tracker.update(found.faces), found.timestamp_ms, found.image_size)

    def warm_up(self) -> None:
        """Make now what the first frames would otherwise wait for."""
        if isinstance(self.analyzer, GroupFaceAnalyzer):
            self.analyzer.warm_up()

    def close(self) -> None:
        self.analyzer.close()

    def __enter__(self) -> "FacePipeline":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
