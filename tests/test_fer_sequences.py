"""`affectstream fer-sequences` on a small real FER2013 subset, then `affectstream train` on its output."""

from __future__ import annotations

import json

import numpy as np

from core.features.store import FeatureStore
from core.labels import EXPRESSIONS
from tests.conftest import shared_file
from training.annotations import read_annotations
from training.cli import main


def _subset(tmp_path, per_split: int = 24):
    with np.load(shared_file("fer2013", "fer2013.npz")) as data:
        keep = np.concatenate([np.flatnonzero(data["usage"] == s)[:per_split]
                               for s in ("Training", "PublicTest", "PrivateTest")])
        path = tmp_path / "fer_small.npz"
        np.savez(path, images=data["images"][keep], labels=data["labels"][keep], usage=data["usage"][keep],
                 classes=data["classes"])
    return path


def test_fer_sequences_writes_abaw_data_that_trains(tmp_path, capsys):
    data = _subset(tmp_path)
    out = tmp_path / "seq"
    args = ["fer-sequences", "--data", str(data), "--out", str(out), "--workers", "1", "--no-progress",
            "--hold", "3", "6", "--fade", "0", "2", "--frames-per-video", "40"]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    store = FeatureStore(out / "features")
    for split, name in (("Training", "training"), ("PublicTest", "validation"), ("PrivateTest", "test")):
        info = summary["splits"][split]
        assert info["stills"] == 24 and 12 <= info["faces_found"] <= 24  # ~91% over a whole split
        labels = read_annotations(out / f"{name}_set_annotations.txt")
        assert len(labels) == info["videos"] >= 2
        for video, lab in labels.items():
            joined = store.read_concat(["blendshapes", "expr-cnn-fast"], video)
            assert np.array_equal(joined.frames, lab.frames) and joined.features.shape[1] == 55 + 264
            assert np.all(lab.expr >= 0) and np.all(lab.expr != EXPRESSIONS.index("Other"))
            assert np.all(np.abs(lab.va) <= 1) and set(np.unique(lab.au)) <= {0, 1}
    # A second run reuses the extracted stills instead of running the landmarker again.
    chunk = next((out / "stills").glob("Training-*.npz"))
    stamp = chunk.stat().st_mtime_ns
    assert main(args) == 0 and chunk.stat().st_mtime_ns == stamp
    # A chunk made by other extractors (say, a retrained expr-cnn: another hash) is made again.
    with np.load(chunk) as old:
        stale = {k: old[k] for k in old.files}
    np.savez(chunk, **{**stale, "specs": np.array("[other extractors]")})
    assert main(args) == 0
    with np.load(chunk) as redone:
        assert str(redone["specs"]) == str(stale["specs"]) and np.array_equal(redone["found"], stale["found"])
    capsys.readouterr()

    run = tmp_path / "run"
    assert main(["train", "--train", str(out / "training_set_annotations.txt"),
                 "--val", str(out / "validation_set_annotations.txt"), "--features", str(out / "features"),
                 "--backbones", "blendshapes", "expr-cnn-fast", "--out", str(run), "--hidden", "16", "--epochs", "1",
                 "--seq-len", "20", "--labels-note", "expression real, VA/AU weak", "--no-progress"]) == 0
    from core.checkpoint import read_meta

    meta = read_meta(run / "best.safetensors")
    assert meta.feature_names == ["blendshapes", "expr-cnn-fast"] and meta.provenance["labels"] == "expression real, VA/AU weak"
