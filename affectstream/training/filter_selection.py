"""Choosing the valence/arousal smoothing on validation videos: the offline window and the live filter.

Each candidate is scored by mean valence/arousal CCC over the validation videos;
the best is stored with the model (affectstream.core.filter_config) and run by
affectstream.core.post.smoothing.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from affectstream.core.filter_config import (
    CausalConfig,
    EMAConfig,
    OneEuroConfig,
    causal_config_label,
    causal_config_to_json,
)
from affectstream.training.metrics import mean_va_ccc
from affectstream.core.post.smoothing import apply_causal, centered_moving_average

DEFAULT_WINDOWS: tuple[int, ...] = tuple(range(1, 52, 2))


def _score_smoothed(smoothed: Sequence[np.ndarray], targets: Sequence[np.ndarray]) -> float:
    """Mean VA CCC over the labelled frames of all videos concatenated."""
    return mean_va_ccc(np.concatenate(smoothed, axis=0), np.concatenate(targets, axis=0))


def _check_videos(preds: Sequence[np.ndarray], targets: Sequence[np.ndarray]) -> list[np.ndarray]:
    if len(preds) != len(targets) or len(preds) == 0:
        raise ValueError(
            f"need the same, non-zero number of prediction and target videos ({len(preds)} vs {len(targets)})"
        )
    out = []
    for i, (p, t) in enumerate(zip(preds, targets)):
        p, t = np.asarray(p, dtype=np.float64), np.asarray(t)
        if p.ndim != 2 or p.shape[1] != 2 or p.shape != t.shape:
            raise ValueError(f"video {i}: expected (N, 2) prediction and target, got {p.shape} and {t.shape}")
        out.append(p)
    return out


def _best(scores: Mapping[Any, float], what: str) -> Any:
    """The key with the highest score; the first in order on ties. NaN scores lose."""
    best_key, best_score = None, -math.inf
    for key, score in scores.items():
        if not math.isnan(score) and score > best_score:
            best_key, best_score = key, score
    if best_key is None:
        raise ValueError(f"cannot choose a {what}: the targets have no labelled valence/arousal frame")
    return best_key


def choose_window(
    preds: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    windows: Sequence[int] = DEFAULT_WINDOWS,
) -> tuple[int, dict[int, float]]:
    """The moving-average window maximising mean VA CCC on validation videos.

    Each (N_i, 2) prediction is smoothed within its own video; the score is
    (CCC_V + CCC_A)/2 over the labelled frames of all videos concatenated. On a
    tie the earlier (by default the smaller) window wins.
    """
    preds = _check_videos(preds, targets)
    scores = {
        int(w): _score_smoothed([centered_moving_average(p, int(w)) for p in preds], targets) for w in windows
    }
    return _best(scores, "smoothing window"), scores


def default_causal_candidates() -> list[CausalConfig]:
    """EMA alphas from heavy to no smoothing, and One-Euro with a few cutoffs and speed gains."""
    emas: list[CausalConfig] = [EMAConfig(a) for a in (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)]
    euros: list[CausalConfig] = [
        OneEuroConfig(min_cutoff=c, beta=b) for c in (0.1, 0.3, 1.0, 3.0) for b in (0.0, 0.5, 5.0)
    ]
    return emas + euros


def choose_causal(
    preds: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    fps: float,
    candidates: Sequence[CausalConfig] | None = None,
) -> tuple[CausalConfig, dict[str, Any]]:
    """The causal filter maximising mean VA CCC on validation videos (cf. choose_window).

    Returns the best config and ``{"best": json, "scores": [{"label", "config",
    "score"}, ...]}`` (a NaN score is written as None). Ties go to the earlier
    candidate.
    """
    preds = _check_videos(preds, targets)
    candidates = default_causal_candidates() if candidates is None else list(candidates)
    if not candidates:
        raise ValueError("choose_causal: no candidate filters")
    scores = {
        i: _score_smoothed([apply_causal(cfg, p, fps) for p in preds], targets) for i, cfg in enumerate(candidates)
    }
    best = candidates[_best(scores, "causal filter")]
    table = [
        {
            "label": causal_config_label(cfg),
            "config": causal_config_to_json(cfg),
            "score": None if math.isnan(scores[i]) else float(scores[i]),
        }
        for i, cfg in enumerate(candidates)
    ]
    return best, {"best": causal_config_to_json(best), "scores": table}
