"""`affectstream merge-models`: several trained GRU/LSTM models as one checkpoint computing their mean.

The work is affectstream.training.merge_run.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from affectstream.cli._types import fraction, output_text

if TYPE_CHECKING:
    from affectstream.training.merge_run import MergeOptions


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoints", nargs="+", metavar="CKPT", help="two or more models trained on the same features")
    parser.add_argument("--val", required=True, help="validation_set_annotations.txt: scores, thresholds, smoothing")
    parser.add_argument("--features", required=True, help="the feature store of --val")
    parser.add_argument("--out", type=output_text, required=True,
                        help="output folder (best.safetensors); a merge there is replaced, anything else is refused")
    parser.add_argument("--name", default="", help="model name (default: the first member's)")
    parser.add_argument("--max-lag-ms", type=float, default=150.0, help="as `train`: the filters' largest step lag")
    parser.add_argument("--smoothing-videos", nargs="+", default=[], metavar="VIDEO",
                        help="real videos on which to measure the jitter the filters remove (default: validation)")
    parser.add_argument("--au-neutral-cap", type=fraction, default=None, metavar="RATE",
                        help="as `train`: the AU thresholds may switch an AU on for at most this share of the "
                             "validation frames labelled Neutral, where any threshold can")


def options_from_args(args: argparse.Namespace) -> MergeOptions:
    # Imported here: the merge loads torch, which `merge-models --help` does not need.
    from affectstream.training.merge_run import MergeOptions, member_paths

    return MergeOptions(member_paths(args.checkpoints), args.val, args.features, args.out, args.name,
                        args.max_lag_ms, tuple(args.smoothing_videos), au_neutral_cap=args.au_neutral_cap)


def run(args: argparse.Namespace) -> int:
    from affectstream.training.merge_run import merge_run

    merge_run(options_from_args(args))
    return 0
