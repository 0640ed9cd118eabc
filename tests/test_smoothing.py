import json
import math

import numpy as np
import pytest

from affectstream.core.errors import UserInputError
from affectstream.core.filter_config import EMAConfig, OneEuroConfig, SmoothingConfigError, causal_config_from_json, causal_config_to_json
from affectstream.core.post.smoothing import EMAFilter, OneEuroFilter, apply_causal, centered_moving_average, make_causal_filter
from affectstream.training.filter_choice import choose_causal, choose_window


# -- moving average -----------------------------------------------------------------
def test_moving_average_known_values_with_truncated_edges():
    x = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
    # window 3: [mean(1,2), mean(1,2,3), mean(2,3,4), mean(3,4,10), mean(4,10)]
    np.testing.assert_allclose(centered_moving_average(x, 3), [1.5, 2.0, 3.0, 17 / 3, 7.0])
    # window 5: [mean(1,2,3), mean(1..4), mean(all), mean(2,3,4,10), mean(3,4,10)]
    np.testing.assert_allclose(centered_moving_average(x, 5), [2.0, 2.5, 4.0, 4.75, 17 / 3])
    # window wider than the video: each frame averages whatever lies within reach
    np.testing.assert_allclose(centered_moving_average(x, 11), np.full(5, 4.0))


def test_moving_average_identity_columns_and_errors():
    x = np.array([[1, 10], [2, 20], [6, 60]])
    out = centered_moving_average(x, 1)
    assert out.dtype == np.float64 and out.shape == (3, 2)
    np.testing.assert_array_equal(out, x)
    np.testing.assert_allclose(centered_moving_average(x, 3), [[1.5, 15], [3, 30], [4, 40]])
    assert centered_moving_average(np.zeros((0, 2)), 5).shape == (0, 2)
    for bad in (0, 2, 4, -1, 3.0):
        with pytest.raises(ValueError):
            centered_moving_average(x, bad)


def _smooth_videos(seed, noise, n_videos=3, n=400):
    rng = np.random.default_rng(seed)
    preds, targets = [], []
    for _ in range(n_videos):
        t = np.arange(n) / 25.0
        target = 0.6 * np.stack([np.sin(0.7 * t + rng.random()), np.cos(0.4 * t + rng.random())], axis=1)
        pred = target + rng.normal(0, noise, target.shape)
        target[rng.random(n) < 0.1] = -5.0  # unlabelled frames
        preds.append(pred)
        targets.append(target)
    return preds, targets


def test_choose_window_prefers_smoothing_on_noisy_predictions():
    preds, targets = _smooth_videos(0, noise=0.3)
    best, scores = choose_window(preds, targets, windows=(1, 5, 11, 21))
    assert best > 1
    assert scores[best] > scores[1] + 0.05
    assert set(scores) == {1, 5, 11, 21}


def test_choose_window_keeps_exact_predictions():
    preds, targets = _smooth_videos(1, noise=0.0)
    best, scores = choose_window(preds, targets, windows=(1, 3, 9))
    assert best == 1 and scores[1] == pytest.approx(1.0)
    assert scores[9] < scores[3] < 1.0


def test_choose_window_without_labels_fails():
    with pytest.raises(ValueError, match="no labelled"):
        choose_window([np.zeros((5, 2))], [np.full((5, 2), -5.0)], windows=(1, 3))


# -- causal filters -----------------------------------------------------------------
def test_ema_step_response():
    alpha = 0.3
    filt = EMAFilter(EMAConfig(alpha))
    assert filt.step(np.zeros(2), 0.0).tolist() == [0.0, 0.0]  # first step returns x
    for k in range(1, 6):
        y = filt.step(np.ones(2), k / 30)
        np.testing.assert_allclose(y, 1 - (1 - alpha) ** k)
    filt.reset()
    assert filt.step(np.full(2, 7.0), 0.0).tolist() == [7.0, 7.0]
    # the vectorised sequence path agrees with the step-by-step filter
    x = np.concatenate([np.zeros((1, 2)), np.ones((5, 2))])
    expected = [0.0] + [1 - 0.7**k for k in range(1, 6)]
    np.testing.assert_allclose(apply_causal(EMAConfig(alpha), x, fps=30)[:, 0], expected)


def test_one_euro_first_step_and_fixed_cutoff_by_hand():
    filt = OneEuroFilter(OneEuroConfig(min_cutoff=1.0, beta=0.0))
    assert filt.step(np.array([0.0]), 0.0).tolist() == [0.0]
    # beta = 0: a low-pass at 1 Hz; dt = 0.1 s, tau = 1/(2 pi) -> alpha = 1/(1 + tau/dt)
    alpha = 1 / (1 + (1 / (2 * math.pi)) / 0.1)  # = 0.38586...
    assert filt.step(np.array([1.0]), 0.1)[0] == pytest.approx(alpha)
    assert alpha == pytest.approx(0.385869, abs=1e-6)
    with pytest.raises(ValueError):
        filt.step(np.array([1.0]), 0.1)  # time must advance


def test_one_euro_keeps_constants_and_any_shape():
    x = np.full((20, 2, 3), 0.4)
    np.testing.assert_allclose(apply_causal(OneEuroConfig(0.5, 1.0), x, fps=25), x)


def test_one_euro_lag_shrinks_as_beta_grows_on_a_ramp():
    fps = 30.0
    ramp = np.arange(300)[:, None] / fps * np.array([[0.5, -0.5]])  # 0.5 units / s
    lags = []
    for beta in (0.0, 0.5, 5.0, 50.0):
        out = apply_causal(OneEuroConfig(min_cutoff=0.5, beta=beta), ramp, fps)
        lags.append(abs(ramp[-1, 0] - out[-1, 0]))
    assert all(a > b for a, b in zip(lags, lags[1:])), lags
    # with beta = 0 the steady-state lag of a first-order low-pass is slope * tau
    assert lags[0] == pytest.approx(0.5 / (2 * math.pi * 0.5), rel=0.05)


def test_causal_config_json_round_trip_and_errors():
    for cfg in (EMAConfig(0.25), OneEuroConfig(min_cutoff=0.3, beta=2.0, d_cutoff=1.5)):
        data = json.loads(json.dumps(causal_config_to_json(cfg)))
        assert causal_config_from_json(data) == cfg
        assert type(make_causal_filter(cfg)) in (EMAFilter, OneEuroFilter)
    assert causal_config_to_json(EMAConfig(0.25)) == {"kind": "ema", "alpha": 0.25}
    for bad in ({"kind": "kalman"}, {"alpha": 0.3}, {"kind": "ema", "alpha": 2.0}, {"kind": "ema", "gain": 1}):
        with pytest.raises(SmoothingConfigError):
            causal_config_from_json(bad)
    assert issubclass(SmoothingConfigError, UserInputError)


def test_choose_causal_smooths_noise_and_keeps_exact_predictions():
    preds, targets = _smooth_videos(2, noise=0.3, n_videos=2, n=300)
    candidates = [EMAConfig(1.0), EMAConfig(0.2), OneEuroConfig(1.0, 0.0)]
    best, table = choose_causal(preds, targets, fps=25, candidates=candidates)
    assert best != EMAConfig(1.0)
    scores = [row["score"] for row in table["scores"]]
    assert scores[0] < max(scores)
    json.dumps(table, allow_nan=False)

    exact, exact_targets = _smooth_videos(3, noise=0.0, n_videos=2, n=300)
    best, table = choose_causal(exact, exact_targets, fps=25, candidates=candidates)
    assert best == EMAConfig(1.0) and table["best"] == {"kind": "ema", "alpha": 1.0}
