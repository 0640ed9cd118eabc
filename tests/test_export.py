"""`affectstream export`: ELAN documents and OpenFace-style CSVs from a results CSV with known segments (the
`results_csv` fixture: tests.media.known_results_frames)."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

from affectstream.cli.main import main
from affectstream.core.labels import ACTION_UNITS
from tests.media import RESULTS_FRAME_MS as FPS_MS


def test_elan_export_has_what_elan_needs_and_the_known_segments(results_csv, tmp_path):
    import pympi

    out = tmp_path / "eaf" / "clip.eaf"
    out.parent.mkdir()
    assert main(["export", str(results_csv), "--format", "elan", "--video", str(tmp_path / "clip.mp4"),
                 "--out", str(out)]) == 0
    root = ElementTree.parse(out).getroot()
    # Time slots in order, and every annotation's two slots defined.
    slots = [(s.get("TIME_SLOT_ID"), int(s.get("TIME_VALUE"))) for s in root.iter("TIME_SLOT")]
    assert [v for _, v in slots] == sorted(v for _, v in slots)
    ids = {i for i, _ in slots}
    for annotation in root.iter("ALIGNABLE_ANNOTATION"):
        assert {annotation.get("TIME_SLOT_REF1"), annotation.get("TIME_SLOT_REF2")} <= ids
    # Every tier's linguistic type declared; the media linked relative to the .eaf.
    types = {t.get("LINGUISTIC_TYPE_ID") for t in root.iter("LINGUISTIC_TYPE")}
    assert all(t.get("LINGUISTIC_TYPE_REF") in types for t in root.iter("TIER"))
    media = next(root.iter("MEDIA_DESCRIPTOR"))
    assert media.get("RELATIVE_MEDIA_URL") == "../clip.mp4" and media.get("MIME_TYPE") == "video/mp4"
    # The ELAN library reads it back, with the known segments (ms): the 80 ms flicker merged away, the gap kept.
    eaf = pympi.Elan.Eaf(str(out))
    assert eaf.get_annotation_data_for_tier("Expression face0") == [(0, 1600, "Neutral"), (1800, 2800, "Happiness")]
    assert eaf.get_annotation_data_for_tier("AU12 face0") == [(1800, 2800, "on")]
    assert eaf.get_annotation_data_for_tier("AU4 face0") == []
    assert eaf.get_annotation_data_for_tier("Valence face0") == [(0, 1600, "0.05"), (1800, 2800, "0.55")]
    assert len(eaf.get_tier_names()) == 1 + len(ACTION_UNITS) + 2


def test_a_zero_minimum_duration_keeps_the_flicker(results_csv, tmp_path):
    import pympi

    out = tmp_path / "clip.eaf"
    assert main(["export", str(results_csv), "--format", "elan", "--video", str(tmp_path / "clip.mp4"),
                 "--min-duration-ms", "0"]) == 0
    segments = pympi.Elan.Eaf(str(out)).get_annotation_data_for_tier("Expression face0")
    assert segments[:3] == [(0, 800, "Neutral"), (800, 880, "Happiness"), (880, 1600, "Neutral")]


def test_openface_columns_row_for_row(results_csv, tmp_path):
    assert main(["export", str(results_csv), "--format", "openface"]) == 0
    lines = (tmp_path / "clip.openface.csv").read_text().splitlines()
    header = lines[0].split(", ")
    assert header[:5] == ["frame", "face_id", "timestamp", "confidence", "success"]
    assert header[5:] == ["AU01_c", "AU02_c", "AU04_c", "AU06_c", "AU07_c", "AU10_c", "AU12_c", "AU15_c",
                          "AU23_c", "AU24_c", "AU25_c", "AU26_c"]
    assert not any(h.endswith("_r") for h in header)
    rows = [dict(zip(header, line.split(", "))) for line in lines[1:]]
    assert len(rows) == 70
    assert rows[0]["timestamp"] == "0.000" and rows[0]["success"] == "1"
    assert rows[42]["success"] == "0" and rows[42]["AU12_c"] == "0" and rows[42]["confidence"] == "0.000"
    assert rows[50]["AU12_c"] == "1" and rows[50]["AU06_c"] == "1" and rows[50]["AU04_c"] == "0"
    assert rows[50]["timestamp"] == f"{50 * FPS_MS / 1000:.3f}"


def test_bad_export_inputs_are_one_line_each(results_csv, tmp_path, capsys):
    assert main(["export", str(results_csv), "--format", "elan"]) == 2
    assert "give --video" in capsys.readouterr().err
    assert main(["export", str(results_csv), "--format", "elan", "--video", str(tmp_path / "nope.mp4")]) == 2
    assert "nope.mp4: no such file" in capsys.readouterr().err
    assert main(["export", str(results_csv), "--format", "openface", "--out", str(results_csv)]) == 2
    assert "results CSV itself" in capsys.readouterr().err
    broken = tmp_path / "broken.csv"
    broken.write_text("frame,x\n1,2\n")
    assert main(["export", str(broken), "--format", "openface"]) == 2
    err = capsys.readouterr().err
    assert "broken.csv" in err and "Traceback" not in err
    assert not (tmp_path / "broken.openface.csv").exists()
