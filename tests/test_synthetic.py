"""The synthetic data set has the planted structure the benchmark relies on."""

from __future__ import annotations

import numpy as np

from affectstream.labels import NUM_EXPRESSIONS
from affectstream.training.annotations import read_annotations
from affectstream.training.synthetic import SyntheticConfig, _episodes, write_synthetic


def test_episodes_cross_segment_boundaries():
    # The cue of an episode is only in its first frames: for a large share of frames
    # it lies in an earlier 250-frame segment, reachable only through carried state.
    cfg = SyntheticConfig()
    rng = np.random.default_rng(0)
    earlier, total = 0, 0
    for _ in range(20):
        classes, cue = _episodes(1000, cfg, rng)
        starts = np.flatnonzero(cue & ~np.roll(cue, 1) | (np.arange(1000) == 0))
        last_start = starts[np.searchsorted(starts, np.arange(1000), side="right") - 1]
        earlier += int(np.sum(last_start // 250 < np.arange(1000) // 250))
        total += 1000
        # Episodes change class and cover the whole video.
        assert (classes >= 0).all() and (classes < NUM_EXPRESSIONS).all()
    assert earlier / total > 0.2


def test_written_data_set_reads_back_with_missing_labels_and_faceless_frames(tmp_path):
    data = write_synthetic(tmp_path, SyntheticConfig(train_videos=3, val_videos=2, min_frames=200, max_frames=300,
                                                     missing_task_prob=0.0, seed=5))
    train = read_annotations(data.train_annotations)
    assert sorted(train) == ["train-000", "train-001", "train-002"]
    from affectstream.features.store import FeatureStore

    store = FeatureStore(data.features)
    feats = store.read_concat(list(data.backbones), "train-000")
    assert feats.dim == 40 and len(feats.frames) == len(train["train-000"].frames)
    assert 0 < (~feats.face_found).sum() < 0.1 * len(feats.frames)
    assert (feats.features[~feats.face_found] == 0).all()
    labels = train["train-000"]
    assert (labels.expr == -1).any() and (labels.expr >= 0).mean() > 0.9
    assert ((labels.va >= -1) & (labels.va <= 1) | (labels.va == -5)).all()
