"""Choosing the valence/arousal filters, the live (causal) one and the offline (centred) window, by one of two
rules; the choice is stored with the model (affectstream.core.filter_config) and run by
affectstream.core.post.smoothing.

**ccc** (``choose_window``, ``choose_causal``): each candidate is scored by mean valence/arousal CCC over the
validation videos, and the best is kept.

**lag** (``choose_filters``, the default): the strongest filter whose step-response lag stays in bound.
Choosing by validation CCC alone fails on pseudo-videos made of held stills: a held still rewards no
smoothing, so the "smoothed" curve equals the raw one. This rule does not depend on how the labels were
laid out:

* **lag** of a filter: after a step in valence, the time until the filtered
  signal has covered 90% of the step and stays there; the worse of a step of 0.5
  (a neutral face breaking into a smile moves valence by about that much) and
  one of 0.2 (adaptive filters such as One-Euro follow small steps more slowly).
  Computed on synthetic steps at the model's frame rate: exact for the filter.
* **jitter** of a series: the root mean square of its frame-to-frame changes,
  over every video given (real videos when available, else validation).
  A filter's strength is the share of jitter it removes.

The causal (live) filter is the candidate removing the most jitter among those
whose lag is at most ``max_lag_ms``; the centred (offline) window likewise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from affectstream.core.errors import UserInputError
from affectstream.core.filter_config import (
    CausalConfig,
    EMAConfig,
    OneEuroConfig,
    causal_config_label,
    causal_config_to_json,
)
from affectstream.core.post.smoothing import apply_causal, centered_moving_average
from affectstream.training.metrics import mean_va_ccc


# -- the candidates -------------------------------------------------------------------------------------------
DEFAULT_WINDOWS: tuple[int, ...] = tuple(range(1, 52, 2))


def default_causal_candidates() -> list[CausalConfig]:
    """EMA alphas from heavy to no smoothing, and One-Euro with a few cutoffs and speed gains."""
    emas: list[CausalConfig] = [EMAConfig(a) for a in (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)]
    euros: list[CausalConfig] = [
        OneEuroConfig(min_cutoff=c, beta=b) for c in (0.1, 0.3, 1.0, 3.0) for b in (0.0, 0.5, 5.0)
    ]
    return emas + euros


# -- rule ccc: the best validation CCC ----------------------------------------------------------------------------
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


# -- rule lag: the most jitter removed within a lag bound -----------------------------------------------------
STEPS = (0.2, 0.5)
SETTLED = 0.9  # share of the step covered
DEFAULT_MAX_LAG_MS = 150.0


def _lag_ms(filtered: Callable[[np.ndarray], np.ndarray], fps: float) -> float:
    """The worst, over ``STEPS``, time from a step until the output is within 10% of it for good."""
    onset = int(math.ceil(2 * fps))  # two seconds at rest, then four at the new level
    worst = 0
    for height in STEPS:
        x = np.zeros((onset + int(math.ceil(4 * fps)), 2))
        x[onset:] = height
        outside = np.abs(filtered(x)[onset:, 0] - height) > (1.0 - SETTLED) * height + 1e-12
        after = np.flatnonzero(outside)
        worst = max(worst, 0 if after.size == 0 else int(after[-1]) + 1)
    return 1000.0 * worst / fps


def causal_lag_ms(config: CausalConfig, fps: float) -> float:
    return _lag_ms(lambda x: apply_causal(config, x, fps), fps)


def window_lag_ms(window: int, fps: float) -> float:
    return _lag_ms(lambda x: centered_moving_average(x, window), fps)


def jitter(series: Sequence[np.ndarray]) -> float:
    """RMS frame-to-frame change of (N, 2) series, pooled over videos and both dimensions."""
    diffs = [np.diff(np.asarray(s, dtype=np.float64), axis=0) for s in series if len(s) > 1]
    if not diffs:
        raise UserInputError("no series of two or more frames to measure jitter on")
    return float(np.sqrt(np.mean(np.concatenate(diffs) ** 2)))


@dataclass(frozen=True)
class FilterChoice:
    """The chosen filters, the rule's bound, and every candidate's lag and jitter removed."""

    causal: CausalConfig
    window: int
    max_lag_ms: float
    fps: float
    raw_jitter: float
    measured_on: str
    candidates: tuple[dict[str, Any], ...]

    def row(self, label: str) -> dict[str, Any]:
        return next(c for c in self.candidates if c["label"] == label)

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": f"strongest filter (most jitter removed) whose lag to {SETTLED:.0%} of a step of "
                    f"{' or '.join(f'{h:g}' for h in STEPS)} is <= {self.max_lag_ms:g} ms",
            "measured_on": self.measured_on, "fps": self.fps, "raw_jitter": self.raw_jitter,
            "causal": causal_config_to_json(self.causal), "window": self.window,
            "candidates": list(self.candidates),
        }

    def report(self) -> str:
        causal, window = self.row(causal_config_label(self.causal)), self.row(f"centred({self.window})")
        return (f"VA filters (rule: most jitter removed with lag <= {self.max_lag_ms:g} ms; jitter measured on "
                f"{self.measured_on}, raw {self.raw_jitter:.4f} per frame):\n"
                f"  live    {causal['label']}: lag {causal['lag_ms']:.0f} ms, removes {causal['jitter_removed']:.0%} "
                "of the frame-to-frame jitter\n"
                f"  offline {window['label']}: lag {window['lag_ms']:.0f} ms, removes {window['jitter_removed']:.0%}")


def choose_filters(series: Sequence[np.ndarray], fps: float, measured_on: str,
                   max_lag_ms: float = DEFAULT_MAX_LAG_MS,
                   candidates: Sequence[CausalConfig] | None = None,
                   windows: Sequence[int] = DEFAULT_WINDOWS) -> FilterChoice:
    """Apply the rule to raw VA ``series`` (one (N, 2) array per video)."""
    if not fps > 0 or not max_lag_ms >= 0:
        raise UserInputError(f"fps must be > 0 and the lag bound >= 0, got {fps} and {max_lag_ms}")
    series = [np.asarray(s, dtype=np.float64) for s in series]
    raw = jitter(series)
    rows: list[dict[str, Any]] = []
    best_causal: tuple[float, CausalConfig] | None = None
    for config in richer_candidates() if candidates is None else candidates:
        removed = 1.0 - jitter([apply_causal(config, s, fps) for s in series]) / raw if raw > 0 else 0.0
        lag = causal_lag_ms(config, fps)
        rows.append({"label": causal_config_label(config), "kind": "live", "lag_ms": lag, "jitter_removed": removed})
        if lag <= max_lag_ms and (best_causal is None or removed > best_causal[0]):
            best_causal = (removed, config)
    best_window: tuple[float, int] | None = None
    for window in windows:
        removed = 1.0 - jitter([centered_moving_average(s, int(window)) for s in series]) / raw if raw > 0 else 0.0
        lag = window_lag_ms(int(window), fps)
        rows.append({"label": f"centred({int(window)})", "kind": "offline", "lag_ms": lag, "jitter_removed": removed})
        if lag <= max_lag_ms and (best_window is None or removed > best_window[0]):
            best_window = (removed, int(window))
    if best_causal is None or best_window is None:
        raise UserInputError(f"no candidate filter keeps its lag within {max_lag_ms:g} ms")
    return FilterChoice(best_causal[1], best_window[1], float(max_lag_ms), float(fps), raw, measured_on, tuple(rows))


def richer_candidates() -> list[CausalConfig]:
    """The stored default candidates plus a denser One-Euro grid (cutoff at rest x speed gain)."""
    grid = [OneEuroConfig(min_cutoff=c, beta=b) for c in (0.1, 0.2, 0.5, 1.0, 2.0) for b in (1.0, 2.0, 10.0, 20.0)]
    return default_causal_candidates() + grid


def raw_va_on_videos(checkpoint: str, videos: Sequence[str]) -> list[np.ndarray]:
    """Unfiltered VA of every face track in the given videos, run through the live engine."""
    from affectstream.core.engine import AffectEngine
    from affectstream.core.sources.pacing import run_fast
    from affectstream.core.sources.readers import VideoFileSource

    series: list[np.ndarray] = []
    with AffectEngine.from_checkpoint(checkpoint) as engine:
        for video in videos:
            engine.reset()
            tracks: dict[int, list[tuple[float, float]]] = {}
            with VideoFileSource(video) as source:
                for result in run_fast(engine.process, source):
                    for face in result.faces:
                        tracks.setdefault(face.track_id, []).append((face.valence_raw, face.arousal_raw))
            series += [np.asarray(values) for values in tracks.values() if len(values) > 1]
    if not series:
        raise UserInputError(f"no face track of two or more frames in {', '.join(map(str, videos))}")
    return series
