"""`import-annotations`: ELAN tiers back to per-frame ABAW labels; the export -> import round trip; bad documents."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from affectstream.cli.main import main
from affectstream.core.labels import ACTION_UNITS, EXPRESSIONS
from affectstream.core.results.csv_read import read_results_table
from affectstream.training.elan_import import AnnotationImportError, labels_from_tiers, read_tiers
from tests.media import shared_file


def _eaf(path: Path, tiers: dict[str, list[tuple[int, int, str]]]) -> Path:
    import pympi

    eaf = pympi.Elan.Eaf()
    for name, segments in tiers.items():
        eaf.add_tier(name)
        for start, end, value in segments:
            eaf.add_annotation(name, start, end, value)
    pympi.Elan.to_eaf(str(path), eaf)
    return path


def test_export_then_import_gives_back_every_frames_labels(results_csv, tmp_path):
    eaf = tmp_path / "clip.eaf"
    assert main(["export", str(results_csv), "--format", "elan", "--video", str(tmp_path / "clip.mp4"),
                 "--min-duration-ms", "0"]) == 0
    table = read_results_table(results_csv)
    frames, times = table["frame"].to_numpy(), table["timestamp_ms"].to_numpy()
    labels = labels_from_tiers(eaf, read_tiers(eaf, 0), "clip", frames, times)
    face = table["success"].to_numpy() == 1
    want_expr = [EXPRESSIONS.index(e) if f else -1 for e, f in zip(table["expression"], face)]
    np.testing.assert_array_equal(labels.expr, want_expr)
    want_au = np.where(face[:, None], table[list(ACTION_UNITS)].fillna(-1).to_numpy(int), -1)
    np.testing.assert_array_equal(labels.au, want_au)
    # Valence comes back as its bin's centre (bin width 0.1), arousal likewise; -5 where no face.
    va = table[["valence", "arousal"]].to_numpy(float)
    centre = (np.floor(va / 0.1) + 0.5) * 0.1
    np.testing.assert_allclose(labels.va[face], centre[face], atol=1e-6)
    assert np.all(labels.va[~face] == -5)


@pytest.mark.parametrize("tiers,message", [
    ({"Expression face0": [(0, 500, "Joy")]}, "unknown expression 'Joy' at 0.000 s"),
    ({"Expression face0": [(0, 500, "Neutral"), (400, 900, "Happiness")]}, "segments overlap at 0.400 s"),
    ({"AU12 face0": [(0, 500, "yes")]}, "label 'yes' at 0.000 s"),
    ({"Valence face0": [(0, 500, "1.7")], "Arousal face0": [(0, 500, "0.1")]}, "'1.7' at 0.000 s"),
    ({"Expression face0": [(0, 90000, "Neutral")]}, "past the video's end"),
    ({"Smile": [(0, 500, "x")]}, "no tier of face 0"),
])
def test_a_bad_document_is_refused_naming_file_tier_and_time(tmp_path, tiers, message):
    path = _eaf(tmp_path / "bad.eaf", tiers)
    frames, times = np.arange(1, 31), np.arange(30) * 40
    with pytest.raises(AnnotationImportError, match="bad.eaf") as caught:
        labels_from_tiers(path, read_tiers(path, 0), "v", frames, times)
    assert message in str(caught.value)


def test_import_annotations_writes_labels_that_join_the_live_features(tmp_path, capsys):
    from affectstream.core.features.store import FeatureStore
    from affectstream.training.dataset import load_split

    video = shared_file("videos", "single_face.mp4")
    eaf = _eaf(tmp_path / "single_face.eaf", {"Expression face0": [(0, 700, "Neutral"), (1000, 2400, "Happiness")],
                                              "AU12 face0": [(1000, 2400, "on")]})
    out = tmp_path / "data"
    assert main(["import-annotations", str(video), str(eaf), "--out", str(out)]) == 0
    assert "72 frames" in capsys.readouterr().out
    sequences, _ = load_split(out / "training_set_annotations.txt", FeatureStore(out / "features"),
                              ["blendshapes", "expr-cnn-soup-mixed"])
    seq = sequences[0]
    assert seq.video == "single_face" and len(seq) == 72
    assert seq.expr[0] == EXPRESSIONS.index("Neutral") and seq.expr[-1] == EXPRESSIONS.index("Happiness")
    assert np.all(seq.expr[(seq.frames >= 23) & (seq.frames <= 30)] == -1)  # 0.70-1.00 s: not annotated
    assert seq.au[-1, ACTION_UNITS.index("AU12")] == 1 and seq.au[0, ACTION_UNITS.index("AU12")] == 0
    # No AU4 tier: AU4 was not annotated, so it is missing, not off; no valence/arousal tiers either.
    assert np.all(seq.au[:, ACTION_UNITS.index("AU4")] == -1) and np.all(seq.va == -5)
    # A refused document writes nothing.
    wrong = _eaf(tmp_path / "other.eaf", {"Expression face0": [(0, 60000, "Neutral")]})
    again = tmp_path / "again"
    assert main(["import-annotations", str(video), str(wrong), "--out", str(again)]) == 2
    assert "past the video's end" in capsys.readouterr().err
    assert not (again / "training_set_annotations.txt").exists()


def test_a_corrected_results_csv_gives_its_rows_as_labels_and_a_foreign_one_is_refused(results_csv, tmp_path):
    from affectstream.training.results_labels import labels_from_results

    frames = np.arange(1, 71)
    labels = labels_from_results(results_csv, "clip", frames, 0)
    assert labels.expr[0] == EXPRESSIONS.index("Neutral") and labels.expr[20] == EXPRESSIONS.index("Happiness")
    assert np.all(labels.expr[40:45] == -1) and np.all(labels.au[40:45] == -1) and np.all(labels.va[40:45] == -5)
    assert labels.au[60, ACTION_UNITS.index("AU12")] == 1 and labels.au[0, ACTION_UNITS.index("AU12")] == 0
    assert labels.va[60, 0] == pytest.approx(0.55)
    with pytest.raises(AnnotationImportError, match="frame 70 is past the video's last frame"):
        labels_from_results(results_csv, "clip", np.arange(1, 50), 0)
    with pytest.raises(AnnotationImportError, match="no row of face 3"):
        labels_from_results(results_csv, "clip", frames, 3)
