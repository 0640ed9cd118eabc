"""`affectstream fer-sequences` (import-stills with FER2013 alone) on a small real subset, then `train` on it; the
library call both commands make (affectstream.training.stills.importer)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np

from affectstream.core.default_model import DEFAULT_FEATURES
from affectstream.core.features.store import FeatureStore
from affectstream.core.labels import EXPRESSIONS
from tests.media import fer2013_subset
from affectstream.training.annotations import read_annotations
from affectstream.cli.main import main
from affectstream.training.stills.importer import ImportStillsOptions, import_stills
from affectstream.training.stills.sequences import SequenceOptions


def test_fer_sequences_writes_abaw_data_that_trains(tmp_path, capsys):
    data = fer2013_subset(tmp_path)
    out = tmp_path / "seq"
    args = ["fer-sequences", "--data", str(data), "--out", str(out), "--workers", "1", "--no-progress",
            "--hold", "3", "6", "--fade", "0", "2", "--frames-per-video", "40"]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    (fer,) = summary["sets"]
    assert fer["name"] == "fer2013" and fer["real_labels"] == ["expression"] and not summary["weak_labels"]
    assert summary["labels_note"] == "expression real (fer2013)"
    store = FeatureStore(out / "features")
    for split, name in (("train", "training"), ("val", "validation"), ("test", "test")):
        info = fer["splits"][split]
        assert info["stills"] == 24 and 12 <= info["faces_found"] <= 24  # ~91% over a whole split
        labels = read_annotations(out / f"{name}_set_annotations.txt")
        assert len(labels) == info["videos"] >= 2
        for video, lab in labels.items():
            joined = store.read_concat(list(DEFAULT_FEATURES), video)
            assert np.array_equal(joined.frames, lab.frames) and joined.features.shape[1] == 55 + 264
            held = lab.expr >= 0  # frames inside a change show a blend: no label there
            assert held.mean() > 0.5 and np.all(lab.expr[held] != EXPRESSIONS.index("Other"))
            # FER2013 has no valence/arousal or AU labels: missing, never made up.
            assert np.all(lab.va == -5) and np.all(lab.au == -1)
    # A second run reuses the extracted stills instead of running the landmarker again.
    chunk = next((out / "stills" / "fer2013").glob("*.npz"))
    stamp = chunk.stat().st_mtime_ns
    assert main(args) == 0 and chunk.stat().st_mtime_ns == stamp
    # A damaged chunk is made again, the same.
    with np.load(chunk) as old:
        stale = {k: old[k] for k in old.files}
    chunk.write_bytes(chunk.read_bytes()[:100])
    assert main(args) == 0
    with np.load(chunk) as redone:
        assert str(redone["key"]) == str(stale["key"]) and np.array_equal(redone["found"], stale["found"])
    # Weak labels only on request, and then named so.
    weak = tmp_path / "weak"
    assert main([*args[:4], str(weak), *args[5:], "--weak-labels", "--cache", str(out / "stills")]) == 0
    lab = next(iter(read_annotations(weak / "training_set_annotations.txt").values()))
    held = lab.expr >= 0
    assert np.all(np.abs(lab.va[held]) <= 1) and set(np.unique(lab.au[held])) <= {0, 1}
    assert "WEAK" in json.loads((weak / "summary.json").read_text())["labels_note"]
    capsys.readouterr()

    run = tmp_path / "run"
    assert main(["train", "--train", str(out / "training_set_annotations.txt"),
                 "--val", str(out / "validation_set_annotations.txt"), "--features", str(out / "features"),
                 "--backbones", *DEFAULT_FEATURES, "--out", str(run), "--hidden", "16", "--epochs", "1",
                 "--seq-len", "20", "--no-progress"]) == 0
    from affectstream.core.temporal.checkpoint import read_meta

    meta = read_meta(run / "best.safetensors")
    # The import's summary travels with the model: which labels were real, and the set's terms.
    assert meta.feature_names == list(DEFAULT_FEATURES)
    assert meta.provenance["labels"] == "expression real (fer2013)"
    assert meta.provenance["data"]["sets"][0]["terms"] == "distributed for research use"
    assert meta.provenance["smoothing"]["rule"].startswith("strongest filter")


def test_mirror_adds_each_training_still_seen_in_a_mirror(tmp_path, capsys):
    from affectstream.core.faces.types import BLENDSHAPE_NAMES
    from affectstream.training.stills.extract import extract_set_features
    from affectstream.training.stills.sets import read_fer2013

    data = fer2013_subset(tmp_path, per_split=16)
    options = ImportStillsOptions(out=tmp_path / "plain", sets=("fer2013",), fer2013=data, cache=tmp_path / "cache",
                                  sequences=SequenceOptions((3, 3), (0, 0), 40))
    plain = import_stills(options, workers=1, progress=False).summary["sets"][0]
    mirrored = import_stills(replace(options, out=tmp_path / "mirrored", mirror=("fer2013",)), workers=1,
                             progress=False).summary["sets"][0]
    assert not plain["mirrored_in_train"] and mirrored["mirrored_in_train"]
    # Twice the training stills (each also mirrored), the same labels twice; validation and test untouched.
    before, after = plain["splits"]["train"], mirrored["splits"]["train"]
    assert before["stills"] == 16 and after["stills"] == 32
    assert 2 * before["faces_found"] - 2 <= after["faces_found"] <= 2 * before["faces_found"] + 2
    held = 3  # every still with a face is held 3 labelled frames
    assert sum(after["expression_frames"].values()) == held * after["faces_found"]
    for name, count in before["expression_frames"].items():
        assert count <= after["expression_frames"][name] <= 2 * count + 2 * held
    assert mirrored["splits"]["val"] == plain["splits"]["val"] and mirrored["splits"]["test"] == plain["splits"]["test"]

    # What the mirror does to the features: the head turns the other way, left and right blendshapes swap.
    stills = read_fer2013(data)
    stills = stills.take(np.flatnonzero(stills.split == "train"))
    cache = tmp_path / "cache"
    seen = extract_set_features(stills, ["blendshapes"], cache, workers=1, progress=False)
    flipped = extract_set_features(replace(stills, framing=replace(stills.framing, mirror=True)), ["blendshapes"],
                                   cache, workers=1, progress=False)
    both = seen.found & flipped.found
    a, b = seen.features["blendshapes"][both], flipped.features["blendshapes"][both]
    yaw = len(BLENDSHAPE_NAMES)
    assert both.sum() >= 10 and np.corrcoef(a[:, yaw], -b[:, yaw])[0, 1] > 0.8
    left, right = BLENDSHAPE_NAMES.index("mouthSmileLeft"), BLENDSHAPE_NAMES.index("mouthSmileRight")
    assert np.abs(a[:, left] - b[:, right]).mean() < np.abs(a[:, left] - b[:, left]).mean() + 0.02
    assert main(["import-stills", "--sets", "fer2013", "--fer2013", str(data), "--out", str(tmp_path / "bad"),
                 "--mirror", "ckplus-au"]) == 2
    assert "--mirror ckplus-au: not among the sets imported" in capsys.readouterr().err
