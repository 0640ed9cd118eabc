"""VIDEO-mode face analysis for groups: every face found, each followed on its own.

The single VIDEO-mode landmarker follows only the faces its 128 px whole-frame
detector found, so the small faces of a group are missed. Here:

* a **search** (affectstream.core.faces.search) looks for faces in windows of the frame, a
  window per frame by default (a whole sweep every 10 frames, a third of a
  second at 30 fps), while free face slots remain. It runs on the calling
  thread while the followers work, and the faces it finds join on the next
  frame; the first frame of a stream (a still image) is searched whole before
  its faces are returned;
* each face found gets a **follower**: a VIDEO-mode landmarker of its own (one
  face) fed a square window around the face, so MediaPipe tracks it frame to
  frame with its landmark model alone, as it does for a single face. The window
  stays put while the face stays near its centre and at about its size, and
  moves with it otherwise;
* followers run on a small thread pool (MediaPipe releases the interpreter lock
  while it computes), so several faces use both cores; the calling thread,
  once its search is done, takes the faces no worker has started yet. A follower costs about
  10 ms of CPU per face and frame, a little more than one more face in the
  whole-frame landmarker (about 7 ms), but the whole-frame landmarker runs its
  faces one after the other on one core.

The landmarks come from the same landmark and blendshape models on the same
pixels as in the whole-frame path, so features of a face do not depend on
which path found it. Landmarkers are made once (``warm_up``) and reused by new
followers: making one takes tens of milliseconds, too long for a live frame.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from affectstream.core.images import to_bgr
from affectstream.core.faces.landmarker import FaceAnalyzer, FaceAnalyzerOptions, RunningMode, shift_face
from affectstream.core.faces.model_file import locate_face_landmarker
from affectstream.core.faces.search import Detection, FaceSearch, SearchOptions, box_centre, covers
from affectstream.core.faces.types import FaceResult, FrameFaces, too_small_for_faces

WINDOW_SCALE = 2.2  # follower window side / face size: room for MediaPipe's own margin and a frame's motion
RECENTRE = 0.15  # move the window once the face centre is this far (fraction of the side) from its centre
SIZE_RANGE = (0.75, 1.33)  # ... or the face's size left this range of the window's face size


@dataclass(frozen=True)
class GroupOptions:
    max_faces: int = 6
    max_missed: int = 2  # frames a follower may lose its face before its slot is freed
    workers: int = 2  # threads running followers
    search: SearchOptions = field(default_factory=SearchOptions)
    model_path: str | os.PathLike | None = None
    accept_any_model_hash: bool = False

    def __post_init__(self) -> None:
        if self.max_faces < 1:
            raise ValueError(f"max_faces must be at least 1, not {self.max_faces}")
        if self.workers < 1 or self.max_missed < 0:
            raise ValueError(f"workers must be >= 1 and max_missed >= 0, got {self.workers}, {self.max_missed}")

    @property
    def running_mode(self) -> RunningMode:
        return RunningMode.VIDEO


@dataclass
class _Window:
    """The square a follower looks at: centre and side in frame pixels (may reach past the frame)."""

    cx: float
    cy: float
    side: float

    @classmethod
    def around(cls, box) -> "_Window":
        cx, cy = box_centre(box)
        return cls(cx, cy, WINDOW_SCALE * max(box[2] - box[0], box[3] - box[1], 1.0))

    def follows(self, box) -> bool:
        """Whether the window still suits the face in ``box`` (else a new one is centred on it)."""
        cx, cy = box_centre(box)
        size = max(box[2] - box[0], box[3] - box[1], 1.0) * WINDOW_SCALE / self.side
        off = max(abs(cx - self.cx), abs(cy - self.cy)) / self.side
        return off <= RECENTRE and SIZE_RANGE[0] <= size <= SIZE_RANGE[1]

    def pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        half = self.side / 2.0
        x0, y0 = max(int(self.cx - half), 0), max(int(self.cy - half), 0)
        x1, y1 = min(int(self.cx + half) + 1, width), min(int(self.cy + half) + 1, height)
        return x0, y0, x1, y1


class _Follower:
    """One face followed by its own VIDEO-mode landmarker inside a window."""

    def __init__(self, analyzer: FaceAnalyzer, window: _Window) -> None:
        self.analyzer, self.window = analyzer, window
        self.missed = 0
        self.face: FaceResult | None = None  # in the last frame it was found
        self.born = 0  # order of creation: the older of two followers on one face stays

    def process(self, bgr: np.ndarray, timestamp_ms: int) -> FaceResult | None:
        height, width = bgr.shape[:2]
        x0, y0, x1, y1 = self.window.pixels(width, height)
        if x1 - x0 < 8 or y1 - y0 < 8:  # the face left the frame
            self.missed += 1
            return None
        found = self.analyzer.analyze_video_frame(bgr[y0:y1, x0:x1], timestamp_ms).faces
        if not found:
            self.missed += 1
            return None
        face = shift_face(found[0], x0, y0, width, height)
        self.face, self.missed = face, 0
        if not self.window.follows(face.box):
            self.window = _Window.around(face.box)
        return face


class GroupFaceAnalyzer:
    """Up to ``max_faces`` faces per frame, VIDEO mode (timestamps must increase)."""

    def __init__(self, options: GroupOptions | None = None) -> None:
        self.options = options or GroupOptions()
        self.model_path: Path = locate_face_landmarker(self.options.model_path, self.options.accept_any_model_hash)
        self._search = FaceSearch(self.model_path, self.options.search)
        self._idle: list[FaceAnalyzer] = []  # landmarkers not following anyone
        self._followers: list[_Follower] = []
        self._pool = ThreadPoolExecutor(self.options.workers, thread_name_prefix="face follower")
        self._born = 0
        self._started = False
        self._found: list[Detection] = []  # faces the last search found, not yet followed
        self._last_timestamp: int | None = None

    # -- lifetime -------------------------------------------------------------
    def warm_up(self) -> None:
        """Make every landmarker now, so that a face entering a live stream costs no start-up."""
        while len(self._idle) + len(self._followers) < self.options.max_faces:
            self._idle.append(self._new_landmarker())

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for analyzer in self._idle + [f.analyzer for f in self._followers]:
            analyzer.close()
        self._idle, self._followers = [], []
        self._search.close()

    def __enter__(self) -> "GroupFaceAnalyzer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- one frame ----------------------------------------------------------------
    def analyze_video_frame(self, image: np.ndarray, timestamp_ms: int) -> FrameFaces:
        timestamp_ms = int(timestamp_ms)
        if self._last_timestamp is not None and timestamp_ms <= self._last_timestamp:
            raise ValueError(f"timestamps must increase: {timestamp_ms} ms after {self._last_timestamp} ms")
        bgr = to_bgr(image)
        if too_small_for_faces(bgr):  # no face to find or follow: the followers wait for the next frame
            return FrameFaces((), timestamp_ms, (bgr.shape[1], bgr.shape[0]))
        self._last_timestamp = timestamp_ms
        if not self._started:  # the first frame (or a still image) is searched whole, now
            self._found = self._search.sweep(bgr)
            self._started = True
        starters = self._starters(self._found)
        running = [self._pool.submit(f.process, bgr, timestamp_ms) for f in self._followers + starters]
        # Meanwhile this thread searches the next windows; faces it finds join on the next frame.
        self._found = []
        if len(self._followers) + len(starters) < self.options.max_faces:
            self._found = self._search.step(bgr)
        # Then it takes over the faces no worker has started yet, rather than wait idle.
        for job, follower in reversed(list(zip(running, self._followers + starters))):
            if job.cancel():
                follower.process(bgr, timestamp_ms)
        for job in running:
            if not job.cancelled():
                job.result()
        for follower in starters:
            if follower.missed == 0:
                self._followers.append(follower)
            else:  # the detector saw a face the landmark model does not confirm
                self._idle.append(follower.analyzer)
        self._drop_lost_and_doubles()
        faces = tuple(f.face for f in self._followers if f.missed == 0)
        return FrameFaces(faces, timestamp_ms, (bgr.shape[1], bgr.shape[0]))

    def _drop_lost_and_doubles(self) -> None:
        kept: list[_Follower] = []
        for follower in sorted(self._followers, key=lambda f: f.born):
            lost = follower.missed > self.options.max_missed
            # Two windows can settle on one face (a neighbour's window overlapping it): the older one stays.
            double = follower.missed == 0 and any(
                k.missed == 0 and covers(k.face.box, box_centre(follower.face.box)) for k in kept)
            if lost or double:
                self._idle.append(follower.analyzer)
            else:
                kept.append(follower)
        self._followers = kept

    def _starters(self, detections: list[Detection]) -> list[_Follower]:
        """New followers for detections of faces nobody follows yet, largest first, while slots are free."""
        known = [f.face.box for f in self._followers if f.face is not None]
        new = [d for d in detections if not any(covers(box, box_centre(d.box), 0.1) for box in known)]
        # With more faces than slots, the largest (nearest) people are kept.
        new.sort(key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]), reverse=True)
        return [self._follower_for(d) for d in new[:self.options.max_faces - len(self._followers)]]

    def _follower_for(self, detection: Detection) -> _Follower:
        analyzer = self._idle.pop() if self._idle else self._new_landmarker()
        follower = _Follower(analyzer, _Window.around(detection.box))
        follower.born = self._born
        self._born += 1
        return follower

    def _new_landmarker(self) -> FaceAnalyzer:
        return FaceAnalyzer(FaceAnalyzerOptions(
            running_mode=RunningMode.VIDEO, max_faces=1, model_path=self.model_path,
            accept_any_model_hash=self.options.accept_any_model_hash))
