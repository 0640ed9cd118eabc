"""Labelled still sets: readers (FER2013, CK+, DiffusionFER, a user's CSV), splits by person, real labels in pseudo-videos."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from affectstream.core.errors import UserInputError
from affectstream.core.labels import ACTION_UNITS, EXPRESSIONS, NUM_AUS
from tests.media import shared_file
from affectstream.training.stills.framing import SMALL_CROP, Framing, read_image
from affectstream.training.stills.sequences import SequenceOptions, build_pseudo_videos
from affectstream.training.stills.sets import (
    CSV_COLUMNS,
    StillLabels,
    StillSetError,
    read_ckplus_au,
    read_diffusionfer_va,
    read_fer2013,
    read_labelled_csv,
)
from affectstream.training.stills.splits import GroupSplit, fold_by_group, split_by_group

HEADER = ",".join(CSV_COLUMNS)


def _image(path, size=32, colour=True) -> None:
    image = np.random.default_rng(0).integers(0, 255, (size, size, 3) if colour else (size, size), dtype=np.uint8)
    cv2.imwrite(str(path), image)


def _csv(tmp_path, rows: list[str], header: str = HEADER, images: int = 6):
    for k in range(images):
        _image(tmp_path / f"im{k}.png")
    path = tmp_path / "labels.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


NO_AUS = "," * (NUM_AUS - 1)


# -- the labelled CSV ---------------------------------------------------------

def test_labelled_csv_keeps_empty_cells_missing_and_reads_names_and_indices(tmp_path):
    aus = ",".join(["1", "0"] * 6)
    path = _csv(tmp_path, [
        f"im0.png,0.5,-0.25,Happiness,{aus},train,p1",
        f"im1.png,,,4,{NO_AUS},val,p2",
        f"im2.png,,,,{aus},test,p3",
        f"im3.png,-1,1,sadness,{NO_AUS},train,p1",
    ], header=HEADER + ",split,subject")
    stills = read_labelled_csv(path)
    assert stills.name == "labels" and stills.tasks == ("va", "expr", "au")
    assert stills.labels.va.tolist() == [[0.5, -0.25], [-5, -5], [-5, -5], [-1, 1]]
    assert stills.labels.expr.tolist() == [4, 4, -1, EXPRESSIONS.index("Sadness")]
    assert stills.labels.au[0].tolist() == [1, 0] * 6 and np.all(stills.labels.au[1] == -1)
    assert stills.split.tolist() == ["train", "val", "test", "train"]
    assert [p.name for p in stills.paths] == ["im0.png", "im1.png", "im2.png", "im3.png"]


def test_labelled_csv_without_split_column_splits_by_subject(tmp_path):
    rows = [f"im{k}.png,0.1,0.2,0,{NO_AUS},s{k // 2}" for k in range(6)]
    path = _csv(tmp_path, rows, header=HEADER + ",subject")
    stills = read_labelled_csv(path)
    subjects = np.array([f"s{k // 2}" for k in range(6)])
    for subject in np.unique(subjects):
        assert len(set(stills.split[subjects == subject])) == 1
    assert set(stills.split) == {"train", "val", "test"} and stills.split_rule["rule"].startswith("by subject")


@pytest.mark.parametrize("row, message", [
    (f"im1.png,0.5,abc,0,{NO_AUS}", ":3: arousal 'abc' is not a number"),
    (f"im1.png,1.5,0,0,{NO_AUS}", ":3: valence 1.5 is outside [-1, 1]"),
    (f"im1.png,0.5,,0,{NO_AUS}", ":3: valence and arousal must be given together"),
    (f"im1.png,,,Contempt,{NO_AUS}", ":3: expression 'Contempt' is neither"),
    (f"im1.png,,,9,{NO_AUS}", ":3: expression '9' is neither"),
    ("im1.png,,,," + ",".join(["2"] + [""] * (NUM_AUS - 1)), ":3: AU1 '2' is not 0, 1 or empty"),
    (f"im0.png,,,1,{NO_AUS}", ":3: im0.png is also on line 2"),
    (f",,,1,{NO_AUS}", ":3: file is empty"),
    ("im1.png,0.5,0.5", ":3: 3 fields, fewer than the header's 16"),
])
def test_a_bad_row_names_its_file_and_line(tmp_path, row, message):
    path = _csv(tmp_path, [f"im0.png,0.1,0.1,0,{NO_AUS}", row])
    with pytest.raises(StillSetError) as error:
        read_labelled_csv(path)
    assert str(error.value).startswith(str(path)) and message in str(error.value)


def test_bad_headers_and_files_are_named(tmp_path):
    with pytest.raises(StillSetError, match=r"labels.csv:1: missing column\(s\) AU26"):
        read_labelled_csv(_csv(tmp_path, [f"im0.png,,,0,{NO_AUS[1:]}"], header=HEADER.replace(",AU26", "")))
    with pytest.raises(StillSetError, match=r":1: unknown column\(s\) mood"):
        read_labelled_csv(_csv(tmp_path, [f"im0.png,,,0,{NO_AUS},x"], header=HEADER + ",mood"))
    with pytest.raises(StillSetError, match="labels file not found"):
        read_labelled_csv(tmp_path / "absent.csv")
    with pytest.raises(StillSetError, match=":3: split 'holdout' is not one of train, val, test"):
        read_labelled_csv(_csv(tmp_path, [f"im0.png,,,0,{NO_AUS},train", f"im1.png,,,0,{NO_AUS},holdout"],
                               header=HEADER + ",split"))
    with pytest.raises(StillSetError, match="no row has a label"):
        read_labelled_csv(_csv(tmp_path, [f"im0.png,,,,{NO_AUS}"]))


def test_images_that_cannot_be_read_are_named(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(Exception, match="broken.png: not a readable image"):
        read_image(tmp_path / "broken.png")
    _image(tmp_path / "grey.png", colour=False)
    assert read_image(tmp_path / "grey.png").shape == (32, 32)
    rgba = np.zeros((8, 8, 4), np.uint8)
    cv2.imwrite(str(tmp_path / "alpha.png"), rgba)
    assert read_image(tmp_path / "alpha.png").shape == (8, 8, 3)


def test_framing_pads_and_scales_up_small_crops_only():
    frame = SMALL_CROP.frame(np.zeros((48, 48), np.uint8))
    assert frame.shape == (256, 256, 3)  # 8 px of border each side, then x4: the FER2013 run-time path
    big = Framing(pad=0.25, min_side=256).frame(np.zeros((224, 224, 3), np.uint8))
    assert big.shape == (336, 336, 3)


# -- the shared sets, as fixtures with the same layout -------------------------

def _ckplus_fixture(tmp_path, subjects: int = 12):
    folder = tmp_path / "ckplus"
    (folder / "images").mkdir(parents=True)
    rng = np.random.default_rng(1)
    all_aus = ["AU1", "AU2", "AU4", "AU5", "AU6", "AU7", "AU9", "AU10", "AU11", "AU12", "AU14", "AU15", "AU16",
               "AU17", "AU18", "AU20", "AU21", "AU22", "AU23", "AU24", "AU25", "AU26", "AU27"]
    lines = ["file,sequence,subject," + ",".join(all_aus)]
    for s in range(subjects):
        for q in range(2):
            codes = (rng.random(len(all_aus)) < 0.3).astype(int)
            codes[all_aus.index("AU10")] = int(s in (0, 4, 8) and q == 0)  # rare: three subjects have it
            for frame in range(3):
                name = f"images/S{s:03d}_{q:03d}_{frame:08d}.png"
                _image(folder / name, size=48, colour=False)
                lines.append(f"{name},S{s:03d}_{q:03d},S{s:03d}," + ",".join(map(str, codes)))
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_ckplus_reader_gives_the_12_abaw_aus_and_no_subject_in_two_splits(tmp_path):
    stills = read_ckplus_au(_ckplus_fixture(tmp_path), GroupSplit(seed=3))
    assert stills.tasks == ("au",) and stills.labels.au.shape == (72, NUM_AUS)
    assert np.all(stills.labels.va == -5) and np.all(stills.labels.expr == -1)
    subjects = stills.groups
    for subject in np.unique(subjects):
        assert len(set(stills.split[subjects == subject])) == 1
    rule = stills.split_rule
    assert rule["seed"] == 3 and sorted(sum(rule["subjects"].values(), [])) == sorted(set(subjects))
    # Stratified: the rare AU (three subjects) has a positive in every split.
    au10 = stills.labels.au[:, ACTION_UNITS.index("AU10")] == 1
    assert {str(s) for s in stills.split[au10]} == {"train", "val", "test"}
    # Fixed by the seed.
    again = read_ckplus_au(_ckplus_fixture(tmp_path / "again"), GroupSplit(seed=3))
    assert np.array_equal(again.split, stills.split)


def test_ckplus_au27_rule_leaves_au26_unlabelled_only_where_au27_is_coded(tmp_path):
    folder = _ckplus_fixture(tmp_path)
    given = read_ckplus_au(folder, GroupSplit(seed=3))
    stills = read_ckplus_au(folder, GroupSplit(seed=3), au27="au26-missing")
    table = pd.read_csv(folder / "labels.csv")
    au27 = table["AU27"].to_numpy() == 1
    au26 = ACTION_UNITS.index("AU26")
    assert 0 < au27.sum() < len(table)
    assert np.all(stills.labels.au[au27, au26] == -1)
    assert np.array_equal(stills.labels.au[~au27, au26], given.labels.au[~au27, au26])
    others = np.arange(NUM_AUS) != au26
    assert np.array_equal(stills.labels.au[:, others], given.labels.au[:, others])
    # The split rests on the codes as given: the same subjects in each split either way.
    assert np.array_equal(stills.split, given.split)
    assert stills.summary()["label_rules"] == {"au27": "au26-missing", "au26_unlabelled_frames": int(au27.sum())}
    assert given.summary()["label_rules"] == {"au27": "au26-negative"}
    # The rule needs the AU27 column, and says which file lacks it.
    table.drop(columns="AU27").to_csv(folder / "labels.csv", index=False)
    with pytest.raises(StillSetError, match=r"labels.csv.*AU27"):
        read_ckplus_au(folder, au27="au26-missing")
    read_ckplus_au(folder)  # the default rule does not need it


def test_real_ckplus_never_codes_au26_and_au27_together():
    """The fact the au26-missing rule rests on: CK+ scores jaw drop and mouth stretch as alternatives."""
    table = pd.read_csv(shared_file("ckplus-au") / "labels.csv")
    assert not ((table["AU26"] == 1) & (table["AU27"] == 1)).any()
    assert (table["AU27"] == 1).sum() > (table["AU26"] == 1).sum() > 0


def test_ckplus_reader_names_a_bad_code(tmp_path):
    folder = _ckplus_fixture(tmp_path, subjects=3)
    lines = (folder / "labels.csv").read_text().splitlines()
    fields = lines[4].split(",")
    fields[4] = "x"  # AU2
    lines[4] = ",".join(fields)
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(StillSetError, match=r"labels.csv:5: AU2 'x' is not a number"):
        read_ckplus_au(folder)


def test_diffusionfer_reader_gives_va_and_expression_but_no_aus(tmp_path):
    folder = tmp_path / "dfer"
    (folder / "images").mkdir(parents=True)
    rows = ["id,file,valence,arousal,expression,expression_name,prompt_class,split"]
    for k, (v, a, e, split) in enumerate([(-0.5, 0.2, 1, "train"), (0.7, 0.4, 4, "val"), (0.0, 0.0, 0, "test")]):
        _image(folder / "images" / f"f{k}.jpg")
        rows.append(f"f{k},images/f{k}.jpg,{v},{a},{e},{EXPRESSIONS[e]},x,{split}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    stills = read_diffusionfer_va(folder)
    assert stills.tasks == ("va", "expr") and np.all(stills.labels.au == -1)
    assert np.allclose(stills.labels.va, [[-0.5, 0.2], [0.7, 0.4], [0.0, 0.0]])
    assert stills.labels.expr.tolist() == [1, 4, 0] and stills.split.tolist() == ["train", "val", "test"]


def test_fer2013_reader_keeps_the_official_splits_and_only_expression(tmp_path):
    path = tmp_path / "fer.npz"
    usage = np.array(["Training"] * 4 + ["PublicTest"] * 2 + ["PrivateTest"] * 2)
    np.savez(path, images=np.zeros((8, 48, 48), np.uint8), labels=np.array([3, 6, 0, 1, 2, 4, 5, 3], np.int8),
             usage=usage, classes=np.array(["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]))
    stills = read_fer2013(path)
    assert stills.split.tolist() == ["train"] * 4 + ["val"] * 2 + ["test"] * 2
    assert [EXPRESSIONS[e] for e in stills.labels.expr[:3]] == ["Happiness", "Neutral", "Anger"]
    assert np.all(stills.labels.va == -5) and np.all(stills.labels.au == -1) and stills.tasks == ("expr",)


def test_real_ckplus_split_puts_no_person_in_two_splits_and_every_au_in_every_split():
    folder = shared_file("ckplus-au")
    stills = read_ckplus_au(folder)
    for subject in np.unique(stills.groups):
        assert len(set(stills.split[stills.groups == subject])) == 1, subject
    subjects = stills.split_rule["subjects"]
    # Pinned: the shipped models' data rests on this split (44 / 13 / 14 subjects at seed 0).
    assert [len(subjects[s]) for s in ("train", "val", "test")] == [44, 13, 14]
    assert not (set(subjects["train"]) & set(subjects["val"]) | set(subjects["train"]) & set(subjects["test"])
                | set(subjects["val"]) & set(subjects["test"]))
    for split in ("train", "val", "test"):
        positives = (stills.labels.au[stills.split == split] == 1).sum(axis=0)
        assert np.all(positives > 0), (split, dict(zip(ACTION_UNITS, positives)))


def test_split_by_group_never_shares_a_group_and_follows_the_fractions():
    groups = np.repeat(np.arange(50), 3)
    split = split_by_group(groups, None, GroupSplit((0.6, 0.2, 0.2), seed=0))
    for g in range(50):
        assert len(set(split[groups == g])) == 1
    counts = {s: int(np.sum(split == s)) // 3 for s in ("train", "val", "test")}
    assert counts == {"train": 30, "val": 10, "test": 10}
    with pytest.raises(Exception, match="cannot be split three ways"):
        split_by_group(np.array(["a", "a", "b"]), None, GroupSplit())


def test_fold_by_group_gives_equal_folds_of_whole_groups_with_every_label_in_each():
    groups = np.repeat(np.arange(40), 3)
    positives = np.zeros((len(groups), 2), int)
    positives[np.isin(groups, [1, 7, 13, 22, 31]), 0] = 1  # rare: five groups, one per fold at least
    positives[groups % 2 == 0, 1] = 1
    fold = fold_by_group(groups, positives, 5, seed=2)
    assert set(fold.tolist()) == set(range(5))
    for g in range(40):
        assert len(set(fold[groups == g])) == 1
    assert np.bincount(fold, minlength=5).tolist() == [24] * 5  # 8 groups of 3 items each
    for k in range(5):
        assert positives[fold == k, 0].any(), k
    assert np.array_equal(fold, fold_by_group(groups, positives, 5, seed=2))
    with pytest.raises(UserInputError, match="at least 2 folds"):
        fold_by_group(groups, None, 1)
    with pytest.raises(UserInputError, match="3 groups cannot be divided into 5 folds"):
        fold_by_group(np.array(["a", "b", "c"]), None, 5)


# -- real labels in pseudo-videos -----------------------------------------------

def test_pseudo_videos_carry_real_labels_and_keep_missing_ones_missing():
    n = 40
    rng = np.random.default_rng(0)
    labels = StillLabels.missing(n)
    labels.au[:] = rng.integers(0, 2, (n, NUM_AUS))
    labels.va[: n // 2] = rng.uniform(-1, 1, (n // 2, 2))  # half the stills have VA, the rest do not
    options = SequenceOptions(hold_frames=(4, 6), fade_frames=(3, 5), frames_per_video=80, jitter=0.0)
    features = rng.normal(size=(n, 3)).astype(np.float32)
    videos = build_pseudo_videos("t", labels, np.ones(n, bool), {"x": features}, options)
    for video in videos:
        held = np.all(video.features["x"].features == features[video.stills], axis=1)
        assert 0.2 < held.mean() < 0.9
        # Held frames carry the still's own labels; frames inside a change show a blend no rater saw: missing.
        assert np.array_equal(video.labels.au[held], labels.au[video.stills[held]])
        assert np.all(video.labels.au[~held] == -1) and np.all(video.labels.va[~held] == -5)
        assert np.all(video.labels.expr == -1)
        has_va = video.stills < n // 2
        assert np.all(video.labels.va[~has_va] == -5)
        assert np.array_equal(video.labels.va[held & has_va], labels.va[video.stills[held & has_va]])
    # The older layout (interpolated labels inside changes) is still there for comparisons.
    from dataclasses import replace

    videos = build_pseudo_videos("t", labels, np.ones(n, bool), {"x": features}, replace(options, label_fades=True))
    assert all(np.array_equal(v.labels.au, labels.au[v.stills]) for v in videos)
    # With weak labels, only the missing ones are filled (here no blendshapes: refused).
    with pytest.raises(Exception, match="weak AU labels need"):
        build_pseudo_videos("t", labels, np.ones(n, bool), {"x": features}, options, weak=True)


def test_fades_are_gradual_and_s_shaped():
    from affectstream.training.stills.sequences import ease, plan_frames

    options = SequenceOptions(hold_frames=(5, 5), fade_frames=(9, 9), frames_per_video=1000)
    plan = plan_frames(np.arange(10), options, np.random.default_rng(0))
    weights = plan.w[5:14]
    assert np.all(np.diff(weights) > 0) and 0 < weights[0] < 0.05 and weights[-1] > 0.95
    steps = np.diff(np.r_[0, weights, 1])
    assert steps[len(steps) // 2] > steps[0] and steps[len(steps) // 2] > steps[-1]  # slow, fast, slow
    assert ease(np.array([0.0, 0.5, 1.0])).tolist() == [0.0, 0.5, 1.0]


def test_import_into_a_folder_that_cannot_be_made_stops_before_any_feature(tmp_path, capsys):
    from affectstream.cli.main import main

    aus = ",".join(["1", "0"] * 6)
    path = _csv(tmp_path, [f"im{k}.png,0.5,-0.25,Happiness,{aus},{s},p{k}" for k, s in
                           enumerate(["train", "train", "val", "val", "test", "test"])], header=HEADER + ",split,subject")
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    assert main(["import-stills", "--sets", "--csv", str(path), "--out", str(blocker / "data"),
                 "--extractors", "blendshapes", "--cache", str(tmp_path / "cache")]) == 2
    assert f"{blocker / 'data'}: cannot write there" in capsys.readouterr().err
    assert not (tmp_path / "cache").exists()  # no still went through the landmarker


def test_a_failed_reimport_leaves_the_earlier_import_whole_or_no_annotation_files(tmp_path, capsys):
    """A second import into the same folder rewrote features, then failed: the old annotation files and
    summary stayed beside the new features, and `train` used the two together without a word."""
    import json
    import shutil
    from dataclasses import replace

    from affectstream.cli.main import main
    from affectstream.training.stills.importer import ImportStillsOptions, import_stills
    from tests.media import shared_file

    faces = ["0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg"]
    for k, name in enumerate(faces):
        shutil.copy(shared_file("images", name), tmp_path / f"face{k}.jpg")
    _image(tmp_path / "noise.png")
    aus = ",".join(["1", "0"] * 6)

    def labels(rows):
        path = tmp_path / "labels.csv"
        path.write_text("\n".join([HEADER + ",split", *(f"{f},0.5,-0.25,Happiness,{aus},{s}" for f, s in rows)]) + "\n")
        return path

    out = tmp_path / "data"
    common = ["import-stills", "--sets", "--extractors", "blendshapes", "--out", str(out), "--no-progress",
              "--cache", str(tmp_path / "cache")]
    good = labels([("face0.jpg", "train"), ("face1.jpg", "train"), ("face2.jpg", "val"), ("face3.jpg", "val")])
    # The library call the command makes: what it wrote, and the lines the command prints.
    said: list[str] = []
    options = ImportStillsOptions(out=out, sets=(), csv=(good,), cache=tmp_path / "cache", extractors=("blendshapes",),
                                  splits=("train", "val"))
    result = import_stills(options, workers=1, progress=False, log=said.append)
    train_file = out / "training_set_annotations.txt"
    assert result.annotations == {"train": train_file, "val": out / "validation_set_annotations.txt"}
    assert result.folds == () and result.summary == json.loads((out / "summary.json").read_text())
    assert result.labels_note == "valence/arousal real (labels); expression real (labels); action units real (labels)"
    assert said[0].startswith("labels train: ") and "stills with a face -> 1 pseudo-videos" in said[0]
    val_file = out / "validation_set_annotations.txt"
    assert said[-2:] == [f"labels: {result.labels_note}", f"wrote {train_file}, {val_file} and {out / 'summary.json'}"]
    before = train_file.read_text()
    assert main([*common, "--csv", str(good), "--splits", "train", "val"]) == 0  # the command: the same import
    assert train_file.read_text() == before and capsys.readouterr().out == "\n".join(said) + "\n"
    # Asked for a split the CSV does not have: refused before anything is written, and said as it is.
    assert main([*common, "--csv", str(good), "--splits", "train", "val", "test", "--hold", "60", "90"]) == 2
    assert "no test stills in labels; leave test out of --splits" in capsys.readouterr().err
    assert train_file.read_text() == before and (out / "summary.json").is_file()
    # Failing only once the landmarker has run (no face in any val still): no annotation file is left.
    faceless_val = labels([("face0.jpg", "train"), ("face1.jpg", "train"), ("noise.png", "val")])
    with pytest.raises(UserInputError, match="no val stills with a face in labels"):
        import_stills(replace(options, csv=(faceless_val,), sequences=SequenceOptions(hold_frames=(60, 90))),
                      workers=1, progress=False)
    assert not train_file.exists() and not (out / "summary.json").exists()
    assert not (out / "by_set" / "labels_val.txt").exists()  # the earlier import's, for features now rewritten


# -- the commands over the library ----------------------------------------------------------------------------

def _parsed(argv: list[str]):
    from affectstream.cli.main import build_parser

    return build_parser(argv)[0].parse_args(argv)


def test_import_stills_options_map_onto_the_library_call_and_its_defaults(tmp_path):
    """`import-stills` and `fer-sequences` are argv -> ImportStillsOptions -> import_stills: a default or an
    option that the mapping dropped or changed would import other data than the library call does."""
    from pathlib import Path

    from affectstream.cli import import_stills as command
    from affectstream.training.stills.importer import ImportStillsOptions

    out = tmp_path / "out"
    assert command.options_from_args(_parsed(["import-stills", "--out", str(out)])) == ImportStillsOptions(out=out)
    assert command.options_from_args(_parsed(["fer-sequences", "--out", str(out), "--data", "f.npz"])) == \
        ImportStillsOptions(out=out, sets=("fer2013",), fer2013=Path("f.npz"))
    argv = ["import-stills", "--out", str(out), "--sets", "ckplus-au", "--csv", "a.csv", "--csv", "b.csv",
            "--shared", "s", "--fer2013", "f.npz", "--cache", "c", "--extractors", "blendshapes", "landmarks",
            "--hold", "3", "5", "--fade", "0", "2", "--frames-per-video", "40", "--jitter", "0.5", "--label-fades",
            "--repeat", "ckplus-au=3", "--mirror", "ckplus-au", "--split-seed", "7", "--split-fractions", "2", "1", "1",
            "--cv-folds", "3", "--ckplus-au27", "au26-missing", "--csv-pad", "0.5", "--splits", "train", "val",
            "--weak-labels", "--seed", "9", "--workers", "1", "--no-progress"]
    assert command.options_from_args(_parsed(argv)) == ImportStillsOptions(
        out=out, sets=("ckplus-au",), csv=("a.csv", "b.csv"), shared=Path("s"), fer2013=Path("f.npz"),
        cache=Path("c"), extractors=("blendshapes", "landmarks"),
        sequences=SequenceOptions((3, 5), (0, 2), 40, 0.5, 9, label_fades=True), repeat=("ckplus-au=3",),
        mirror=("ckplus-au",), split=GroupSplit((0.5, 0.25, 0.25), 7), cv_folds=3, ckplus_au27="au26-missing",
        csv_pad=0.5, splits=("train", "val"), weak_labels=True)


def test_import_stills_help_groups_every_option_once(capsys):
    from affectstream.cli.main import main

    with pytest.raises(SystemExit):
        main(["import-stills", "--help"])
    text = capsys.readouterr().out
    sections = ["inputs: the labelled sets:", "labels and splits:", "pseudo-videos:", "features:", "output:"]
    assert all(f"\n{s}\n" in text for s in sections)
    listed = [line.split()[0].rstrip(",") for line in text.split("options:", 1)[1].splitlines()
              if line.startswith("  -")]
    assert len(listed) == len(set(listed)) == 26  # --help and the 25 options
