"""`affectstream import-stills`: labelled still-image sets -> ABAW-format training data for `affectstream train`.

The import itself, and what it writes under --out, is
affectstream.training.stills.importer; this maps the options onto it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NamedTuple

from affectstream.cli._types import number_up_to, output_path, positive_int, positive_number, seed
from affectstream.core.default_model import DEFAULT_FEATURES
from affectstream.training.stills.importer import MAX_JITTER, ImportStillsOptions, import_stills
from affectstream.training.stills.inputs import SHARED, SHARED_SETS
from affectstream.training.stills.sequences import SequenceOptions
from affectstream.training.stills.sets import AU27_RULES
from affectstream.training.stills.splits import SPLITS, GroupSplit


class OptionGroups(NamedTuple):
    """The sections of --help (fer-sequences adds its --data to ``inputs``)."""

    inputs: argparse._ArgumentGroup
    labels: argparse._ArgumentGroup
    videos: argparse._ArgumentGroup
    features: argparse._ArgumentGroup
    output: argparse._ArgumentGroup


def add_arguments(parser: argparse.ArgumentParser) -> OptionGroups:
    groups = OptionGroups(parser.add_argument_group("inputs: the labelled sets"),
                          parser.add_argument_group("labels and splits"),
                          parser.add_argument_group("pseudo-videos"),
                          parser.add_argument_group("features"),
                          parser.add_argument_group("output"))
    inputs, labels, videos, features, output = groups
    inputs.add_argument("--sets", nargs="*", default=list(SHARED_SETS), choices=SHARED_SETS, metavar="SET",
                        help=f"labelled sets from --shared: {', '.join(SHARED_SETS)} (default: all three)")
    inputs.add_argument("--csv", action="append", default=[], metavar="FILE",
                        help="a labelled CSV of your own stills (layout in the README); repeatable")
    inputs.add_argument("--shared", type=Path, default=SHARED, help="folder holding the shared sets")
    inputs.add_argument("--fer2013", type=Path, help="fer2013.npz (default: <shared>/fer2013/fer2013.npz)")
    inputs.add_argument("--csv-pad", type=float, default=0.25,
                        help="border added around your CSV's images for the detector, as a share of the longer side")
    labels.add_argument("--ckplus-au27", choices=AU27_RULES, default="au26-negative",
                        help="how a CK+ frame coded AU27 (mouth stretch) counts for AU26 (jaw drop): FACS scores the "
                             "two as alternatives, so 'au26-missing' leaves AU26 unlabelled there; 'au26-negative' "
                             "(default) keeps CK+'s 0")
    labels.add_argument("--weak-labels", action="store_true",
                        help="fill MISSING valence/arousal with a hand-placed point per expression class and missing "
                             "AUs with a blendshape rule: WEAK labels, not measurements (named so in the outputs)")
    labels.add_argument("--splits", nargs="+", default=list(SPLITS), choices=SPLITS,
                        help="only these splits (e.g. test, to score a model without extracting training stills)")
    labels.add_argument("--split-seed", type=seed, default=0, help="seed of the by-subject splits (CK+, CSVs)")
    labels.add_argument("--split-fractions", type=positive_number, nargs=3, default=(0.6, 0.2, 0.2),
                        metavar=("TRAIN", "VAL", "TEST"), help="shares of subjects in the by-subject splits")
    labels.add_argument("--cv-folds", type=int, default=0, metavar="K",
                        help="cross-validate the sets split by subject (CK+, CSVs with a subject column) in K folds of "
                             "their train+val subjects, written under <out>/folds/<k>/; the top-level training file "
                             "then holds all of those subjects (see the README)")
    videos.add_argument("--hold", type=int, nargs=2, default=(8, 32), metavar=("MIN", "MAX"),
                        help="frames a still is held")
    videos.add_argument("--fade", type=int, nargs=2, default=(6, 15), metavar=("MIN", "MAX"),
                        help="frames of the gradual change to the next still (6-15: 200-500 ms at 30 fps)")
    videos.add_argument("--frames-per-video", type=int, default=1500, help="frames of a pseudo-video at most")
    videos.add_argument("--jitter", type=number_up_to(MAX_JITTER, 0.0, above_least=False), default=0.1,
                        help=f"per-frame noise, in units of each feature's spread (0 to {MAX_JITTER:g})")
    videos.add_argument("--label-fades", action="store_true",
                        help="label the frames inside a change too (expression and AUs switch at its midpoint, "
                             "valence/arousal interpolated): made-up values, for comparisons only")
    videos.add_argument("--repeat", action="append", default=[], metavar="SET=N",
                        help="lay a set's training stills out N times (fresh order, holds and noise each time), "
                             "so small sets are not drowned by large ones; e.g. ckplus-au=20")
    videos.add_argument("--seed", type=seed, default=0, help="seed of the order, holds and noise of the stills")
    # The default model's features, not expr-cnn: the accurate ensemble's six passes per face would cost
    # live analysis and `annotate` their frame-rate targets.
    features.add_argument("--extractors", nargs="+", default=list(DEFAULT_FEATURES),
                          help="feature extractors, in order (default: the default model's, "
                               f"{' '.join(DEFAULT_FEATURES)})")
    features.add_argument("--mirror", nargs="+", default=[], metavar="SET",
                          help="add each training still of these sets a second time, mirrored left-right (a real "
                               "second view: its labels do not change in a mirror); validation and test stills are "
                               "not mirrored")
    features.add_argument("--cache", type=Path,
                          help="per-still feature cache (default: <out>/stills); share it between imports that differ "
                               "only in how pseudo-videos are laid out")
    features.add_argument("--workers", type=positive_int, default=2, help="processes for feature extraction")
    features.add_argument("--verbose", action="store_true", help="show MediaPipe's own log lines")
    output.add_argument("--out", type=output_path, required=True, help="output folder (resumed when it exists)")
    output.add_argument("--no-progress", action="store_true")
    return groups


def options_from_args(args: argparse.Namespace) -> ImportStillsOptions:
    return ImportStillsOptions(
        out=args.out, sets=tuple(args.sets), csv=tuple(args.csv), shared=args.shared, fer2013=args.fer2013,
        cache=args.cache, extractors=tuple(args.extractors),
        sequences=SequenceOptions(tuple(args.hold), tuple(args.fade), args.frames_per_video, args.jitter, args.seed,
                                  label_fades=args.label_fades),
        repeat=tuple(args.repeat), mirror=tuple(args.mirror),
        split=GroupSplit(tuple(args.split_fractions), args.split_seed), cv_folds=args.cv_folds,
        ckplus_au27=args.ckplus_au27, csv_pad=args.csv_pad, splits=tuple(args.splits), weak_labels=args.weak_labels)


def run(args: argparse.Namespace) -> int:
    import_stills(options_from_args(args), workers=args.workers, progress=not args.no_progress, verbose=args.verbose)
    return 0
