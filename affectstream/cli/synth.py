"""`affectstream synth`: a synthetic ABAW-format data set (annotations + feature store)."""

from __future__ import annotations

import argparse

from affectstream.training.synthetic import SyntheticConfig, write_synthetic
from affectstream.cli._types import output_text, seed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=output_text, required=True,
                        help="folder to write annotations/ and features/ into")
    parser.add_argument("--train-videos", type=int, default=SyntheticConfig.train_videos)
    parser.add_argument("--val-videos", type=int, default=SyntheticConfig.val_videos)
    parser.add_argument("--min-frames", type=int, default=SyntheticConfig.min_frames)
    parser.add_argument("--max-frames", type=int, default=SyntheticConfig.max_frames)
    parser.add_argument("--seed", type=seed, default=0)


def run(args: argparse.Namespace) -> int:
    cfg = SyntheticConfig(
        train_videos=args.train_videos,
        val_videos=args.val_videos,
        min_frames=args.min_frames,
        max_frames=args.max_frames,
        seed=args.seed,
    )
    data = write_synthetic(args.out, cfg)
    print(f"annotations: {data.train_annotations}, {data.val_annotations}")
    print(f"features:    {data.features} (backbones: {' '.join(data.backbones)})")
    return 0
