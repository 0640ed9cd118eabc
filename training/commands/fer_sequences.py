"""`affectstream fer-sequences`: ABAW-format training data from FER2013 stills, for `affectstream train`.

Writes, under --out:

* ``features/<extractor>/`` — a feature store (what `affectstream extract` writes), with
  features computed by the live path (landmarker -> extractor chain) on each still;
* ``training_set_annotations.txt`` (FER2013 Training), ``validation_set_annotations.txt``
  (PublicTest) and ``test_set_annotations.txt`` (PrivateTest), in the ABAW MTL layout;
* ``summary.json`` — stills used per split, frames, label base rates.

Expression labels are FER2013's own (real); valence/arousal and AUs are weak labels
(training.stills.weak_labels). Per-still features are cached in ``stills/`` chunks,
so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from training.fer.data import DEFAULT_NPZ

SPLIT_FILES = {
    "Training": "training_set_annotations.txt",
    "PublicTest": "validation_set_annotations.txt",
    "PrivateTest": "test_set_annotations.txt",
}
PREFIXES = {"Training": "fer-train", "PublicTest": "fer-val", "PrivateTest": "fer-test"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=DEFAULT_NPZ, help="fer2013.npz (default: ../shared/data/fer2013)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (resumed when it exists)")
    # expr-cnn-fast, not expr-cnn: the default live model runs on these features, and the accurate
    # expr-cnn's six passes per face (int8) would cost live and `annotate` their frame-rate targets.
    parser.add_argument("--extractors", nargs="+", default=["blendshapes", "expr-cnn-fast"],
                        help="feature extractors, in order (blendshapes is required for the weak AU labels)")
    parser.add_argument("--hold", type=int, nargs=2, default=(8, 32), metavar=("MIN", "MAX"),
                        help="frames a still is held")
    parser.add_argument("--fade", type=int, nargs=2, default=(0, 8), metavar=("MIN", "MAX"),
                        help="frames of a cross-fade to the next still")
    parser.add_argument("--frames-per-video", type=int, default=1500)
    parser.add_argument("--jitter", type=float, default=0.1, help="per-frame noise, in units of each feature's spread")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="processes for feature extraction")
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from core.atomic import write_text_atomic
    from core.expression_cnn import FER_TO_ABAW
    from core.features.store import FeatureStore
    from core.labels import ACTION_UNITS, EXPRESSIONS
    from training.annotations import write_annotations
    from training.fer.data import load_fer2013
    from training.stills.extract import extract_still_features
    from training.stills.sequences import SequenceOptions, build_pseudo_videos

    options = SequenceOptions(tuple(args.hold), tuple(args.fade), args.frames_per_video, args.jitter, args.seed)
    splits = load_fer2013(args.data)
    store = FeatureStore(args.out / "features")
    summary = {"options": asdict(options), "extractors": list(args.extractors), "splits": {}}
    for offset, (split, filename) in enumerate(SPLIT_FILES.items()):
        data = splits[split]
        stills = extract_still_features(split, data.images.numpy(), args.extractors, args.out / "stills",
                                        args.workers, progress=not args.no_progress)
        for spec in stills.specs:
            store.write_spec(spec)
        expressions = np.asarray(FER_TO_ABAW)[data.labels.numpy()]
        # Each split gets its own seed, so validation is not laid out like training.
        videos = build_pseudo_videos(PREFIXES[split], expressions, stills.found, stills.features,
                                     replace(options, seed=options.seed + offset))
        for video in videos:
            for name, features in video.features.items():
                store.write(name, video.name, features)
        write_annotations(args.out / filename, {v.name: v.labels for v in videos})
        aus = np.concatenate([v.labels.au for v in videos])
        expr = np.concatenate([v.labels.expr for v in videos])
        summary["splits"][split] = {
            "stills": len(data), "faces_found": int(stills.found.sum()), "videos": len(videos),
            "frames": int(len(expr)), "annotations": filename,
            "expression_frames": dict(zip(EXPRESSIONS, np.bincount(expr, minlength=len(EXPRESSIONS)).tolist())),
            "au_base_rate": dict(zip(ACTION_UNITS, np.round(aus.mean(axis=0), 4).tolist())),
        }
        print(f"{split}: {int(stills.found.sum())}/{len(data)} stills with a face -> {len(videos)} pseudo-videos, "
              f"{len(expr)} frames -> {args.out / filename}")
    write_text_atomic(args.out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return 0
