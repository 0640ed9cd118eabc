"""The frame-level AU yardstick of `bench labels`, on synthetic frames whose AUs follow known features."""

from __future__ import annotations

import numpy as np
import pytest

from affectstream.bench.au_reference import fit_and_score, labelled_frames
from affectstream.core.features.store import FeatureSpec, FeatureStore, VideoFeatures
from affectstream.training.annotations import VideoLabels


def synthetic_split(store: FeatureStore, name: str, videos: int, seed: int, au2_ever_on: bool) -> dict:
    """Frames whose AU1 is on where feature 0 > 0 and every other AU where feature 1 > 0; AU2 only
    where ``au2_ever_on``. Frames without a face carry misleading features and labels."""
    rng = np.random.default_rng(seed)
    labels = {}
    for v in range(videos):
        video, n = f"{name}-{v}", 120
        frames = np.arange(n)
        features = rng.normal(size=(n, 3)).astype(np.float32)
        face = np.ones(n, bool)
        face[::6] = False
        au = np.repeat((features[:, 1:2] > 0).astype(np.int8), 12, axis=1)
        au[:, 0] = features[:, 0] > 0
        au[:, 1] = (features[:, 1] > 0) if au2_ever_on else 0
        features[~face] = 50.0 * np.sign(-features[~face])  # were they used, they would teach the opposite
        store.write("toy", video, VideoFeatures(frames, features, face))
        labels[video] = VideoLabels(video, frames, np.full((n, 2), -5.0, np.float32), np.full(n, -1), au)
    return labels


def test_the_reference_learns_what_the_frames_show_and_skips_frames_without_a_face(tmp_path):
    store = FeatureStore(tmp_path)
    store.write_spec(FeatureSpec("toy", 3))
    train = synthetic_split(store, "train", 4, 0, au2_ever_on=False)
    val = synthetic_split(store, "val", 2, 1, au2_ever_on=True)
    test = synthetic_split(store, "test", 2, 2, au2_ever_on=True)

    x, y, seen = labelled_frames(store, ["toy"], train)
    assert len(x) == 4 * 100 and np.abs(x).max() < 50 and seen.all()  # 20 of every 120 frames have no face
    # Scored as the models are, on every labelled frame: one without a face takes its nearest face's features.
    x, y, seen = labelled_frames(store, ["toy"], test, every_frame=True)
    assert len(x) == 2 * 120 and np.abs(x).max() < 50
    reference = fit_and_score(store, ["toy"], train, val, test, step=2)
    assert reference.train_frames == 4 * 50
    assert reference.au_f1["AU1"] > 0.85 and reference.au_f1["AU26"] > 0.85  # the faceless sixth: a neighbour's
    assert reference.au_f1["AU2"] == 0.0  # never on in training: it cannot be learned, and is not guessed
    assert reference.au_f1_mean == np.mean(list(reference.au_f1.values()))
    assert fit_and_score(store, ["toy"], {}, val, test) is None
    # A test video in which no face was ever found counts too, with every AU off (as a model's neutral guess).
    frames = np.arange(30)
    store.write("toy", "faceless", VideoFeatures(frames, np.zeros((30, 3)), np.zeros(30, bool)))
    au = np.zeros((30, 12), np.int8)
    au[:, 0] = 1
    test["faceless"] = VideoLabels("faceless", frames, np.full((30, 2), -5.0, np.float32), np.full(30, -1), au)
    x, y, seen = labelled_frames(store, ["toy"], test, every_frame=True)
    assert len(x) == 2 * 120 + 30 and seen.sum() == 2 * 120
    missed = fit_and_score(store, ["toy"], train, val, test, step=2)
    assert missed.au_f1["AU1"] < reference.au_f1["AU1"]  # its 30 AU1 frames are missed, not dropped


def test_the_table_shows_the_reference_beside_the_models_for_aus_only():
    from affectstream.bench.labels import format_table
    from affectstream.core.labels import ACTION_UNITS

    au = {a: 0.5 for a in ACTION_UNITS}
    result = {"split": "test", "models": [{"name": "m"}],
              "sets": {"ck": {"scores": [{"au_f1_mean": 0.5, "au_f1": au}],
                              "reference": {"au_f1_mean": 0.65, "au_f1": {a: 0.6 for a in ACTION_UNITS}}},
                       "fer": {"scores": [{"expr_accuracy": 0.7, "expr_macro_f1": 0.68}]}}}
    lines = format_table(result).splitlines()
    assert lines[0] == "| test split | m | frame-level logistic regression (reference) |"
    assert "| ck: mean AU F1 (12 AUs) | 0.500 | 0.650 |" in lines
    assert "| ck: AU26 F1 | 0.500 | 0.600 |" in lines
    assert "| fer: expression accuracy | 0.700 | — |" in lines
    del result["sets"]["ck"]["reference"]
    assert format_table(result).splitlines()[0] == "| test split | m |"


def test_bench_labels_counts_aus_switched_on_for_faces_labelled_neutral(tmp_path):
    from affectstream.bench.labels import format_table, neutral_au_firing, plot
    from affectstream.core.labels import EXPRESSIONS

    neutral, happy = EXPRESSIONS.index("Neutral"), EXPRESSIONS.index("Happiness")
    expr = np.array([neutral] * 4 + [happy] * 4 + [-1] * 2)
    probs = np.zeros((10, 12))
    probs[:4, 0] = [0.9, 0.9, 0.9, 0.1]  # AU1 on for 3 of the 4 neutral frames
    probs[:3, 6] = 0.6  # AU12 at 0.6: on for 3 of 4 at its threshold 0.5, off at 0.7
    probs[4:, :] = 1.0  # the other faces' AUs do not count
    thresholds = np.full(12, 0.5)
    got = neutral_au_firing(probs, expr, thresholds)
    assert got["neutral_frames"] == 4
    assert got["au_on_neutral"]["AU1"] == 0.75 and got["au_on_neutral"]["AU12"] == 0.75
    assert got["au_on_neutral_mean"] == pytest.approx(1.5 / 12)
    thresholds[6] = 0.7
    assert neutral_au_firing(probs, expr, thresholds)["au_on_neutral"]["AU12"] == 0.0
    none = neutral_au_firing(probs[4:], expr[4:], thresholds)
    assert none["neutral_frames"] == 0 and none["au_on_neutral_mean"] is None

    result = {"split": "test", "models": [{"name": "m"}],
              "sets": {"fer": {"scores": [{"expr_accuracy": 0.7, "expr_macro_f1": 0.68} | got]}}}
    lines = format_table(result).splitlines()
    assert "| fer: faces labelled Neutral, AUs on (mean of 12) | 0.125 |" in lines
    assert "| fer: faces labelled Neutral, the AU most often on | AU1 0.75 |" in lines
    plot(result, tmp_path / "labels.png")
    assert (tmp_path / "labels.png").stat().st_size > 0


def test_on_a_cross_validated_import_the_reference_tunes_its_thresholds_out_of_fold(tmp_path):
    from affectstream.bench.au_reference import fit_and_score_folds
    from affectstream.bench.labels import au_reference
    from affectstream.training.annotations import write_annotations

    store = FeatureStore(tmp_path / "features")
    store.write_spec(FeatureSpec("toy", 3))
    parts = [synthetic_split(store, f"fold{k}", 2, k, au2_ever_on=False) for k in (1, 2, 3)]
    test = synthetic_split(store, "test", 2, 9, au2_ever_on=True)
    train = {name: lab for part in parts for name, lab in part.items()}
    folds = [({n: l for j, part in enumerate(parts) if j != k for n, l in part.items()}, parts[k]) for k in range(3)]
    reference = fit_and_score_folds(store, ["toy"], folds, train, test, step=2)
    assert reference.train_frames == 6 * 50 and "out-of-fold predictions of 3 folds" in reference.description
    assert reference.au_f1["AU1"] > 0.85 and reference.au_f1["AU26"] > 0.85 and reference.au_f1["AU2"] == 0.0
    # bench labels finds the folds of an import-stills --cv-folds layout, which has no plain val split.
    data = tmp_path / "import"
    (data / "by_set").mkdir(parents=True)
    write_annotations(data / "by_set" / "toy_train.txt", train)
    assert au_reference(data, "toy", store, test, ["toy"]) is None  # no val split and no folds
    for k, (fold_train, fold_val) in enumerate(folds, start=1):
        (data / "folds" / str(k) / "by_set").mkdir(parents=True)
        write_annotations(data / "folds" / str(k) / "by_set" / "toy_train.txt", fold_train)
        write_annotations(data / "folds" / str(k) / "by_set" / "toy_val.txt", fold_val)
    found = au_reference(data, "toy", store, test, ["toy"])
    assert found.au_f1 == pytest.approx(fit_and_score_folds(store, ["toy"], folds, train, test).au_f1)
