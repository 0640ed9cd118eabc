"""A linear AU readout: per-AU logistic regressions on what the model reads at each frame, then calibration.

The multi-task model's AU logits can come from one linear layer on the shared
encoder's output and the frame's own (normalised) features (``au_readout =
"linear"`` in the model config). That layer is fitted here on AU-labelled frames
with the encoder fixed: each AU's column is an L2-regularised logistic regression
(standardised inputs, inverse strength ``c`` as in scikit-learn, positives and
negatives weighted to equal totals), solved for all 12 AUs at once with L-BFGS.
A calibration (temperature or Platt scaling per AU) maps the logits to
probabilities that mean what they say; both are affine in the logit, so the
standardisation, the regression and the calibration fold into the one layer the
checkpoint ships.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

CALIBRATIONS: tuple[str, ...] = ("none", "temperature", "platt", "platt-bounded")
ECE_BINS = 10
# Decision thresholds on the calibrated scale: an AU is called on only where it is at least 20% likely, and
# always where it is 80% likely, so that a shown probability and the on/off call never contradict each other
# by much (an F1-best threshold of 0.05 for a rare AU would call "on" what the model says is 95% off).
CALIBRATED_THRESHOLDS = np.round(np.arange(0.2, 0.8001, 0.05), 2)
# "platt-bounded": Platt scaling whose offset is held where the logit-0 point of a class-balanced readout (its
# undecided point) maps into the threshold range, so that decision can be kept on the calibrated scale.
BOUNDED_SHIFT = float(np.log(CALIBRATED_THRESHOLDS[-1] / (1 - CALIBRATED_THRESHOLDS[-1])))


@dataclass(frozen=True)
class ReadoutOptions:
    c: float = 0.1  # inverse L2 strength per frame, as scikit-learn's C
    balanced: bool = True  # weight each AU's positives and negatives to equal totals
    max_iter: int = 200

    def __post_init__(self) -> None:
        if not (np.isfinite(self.c) and self.c > 0):
            raise ValueError(f"readout C must be > 0, got {self.c}")


@dataclass(frozen=True)
class Readout:
    """Per-AU logits = inputs @ weight.T + bias, on raw (not standardised) inputs."""

    weight: np.ndarray  # (12, D)
    bias: np.ndarray  # (12,)

    def logits(self, inputs: np.ndarray) -> np.ndarray:
        return inputs.astype(np.float32) @ self.weight.T.astype(np.float32) + self.bias.astype(np.float32)

    def calibrated(self, calibration: "Calibration") -> "Readout":
        """The same layer with the calibration folded in: a * (w x + b) + c."""
        return Readout(self.weight * calibration.scale[:, None], self.bias * calibration.scale + calibration.shift)


@dataclass(frozen=True)
class Calibration:
    """Per AU, probability = sigmoid(scale * logit + shift)."""

    method: str
    scale: np.ndarray  # (12,)
    shift: np.ndarray  # (12,)

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        return 0.5 * (1.0 + np.tanh(0.5 * (logits * self.scale + self.shift)))  # a sigmoid that cannot overflow

    def to_json(self) -> dict:
        return {"method": self.method, "scale": self.scale.tolist(), "shift": self.shift.tolist()}


def fit_readout(inputs: np.ndarray, labels: np.ndarray, options: ReadoutOptions = ReadoutOptions()) -> Readout:
    """Per-AU logistic regressions on (N, D) ``inputs`` and (N, 12) labels (1 on, 0 off, < 0 missing)."""
    x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
    mean = x.mean(dim=0)
    std = x.std(dim=0).clamp_min(1e-6)
    z = (x - mean) / std
    y = torch.from_numpy((labels > 0).astype(np.float32))
    known = torch.from_numpy(labels >= 0)
    weights = _sample_weights(labels, options.balanced)
    count = known.sum(dim=0).clamp_min(1).float()
    w = torch.zeros((labels.shape[1], z.shape[1]), requires_grad=True)
    b = torch.zeros(labels.shape[1], requires_grad=True)
    optimizer = torch.optim.LBFGS([w, b], lr=1.0, max_iter=options.max_iter, line_search_fn="strong_wolfe",
                                  tolerance_grad=1e-6, tolerance_change=1e-9)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        logits = z @ w.T + b
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")
        # scikit-learn's objective divided by C * n: mean weighted loss + ||w||^2 / (2 C n), per AU.
        per_au = (loss * weights).sum(dim=0) / count + (w * w).sum(dim=1) / (2 * options.c * count)
        total = per_au.sum()
        total.backward()
        return total

    optimizer.step(closure)
    with torch.no_grad():
        weight = (w / std).numpy().astype(np.float64)
        bias = (b - (w * (mean / std)).sum(dim=1)).numpy().astype(np.float64)
    return Readout(weight, bias)


def _sample_weights(labels: np.ndarray, balanced: bool) -> torch.Tensor:
    """(N, 12) per frame and AU: 0 where missing; balanced: n / (2 n_class) as scikit-learn's 'balanced'."""
    known = labels >= 0
    if not balanced:
        return torch.from_numpy(known.astype(np.float32))
    pos = ((labels > 0) & known).sum(axis=0)
    neg = ((labels == 0) & known).sum(axis=0)
    n = known.sum(axis=0)
    w_pos = np.where(pos > 0, n / (2.0 * np.maximum(pos, 1)), 0.0)
    w_neg = np.where(neg > 0, n / (2.0 * np.maximum(neg, 1)), 0.0)
    weights = np.where(labels > 0, w_pos, w_neg) * known
    return torch.from_numpy(weights.astype(np.float32))


def fit_calibration(logits: np.ndarray, labels: np.ndarray, method: str) -> Calibration:
    """Per AU, the scale (and for Platt the shift) that minimises the log loss of held-out ``logits``;
    "platt-bounded": Platt where its shift is within +-BOUNDED_SHIFT, else the shift at that bound and the best
    scale for it."""
    if method not in CALIBRATIONS:
        raise ValueError(f"unknown calibration {method!r}; choose from {', '.join(CALIBRATIONS)}")
    aus = labels.shape[1]
    if method == "none":
        return Calibration(method, np.ones(aus), np.zeros(aus))
    if method == "temperature":
        return Calibration(method, *_fit_affine(logits, labels, np.zeros(aus), fit_shift=False))
    scale, shift = _fit_affine(logits, labels, np.zeros(aus), fit_shift=True)
    if method == "platt":
        return Calibration(method, scale, shift)
    bounded = np.clip(shift, -BOUNDED_SHIFT, BOUNDED_SHIFT)
    refit, _ = _fit_affine(logits, labels, bounded, fit_shift=False)
    return Calibration(method, np.where(bounded == shift, scale, refit), bounded)


def _fit_affine(logits: np.ndarray, labels: np.ndarray, shift: np.ndarray, fit_shift: bool
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per AU (scale, shift) minimising the mean log loss of sigmoid(scale * logit + shift) over the labelled
    frames; the shift stays as given unless ``fit_shift``."""
    z = torch.from_numpy(np.ascontiguousarray(logits, dtype=np.float64))
    y = torch.from_numpy((labels > 0).astype(np.float64))
    known = torch.from_numpy((labels >= 0).astype(np.float64))
    log_scale = torch.zeros(labels.shape[1], dtype=torch.float64, requires_grad=True)
    offset = torch.tensor(np.asarray(shift, dtype=np.float64), requires_grad=fit_shift)
    optimizer = torch.optim.LBFGS([log_scale, offset] if fit_shift else [log_scale], lr=1.0, max_iter=200,
                                  line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z * log_scale.exp() + offset, y, reduction="none")
        total = ((loss * known).sum(dim=0) / known.sum(dim=0).clamp_min(1)).sum()
        total.backward()
        return total

    optimizer.step(closure)
    return log_scale.detach().exp().numpy(), offset.detach().numpy()


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> np.ndarray:
    """(12,) per AU over its labelled frames: sum over equal-width bins of |mean label - mean probability|
    weighted by the bin's share of frames; NaN for an AU with no labelled frame."""
    out = np.full(labels.shape[1], np.nan)
    for j in range(labels.shape[1]):
        known = labels[:, j] >= 0
        if not known.any():
            continue
        p, y = probs[known, j], (labels[known, j] > 0).astype(np.float64)
        which = np.minimum((p * bins).astype(int), bins - 1)
        total = 0.0
        for k in range(bins):
            inside = which == k
            if inside.any():
                total += inside.mean() * abs(y[inside].mean() - p[inside].mean())
        out[j] = total
    return out


def reliability_table(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> dict[str, np.ndarray]:
    """Pooled over AUs and their labelled frames: per bin the frames, mean probability and share that are on."""
    known = labels >= 0
    p, y = probs[known], (labels[known] > 0).astype(np.float64)
    which = np.minimum((p * bins).astype(int), bins - 1)
    frames = np.bincount(which, minlength=bins)
    mean_p = np.bincount(which, weights=p, minlength=bins) / np.maximum(frames, 1)
    share_on = np.bincount(which, weights=y, minlength=bins) / np.maximum(frames, 1)
    return {"frames": frames, "mean_probability": np.where(frames > 0, mean_p, np.nan),
            "share_on": np.where(frames > 0, share_on, np.nan)}
