"""`affectstream cv-thresholds`: a model's AU thresholds from its cross-validation folds' out-of-fold predictions."""

from __future__ import annotations

import argparse
from pathlib import Path

from affectstream.cli._types import fraction, output_text
from affectstream.core.labels import ACTION_UNITS


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


# The share of a neutral face's frames in which the default model's real-face check lets an AU be on.
DEFAULT_NEUTRAL_CAP = 0.2


def data_files(data: str) -> list[Path]:
    """The import's files the fold models are scored with: its summary and the per-set labels, folds' included."""
    from affectstream.training.stills import FOLDS_DIR, SUMMARY_FILE

    folder = Path(data)
    return [folder / SUMMARY_FILE, *folder.glob("by_set/*"), *folder.glob(f"{FOLDS_DIR}/*/by_set/*")]


def run(args: argparse.Namespace) -> int:
    from affectstream.core.atomic import check_inputs_kept, require_writable_file, written_file
    from affectstream.training.fold_thresholds import apply_to_model, out_of_fold

    # The model is rewritten (or written to --out) last: checked before the fold models run.
    if args.out:
        require_writable_file(args.out)
        # Rewriting the model is this command's purpose; writing over a fold model or the data is not (a fold model
        # given as the model itself is refused by out_of_fold: it was not trained on the top level).
        check_inputs_kept({"--folds": args.folds, "--data": [args.data, *data_files(args.data)]},
                          [written_file("--out", args.out)])
    else:
        require_writable_file(args.model, "the model")
    print(f"out-of-fold AU predictions of {len(args.folds)} fold models on {args.data}:")
    asked = args.neutral_cap is not None
    cap = args.neutral_cap if asked else DEFAULT_NEUTRAL_CAP
    cap = None if cap >= 1.0 else cap
    result = out_of_fold(args.folds, args.data, args.model, neutral_cap=cap, cap_required=asked)
    print(f"pooled: {result.frames} frames, mean AU F1 {result.au_f1_mean:.3f}")
    sets = list(result.neutral_firing)
    if sets:
        counts = ", ".join(f"{name} {result.neutral_frames[name]}" for name in sets)
        print(f"  thresholds capped at {result.neutral_cap:g} of the Neutral validation frames ({counts}) where a "
              f"threshold can; without the cap: mean AU F1 {result.uncapped_au_f1_mean:.3f}")
    columns = [f"on when neutral, {name}" for name in sets]
    print(f"  {'AU':<5} {'F1':>5}  threshold" + "".join(f"  {c}" for c in columns))
    for i, (au, f1, threshold) in enumerate(zip(ACTION_UNITS, result.au_f1, result.thresholds)):
        rates = [result.neutral_firing[name][i] for name in sets]
        over = " (cap not reachable)" if any(rate > result.neutral_cap for rate in rates) else ""
        print(f"  {au:<5} {f1:5.3f}  {threshold:9.2f}" + "".join(f"  {r:>{len(c)}.2f}" for r, c in zip(rates, columns))
              + over)
    path = apply_to_model(args.model, result, args.out)
    print(f"thresholds and out-of-fold AU figures written to {path}")
    return 0
