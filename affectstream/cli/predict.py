"""`affectstream predict`: predictions in the ABAW submission layout.

The work is affectstream.training.predict_run; a video left out because its features cannot be read exits 1.
"""

from __future__ import annotations

import argparse

from affectstream.cli._models import add_model_arguments, model_choice
from affectstream.cli._types import output_text
from affectstream.training.predict_run import PredictOptions, predict


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--features", required=True, help="feature store folder")
    parser.add_argument("--frames", help="the frames to predict: an ABAW annotation or frame-list file "
                                         "(first column <video>/<frame>.jpg). Default: every frame in the store")
    parser.add_argument("--out", type=output_text, required=True, help="submission file to write")
    parser.add_argument("--no-smooth", action="store_true", help="leave valence/arousal unsmoothed")
    parser.add_argument("--no-progress", action="store_true")


def options_from_args(args: argparse.Namespace) -> PredictOptions:
    return PredictOptions(model=model_choice(args), features=args.features, out=args.out, frames=args.frames,
                          smooth=not args.no_smooth, progress=not args.no_progress)


def run(args: argparse.Namespace) -> int:
    return 1 if predict(options_from_args(args)).failures else 0
