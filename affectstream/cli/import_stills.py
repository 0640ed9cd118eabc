"""`affectstream import-stills`: labelled still-image sets -> ABAW-format training data for `affectstream train`.

Each set's stills run through the live path (framing for the detector, Face
Landmarker, alignment, the extractor chain), then are strung into pseudo-videos
(affectstream.training.stills.sequences) per set and split, so a video never mixes sets.
Writes, under --out:

* ``features/<extractor>/`` — a feature store (what `affectstream extract` writes);
* ``training_set_annotations.txt``, ``validation_set_annotations.txt``,
  ``test_set_annotations.txt`` — the union of the sets, ABAW MTL layout, each
  label a set lacks left at the missing code;
* ``by_set/<set>_<split>.txt`` — the same, one set at a time (for per-set scores);
* ``summary.json`` — per set: source, terms, which labels are real, the split rule
  (CK+ subjects per split), stills with a face, videos, frames; and a labels note
  that `affectstream train` stores with the model.

With ``--cv-folds K``, the sets split by subject (CK+, CSVs with a subject column)
are cross-validated: their train and validation subjects are divided into K folds
(stratified like the split, no subject in two), and ``folds/<k>/`` holds the
training and validation files (and a summary.json) of fold k: every other set as
usual, the subject set's fold k as validation and its other folds as training. The
top-level training file then holds all those subjects (a final model trained on
all of them), its validation file only the other sets; test is never touched.

Per-still features are cached under ``stills/`` in chunks, so an interrupted run
resumes and a second run with other sequence options extracts nothing again.
"""

from __future__ import annotations

import argparse
import json
import shutil
import zlib
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from affectstream.core.atomic import Output, check_inputs_kept, check_writable_dir, cleared_folder, written_file
from affectstream.training.stills import (FOLDS_DIR, SPLIT_FILES, SUMMARY_FILE, by_set_file, fold_dir, fold_dirs,
                                         labels_note)
from affectstream.core.default_model import DEFAULT_FEATURES
from affectstream.core.errors import UserInputError
from affectstream.core.labels import au_any_labelled, au_labelled
from affectstream.training.stills.framing import Framing
from affectstream.training.stills.splits import SPLITS, GroupSplit, fold_by_group
from affectstream.training.stills.sets import AU27_RULES
from affectstream.cli._types import number_up_to, output_path, positive_int, positive_number, seed

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
SHARED_SETS = ("fer2013", "ckplus-au", "diffusionfer-va")
# Noise ten times a feature's spread drowns every still already; far larger values overflow float32 features.
MAX_JITTER = 10.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sets", nargs="*", default=list(SHARED_SETS), choices=SHARED_SETS, metavar="SET",
                        help=f"labelled sets from --shared: {', '.join(SHARED_SETS)} (default: all three)")
    parser.add_argument("--csv", action="append", default=[], metavar="FILE",
                        help="a labelled CSV of your own stills (layout in the README); repeatable")
    parser.add_argument("--shared", type=Path, default=SHARED, help="folder holding the shared sets")
    parser.add_argument("--fer2013", type=Path, help="fer2013.npz (default: <shared>/fer2013/fer2013.npz)")
    parser.add_argument("--out", type=output_path, required=True, help="output folder (resumed when it exists)")
    parser.add_argument("--cache", type=Path,
                        help="per-still feature cache (default: <out>/stills); share it between imports that differ "
                             "only in how pseudo-videos are laid out")
    # The default model's features, not expr-cnn: the accurate ensemble's six passes per face would cost
    # live analysis and `annotate` their frame-rate targets.
    parser.add_argument("--extractors", nargs="+", default=list(DEFAULT_FEATURES),
                        help=f"feature extractors, in order (default: the default model's, {' '.join(DEFAULT_FEATURES)})")
    parser.add_argument("--hold", type=int, nargs=2, default=(8, 32), metavar=("MIN", "MAX"),
                        help="frames a still is held")
    parser.add_argument("--fade", type=int, nargs=2, default=(6, 15), metavar=("MIN", "MAX"),
                        help="frames of the gradual change to the next still (6-15: 200-500 ms at 30 fps)")
    parser.add_argument("--frames-per-video", type=int, default=1500)
    parser.add_argument("--jitter", type=number_up_to(MAX_JITTER, 0.0, above_least=False), default=0.1,
                        help=f"per-frame noise, in units of each feature's spread (0 to {MAX_JITTER:g})")
    parser.add_argument("--label-fades", action="store_true",
                        help="label the frames inside a change too (expression and AUs switch at its midpoint, "
                             "valence/arousal interpolated): made-up values, for comparisons only")
    parser.add_argument("--repeat", action="append", default=[], metavar="SET=N",
                        help="lay a set's training stills out N times (fresh order, holds and noise each time), "
                             "so small sets are not drowned by large ones; e.g. ckplus-au=20")
    parser.add_argument("--mirror", nargs="+", default=[], metavar="SET",
                        help="add each training still of these sets a second time, mirrored left-right (a real second "
                             "view: its labels do not change in a mirror); validation and test stills are not mirrored")
    parser.add_argument("--split-seed", type=seed, default=0,
                        help="seed of the by-subject splits (CK+, CSVs)")
    parser.add_argument("--split-fractions", type=positive_number, nargs=3, default=(0.6, 0.2, 0.2),
                        metavar=("TRAIN", "VAL", "TEST"), help="shares of subjects in the by-subject splits")
    parser.add_argument("--cv-folds", type=int, default=0, metavar="K",
                        help="cross-validate the sets split by subject (CK+, CSVs with a subject column) in K folds of "
                             "their train+val subjects, written under <out>/folds/<k>/; the top-level training file "
                             "then holds all of those subjects (see the README)")
    parser.add_argument("--ckplus-au27", choices=AU27_RULES, default="au26-negative",
                        help="how a CK+ frame coded AU27 (mouth stretch) counts for AU26 (jaw drop): FACS scores the "
                             "two as alternatives, so 'au26-missing' leaves AU26 unlabelled there; 'au26-negative' "
                             "(default) keeps CK+'s 0")
    parser.add_argument("--csv-pad", type=float, default=0.25,
                        help="border added around your CSV's images for the detector, as a share of the longer side")
    parser.add_argument("--splits", nargs="+", default=list(SPLITS), choices=SPLITS,
                        help="only these splits (e.g. test, to score a model without extracting training stills)")
    parser.add_argument("--weak-labels", action="store_true",
                        help="fill MISSING valence/arousal with a hand-placed point per expression class and missing "
                             "AUs with a blendshape rule: WEAK labels, not measurements (named so in the outputs)")
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--workers", type=positive_int, default=2, help="processes for feature extraction")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="show MediaPipe's own log lines")


def parse_repeats(items: list[str], names: list[str]) -> dict[str, int]:
    repeats = {name: 1 for name in names}
    for item in items:
        name, eq, count = item.partition("=")
        if not eq or name not in repeats or not (count.isascii() and count.isdigit()) or int(count) < 1:
            raise UserInputError(f"--repeat {item!r}: expected SET=N with N >= 1 and SET one of {', '.join(names)}")
        repeats[name] = int(count)
    return repeats


def check_set_name(name: str, given: str) -> None:
    """A set's name starts its pseudo-videos' names (``<set>-train-0001``), which the annotation files must be
    able to hold: checked before any still is read, not when the first file is written after extraction."""
    from affectstream.training.annotations import is_video_name

    if not is_video_name(f"{name}-train-0001"):
        raise UserInputError(f"{given}: the set's name {name!r} (the file's name) cannot start a video name in the "
                             "annotation files (a comma, a line break, a slash or surrounding spaces); rename the file")


def load_sets(args: argparse.Namespace) -> list:
    from affectstream.training.stills import sets

    split = GroupSplit(tuple(args.split_fractions), args.split_seed)
    readers = {
        "fer2013": lambda: sets.read_fer2013(args.fer2013 or args.shared / "fer2013" / "fer2013.npz"),
        "ckplus-au": lambda: sets.read_ckplus_au(args.shared / "ckplus-au", split, args.ckplus_au27),
        "diffusionfer-va": lambda: sets.read_diffusionfer_va(args.shared / "diffusionfer-va"),
    }
    for path in args.csv:
        check_set_name(Path(path).stem, f"--csv {path}")
    loaded = [readers[name]() for name in dict.fromkeys(args.sets)]
    framing = Framing(pad=args.csv_pad)
    loaded += [sets.read_labelled_csv(path, framing=framing, split=split) for path in args.csv]
    names = [s.name for s in loaded]
    if not loaded:
        raise UserInputError("no set chosen: give --sets and/or --csv")
    if len(set(names)) != len(names):
        raise UserInputError(f"two sets share a name in {names}; rename a CSV")
    return loaded


def set_inputs(args: argparse.Namespace) -> dict[str, object]:
    """Where the chosen sets are read from."""
    shared = {"fer2013": args.fer2013 or args.shared / "fer2013" / "fer2013.npz",
              "ckplus-au": args.shared / "ckplus-au", "diffusionfer-va": args.shared / "diffusionfer-va"}
    return {f"{name} set": shared[name] for name in dict.fromkeys(args.sets)} | {"--csv": args.csv}


def import_outputs(args: argparse.Namespace) -> list[Output]:
    """What an import writes into --out, and the folders whose earlier files it deletes or replaces."""
    replaces = "import-stills replaces an earlier import's files there"
    folders = [cleared_folder("--out", args.out, replaces, inside) for inside in ("by_set", FOLDS_DIR, "features")]
    cache = cleared_folder("--cache", args.cache, "import-stills writes its per-still features there") \
        if args.cache else cleared_folder("--out", args.out, "import-stills caches per-still features there", "stills")
    files = [written_file("--out", args.out, name) for name in (*SPLIT_FILES.values(), SUMMARY_FILE)]
    return [*folders, cache, *files]


def _seed(base: int, name: str, split: str, repeat: int, fold: int | None = None) -> int:
    # Stable per (set, split, repeat[, fold]): adding a set does not reshuffle the others.
    entropy = [base, zlib.crc32(name.encode()), SPLITS.index(split), repeat] + ([] if fold is None else [fold + 1])
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


@dataclass(frozen=True, eq=False)
class Part:
    """Stills of one set laid out as pseudo-videos for one annotation file (or several sharing them)."""

    split: str  # which file: train / val / test
    tag: str  # in the video names: "train", "fold2-val", ...
    index: np.ndarray  # the set's stills
    folders: tuple[str, ...]  # where the file is, relative to --out: "" and/or fold_dir(k)
    fold: int | None = None


def plan_parts(stills, splits: list[str], folds: int, seed: int) -> tuple[list[Part], dict[str, Any] | None]:
    """The parts a set is laid out in, and (for a set cross-validated by person) its folds' subjects."""
    folders = fold_dirs(folds)
    if not folders or stills.groups is None:
        return [Part(split, split, np.flatnonzero(stills.split == split),
                     ("",) + (folders if split != "test" else ())) for split in splits], None
    if not {"train", "val"} <= set(splits):
        raise UserInputError("--cv-folds needs the train and val splits")
    pooled = np.flatnonzero(np.isin(stills.split, ["train", "val"]))
    au = stills.labels.au[pooled]
    try:
        fold = fold_by_group(stills.groups[pooled], np.where(au > 0, 1, 0), folds, seed)
    except UserInputError as exc:
        raise UserInputError(f"{stills.name}: its train and val subjects: {exc}") from None
    parts = [Part("train", "train", pooled, ("",))]
    for k, folder in enumerate(folders):
        parts += [Part("train", f"fold{k + 1}-train", pooled[fold != k], (folder,), k),
                  Part("val", f"fold{k + 1}-val", pooled[fold == k], (folder,), k)]
    if "test" in splits:
        parts.append(Part("test", "test", np.flatnonzero(stills.split == "test"), ("",)))
    subjects = {str(k + 1): np.unique(stills.groups[pooled][fold == k]).tolist() for k in range(folds)}
    return parts, {"folds": folds, "seed": seed, "rule": "train+val subjects in folds, stratified by AU",
                   "subjects": subjects}


def run(args: argparse.Namespace) -> int:
    from affectstream.core.atomic import write_text_atomic
    from affectstream.core.features.store import FeatureStore
    from affectstream.core.labels import ACTION_UNITS, EXPRESSIONS
    from affectstream.training.annotations import write_annotations
    from affectstream.training.stills.extract import extract_set_features
    from affectstream.core.faces.native_logs import quiet_native_logs
    from affectstream.training.stills.sequences import SequenceOptions, build_pseudo_videos

    check_inputs_kept(set_inputs(args), import_outputs(args))
    options = SequenceOptions(tuple(args.hold), tuple(args.fade), args.frames_per_video, args.jitter, args.seed,
                              label_fades=args.label_fades)
    still_sets = load_sets(args)
    repeats = parse_repeats(args.repeat, [s.name for s in still_sets])
    unknown = sorted(set(args.mirror) - {s.name for s in still_sets})
    if unknown:
        raise UserInputError(f"--mirror {' '.join(unknown)}: not among the sets imported "
                             f"({', '.join(s.name for s in still_sets)})")
    if args.cv_folds == 1 or args.cv_folds < 0:
        raise UserInputError(f"--cv-folds {args.cv_folds}: give 2 or more folds (or 0 for none)")
    # Every set's layout first: a set that cannot be divided stops the import before anything is written.
    still_sets = [s.take(np.flatnonzero(np.isin(s.split, args.splits))) for s in still_sets]
    plans = [plan_parts(s, list(args.splits), args.cv_folds, args.split_seed) for s in still_sets]
    if args.cv_folds and not any(record for _, record in plans):
        raise UserInputError(f"--cv-folds: none of {', '.join(s.name for s in still_sets)} is split by subject "
                             "(ckplus-au, or a CSV with a subject column)")
    _check_every_file_has_stills(still_sets, plans, list(args.splits), args.cv_folds)
    check_writable_dir(args.out)  # before any still goes through the landmarker
    # An earlier import's annotation files and summaries go before this one writes a feature: an import that
    # fails or is stopped half-way leaves no files that `train` would pair with features they do not match.
    _forget_earlier_import(args.out, still_sets, list(args.splits))
    store = FeatureStore(args.out / "features")
    union: dict[tuple[str, str], dict] = {}
    summaries = []
    for stills, (parts, cv_record) in zip(still_sets, plans):
        with quiet_native_logs(not args.verbose):
            feats = extract_set_features(stills, args.extractors, args.cache or args.out / "stills", args.workers,
                                         progress=not args.no_progress)
            # One mirrored extraction for every still a training part may hold (cached chunks stay the same).
            train_idx = [p.index for p in parts if p.split == "train"]
            trained = np.unique(np.concatenate(train_idx)) if train_idx else np.array([], int)
            mirrored = (_mirrored(stills, trained, args)
                        if stills.name in args.mirror and len(trained) else None)
        for spec in feats.specs:
            store.write_spec(spec)
        info = stills.summary() | {"repeats_in_train": repeats[stills.name], "unreadable": feats.unreadable,
                                   "mirrored_in_train": mirrored is not None, "splits": {}}
        if cv_record:
            info["cross_validation"] = cv_record
        for part in parts:
            feats_part, labels = feats.take(part.index), stills.labels.take(part.index)
            if part.split == "train" and mirrored is not None and len(part.index):
                flipped = mirrored.take(np.searchsorted(trained, part.index))
                feats_part, labels = feats_part.joined(flipped), labels.joined(labels)
            if not feats_part.found.any():
                info["splits"][part.tag] = {"stills": len(part.index), "faces_found": 0, "videos": 0, "frames": 0}
                continue
            videos = []
            for repeat in range(repeats[stills.name] if part.split == "train" else 1):
                prefix = f"{stills.name}-{part.tag}" + (f"-r{repeat + 1:02d}" if repeat else "")
                seeded = replace(options, seed=_seed(args.seed, stills.name, part.split, repeat, part.fold))
                videos += build_pseudo_videos(prefix, labels, feats_part.found, feats_part.features, seeded,
                                              weak=args.weak_labels)
            for video in videos:
                for name, features in video.features.items():
                    store.write(name, video.name, features)
            by_video = {v.name: v.labels for v in videos}
            # Per-set files once, where the part belongs first (a fold's own CK+ part; the shared sets' at the top).
            write_annotations(by_set_file(args.out / part.folders[0], stills.name, part.split), by_video)
            for folder in part.folders:
                union.setdefault((folder, part.split), {}).update(by_video)
            info["splits"][part.tag] = _split_summary(len(feats_part.found), feats_part.found, videos, EXPRESSIONS,
                                                      ACTION_UNITS)
            print(f"{stills.name} {part.tag}: {int(feats_part.found.sum())}/{len(feats_part.found)} stills with a "
                  f"face -> {len(videos)} pseudo-videos, {info['splits'][part.tag]['frames']} frames")
        if feats.unreadable:
            print(f"{stills.name}: {len(feats.unreadable)} image(s) could not be read, e.g. "
                  f"{next(iter(feats.unreadable.values()))}")
        summaries.append(info)
    files = {}
    for folder in ("", *fold_dirs(args.cv_folds)):
        for split in args.splits:
            if folder and split == "test":
                continue
            videos = union.get((folder, split))
            if videos:
                files[args.out / folder / SPLIT_FILES[split]] = videos
            elif not (folder == "" and split == "val" and args.cv_folds):
                raise UserInputError(f"no {split} stills with a face in {', '.join(s.name for s in still_sets)}"
                                     + (f" for fold {folder.rsplit('/', 1)[-1]}" if folder else ""))
    if args.cv_folds and (args.out / SPLIT_FILES["val"]) not in files:
        (args.out / SPLIT_FILES["val"]).unlink(missing_ok=True)  # an earlier import's would not match this one
        print("no validation stills outside the folds: the top level has no validation file")
    for path, videos in files.items():
        write_annotations(path, videos)
    written = {split: SPLIT_FILES[split] for split in args.splits if args.out / SPLIT_FILES[split] in files}
    _remove_stale_folds(args.out, args.cv_folds)
    note = labels_note(summaries, args.weak_labels)
    summary = {"options": asdict(options), "extractors": list(args.extractors), "weak_labels": args.weak_labels,
               "labels_note": note, "sets": summaries, "annotations": written}
    for k in range(args.cv_folds):
        # Beside each fold's files, so `train` finds the data's terms and labels note there too.
        fold_summary = summary | {"fold": k + 1, "annotations": {s: SPLIT_FILES[s] for s in ("train", "val")}}
        write_text_atomic(args.out / fold_dir(k + 1) / SUMMARY_FILE, json.dumps(fold_summary, indent=2) + "\n")
    write_text_atomic(args.out / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
    print(f"labels: {note}")
    listed = ", ".join(str(args.out / name) for name in written.values())
    folds_note = f", folds 1-{args.cv_folds} under {args.out / FOLDS_DIR}" if args.cv_folds else ""
    print(f"wrote {listed}{folds_note} and {args.out / SUMMARY_FILE}")
    return 0


def _check_every_file_has_stills(still_sets, plans, splits: list[str], folds: int) -> None:
    """Each annotation file the import will write gets stills from some set (whether faces are found in them
    is known only after the landmarker)."""
    names = ", ".join(s.name for s in still_sets)
    have = {(folder, part.split) for parts, _ in plans for part in parts if len(part.index) for folder in part.folders}
    for folder in ("", *fold_dirs(folds)):
        for split in splits:
            if (folder and split == "test") or (folder == "" and split == "val" and folds):
                continue  # folds have no test; with folds, the top level may have no validation file
            if (folder, split) not in have:
                raise UserInputError(f"no {split} stills in {names}" + (f" for fold {folder.rsplit('/', 1)[-1]}"
                                     if folder else "") + f"; leave {split} out of --splits, or give stills of it")


def _forget_earlier_import(out: Path, still_sets, splits: list[str]) -> None:
    """The annotation files of the splits this import writes, and the summaries (another split's files stay:
    their pseudo-videos, and so their features, are not written again)."""
    folders = [out] + (sorted(p for p in (out / FOLDS_DIR).iterdir() if p.is_dir())
                       if (out / FOLDS_DIR).is_dir() else [])
    for folder in folders:
        for split in splits:
            (folder / SPLIT_FILES[split]).unlink(missing_ok=True)
            for stills in still_sets:
                by_set_file(folder, stills.name, split).unlink(missing_ok=True)
        (folder / SUMMARY_FILE).unlink(missing_ok=True)


def _remove_stale_folds(out: Path, folds: int) -> None:
    """Folds of an earlier import into this folder beyond this one's count: they would be taken for its own."""
    root = out / FOLDS_DIR
    stale = [p for p in root.iterdir() if p.is_dir() and not (p.name.isascii() and p.name.isdigit() and 1 <= int(p.name) <= folds)] \
        if root.is_dir() else []
    for path in stale:
        shutil.rmtree(path)
    if root.is_dir() and not folds and not any(root.iterdir()):
        root.rmdir()


def _mirrored(stills, index: np.ndarray, args: argparse.Namespace):
    """Features of these training stills seen in a mirror (cached like the others); their labels do not change."""
    from affectstream.training.stills.extract import extract_set_features

    train = stills.take(index)
    flipped = replace(train, framing=replace(train.framing, mirror=True))
    return extract_set_features(flipped, args.extractors, args.cache or args.out / "stills", args.workers,
                                progress=not args.no_progress)


def _split_summary(stills: int, found: np.ndarray, videos: list, expressions, action_units) -> dict[str, Any]:
    expr = np.concatenate([v.labels.expr for v in videos])
    au = np.concatenate([v.labels.au for v in videos])
    va = np.concatenate([v.labels.va for v in videos])
    known = au_labelled(au)  # each AU on its own: a frame may have some AUs labelled and not others
    frames_with_au = int(au_any_labelled(au).sum())
    base_rate = np.divide((au == 1).sum(axis=0), known.sum(axis=0), out=np.full(au.shape[1], np.nan),
                          where=known.any(axis=0))
    return {
        "stills": stills, "faces_found": int(found.sum()), "videos": len(videos), "frames": int(len(expr)),
        "frames_with": {"va": int((va[:, 0] != -5).sum()), "expr": int((expr >= 0).sum()), "au": frames_with_au},
        "expression_frames": dict(zip(expressions, np.bincount(expr[expr >= 0], minlength=len(expressions)).tolist())),
        "au_base_rate": ({a: (None if np.isnan(r) else round(float(r), 4)) for a, r in zip(action_units, base_rate)}
                         if frames_with_au else None),
    }
