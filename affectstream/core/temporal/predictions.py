"""The temporal model's outputs as numbers: the one output type from the runtimes to post-processing.

Valence/arousal in [-1, 1], expression probabilities (8, ABAW order) and AU
probabilities (12). The leading shape says what it covers: none for one frame
(``va`` is (2,)), (N,) for a sequence of frames, (B, T) for a batch of tracks.
The torch model's own output (logits and tensors) is ``MultiTaskOutput``; the
runtimes add the carried state (``StepOutput``); post-processing gives
``PostOutput``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Predictions:
    va: np.ndarray  # (..., 2)
    expr_probs: np.ndarray  # (..., 8)
    au_probs: np.ndarray  # (..., 12)

    def __len__(self) -> int:
        return len(self.va)

    def take(self, index) -> "Predictions":
        """The frames (or tracks) at ``index`` along the first axis."""
        return Predictions(self.va[index], self.expr_probs[index], self.au_probs[index])
