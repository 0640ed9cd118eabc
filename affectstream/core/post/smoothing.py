"""Smoothing of valence/arousal predictions at run time.

Offline (whole video known): a centred moving average whose window was chosen
on validation, as in the ABAW4 system. Live (frame by frame): a causal filter,
exponential moving average or One-Euro (Casiez et al. 2012), built from the
settings stored with the model (affectstream.core.filter_config). Choosing them on
validation data is training's job (affectstream.training.filter_choice).
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
from scipy.signal import lfilter

from affectstream.core.filter_config import CausalConfig, EMAConfig, OneEuroConfig


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
