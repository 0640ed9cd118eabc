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

Per-still features are cached under ``stills/`` in chunks, so an interrupted run
resumes and a second run with other sequence options extracts nothing again.
"""

from __future__ import annotations

import argparse
import json
import zlib
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from affectstream.training.stills import SUMMARY_FILE
from affectstream.default_model import DEFAULT_FEATURES
from affectstream.errors import UserInputError
from affectstream.training.stills.framing import Framing
from affectstream.training.stills.splits import SPLITS, GroupSplit

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
SHARED_SETS = ("fer2013", "ckplus-au", "diffusionfer-va")
SPLIT_FILES = {"train": "training_set_annotations.txt", "val": "validation_set_annotations.txt",
               "test": "test_set_annotations.txt"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sets", nargs="*", default=list(SHARED_SETS), choices=SHARED_SETS, metavar="SET",
                        help=f"labelled sets from --shared: {', '.join(SHARED_SETS)} (default: all three)")
    parser.add_argument("--csv", action="append", default=[], metavar="FILE",
                        help="a labelled CSV of your own stills (layout in the README); repeatable")
    parser.add_argument("--shared", type=Path, default=SHARED, help="folder holding the shared sets")
    parser.add_argument("--fer2013", type=Path, help="fer2013.npz (default: <shared>/fer2013/fer2013.npz)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (resumed when it exists)")
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
    parser.add_argument("--jitter", type=float, default=0.1, help="per-frame noise, in units of each feature's spread")
    parser.add_argument("--label-fades", action="store_true",
                        help="label the frames inside a change too (expression and AUs switch at its midpoint, "
                             "valence/arousal interpolated): made-up values, for comparisons only")
    parser.add_argument("--repeat", action="append", default=[], metavar="SET=N",
                        help="lay a set's training stills out N times (fresh order, holds and noise each time), "
                             "so small sets are not drowned by large ones; e.g. ckplus-au=20")
    parser.add_argument("--mirror", nargs="+", default=[], metavar="SET",
                        help="add each training still of these sets a second time, mirrored left-right (a real second "
                             "view: its labels do not change in a mirror); validation and test stills are not mirrored")
    parser.add_argument("--split-seed", type=int, default=0, help="seed of the by-subject splits (CK+, CSVs)")
    parser.add_argument("--split-fractions", type=float, nargs=3, default=(0.6, 0.2, 0.2),
                        metavar=("TRAIN", "VAL", "TEST"), help="shares of subjects in the by-subject splits")
    parser.add_argument("--csv-pad", type=float, default=0.25,
                        help="border added around your CSV's images for the detector, as a share of the longer side")
    parser.add_argument("--splits", nargs="+", default=list(SPLITS), choices=SPLITS,
                        help="only these splits (e.g. test, to score a model without extracting training stills)")
    parser.add_argument("--weak-labels", action="store_true",
                        help="fill MISSING valence/arousal with a hand-placed point per expression class and missing "
                             "AUs with a blendshape rule: WEAK labels, not measurements (named so in the outputs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="processes for feature extraction")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="show MediaPipe's own log lines")


def parse_repeats(items: list[str], names: list[str]) -> dict[str, int]:
    repeats = {name: 1 for name in names}
    for item in items:
        name, eq, count = item.partition("=")
        if not eq or name not in repeats or not count.isdigit() or int(count) < 1:
            raise UserInputError(f"--repeat {item!r}: expected SET=N with N >= 1 and SET one of {', '.join(names)}")
        repeats[name] = int(count)
    return repeats


def load_sets(args: argparse.Namespace) -> list:
    from affectstream.training.stills import sets

    split = GroupSplit(tuple(args.split_fractions), args.split_seed)
    readers = {
        "fer2013": lambda: sets.read_fer2013(args.fer2013 or args.shared / "fer2013" / "fer2013.npz"),
        "ckplus-au": lambda: sets.read_ckplus_au(args.shared / "ckplus-au", split),
        "diffusionfer-va": lambda: sets.read_diffusionfer_va(args.shared / "diffusionfer-va"),
    }
    loaded = [readers[name]() for name in dict.fromkeys(args.sets)]
    framing = Framing(pad=args.csv_pad)
    loaded += [sets.read_labelled_csv(path, framing=framing, split=split) for path in args.csv]
    names = [s.name for s in loaded]
    if not loaded:
        raise UserInputError("no set chosen: give --sets and/or --csv")
    if len(set(names)) != len(names):
        raise UserInputError(f"two sets share a name in {names}; rename a CSV")
    return loaded


def _seed(base: int, name: str, split: str, repeat: int) -> int:
    # Stable per (set, split, repeat): adding a set does not reshuffle the others.
    entropy = [base, zlib.crc32(name.encode()), SPLITS.index(split), repeat]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def labels_note(summaries: list[dict[str, Any]], weak: bool) -> str:
    """Which tasks learn from which sets, for the checkpoint and the app's status bar."""
    parts = []
    for task in ("valence/arousal", "expression", "action units"):
        sources = [s["name"] for s in summaries if task in s["real_labels"]]
        if sources:
            parts.append(f"{task} real ({', '.join(sources)})")
    if weak:
        parts.append("missing valence/arousal and AUs filled with WEAK rule-made labels")
    return "; ".join(parts)


def run(args: argparse.Namespace) -> int:
    from affectstream.atomic import write_text_atomic
    from affectstream.features.store import FeatureStore
    from affectstream.labels import ACTION_UNITS, EXPRESSIONS
    from affectstream.training.annotations import write_annotations
    from affectstream.training.stills.extract import extract_set_features
    from affectstream.training.native_logs import quiet_native_logs
    from affectstream.training.stills.sequences import SequenceOptions, build_pseudo_videos

    options = SequenceOptions(tuple(args.hold), tuple(args.fade), args.frames_per_video, args.jitter, args.seed,
                              label_fades=args.label_fades)
    still_sets = load_sets(args)
    repeats = parse_repeats(args.repeat, [s.name for s in still_sets])
    unknown = sorted(set(args.mirror) - {s.name for s in still_sets})
    if unknown:
        raise UserInputError(f"--mirror {' '.join(unknown)}: not among the sets imported "
                             f"({', '.join(s.name for s in still_sets)})")
    store = FeatureStore(args.out / "features")
    union: dict[str, dict] = {split: {} for split in args.splits}
    summaries = []
    for stills in still_sets:
        stills = stills.take(np.flatnonzero(np.isin(stills.split, args.splits)))
        with quiet_native_logs(not args.verbose):
            feats = extract_set_features(stills, args.extractors, args.cache or args.out / "stills", args.workers,
                                         progress=not args.no_progress)
            mirrored = _mirrored_train(stills, args) if stills.name in args.mirror else None
        for spec in feats.specs:
            store.write_spec(spec)
        info = stills.summary() | {"repeats_in_train": repeats[stills.name], "unreadable": feats.unreadable,
                                   "mirrored_in_train": mirrored is not None, "splits": {}}
        for split in args.splits:
            index = np.flatnonzero(stills.split == split)
            part, labels = feats.take(index), stills.labels.take(index)
            if split == "train" and mirrored is not None:
                part, labels = part.joined(mirrored[0]), labels.joined(mirrored[1])
            if not part.found.any():
                info["splits"][split] = {"stills": len(index), "faces_found": 0, "videos": 0, "frames": 0}
                continue
            videos = []
            for repeat in range(repeats[stills.name] if split == "train" else 1):
                prefix = f"{stills.name}-{split}" + (f"-r{repeat + 1:02d}" if repeat else "")
                seeded = replace(options, seed=_seed(args.seed, stills.name, split, repeat))
                videos += build_pseudo_videos(prefix, labels, part.found, part.features, seeded, weak=args.weak_labels)
            for video in videos:
                for name, features in video.features.items():
                    store.write(name, video.name, features)
            by_video = {v.name: v.labels for v in videos}
            write_annotations(args.out / "by_set" / f"{stills.name}_{split}.txt", by_video)
            union[split].update(by_video)
            info["splits"][split] = _split_summary(len(part.found), part.found, videos, EXPRESSIONS, ACTION_UNITS)
            print(f"{stills.name} {split}: {int(part.found.sum())}/{len(part.found)} stills with a face -> "
                  f"{len(videos)} pseudo-videos, {info['splits'][split]['frames']} frames")
        if feats.unreadable:
            print(f"{stills.name}: {len(feats.unreadable)} image(s) could not be read, e.g. "
                  f"{next(iter(feats.unreadable.values()))}")
        summaries.append(info)
    for split in args.splits:
        filename = SPLIT_FILES[split]
        if not union[split]:
            raise UserInputError(f"no {split} stills with a face in {', '.join(s.name for s in still_sets)}")
        write_annotations(args.out / filename, union[split])
    note = labels_note(summaries, args.weak_labels)
    summary = {"options": asdict(options), "extractors": list(args.extractors), "weak_labels": args.weak_labels,
               "labels_note": note, "sets": summaries,
               "annotations": {split: SPLIT_FILES[split] for split in args.splits}}
    write_text_atomic(args.out / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
    print(f"labels: {note}")
    written = ", ".join(str(args.out / SPLIT_FILES[split]) for split in args.splits)
    print(f"wrote {written} and {args.out / SUMMARY_FILE}")
    return 0


def _mirrored_train(stills, args: argparse.Namespace):
    """Features and labels of the set's training stills seen in a mirror (cached like the others)."""
    from affectstream.training.stills.extract import extract_set_features

    train = stills.take(np.flatnonzero(stills.split == "train"))
    if not len(train):
        return None
    flipped = replace(train, framing=replace(train.framing, mirror=True))
    feats = extract_set_features(flipped, args.extractors, args.cache or args.out / "stills", args.workers,
                                 progress=not args.no_progress)
    return feats, train.labels


def _split_summary(stills: int, found: np.ndarray, videos: list, expressions, action_units) -> dict[str, Any]:
    expr = np.concatenate([v.labels.expr for v in videos])
    au = np.concatenate([v.labels.au for v in videos])
    va = np.concatenate([v.labels.va for v in videos])
    au_known = au[(au >= 0).all(axis=1)]
    return {
        "stills": stills, "faces_found": int(found.sum()), "videos": len(videos), "frames": int(len(expr)),
        "frames_with": {"va": int((va[:, 0] != -5).sum()), "expr": int((expr >= 0).sum()), "au": len(au_known)},
        "expression_frames": dict(zip(expressions, np.bincount(expr[expr >= 0], minlength=len(expressions)).tolist())),
        "au_base_rate": (dict(zip(action_units, np.round(au_known.mean(axis=0), 4).tolist()))
                         if len(au_known) else None),
    }
