"""Smoothing of valence/arousal predictions.

Offline (whole video known): a centred moving average whose window is chosen
on validation, as in the ABAW4 system. Live (frame by frame): a causal filter,
exponential moving average or One-Euro (Casiez et al. 2012), whose parameters
are stored with the model as JSON.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Protocol, Sequence, Union

import numpy as np
from scipy.signal import lfilter

from affectstream.errors import UserInputError
from affectstream.metrics import mean_va_ccc

DEFAULT_WINDOWS: tuple[int, ...] = tuple(range(1, 52, 2))


class SmoothingConfigError(UserInputError):
    """A stored causal-filter configuration is malformed."""


# -- offline -----------------------------------------------------------------
def centered_moving_average(x: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average along axis 0 of an (N,) or (N, C) array.

    Output frame i is the mean of frames max(0, i-h) .. min(N-1, i+h), with
    h = (window-1)/2: near the edges the window is truncated to the frames that
    exist (it is not mirrored nor zero-padded), so it becomes one-sided there.
    ``window`` must be odd and >= 1; 1 returns a float copy.
    """
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1 or window % 2 == 0:
        raise ValueError(f"moving-average window must be an odd integer >= 1, got {window!r}")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim not in (1, 2):
        raise ValueError(f"moving average expects an (N,) or (N, C) array, got shape {x.shape}")
    n, half = x.shape[0], int(window) // 2
    if n == 0 or half == 0:
        return x.copy()
    # Prefix sums give every window sum in O(N); csum[k] = sum of x[:k].
    csum = np.concatenate([np.zeros((1,) + x.shape[1:]), np.cumsum(x, axis=0)], axis=0)
    index = np.arange(n)
    lo = np.maximum(index - half, 0)
    hi = np.minimum(index + half + 1, n)
    count = (hi - lo).astype(np.float64)
    if x.ndim == 2:
        count = count[:, None]
    return (csum[hi] - csum[lo]) / count


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


# -- live: configurations -------------------------------------------------------
@dataclass(frozen=True)
class EMAConfig:
    """Exponential moving average per frame: y_t = alpha x_t + (1 - alpha) y_{t-1}."""

    alpha: float = 0.3

    def __post_init__(self) -> None:
        if not (0.0 < self.alpha <= 1.0):
            raise ValueError(f"EMA alpha must be in (0, 1], got {self.alpha}")


@dataclass(frozen=True)
class OneEuroConfig:
    """One-Euro filter: cutoff (Hz) = min_cutoff + beta * |smoothed speed|."""

    min_cutoff: float = 1.0
    beta: float = 0.0
    d_cutoff: float = 1.0

    def __post_init__(self) -> None:
        if not (self.min_cutoff > 0 and self.d_cutoff > 0 and self.beta >= 0):
            raise ValueError(
                f"One-Euro needs min_cutoff > 0, d_cutoff > 0, beta >= 0; got {self.min_cutoff}, "
                f"{self.d_cutoff}, {self.beta}"
            )


CausalConfig = Union[EMAConfig, OneEuroConfig]

_KINDS: dict[str, type] = {"ema": EMAConfig, "one_euro": OneEuroConfig}


def causal_config_to_json(cfg: CausalConfig) -> dict[str, Any]:
    """``{"kind": "ema", "alpha": 0.3}`` or ``{"kind": "one_euro", ...}``."""
    for kind, cls in _KINDS.items():
        if type(cfg) is cls:
            return {"kind": kind, **{k: float(v) for k, v in asdict(cfg).items()}}
    raise TypeError(f"not a causal filter config: {cfg!r}")


def causal_config_from_json(data: Mapping[str, Any]) -> CausalConfig:
    """Inverse of causal_config_to_json; a malformed entry raises SmoothingConfigError."""
    if not isinstance(data, Mapping) or data.get("kind") not in _KINDS:
        raise SmoothingConfigError(f"causal filter config needs a kind in {sorted(_KINDS)}, got {data!r}")
    params = {k: v for k, v in data.items() if k != "kind"}
    try:
        cls = _KINDS[data["kind"]]
        return cls(**{k: float(v) for k, v in params.items()})
    except (TypeError, ValueError) as exc:
        raise SmoothingConfigError(f"invalid {data['kind']} filter config {dict(data)!r}: {exc}") from exc


def causal_config_label(cfg: CausalConfig) -> str:
    """A short readable name, e.g. ``ema(alpha=0.3)``."""
    d = causal_config_to_json(cfg)
    return f"{d.pop('kind')}(" + ", ".join(f"{k}={v:g}" for k, v in d.items()) + ")"


# -- live: filters ---------------------------------------------------------------
class CausalFilter(Protocol):
    def reset(self) -> None: ...

    def step(self, x: np.ndarray, t: float) -> np.ndarray: ...


class EMAFilter:
    """Per-frame EMA; ``t`` is accepted for the common interface but not used."""

    def __init__(self, cfg: EMAConfig) -> None:
        self.cfg = cfg
        self._y: np.ndarray | None = None

    def reset(self) -> None:
        self._y = None

    def step(self, x: np.ndarray, t: float) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self._y is None:
            self._y = x.copy()
        else:
            self._y = self.cfg.alpha * x + (1.0 - self.cfg.alpha) * self._y
        return self._y.copy()


def _one_euro_alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    """Smoothing factor of a first-order low-pass with the given cutoff (Hz) and step dt (s)."""
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """One-Euro filter, element-wise on arrays of any shape; ``t`` in seconds.

    The cutoff rises with the (low-passed) speed of the signal, so slow drifts are
    smoothed hard while fast moves are followed with little lag.
    """

    def __init__(self, cfg: OneEuroConfig) -> None:
        self.cfg = cfg
        self.reset()

    def reset(self) -> None:
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t = 0.0

    def step(self, x: np.ndarray, t: float) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self._x is None:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), float(t)
            return x.copy()
        dt = float(t) - self._t
        if not dt > 0:
            raise ValueError(f"One-Euro filter times must increase: got t={t} after t={self._t}")
        a_d = _one_euro_alpha(self.cfg.d_cutoff, dt)
        self._dx = a_d * (x - self._x) / dt + (1.0 - a_d) * self._dx
        cutoff = self.cfg.min_cutoff + self.cfg.beta * np.abs(self._dx)
        a = _one_euro_alpha(cutoff, dt)
        self._x = a * x + (1.0 - a) * self._x
        self._t = float(t)
        return self._x.copy()


def make_causal_filter(cfg: CausalConfig) -> CausalFilter:
    if isinstance(cfg, EMAConfig):
        return EMAFilter(cfg)
    if isinstance(cfg, OneEuroConfig):
        return OneEuroFilter(cfg)
    raise TypeError(f"not a causal filter config: {cfg!r}")


def apply_causal(cfg: CausalConfig, x: np.ndarray, fps: float) -> np.ndarray:
    """Run a fresh filter over a sequence (N, ...); frame i is at time i / fps."""
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    x = np.asarray(x, dtype=np.float64)
    if isinstance(cfg, EMAConfig) and len(x) > 0:
        # Same recursion as EMAFilter, vectorised: the initial state makes y_0 = x_0.
        a = cfg.alpha
        zi = ((1.0 - a) * x[0])[None, ...]
        y, _ = lfilter([a], [1.0, -(1.0 - a)], x, axis=0, zi=zi)
        return y
    filt = make_causal_filter(cfg)
    out = np.empty_like(x)
    for i in range(len(x)):
        out[i] = filt.step(x[i], i / fps)
    return out


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
