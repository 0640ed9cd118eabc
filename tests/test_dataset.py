"""Joining labels with features, feature statistics, segments and lanes."""

from __future__ import annotations

import numpy as np
import pytest

from affectstream.core.errors import UserInputError
from affectstream.core.features.store import FeatureSpec, FeatureStore, FeatureStoreError, VideoFeatures
from affectstream.core.labels import NUM_AUS
from affectstream.training.annotations import VideoLabels, write_annotations
from affectstream.training.dataset import (
    collate,
    feature_statistics,
    join_video,
    lane_schedule,
    load_split,
    shuffled_segments,
    video_segments,
)


def _labels(video: str, frames) -> VideoLabels:
    n = len(frames)
    return VideoLabels(video, np.asarray(frames), np.zeros((n, 2), np.float32), np.zeros(n, np.int64),
                       np.zeros((n, NUM_AUS), np.int8))


def _store(tmp_path, frames, found, dim=3) -> FeatureStore:
    store = FeatureStore(tmp_path / "features")
    store.write_spec(FeatureSpec("b", dim))
    feats = np.arange(len(frames) * dim, dtype=np.float32).reshape(len(frames), dim)
    feats[~np.asarray(found)] = 0
    store.write("b", "v", VideoFeatures(np.asarray(frames), feats, np.asarray(found)))
    return store


def test_join_keeps_labelled_frames_with_a_face_and_counts_the_rest(tmp_path):
    # Features cover frames 1..6, frame 3 has no face; labels ask for 2..8.
    store = _store(tmp_path, [1, 2, 3, 4, 5, 6], [True, True, False, True, True, True])
    seq = join_video(_labels("v", [2, 3, 4, 7, 8]), store, ["b"])
    assert seq.frames.tolist() == [2, 4]
    # Row of frame 2 is index 1 (values 3, 4, 5), frame 4 is index 3 (9, 10, 11).
    assert seq.features.tolist() == [[3, 4, 5], [9, 10, 11]]

    path = tmp_path / "ann.txt"
    write_annotations(path, {"v": _labels("v", [2, 3, 4, 7, 8])})
    seqs, report = load_split(path, store, ["b"])
    assert (report.labelled_frames, report.frames_with_features, report.frames_without_features) == (5, 2, 3)


def test_missing_feature_file_names_the_video(tmp_path):
    store = _store(tmp_path, [1, 2], [True, True])
    path = tmp_path / "ann.txt"
    write_annotations(path, {"other-video": _labels("other-video", [1, 2])})
    with pytest.raises(FeatureStoreError, match="other-video"):
        load_split(path, store, ["b"])


def test_unknown_backbone_is_a_clear_error(tmp_path):
    store = _store(tmp_path, [1], [True])
    with pytest.raises(UserInputError, match="no features for backbone 'mae'"):
        store.specs(["mae"])


def test_nan_features_are_rejected_naming_the_frame(tmp_path):
    store = _store(tmp_path, [1, 2, 3], [True, True, True])
    path = store.video_path("b", "v")
    with np.load(path) as npz:
        feats, frames, found = npz["features"].copy(), npz["frames"], npz["face_found"]
    feats[1, 0] = np.nan
    with open(path, "wb") as handle:
        np.savez(handle, frames=frames, features=feats, face_found=found)
    with pytest.raises(FeatureStoreError, match="NaN or inf .* frame 2"):
        store.read("b", "v")
    with pytest.raises(FeatureStoreError, match="NaN or inf"):
        store.write("b", "w", VideoFeatures(frames, feats, found))


def test_concatenation_follows_the_named_order(tmp_path):
    store = FeatureStore(tmp_path)
    store.write_spec(FeatureSpec("a", 1))
    store.write_spec(FeatureSpec("b", 2))
    store.write("a", "v", VideoFeatures([1, 2, 3], [[1], [2], [3]], [True, True, True]))
    store.write("b", "v", VideoFeatures([2, 3, 4], [[20, 21], [30, 31], [40, 41]], [True, False, True]))
    ab = store.read_concat(["a", "b"], "v")
    assert ab.frames.tolist() == [2, 3]
    assert ab.features.tolist() == [[2, 20, 21], [3, 30, 31]]
    assert ab.face_found.tolist() == [True, False]
    assert store.read_concat(["b", "a"], "v").features.tolist() == [[20, 21, 2], [30, 31, 3]]


def test_feature_statistics_match_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(3, 2, (50, 4)), rng.normal(-1, 5, (30, 4))
    seqs = [_seq(a), _seq(b)]
    mean, std = feature_statistics(seqs)
    both = np.concatenate([a, b])
    np.testing.assert_allclose(mean, both.mean(0), rtol=1e-5)
    np.testing.assert_allclose(std, both.std(0), rtol=1e-4)


def _seq(features):
    from affectstream.training.dataset import VideoSequence

    n = len(features)
    return VideoSequence("v", np.arange(n), features.astype(np.float32), np.full((n, 2), 0.5, np.float32),
                         np.ones(n, np.int64), np.ones((n, NUM_AUS), np.float32))


def test_segments_are_consecutive_and_cover_the_video():
    segs = video_segments(0, 620, 250)
    assert [(s.start, s.stop) for s in segs] == [(0, 250), (250, 500), (500, 620)]
    assert [s.first for s in segs] == [True, False, False]


def test_lanes_walk_each_video_in_order_and_cover_every_segment_once():
    lengths = [620, 100, 250, 900, 10, 480, 333]
    plan = lane_schedule(lengths, 250, 3, np.random.default_rng(1))
    seen = []
    for lane in range(3):
        walk = [step[lane] for step in plan if step[lane] is not None]
        # Within a lane a video's segments are contiguous and in order.
        for prev, cur in zip(walk, walk[1:]):
            if cur.seq_index == prev.seq_index:
                assert cur.start == prev.stop
            else:
                assert cur.first and prev.stop == lengths[prev.seq_index]
        seen += walk
        # Once a lane runs out it stays empty (padding only at the end).
        tail = [step[lane] for step in plan]
        assert all(x is None for x in tail[len(walk):])
    expected = {(i, s.start) for i, n in enumerate(lengths) for s in video_segments(i, n, 250)}
    assert {(s.seq_index, s.start) for s in seen} == expected
    assert len(seen) == len(expected)


def test_shuffled_segments_cover_everything_once():
    lengths = [620, 100, 250]
    plan = shuffled_segments(lengths, 250, 2, np.random.default_rng(0))
    flat = [s for step in plan for s in step]
    assert sorted((s.seq_index, s.start) for s in flat) == [(0, 0), (0, 250), (0, 500), (1, 0), (2, 0)]


def test_collate_pads_with_missing_codes_and_flags_resets():
    seq = _seq(np.ones((300, 2)))
    segs = video_segments(0, 300, 250)
    batch = collate([seq], [segs[1], None], 250)
    assert batch.features.shape == (2, 50, 2)  # padded only to the longest segment in the batch
    assert batch.mask[0].all() and not batch.mask[1].any()
    assert (batch.va[1] == -5).all() and (batch.expr[1] == -1).all() and (batch.au[1] == -1).all()
    assert batch.reset.tolist() == [False, True]
