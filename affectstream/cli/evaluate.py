"""`affectstream evaluate`: P_MTL, CCC, expression F1 and confusion, per-AU F1, for a model or an ensemble.

The work is affectstream.training.evaluate_run; a video left out because its features cannot be read exits 1.
"""

from __future__ import annotations

import argparse

from affectstream.cli._models import add_model_arguments, model_choice
from affectstream.cli._types import fraction, output_text
from affectstream.training.evaluate_run import EvaluateOptions, evaluate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--annotations", required=True, help="labelled frames (ABAW annotation file)")
    parser.add_argument("--features", required=True, help="feature store folder")
    parser.add_argument("--out", type=output_text, help="folder for metrics.json and evaluation.png")
    parser.add_argument("--retune", action="store_true",
                        help="re-tune AU thresholds and the smoothing window on these labels "
                             "(default for several --checkpoint; use validation data only)")
    parser.add_argument("--au-neutral-cap", type=fraction, default=None, metavar="RATE",
                        help="with re-tuning, as `train`: each AU may be on in at most this share of the frames "
                             "labelled Neutral, where any threshold can")
    parser.add_argument("--save-ensemble", type=output_text, metavar="FILE",
                        help="write the (re-tuned) ensemble for `predict`")
    parser.add_argument("--baseline", metavar="BACKBONE",
                        help="also score this backbone alone: the argmax of the expression probabilities "
                             "in its features (e.g. expr-cnn), on the same frames")
    parser.add_argument("--no-progress", action="store_true")


def options_from_args(args: argparse.Namespace) -> EvaluateOptions:
    return EvaluateOptions(model=model_choice(args), annotations=args.annotations, features=args.features,
                           out=args.out, retune=args.retune, au_neutral_cap=args.au_neutral_cap,
                           save_ensemble=args.save_ensemble, baseline=args.baseline, progress=not args.no_progress)


def run(args: argparse.Namespace) -> int:
    return 1 if evaluate(options_from_args(args)).videos_left_out else 0
