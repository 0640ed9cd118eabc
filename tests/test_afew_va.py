"""AFEW-VA: the reader (layout, ratings, clear errors), the by-person split, and `import-afew-va` end to end
on real film frames (the shared format-reference clip)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from affectstream.core.errors import UserInputError
from affectstream.core.features.store import FeatureStore
from affectstream.training.afew_va import AfewVaError, find_clip_folders, person_key, read_clip
from affectstream.training.annotations import read_annotations
from affectstream.training.stills.splits import GroupSplit

from tests.media import fer2013_subset, shared_file


def write_clip(root: Path, name: str, ratings: dict, actor: str | None = "Ann Lee", images=None,
               source: Path | None = None) -> Path:
    """A clip folder: <name>.json with ``ratings`` {frame: (valence, arousal)}, and an image per number in
    ``images`` (default: every rated frame), copied from ``source`` frames when given, else blank."""
    folder = root / name
    folder.mkdir(parents=True)
    frames = {f"{n:05d}": {"valence": v, "arousal": a, "landmarks": [[0.0, 0.0]] * 68} for n, (v, a) in ratings.items()}
    data = {"video_id": name, "frames": frames} | ({"actor": actor} if actor is not None else {})
    (folder / f"{name}.json").write_text(json.dumps(data))
    for k, n in enumerate(ratings if images is None else images):
        if source is not None:
            shutil.copy(source / f"{k:05d}.png", folder / f"{n:05d}.png")
        else:
            cv2.imwrite(str(folder / f"{n:05d}.png"), np.zeros((8, 8, 3), np.uint8))
    return folder


def test_shared_clip_reads_as_documented():
    clip = read_clip(shared_file("afew-va", "001"))
    assert (clip.name, clip.actor, clip.images) == ("001", "Bruce Campbell", 42)
    assert clip.frames.tolist() == list(range(42))
    # The README: constant labels V 0, A 5 on -10..10, i.e. 0 and 0.5 on ABAW's scale.
    assert np.array_equal(clip.va, np.tile(np.float32([0.0, 0.5]), (42, 1)))
    labels = clip.labels()
    assert (labels.expr == -1).all() and (labels.au == -1).all()
    assert find_clip_folders(shared_file("afew-va")) == [shared_file("afew-va", "001")]


def test_ratings_are_scaled_and_unrated_or_imageless_frames_are_kept_apart(tmp_path):
    folder = write_clip(tmp_path, "c1", {0: (-10, 10), 1: (2.5, 0), 3: (0, -7)}, images=[0, 1, 2])
    clip = read_clip(folder)
    assert clip.frames.tolist() == [0, 1]
    assert np.allclose(clip.va, [[-1.0, 1.0], [0.25, 0.0]])
    assert clip.images == 3 and clip.ratings_without_image == (3,)


@pytest.mark.parametrize("ratings, actor, message", [
    ({0: (11, 0)}, "A", r"c1\.json: frames\['00000'\]\.valence 11 is outside -10\.\.10"),
    ({0: (0, "high")}, "A", r"c1\.json: frames\['00000'\]\.arousal \"high\" is not a number"),
    ({0: (True, 0)}, "A", r"frames\['00000'\]\.valence true is not a number"),
    ({0: (None, 0)}, "A", r"frames\['00000'\]\.valence null is not a number"),
    ({0: (0, 0)}, None, r"c1\.json: no 'actor'"),
    ({0: (0, 0)}, "  ", r"c1\.json: no 'actor'"),
    ({0: (0, 0)}, 7, r"c1\.json: 'actor' 7 is not a person's name"),
])
def test_bad_ratings_name_the_file_and_frame_key(tmp_path, ratings, actor, message):
    with pytest.raises(AfewVaError, match=message):
        read_clip(write_clip(tmp_path, "c1", ratings, actor=actor))


def test_malformed_json_files_are_named_with_their_line(tmp_path):
    folder = write_clip(tmp_path, "c1", {0: (0, 0)})
    (folder / "c1.json").write_text('{"actor": "A",\n "frames": {"00000": {"valence": 1,}}}')
    with pytest.raises(AfewVaError, match=r"c1\.json:2: not valid JSON"):
        read_clip(folder)
    (folder / "c1.json").write_text(json.dumps({"actor": "A", "frames": {"0a": {"valence": 0, "arousal": 0}}}))
    with pytest.raises(AfewVaError, match=r"frames key '0a' is not a frame number"):
        read_clip(folder)
    (folder / "c1.json").write_text(json.dumps({"actor": "A", "frames": {"1": {"valence": 0, "arousal": 0},
                                                                           "001": {"valence": 0, "arousal": 0}}}))
    with pytest.raises(AfewVaError, match=r"frame 1 is rated twice"):
        read_clip(folder)
    (folder / "c1.json").write_text(json.dumps({"actor": "A", "frames": {"00009": {"valence": 0, "arousal": 0}}}))
    with pytest.raises(AfewVaError, match=r"c1: none of the 1 rated frames has an image"):
        read_clip(folder)
    (tmp_path / "empty").mkdir()
    with pytest.raises(AfewVaError, match=r"empty: no AFEW-VA clip folders"):
        find_clip_folders(tmp_path / "empty")
    with pytest.raises(AfewVaError, match=r"c1\.json: not a folder"):
        find_clip_folders(folder / "c1.json")


def test_clips_that_would_vanish_or_break_the_files_are_named(tmp_path):
    root = tmp_path / "clips"
    write_clip(root, "good", {0: (0, 0)})
    # Frames whose <clip>.json is missing (or misnamed): found, and the missing file named.
    write_clip(root, "orphan", {0: (0, 0)})
    (root / "orphan" / "orphan.json").rename(root / "orphan" / "ORPHAN.JSON")
    # A name that an annotation file cannot hold (its image column is "<video>/<frame>.jpg", comma-separated).
    write_clip(root, "a,b", {0: (0, 0)})
    assert [f.name for f in find_clip_folders(root)] == ["a,b", "good", "orphan"]
    with pytest.raises(AfewVaError, match=r"orphan\.json: missing"):
        read_clip(root / "orphan")
    with pytest.raises(AfewVaError, match=r"a,b: the folder's name cannot name a video"):
        read_clip(root / "a,b")
    # One clip's folder given alone is read as that clip, with or without its labels file.
    assert find_clip_folders(root / "orphan") == [root / "orphan"]


def test_split_keeps_each_person_in_one_part_however_the_name_is_written(tmp_path):
    from affectstream.training.afew_va_clips import split_clips

    actors = ["Ann Lee", "ann  lee", "Bo Chan", "Cy Dorn", "Di Eke", "Ed Fox", "BO CHAN", "Andre\u0301", "André"]
    clips = [read_clip(write_clip(tmp_path, f"c{k}", {n: (0, 0) for n in range(10 + k)}, actor=a))
             for k, a in enumerate(actors)]
    parts = split_clips(clips, GroupSplit((0.6, 0.2, 0.2), seed=3))
    assert sorted(c.name for part in parts.values() for c in part) == sorted(c.name for c in clips)
    persons = {name: {person_key(c.actor) for c in part} for name, part in parts.items()}
    assert sum(map(len, persons.values())) == 6 and all(persons.values())
    assert not (persons["train"] & persons["val"] or persons["train"] & persons["test"] or persons["val"] & persons["test"])
    assert parts == split_clips(clips, GroupSplit((0.6, 0.2, 0.2), seed=3))  # fixed by the seed
    with pytest.raises(UserInputError, match=r"show 2 person\(s\): at least 3 are needed"):
        split_clips(clips[:3], GroupSplit())


ACTORS = {"a1": "Ann Lee", "a2": "Bo Chan", "a3": "Cy Dorn", "a4": "Di Eke", "a5": "ann lee"}


def film_clips(root: Path, faulty: bool = True) -> Path:
    """Five 5-frame clips of four persons, cut from the shared clip's real film frames, with known ratings;
    with ``faulty``, also a clip whose ratings are broken, one without its labels file, and in clip a2 a
    frame that cannot be decoded."""
    frames = shared_file("afew-va", "001")
    for k, (name, actor) in enumerate(ACTORS.items()):
        write_clip(root, name, {n: (n - k, 10 - n) for n in range(5)}, actor=actor, source=frames)
    if faulty:
        write_clip(root, "broken", {0: (0, 42)}, source=frames)
        write_clip(root, "orphan", {0: (0, 0)}, source=frames)
        (root / "orphan" / "orphan.json").unlink()
        (root / "a2" / "00003.png").write_bytes(b"not a png")
    return root


def test_import_afew_va_end_to_end_on_real_film_frames(tmp_path, capsys):
    from affectstream.cli.main import main
    from affectstream.training.afew_va_import import ImportAfewVaOptions, import_afew_va

    root = film_clips(tmp_path / "afew")
    actors = ACTORS
    out = tmp_path / "out"
    argv = ["import-afew-va", str(root), "--out", str(out), "--workers", "1", "--no-progress",
            "--extractors", "blendshapes", "expr-cnn-soup-int8"]
    a3 = root / "a3" / "a3.json"  # a rating of a frame the clip has no image of: left out, and said so
    data = json.loads(a3.read_text())
    data["frames"]["00099"] = dict(data["frames"]["00000"])
    a3.write_text(json.dumps(data))
    # The bad clips are named and left out; the others are imported (the library call the command makes).
    said, warned = [], []
    options = ImportAfewVaOptions(root=root, out=out, extractors=("blendshapes", "expr-cnn-soup-int8"))
    result = import_afew_va(options, workers=1, progress=False, log=said.append, warn=warned.append)
    assert sorted(result.left_out) == ["broken", "orphan"] and result.store == out / "features"
    assert warned[0] == "2 clip(s) left out:" and warned[1].startswith("  broken: ")
    assert "broken.json: frames['00000'].arousal 42 is outside" in warned[1]
    assert warned[2].startswith("  orphan: ") and "orphan.json: missing" in warned[2]
    assert "afew-va: 1 rated frame(s) in 1 clip(s) have no image and were left out, e.g. a3 frame 00099" in said

    summary = json.loads((out / "summary.json").read_text())
    assert result.summary == summary
    info, = summary["sets"]
    assert info["real_labels"] == ["valence/arousal"] and "never commit" in info["terms"]
    assert summary["labels_note"] == "valence/arousal real (afew-va)"
    assert sorted(info["clips_left_out"]) == ["broken", "orphan"]
    persons = info["split_rule"]["persons"]
    assert sum(len(p) for p in persons.values()) == 4  # "Ann Lee" and "ann lee" are one person
    seen: dict[str, str] = {}
    store = FeatureStore(out / "features")
    for split, file in summary["annotations"].items():
        labels = read_annotations(out / file)
        assert read_annotations(out / "by_set" / f"afew-va_{split}.txt").keys() == labels.keys()
        for name, video in labels.items():
            k = list(actors).index(name)
            assert person_key(actors[name]) in persons[split]
            seen[name] = split
            assert video.frames.tolist() == list(range(5))
            assert np.allclose(video.va, [[(n - k) / 10, (10 - n) / 10] for n in range(5)])
            assert (video.expr == -1).all() and (video.au == -1).all()
            features = store.read("expr-cnn-soup-int8", name)
            # a2's undecodable frame is left out of its features alone (it then counts as a frame without a face).
            kept = [0, 1, 2, 4] if name == "a2" else list(range(5))
            assert features.frames.tolist() == kept and features.face_found.all()
        counts = info["splits"][split]
        assert counts["frames_with_face"] == counts["frames_rated"] - (1 if "a2" in labels else 0)
    assert sorted(seen) == ["a1", "a2", "a3", "a4", "a5"] and seen["a1"] == seen["a5"]

    # A second run, the command's, resumes: nothing is extracted again. It prints what the library said, and
    # its exit status says something failed.
    written = {p: p.stat().st_mtime_ns for p in (out / "features").rglob("*.npz")}
    capsys.readouterr()
    assert main(argv) == 1
    assert {p: p.stat().st_mtime_ns for p in (out / "features").rglob("*.npz")} == written
    printed = capsys.readouterr()
    assert printed.out == "\n".join(said) + "\n" and printed.err.endswith("\n".join(warned) + "\n")

    # `train` takes the output as it is, and the checkpoint says which labels were real.
    from affectstream.core.temporal.checkpoint import read_meta

    run = tmp_path / "run"
    assert main(["train", "--train", str(out / "training_set_annotations.txt"),
                 "--val", str(out / "validation_set_annotations.txt"), "--features", str(out / "features"),
                 "--backbones", "blendshapes", "expr-cnn-soup-int8", "--epochs", "1", "--seq-len", "4",
                 "--out", str(run), "--fps", "25"]) == 0
    meta = read_meta(run / "best.safetensors")
    assert meta.provenance["labels"] == "valence/arousal real (afew-va)"
    assert meta.provenance["data"]["sets"][0]["name"] == "afew-va"


def test_extract_whole_frames_finds_the_face_in_each_frame(tmp_path):
    from affectstream.cli.main import main

    clip = tmp_path / "clip"
    clip.mkdir()
    for n in range(3):
        shutil.copy(shared_file("afew-va", "001", f"{n:05d}.png"), clip / f"{n:05d}.png")
    crops = {}
    for mode in ("aligned", "frames"):
        flags = ["--whole-frames"] if mode == "frames" else []
        assert main(["extract", str(clip), "--out", str(tmp_path / mode), "--workers", "1", "--no-progress",
                     "--extractors", "blendshapes", "--save-crops", str(tmp_path / f"crops-{mode}"), *flags]) == 0
        crops[mode] = cv2.imread(str(tmp_path / f"crops-{mode}" / "clip" / "00000.jpg"))
    whole = cv2.resize(cv2.imread(str(clip / "00000.png")), (112, 112), interpolation=cv2.INTER_AREA)
    # Read as aligned faces, the whole 720x576 frame is the "face"; read as frames, the face is found and aligned.
    assert np.abs(crops["aligned"].astype(int) - whole).mean() < 8
    assert np.abs(crops["frames"].astype(int) - whole).mean() > 30

    # One store: a folder extracted one way is extracted again when asked the other way, never taken as done.
    store, npz = tmp_path / "one", tmp_path / "one" / "blendshapes" / "clip.npz"
    common = ["extract", str(clip), "--out", str(store), "--workers", "1", "--no-progress", "--extractors",
              "blendshapes"]

    def extract(*flags: str) -> bool:
        """Extract; whether the clip's file was written again."""
        before = npz.stat().st_mtime_ns if npz.exists() else None
        assert main([*common, *flags]) == 0
        return npz.stat().st_mtime_ns != before

    assert extract() and FeatureStore(store).source_kind("blendshapes", "clip") == "aligned"
    assert not extract()
    assert extract("--whole-frames") and FeatureStore(store).source_kind("blendshapes", "clip") == "frames"
    assert not extract("--whole-frames")
    assert extract() and FeatureStore(store).source_kind("blendshapes", "clip") == "aligned"
    # A file written before the kind was recorded holds a video or aligned faces, never whole frames.
    with np.load(npz) as data:
        np.savez(npz, frames=data["frames"], features=data["features"], face_found=data["face_found"])
    assert FeatureStore(store).source_kind("blendshapes", "clip") == ""
    assert not extract()
    assert extract("--whole-frames")


def test_join_adds_the_clips_to_an_import_stills_output_without_changing_it(tmp_path, capsys):
    from affectstream.bench.labels import compare
    from affectstream.cli.main import main
    from affectstream.core.temporal.checkpoint import read_meta

    stills = tmp_path / "stills"
    extractors = ["blendshapes", "expr-cnn-soup-int8"]
    assert main(["import-stills", "--sets", "fer2013", "--fer2013", str(fer2013_subset(tmp_path, per_split=8)),
                 "--out", str(stills), "--workers", "1", "--no-progress", "--hold", "3", "3", "--fade", "0", "0",
                 "--frames-per-video", "30", "--extractors", *extractors]) == 0

    def files_of_the_import() -> dict:
        return {p: p.read_bytes() for p in stills.rglob("*") if p.is_file() and "features" not in p.parts}

    before = files_of_the_import()
    root = film_clips(tmp_path / "afew", faulty=False)
    out = tmp_path / "joined"
    common = ["import-afew-va", str(root), "--join", str(stills), "--workers", "1", "--no-progress"]
    # Refused before any work: other features, another store, the joined folder itself as the output.
    for extra, message in ((["--out", str(out), "--extractors", "blendshapes"],
                            "was imported with blendshapes expr-cnn-soup-int8; joined data needs the same features"),
                           (["--out", str(out), "--features", str(tmp_path / "other")],
                            "joined data trains from one store"),
                           (["--out", str(stills)], "is the folder joined: give another --out")):
        assert main([*common, *extra]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "other").exists() and files_of_the_import() == before
    assert main([*common, "--out", str(out)]) == 0

    # The joined import is as it was; the clips' features are in its store.
    assert files_of_the_import() == before
    assert sorted(FeatureStore(stills / "features").videos("expr-cnn-soup-int8"))[:5] == ["a1", "a2", "a3", "a4", "a5"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["labels_note"] == "valence/arousal real (afew-va); expression real (fer2013)"
    assert [s["name"] for s in summary["sets"]] == ["fer2013", "afew-va"] and summary["extractors"] == extractors
    for file in summary["annotations"].values():
        theirs, union = read_annotations(stills / file), read_annotations(out / file)
        clips = set(union) - set(theirs)
        assert clips and clips <= set(ACTORS) and set(theirs) <= set(union)
        for name, video in theirs.items():
            assert all(np.array_equal(getattr(video, key), getattr(union[name], key))
                       for key in ("frames", "va", "expr", "au"))
    assert summary["options"] == json.loads((stills / "summary.json").read_text())["options"]
    # Joining the output once more is refused: it holds the clips already.
    assert main([*common[:1], str(root), "--join", str(out), "--out", str(tmp_path / "twice")]) == 2
    assert "already holds afew-va" in capsys.readouterr().err

    run = tmp_path / "run"
    assert main(["train", "--train", str(out / "training_set_annotations.txt"),
                 "--val", str(out / "validation_set_annotations.txt"), "--features", str(stills / "features"),
                 "--backbones", *extractors, "--epochs", "1", "--seq-len", "8", "--hidden", "16",
                 "--out", str(run), "--no-progress"]) == 0
    meta = read_meta(run / "best.safetensors")
    assert meta.provenance["labels"] == summary["labels_note"]
    # `bench labels` on the joined output finds each set's test frames (FER2013's in the import it came from).
    result = compare(out, [run / "best.safetensors"], progress=False)
    assert sorted(result["sets"]) == ["afew-va", "fer2013"]
    assert "ccc_mean" in result["sets"]["afew-va"]["scores"][0]
    assert "expr_accuracy" in result["sets"]["fer2013"]["scores"][0]


def test_a_weak_joined_import_is_named_weak_for_its_own_sets_only():
    from affectstream.training.afew_va_join import JoinedImport, labels_note_of

    fer = {"name": "fer2013", "real_labels": ["expression"]}
    afew = {"name": "afew-va", "real_labels": ["valence/arousal"]}
    weak = JoinedImport(Path("stills"), {"sets": [fer], "weak_labels": True}, {})
    note, is_weak = labels_note_of([fer, afew], weak)
    assert is_weak and note == ("valence/arousal real (afew-va); expression real (fer2013); missing valence/arousal "
                                "and AUs of fer2013 filled with WEAK rule-made labels")
    plain = JoinedImport(Path("stills"), {"sets": [fer], "weak_labels": False}, {})
    assert labels_note_of([fer, afew], plain) == ("valence/arousal real (afew-va); expression real (fer2013)", False)


def test_a_features_path_that_is_a_file_is_refused_clearly(tmp_path, capsys):
    from affectstream.cli.main import main

    root = tmp_path / "clips"
    for k, actor in enumerate(("A", "B", "C")):
        write_clip(root, f"c{k}", {0: (0, 0)}, actor=actor)
    (tmp_path / "file").write_text("not a folder")
    assert main(["import-afew-va", str(root), "--out", str(tmp_path / "out"), "--features", str(tmp_path / "file"),
                 "--no-progress"]) == 2
    assert f"--features {tmp_path / 'file'} is a file, not a folder" in capsys.readouterr().err


def test_too_few_persons_lists_the_clips_that_could_not_be_read(tmp_path, capsys):
    from affectstream.cli.main import main

    root = tmp_path / "clips"
    write_clip(root, "c0", {0: (0, 0)}, actor="A")
    write_clip(root, "c1", {0: (0, 0)}, actor="B")
    write_clip(root, "c2", {0: (0, 99)}, actor="C")
    assert main(["import-afew-va", str(root), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "c2: " in err and "arousal 99 is outside" in err and "show 2 person(s): at least 3 are needed" in err
    assert not (tmp_path / "out").exists()


def test_import_afew_va_options_map_onto_the_library_call_and_its_defaults(tmp_path):
    """`import-afew-va` is argv -> ImportAfewVaOptions -> import_afew_va; its exit status is 1 when clips were
    left out."""
    from affectstream.cli import import_afew_va as command
    from affectstream.cli.main import build_parser
    from affectstream.training.afew_va_import import ImportAfewVaOptions

    def parsed(*argv: str):
        argv = ["import-afew-va", *argv]
        return command.options_from_args(build_parser(argv)[0].parse_args(argv))

    out = tmp_path / "out"
    assert parsed("clips", "--out", str(out)) == ImportAfewVaOptions(root=Path("clips"), out=out)
    assert parsed("clips", "--out", str(out), "--join", "j", "--features", "f", "--extractors", "blendshapes",
                  "--fps", "30", "--split-seed", "4", "--split-fractions", "1", "1", "2", "--overwrite",
                  "--workers", "3", "--no-progress", "--verbose") == ImportAfewVaOptions(
        root=Path("clips"), out=out, join=Path("j"), features=Path("f"), extractors=("blendshapes",), fps=30.0,
        split=GroupSplit((0.25, 0.25, 0.5), 4), overwrite=True)
