"""The ABAW multi-task label schema: valence/arousal, 8 expressions, 12 action units.

Missing labels use the ABAW codes: -5 for valence/arousal, -1 for the expression
and for each action unit.
"""

from __future__ import annotations

import numpy as np

EXPRESSIONS: tuple[str, ...] = (
    "Neutral",
    "Anger",
    "Disgust",
    "Fear",
    "Happiness",
    "Sadness",
    "Surprise",
    "Other",
)
ACTION_UNITS: tuple[str, ...] = (
    "AU1",
    "AU2",
    "AU4",
    "AU6",
    "AU7",
    "AU10",
    "AU12",
    "AU15",
    "AU23",
    "AU24",
    "AU25",
    "AU26",
)
NUM_EXPRESSIONS = len(EXPRESSIONS)
NUM_AUS = len(ACTION_UNITS)

VA_MISSING = -5.0
EXPR_MISSING = -1
AU_MISSING = -1

VA_RANGE = (-1.0, 1.0)

# Task names used across models, losses and metrics.
TASKS: tuple[str, ...] = ("va", "expr", "au")


def va_valid(va: np.ndarray) -> np.ndarray:
    """Mask of frames whose valence and arousal are both labelled; ``va`` is (N, 2)."""
    va = np.asarray(va)
    return np.all(va != VA_MISSING, axis=-1)


def expr_valid(expr: np.ndarray) -> np.ndarray:
    """Mask of frames with an expression label."""
    return np.asarray(expr) != EXPR_MISSING


def expr_neutral(expr: np.ndarray) -> np.ndarray:
    """Mask of frames labelled Neutral (faces at rest, where AUs should mostly be off)."""
    return np.asarray(expr) == EXPRESSIONS.index("Neutral")


def au_labelled(au: np.ndarray) -> np.ndarray:
    """(N, 12) mask of the AU labels that are present; ``au`` is (N, 12).

    Each AU counts on its own: ABAW files miss all 12 together, but a set may know some AUs of a frame
    and not others (a CSV with empty cells; CK+'s AU26 where it codes AU27), as the loss does.
    """
    return np.asarray(au) != AU_MISSING


def au_any_labelled(au: np.ndarray) -> np.ndarray:
    """(N,) mask of frames with at least one AU label."""
    return np.any(au_labelled(au), axis=-1)
