"""`affectstream fit-au`: a trained model's AU output replaced by a calibrated linear readout.

The work is affectstream.training.au_fit_run.
"""

from __future__ import annotations

import argparse

from affectstream.cli._types import output_text
from affectstream.training.au_fit_run import FitAUOptions, fit_au
from affectstream.training.au_readout import CALIBRATIONS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a trained basic-framework model (e.g. merge-models' output)")
    parser.add_argument("--data", required=True, help="an import-stills output with the expression-labelled sets' "
                                                      "validation split (the Neutral frames of the cap)")
    parser.add_argument("--out", type=output_text, required=True, help="the model to write")
    parser.add_argument("--shared", default="../shared/data", help="folder holding ckplus-au (default %(default)s)")
    parser.add_argument("--cache", help="still features cache (default <data>/stills-cache)")
    parser.add_argument("--calibration", choices=CALIBRATIONS, default="platt-bounded",
                        help="per-AU calibration of the readout's logits (default %(default)s: Platt scaling with "
                             "its offset held so the balanced decision point is a threshold within 0.2-0.8; the "
                             "best capped F1 with mean ECE <= 0.05 in bench au-cv)")
    parser.add_argument("--neutral-cap", type=float, default=0.2,
                        help="thresholds switch each AU on in at most this share of each set's Neutral validation "
                             "frames where one can (default %(default)s)")
    parser.add_argument("--neutral-sets", nargs="+", metavar="SET",
                        help="the sets whose Neutral validation frames the cap uses (default: every "
                             "expression-labelled set of --data)")
    parser.add_argument("--c", type=float, default=0.01, help="the readout's inverse L2 strength (default %(default)s)")
    parser.add_argument("--name", help="the model's name (default: the input model's)")
    parser.add_argument("--out-of-fold", type=output_text, metavar="NPZ",
                        help="also write the out-of-fold logits and the CK+ still of each row (no labels)")


def options_from_args(args: argparse.Namespace) -> FitAUOptions:
    return FitAUOptions(model=args.model, data=args.data, out=args.out, shared=args.shared, cache=args.cache,
                        calibration=args.calibration, neutral_cap=args.neutral_cap, c=args.c, name=args.name,
                       neutral_sets=tuple(args.neutral_sets) if args.neutral_sets else None,
                       out_of_fold=args.out_of_fold)


def run(args: argparse.Namespace) -> int:
    fit_au(options_from_args(args))
    return 0
