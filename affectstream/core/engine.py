"""The affect engine: frame -> faces -> features -> streaming temporal model -> post-processing -> results.

One engine serves one stream (a video or a camera) at a time; ``reset`` starts a
new one. Faces come from the VIDEO-mode Face Landmarker (it tracks between frames
and runs the detector only when it lost a face) and the tracker; each track feeds
its own carried state (affectstream.core.temporal.tracks) and its own smoothing
(affectstream.core.post.tracks). Features are the checkpoint's, extracted by
the registered extractors in the recorded order and checked by name and dimension
when the engine is built.

Usage::

    with AffectEngine.from_checkpoint("model.safetensors") as engine:
        for frame in source:
            result = engine.process(frame)          # a FrameAffect
"""

from __future__ import annotations

import contextlib
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from affectstream.core.temporal.checkpoint import LoadedModel, check_features, load_checkpoint
from affectstream.core.errors import UserInputError
from affectstream.core.faces.types import check_max_faces
from affectstream.core.temporal.config import encoder_kind
from affectstream.core.post.modes import check_live_smoothing
from affectstream.core.post.postprocess import LEVEL_MARGIN, PostOptions
from affectstream.core.post.tracks import PostBank
from affectstream.core.results.types import FaceAffect, FrameAffect, StageTimes
from affectstream.core.temporal.runtime import check_runtime_kind, create_runtime
from affectstream.core.sources.readers import Frame
from affectstream.core.temporal.tracks import TrackBank, TrackOptions


@dataclass(frozen=True)
class EngineRuntime:
    """Where the temporal model runs."""

    kind: str = "auto"  # auto (onnxruntime, else torch), onnx or torch
    provider: str = "auto"  # onnxruntime device: auto (CUDA when offered), cpu or cuda
    threads: int = 1  # onnxruntime threads for the temporal model

    def __post_init__(self) -> None:
        check_runtime_kind(self.kind)  # here, before a model is loaded for nothing


@dataclass(frozen=True)
class EngineFaces:
    """How faces are found, followed and turned into features."""

    max_faces: int = 1
    # Search windows of the frame for faces the whole-frame landmarker misses (small faces of a group;
    # with max_faces 1, any face where it finds none among several) and follow each face on its own,
    # on ``workers`` threads.
    search: bool = True
    workers: int = 2
    landmarker_model: str | None = None
    accept_landmarker_hash: bool = False  # a landmarker file other than the one this release was measured with
    extractor_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> overrides

    def __post_init__(self) -> None:
        check_max_faces(self.max_faces)
        if self.workers < 1:
            raise UserInputError(f"face workers must be at least 1, got {self.workers}")


@dataclass(frozen=True)
class EnginePost:
    """What follows the model per face track, on top of what the checkpoint chose on validation."""

    # "causal" (the live filter) or "none" (raw values); offline centred smoothing is a job's (core.post.modes).
    smoothing: str = "causal"
    expr_alpha: float = 0.3
    au_hysteresis: float = 0.1
    # A causal VA filter (JSON form, see affectstream.core.filter_config) replacing the checkpoint's,
    # and an offset added to every tuned AU threshold.
    va_filter: dict[str, Any] | None = None
    au_threshold_offset: float = 0.0
    track_timeout_ms: float = 1000.0  # a face unseen for longer starts afresh
    # Deprecated spelling of ``smoothing`` (True: causal, False: none), kept so older scripts run; folded into
    # ``smoothing`` and cleared, so options compare equal whichever spelling made them.
    smooth: bool | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.smooth is not None:
            warnings.warn("EnginePost(smooth=...) is deprecated: use smoothing='causal' or 'none'",
                          DeprecationWarning, stacklevel=3)
            if not isinstance(self.smooth, (bool, np.bool_)):
                raise UserInputError(f"smooth is True or False, not {self.smooth!r}")
            if self.smooth and self.smoothing != "causal":  # the default "causal" may be smooth=False's
                raise UserInputError(f"smooth=True and smoothing={self.smoothing!r} disagree: give smoothing only")
            object.__setattr__(self, "smoothing", "causal" if self.smooth else "none")
            object.__setattr__(self, "smooth", None)
        check_live_smoothing(self.smoothing)
        if not -1.0 < self.au_threshold_offset < 1.0:
            raise UserInputError(f"AU threshold offset must be in (-1, 1), got {self.au_threshold_offset}")


@dataclass(frozen=True)
class EngineOptions:
    """Every setting of the engine, in three parts: where the model runs, how faces are found, what follows
    the model (``affectstream.EngineOptions``; ``Analyzer(options=...)`` takes one)."""

    runtime: EngineRuntime = field(default_factory=EngineRuntime)
    faces: EngineFaces = field(default_factory=EngineFaces)
    post: EnginePost = field(default_factory=EnginePost)

    def __post_init__(self) -> None:
        for name, kind in (("runtime", EngineRuntime), ("faces", EngineFaces), ("post", EnginePost)):
            if not isinstance(getattr(self, name), kind):
                raise UserInputError(f"EngineOptions.{name} is an {kind.__name__}, "
                                     f"not {type(getattr(self, name)).__name__}")


@dataclass(frozen=True)
class _FoundFaces:
    """A frame's faces, before features: what the faces stage hands on."""

    frame: Frame
    faces: tuple
    captured_at: float
    ms: float  # the faces stage's time


class AffectEngine:
    def __init__(self, loaded: LoadedModel, options: EngineOptions | None = None, chain=None) -> None:
        """``chain``: an ExtractorChain to use instead of building one from the checkpoint's names."""
        self.options = options or EngineOptions()
        self.meta = loaded.meta
        where = str(loaded.path) if loaded.path else f"model {self.meta.name!r}"
        run, faces, tuning = self.options.runtime, self.options.faces, self.options.post
        choice = create_runtime(loaded.model, run.kind, run.threads, run.provider)
        self.runtime, self.runtime_fallback = choice.runtime, choice.fallback_reason
        thresholds = np.asarray(self.meta.au_thresholds, dtype=np.float64)
        if tuning.au_threshold_offset:
            # Offset thresholds stay inside the levels PostOptions allows, so every AU can still switch.
            thresholds = np.clip(thresholds + tuning.au_threshold_offset, LEVEL_MARGIN, 1.0 - LEVEL_MARGIN)
        causal = self.meta.post.causal if tuning.va_filter is None else tuning.va_filter
        post = PostOptions(tuple(float(t) for t in thresholds), causal,
                           tuning.smoothing, tuning.expr_alpha, tuning.au_hysteresis)
        frame_wise = encoder_kind(self.meta.model_config.encoder) == "mlp"
        # The model's state per face track, and what follows it per track: the bank says when a track starts
        # fresh or is forgotten, and its smoothing follows.
        self.tracks = TrackBank(self.runtime, TrackOptions(self.meta.seq_len, self.meta.carry_state, frame_wise,
                                                           tuning.track_timeout_ms))
        self.post = PostBank(post)
        # Extractors last: they hold sessions that must be closed if anything above fails.
        if chain is None:
            from affectstream.core.features.extractors import ExtractorChain

            chain = ExtractorChain.from_names(self.meta.feature_names, faces.extractor_options)
        try:
            check_features(self.meta, chain.specs(), where)
        except BaseException:
            chain.close()
            raise
        self.chain = chain
        self._pipeline = None

    @classmethod
    def from_checkpoint(cls, path: str | Path, options: EngineOptions | None = None) -> "AffectEngine":
        return cls(load_checkpoint(path), options)

    @property
    def model_name(self) -> str:
        return self.meta.name

    @property
    def provenance(self) -> dict:
        """Where the model came from (its card's facts: labels, data, command)."""
        return dict(self.meta.provenance)

    @property
    def au_thresholds(self) -> np.ndarray:
        """The AU thresholds in force: the checkpoint's, moved by ``au_threshold_offset``."""
        return np.asarray(self.post.options.au_thresholds, dtype=np.float64)

    @property
    def causal_filter(self) -> dict:
        """The live valence/arousal filter in force (JSON form): the checkpoint's, or the options' own."""
        return dict(self.post.options.causal)

    @property
    def offline_window(self) -> int:
        """Frames of the centred valence/arousal window chosen on validation (offline smoothing)."""
        return int(self.meta.post.offline_window)

    # -- lifetime -------------------------------------------------------------
    def reset(self) -> None:
        """Start a new stream: fresh face tracking (timestamps may restart) and fresh track states."""
        self._close_pipeline()
        self.tracks.reset()
        self.post.reset()

    def restart_faces(self) -> None:
        """Start face finding afresh (timestamps may start again) and keep every track's state: what follows a
        frame that failed part-way, when the face stage may already have taken its time."""
        self._close_pipeline()

    def warm_up(self) -> None:
        """Build the face landmarkers now rather than inside the first frames (a live stream would drop frames)."""
        self._faces().warm_up()

    def _close_pipeline(self) -> None:
        if self._pipeline is not None:
            self._pipeline.close()
            self._pipeline = None

    def close(self) -> None:
        self._close_pipeline()
        self.chain.close()

    def __enter__(self) -> "AffectEngine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _faces(self):
        if self._pipeline is None:
            from affectstream.core.faces.group import GroupFaceAnalyzer, GroupOptions
            from affectstream.core.faces.landmarker import FaceAnalyzer, FaceAnalyzerOptions, RunningMode
            from affectstream.core.faces.pipeline import FacePipeline
            from affectstream.core.faces.single import SingleFaceAnalyzer

            o = self.options.faces
            whole_frame = FaceAnalyzerOptions(running_mode=RunningMode.VIDEO, max_faces=o.max_faces,
                                              model_path=o.landmarker_model,
                                              accept_any_model_hash=o.accept_landmarker_hash)
            if o.max_faces > 1 and o.search:
                analyzer = GroupFaceAnalyzer(GroupOptions(max_faces=o.max_faces, workers=o.workers,
                                                          model_path=o.landmarker_model,
                                                          accept_any_model_hash=o.accept_landmarker_hash))
            elif o.search:
                analyzer = SingleFaceAnalyzer(whole_frame, workers=1)
            else:
                analyzer = FaceAnalyzer(whole_frame)
            self._pipeline = FacePipeline(analyzer)
        return self._pipeline

    # -- one frame ----------------------------------------------------------------
    def process(self, frame: Frame, captured_at: float | None = None, prealigned: bool = False) -> FrameAffect:
        """Analyse one frame. ``captured_at``: time.perf_counter() when the frame was captured
        (default: now). ``prealigned``: the frame is already an aligned face crop."""
        return self._affect(self._find_faces(frame, captured_at, prealigned), prealigned)

    def process_stream(self, frames: Iterable[Frame], prealigned: bool = False) -> Iterator[FrameAffect]:
        """Every frame in order, as fast as possible: the same results as ``process`` frame by frame,
        but the faces of the next frame are found (on a thread) while this one's features and
        model run, so the two stages use both cores. The capture time is when a frame was taken."""
        frames = iter(frames)
        with ThreadPoolExecutor(1, thread_name_prefix="faces ahead") as ahead:
            pending = None
            try:
                while True:
                    try:
                        frame = next(frames, None)
                    except BaseException:  # a source error: the frame before it is still a result
                        if pending is not None:
                            yield self._affect(pending.result(), prealigned)
                            pending = None
                        raise
                    found = None if frame is None else ahead.submit(self._find_faces, frame, time.perf_counter(),
                                                                    prealigned)
                    if pending is not None:
                        yield self._affect(pending.result(), prealigned)
                    pending = found
                    if pending is None:
                        return
            finally:
                if pending is not None:
                    pending.cancel()
                    with contextlib.suppress(BaseException):
                        pending.result()  # the landmarker is left idle before anyone resets it

    def _find_faces(self, frame: Frame, captured_at: float | None, prealigned: bool) -> "_FoundFaces":
        t0 = time.perf_counter()
        captured_at = t0 if captured_at is None else captured_at
        faces: tuple = ()
        if not prealigned or self.chain.needs_landmarks:
            faces = self._faces().process(frame.image, frame.timestamp_ms).faces
        if prealigned:
            # The frame is the face: one track, whatever the landmarker found in it.
            faces = (faces[0].with_track(0),) if faces else (None,)
        return _FoundFaces(frame, faces, captured_at, (time.perf_counter() - t0) * 1000.0)

    def _affect(self, found_faces: "_FoundFaces", prealigned: bool) -> FrameAffect:
        frame, faces = found_faces.frame, found_faces.faces
        height, width = frame.image.shape[:2]
        t1 = time.perf_counter()
        # (face or None, features or None)
        found = [(face, features.concatenated())
                 for face, features in zip(faces, self.chain.features_of(frame.image, faces, prealigned))]
        t2 = time.perf_counter()

        self.post.forget(self.tracks.expire(frame.timestamp_ms))
        stepped = [(face, face.track_id if face is not None else 0, features)
                   for face, features in found if features is not None]
        outputs = self.tracks.step_many([(track_id, features) for _, track_id, features in stepped],
                                        frame.timestamp_ms)
        t3 = time.perf_counter()

        results = tuple(self._face_result(frame, face, step, self.post.step(step.track_id, step.raw,
                                                                            frame.timestamp_ms / 1000.0, step.fresh),
                                          (width, height))
                        for (face, _, _), step in zip(stepped, outputs))
        t4 = time.perf_counter()
        ms = lambda a, b: (b - a) * 1000.0  # noqa: E731
        latency = StageTimes(found_faces.ms, ms(t1, t2), ms(t2, t3), ms(t3, t4),
                             ms(found_faces.captured_at, t4))
        return FrameAffect(frame.number, frame.timestamp_ms, frame.source, self.meta.name, results, latency,
                           faces_without_features=sum(f is None for _, f in found))

    @staticmethod
    def _face_result(frame: Frame, face, step, post, size: tuple[int, int]) -> FaceAffect:
        if face is None:
            box, landmarks, confidence = (0.0, 0.0, float(size[0]), float(size[1])), None, 1.0
        else:
            box, landmarks, confidence = face.box, face.landmarks, face.confidence
        raw = step.raw
        return FaceAffect(
            frame_index=frame.number, timestamp_ms=frame.timestamp_ms, track_id=step.track_id, box=box,
            landmarks=landmarks, confidence=float(confidence),
            valence_raw=float(raw.va[0]), arousal_raw=float(raw.va[1]),
            valence=float(post.va[0]), arousal=float(post.va[1]),
            expr_probs=post.expr_probs, expression=post.expression,
            au_probs=raw.au_probs.astype(np.float32), au_on=post.au_on, track_frames=step.frames,
        )
