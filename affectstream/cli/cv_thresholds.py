"""`affectstream cv-thresholds`: a model's AU thresholds from its cross-validation folds' out-of-fold predictions.

The work is affectstream.training.thresholds_run.
"""

from __future__ import annotations

import argparse

from affectstream.cli._types import fraction, output_text
from affectstream.training.thresholds_run import DEFAULT_NEUTRAL_CAP, CvThresholdsOptions, cv_thresholds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="the final model, trained on all the folds' subjects (its thresholds are replaced)")
    parser.add_argument("--folds", nargs="+", required=True, metavar="CKPT",
                        help="fold 1's model, fold 2's, ... (each trained on <data>/folds/<k>/)")
    parser.add_argument("--data", required=True, help="the import-stills --cv-folds output folder")
    parser.add_argument("--out", type=output_text, help="write the model here instead of updating it in place")
    parser.add_argument("--neutral-cap", type=fraction, metavar="RATE",
                        help="only thresholds that switch each AU on in at most this share of the validation frames "
                             "raters labelled Neutral (each expression-labelled set on its own) compete; where no "
                             "threshold manages that, those that fire least do (CK+ shows F1 no face at rest). "
                             f"Default {DEFAULT_NEUTRAL_CAP} where the import has such frames; 1 turns it off")


def options_from_args(args: argparse.Namespace) -> CvThresholdsOptions:
    return CvThresholdsOptions(model=args.model, folds=tuple(args.folds), data=args.data, out=args.out,
                               neutral_cap=args.neutral_cap)


def run(args: argparse.Namespace) -> int:
    cv_thresholds(options_from_args(args))
    return 0
