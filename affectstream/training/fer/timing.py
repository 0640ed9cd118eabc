"""Per-face latency: one face per call, as in the live loop, median over repeats."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Latency:
    median_ms: float
    p90_ms: float
    calls: int


def time_per_face(classify_one: Callable[[np.ndarray], object], faces: np.ndarray, warmup: int = 20,
                  calls: int = 300) -> Latency:
    """Time ``classify_one(face)`` on faces taken in turn (warm-up calls are not counted)."""
    n = len(faces)
    for k in range(warmup):
        classify_one(faces[k % n])
    times = np.empty(calls)
    for k in range(calls):
        t0 = time.perf_counter()
        classify_one(faces[k % n])
        times[k] = time.perf_counter() - t0
    return Latency(float(np.median(times) * 1e3), float(np.percentile(times, 90) * 1e3), calls)
