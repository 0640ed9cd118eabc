"""ABAW multi-task metrics: VA concordance, expression macro-F1, AU F1 and P_MTL.

Inputs are numpy arrays; frames whose ground truth carries a missing-label code
(see affectstream.core.labels) are left out of the task they are missing for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from affectstream.core.labels import (
    ACTION_UNITS,
    EXPR_MISSING,
    EXPRESSIONS,
    NUM_AUS,
    NUM_EXPRESSIONS,
    au_any_labelled,
    au_labelled,
    expr_neutral,
    expr_valid,
    va_valid,
)

DEFAULT_AU_THRESHOLD = 0.5


def default_threshold_grid() -> np.ndarray:
    """0.05, 0.10, ..., 0.95 (rounded so that 0.5 is exactly 0.5)."""
    return np.round(np.arange(1, 20) * 0.05, 2)


# -- valence / arousal ------------------------------------------------------
def ccc(pred: np.ndarray, target: np.ndarray) -> float:
    """Concordance correlation coefficient with population (ddof=0) moments.

    ``2 cov / (var_p + var_t + (mean_p - mean_t)^2)``. When both series are
    constant the formula is 0/0 if they are equal: that is perfect agreement, so
    it is defined as 1.0; constant but different series give 0.0. Empty input
    gives NaN.
    """
    p = np.asarray(pred, dtype=np.float64).ravel()
    t = np.asarray(target, dtype=np.float64).ravel()
    if p.shape != t.shape:
        raise ValueError(f"ccc: pred has {p.size} values, target {t.size}")
    if p.size == 0:
        return math.nan
    # Tested on the raw values: the mean of a constant float array can carry
    # rounding error that would make var ~1e-34 instead of 0.
    if np.all(p == p[0]) and np.all(t == t[0]):
        return 1.0 if p[0] == t[0] else 0.0
    mp, mt = p.mean(), t.mean()
    dp, dt = p - mp, t - mt
    cov = float(np.mean(dp * dt))
    denom = float(np.mean(dp * dp) + np.mean(dt * dt) + (mp - mt) ** 2)
    return 2.0 * cov / denom


def va_ccc(pred: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """(CCC valence, CCC arousal) over frames whose valence and arousal are labelled.

    A frame counts when neither target is -5 (affectstream.core.labels.va_valid); NaN, NaN if
    no frame does.
    """
    pred, target = _check_pair(pred, target, 2, "va")
    mask = va_valid(target)
    if not mask.any():
        return math.nan, math.nan
    return ccc(pred[mask, 0], target[mask, 0]), ccc(pred[mask, 1], target[mask, 1])


def mean_va_ccc(pred: np.ndarray, target: np.ndarray) -> float:
    """(CCC_V + CCC_A) / 2 over labelled frames; NaN if none."""
    v, a = va_ccc(pred, target)
    return (v + a) / 2.0


# -- expressions --------------------------------------------------------------
def confusion_matrix(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(8, 8) int64 counts, rows = true class, columns = predicted; target -1 ignored."""
    pred = np.asarray(pred).ravel()
    target = np.asarray(target).ravel()
    if pred.shape != target.shape:
        raise ValueError(f"confusion_matrix: pred has {pred.size} values, target {target.size}")
    mask = expr_valid(target)
    p, t = pred[mask].astype(np.int64), target[mask].astype(np.int64)
    for name, values in (("pred", p), ("target", t)):
        if values.size and (values.min() < 0 or values.max() >= NUM_EXPRESSIONS):
            raise ValueError(f"confusion_matrix: {name} has a class outside 0..{NUM_EXPRESSIONS - 1}")
    flat = np.bincount(t * NUM_EXPRESSIONS + p, minlength=NUM_EXPRESSIONS**2)
    return flat.reshape(NUM_EXPRESSIONS, NUM_EXPRESSIONS)


def _f1_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """F1 = 2TP / (2TP + FP + FN), 0 where the denominator is 0 (zero_division=0)."""
    tp, fp, fn = (np.asarray(a, dtype=np.float64) for a in (tp, fp, fn))
    denom = 2 * tp + fp + fn
    return np.divide(2 * tp, denom, out=np.zeros_like(denom), where=denom > 0)


def expr_macro_f1(pred: np.ndarray, target: np.ndarray) -> float:
    """Macro-F1 over all 8 classes; frames with target -1 ignored; NaN if none labelled.

    Equals sklearn ``f1_score(average="macro", labels=range(8), zero_division=0)``:
    a class never true nor predicted contributes 0 to the mean.
    """
    if not np.any(np.asarray(target) != EXPR_MISSING):
        return math.nan
    cm = confusion_matrix(pred, target)
    tp = np.diag(cm)
    return float(_f1_from_counts(tp, cm.sum(axis=0) - tp, cm.sum(axis=1) - tp).mean())


def labelled_class_scores(cm: np.ndarray) -> dict[str, Any]:
    """Accuracy, per-class recall and macro-F1 over only the classes that have labelled frames.

    For data that lacks some ABAW classes (FER2013 has no Other), where the 8-class
    macro-F1 is capped below 1 by the absent classes.
    """
    cm = np.asarray(cm, dtype=np.float64)
    total = cm.sum()
    present = cm.sum(axis=1) > 0
    tp = np.diag(cm)
    f1 = _f1_from_counts(tp, cm.sum(axis=0) - tp, cm.sum(axis=1) - tp)
    recall = np.divide(tp, cm.sum(axis=1), out=np.full_like(tp, np.nan), where=present)
    return {
        "accuracy": json_float(tp.sum() / total) if total else None,
        "macro_f1_labelled_classes": json_float(f1[present].mean()) if present.any() else None,
        "recall": {name: json_float(r) for name, r, p in zip(EXPRESSIONS, recall, present) if p},
    }


# -- action units -------------------------------------------------------------
def _au_counts(on: np.ndarray, truth: np.ndarray, labelled: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TP, FP, FN summed over frames (axis 0), each AU over its own labelled frames; all boolean (N, 12)."""
    tp = np.sum(on & truth & labelled, axis=0)
    fp = np.sum(on & ~truth & labelled, axis=0)
    fn = np.sum(~on & truth & labelled, axis=0)
    return tp, fp, fn


def au_f1(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(12,) binary F1 per AU, each over the frames where that AU is labelled.

    zero_division=0 per AU; NaN for an AU with no labelled frame.
    """
    pred, target = _check_pair(pred, target, NUM_AUS, "au")
    labelled = au_labelled(target)
    f1 = _f1_from_counts(*_au_counts(pred > 0.5, target > 0.5, labelled))
    return np.where(labelled.any(axis=0), f1, np.nan)


def au_firing_rate(probs: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """(12,) the fraction of frames on which each AU is on (prob >= its threshold); NaN with no frame."""
    probs = _au_rows(probs, "au_firing_rate")
    if len(probs) == 0:
        return np.full(NUM_AUS, np.nan)
    return (probs >= np.asarray(thresholds, dtype=np.float64)).mean(axis=0)


def _au_rows(probs: np.ndarray, where: str) -> np.ndarray:
    """(N, 12) AU probabilities without the rows that hold a NaN (no prediction: neither on nor off)."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != NUM_AUS:
        raise ValueError(f"{where}: expected AU probabilities of shape (N, {NUM_AUS}), got {probs.shape}")
    return probs[~np.isnan(probs).any(axis=1)]


def tune_au_thresholds(
    probs: np.ndarray,
    target: np.ndarray,
    grid: np.ndarray | None = None,
    quiet: Sequence[np.ndarray] = (),
    max_quiet_rate: float | None = None,
) -> np.ndarray:
    """Per AU, the grid threshold (AU on when prob >= threshold) maximising its F1.

    Ties go to the smallest threshold, except where F1 is 0 at every threshold that competes: the model shows
    no skill at that AU, and the largest such threshold keeps it off as much as the grid allows. With no
    labelled frame an AU gets 0.5. Each AU is scored on the frames where it is labelled.
    ``quiet``: groups of frames (N_i, 12) on which AUs should stay off, such as faces that raters labelled
    neutral. With ``max_quiet_rate`` only thresholds at which the AU is on in at most that fraction of each
    group's frames compete; where no grid value manages that, those that fire least do; and among thresholds
    of equal F1 the one that fires least on the groups wins. A set of expressive peaks (CK+) never shows F1 a
    neutral face, so without this an AU may be tuned to fire on most of them.
    """
    probs, target = _check_pair(probs, target, NUM_AUS, "au")
    grid = default_threshold_grid() if grid is None else np.unique(np.asarray(grid, dtype=np.float64))
    if grid.size == 0:
        raise ValueError("tune_au_thresholds: empty threshold grid")
    labelled = au_labelled(target)
    truth = target > 0.5
    scores = np.stack([_f1_from_counts(*_au_counts(probs >= g, truth, labelled)) for g in grid])  # (G, 12), ascending
    groups = [q for q in (_au_rows(q, "tune_au_thresholds quiet") for q in quiet) if len(q)]
    tie_break = np.zeros_like(scores)  # lower wins among equal F1; then the smaller threshold
    if max_quiet_rate is not None and groups:
        # (G, 12): the worst group's firing rate at each grid threshold.
        rate = np.stack([np.max([(q >= g).mean(axis=0) for q in groups], axis=0) for g in grid])
        allowed = rate <= np.maximum(max_quiet_rate, rate.min(axis=0))
        scores = np.where(allowed, scores, -1.0)
        tie_break = rate
    best = scores.max(axis=0)
    tied = scores == best
    choice = np.argmin(np.where(tied, tie_break, np.inf), axis=0)
    largest_tied = len(grid) - 1 - np.argmax(tied[::-1], axis=0)
    return np.where(labelled.any(axis=0), grid[np.where(best > 0, choice, largest_tied)], DEFAULT_AU_THRESHOLD)


# -- the combined score ------------------------------------------------------
@dataclass
class MTLMetrics:
    """Per-task scores and P_MTL = (CCC_V + CCC_A)/2 + F1_expr + mean AU F1.

    A task with no labelled frame has NaN in its own fields and contributes 0
    to ``p_mtl`` (so P_MTL stays comparable-as-a-lower-bound, never NaN).
    """

    ccc_valence: float
    ccc_arousal: float
    expr_f1: float
    au_f1_per_au: np.ndarray
    au_f1_mean: float
    p_mtl: float
    confusion: np.ndarray
    counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types; NaN becomes None (strict JSON has no NaN)."""
        return {
            "ccc_valence": json_float(self.ccc_valence),
            "ccc_arousal": json_float(self.ccc_arousal),
            "expr_f1": json_float(self.expr_f1),
            "au_f1_per_au": {
                name: json_float(v) for name, v in zip(ACTION_UNITS, np.asarray(self.au_f1_per_au))
            },
            "au_f1_mean": json_float(self.au_f1_mean),
            "p_mtl": json_float(self.p_mtl),
            "confusion": np.asarray(self.confusion).astype(int).tolist(),
            "expr_labelled_classes": labelled_class_scores(self.confusion),
            "counts": {k: int(v) for k, v in self.counts.items()},
        }


def tune_au_thresholds_on_labels(au_probs: np.ndarray, au_true: np.ndarray, expr_true: np.ndarray,
                                 neutral_cap: float | None) -> np.ndarray:
    """``tune_au_thresholds`` on labelled frames, each AU capped (when ``neutral_cap`` is given) to be on for at
    most that share of the frames labelled Neutral."""
    return tune_au_thresholds(au_probs, au_true, quiet=[au_probs[expr_neutral(expr_true)]], max_quiet_rate=neutral_cap)


def mtl_metrics(
    va_pred: np.ndarray,
    expr_probs: np.ndarray,
    au_probs: np.ndarray,
    va_true: np.ndarray,
    expr_true: np.ndarray,
    au_true: np.ndarray,
    au_thresholds: np.ndarray | None = None,
) -> MTLMetrics:
    """All ABAW MTL metrics for one set of frames.

    Expression prediction = argmax of ``expr_probs`` (N, 8); an AU is on when its
    probability >= its threshold (0.5 by default).
    """
    va_pred, va_true = _check_pair(va_pred, va_true, 2, "va")
    expr_probs = np.asarray(expr_probs)
    au_probs, au_true = _check_pair(au_probs, au_true, NUM_AUS, "au")
    expr_true = np.asarray(expr_true).ravel()
    n = len(va_pred)
    if expr_probs.shape != (n, NUM_EXPRESSIONS) or expr_true.shape != (n,) or len(au_probs) != n:
        raise ValueError(
            f"mtl_metrics: inconsistent shapes va {va_pred.shape}, expr_probs {expr_probs.shape}, "
            f"expr_true {expr_true.shape}, au {au_probs.shape}"
        )
    thresholds = (
        np.full(NUM_AUS, DEFAULT_AU_THRESHOLD)
        if au_thresholds is None
        else np.asarray(au_thresholds, dtype=np.float64).reshape(NUM_AUS)
    )
    v, a = va_ccc(va_pred, va_true)
    f1_expr = expr_macro_f1(np.argmax(expr_probs, axis=1), expr_true)
    per_au = au_f1(au_probs >= thresholds, au_true)
    au_mean = float(np.nanmean(per_au)) if not np.all(np.isnan(per_au)) else math.nan
    p_mtl = p_mtl_score(v, a, f1_expr, au_mean)
    return MTLMetrics(
        ccc_valence=v,
        ccc_arousal=a,
        expr_f1=f1_expr,
        au_f1_per_au=per_au,
        au_f1_mean=au_mean,
        p_mtl=float(p_mtl),
        confusion=confusion_matrix(np.argmax(expr_probs, axis=1), expr_true),
        counts={
            "va": int(va_valid(va_true).sum()),
            "expr": int(expr_valid(expr_true).sum()),
            "au": int(au_any_labelled(au_true).sum()),
        },
    )


# -- helpers ---------------------------------------------------------------
def _check_pair(pred: np.ndarray, target: np.ndarray, width: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.ndim != 2 or pred.shape[1] != width or pred.shape != target.shape:
        raise ValueError(
            f"{what}: expected pred and target of shape (N, {width}), got {pred.shape} and {target.shape}"
        )
    return pred, target


def p_mtl_score(ccc_valence: float | None, ccc_arousal: float | None, expr_f1: float | None,
                au_f1_mean: float | None) -> float:
    """P_MTL = (CCC_V + CCC_A)/2 + F1_expr + mean AU F1; a part that is missing (NaN or None) counts 0."""
    nan = lambda x: math.nan if x is None else float(x)  # noqa: E731
    return _zero_if_nan((nan(ccc_valence) + nan(ccc_arousal)) / 2.0) + _zero_if_nan(nan(expr_f1)) \
        + _zero_if_nan(nan(au_f1_mean))


def _zero_if_nan(x: float) -> float:
    return 0.0 if math.isnan(x) else float(x)


def json_float(x: float) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x
