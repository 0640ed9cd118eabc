"""Per-track post-processing of the model's outputs for live display.

* Valence/arousal: the causal filter chosen on validation (EMA or One-Euro,
  stored in the checkpoint), so live values are smoothed without looking ahead.
* Expression: an exponential moving average of the 8 probabilities; the label
  is the argmax of the smoothed ones, so it does not flip on one noisy frame.
* Action units: hysteresis around each AU's tuned threshold: an AU turns on
  above ``threshold + h/2`` and off below ``threshold - h/2``, so a probability
  hovering at the threshold does not make its bar flicker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from affectstream.core.errors import UserInputError
from affectstream.core.labels import EXPRESSIONS, NUM_AUS
from affectstream.core.filter_config import causal_config_from_json
from affectstream.core.post.modes import check_live_smoothing
from affectstream.core.post.smoothing import make_causal_filter
from affectstream.core.temporal.predictions import Predictions

# Levels stay strictly inside (0, 1) so that an AU can always turn on and off.
LEVEL_MARGIN = 0.01


@dataclass(frozen=True)
class PostOptions:
    au_thresholds: tuple[float, ...]
    causal: Mapping[str, Any]  # the checkpoint's causal filter (JSON form)
    smoothing: str = "causal"  # "none": smoothed values equal the raw ones (affectstream.core.post.modes)
    expr_alpha: float = 0.3  # EMA weight of the newest expression probabilities
    au_hysteresis: float = 0.1  # gap between the on and off levels

    def __post_init__(self) -> None:
        if len(self.au_thresholds) != NUM_AUS:
            raise UserInputError(f"need {NUM_AUS} AU thresholds, got {len(self.au_thresholds)}")
        if not 0.0 < self.expr_alpha <= 1.0:
            raise UserInputError(f"expression smoothing alpha must be in (0, 1], got {self.expr_alpha}")
        if not 0.0 <= self.au_hysteresis < 1.0:
            raise UserInputError(f"AU hysteresis must be in [0, 1), got {self.au_hysteresis}")
        check_live_smoothing(self.smoothing)
        causal_config_from_json(self.causal)  # a malformed filter fails here, not on the first face

    def levels(self) -> tuple[np.ndarray, np.ndarray]:
        """(on, off) probability levels per AU."""
        thresholds = np.asarray(self.au_thresholds, dtype=np.float64)
        half = self.au_hysteresis / 2.0
        on = np.clip(thresholds + half, LEVEL_MARGIN, 1.0 - LEVEL_MARGIN)
        off = np.clip(thresholds - half, LEVEL_MARGIN, 1.0 - LEVEL_MARGIN)
        return on, np.minimum(off, on)


@dataclass(frozen=True)
class PostOutput:
    va: np.ndarray  # (2,) smoothed valence, arousal
    expr_probs: np.ndarray  # (8,) smoothed
    expression: str  # argmax of the smoothed probabilities
    au_on: np.ndarray  # (12,) bool


class TrackPostProcessor:
    """The post-processing state of one face track; ``step`` once per stepped frame."""

    def __init__(self, options: PostOptions) -> None:
        self.options = options
        self._va_filter = make_causal_filter(causal_config_from_json(options.causal))
        self._on_level, self._off_level = options.levels()
        self._thresholds = np.asarray(options.au_thresholds, dtype=np.float64)
        self._expr: np.ndarray | None = None
        self._au_on: np.ndarray | None = None

    def step(self, out: Predictions, time_s: float) -> PostOutput:
        probs = np.asarray(out.expr_probs, dtype=np.float64)
        au = np.asarray(out.au_probs, dtype=np.float64)
        if self.options.smoothing == "causal":
            va = self._va_filter.step(np.asarray(out.va, dtype=np.float64), time_s)
            a = self.options.expr_alpha
            self._expr = probs.copy() if self._expr is None else a * probs + (1.0 - a) * self._expr
        else:
            va, self._expr = np.asarray(out.va, dtype=np.float64), probs
        if self._au_on is None:
            # The first frame has no history: the tuned threshold decides.
            self._au_on = au >= self._thresholds
        else:
            self._au_on = np.where(self._au_on, au >= self._off_level, au >= self._on_level)
        return PostOutput(va.astype(np.float32), self._expr.astype(np.float32),
                          EXPRESSIONS[int(np.argmax(self._expr))], self._au_on.copy())
