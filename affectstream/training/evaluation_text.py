"""How `evaluate` prints its figures: a table of scores, n/a where a task has no labelled frame."""

from __future__ import annotations

import numpy as np

from affectstream.core.labels import ACTION_UNITS
from affectstream.training.evaluation import Ensemble
from affectstream.training.metrics import MTLMetrics


def score(value: float | None, digits: int = 4) -> str:
    """A figure, or n/a where the task has no labelled frame (NaN, or None in JSON form)."""
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def format_table(rows: list[tuple[str, float]]) -> str:
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"  {name:<{width}}  {score(value):>7}" for name, value in rows)


def metrics_lines(ensemble: Ensemble, metrics: MTLMetrics, metrics_raw: MTLMetrics) -> list[str]:
    """The scores table, the smoothing window, per-AU F1 and the AU thresholds."""
    return [
        format_table([
            ("P_MTL (smoothed VA)", metrics.p_mtl),
            ("P_MTL (raw VA)", metrics_raw.p_mtl),
            ("CCC valence", metrics.ccc_valence),
            ("CCC arousal", metrics.ccc_arousal),
            ("expression macro-F1", metrics.expr_f1),
            ("mean AU F1", metrics.au_f1_mean),
        ]),
        f"  centred smoothing window: {ensemble.offline_window}",
        "  per-AU F1: " + "  ".join(f"{n} {score(f, 3)}" for n, f in zip(ACTION_UNITS, metrics.au_f1_per_au)),
        "  AU thresholds: " + "  ".join(f"{n} {t:.2f}" for n, t in zip(ACTION_UNITS, ensemble.au_thresholds)),
    ]


def expression_line(scores: dict) -> str:
    return (f"  expression on labelled classes: accuracy {score(scores['accuracy'])}, "
            f"macro-F1 {score(scores['macro_f1_labelled_classes'])}")


def baseline_line(backbone: str, baseline: dict) -> str:
    return (f"  {backbone} alone (argmax of its probabilities, {baseline['frames']} frames): "
            f"accuracy {score(baseline['accuracy'])}, macro-F1 {score(baseline['macro_f1_labelled_classes'])}, "
            f"8-class macro-F1 {score(baseline['expr_f1'])}")
