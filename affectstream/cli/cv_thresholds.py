"""`affectstream cv-thresholds`: a model's AU thresholds from its cross-validation folds' out-of-fold predictions."""

from __future__ import annotations

import argparse

from affectstream.labels import ACTION_UNITS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="the final model, trained on all the folds' subjects (its thresholds are replaced)")
    parser.add_argument("--folds", nargs="+", required=True, metavar="CKPT",
                        help="fold 1's model, fold 2's, ... (each trained on <data>/folds/<k>/)")
    parser.add_argument("--data", required=True, help="the import-stills --cv-folds output folder")
    parser.add_argument("--out", help="write the model here instead of updating it in place")


def run(args: argparse.Namespace) -> int:
    from affectstream.training.fold_thresholds import apply_to_model, out_of_fold

    print(f"out-of-fold AU predictions of {len(args.folds)} fold models on {args.data}:")
    result = out_of_fold(args.folds, args.data, args.model)
    print(f"pooled: {result.frames} frames, mean AU F1 {result.au_f1_mean:.3f}")
    for au, f1, threshold in zip(ACTION_UNITS, result.au_f1, result.thresholds):
        print(f"  {au:<5} F1 {f1:.3f}  threshold {threshold:.2f}")
    path = apply_to_model(args.model, result, args.out)
    print(f"thresholds and out-of-fold AU figures written to {path}")
    return 0
