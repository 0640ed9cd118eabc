"""Real faces end to end: `extract` on the shared videos, then `train` and `predict` on those features.

The shared videos have no labels, so the labels here are arbitrary; what is checked
is the plumbing on real features: feature dimensions recorded and concatenated in
order, frames without a face counted and dropped in training, and filled from
the nearest frame in predictions.
"""

from __future__ import annotations

import numpy as np
import torch

from affectstream.core.temporal.checkpoint import load_checkpoint
from affectstream.core.features.store import FeatureStore
from affectstream.core.labels import NUM_AUS
from tests.media import shared_file
from affectstream.training.annotations import VideoLabels, write_annotations
from affectstream.cli.main import main


def test_extract_train_predict_on_real_videos(tmp_path, capsys):
    torch.set_num_threads(1)
    videos = [shared_file("videos", "single_face.mp4"), shared_file("videos", "face_noface.mov")]
    store_root = tmp_path / "features"
    assert main(["extract", *map(str, videos), "--out", str(store_root), "--extractors", "blendshapes,landmarks",
                 "--workers", "1", "--no-progress"]) == 0
    store = FeatureStore(store_root)
    assert store.videos("blendshapes") == ["face_noface", "single_face"]
    faces = store.read_concat(["blendshapes", "landmarks"], "face_noface")
    assert faces.face_found[:20].all() and not faces.face_found[-20:].any()

    # Arbitrary but valid labels on every frame; the title card has no face.
    rng = np.random.default_rng(0)
    labels = {}
    for video in ("single_face", "face_noface"):
        frames = store.read("blendshapes", video).frames
        n = len(frames)
        labels[video] = VideoLabels(video, frames, rng.uniform(-1, 1, (n, 2)).astype(np.float32),
                                    rng.integers(0, 8, n), rng.integers(0, 2, (n, NUM_AUS)).astype(np.int8))
    ann = tmp_path / "labels.txt"
    write_annotations(ann, labels)

    out = tmp_path / "run"
    assert main(["train", "--train", str(ann), "--val", str(ann), "--features", str(store_root),
                 "--backbones", "blendshapes", "landmarks", "--out", str(out), "--hidden", "16",
                 "--epochs", "1", "--seq-len", "50", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    faceless = int((~faces.face_found).sum())
    assert f"{faceless} without features (no face) dropped" in printed

    meta = load_checkpoint(out / "best.safetensors").meta
    dims = {s.name: s.dim for s in store.specs(["blendshapes", "landmarks"])}
    assert [(f.name, f.dim) for f in meta.features] == [("blendshapes", dims["blendshapes"]),
                                                         ("landmarks", dims["landmarks"])]

    pred = tmp_path / "pred.txt"
    assert main(["predict", "--checkpoint", str(out / "best.safetensors"), "--features", str(store_root),
                 "--frames", str(ann), "--out", str(pred), "--no-smooth", "--no-progress"]) == 0
    assert f"{faceless} without one (the nearest face frame's prediction used)" in capsys.readouterr().out
    rows = pred.read_text().splitlines()[1:]
    assert len(rows) == sum(len(v.frames) for v in labels.values())
    # Faceless frames after the cut repeat the last frame that had a face.
    by_image = {r.split(",")[0]: r.split(",", 1)[1] for r in rows}
    last_face = int(faces.frames[faces.face_found][-1])
    tail = [by_image[f"face_noface/{int(f):05d}.jpg"] for f in faces.frames[~faces.face_found] if f > last_face]
    assert tail and len(set(tail)) == 1 and tail[0] == by_image[f"face_noface/{last_face:05d}.jpg"]
