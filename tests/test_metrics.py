import json
import math

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix as sk_confusion
from sklearn.metrics import f1_score

from affectstream.core.labels import ACTION_UNITS
from affectstream.training.metrics import (
    au_f1,
    au_firing_rate,
    ccc,
    confusion_matrix,
    expr_macro_f1,
    mtl_metrics,
    default_threshold_grid,
    tune_au_thresholds,
    va_ccc,
)


# -- CCC ------------------------------------------------------------------------
def test_ccc_hand_computed_scaled_series():
    # p = [1,2,3], t = [2,4,6]: mean_p = 2, mean_t = 4, var_p = 2/3, var_t = 8/3,
    # cov = (1*2 + 0 + 1*2)/3 = 4/3; CCC = 2*(4/3) / (2/3 + 8/3 + (2-4)^2) = (8/3)/(22/3) = 4/11
    assert ccc(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.0])) == pytest.approx(4 / 11)


def test_ccc_hand_computed_anticorrelated():
    # p = [0,1], t = [1,0]: means 0.5, var 0.25 each, cov = -0.25 -> -0.5 / 0.5 = -1
    assert ccc(np.array([0.0, 1.0]), np.array([1.0, 0.0])) == pytest.approx(-1.0)


def test_ccc_perfect_and_offset():
    t = np.array([0.1, -0.3, 0.5, 0.2])
    assert ccc(t, t) == pytest.approx(1.0)
    # p = t + 1: cov = var, denominator = 2 var + 1. mean_t = 0.5/4 = 0.125, deviations
    # -0.025, -0.425, 0.375, 0.075 -> squares sum 0.3275, var 0.081875 -> 0.16375 / 1.16375
    assert ccc(t + 1.0, t) == pytest.approx(0.16375 / 1.16375)


def test_ccc_constant_series():
    assert ccc(np.full(3, 0.1), np.full(3, 0.1)) == 1.0  # 0/0 defined as perfect agreement
    assert ccc(np.full(3, 0.1), np.full(3, 0.2)) == 0.0
    assert ccc(np.ones(3), np.array([0.0, 1.0, 2.0])) == 0.0  # cov = 0, denominator > 0
    assert math.isnan(ccc(np.array([]), np.array([])))


def test_va_ccc_ignores_missing_frames():
    pred = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [9.0, -9.0]])
    target = np.array([[0.0, 0.0], [1.0, 1.0], [0.5, 0.5], [-5.0, -5.0]])
    v, a = va_ccc(pred, target)
    assert v == pytest.approx(1.0)
    assert a == pytest.approx(ccc(pred[:3, 1], target[:3, 1]))
    # arousal by hand: p = [1,0,.5], t = [0,1,.5]: cov = -1/6, vars 1/6 each -> -1
    assert a == pytest.approx(-1.0)
    assert all(math.isnan(x) for x in va_ccc(pred, np.full((4, 2), -5.0)))


# -- expressions ------------------------------------------------------------------
def test_expr_macro_f1_hand_computed():
    # class 0: TP 1, FN 1 -> 2/3; class 1: TP 1, FP 1 -> 2/3; classes 2..7 contribute 0
    # -> (2/3 + 2/3) / 8 = 1/6; the frame with target -1 is ignored
    assert expr_macro_f1(np.array([0, 1, 1, 5]), np.array([0, 1, 0, -1])) == pytest.approx(1 / 6)
    assert math.isnan(expr_macro_f1(np.array([1, 2]), np.array([-1, -1])))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_expr_f1_and_confusion_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    target = rng.integers(-1, 6, size=300)  # classes 6, 7 absent from the truth
    pred = rng.integers(0, 7, size=300)  # class 7 never predicted
    mask = target != -1
    expected = f1_score(target[mask], pred[mask], average="macro", labels=range(8), zero_division=0)
    assert expr_macro_f1(pred, target) == pytest.approx(expected)
    cm = confusion_matrix(pred, target)
    np.testing.assert_array_equal(cm, sk_confusion(target[mask], pred[mask], labels=range(8)))
    assert cm.sum() == mask.sum()


# -- action units -----------------------------------------------------------------
def test_au_f1_matches_sklearn_and_scores_each_au_on_its_own_labelled_frames():
    rng = np.random.default_rng(3)
    target = rng.integers(0, 2, size=(200, 12))
    target[rng.random(200) < 0.2, 4] = -1  # AU7 unknown on some frames: they still count for the other AUs
    target[:, 9] = -1  # AU24 never labelled
    pred = rng.integers(0, 2, size=(200, 12))
    pred[:, 11] = 0  # never predicted -> F1 0 (zero_division=0)
    got = au_f1(pred, target)
    for j in range(12):
        if j == 9:
            continue
        known = target[:, j] != -1
        assert got[j] == pytest.approx(f1_score(target[known, j], pred[known, j], zero_division=0))
    assert np.isnan(got[9]) and got[11] == 0.0
    assert np.all(np.isnan(au_f1(pred, np.full((200, 12), -1))))
    # The mean of a partly labelled set is over the AUs that have labels.
    metrics = mtl_metrics(np.zeros((200, 2)), np.full((200, 8), 1 / 8), pred.astype(float), np.full((200, 2), -5.0),
                          np.full(200, -1), target, np.full(12, 0.5))
    assert metrics.au_f1_mean == pytest.approx(np.nanmean(got)) and metrics.counts["au"] == 200


def test_tune_au_thresholds_finds_planted_threshold():
    rng = np.random.default_rng(4)
    probs = rng.random((2000, 12))
    planted = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.25, 0.55, 0.85])
    target = (probs >= planted).astype(int)
    target[:50] = -1  # unlabelled frames must not matter
    probs[:50] = 1 - probs[:50]
    np.testing.assert_allclose(tune_au_thresholds(probs, target), planted)
    np.testing.assert_array_equal(tune_au_thresholds(probs, np.full((2000, 12), -1)), np.full(12, 0.5))
    # An AU unknown on some frames is tuned on the rest, the others on every frame; an AU never labelled: 0.5.
    partly = target.copy()
    partly[100:1000, 3] = -1
    partly[:, 7] = -1
    want = planted.copy()
    want[7] = 0.5
    np.testing.assert_allclose(tune_au_thresholds(probs, partly), want)


def test_a_neutral_cap_keeps_aus_quiet_on_each_group_of_neutral_frames():
    # Labelled frames: every AU's positives at 0.3, negatives at 0.1, so F1 is 1 from 0.15 to 0.3 (0.15 wins ties).
    target = np.repeat([[1] * 12, [0] * 12], 50, axis=0)
    probs = np.where(target == 1, 0.3, 0.1)
    # Group A: 200 neutral frames with everything at 0; group B: 10, AU1 at 0.25, AU2 at 0.5, AU3 at 0.99.
    group_a = np.zeros((200, 12))
    group_b = np.zeros((10, 12))
    group_b[:, 0], group_b[:, 1], group_b[:, 2] = 0.25, 0.5, 0.99
    uncapped = tune_au_thresholds(probs, target)
    np.testing.assert_allclose(uncapped, 0.15)
    capped = tune_au_thresholds(probs, target, quiet=[group_a, group_b], max_quiet_rate=0.2)
    # AU1: still F1 1 at 0.3, where B stays off. AU2: quiet only above 0.5, where F1 is 0: the largest.
    # AU3: nothing quiets B, so every threshold fires as little as any: the F1-best as before. Others: untouched.
    # Pooled, B's 10 frames would be under 5% of 210 and cap nothing (AU2 back at 0.15; AU1 at 0.3 only as the
    # F1-tie that fires least): each group counts on its own.
    np.testing.assert_allclose(capped, [0.3, 0.95] + [0.15] * 10)
    np.testing.assert_allclose(tune_au_thresholds(probs, target, quiet=[np.vstack([group_a, group_b])],
                                                  max_quiet_rate=0.2), [0.3] + [0.15] * 11)
    # No cap, or no neutral frames: plain F1.
    np.testing.assert_allclose(tune_au_thresholds(probs, target, quiet=[group_b]), uncapped)
    np.testing.assert_allclose(tune_au_thresholds(probs, target, quiet=[], max_quiet_rate=0.2), uncapped)
    np.testing.assert_allclose(au_firing_rate(group_b, capped)[:3], [0.0, 0.0, 1.0])
    assert np.isnan(au_firing_rate(np.zeros((0, 12)), capped)).all()
    # Rows without a prediction (NaN) are neither on nor off; a group of the wrong shape is an error, not reshaped.
    assert au_firing_rate(np.vstack([group_b, np.full((30, 12), np.nan)]), capped)[2] == 1.0
    with pytest.raises(ValueError, match=r"shape \(N, 12\)"):
        tune_au_thresholds(probs, target, quiet=[group_b.T], max_quiet_rate=0.2)


def test_tune_au_thresholds_keeps_an_au_without_skill_off_and_breaks_ties_by_neutral_firing():
    grid = default_threshold_grid()
    # AU1: every positive below every negative, so F1 is 0 at each threshold: the largest keeps it off.
    # Others: positives at 0.3, negatives at 0.1, so F1 is 1 from 0.15 to 0.3.
    target = np.repeat([[1] * 12, [0] * 12], 50, axis=0)
    probs = np.where(target == 1, 0.3, 0.1)
    probs[:, 0] = np.where(target[:, 0] == 1, 0.02, 0.6)
    plain = tune_au_thresholds(probs, target)
    np.testing.assert_allclose(plain, [grid[-1]] + [0.15] * 11)
    # A neutral group of 10 frames, one with AU2 at 0.2: it fires on 10% at 0.15 and 0.2, none above. Under a
    # 20% cap every F1-best threshold is allowed, and the one that fires least on the group wins (0.25).
    group = np.zeros((10, 12))
    group[0, 1] = 0.2
    capped = tune_au_thresholds(probs, target, quiet=[group], max_quiet_rate=0.2)
    np.testing.assert_allclose(capped, [grid[-1], 0.25] + [0.15] * 10)
    # No cap: the group does not break ties. A custom grid is taken in ascending order.
    np.testing.assert_allclose(tune_au_thresholds(probs, target, quiet=[group]), plain)
    np.testing.assert_allclose(tune_au_thresholds(probs, target, grid=[0.3, 0.2, 0.7]), [0.7] + [0.2] * 11)


# -- combined ---------------------------------------------------------------------
def _one_hot(classes, n=8):
    out = np.zeros((len(classes), n))
    out[np.arange(len(classes)), classes] = 1.0
    return out


def test_mtl_metrics_combines_tasks():
    rng = np.random.default_rng(5)
    n = 100
    va_true = rng.uniform(-1, 1, (n, 2))
    va_pred = va_true * 0.5 + rng.normal(0, 0.1, (n, 2))
    expr_true = rng.integers(-1, 8, n)
    expr_pred = np.where(rng.random(n) < 0.6, np.clip(expr_true, 0, 7), rng.integers(0, 8, n))
    au_true = rng.integers(0, 2, (n, 12))
    au_probs = np.clip(au_true * 0.6 + rng.random((n, 12)) * 0.5, 0, 1)
    m = mtl_metrics(va_pred, _one_hot(expr_pred), au_probs, va_true, expr_true, au_true)
    assert m.ccc_valence == pytest.approx(ccc(va_pred[:, 0], va_true[:, 0]))
    assert m.expr_f1 == pytest.approx(expr_macro_f1(expr_pred, expr_true))
    np.testing.assert_allclose(m.au_f1_per_au, au_f1(au_probs >= 0.5, au_true))
    assert m.au_f1_mean == pytest.approx(m.au_f1_per_au.mean())
    assert m.p_mtl == pytest.approx((m.ccc_valence + m.ccc_arousal) / 2 + m.expr_f1 + m.au_f1_mean)
    assert m.counts == {"va": n, "expr": int((expr_true != -1).sum()), "au": n}
    # tuned thresholds change the AU decision
    thr = np.full(12, 0.9)
    m2 = mtl_metrics(va_pred, _one_hot(expr_pred), au_probs, va_true, expr_true, au_true, thr)
    np.testing.assert_allclose(m2.au_f1_per_au, au_f1(au_probs >= 0.9, au_true))


def test_mtl_metrics_missing_task_counts_zero_and_json():
    n = 4
    va = np.array([[0.0, 0.0], [1.0, 1.0], [0.5, 0.0], [0.2, 0.3]])
    expr_true = np.array([0, 1, 2, 3])
    m = mtl_metrics(va, _one_hot(expr_true), np.zeros((n, 12)), va, expr_true, np.full((n, 12), -1))
    # VA perfect (1) + expression: classes 0..3 perfect, 4..7 zero -> 4/8; AU unlabelled -> 0
    assert m.p_mtl == pytest.approx(1.0 + 0.5)
    assert math.isnan(m.au_f1_mean) and m.counts["au"] == 0
    data = json.loads(json.dumps(m.to_json(), allow_nan=False))
    assert list(data["au_f1_per_au"]) == list(ACTION_UNITS)
    assert data["au_f1_mean"] is None and data["p_mtl"] == pytest.approx(1.5)
    assert data["confusion"][2][2] == 1 and len(data["confusion"]) == 8


def test_shape_errors():
    with pytest.raises(ValueError):
        va_ccc(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError):
        confusion_matrix(np.array([8]), np.array([0]))


def test_labelled_class_scores_leave_out_classes_without_labels():
    from affectstream.training.metrics import labelled_class_scores

    rng = np.random.default_rng(3)
    target = rng.integers(0, 7, size=500)  # no "Other" (7), as in FER2013
    pred = np.where(rng.random(500) < 0.6, target, rng.integers(0, 8, size=500))
    scores = labelled_class_scores(confusion_matrix(pred, target))
    assert scores["accuracy"] == pytest.approx(np.mean(pred == target))
    assert scores["macro_f1_labelled_classes"] == pytest.approx(
        f1_score(target, pred, labels=range(7), average="macro", zero_division=0))
    assert "Other" not in scores["recall"] and scores["recall"]["Neutral"] == pytest.approx(
        np.mean(pred[target == 0] == 0))
