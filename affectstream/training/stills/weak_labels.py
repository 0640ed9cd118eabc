"""Weak valence/arousal and action-unit targets for data that has only expression labels.

Neither is a measurement; the default model's card says so.

* **Valence/arousal**: each expression class is placed at one point of the
  circumplex (valence = pleasantness, arousal = activation), positions chosen by
  hand from the circumplex model of affect (Russell, 1980). A face then gets its
  class's point. So the model's VA is really "which part of the circumplex the
  expression belongs to", not the intensity a rater would give.
* **Action units**: a rule on the Face Landmarker's blendshape scores (the
  blendshapes are ARKit-style, most correspond to one FACS action). Thresholds
  were set by looking at score distributions on FER2013 Training faces. Two
  blendshapes that should carry AU6 and AU9-like cues (cheekSquint, noseSneer)
  are always ~0 in this landmarker, so AU6/AU7 are split by eye narrowing with or
  without a smile. AU23 (lip tightener) has no blendshape; rolled-in lips stand
  in for it. Since blendshapes are also model inputs, the AU head learns this
  rule: it reports blendshape activity, not a trained AU detector's reading.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from affectstream.core.faces.types import BLENDSHAPE_NAMES
from affectstream.core.labels import ACTION_UNITS, EXPRESSIONS

# (valence, arousal) per ABAW expression; "Other" has no place and stays missing.
CIRCUMPLEX: dict[str, tuple[float, float]] = {
    "Neutral": (0.0, 0.0),
    "Anger": (-0.6, 0.7),
    "Disgust": (-0.7, 0.3),
    "Fear": (-0.6, 0.75),
    "Happiness": (0.8, 0.45),
    "Sadness": (-0.7, -0.35),
    "Surprise": (0.15, 0.8),
}


def circumplex_va(expressions: np.ndarray) -> np.ndarray:
    """(N,) ABAW expression indices -> (N, 2) weak VA; -5 (missing) for Other or a missing label."""
    table = np.full((len(EXPRESSIONS), 2), -5.0, dtype=np.float32)
    for name, point in CIRCUMPLEX.items():
        table[EXPRESSIONS.index(name)] = point
    expressions = np.asarray(expressions, dtype=np.int64)
    out = np.full((len(expressions), 2), -5.0, dtype=np.float32)
    known = expressions >= 0
    out[known] = table[expressions[known]]
    return out


@dataclass(frozen=True)
class AuRule:
    """AU on when the mean of ``blendshapes`` reaches ``threshold`` (and the extra condition holds)."""

    blendshapes: tuple[str, ...]
    threshold: float
    smile_below: float | None = None  # only when mouthSmile is below this
    smile_at_least: float | None = None  # only when mouthSmile reaches this


AU_RULES: dict[str, AuRule] = {
    "AU1": AuRule(("browInnerUp",), 0.40),
    "AU2": AuRule(("browOuterUpLeft", "browOuterUpRight"), 0.45),
    "AU4": AuRule(("browDownLeft", "browDownRight"), 0.35),
    "AU6": AuRule(("eyeSquintLeft", "eyeSquintRight"), 0.45, smile_at_least=0.35),
    "AU7": AuRule(("eyeSquintLeft", "eyeSquintRight"), 0.55, smile_below=0.35),
    "AU10": AuRule(("mouthUpperUpLeft", "mouthUpperUpRight"), 0.30),
    "AU12": AuRule(("mouthSmileLeft", "mouthSmileRight"), 0.40),
    "AU15": AuRule(("mouthFrownLeft", "mouthFrownRight"), 0.15),
    "AU23": AuRule(("mouthRollLower", "mouthRollUpper"), 0.15),
    "AU24": AuRule(("mouthPressLeft", "mouthPressRight"), 0.15),
    "AU25": AuRule(("mouthLowerDownLeft", "mouthLowerDownRight"), 0.30),
    "AU26": AuRule(("jawOpen",), 0.35),
}
SMILE = ("mouthSmileLeft", "mouthSmileRight")


def _mean_of(blendshapes: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    return blendshapes[:, [BLENDSHAPE_NAMES.index(n) for n in names]].mean(axis=1)


def blendshape_aus(blendshapes: np.ndarray) -> np.ndarray:
    """(N, >=52) blendshape scores (the ``blendshapes`` feature; extra columns ignored) -> (N, 12) 0/1 int8."""
    blendshapes = np.asarray(blendshapes, dtype=np.float32)
    if blendshapes.ndim != 2 or blendshapes.shape[1] < len(BLENDSHAPE_NAMES):
        raise ValueError(f"expected (N, >= {len(BLENDSHAPE_NAMES)}) blendshape scores, got {blendshapes.shape}")
    smile = _mean_of(blendshapes, SMILE)
    out = np.zeros((len(blendshapes), len(ACTION_UNITS)), dtype=np.int8)
    for column, au in enumerate(ACTION_UNITS):
        rule = AU_RULES[au]
        on = _mean_of(blendshapes, rule.blendshapes) >= rule.threshold
        if rule.smile_below is not None:
            on &= smile < rule.smile_below
        if rule.smile_at_least is not None:
            on &= smile >= rule.smile_at_least
        out[:, column] = on
    return out
