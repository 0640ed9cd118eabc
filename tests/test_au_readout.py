"""The linear AU readout, its calibration and the cross-validated AU protocol, on data with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from affectstream.core.errors import UserInputError
from affectstream.core.temporal.config import ModelConfig, ModelConfigError, make_encoder_config
from affectstream.core.temporal.multitask import MultiTaskModel
from affectstream.training.au_cv import (ProtocolOptions, calibrated_recipe, run_protocol, subject_folds)
from affectstream.training.au_frames import AUFrames, ReadoutData
from affectstream.training.au_readout import (Calibration, ReadoutOptions, expected_calibration_error,
                                              fit_calibration, fit_readout)

AUS = 12


def _logistic_data(n: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs, the true per-AU weights, and labels drawn from a known logistic model (AU j rarer as j grows)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim)).astype(np.float32) * rng.uniform(0.5, 3, size=dim) + rng.normal(size=dim)
    w = rng.normal(size=(AUS, dim))
    z = ((x - x.mean(0)) / x.std(0)) @ w.T - np.linspace(0, 3, AUS)
    labels = (rng.random((n, AUS)) < 1 / (1 + np.exp(-z))).astype(np.int8)
    return x, w, labels


def test_the_readout_is_scikit_learns_balanced_logistic_regression_with_the_same_c():
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x, _, labels = _logistic_data(3000, 8, seed=0)
    labels[:100, 3] = -1  # missing labels take no part
    readout = fit_readout(x, labels, ReadoutOptions(c=0.1, balanced=True))
    mine = 1 / (1 + np.exp(-readout.logits(x)))
    scaled = StandardScaler().fit_transform(x)
    for j in range(AUS):
        known = labels[:, j] >= 0
        ref = LogisticRegression(C=0.1, class_weight="balanced", max_iter=5000, tol=1e-10).fit(
            scaled[known], labels[known, j])
        assert np.abs(mine[:, j] - ref.predict_proba(scaled)[:, 1]).max() < 2e-3, j


def test_platt_scaling_recovers_a_known_miscalibration_and_temperature_only_the_scale():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 4, size=(20000, AUS))
    truth = (rng.random(logits.shape) < 1 / (1 + np.exp(-(logits / 3 + 1)))).astype(np.int8)
    platt = fit_calibration(logits, truth, "platt")
    assert np.allclose(platt.scale, 1 / 3, atol=0.03) and np.allclose(platt.shift, 1, atol=0.1)
    temperature = fit_calibration(logits, truth, "temperature")
    assert np.allclose(temperature.shift, 0) and not np.allclose(temperature.scale, 1, atol=0.05)
    before = expected_calibration_error(1 / (1 + np.exp(-logits)), truth).mean()
    after = expected_calibration_error(platt.probabilities(logits), truth).mean()
    assert before > 0.1 and after < 0.02


def test_expected_calibration_error_on_a_hand_counted_case():
    probs = np.zeros((4, AUS))
    labels = np.zeros((4, AUS), np.int8)
    probs[:, 0] = [0.05, 0.05, 0.95, 0.95]  # bins 0 and 9
    labels[:, 0] = [0, 1, 1, 1]  # bin 0: 0.5 on vs 0.05; bin 9: 1.0 vs 0.95
    labels[:, 1] = -1
    ece = expected_calibration_error(probs, labels)
    assert ece[0] == pytest.approx(0.5 * 0.45 + 0.5 * 0.05)
    assert np.isnan(ece[1])


def test_a_calibrated_readout_folds_into_the_layer_the_model_ships():
    x, _, labels = _logistic_data(500, 5, seed=2)
    readout = fit_readout(x, labels)
    calibration = Calibration("platt", np.linspace(0.5, 2, AUS), np.linspace(-1, 1, AUS))
    folded = readout.calibrated(calibration)
    assert np.allclose(1 / (1 + np.exp(-folded.logits(x))), calibration.probabilities(readout.logits(x)), atol=1e-5)


def _tiny_model(readout: str = "head") -> MultiTaskModel:
    config = ModelConfig(input_dim=6, encoder=make_encoder_config("gru", hidden_size=4, dropout=0.0),
                         head_hidden=(8,), head_dropout=0.0, au_readout=readout)
    torch.manual_seed(0)
    return MultiTaskModel(config).eval()


def test_a_linear_au_readout_reads_the_encoder_output_and_the_normalised_frame():
    model = _tiny_model("linear")
    model.set_normalization(np.full(6, 0.5), np.full(6, 2.0))
    x = torch.randn(2, 7, 6)
    out = model(x)
    inputs, state = model.readout_inputs(x)
    assert inputs.shape == (2, 7, 4 + 6) and set(state) == set(out.state)
    assert torch.allclose(inputs[..., 4:], (x - 0.5) / 2.0)
    assert torch.allclose(out.au, model.heads["au"](inputs), atol=1e-6)
    assert ModelConfig.from_json(model.config.to_json()) == model.config


def test_a_linear_readout_is_refused_outside_the_basic_framework_and_by_merge():
    from affectstream.core.temporal.merge import merge_models

    with pytest.raises(ModelConfigError, match="basic framework"):
        ModelConfig(input_dim=6, framework="share-bottom", au_readout="linear")
    with pytest.raises(ModelConfigError, match="au_readout"):
        ModelConfig(input_dim=6, au_readout="mlp")
    with pytest.raises(UserInputError, match="merge the members first"):
        merge_models([_tiny_model("linear"), _tiny_model("linear")])


def test_fit_au_writes_a_model_whose_au_output_is_the_calibrated_readout(tmp_path):
    from affectstream.core.temporal.checkpoint import ModelMeta, load_checkpoint, save_checkpoint
    from affectstream.training.au_fit_run import with_linear_readout

    model = _tiny_model("head")
    x, _, labels = _logistic_data(400, 10, seed=3)
    readout = fit_readout(x, labels)
    new = with_linear_readout(model, readout)
    frames = torch.randn(1, 9, 6)
    inputs, _ = model.readout_inputs(frames)
    expected = torch.as_tensor(readout.logits(inputs[0].numpy()))
    assert torch.allclose(new(frames).au[0], expected, atol=1e-5)
    assert torch.allclose(new(frames).va, model(frames).va) and torch.allclose(new(frames).expr, model(frames).expr)
    path = save_checkpoint(tmp_path / "m.safetensors", new, ModelMeta("m", new.config, []))
    assert torch.allclose(load_checkpoint(path).model(frames).au, new(frames).au)


# -- the protocol --------------------------------------------------------------------------------


def _synthetic_readout_data(subjects: int = 30, stills: int = 6, seed: int = 4, flip: tuple[str, ...] = ()
                            ) -> ReadoutData:
    """Per subject ``stills`` stills, each seen in 5 noisy frames; the AUs follow a known logistic rule of the
    frame's features, inverted for the subjects in ``flip``. The encoder part of the inputs is noise."""
    rng = np.random.default_rng(seed)
    dim, frame_dim = 9, 6
    w = rng.normal(size=(AUS, frame_dim)) * 2
    still_subjects = np.repeat([f"S{k:03d}" for k in range(subjects)], stills)
    still_x = rng.normal(size=(len(still_subjects), frame_dim))
    still_labels = (still_x @ w.T - np.linspace(-1, 1, AUS) > 0).astype(np.int8)
    still_labels[np.isin(still_subjects, flip)] ^= 1

    def layout(copies: int, noise_seed: int) -> AUFrames:
        r = np.random.default_rng(noise_seed)
        index = np.repeat(np.arange(len(still_subjects)), copies)
        frame = still_x[index] + r.normal(scale=0.3, size=(len(index), frame_dim))
        encoder = r.normal(size=(len(index), dim - frame_dim))
        return AUFrames(np.hstack([encoder, frame]).astype(np.float32), still_labels[index],
                        still_subjects[index], index)

    neutral = {"neutral": np.hstack([rng.normal(size=(200, dim - frame_dim)),
                                     rng.normal(size=(200, frame_dim))]).astype(np.float32)}
    return ReadoutData(layout(5, 1), layout(10, 2), neutral, still_subjects, still_labels, frame_dim)


def test_folds_never_share_a_subject_and_every_subject_is_held_out_once_per_repeat():
    data = _synthetic_readout_data(subjects=23)
    for seed in (0, 1, 2, 3):
        folds = subject_folds(data, 5, seed)
        held = [s for fold in folds for s in fold]
        assert len(held) == len(set(held)) == 23 and all(folds)
    assert subject_folds(data, 5, 0) != subject_folds(data, 5, 1)


def test_calibration_and_thresholds_see_the_training_subjects_only():
    """What the recipe fits for a fold must not change when the held-out subjects' labels change: here they are
    inverted, which would move any calibration or threshold that saw them."""
    subjects = [f"S{k:03d}" for k in range(24)]
    held_out = tuple(f"S{k:03d}" for k in range(24, 30))
    options = ProtocolOptions(folds=3, inner_folds=3, seeds=(0,))
    clean = calibrated_recipe(_synthetic_readout_data(), subjects, options, seed=5)
    leaked_labels = calibrated_recipe(_synthetic_readout_data(flip=held_out), subjects, options, seed=5)
    for method in clean["calibrations"]:
        a, b = clean["calibrations"][method], leaked_labels["calibrations"][method]
        assert np.array_equal(a.scale, b.scale) and np.array_equal(a.shift, b.shift)
    assert np.array_equal(clean["readout"].weight, leaked_labels["readout"].weight)
    assert np.array_equal(clean["oof_logits"], leaked_labels["oof_logits"])
    # And the check has teeth: fitted on all subjects, the inverted ones do move the calibration.
    everyone = calibrated_recipe(_synthetic_readout_data(flip=held_out), subjects + list(held_out), options, seed=5)
    assert not np.allclose(everyone["calibrations"]["platt"].scale, clean["calibrations"]["platt"].scale)


def test_the_protocol_scores_a_learnable_rule_well_and_reports_mean_and_sd_per_au():
    data = _synthetic_readout_data()
    result = run_protocol(data, ProtocolOptions(folds=3, inner_folds=3, seeds=(0, 1)), log=lambda _: None)
    recipe = result["recipe"][result["calibration_chosen"]]
    assert recipe["uncapped"]["au_f1_mean"]["mean"] > 0.8
    assert result["yardstick"]["uncapped"]["au_f1_mean"]["mean"] > 0.8
    assert set(recipe["capped"]["au_f1"]) == {f"AU{n}" for n in (1, 2, 4, 6, 7, 10, 12, 15, 23, 24, 25, 26)}
    assert np.isfinite(recipe["capped"]["au_f1_mean"]["sd"]) and recipe["ece_mean"]["mean"] < 0.1
    assert all(0.2 <= t <= 0.8 for t in recipe["capped"]["thresholds_median"].values())
    assert result["protocol"]["fits"] == 6 and len(result["folds"]) == 2


def test_bench_au_cv_refuses_a_model_that_learned_from_ckplus_au_labels(tmp_path, capsys):
    """Its cross-validated figure would score subjects it was trained on: one line, exit 2, nothing written."""
    from affectstream.cli.main import main
    from affectstream.core.default_model import default_model_path
    from affectstream.core.temporal.checkpoint import read_meta

    shipped = default_model_path()
    sets = [s["name"] for s in read_meta(shipped).provenance["data"]["sets"]]
    assert "ckplus-au" in sets
    out = tmp_path / "cv.json"
    assert main(["bench", "au-cv", str(shipped), "--data", str(tmp_path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "learned from CK+'s AU labels" in err and "Traceback" not in err
    assert not out.exists() and not out.with_suffix(".png").exists()


def test_a_capped_threshold_is_raised_only_as_far_as_the_quiet_frames_need():
    from affectstream.training.au_cv import capped_from

    grid = np.round(np.arange(0.2, 0.8001, 0.05), 2)
    quiet = np.zeros((100, AUS))
    quiet[:, 0] = np.linspace(0, 0.99, 100)  # AU1 at rest: 30% of frames reach 0.70, 20% reach 0.80
    quiet[:, 1] = 0.9  # AU2 always high at rest: no threshold on the grid keeps it quiet
    start = np.full(AUS, 0.3)
    capped = capped_from(start, [quiet], 0.2, grid)
    assert capped[0] == pytest.approx(0.8) and capped[1] == pytest.approx(0.8)
    assert np.allclose(capped[2:], 0.3)  # quiet already: the start is kept
    assert np.allclose(capped_from(start, [quiet], None, grid), start)


def test_the_balanced_rule_reads_the_undecided_point_on_the_calibrated_scale_within_the_grid():
    from affectstream.training.au_cv import recipe_thresholds

    data = _synthetic_readout_data()
    shift = np.linspace(-3, 3, AUS)
    calibration = Calibration("platt", np.ones(AUS), shift)
    fitted = {"oof_logits": np.zeros((10, AUS)), "oof_labels": np.zeros((10, AUS), np.int8),
              "readout": fit_readout(data.training.inputs, data.training.labels)}
    out = recipe_thresholds(fitted, calibration, data, ProtocolOptions(neutral_cap=None, threshold_rule="balanced"))
    assert np.allclose(out["uncapped"], np.clip(1 / (1 + np.exp(-shift)), 0.2, 0.8))


def test_bounded_platt_keeps_the_undecided_point_in_the_threshold_range_and_is_platt_elsewhere():
    from affectstream.training.au_readout import BOUNDED_SHIFT

    rng = np.random.default_rng(6)
    logits = rng.normal(0, 3, size=(20000, AUS))
    true_shift = np.where(np.arange(AUS) < 6, -3.0, 0.5)  # rare AUs: the balanced readout's 0 is a 5% point
    truth = (rng.random(logits.shape) < 1 / (1 + np.exp(-(0.5 * logits + true_shift)))).astype(np.int8)
    platt = fit_calibration(logits, truth, "platt")
    bounded = fit_calibration(logits, truth, "platt-bounded")
    assert np.allclose(bounded.shift[:6], -BOUNDED_SHIFT) and np.allclose(bounded.shift[6:], platt.shift[6:])
    assert np.allclose(bounded.scale[6:], platt.scale[6:])
    undecided = bounded.probabilities(np.zeros((1, AUS)))[0]
    assert np.all((undecided >= 0.2 - 1e-9) & (undecided <= 0.8 + 1e-9))
    ece = expected_calibration_error(bounded.probabilities(logits), truth)
    assert ece[6:].max() < 0.02 and ece[:6].max() < 0.15  # the bound costs calibration only where it binds


def test_a_linear_readout_model_streams_the_same_through_onnxruntime_and_torch():
    pytest.importorskip("onnxruntime")
    from affectstream.core.temporal.runtime import OnnxRuntime, TorchRuntime
    from affectstream.core.temporal.streaming import StreamingTrack
    from affectstream.training.au_fit_run import with_linear_readout

    model = _tiny_model("head")
    model.set_normalization(np.linspace(-1, 1, 6), np.linspace(0.5, 2.0, 6))
    x, _, labels = _logistic_data(300, 10, seed=7)
    linear = with_linear_readout(model, fit_readout(x, labels))
    frames = np.random.default_rng(8).normal(0, 2, (20, 6)).astype(np.float32)
    tracks = [StreamingTrack(runtime(linear), 8) for runtime in (TorchRuntime, OnnxRuntime)]
    for row in frames:
        a, b = (track.step(row) for track in tracks)
        np.testing.assert_allclose(b.au_probs, a.au_probs, atol=1e-5)
        np.testing.assert_allclose(b.va, a.va, atol=1e-5)
