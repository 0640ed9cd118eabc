"""`affectstream import-afew-va`: AFEW-VA clips (real film video, per-frame human valence/arousal) -> ABAW-format
training data for `affectstream train`.

The import itself, and what it writes under --out, is affectstream.training.afew_va_import; this maps the
options onto it. Exit status 1 when a clip could not be read or extracted (the others are imported).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from affectstream.cli._types import output_path, positive_int, positive_number, seed
from affectstream.core.default_model import DEFAULT_FEATURES
from affectstream.training.afew_va_import import ImportAfewVaOptions, import_afew_va
from affectstream.training.stills.splits import GroupSplit


def add_arguments(parser: argparse.ArgumentParser) -> None:
    inputs = parser.add_argument_group("inputs")
    inputs.add_argument("root", type=Path, help="AFEW-VA folder: one <clip>/ folder per clip, holding <clip>.json "
                                                "and its frames (or a single clip folder)")
    inputs.add_argument("--join", type=Path, metavar="DIR",
                        help="an import-stills output to join: the clips' features go into its store and the "
                             "annotation files in --out hold its frames and the clips' (DIR is not changed)")
    splits = parser.add_argument_group("splits (by person)")
    splits.add_argument("--split-seed", type=seed, default=0, help="seed of the by-person split")
    splits.add_argument("--split-fractions", type=positive_number, nargs=3, default=(0.6, 0.2, 0.2),
                        metavar=("TRAIN", "VAL", "TEST"), help="shares of rated frames per split, whole persons each")
    features = parser.add_argument_group("features")
    features.add_argument("--features", type=Path,
                          help="feature store to write the clips into (default: <out>/features, or --join's store)")
    features.add_argument("--extractors", nargs="+",
                          help="feature extractors, in order (default: --join's, else the default model's, "
                               f"{' '.join(DEFAULT_FEATURES)})")
    features.add_argument("--fps", type=float, default=25.0,
                          help="frame rate of the clips (default 25, as the films were shown; it sets timestamps only)")
    features.add_argument("--overwrite", action="store_true",
                          help="extract again the clips that changed since their features were stored (without it "
                               "they are left out, named, and the others imported)")
    features.add_argument("--workers", type=positive_int, default=2, help="processes for feature extraction")
    features.add_argument("--verbose", action="store_true", help="show MediaPipe's own log lines")
    output = parser.add_argument_group("output")
    output.add_argument("--out", type=output_path, required=True, help="output folder (resumed when it exists)")
    output.add_argument("--no-progress", action="store_true")


def options_from_args(args: argparse.Namespace) -> ImportAfewVaOptions:
    return ImportAfewVaOptions(
        root=args.root, out=args.out, join=args.join, features=args.features, extractors=tuple(args.extractors or ()),
        fps=args.fps, split=GroupSplit(tuple(args.split_fractions), args.split_seed), overwrite=args.overwrite)


def run(args: argparse.Namespace) -> int:
    result = import_afew_va(options_from_args(args), workers=args.workers, progress=not args.no_progress,
                            verbose=args.verbose)
    return 1 if result.left_out else 0
