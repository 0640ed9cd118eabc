"""`affectstream evaluate`: P_MTL, CCC, expression F1 and confusion, per-AU F1, for a model or an ensemble.

Its outputs replace only evaluate's own: an ensemble file (its "format") at --save-ensemble, a report of evaluate's
in --out. A video whose features cannot be read is left out, said in one line, and the rest is scored (exit 1).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from affectstream.core.atomic import (Output, check_inputs_kept, check_writable_dir, not_ours, read_json_object,
                                 require_writable_file, write_text_atomic, written_file)
from affectstream.cli._types import fraction, output_text
from affectstream.core.errors import UserInputError
from affectstream.core.features.store import FeatureStore
from affectstream.core.labels import ACTION_UNITS
from affectstream.training.metrics import labelled_class_scores
from affectstream.training.annotations import read_annotations
from affectstream.training.baseline import backbone_expression_scores, expression_columns
from affectstream.cli._models import add_model_arguments, model_inputs, models_from_args
from affectstream.training.evaluation import (ENSEMBLE_FORMAT, coverage_report, evaluate_predictions, failure_report,
                                              predict_videos, require_neutral_frames, retune, save_ensemble)
from affectstream.training.plots import plot_evaluation

REPORT_FILES = ("metrics.json", "evaluation.png")  # what evaluate writes into --out
REPORT_KEYS = ("annotations", "metrics_smoothed", "metrics_raw")  # what tells evaluate's metrics.json from others'


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


def score(value: float | None, digits: int = 4) -> str:
    """A figure, or n/a where the task has no labelled frame (NaN, or None in JSON form)."""
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def format_table(rows: list[tuple[str, float]]) -> str:
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"  {name:<{width}}  {score(value):>7}" for name, value in rows)


def written_outputs(args: argparse.Namespace) -> list[Output]:
    """The files evaluate writes: --out's metrics and plot, the --save-ensemble file."""
    outputs = [written_file("--out", args.out, name) for name in REPORT_FILES] if args.out else []
    return outputs + ([written_file("--save-ensemble", args.save_ensemble)] if args.save_ensemble else [])


def check_own_outputs(args: argparse.Namespace) -> None:
    """evaluate replaces its own report and ensemble files only: a train-fer run's metrics.json, a model, or any
    other file at those names is refused, untouched."""
    if args.save_ensemble:
        target = require_writable_file(args.save_ensemble, "--save-ensemble")
        if target.exists() and (read_json_object(target) or {}).get("format") != ENSEMBLE_FORMAT:
            raise not_ours("--save-ensemble", args.save_ensemble, "a file that is no ensemble file", "evaluate")
    if args.out:
        report = Path(args.out) / REPORT_FILES[0]
        there = [name for name in REPORT_FILES if (Path(args.out) / name).exists()]
        if there and not all(key in (read_json_object(report) or {}) for key in REPORT_KEYS):
            what = (f"a {REPORT_FILES[0]} that is no evaluation report" if report.exists()
                    else f"an {REPORT_FILES[1]} without evaluate's {REPORT_FILES[0]}")
            raise not_ours("--out", args.out, what, "evaluate")


def run(args: argparse.Namespace) -> int:
    retuned = args.retune or (args.checkpoint is not None and len(args.checkpoint) > 1)
    if args.au_neutral_cap is not None and not retuned:
        raise UserInputError("--au-neutral-cap caps re-tuned thresholds: add --retune")
    # Every output and option that can be checked is checked before the predictions, not after them.
    if args.out:
        check_writable_dir(args.out)
    if args.save_ensemble:
        require_writable_file(args.save_ensemble, "--save-ensemble")
    ensemble = models_from_args(args)
    check_inputs_kept(model_inputs(args, ensemble) | {"--annotations": args.annotations, "--features": args.features},
                      written_outputs(args))
    check_own_outputs(args)
    labels = read_annotations(args.annotations)
    if not any(len(lab.frames) for lab in labels.values()):
        raise UserInputError(f"{args.annotations}: no labelled frame to score (the file lists no video's frames)")
    if args.au_neutral_cap is not None:
        require_neutral_frames((lab.expr for lab in labels.values()), args.annotations)
    store = FeatureStore(Path(args.features))
    if args.baseline:
        expression_columns(store.spec(args.baseline))
    wanted = {video: lab.frames for video, lab in labels.items()}
    raw = predict_videos(ensemble, store, wanted, smooth=False, progress=not args.no_progress)
    failures = failure_report(raw)
    for line in failures:
        print(line, file=sys.stderr)
    if not any(len(p.frames) for p in raw):
        why = (f"no video of {args.annotations} could be read and had a face (see above)" if failures
               else f"no face was found in any video of {args.annotations}")
        raise UserInputError(f"{args.features}: {why}: nothing can be predicted or scored")
    left_out = {p.video: p.failed for p in raw if p.failed}
    if retuned:
        ensemble = retune(ensemble, raw, labels, args.au_neutral_cap)
        print(f"AU thresholds and smoothing window re-tuned on {args.annotations}: "
              "figures below are optimistic unless these are validation labels used for selection only")
    # Smoothed over whole videos, not just these frames: a second pass, with the window re-tuning may have chosen.
    smoothed = predict_videos(ensemble, store, wanted, smooth=True, progress=not args.no_progress)
    metrics_raw = evaluate_predictions(raw, labels, ensemble.au_thresholds)
    metrics = evaluate_predictions(smoothed, labels, ensemble.au_thresholds)
    frames = int(sum(len(p.frames) for p in raw))
    filled = int(sum(int(p.filled.sum()) for p in raw))

    print(f"model: {ensemble.name}")
    for line in coverage_report(raw, "labelled "):
        print(line)
    print(f"labelled frames per task: {metrics.counts}")
    print(format_table([
        ("P_MTL (smoothed VA)", metrics.p_mtl),
        ("P_MTL (raw VA)", metrics_raw.p_mtl),
        ("CCC valence", metrics.ccc_valence),
        ("CCC arousal", metrics.ccc_arousal),
        ("expression macro-F1", metrics.expr_f1),
        ("mean AU F1", metrics.au_f1_mean),
    ]))
    print(f"  centred smoothing window: {ensemble.offline_window}")
    print("  per-AU F1: " + "  ".join(f"{n} {score(f, 3)}" for n, f in zip(ACTION_UNITS, metrics.au_f1_per_au)))
    print("  AU thresholds: " + "  ".join(f"{n} {t:.2f}" for n, t in zip(ACTION_UNITS, ensemble.au_thresholds)))

    expr_scores = labelled_class_scores(metrics.confusion)
    print(f"  expression on labelled classes: accuracy {score(expr_scores['accuracy'])}, "
          f"macro-F1 {score(expr_scores['macro_f1_labelled_classes'])}")
    baseline = None
    if args.baseline:
        baseline = backbone_expression_scores(store, args.baseline,
                                              {v: lab for v, lab in labels.items() if v not in left_out})
        print(f"  {args.baseline} alone (argmax of its probabilities, {baseline['frames']} frames): "
              f"accuracy {score(baseline['accuracy'])}, macro-F1 {score(baseline['macro_f1_labelled_classes'])}, "
              f"8-class macro-F1 {score(baseline['expr_f1'])}")

    report = {
        "model": ensemble.name,
        "members": [str(m.path) for m in ensemble.members],
        "annotations": str(args.annotations),
        "frames": frames,  # scored: every labelled frame but those of videos without any face
        "frames_without_features": filled,
        "frames_not_predicted": {p.video: len(p.unpredicted) for p in raw if len(p.unpredicted)},
        "frames_not_in_their_video": {p.video: [int(f) for f in p.outside] for p in raw if len(p.outside)},
        "videos_left_out": left_out,  # features unreadable: video -> why
        "retuned_on_these_labels": retuned,
        "au_neutral_cap": args.au_neutral_cap,
        "au_thresholds": [float(t) for t in ensemble.au_thresholds],
        "offline_window": ensemble.offline_window,
        "metrics_smoothed": metrics.to_json(),
        "metrics_raw": metrics_raw.to_json(),
        "baseline": baseline,
    }
    if args.out:
        out = Path(args.out)
        metrics_file, plot_file = (out / name for name in REPORT_FILES)
        write_text_atomic(metrics_file, json.dumps(report, indent=2) + "\n")
        plot_evaluation(metrics.confusion, metrics.au_f1_per_au, plot_file, title=ensemble.name)
        print(f"wrote {metrics_file} and {plot_file}")
    if args.save_ensemble:
        path = save_ensemble(args.save_ensemble, ensemble, {"tuned_on": str(args.annotations),
                                                            "p_mtl": float(np.nan_to_num(metrics.p_mtl)),
                                                            "au_neutral_cap": args.au_neutral_cap})
        print(f"wrote ensemble {path}")
    return 1 if left_out else 0
