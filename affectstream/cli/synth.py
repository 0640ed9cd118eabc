"""`affectstream synth`: a synthetic ABAW-format data set (annotations + feature store)."""

from __future__ import annotations

import argparse

from affectstream.cli._types import output_text, seed
from affectstream.training.synth_run import SynthOptions, synth
from affectstream.training.synthetic import SyntheticConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=output_text, required=True,
                        help="folder to write annotations/ and features/ into")
    parser.add_argument("--train-videos", type=int, default=SyntheticConfig.train_videos)
    parser.add_argument("--val-videos", type=int, default=SyntheticConfig.val_videos)
    parser.add_argument("--min-frames", type=int, default=SyntheticConfig.min_frames)
    parser.add_argument("--max-frames", type=int, default=SyntheticConfig.max_frames)
    parser.add_argument("--seed", type=seed, default=0)


def options_from_args(args: argparse.Namespace) -> SynthOptions:
    return SynthOptions(args.out, SyntheticConfig(train_videos=args.train_videos, val_videos=args.val_videos,
                                                  min_frames=args.min_frames, max_frames=args.max_frames,
                                                  seed=args.seed))


def run(args: argparse.Namespace) -> int:
    synth(options_from_args(args))
    return 0
