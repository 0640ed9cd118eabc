"""Faults a new user met in the import and data commands (synth, import-stills, fer-sequences, import-afew-va)
and in reading annotation files: each test below failed before its fix."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from affectstream.core.labels import NUM_AUS
from affectstream.training.annotations import HEADER, AnnotationError, parse_image_name, read_annotations
from affectstream.training.stills.sets import CSV_COLUMNS, StillSetError, read_labelled_csv

from tests.media import TINY, fer2013_subset, shared_file

CSV_HEADER = ",".join(CSV_COLUMNS) + ",split"
NO_AUS = "," * (NUM_AUS - 1)
LABELS = "0.1,0.2,1," + ",".join(["0"] * NUM_AUS)  # the 15 values of an annotation line


def _noise(path: Path) -> None:
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8))


def _stills_csv(folder: Path, rows: list[str], name: str = "labels.csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(4):
        _noise(folder / f"im{k}.png")
    path = folder / name
    path.write_text("\n".join([CSV_HEADER, *rows]) + "\n")
    return path


def _rows(splits=("train", "val", "test", "test")) -> list[str]:
    return [f"im{k}.png,0.5,-0.25,Happiness,{NO_AUS},{split}" for k, split in enumerate(splits)]


def _annotations(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join([",".join(HEADER), *lines]) + "\n")
    return path


# -- F7: synth stopped part-way -------------------------------------------------------------------------------------

def test_a_synth_run_stopped_part_way_leaves_no_annotation_files(tmp_path, monkeypatch):
    """Stopped while writing validation videos, synth left new training annotations beside the earlier seed's
    validation annotations and new validation features: `train` took the mixture without a word."""
    from affectstream.training import synthetic

    out = tmp_path / "syo"
    first = synthetic.write_synthetic(out, replace(TINY, seed=1))
    assert first.train_annotations.is_file() and first.val_annotations.is_file()
    made = synthetic.make_video

    def stopped_at_validation(name, *args):
        if name.startswith("val-"):
            raise KeyboardInterrupt  # as `timeout -s INT` stops it
        return made(name, *args)

    monkeypatch.setattr(synthetic, "make_video", stopped_at_validation)
    with pytest.raises(KeyboardInterrupt):
        synthetic.write_synthetic(out, replace(TINY, seed=2, val_videos=50))
    assert not first.train_annotations.exists() and not first.val_annotations.exists()

    monkeypatch.setattr(synthetic, "make_video", made)
    whole = synthetic.write_synthetic(out, replace(TINY, seed=2))
    assert set(read_annotations(whole.val_annotations)) == {"val-000", "val-001"}


# -- F10: the still cache keyed on content -----------------------------------------------------------------------

def test_cached_stills_are_extracted_again_when_their_pixels_or_files_change(tmp_path):
    """A second npz (or image files replaced in place) under the same still ids took the first one's cached
    faces and features."""
    from affectstream.training.stills.extract import extract_set_features
    from affectstream.training.stills.framing import Framing
    from affectstream.training.stills.sets import read_fer2013

    original = fer2013_subset(tmp_path, per_split=3)
    other = tmp_path / "fer_other.npz"
    with np.load(original) as data:
        arrays = {k: data[k] for k in data.files}
    np.savez(other, **(arrays | {"images": np.roll(arrays["images"], 1, axis=0)}))  # same ids, other faces
    cache = tmp_path / "cache"
    first = extract_set_features(read_fer2013(original), ["blendshapes"], cache, workers=1, progress=False)
    shared = extract_set_features(read_fer2013(other), ["blendshapes"], cache, workers=1, progress=False)
    fresh = extract_set_features(read_fer2013(other), ["blendshapes"], tmp_path / "fresh", workers=1, progress=False)
    assert first.found.sum() >= 3 and not np.array_equal(first.features["blendshapes"], fresh.features["blendshapes"])
    assert np.array_equal(shared.found, fresh.found)
    assert np.array_equal(shared.features["blendshapes"], fresh.features["blendshapes"])

    # A CSV set whose image files were swapped in place: the face is now in the other file.
    folder = tmp_path / "mine"
    folder.mkdir()
    shutil.copy(shared_file("images", "0-f15-hao-ph.jpg"), folder / "a.jpg")
    _noise(folder / "b.png")
    shutil.copy(folder / "b.png", folder / "b.jpg")
    (folder / "b.png").unlink()
    path = folder / "labels.csv"
    path.write_text("\n".join([CSV_HEADER, f"a.jpg,,,3,{NO_AUS},train", f"b.jpg,,,3,{NO_AUS},train"]) + "\n")
    stills = read_labelled_csv(path, framing=Framing(pad=0.25))
    before = extract_set_features(stills, ["blendshapes"], cache, workers=1, progress=False)
    (folder / "a.jpg").rename(folder / "swap")
    (folder / "b.jpg").rename(folder / "a.jpg")
    (folder / "swap").rename(folder / "b.jpg")
    after = extract_set_features(stills, ["blendshapes"], cache, workers=1, progress=False)
    assert before.found.tolist() == [True, False] and after.found.tolist() == [False, True]


# -- F11: FER2013 usage spelled otherwise ------------------------------------------------------------------------

def test_a_fer2013_usage_of_another_spelling_is_refused_by_name(tmp_path):
    """`usage='training'` on 20 rows: those stills were dropped without a word."""
    from affectstream.core.features.expression_cnn import FER_CLASSES
    from affectstream.training.fer.data import FerDataError, load_fer2013

    usage = np.array(["Training"] * 4 + ["training"] * 20 + ["PublicTest"] * 4 + ["PrivateTest"] * 4)
    path = tmp_path / "fer.npz"
    np.savez(path, images=np.zeros((len(usage), 48, 48), np.uint8), labels=np.zeros(len(usage), np.int8),
             usage=usage, classes=np.array(FER_CLASSES))
    with pytest.raises(FerDataError, match=r"fer.npz: usage 'training' \(20 images\) is not one of Training, "
                                           r"PublicTest, PrivateTest"):
        load_fer2013(path)


# -- F12 F14 F15: the labelled-stills CSV ------------------------------------------------------------------------

def test_one_image_named_twice_by_another_spelling_is_refused(tmp_path):
    """`sub/../im0.png` in test and `im0.png` in train: one image in both splits, accepted."""
    (tmp_path / "sub").mkdir()
    rows = _rows() + [f"sub/../im0.png,0.5,-0.25,Happiness,{NO_AUS},test"]
    with pytest.raises(StillSetError, match=r"labels.csv:6: sub/../im0.png \(the file im0.png\) is also on line 2"):
        read_labelled_csv(_stills_csv(tmp_path, rows))


def test_a_bad_row_after_blank_lines_names_its_own_line(tmp_path):
    """Blank lines shifted every line number: the error named line 4 for a fault on line 7."""
    rows = _rows()
    path = _stills_csv(tmp_path, [rows[0], "", "   ", rows[1], "", rows[2].replace(",test", ",holdout"), rows[3]])
    with pytest.raises(StillSetError, match=r"labels.csv:7: split 'holdout' is not one of"):
        read_labelled_csv(path)


def test_a_trailing_comma_on_every_row_is_an_empty_field_not_an_index(tmp_path):
    """pandas took the first column as the index and shifted the others ("-0.7 is also on line 3")."""
    stills = read_labelled_csv(_stills_csv(tmp_path, [row + "," for row in _rows()]))
    assert [p.name for p in stills.paths] == ["im0.png", "im1.png", "im2.png", "im3.png"]
    assert stills.split.tolist() == ["train", "val", "test", "test"]
    assert stills.labels.va.tolist() == [[0.5, -0.25]] * 4
    path = _stills_csv(tmp_path, [row + "," for row in _rows()])
    path.write_text(path.read_text().replace(CSV_HEADER, CSV_HEADER + ",", 1))  # the header's too
    assert read_labelled_csv(path).split.tolist() == ["train", "val", "test", "test"]
    # A field past the header's that is not empty is refused, not silently dropped.
    rows = _rows()
    with pytest.raises(StillSetError, match=r"labels.csv:3: 19 fields, more than the header's 17 \(an extra "
                                            r"field 'x'\)"):
        read_labelled_csv(_stills_csv(tmp_path, [rows[0] + ",", rows[1] + ",,x", *rows[2:]]))


# -- F13: a set name that cannot name a video -------------------------------------------------------------------

def test_a_csv_name_that_cannot_name_a_video_is_refused_before_any_work(tmp_path, capsys):
    """`my set,1.csv`: refused only after the extraction (a ValueError traceback), features/ and stills/ left."""
    from affectstream.cli.main import main

    path = _stills_csv(tmp_path / "mystills", _rows(), name="my set,1.csv")
    out = tmp_path / "out"
    assert main(["import-stills", "--sets", "--csv", str(path), "--out", str(out), "--extractors", "blendshapes",
                 "--workers", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "my set,1.csv: the set's name 'my set,1' (the file's name) cannot start a video name" in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


# -- F16: a changed AFEW-VA clip ------------------------------------------------------------------------------------

def test_a_changed_afew_va_clip_is_left_out_and_named_or_extracted_again_with_overwrite(tmp_path, capsys):
    """One clip changed since the import: the whole import stopped, pointing at an --overwrite it did not have."""
    from affectstream.cli.main import main
    from tests.test_afew_va import film_clips

    root = film_clips(tmp_path / "afew", faulty=False)
    out = tmp_path / "out"
    argv = ["import-afew-va", str(root), "--out", str(out), "--workers", "1", "--no-progress",
            "--extractors", "blendshapes"]
    assert main(argv) == 0
    shutil.copy(root / "a1" / "00004.png", root / "a1" / "00005.png")  # an unrated frame more: the clip changed
    capsys.readouterr()

    def imported() -> set[str]:
        summary = json.loads((out / "summary.json").read_text())
        return {video for file in summary["annotations"].values() for video in read_annotations(out / file)}

    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "a1: " in err and "changed since its features" in err and "--overwrite extracts it again" in err
    assert imported() == {"a2", "a3", "a4", "a5"}
    assert main([*argv, "--overwrite"]) == 0
    assert imported() == {"a1", "a2", "a3", "a4", "a5"}
    assert main(argv) == 0  # the features now match the clip as it is


# -- F17 F22 F23 and --workers: options refused where they are read -----------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["synth", "--seed", "-1"], "--seed: a whole number from 0 to 4294967295, got '-1'"),
    (["synth", "--seed", "99999999999999999999999"], "--seed: a whole number from 0 to 4294967295"),
    (["import-stills", "--seed", "-1"], "--seed: a whole number from 0 to 4294967295"),
    (["import-stills", "--sets", "ckplus-au", "--split-seed", "-1"], "--split-seed: a whole number from 0"),
    (["fer-sequences", "--split-seed", "99999999999999999999999"], "--split-seed: a whole number from 0"),
    (["import-afew-va", "afew", "--split-seed", "-1"], "--split-seed: a whole number from 0"),
    (["import-stills", "--jitter", "nan"], "--jitter: a finite number from 0 to 10, got 'nan'"),
    (["import-stills", "--jitter", "inf"], "--jitter: a finite number from 0 to 10, got 'inf'"),
    (["import-stills", "--split-fractions", "1", "inf", "1"], "--split-fractions: a number above 0, got 'inf'"),
    (["import-afew-va", "afew", "--split-fractions", "nan", "1", "1"], "--split-fractions: a number above 0"),
    (["import-stills", "--workers", "0"], "--workers: a whole number, 1 or more, got '0'"),
    (["import-afew-va", "afew", "--workers", "-2"], "--workers: a whole number, 1 or more, got '-2'"),
])
def test_out_of_range_options_are_refused_when_read(tmp_path, capsys, argv, message):
    """A negative or huge seed, NaN jitter, an infinite fraction, no workers: tracebacks, refusals only after the
    whole extraction, or silently taken. Only parsed here: a command that ran on would import the shared sets."""
    from affectstream.cli.main import build_parser

    argv = [*argv, "--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as stop:
        build_parser(argv)[0].parse_args(argv)
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_split_fractions_whose_sum_overflows_are_recorded_as_the_shares_they_are():
    """1e308 three times: the sum overflowed to inf and every share was recorded as 0."""
    from affectstream.core.errors import UserInputError
    from affectstream.training.stills.splits import GroupSplit

    assert GroupSplit((1e308, 1e308, 1e308)).fractions == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert GroupSplit((0.6, 0.2, 0.2)).fractions == (0.6, 0.2, 0.2)
    with pytest.raises(UserInputError, match="three finite numbers > 0"):
        GroupSplit((float("inf"), 1.0, 1.0))


# -- F19 F21: annotation files ----------------------------------------------------------------------------------

def test_a_frame_number_beyond_any_video_is_refused_with_its_file_and_line(tmp_path):
    """`train-000/99999999999999999999.jpg`: an OverflowError traceback (there and in predict's frame list)."""
    from affectstream.training.submission import read_frame_list
    from affectstream.core.errors import UserInputError

    path = _annotations(tmp_path / "a.txt", [f"train-000/00001.jpg,{LABELS}",
                                               f"train-000/99999999999999999999.jpg,{LABELS}"])
    with pytest.raises(AnnotationError, match=r"a.txt:3: frame number 99999999999999999999 of video 'train-000' "
                                              r"is above the largest taken, 999999999"):
        read_annotations(path)
    assert parse_image_name("v/99999999999999999999.jpg") is None and parse_image_name("v/" + "9" * 5000 + ".jpg") \
        is None
    assert parse_image_name("v/999999999.jpg") == ("v", 999999999)
    frames = tmp_path / "frames.txt"
    frames.write_text("image\ntrain-000/00001.jpg\ntrain-000/99999999999999999999.jpg\n")
    with pytest.raises(UserInputError, match=r"frames.txt:3: "):
        read_frame_list(frames)


@pytest.mark.parametrize("value, column", [("1_0", "arousal"), ("\u0661", "arousal"), ("", "arousal")])
def test_a_value_loadtxt_rejects_is_named_with_its_line_and_column(tmp_path, value, column):
    """`1_0` (float() takes it, numpy's loadtxt does not): "a value is not a number", with no line or column."""
    lines = [f"v/{n:05d}.jpg,{LABELS}" for n in range(1, 40)]
    lines[25] = f"v/00026.jpg,0.1,{value},1," + ",".join(["0"] * NUM_AUS)
    with pytest.raises(AnnotationError, match=rf"a.txt:27: {column} '{value}' is not a number"):
        read_annotations(_annotations(tmp_path / "a.txt", lines))


def test_a_repeat_count_of_unicode_digits_is_refused_not_a_traceback():
    """'²' is a digit to str.isdigit() but not to int(): --repeat ckplus-au=² ended in a ValueError traceback."""
    from affectstream.training.stills.inputs import parse_repeats
    from affectstream.core.errors import UserInputError

    with pytest.raises(UserInputError, match="--repeat 'ckplus-au=²': expected SET=N"):
        parse_repeats(["ckplus-au=²"], ["ckplus-au"])
    assert parse_repeats(["ckplus-au=3"], ["ckplus-au"]) == {"ckplus-au": 3}
