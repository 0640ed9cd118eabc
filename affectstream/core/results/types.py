"""What the engine gives per face and per frame: plain frozen dataclasses (no Qt, no torch)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from affectstream.core.labels import ACTION_UNITS, EXPRESSIONS


@dataclass(frozen=True)
class StageTimes:
    """Milliseconds per stage of one frame; ``total`` runs from capture to result."""

    faces: float = 0.0  # landmarker + tracking
    features: float = 0.0  # alignment + extractors, all faces
    model: float = 0.0  # temporal model, all faces
    post: float = 0.0  # smoothing, hysteresis, building results
    total: float = 0.0  # capture to result (includes waiting in the frame slot when live)

    def as_dict(self) -> dict[str, float]:
        return {"faces": self.faces, "features": self.features, "model": self.model, "post": self.post,
                "total": self.total}


@dataclass(frozen=True)
class FaceAffect:
    """One face in one frame: where it is and what the model reads in it."""

    frame_index: int
    timestamp_ms: int
    track_id: int
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in frame pixels
    landmarks: np.ndarray | None  # (478, 3), None for an already aligned input without landmarks
    confidence: float
    valence_raw: float
    arousal_raw: float
    valence: float  # smoothed (causal live; centred in offline annotation)
    arousal: float
    expr_probs: np.ndarray  # (8,) smoothed, ABAW order
    expression: str
    au_probs: np.ndarray  # (12,) raw
    au_on: np.ndarray  # (12,) bool, with hysteresis
    track_frames: int  # frames this track has fed the model (1 on a fresh track)

    def expression_probability(self, name: str) -> float:
        return float(self.expr_probs[EXPRESSIONS.index(name)])

    def au_probability(self, name: str) -> float:
        return float(self.au_probs[ACTION_UNITS.index(name)])


@dataclass(frozen=True)
class FrameAffect:
    """Every face of one frame, with the frame's stage times."""

    frame_index: int
    timestamp_ms: int
    source: str
    model: str  # the model's name, for display
    faces: tuple[FaceAffect, ...]
    latency: StageTimes
    # Faces found whose features could not be computed (an aligned input without landmarks).
    faces_without_features: int = 0

    @property
    def success(self) -> bool:
        return bool(self.faces)
